-- fasta (Benchmarks Game): write DNA sequences: a repeat of the ALU string, then
-- random sequences from two frequency tables, drawn with the game's linear
-- congruential generator (seed 42, IM 139968, IA 3877, IC 29573), 60 columns.
-- Size: n (default 1000000). Check size 1000 against fasta/1000_out.
local WIDTH = 60
local IM, IA, IC = 139968, 3877, 29573
local last = 42

local function random(max)
    last = (last * IA + IC) % IM
    return max * last / IM
end

local ALU =
    "GGCCGGGCGCGGTGGCTCACGCCTGTAATCCCAGCACTTTGG" ..
    "GAGGCCGAGGCGGGCGGATCACCTGAGGTCAGGAGTTCGAGA" ..
    "CCAGCCTGGCCAACATGGTGAAACCCCGTCTCTACTAAAAAT" ..
    "ACAAAAATTAGCCGGGCGTGGTGGCGCGCGCCTGTAATCCCA" ..
    "GCTACTCGGGAGGCTGAGGCAGGAGAATCGCTTGAACCCGGG" ..
    "AGGCGGAGGTTGCAGTGAGCCGAGATCGCGCCACTGCACTCC" ..
    "AGCCTGGGCGACAGAGCGAGACTCCGTCTCAAAAA"

local IUB_CHARS = {"a", "c", "g", "t", "B", "D", "H", "K", "M", "N", "R", "S", "V", "W", "Y"}
local IUB_PROBS = {0.27, 0.12, 0.12, 0.27, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02,
                   0.02, 0.02, 0.02, 0.02}
local HOMO_CHARS = {"a", "c", "g", "t"}
local HOMO_PROBS = {0.3029549426680, 0.1979883004921, 0.1975473066391, 0.3015094502008}

local function repeat_fasta(header, s, n)
    print(header)
    local len = #s
    local s2 = s .. s
    local k = 0
    local todo = n
    while todo > 0 do
        local m = todo
        if m > WIDTH then
            m = WIDTH
        end
        print(s2:sub(k + 1, k + m))
        k = (k + m) % len
        todo = todo - m
    end
end

local function random_fasta(header, chars, probs, n)
    print(header)
    local nc = #chars
    local cumulative = {}
    local p = 0.0
    for i = 1, nc do
        p = p + probs[i]
        cumulative[i] = p
    end
    local buf = {}
    local todo = n
    while todo > 0 do
        local m = todo
        if m > WIDTH then
            m = WIDTH
        end
        for i = 1, m do
            local r = random(1.0)
            local j = 1
            while j < nc and r >= cumulative[j] do
                j = j + 1
            end
            buf[i] = chars[j]
        end
        print(table.concat(buf, "", 1, m))
        todo = todo - m
    end
end

local n = tonumber(arg and arg[1]) or 1000000
repeat_fasta(">ONE Homo sapiens alu", ALU, n * 2)
random_fasta(">TWO IUB ambiguity codes", IUB_CHARS, IUB_PROBS, n * 3)
random_fasta(">THREE Homo sapiens frequency", HOMO_CHARS, HOMO_PROBS, n * 5)
