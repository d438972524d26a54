-- pidigits (Benchmarks Game): the first n digits of pi by the unbounded spigot
-- algorithm of the game's programs (next_term / extract_digit / eliminate_digit on
-- the numbers acc, num and den). Lua has no arbitrary-precision integers, so this
-- file carries a small signed bignum (sign and magnitude, little-endian limbs of
-- base 10^7 so that every product stays exact in a double for LuaJIT). Every
-- operation makes a new number, like Hash's immutable ibig values.
-- Size: n digits (default 1500). Check size 27 against pidigits/27_out.
local floor = math.floor
local BASE = 10000000

-- A bignum is {sign = -1 | 0 | 1, n = number of limbs, [1..n] = limbs}; zero has n = 0.
local function big(v)                      -- v: a small non-negative integer
    local r = {sign = 0, n = 0}
    local i = 0
    while v > 0 do
        i = i + 1
        r[i] = v % BASE
        v = floor(v / BASE)
    end
    r.n = i
    if i > 0 then
        r.sign = 1
    end
    return r
end

local function mul_small(a, m)             -- m: a small non-negative integer
    if a.sign == 0 or m == 0 then
        return {sign = 0, n = 0}
    end
    local r = {sign = a.sign, n = 0}
    local carry = 0
    local n = a.n
    for i = 1, n do
        local t = a[i] * m + carry
        carry = floor(t / BASE)
        r[i] = t - carry * BASE
    end
    while carry > 0 do
        n = n + 1
        local c = floor(carry / BASE)
        r[n] = carry - c * BASE
        carry = c
    end
    r.n = n
    return r
end

local function cmp_mag(a, b)
    if a.n ~= b.n then
        return a.n < b.n and -1 or 1
    end
    for i = a.n, 1, -1 do
        if a[i] ~= b[i] then
            return a[i] < b[i] and -1 or 1
        end
    end
    return 0
end

local function add_mag(a, b, sign)
    if a.n < b.n then
        a, b = b, a
    end
    local r = {sign = sign, n = 0}
    local carry = 0
    local bn = b.n
    for i = 1, a.n do
        local t = a[i] + carry
        if i <= bn then
            t = t + b[i]
        end
        if t >= BASE then
            r[i] = t - BASE
            carry = 1
        else
            r[i] = t
            carry = 0
        end
    end
    local n = a.n
    if carry > 0 then
        n = n + 1
        r[n] = carry
    end
    r.n = n
    return r
end

local function sub_mag(a, b, sign)         -- |a| >= |b|
    local r = {sign = sign, n = 0}
    local borrow = 0
    local bn = b.n
    for i = 1, a.n do
        local t = a[i] - borrow
        if i <= bn then
            t = t - b[i]
        end
        if t < 0 then
            r[i] = t + BASE
            borrow = 1
        else
            r[i] = t
            borrow = 0
        end
    end
    local n = a.n
    while n > 0 and r[n] == 0 do
        r[n] = nil
        n = n - 1
    end
    r.n = n
    if n == 0 then
        r.sign = 0
    end
    return r
end

local function add(a, b)
    if a.sign == 0 then
        return b
    elseif b.sign == 0 then
        return a
    elseif a.sign == b.sign then
        return add_mag(a, b, a.sign)
    end
    local c = cmp_mag(a, b)
    if c == 0 then
        return {sign = 0, n = 0}
    elseif c > 0 then
        return sub_mag(a, b, a.sign)
    end
    return sub_mag(b, a, b.sign)
end

local function neg(a)
    local r = {sign = -a.sign, n = a.n}
    for i = 1, a.n do
        r[i] = a[i]
    end
    return r
end

local function sub(a, b)
    return add(a, neg(b))
end

local function cmp(a, b)
    if a.sign ~= b.sign then
        return a.sign < b.sign and -1 or 1
    end
    return a.sign * cmp_mag(a, b)
end

-- Truncating division a / b for a >= 0, b > 0 when the quotient is a small integer:
-- estimate it from the leading limbs, then correct it with exact arithmetic.
local function leading(a, from)            -- the value of limbs from..a.n, as a double
    local v = 0.0
    for i = a.n, from, -1 do
        v = v * BASE + (a[i] or 0)
    end
    return v
end

local function div_small_quotient(a, b)
    if cmp_mag(a, b) < 0 then
        return 0
    end
    local from = b.n - 2
    if from < 1 then
        from = 1
    end
    local q = floor(leading(a, from) / leading(b, from))
    local rem = sub(a, mul_small(b, q))
    while rem.sign < 0 do
        q = q - 1
        rem = add(rem, b)
    end
    while cmp(rem, b) >= 0 do
        q = q + 1
        rem = sub(rem, b)
    end
    return q
end

local n = tonumber(arg and arg[1]) or 1500
local acc, num, den = big(0), big(1), big(1)

local function next_term(k)
    local k2 = k * 2 + 1
    acc = mul_small(add(acc, mul_small(num, 2)), k2)
    den = mul_small(den, k2)
    num = mul_small(num, k)
end

local function extract_digit(nth)
    return div_small_quotient(add(mul_small(num, nth), acc), den)
end

local function eliminate_digit(d)
    acc = mul_small(sub(acc, mul_small(den, d)), 10)
    num = mul_small(num, 10)
end

local line = {}
local i, k = 0, 0
while i < n do
    k = k + 1
    next_term(k)
    if cmp(num, acc) <= 0 then
        local d = extract_digit(3)
        if d == extract_digit(4) then
            line[#line + 1] = tostring(d)
            i = i + 1
            if i % 10 == 0 then
                print(table.concat(line) .. "\t:" .. i)
                line = {}
            end
            eliminate_digit(d)
        end
    end
end
if i % 10 ~= 0 then
    print(table.concat(line) .. (" "):rep(10 - i % 10) .. "\t:" .. i)
end
