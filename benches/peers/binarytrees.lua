-- binary-trees (Benchmarks Game): allocate and walk perfect binary trees. A node is a
-- table {left, right}; the nodes at depth 0 have no children ({}), so a tree of depth d
-- has 2^(d+1) - 1 allocated nodes, as in the game's reference programs.
-- Size: maximum depth n (default 16). Check size 10 against binarytrees/10_out.
local function bottom_up_tree(depth)
    if depth > 0 then
        depth = depth - 1
        local left = bottom_up_tree(depth)
        local right = bottom_up_tree(depth)
        return {left, right}
    end
    return {}
end

local function item_check(tree)
    if tree[1] then
        return 1 + item_check(tree[1]) + item_check(tree[2])
    end
    return 1
end

local n = tonumber(arg and arg[1]) or 16
local min_depth = 4
local max_depth = n
if min_depth + 2 > n then
    max_depth = min_depth + 2
end

local stretch_depth = max_depth + 1
print(("stretch tree of depth %d\t check: %d"):format(
    stretch_depth, item_check(bottom_up_tree(stretch_depth))))

local long_lived_tree = bottom_up_tree(max_depth)

for depth = min_depth, max_depth, 2 do
    local iterations = 2 ^ (max_depth - depth + min_depth)
    local check = 0
    for _ = 1, iterations do
        check = check + item_check(bottom_up_tree(depth))
    end
    print(("%d\t trees of depth %d\t check: %d"):format(iterations, depth, check))
end

print(("long lived tree of depth %d\t check: %d"):format(
    max_depth, item_check(long_lived_tree)))
