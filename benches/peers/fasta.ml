(* fasta (Benchmarks Game): write DNA sequences: a repeat of the ALU string, then
   random sequences from two frequency tables, drawn with the game's linear
   congruential generator (seed 42, IM 139968, IA 3877, IC 29573), 60 columns.
   Size: n (default 1000000). Check size 1000 against fasta/1000_out. *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

(* print_endline flushes on every line; print through the channel's buffer instead. *)
let println s = print_string s; print_char '\n'

let width = 60
let im = 139968 and ia = 3877 and ic = 29573
let last = ref 42

let random max =
  last := (!last * ia + ic) mod im;
  max *. float_of_int !last /. float_of_int im

let alu =
  "GGCCGGGCGCGGTGGCTCACGCCTGTAATCCCAGCACTTTGG"
  ^ "GAGGCCGAGGCGGGCGGATCACCTGAGGTCAGGAGTTCGAGA"
  ^ "CCAGCCTGGCCAACATGGTGAAACCCCGTCTCTACTAAAAAT"
  ^ "ACAAAAATTAGCCGGGCGTGGTGGCGCGCGCCTGTAATCCCA"
  ^ "GCTACTCGGGAGGCTGAGGCAGGAGAATCGCTTGAACCCGGG"
  ^ "AGGCGGAGGTTGCAGTGAGCCGAGATCGCGCCACTGCACTCC"
  ^ "AGCCTGGGCGACAGAGCGAGACTCCGTCTCAAAAA"

let iub_chars = [| 'a'; 'c'; 'g'; 't'; 'B'; 'D'; 'H'; 'K'; 'M'; 'N'; 'R'; 'S'; 'V'; 'W'; 'Y' |]
let iub_probs = [| 0.27; 0.12; 0.12; 0.27; 0.02; 0.02; 0.02; 0.02; 0.02; 0.02; 0.02;
                   0.02; 0.02; 0.02; 0.02 |]
let homo_chars = [| 'a'; 'c'; 'g'; 't' |]
let homo_probs = [| 0.3029549426680; 0.1979883004921; 0.1975473066391; 0.3015094502008 |]

let repeat_fasta header s n =
  println header;
  let len = String.length s in
  let s2 = s ^ s in
  let k = ref 0 and todo = ref n in
  while !todo > 0 do
    let m = if !todo > width then width else !todo in
    println (String.sub s2 !k m);
    k := (!k + m) mod len;
    todo := !todo - m
  done

let random_fasta header chars probs n =
  println header;
  let nc = Array.length chars in
  let cumulative = Array.make nc 0.0 in
  let p = ref 0.0 in
  for i = 0 to nc - 1 do
    p := !p +. probs.(i);
    cumulative.(i) <- !p
  done;
  let buf = Bytes.create width in
  let todo = ref n in
  while !todo > 0 do
    let m = if !todo > width then width else !todo in
    for i = 0 to m - 1 do
      let r = random 1.0 in
      let j = ref 0 in
      while !j < nc - 1 && r >= cumulative.(!j) do
        incr j
      done;
      Bytes.set buf i chars.(!j)
    done;
    println (Bytes.sub_string buf 0 m);
    todo := !todo - m
  done

let () =
  let n = arg 1 1000000 in
  repeat_fasta ">ONE Homo sapiens alu" alu (n * 2);
  random_fasta ">TWO IUB ambiguity codes" iub_chars iub_probs (n * 3);
  random_fasta ">THREE Homo sapiens frequency" homo_chars homo_probs (n * 5)
