(* mandelbrot (Benchmarks Game): the Mandelbrot set as an n x n bitmap, 50 iterations,
   escape when |z|^2 > 4. Printed as text, like the Hash version: the header lines
   "P4" and "W H", then each row's PBM bytes as lowercase hex, one row per line.
   Size: n (default 2000). Check size 200 against mandelbrot/200_out. *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

(* print_endline flushes on every line; print through the channel's buffer instead. *)
let println s = print_string s; print_char '\n'

let () =
  let n = arg 1 2000 in
  let w = n and h = n in
  let iter = 50 in
  let limit2 = 2.0 *. 2.0 in
  println "P4";
  Printf.printf "%d %d\n" w h;
  let row = Buffer.create ((w + 7) / 8 * 2) in
  for y = 0 to h - 1 do
    let ci = 2.0 *. float_of_int y /. float_of_int h -. 1.0 in
    Buffer.clear row;
    let byte_acc = ref 0 and bit_num = ref 0 in
    for x = 0 to w - 1 do
      let zr = ref 0.0 and zi = ref 0.0 and tr = ref 0.0 and ti = ref 0.0 in
      let cr = 2.0 *. float_of_int x /. float_of_int w -. 1.5 in
      let i = ref 0 in
      while !i < iter && !tr +. !ti <= limit2 do
        zi := 2.0 *. !zr *. !zi +. ci;
        zr := !tr -. !ti +. cr;
        tr := !zr *. !zr;
        ti := !zi *. !zi;
        incr i
      done;
      byte_acc := !byte_acc lsl 1;
      if !tr +. !ti <= limit2 then byte_acc := !byte_acc lor 1;
      incr bit_num;
      if !bit_num = 8 then begin
        Buffer.add_string row (Printf.sprintf "%02x" !byte_acc);
        byte_acc := 0;
        bit_num := 0
      end else if x = w - 1 then begin
        byte_acc := !byte_acc lsl (8 - w mod 8);
        Buffer.add_string row (Printf.sprintf "%02x" !byte_acc);
        byte_acc := 0;
        bit_num := 0
      end
    done;
    println (Buffer.contents row)
  done
