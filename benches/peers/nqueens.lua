-- nqueens: count the solutions of the n-queens problem; the columns of the queens
-- placed so far are kept in an immutable cons list (nil is the empty list, a cell
-- is {head, tail}). Size: n (default 12).
-- Output: "N-queens(N) = S" (12 -> 14200; 8 -> 92).
local function safe(q, dist, placed)
    if placed == nil then
        return true
    end
    local c = placed[1]
    if c == q or c == q + dist or c == q - dist then
        return false
    end
    return safe(q, dist + 1, placed[2])
end

local function queens(n, row, placed)
    if row == n then
        return 1
    end
    local total = 0
    for q = 0, n - 1 do
        if safe(q, 1, placed) then
            total = total + queens(n, row + 1, {q, placed})
        end
    end
    return total
end

local n = tonumber(arg and arg[1]) or 12
print(("N-queens(%d) = %d"):format(n, queens(n, 0, nil)))
