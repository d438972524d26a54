-- Are We Fast Yet? Queens: solves the eight queens problem ten times with arrays of
-- free rows and diagonals. Verification value: true.
-- Size: inner iterations n (default 1000, the suite's rebench setting).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Queens: K x N iterations verified" (exit status 1 and "Queens: incorrect result" on a mismatch).
-- Arrays are 1-based Lua tables; row and column numbers are 0-based as in the suite's Java version.
local function get_row_column(q, r, c)
    return q.free_rows[r + 1] and q.free_maxs[c + r + 1] and q.free_mins[c - r + 8]
end

local function set_row_column(q, r, c, v)
    q.free_rows[r + 1] = v
    q.free_maxs[c + r + 1] = v
    q.free_mins[c - r + 8] = v
end

local function place_queen(q, c)
    for r = 0, 7 do
        if get_row_column(q, r, c) then
            q.queen_rows[r + 1] = c
            set_row_column(q, r, c, false)
            if c == 7 then
                return true
            end
            if place_queen(q, c + 1) then
                return true
            end
            set_row_column(q, r, c, true)
        end
    end
    return false
end

local function filled(n, v)
    local a = {}
    for i = 1, n do
        a[i] = v
    end
    return a
end

local function queens()
    local q = {
        free_rows = filled(8, true),
        free_maxs = filled(16, true),
        free_mins = filled(16, true),
        queen_rows = filled(8, -1),
    }
    return place_queen(q, 0)
end

local function benchmark()
    local result = true
    for _ = 1, 10 do
        result = result and queens()
    end
    return result
end

local function verify_result(result)
    return result
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
        print("Queens: incorrect result")
        os.exit(1)
    end
end
print(("Queens: %d x %d iterations verified"):format(outer, inner))
