-- ackermann: the Ackermann-Peter function. Size: n, computes ack(3, n) (default 10).
-- Output: "ack(3, N) = R" (ack(3, 10) = 8189; ack(3, 5) = 253).
local function ack(m, n)
    if m == 0 then
        return n + 1
    elseif n == 0 then
        return ack(m - 1, 1)
    end
    return ack(m - 1, ack(m, n - 1))
end

local n = tonumber(arg and arg[1]) or 10
print(("ack(3, %d) = %d"):format(n, ack(3, n)))
