-- Are We Fast Yet? List: builds linked lists of 15, 10 and 6 elements and runs the
-- recursive "tail" function over them. Verification value: 10.
-- An element is a table {val, next}; an empty list is nil.
-- Size: inner iterations n (default 1500, the suite's rebench setting).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "List: K x N iterations verified" (exit status 1 and "List: incorrect result" on a mismatch).
local function length(e)
    if e.next == nil then
        return 1
    end
    return 1 + length(e.next)
end

local function make_list(len)
    if len == 0 then
        return nil
    end
    return {val = len, next = make_list(len - 1)}
end

local function is_shorter_than(x, y)
    if y == nil then
        return false
    elseif x == nil then
        return true
    end
    return is_shorter_than(x.next, y.next)
end

local function tail(x, y, z)
    if is_shorter_than(y, x) then
        return tail(tail(x.next, y, z), tail(y.next, z, x), tail(z.next, x, y))
    end
    return z
end

local function benchmark()
    local result = tail(make_list(15), make_list(10), make_list(6))
    return length(result)
end

local function verify_result(result)
    return result == 10
end

local function inner_benchmark_loop(inner_iterations)
    for _ = 1, inner_iterations do
        if not verify_result(benchmark()) then
            return false
        end
    end
    return true
end

local inner = tonumber(arg and arg[1]) or 1500
local outer = tonumber(arg and arg[2]) or 1
for _ = 1, outer do
    if not inner_benchmark_loop(inner) then
        print("List: incorrect result")
        os.exit(1)
    end
end
print(("List: %d x %d iterations verified"):format(outer, inner))
