-- tak: the Takeuchi function. Size: n, computes tak(3n, 2n, n) (default 10: tak(30, 20, 10)).
-- Output: "tak(X, Y, Z) = R" (tak(30, 20, 10) = 11; tak(18, 12, 6) = 7).
local function tak(x, y, z)
    if y < x then
        return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
    end
    return z
end

local n = tonumber(arg and arg[1]) or 10
print(("tak(%d, %d, %d) = %d"):format(3 * n, 2 * n, n, tak(3 * n, 2 * n, n)))
