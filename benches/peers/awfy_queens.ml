(* Are We Fast Yet? Queens: solves the eight queens problem ten times with arrays of
   free rows and diagonals. Verification value: true.
   Size: inner iterations n (default 1000, the suite's rebench setting). A second
   argument, outer iterations k (default 1), repeats that loop k times.
   Output: "Queens: K x N iterations verified" (exit status 1 and "Queens: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

type queens = {
  free_rows : bool array;
  free_maxs : bool array;
  free_mins : bool array;
  queen_rows : int array;
}

let get_row_column q r c = q.free_rows.(r) && q.free_maxs.(c + r) && q.free_mins.(c - r + 7)

let set_row_column q r c v =
  q.free_rows.(r) <- v;
  q.free_maxs.(c + r) <- v;
  q.free_mins.(c - r + 7) <- v

let rec place_queen q c =
  let rec try_row r =
    if r > 7 then false
    else if get_row_column q r c then begin
      q.queen_rows.(r) <- c;
      set_row_column q r c false;
      if c = 7 then true
      else if place_queen q (c + 1) then true
      else begin
        set_row_column q r c true;
        try_row (r + 1)
      end
    end else try_row (r + 1)
  in
  try_row 0

let queens () =
  let q = {
    free_rows = Array.make 8 true;
    free_maxs = Array.make 16 true;
    free_mins = Array.make 16 true;
    queen_rows = Array.make 8 (-1);
  } in
  place_queen q 0

let benchmark () =
  let result = ref true in
  for _ = 1 to 10 do
    result := !result && queens ()
  done;
  !result

let verify_result result = result

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 1000 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Queens: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Queens: %d x %d iterations verified\n" outer inner
