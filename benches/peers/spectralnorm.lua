-- spectral-norm (Benchmarks Game): the spectral norm of an infinite matrix by the
-- power method, ten iterations of u = AtA v. Arrays are 1-based Lua tables; the
-- matrix indices i, j are 0-based as in the game's programs.
-- Size: matrix order n (default 1000). Check size 100 against spectralnorm/100_out.
local sqrt = math.sqrt

local function a(i, j)
    local ij = i + j
    return 1.0 / (ij * (ij + 1) / 2 + i + 1)
end

local function mul_av(n, v, av)
    for i = 0, n - 1 do
        local sum = 0.0
        for j = 0, n - 1 do
            sum = sum + a(i, j) * v[j + 1]
        end
        av[i + 1] = sum
    end
end

local function mul_atv(n, v, atv)
    for i = 0, n - 1 do
        local sum = 0.0
        for j = 0, n - 1 do
            sum = sum + a(j, i) * v[j + 1]
        end
        atv[i + 1] = sum
    end
end

local function mul_atav(n, v, atav, tmp)
    mul_av(n, v, tmp)
    mul_atv(n, tmp, atav)
end

local n = tonumber(arg and arg[1]) or 1000
local u, v, tmp = {}, {}, {}
for i = 1, n do
    u[i] = 1.0
    v[i] = 0.0
    tmp[i] = 0.0
end
for _ = 1, 10 do
    mul_atav(n, u, v, tmp)
    mul_atav(n, v, u, tmp)
end
local vbv, vv = 0.0, 0.0
for i = 1, n do
    vbv = vbv + u[i] * v[i]
    vv = vv + v[i] * v[i]
end
print(("%.9f"):format(sqrt(vbv / vv)))
