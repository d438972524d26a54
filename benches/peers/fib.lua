-- fib: naive doubly recursive Fibonacci. Size: n (default 35).
-- Output: "fib(N) = F" (fib(35) = 9227465).
local function fib(n)
    if n < 2 then
        return n
    end
    return fib(n - 1) + fib(n - 2)
end

local n = tonumber(arg and arg[1]) or 35
print(("fib(%d) = %d"):format(n, fib(n)))
