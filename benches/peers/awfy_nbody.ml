(* Are We Fast Yet? NBody: the Benchmarks Game n-body simulation as the suite writes
   it (one body object per planet, advance(0.01) n times, then the energy).
   Verification values (exact): 250000 -> -0.1690859889909308, 1 -> -0.16907495402506745.
   Size: inner iterations n = the number of steps (default 250000). A second
   argument, outer iterations k (default 1), repeats the benchmark k times.
   Output: "NBody: K x N iterations verified" (exit status 1 and "NBody: incorrect
   result" on a mismatch, or "NBody: no verification result for N"). *)
let arg i default =
  if Array.length Sys.argv > i then int_of_string Sys.argv.(i) else default

let pi = 3.141592653589793
let solar_mass = 4.0 *. pi *. pi
let days_per_year = 365.24

type body = {
  mutable x : float; mutable y : float; mutable z : float;
  mutable vx : float; mutable vy : float; mutable vz : float;
  mass : float;
}

let new_body x y z vx vy vz mass =
  { x; y; z;
    vx = vx *. days_per_year; vy = vy *. days_per_year; vz = vz *. days_per_year;
    mass = mass *. solar_mass }

let offset_momentum b px py pz =
  b.vx <- 0.0 -. (px /. solar_mass);
  b.vy <- 0.0 -. (py /. solar_mass);
  b.vz <- 0.0 -. (pz /. solar_mass)

let jupiter () =
  new_body 4.84143144246472090e+00 (-1.16032004402742839e+00) (-1.03622044471123109e-01)
    1.66007664274403694e-03 7.69901118419740425e-03 (-6.90460016972063023e-05)
    9.54791938424326609e-04

let saturn () =
  new_body 8.34336671824457987e+00 4.12479856412430479e+00 (-4.03523417114321381e-01)
    (-2.76742510726862411e-03) 4.99852801234917238e-03 2.30417297573763929e-05
    2.85885980666130812e-04

let uranus () =
  new_body 1.28943695621391310e+01 (-1.51111514016986312e+01) (-2.23307578892655734e-01)
    2.96460137564761618e-03 2.37847173959480950e-03 (-2.96589568540237556e-05)
    4.36624404335156298e-05

let neptune () =
  new_body 1.53796971148509165e+01 (-2.59193146099879641e+01) 1.79258772950371181e-01
    2.68067772490389322e-03 1.62824170038242295e-03 (-9.51592254519715870e-05)
    5.15138902046611451e-05

let sun () = new_body 0.0 0.0 0.0 0.0 0.0 0.0 1.0

let create_bodies () =
  let bodies = [| sun (); jupiter (); saturn (); uranus (); neptune () |] in
  let px = ref 0.0 and py = ref 0.0 and pz = ref 0.0 in
  Array.iter (fun b ->
      px := !px +. b.vx *. b.mass;
      py := !py +. b.vy *. b.mass;
      pz := !pz +. b.vz *. b.mass) bodies;
  offset_momentum bodies.(0) !px !py !pz;
  bodies

let advance bodies dt =
  let nb = Array.length bodies in
  for i = 0 to nb - 1 do
    let i_body = bodies.(i) in
    for j = i + 1 to nb - 1 do
      let j_body = bodies.(j) in
      let dx = i_body.x -. j_body.x in
      let dy = i_body.y -. j_body.y in
      let dz = i_body.z -. j_body.z in
      let d_squared = dx *. dx +. dy *. dy +. dz *. dz in
      let distance = sqrt d_squared in
      let mag = dt /. (d_squared *. distance) in
      i_body.vx <- i_body.vx -. dx *. j_body.mass *. mag;
      i_body.vy <- i_body.vy -. dy *. j_body.mass *. mag;
      i_body.vz <- i_body.vz -. dz *. j_body.mass *. mag;
      j_body.vx <- j_body.vx +. dx *. i_body.mass *. mag;
      j_body.vy <- j_body.vy +. dy *. i_body.mass *. mag;
      j_body.vz <- j_body.vz +. dz *. i_body.mass *. mag
    done
  done;
  Array.iter (fun body ->
      body.x <- body.x +. dt *. body.vx;
      body.y <- body.y +. dt *. body.vy;
      body.z <- body.z +. dt *. body.vz) bodies

let energy bodies =
  let e = ref 0.0 in
  let nb = Array.length bodies in
  for i = 0 to nb - 1 do
    let i_body = bodies.(i) in
    e := !e +. 0.5 *. i_body.mass *. (i_body.vx *. i_body.vx
                                       +. i_body.vy *. i_body.vy
                                       +. i_body.vz *. i_body.vz);
    for j = i + 1 to nb - 1 do
      let j_body = bodies.(j) in
      let dx = i_body.x -. j_body.x in
      let dy = i_body.y -. j_body.y in
      let dz = i_body.z -. j_body.z in
      let distance = sqrt (dx *. dx +. dy *. dy +. dz *. dz) in
      e := !e -. (i_body.mass *. j_body.mass) /. distance
    done
  done;
  !e

let verify_result result inner_iterations =
  if inner_iterations = 250000 then result = -0.1690859889909308
  else if inner_iterations = 1 then result = -0.16907495402506745
  else begin
    Printf.printf "NBody: no verification result for %d\n" inner_iterations;
    exit 1
  end

let inner_benchmark_loop inner_iterations =
  let bodies = create_bodies () in
  for _ = 1 to inner_iterations do
    advance bodies 0.01
  done;
  verify_result (energy bodies) inner_iterations

let () =
  let inner = arg 1 250000 in
  let outer = arg 2 1 in
  for _ = 1 to outer do
    if not (inner_benchmark_loop inner) then begin
      print_endline "NBody: incorrect result";
      exit 1
    end
  done;
  Printf.printf "NBody: %d x %d iterations verified\n" outer inner
