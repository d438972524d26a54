(* tak: the Takeuchi function. Size: n, computes tak(3n, 2n, n) (default 10: tak(30, 20, 10)).
   Output: "tak(X, Y, Z) = R" (tak(30, 20, 10) = 11; tak(18, 12, 6) = 7). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let rec tak x y z =
  if y < x then tak (tak (x - 1) y z) (tak (y - 1) z x) (tak (z - 1) x y) else z

let () =
  let n = arg 1 10 in
  Printf.printf "tak(%d, %d, %d) = %d\n" (3 * n) (2 * n) n (tak (3 * n) (2 * n) n)
