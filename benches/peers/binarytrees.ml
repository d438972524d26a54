(* binary-trees (Benchmarks Game): allocate and walk perfect binary trees. The nodes
   at depth 0 are Node (Empty, Empty), so a tree of depth d has 2^(d+1) - 1 allocated
   nodes, as in the game's reference programs.
   Size: maximum depth n (default 16). Check size 10 against binarytrees/10_out. *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

type tree = Empty | Node of tree * tree

let rec bottom_up_tree depth =
  if depth > 0 then
    let left = bottom_up_tree (depth - 1) in
    let right = bottom_up_tree (depth - 1) in
    Node (left, right)
  else Node (Empty, Empty)

let rec item_check = function
  | Empty -> 0
  | Node (l, r) -> 1 + item_check l + item_check r

let () =
  let n = arg 1 16 in
  let min_depth = 4 in
  let max_depth = if min_depth + 2 > n then min_depth + 2 else n in
  let stretch_depth = max_depth + 1 in
  Printf.printf "stretch tree of depth %d\t check: %d\n" stretch_depth
    (item_check (bottom_up_tree stretch_depth));
  let long_lived_tree = bottom_up_tree max_depth in
  let depth = ref min_depth in
  while !depth <= max_depth do
    let iterations = 1 lsl (max_depth - !depth + min_depth) in
    let check = ref 0 in
    for _ = 1 to iterations do
      check := !check + item_check (bottom_up_tree !depth)
    done;
    Printf.printf "%d\t trees of depth %d\t check: %d\n" iterations !depth !check;
    depth := !depth + 2
  done;
  Printf.printf "long lived tree of depth %d\t check: %d\n" max_depth
    (item_check long_lived_tree)
