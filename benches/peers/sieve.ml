(* sieve: the sieve of Eratosthenes, counting the primes below n, run ten times on a
   fresh array each time. Size: n (default 1000000).
   Output: "primes below N: P" (1000000 -> 78498; 10000 -> 1229). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

(* print_endline flushes on every line; print through the channel's buffer instead. *)
let println s = print_string s; print_char '\n'

let sieve n =
  let flags = Array.make n true in
  let count = ref 0 in
  for i = 2 to n - 1 do
    if flags.(i) then begin
      incr count;
      let j = ref (i * i) in
      while !j < n do
        flags.(!j) <- false;
        j := !j + i
      done
    end
  done;
  !count

let () =
  let n = arg 1 1000000 in
  let result = ref 0 in
  for _ = 1 to 10 do
    let c = sieve n in
    if !result <> 0 && c <> !result then begin
      println "sieve: runs disagree";
      exit 1
    end;
    result := c
  done;
  Printf.printf "primes below %d: %d\n" n !result
