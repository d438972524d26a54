-- Are We Fast Yet? Bounce: 100 balls bouncing in a box for 50 steps; counts the
-- bounces. Uses the suite's Random (seed 74755). Verification value: 1331.
-- Size: inner iterations n (default 1500, the suite's rebench setting); every
-- iteration runs the benchmark and checks its result.
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Bounce: K x N iterations verified" (exit status 1 and "Bounce: incorrect result" on a mismatch).
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

local abs = math.abs

local function new_ball(random)
    local x = next_random(random) % 500
    local y = next_random(random) % 500
    local x_vel = (next_random(random) % 300) - 150
    local y_vel = (next_random(random) % 300) - 150
    return {x = x, y = y, x_vel = x_vel, y_vel = y_vel}
end

local function bounce(ball)
    local x_limit, y_limit = 500, 500
    local bounced = false
    ball.x = ball.x + ball.x_vel
    ball.y = ball.y + ball.y_vel
    if ball.x > x_limit then
        ball.x = x_limit
        ball.x_vel = 0 - abs(ball.x_vel)
        bounced = true
    end
    if ball.x < 0 then
        ball.x = 0
        ball.x_vel = abs(ball.x_vel)
        bounced = true
    end
    if ball.y > y_limit then
        ball.y = y_limit
        ball.y_vel = 0 - abs(ball.y_vel)
        bounced = true
    end
    if ball.y < 0 then
        ball.y = 0
        ball.y_vel = abs(ball.y_vel)
        bounced = true
    end
    return bounced
end

local function benchmark()
    local random = new_random()
    local ball_count = 100
    local bounces = 0
    local balls = {}
    for i = 1, ball_count do
        balls[i] = new_ball(random)
    end
    for _ = 1, 50 do
        for i = 1, ball_count do
            if bounce(balls[i]) then
                bounces = bounces + 1
            end
        end
    end
    return bounces
end

local function verify_result(result)
    return result == 1331
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
        print("Bounce: incorrect result")
        os.exit(1)
    end
end
print(("Bounce: %d x %d iterations verified"):format(outer, inner))
