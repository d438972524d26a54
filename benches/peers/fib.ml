(* fib: naive doubly recursive Fibonacci. Size: n (default 35).
   Output: "fib(N) = F" (fib(35) = 9227465). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let rec fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)

let () =
  let n = arg 1 35 in
  Printf.printf "fib(%d) = %d\n" n (fib n)
