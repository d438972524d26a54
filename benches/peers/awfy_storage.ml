(* Are We Fast Yet? Storage: builds a tree of arrays of depth 7 (four children per
   node, leaves are arrays of 1 to 10 elements sized by the suite's Random, seed
   74755) and counts the nodes. Verification value: 5461.
   Size: inner iterations n (default 1000, the suite's rebench setting). A second
   argument, outer iterations k (default 1), repeats that loop k times.
   Output: "Storage: K x N iterations verified" (exit status 1 and "Storage: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

(* The suite's random number generator. *)
type random = { mutable seed : int }

let new_random () = { seed = 74755 }

let next_random r =
  r.seed <- ((r.seed * 1309) + 13849) land 65535;
  r.seed

type node = Leaf of int array | Branch of node array

type storage = { mutable count : int }

let rec build_tree_depth s depth random =
  s.count <- s.count + 1;
  if depth = 1 then Leaf (Array.make (next_random random mod 10 + 1) 0)
  else Branch (Array.init 4 (fun _ -> build_tree_depth s (depth - 1) random))

let benchmark () =
  let random = new_random () in
  let s = { count = 0 } in
  ignore (build_tree_depth s 7 random);
  s.count

let verify_result result = result = 5461

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 1000 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Storage: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Storage: %d x %d iterations verified\n" outer inner
