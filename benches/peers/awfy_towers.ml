(* Are We Fast Yet? Towers: the towers of Hanoi with 14 disks (13 moved, as in the
   suite's Java version) kept as linked stacks of disk records. Verification value: 8191.
   Size: inner iterations n (default 600, the suite's rebench setting). A second
   argument, outer iterations k (default 1), repeats that loop k times.
   Output: "Towers: K x N iterations verified" (exit status 1 and "Towers: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

type disk = { size : int; mutable next : disk option }

type towers = { piles : disk option array; mutable moves_done : int }

let push_disk t disk pile =
  let top = t.piles.(pile) in
  (match top with
   | Some tp when disk.size >= tp.size -> failwith "Cannot put a big disk on a smaller one"
   | _ -> ());
  disk.next <- top;
  t.piles.(pile) <- Some disk

let pop_disk_from t pile =
  match t.piles.(pile) with
  | None -> failwith "Attempting to remove a disk from an empty pile"
  | Some top ->
    t.piles.(pile) <- top.next;
    top.next <- None;
    top

let move_top_disk t from_pile to_pile =
  push_disk t (pop_disk_from t from_pile) to_pile;
  t.moves_done <- t.moves_done + 1

let build_tower_at t pile disks =
  for i = disks downto 0 do
    push_disk t { size = i; next = None } pile
  done

let rec move_disks t disks from_pile to_pile =
  if disks = 1 then move_top_disk t from_pile to_pile
  else begin
    let other_pile = 3 - from_pile - to_pile in
    move_disks t (disks - 1) from_pile other_pile;
    move_top_disk t from_pile to_pile;
    move_disks t (disks - 1) other_pile to_pile
  end

let benchmark () =
  let t = { piles = Array.make 3 None; moves_done = 0 } in
  build_tower_at t 0 13;
  t.moves_done <- 0;
  move_disks t 13 0 1;
  t.moves_done

let verify_result result = result = 8191

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 600 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Towers: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Towers: %d x %d iterations verified\n" outer inner
