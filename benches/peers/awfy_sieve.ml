(* Are We Fast Yet? Sieve: the sieve of Eratosthenes on 5000 flags. Verification
   value: 669.
   Size: inner iterations n (default 3000, the suite's rebench setting). A second
   argument, outer iterations k (default 1), repeats that loop k times.
   Output: "Sieve: K x N iterations verified" (exit status 1 and "Sieve: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let sieve flags size =
  let prime_count = ref 0 in
  for i = 2 to size do
    if flags.(i - 1) then begin
      incr prime_count;
      let k = ref (i + i) in
      while !k <= size do
        flags.(!k - 1) <- false;
        k := !k + i
      done
    end
  done;
  !prime_count

let benchmark () =
  let flags = Array.make 5000 true in
  sieve flags 5000

let verify_result result = result = 669

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 3000 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Sieve: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Sieve: %d x %d iterations verified\n" outer inner
