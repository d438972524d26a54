(* Are We Fast Yet? Bounce: 100 balls bouncing in a box for 50 steps; counts the
   bounces. Uses the suite's Random (seed 74755). Verification value: 1331.
   Size: inner iterations n (default 1500, the suite's rebench setting); every
   iteration runs the benchmark and checks its result. A second argument, outer
   iterations k (default 1), repeats that loop k times, like the suite's harness.
   Output: "Bounce: K x N iterations verified" (exit status 1 and "Bounce: incorrect
   result" on a mismatch). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

(* The suite's random number generator. *)
type random = { mutable seed : int }

let new_random () = { seed = 74755 }

let next_random r =
  r.seed <- ((r.seed * 1309) + 13849) land 65535;
  r.seed

type ball = { mutable x : int; mutable y : int; mutable x_vel : int; mutable y_vel : int }

let new_ball random =
  let x = next_random random mod 500 in
  let y = next_random random mod 500 in
  let x_vel = (next_random random mod 300) - 150 in
  let y_vel = (next_random random mod 300) - 150 in
  { x; y; x_vel; y_vel }

let bounce ball =
  let x_limit = 500 and y_limit = 500 in
  let bounced = ref false in
  ball.x <- ball.x + ball.x_vel;
  ball.y <- ball.y + ball.y_vel;
  if ball.x > x_limit then begin
    ball.x <- x_limit;
    ball.x_vel <- 0 - abs ball.x_vel;
    bounced := true
  end;
  if ball.x < 0 then begin
    ball.x <- 0;
    ball.x_vel <- abs ball.x_vel;
    bounced := true
  end;
  if ball.y > y_limit then begin
    ball.y <- y_limit;
    ball.y_vel <- 0 - abs ball.y_vel;
    bounced := true
  end;
  if ball.y < 0 then begin
    ball.y <- 0;
    ball.y_vel <- abs ball.y_vel;
    bounced := true
  end;
  !bounced

let benchmark () =
  let random = new_random () in
  let ball_count = 100 in
  let bounces = ref 0 in
  let balls = Array.init ball_count (fun _ -> new_ball random) in
  for _ = 1 to 50 do
    Array.iter (fun ball -> if bounce ball then incr bounces) balls
  done;
  !bounces

let verify_result result = result = 1331

let inner_benchmark_loop inner_iterations =
  let rec go i = i > inner_iterations || (verify_result (benchmark ()) && go (i + 1)) in
  go 1

let () =
  let inner = arg 1 1500 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "Bounce: incorrect result";
      exit 1
    end
  done;
  Printf.printf "Bounce: %d x %d iterations verified\n" outer inner
