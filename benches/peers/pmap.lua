-- pmap: a persistent AVL tree of integer keys (the rebalancing of OCaml's Map.bal),
-- every update copying its path: insert n keys in a scrambled order
-- (key = i * 48271 mod n), look every key up, remove the keys inserted at even i, look
-- every key up again. A node is a table {left, key, value, right, height}; the empty
-- tree is false. Same algorithm and data structure as programs/pmap.hash and pmap.ml.
-- Size: n (default 100000).
local function height(m)
    if m then return m[5] end
    return 0
end

local function create(l, k, v, r)
    local hl, hr = height(l), height(r)
    return {l, k, v, r, hl >= hr and hl + 1 or hr + 1}
end

local function bal(l, k, v, r)
    local hl, hr = height(l), height(r)
    if hl > hr + 2 then
        if l then
            local ll, lk, lv, lr = l[1], l[2], l[3], l[4]
            if height(ll) >= height(lr) then
                return create(ll, lk, lv, create(lr, k, v, r))
            elseif lr then
                return create(create(ll, lk, lv, lr[1]), lr[2], lr[3], create(lr[4], k, v, r))
            end
        end
        return create(l, k, v, r)
    elseif hr > hl + 2 then
        if r then
            local rl, rk, rv, rr = r[1], r[2], r[3], r[4]
            if height(rr) >= height(rl) then
                return create(create(l, k, v, rl), rk, rv, rr)
            elseif rl then
                return create(create(l, k, v, rl[1]), rl[2], rl[3], create(rl[4], rk, rv, rr))
            end
        end
        return create(l, k, v, r)
    end
    return create(l, k, v, r)
end

local function add(m, k, v)
    if not m then return {false, k, v, false, 1} end
    local mk = m[2]
    if k < mk then
        return bal(add(m[1], k, v), mk, m[3], m[4])
    elseif k > mk then
        return bal(m[1], mk, m[3], add(m[4], k, v))
    end
    return {m[1], k, v, m[4], m[5]}
end

local function find(m, k)
    if not m then return -1 end
    local mk = m[2]
    if k < mk then
        return find(m[1], k)
    elseif k > mk then
        return find(m[4], k)
    end
    return m[3]
end

local function min_key(m)
    if not m then return -1 end
    if not m[1] then return m[2] end
    return min_key(m[1])
end

local function min_value(m)
    if not m then return -1 end
    if not m[1] then return m[3] end
    return min_value(m[1])
end

local function remove_min(m)
    if not m then return false end
    if not m[1] then return m[4] end
    return bal(remove_min(m[1]), m[2], m[3], m[4])
end

local function merge(a, b)
    if not a then return b end
    if not b then return a end
    return bal(a, min_key(b), min_value(b), remove_min(b))
end

local function remove(m, k)
    if not m then return false end
    local mk = m[2]
    if k < mk then
        return bal(remove(m[1], k), mk, m[3], m[4])
    elseif k > mk then
        return bal(m[1], mk, m[3], remove(m[4], k))
    end
    return merge(m[1], m[4])
end

local function size(m)
    if not m then return 0 end
    return size(m[1]) + 1 + size(m[4])
end

local function lookups(m, n)
    local sum = 0
    for k = 0, n - 1 do
        local v = find(m, k)
        if v >= 0 then sum = sum + v end
    end
    return sum
end

local n = tonumber(arg and arg[1]) or 100000
local m = false
for i = 0, n - 1 do
    local k = i * 48271 % n
    m = add(m, k, 2 * k)
end
local s1 = lookups(m, n)
local size1 = size(m)
local i = 0
while i < n do
    m = remove(m, i * 48271 % n)
    i = i + 2
end
local s2 = lookups(m, n)
io.write(string.format("size %d sum %d after removal %d sum %d\n", size1, s1, size(m), s2))
