-- Are We Fast Yet? Storage: builds a tree of arrays of depth 7 (four children per
-- node, leaves are arrays of 1 to 10 elements sized by the suite's Random, seed
-- 74755) and counts the nodes. Verification value: 5461.
-- Leaves are filled with 0 so that they have their length, like the other ports
-- (the suite's Lua version only records the length).
-- Size: inner iterations n (default 1000, the suite's rebench setting).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Storage: K x N iterations verified" (exit status 1 and "Storage: incorrect result" on a mismatch).
local band
if _VERSION < "Lua 5.3" then
    band = (bit32 or require("bit")).band
else
    band = assert(load("return function (a, b) return a & b end"))()
end

local function new_random()
    return {seed = 74755}
end

local function next_random(r)
    r.seed = band((r.seed * 1309) + 13849, 65535)
    return r.seed
end

local function build_tree_depth(s, depth, random)
    s.count = s.count + 1
    if depth == 1 then
        local leaf = {}
        for i = 1, next_random(random) % 10 + 1 do
            leaf[i] = 0
        end
        return leaf
    end
    local arr = {}
    for i = 1, 4 do
        arr[i] = build_tree_depth(s, depth - 1, random)
    end
    return arr
end

local function benchmark()
    local random = new_random()
    local s = {count = 0}
    build_tree_depth(s, 7, random)
    return s.count
end

local function verify_result(result)
    return result == 5461
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
        print("Storage: incorrect result")
        os.exit(1)
    end
end
print(("Storage: %d x %d iterations verified"):format(outer, inner))
