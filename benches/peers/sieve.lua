-- sieve: the sieve of Eratosthenes, counting the primes below n, run ten times on a
-- fresh array each time. Size: n (default 1000000).
-- Output: "primes below N: P" (1000000 -> 78498; 10000 -> 1229).
local function sieve(n)
    local flags = {}
    for i = 1, n do
        flags[i] = true              -- flags[i + 1] stands for the number i
    end
    local count = 0
    for i = 2, n - 1 do
        if flags[i + 1] then
            count = count + 1
            local j = i * i
            while j < n do
                flags[j + 1] = false
                j = j + i
            end
        end
    end
    return count
end

local n = tonumber(arg and arg[1]) or 1000000
local result = 0
for _ = 1, 10 do
    local c = sieve(n)
    if result ~= 0 and c ~= result then
        print("sieve: runs disagree")
        os.exit(1)
    end
    result = c
end
print(("primes below %d: %d"):format(n, result))
