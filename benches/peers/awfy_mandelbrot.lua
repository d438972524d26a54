-- Are We Fast Yet? Mandelbrot: an n x n Mandelbrot bitmap reduced to an XOR of its
-- bytes. Verification values: 500 -> 191, 750 -> 50, 1 -> 128 (no others are known).
-- Size: inner iterations n = the image size (default 750).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Mandelbrot: K x N iterations verified" (exit status 1 and "Mandelbrot:
-- incorrect result" on a mismatch, or "Mandelbrot: no verification result for N").
local bxor, lshift
if _VERSION < "Lua 5.3" then
    local bit = bit32 or require("bit")
    bxor, lshift = bit.bxor, bit.lshift
else
    bxor = assert(load("return function (a, b) return a ~ b end"))()
    lshift = assert(load("return function (a, b) return a << b end"))()
end

local function mandelbrot(size)
    local sum = 0
    local byte_acc = 0
    local bit_num = 0
    local y = 0
    while y < size do
        local ci = (2.0 * y / size) - 1.0
        local x = 0
        while x < size do
            local zrzr = 0.0
            local zi = 0.0
            local zizi = 0.0
            local cr = (2.0 * x / size) - 1.5
            local z = 0
            local not_done = true
            local escape = 0
            while not_done and z < 50 do
                local zr = zrzr - zizi + cr
                zi = 2.0 * zr * zi + ci
                -- preserve recalculation
                zrzr = zr * zr
                zizi = zi * zi
                if zrzr + zizi > 4.0 then
                    not_done = false
                    escape = 1
                end
                z = z + 1
            end
            byte_acc = lshift(byte_acc, 1) + escape
            bit_num = bit_num + 1
            if bit_num == 8 then
                sum = bxor(sum, byte_acc)
                byte_acc = 0
                bit_num = 0
            elseif x == size - 1 then
                byte_acc = lshift(byte_acc, 8 - bit_num)
                sum = bxor(sum, byte_acc)
                byte_acc = 0
                bit_num = 0
            end
            x = x + 1
        end
        y = y + 1
    end
    return sum
end

local function verify_result(result, inner_iterations)
    if inner_iterations == 500 then
        return result == 191
    elseif inner_iterations == 750 then
        return result == 50
    elseif inner_iterations == 1 then
        return result == 128
    end
    print(("Mandelbrot: no verification result for %d"):format(inner_iterations))
    os.exit(1)
end

local function inner_benchmark_loop(inner_iterations)
    return verify_result(mandelbrot(inner_iterations), inner_iterations)
end

local inner = tonumber(arg and arg[1]) or 750
local outer = tonumber(arg and arg[2]) or 1
for _ = 1, outer do
    if not inner_benchmark_loop(inner) then
        print("Mandelbrot: incorrect result")
        os.exit(1)
    end
end
print(("Mandelbrot: %d x %d iterations verified"):format(outer, inner))
