(* Are We Fast Yet? List: builds linked lists of 15, 10 and 6 elements and runs the
   recursive "tail" function over them. Verification value: 10.
   An element is a record {value; next}; the empty list is None.
   Size: inner iterations n (default 1500, the suite's rebench setting). A second
   argument, outer iterations k (default 1), repeats that loop k times.
   Output: "List: K x N iterations verified" (exit status 1 and "List: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

type element = { value : int; next : element option }

let rec length e =
  match e.next with
  | None -> 1
  | Some n -> 1 + length n

let rec make_list len =
  if len = 0 then None else Some { value = len; next = make_list (len - 1) }

let rec is_shorter_than x y =
  match y with
  | None -> false
  | Some yt -> (match x with None -> true | Some xt -> is_shorter_than xt.next yt.next)

let next_of = function
  | Some e -> e.next
  | None -> failwith "next of an empty list"

let rec tail x y z =
  if is_shorter_than y x then tail (tail (next_of x) y z) (tail (next_of y) z x) (tail (next_of z) x y)
  else z

let benchmark () =
  match tail (make_list 15) (make_list 10) (make_list 6) with
  | Some e -> length e
  | None -> 0

let verify_result result = result = 10

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 1500 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "List: incorrect result";
      exit 1
    end
  done;
  Printf.printf "List: %d x %d iterations verified\n" outer inner
