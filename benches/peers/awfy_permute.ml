(* Are We Fast Yet? Permute: generates all permutations of a 6-element array by
   recursive swapping and counts the calls. Verification value: 8660.
   Size: inner iterations n (default 1000, the suite's rebench setting). A second
   argument, outer iterations k (default 1), repeats that loop k times.
   Output: "Permute: K x N iterations verified" (exit status 1 and "Permute: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

type permute = { mutable count : int; v : int array }

let swap p i j =
  let tmp = p.v.(i) in
  p.v.(i) <- p.v.(j);
  p.v.(j) <- tmp

let rec permute p n =
  p.count <- p.count + 1;
  if n <> 0 then begin
    let n1 = n - 1 in
    permute p n1;
    for i = n1 downto 0 do
      swap p n1 i;
      permute p n1;
      swap p n1 i
    done
  end

let benchmark () =
  let p = { count = 0; v = Array.make 6 0 } in
  permute p 6;
  p.count

let verify_result result = result = 8660

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 1000 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Permute: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Permute: %d x %d iterations verified\n" outer inner
