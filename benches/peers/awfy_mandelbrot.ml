(* Are We Fast Yet? Mandelbrot: an n x n Mandelbrot bitmap reduced to an XOR of its
   bytes. Verification values: 500 -> 191, 750 -> 50, 1 -> 128 (no others are known).
   Size: inner iterations n = the image size (default 750). A second argument, outer
   iterations k (default 1), repeats the benchmark k times.
   Output: "Mandelbrot: K x N iterations verified" (exit status 1 and "Mandelbrot:
   incorrect result" on a mismatch, or "Mandelbrot: no verification result for N"). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let mandelbrot size =
  let sum = ref 0 and byte_acc = ref 0 and bit_num = ref 0 in
  let y = ref 0 in
  while !y < size do
    let ci = (2.0 *. float_of_int !y /. float_of_int size) -. 1.0 in
    let x = ref 0 in
    while !x < size do
      let zrzr = ref 0.0 and zi = ref 0.0 and zizi = ref 0.0 in
      let cr = (2.0 *. float_of_int !x /. float_of_int size) -. 1.5 in
      let z = ref 0 and not_done = ref true and escape = ref 0 in
      while !not_done && !z < 50 do
        let zr = !zrzr -. !zizi +. cr in
        zi := 2.0 *. zr *. !zi +. ci;
        (* preserve recalculation *)
        zrzr := zr *. zr;
        zizi := !zi *. !zi;
        if !zrzr +. !zizi > 4.0 then begin
          not_done := false;
          escape := 1
        end;
        incr z
      done;
      byte_acc := (!byte_acc lsl 1) + !escape;
      incr bit_num;
      if !bit_num = 8 then begin
        sum := !sum lxor !byte_acc;
        byte_acc := 0;
        bit_num := 0
      end else if !x = size - 1 then begin
        byte_acc := !byte_acc lsl (8 - !bit_num);
        sum := !sum lxor !byte_acc;
        byte_acc := 0;
        bit_num := 0
      end;
      incr x
    done;
    incr y
  done;
  !sum

let verify_result result inner_iterations =
  if inner_iterations = 500 then result = 191
  else if inner_iterations = 750 then result = 50
  else if inner_iterations = 1 then result = 128
  else begin
    Printf.printf "Mandelbrot: no verification result for %d\n" inner_iterations;
    exit 1
  end

let inner_benchmark_loop inner_iterations =
  verify_result (mandelbrot inner_iterations) inner_iterations

let () =
  let inner = arg 1 750 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Mandelbrot: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Mandelbrot: %d x %d iterations verified\n" outer inner
