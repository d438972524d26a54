(* pidigits (Benchmarks Game): the first n digits of pi by the unbounded spigot
   algorithm of the game's programs (next_term / extract_digit / eliminate_digit on
   the numbers acc, num and den). The OCaml distribution has no arbitrary-precision
   integers (Zarith is a separate package), so this file carries the same small
   signed bignum as pidigits.lua: sign and magnitude, little-endian limbs of base
   10^7. Every operation makes a new number, like Hash's immutable ibig values.
   Size: n digits (default 1500). Check size 27 against pidigits/27_out. *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let base = 10_000_000

(* len limbs in d.(0) .. d.(len - 1); zero has sign 0 and len 0. *)
type big = { sign : int; len : int; d : int array }

let zero = { sign = 0; len = 0; d = [||] }

let big v =                                  (* v: a small non-negative integer *)
  let d = Array.make 4 0 in
  let v = ref v and i = ref 0 in
  while !v > 0 do
    d.(!i) <- !v mod base;
    v := !v / base;
    incr i
  done;
  if !i = 0 then zero else { sign = 1; len = !i; d }

let mul_small a m =                          (* m: a small non-negative integer *)
  if a.sign = 0 || m = 0 then zero
  else begin
    let d = Array.make (a.len + 3) 0 in
    let carry = ref 0 in
    for i = 0 to a.len - 1 do
      let t = a.d.(i) * m + !carry in
      carry := t / base;
      d.(i) <- t - !carry * base
    done;
    let n = ref a.len in
    while !carry > 0 do
      let c = !carry / base in
      d.(!n) <- !carry - c * base;
      carry := c;
      incr n
    done;
    { sign = a.sign; len = !n; d }
  end

let cmp_mag a b =
  if a.len <> b.len then (if a.len < b.len then -1 else 1)
  else begin
    let i = ref (a.len - 1) in
    while !i >= 0 && a.d.(!i) = b.d.(!i) do decr i done;
    if !i < 0 then 0 else if a.d.(!i) < b.d.(!i) then -1 else 1
  end

let add_mag a b sign =
  let a, b = if a.len < b.len then (b, a) else (a, b) in
  let d = Array.make (a.len + 1) 0 in
  let carry = ref 0 in
  for i = 0 to a.len - 1 do
    let t = a.d.(i) + !carry + (if i < b.len then b.d.(i) else 0) in
    if t >= base then begin d.(i) <- t - base; carry := 1 end
    else begin d.(i) <- t; carry := 0 end
  done;
  let n = if !carry > 0 then (d.(a.len) <- !carry; a.len + 1) else a.len in
  { sign; len = n; d }

let sub_mag a b sign =                       (* |a| >= |b| *)
  let d = Array.make a.len 0 in
  let borrow = ref 0 in
  for i = 0 to a.len - 1 do
    let t = a.d.(i) - !borrow - (if i < b.len then b.d.(i) else 0) in
    if t < 0 then begin d.(i) <- t + base; borrow := 1 end
    else begin d.(i) <- t; borrow := 0 end
  done;
  let n = ref a.len in
  while !n > 0 && d.(!n - 1) = 0 do decr n done;
  if !n = 0 then zero else { sign; len = !n; d }

let add a b =
  if a.sign = 0 then b
  else if b.sign = 0 then a
  else if a.sign = b.sign then add_mag a b a.sign
  else begin
    let c = cmp_mag a b in
    if c = 0 then zero
    else if c > 0 then sub_mag a b a.sign
    else sub_mag b a b.sign
  end

let neg a = { sign = - a.sign; len = a.len; d = Array.sub a.d 0 a.len }

let sub a b = add a (neg b)

let cmp a b =
  if a.sign <> b.sign then (if a.sign < b.sign then -1 else 1)
  else a.sign * cmp_mag a b

(* Truncating division a / b for a >= 0, b > 0 when the quotient is a small integer:
   estimate it from the leading limbs, then correct it with exact arithmetic. *)
let leading a from =                         (* limbs from .. len - 1 as a float *)
  let v = ref 0.0 in
  for i = a.len - 1 downto from do
    v := !v *. float_of_int base +. float_of_int a.d.(i)
  done;
  !v

let div_small_quotient a b =
  if cmp_mag a b < 0 then 0
  else begin
    let from = if b.len - 3 < 0 then 0 else b.len - 3 in
    let q = ref (int_of_float (floor (leading a from /. leading b from))) in
    let rem = ref (sub a (mul_small b !q)) in
    while !rem.sign < 0 do
      decr q;
      rem := add !rem b
    done;
    while cmp !rem b >= 0 do
      incr q;
      rem := sub !rem b
    done;
    !q
  end

let () =
  let n = arg 1 1500 in
  let acc = ref (big 0) and num = ref (big 1) and den = ref (big 1) in
  let next_term k =
    let k2 = k * 2 + 1 in
    acc := mul_small (add !acc (mul_small !num 2)) k2;
    den := mul_small !den k2;
    num := mul_small !num k in
  let extract_digit nth = div_small_quotient (add (mul_small !num nth) !acc) !den in
  let eliminate_digit d =
    acc := mul_small (sub !acc (mul_small !den d)) 10;
    num := mul_small !num 10 in
  let line = Buffer.create 10 in
  let i = ref 0 and k = ref 0 in
  while !i < n do
    incr k;
    next_term !k;
    if cmp !num !acc <= 0 then begin
      let d = extract_digit 3 in
      if d = extract_digit 4 then begin
        Buffer.add_string line (string_of_int d);
        incr i;
        if !i mod 10 = 0 then begin
          Printf.printf "%s\t:%d\n" (Buffer.contents line) !i;
          Buffer.clear line
        end;
        eliminate_digit d
      end
    end
  done;
  if !i mod 10 <> 0 then
    Printf.printf "%s%s\t:%d\n" (Buffer.contents line) (String.make (10 - !i mod 10) ' ') !i
