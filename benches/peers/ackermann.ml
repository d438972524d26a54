(* ackermann: the Ackermann-Peter function. Size: n, computes ack(3, n) (default 10).
   Output: "ack(3, N) = R" (ack(3, 10) = 8189; ack(3, 5) = 253). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let rec ack m n =
  if m = 0 then n + 1
  else if n = 0 then ack (m - 1) 1
  else ack (m - 1) (ack m (n - 1))

let () =
  let n = arg 1 10 in
  Printf.printf "ack(3, %d) = %d\n" n (ack 3 n)
