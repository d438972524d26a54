-- mandelbrot (Benchmarks Game): the Mandelbrot set as an n x n bitmap, 50 iterations,
-- escape when |z|^2 > 4. The game writes a binary PBM (P4); Hash cannot write raw
-- bytes to standard output, so every implementation here prints the same PBM as
-- text: the header lines "P4" and "W H", then each row's bytes as lowercase hex
-- digits, one row per line. run.py turns the binary oracle into that form.
-- Size: n (default 2000). Check size 200 against mandelbrot/200_out.
local n = tonumber(arg and arg[1]) or 2000
local w, h = n, n
local iter = 50
local limit2 = 2.0 * 2.0

print("P4")
print(("%d %d"):format(w, h))
for y = 0, h - 1 do
    local ci = 2.0 * y / h - 1.0
    local row, nbytes = {}, 0
    local byte_acc, bit_num = 0, 0
    for x = 0, w - 1 do
        local zr, zi, tr, ti = 0.0, 0.0, 0.0, 0.0
        local cr = 2.0 * x / w - 1.5
        local i = 0
        while i < iter and tr + ti <= limit2 do
            zi = 2.0 * zr * zi + ci
            zr = tr - ti + cr
            tr = zr * zr
            ti = zi * zi
            i = i + 1
        end
        byte_acc = byte_acc * 2
        if tr + ti <= limit2 then
            byte_acc = byte_acc + 1
        end
        bit_num = bit_num + 1
        if bit_num == 8 then
            nbytes = nbytes + 1
            row[nbytes] = ("%02x"):format(byte_acc)
            byte_acc, bit_num = 0, 0
        elseif x == w - 1 then
            byte_acc = byte_acc * 2 ^ (8 - w % 8)
            nbytes = nbytes + 1
            row[nbytes] = ("%02x"):format(byte_acc)
            byte_acc, bit_num = 0, 0
        end
    end
    print(table.concat(row))
end
