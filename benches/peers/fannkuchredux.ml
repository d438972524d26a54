(* fannkuch-redux (Benchmarks Game): for every permutation of 1..n (in the game's
   order), count the prefix reversals ("flips") until the first element is 1; print a
   checksum and the maximum. Values are 0-based.
   Size: n (default 10). Check size 7 against fannkuchredux/7_out. *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

exception Done

let fannkuch n =
  let perm1 = Array.init n (fun i -> i) in
  let perm = Array.make n 0 and count = Array.make n 0 in
  let max_flips = ref 0 and checksum = ref 0 and perm_count = ref 0 in
  let r = ref n in
  (try
     while true do
       while !r <> 1 do
         count.(!r - 1) <- !r;
         decr r
       done;
       for i = 0 to n - 1 do
         perm.(i) <- perm1.(i)
       done;
       let flips = ref 0 in
       let k = ref perm.(0) in
       while !k <> 0 do
         let i = ref 0 and j = ref !k in
         while !i < !j do
           let t = perm.(!i) in
           perm.(!i) <- perm.(!j);
           perm.(!j) <- t;
           incr i;
           decr j
         done;
         incr flips;
         k := perm.(0)
       done;
       if !flips > !max_flips then max_flips := !flips;
       if !perm_count mod 2 = 0 then checksum := !checksum + !flips
       else checksum := !checksum - !flips;
       (* next permutation *)
       let go = ref true in
       while !go do
         if !r = n then raise Done;
         let perm0 = perm1.(0) in
         for i = 0 to !r - 1 do
           perm1.(i) <- perm1.(i + 1)
         done;
         perm1.(!r) <- perm0;
         count.(!r) <- count.(!r) - 1;
         if count.(!r) > 0 then go := false else incr r
       done;
       incr perm_count
     done
   with Done -> ());
  (!checksum, !max_flips)

let () =
  let n = arg 1 10 in
  let checksum, max_flips = fannkuch n in
  Printf.printf "%d\nPfannkuchen(%d) = %d\n" checksum n max_flips
