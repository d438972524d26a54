-- Are We Fast Yet? Permute: generates all permutations of a 6-element array by
-- recursive swapping and counts the calls. Verification value: 8660.
-- Size: inner iterations n (default 1000, the suite's rebench setting).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Permute: K x N iterations verified" (exit status 1 and "Permute: incorrect result" on a mismatch).
-- The state is a table {count, v}; v is a 1-based Lua table, so index n here is the
-- Java version's n - 1.
local function swap(p, i, j)
    local tmp = p.v[i]
    p.v[i] = p.v[j]
    p.v[j] = tmp
end

local function permute(p, n)
    p.count = p.count + 1
    if n ~= 0 then
        local n1 = n - 1
        permute(p, n1)
        for i = n, 1, -1 do
            swap(p, n, i)
            permute(p, n1)
            swap(p, n, i)
        end
    end
end

local function benchmark()
    local p = {count = 0, v = {0, 0, 0, 0, 0, 0}}
    permute(p, 6)
    return p.count
end

local function verify_result(result)
    return result == 8660
end

local function inner_benchmark_loop(inner_iterations)
    for _ = 1, inner_iterations do
        if not verify_result(benchmark()) then
            return false
        end
    end
    return true
end

local inner = tonumber(arg and arg[1]) or 1000
local outer = tonumber(arg and arg[2]) or 1
for _ = 1, outer do
    if not inner_benchmark_loop(inner) then
        print("Permute: incorrect result")
        os.exit(1)
    end
end
print(("Permute: %d x %d iterations verified"):format(outer, inner))
