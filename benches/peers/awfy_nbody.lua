-- Are We Fast Yet? NBody: the Benchmarks Game n-body simulation as the suite writes
-- it (one body object per planet, advance(0.01) n times, then the energy).
-- Verification values (exact): 250000 -> -0.1690859889909308, 1 -> -0.16907495402506745.
-- Size: inner iterations n = the number of steps (default 250000).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "NBody: K x N iterations verified" (exit status 1 and "NBody: incorrect result"
-- on a mismatch, or "NBody: no verification result for N").
local sqrt = math.sqrt

local PI = 3.141592653589793
local SOLAR_MASS = 4.0 * PI * PI
local DAYS_PER_YEAR = 365.24

local function new_body(x, y, z, vx, vy, vz, mass)
    return {
        x = x, y = y, z = z,
        vx = vx * DAYS_PER_YEAR, vy = vy * DAYS_PER_YEAR, vz = vz * DAYS_PER_YEAR,
        mass = mass * SOLAR_MASS,
    }
end

local function offset_momentum(b, px, py, pz)
    b.vx = 0.0 - (px / SOLAR_MASS)
    b.vy = 0.0 - (py / SOLAR_MASS)
    b.vz = 0.0 - (pz / SOLAR_MASS)
end

local function jupiter()
    return new_body(4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
                    1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,
                    9.54791938424326609e-04)
end

local function saturn()
    return new_body(8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
                    -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,
                    2.85885980666130812e-04)
end

local function uranus()
    return new_body(1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
                    2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,
                    4.36624404335156298e-05)
end

local function neptune()
    return new_body(1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
                    2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,
                    5.15138902046611451e-05)
end

local function sun()
    return new_body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
end

local function create_bodies()
    local bodies = {sun(), jupiter(), saturn(), uranus(), neptune()}
    local px, py, pz = 0.0, 0.0, 0.0
    for i = 1, #bodies do
        local b = bodies[i]
        px = px + b.vx * b.mass
        py = py + b.vy * b.mass
        pz = pz + b.vz * b.mass
    end
    offset_momentum(bodies[1], px, py, pz)
    return bodies
end

local function advance(bodies, dt)
    local nb = #bodies
    for i = 1, nb do
        local i_body = bodies[i]
        for j = i + 1, nb do
            local j_body = bodies[j]
            local dx = i_body.x - j_body.x
            local dy = i_body.y - j_body.y
            local dz = i_body.z - j_body.z
            local d_squared = dx * dx + dy * dy + dz * dz
            local distance = sqrt(d_squared)
            local mag = dt / (d_squared * distance)
            i_body.vx = i_body.vx - dx * j_body.mass * mag
            i_body.vy = i_body.vy - dy * j_body.mass * mag
            i_body.vz = i_body.vz - dz * j_body.mass * mag
            j_body.vx = j_body.vx + dx * i_body.mass * mag
            j_body.vy = j_body.vy + dy * i_body.mass * mag
            j_body.vz = j_body.vz + dz * i_body.mass * mag
        end
    end
    for i = 1, nb do
        local body = bodies[i]
        body.x = body.x + dt * body.vx
        body.y = body.y + dt * body.vy
        body.z = body.z + dt * body.vz
    end
end

local function energy(bodies)
    local e = 0.0
    local nb = #bodies
    for i = 1, nb do
        local i_body = bodies[i]
        e = e + 0.5 * i_body.mass * (i_body.vx * i_body.vx +
                                     i_body.vy * i_body.vy +
                                     i_body.vz * i_body.vz)
        for j = i + 1, nb do
            local j_body = bodies[j]
            local dx = i_body.x - j_body.x
            local dy = i_body.y - j_body.y
            local dz = i_body.z - j_body.z
            local distance = sqrt(dx * dx + dy * dy + dz * dz)
            e = e - (i_body.mass * j_body.mass) / distance
        end
    end
    return e
end

local function verify_result(result, inner_iterations)
    if inner_iterations == 250000 then
        return result == -0.1690859889909308
    elseif inner_iterations == 1 then
        return result == -0.16907495402506745
    end
    print(("NBody: no verification result for %d"):format(inner_iterations))
    os.exit(1)
end

local function inner_benchmark_loop(inner_iterations)
    local bodies = create_bodies()
    for _ = 1, inner_iterations do
        advance(bodies, 0.01)
    end
    return verify_result(energy(bodies), inner_iterations)
end

local inner = tonumber(arg and arg[1]) or 250000
local outer = tonumber(arg and arg[2]) or 1
for _ = 1, outer do
    if not inner_benchmark_loop(inner) then
        print("NBody: incorrect result")
        os.exit(1)
    end
end
print(("NBody: %d x %d iterations verified"):format(outer, inner))
