-- Are We Fast Yet? Towers: the towers of Hanoi with 14 disks (13 moved, as in the
-- suite's Java version) kept as linked stacks of disk objects. Verification value: 8191.
-- Size: inner iterations n (default 600, the suite's rebench setting).
-- A second argument, outer iterations k (default 1), repeats that loop k times, like
-- the suite's harness.
-- Output: "Towers: K x N iterations verified" (exit status 1 and "Towers: incorrect result" on a mismatch).
-- A disk is a table {size, next}; piles is a 1-based table of 3 piles (nil = empty);
-- pile numbers are 0-based as in the Java version.
local function push_disk(t, disk, pile)
    local top = t.piles[pile + 1]
    if top and disk.size >= top.size then
        error("Cannot put a big disk on a smaller one")
    end
    disk.next = top
    t.piles[pile + 1] = disk
end

local function pop_disk_from(t, pile)
    local top = t.piles[pile + 1]
    if top == nil then
        error("Attempting to remove a disk from an empty pile")
    end
    t.piles[pile + 1] = top.next
    top.next = nil
    return top
end

local function move_top_disk(t, from_pile, to_pile)
    push_disk(t, pop_disk_from(t, from_pile), to_pile)
    t.moves_done = t.moves_done + 1
end

local function build_tower_at(t, pile, disks)
    for i = disks, 0, -1 do
        push_disk(t, {size = i, next = nil}, pile)
    end
end

local function move_disks(t, disks, from_pile, to_pile)
    if disks == 1 then
        move_top_disk(t, from_pile, to_pile)
    else
        local other_pile = 3 - from_pile - to_pile
        move_disks(t, disks - 1, from_pile, other_pile)
        move_top_disk(t, from_pile, to_pile)
        move_disks(t, disks - 1, other_pile, to_pile)
    end
end

local function benchmark()
    local t = {piles = {nil, nil, nil}, moves_done = 0}
    build_tower_at(t, 0, 13)
    t.moves_done = 0
    move_disks(t, 13, 0, 1)
    return t.moves_done
end

local function verify_result(result)
    return result == 8191
end

local function inner_benchmark_loop(inner_iterations)
    for _ = 1, inner_iterations do
        if not verify_result(benchmark()) then
            return false
        end
    end
    return true
end

local inner = tonumber(arg and arg[1]) or 600
local outer = tonumber(arg and arg[2]) or 1
for _ = 1, outer do
    if not inner_benchmark_loop(inner) then
        print("Towers: incorrect result")
        os.exit(1)
    end
end
print(("Towers: %d x %d iterations verified"):format(outer, inner))
