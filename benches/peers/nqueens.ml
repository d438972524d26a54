(* nqueens: count the solutions of the n-queens problem; the columns of the queens
   placed so far are kept in an immutable list. Size: n (default 12).
   Output: "N-queens(N) = S" (12 -> 14200; 8 -> 92). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let rec safe q dist placed =
  match placed with
  | [] -> true
  | c :: rest -> c <> q && c <> q + dist && c <> q - dist && safe q (dist + 1) rest

let rec queens n row placed =
  if row = n then 1
  else begin
    let total = ref 0 in
    for q = 0 to n - 1 do
      if safe q 1 placed then total := !total + queens n (row + 1) (q :: placed)
    done;
    !total
  end

let () =
  let n = arg 1 12 in
  Printf.printf "N-queens(%d) = %d\n" n (queens n 0 [])
