-- Are We Fast Yet? Sieve: the sieve of Eratosthenes on 5000 flags. Verification
-- value: 669.
-- Size: inner iterations n (default 3000, the suite's rebench setting).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Sieve: K x N iterations verified" (exit status 1 and "Sieve: incorrect result" on a mismatch).
local function sieve(flags, size)
    local prime_count = 0
    for i = 2, size do
        if flags[i - 1] then
            prime_count = prime_count + 1
            local k = i + i
            while k <= size do
                flags[k - 1] = false
                k = k + i
            end
        end
    end
    return prime_count
end

local function benchmark()
    local flags = {}
    for i = 1, 5000 do
        flags[i] = true
    end
    return sieve(flags, 5000)
end

local function verify_result(result)
    return result == 669
end

local function inner_benchmark_loop(inner_iterations)
    for _ = 1, inner_iterations do
        if not verify_result(benchmark()) then
            return false
        end
    end
    return true
end

local inner = tonumber(arg and arg[1]) or 3000
local outer = tonumber(arg and arg[2]) or 1
for _ = 1, outer do
    if not inner_benchmark_loop(inner) then
        print("Sieve: incorrect result")
        os.exit(1)
    end
end
print(("Sieve: %d x %d iterations verified"):format(outer, inner))
