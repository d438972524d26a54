(* pmap: a persistent AVL tree of int keys (the rebalancing of OCaml's Map.bal),
   every update copying its path: insert n keys in a scrambled order
   (key = i * 48271 mod n), look every key up, remove the keys inserted at even i,
   look every key up again. Same algorithm and data structure as
   programs/pmap.hash and pmap.lua.
   Size: n (default 100000). Output (n = 1000):
   "size 1000 sum 999000 after removal 500 sum 500000". *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

type map = Leaf | Node of map * int * int * map * int

let height = function Leaf -> 0 | Node (_, _, _, _, h) -> h

let create l k v r =
  let hl = height l and hr = height r in
  Node (l, k, v, r, if hl >= hr then hl + 1 else hr + 1)

let bal l k v r =
  let hl = height l and hr = height r in
  if hl > hr + 2 then
    match l with
    | Node (ll, lk, lv, lr, _) ->
        if height ll >= height lr then create ll lk lv (create lr k v r)
        else (
          match lr with
          | Node (lrl, lrk, lrv, lrr, _) ->
              create (create ll lk lv lrl) lrk lrv (create lrr k v r)
          | Leaf -> create l k v r)
    | Leaf -> create l k v r
  else if hr > hl + 2 then
    match r with
    | Node (rl, rk, rv, rr, _) ->
        if height rr >= height rl then create (create l k v rl) rk rv rr
        else (
          match rl with
          | Node (rll, rlk, rlv, rlr, _) ->
              create (create l k v rll) rlk rlv (create rlr rk rv rr)
          | Leaf -> create l k v r)
    | Leaf -> create l k v r
  else create l k v r

let rec add m k v =
  match m with
  | Leaf -> Node (Leaf, k, v, Leaf, 1)
  | Node (l, mk, mv, r, h) ->
      if k < mk then bal (add l k v) mk mv r
      else if k > mk then bal l mk mv (add r k v)
      else Node (l, k, v, r, h)

let rec find m k =
  match m with
  | Leaf -> -1
  | Node (l, mk, mv, r, _) ->
      if k < mk then find l k else if k > mk then find r k else mv

let rec min_key = function
  | Node (Leaf, k, _, _, _) -> k
  | Node (l, _, _, _, _) -> min_key l
  | Leaf -> -1

let rec min_value = function
  | Node (Leaf, _, v, _, _) -> v
  | Node (l, _, _, _, _) -> min_value l
  | Leaf -> -1

let rec remove_min = function
  | Node (Leaf, _, _, r, _) -> r
  | Node (l, k, v, r, _) -> bal (remove_min l) k v r
  | Leaf -> Leaf

let merge a b =
  match a with
  | Leaf -> b
  | _ -> (
      match b with
      | Leaf -> a
      | _ -> bal a (min_key b) (min_value b) (remove_min b))

let rec remove m k =
  match m with
  | Leaf -> Leaf
  | Node (l, mk, mv, r, _) ->
      if k < mk then bal (remove l k) mk mv r
      else if k > mk then bal l mk mv (remove r k)
      else merge l r

let rec size = function Leaf -> 0 | Node (l, _, _, r, _) -> size l + 1 + size r

let lookups m n =
  let sum = ref 0 in
  for k = 0 to n - 1 do
    let v = find m k in
    if v >= 0 then sum := !sum + v
  done;
  !sum

let () =
  let n = arg 1 100000 in
  let m = ref Leaf in
  for i = 0 to n - 1 do
    let k = i * 48271 mod n in
    m := add !m k (2 * k)
  done;
  let s1 = lookups !m n in
  let size1 = size !m in
  let i = ref 0 in
  while !i < n do
    m := remove !m (!i * 48271 mod n);
    i := !i + 2
  done;
  let s2 = lookups !m n in
  Printf.printf "size %d sum %d after removal %d sum %d\n" size1 s1 (size !m) s2
