#!/usr/bin/env python3
"""Benchmark hashvm side by side with Lua 5.4, LuaJIT and OCaml.

    python3 benches/run.py            # standard sizes, 3 timed runs per program and system
    python3 benches/run.py --quick    # small sizes (the oracle sizes), 1 run: a smoke test

Builds hashvm in release mode (cargo build --release -p hashvm-cli), compiles every
benches/programs/X.hash with target/release/hashc and runs it as three systems: `hashvm`
(`target/release/hashvm run --jit=off X.hbc SIZE`, the interpreter), `hashvm-jit`
(`--jit=on`, the tracing JIT) and `hashvm-native` (the executable of `hashc --native`,
code compiled ahead of time, with its build time and size reported), plus one `--jit-stats` run per program for the report's JIT
section and issue 9's targets; runs the peers of benches/peers/ with every
installed peer system (lua5.4, luajit -joff, luajit, ocamlrun of ocamlc output,
ocamlopt native code); measures CPU time (user + sys of the child, from wait4) and
peak RSS; checks every output against the Benchmarks Game oracles, the Are We Fast
Yet? verification values or known results, and against each other; and writes
benches/RESULTS.md and benches/ratios.svg. Standard library only. It installs nothing.
See benches/README.md for the options.
"""

import argparse
import datetime
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import lru_cache

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
PROGRAMS_DIR = os.path.join(BENCH_DIR, "programs")
PEERS_DIR = os.path.join(BENCH_DIR, "peers")


def find_oracle_dir():
    """The Benchmarks Game oracles: ../shared/oracles/benchmarksgame beside the
    repository (the workspace root's parent), or $HASH_ORACLES. None when missing: the
    run then fails (main), as checking outputs against nothing would be no check."""
    env = os.environ.get("HASH_ORACLES")
    c = env or os.path.join(os.path.dirname(REPO), "shared", "oracles", "benchmarksgame")
    return c if os.path.isdir(c) else None


ORACLE_DIR = find_oracle_dir()

# ---------------------------------------------------------------------------------------
# The benchmarks
# ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, name, group, size_doc, standard, quick, oracle=None, note=""):
        self.name = name
        self.group = group          # "classic", "bg" (Benchmarks Game) or "awfy"
        self.size_doc = size_doc    # what the arguments mean
        self.standard = standard    # arguments of the timed runs
        self.quick = quick          # arguments of the --quick runs and of the check pass
        self.oracle = oracle        # (file under the oracle dir, arguments it is for)
        self.note = note


BENCHES = [
    Bench("fib", "classic", "n: fib(n)", ["35"], ["25"]),
    Bench("tak", "classic", "n: tak(3n, 2n, n)", ["10"], ["6"]),
    Bench("ackermann", "classic", "n: ack(3, n)", ["10"], ["5"]),
    Bench("nqueens", "classic", "n: board size (lists)", ["12"], ["8"]),
    Bench("sieve", "classic", "n: primes below n, 10 runs", ["1000000"], ["10000"]),
    Bench("pmap", "classic", "n: keys inserted, looked up, half removed", ["100000"], ["1000"]),
    Bench("binarytrees", "bg", "max depth", ["16"], ["10"], ("binarytrees/10_out", ["10"])),
    Bench("nbody", "bg", "steps", ["1000000"], ["1000"], ("nbody/1000_out", ["1000"])),
    Bench("spectralnorm", "bg", "matrix order", ["1000"], ["100"], ("spectralnorm/100_out", ["100"])),
    Bench("fannkuchredux", "bg", "permutation length", ["10"], ["7"], ("fannkuchredux/7_out", ["7"])),
    Bench("mandelbrot", "bg", "image width = height", ["2000"], ["200"], ("mandelbrot/200_out", ["200"]),
          note="PBM printed as hex text (see programs/mandelbrot.hash)"),
    Bench("fasta", "bg", "n (2n + 3n + 5n bases)", ["1000000"], ["1000"], ("fasta/1000_out", ["1000"])),
    Bench("pidigits", "bg", "digits", ["1500"], ["27"], ("pidigits/27_out", ["27"]),
          note="library-bound: Hash uses GMP (ibig), the peers a bignum written in Lua/OCaml"),
    Bench("awfy_bounce", "awfy", "inner iterations, outer iterations", ["1500", "2"], ["10", "1"]),
    Bench("awfy_list", "awfy", "inner iterations, outer iterations", ["1500", "2"], ["10", "1"]),
    Bench("awfy_mandelbrot", "awfy", "image size (500/750/1), outer iterations", ["750", "3"], ["1", "1"]),
    Bench("awfy_nbody", "awfy", "steps (250000/1), outer iterations", ["250000", "3"], ["1", "1"]),
    Bench("awfy_permute", "awfy", "inner iterations, outer iterations", ["1000", "2"], ["10", "1"]),
    Bench("awfy_queens", "awfy", "inner iterations, outer iterations", ["1000", "2"], ["10", "1"]),
    Bench("awfy_sieve", "awfy", "inner iterations, outer iterations", ["3000", "2"], ["10", "1"]),
    Bench("awfy_storage", "awfy", "inner iterations, outer iterations", ["1000", "1"], ["10", "1"]),
    Bench("awfy_towers", "awfy", "inner iterations, outer iterations", ["600", "2"], ["10", "1"]),
]

# Programs whose time is mostly spent in a library rather than in the VM: shown, but left
# out of the headline geometric mean.
LIBRARY_BOUND = {"pidigits"}

AWFY_TITLES = {
    "awfy_bounce": "Bounce", "awfy_list": "List", "awfy_mandelbrot": "Mandelbrot",
    "awfy_nbody": "NBody", "awfy_permute": "Permute", "awfy_queens": "Queens",
    "awfy_sieve": "Sieve", "awfy_storage": "Storage", "awfy_towers": "Towers",
}
AWFY_ONLY_SIZES = {"awfy_mandelbrot": {500, 750, 1}, "awfy_nbody": {250000, 1}}
NQUEENS = [1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184]


def mandelbrot_pbm_to_text(data):
    """The binary PBM oracle in the text form the programs print (see mandelbrot.hash)."""
    m = re.match(rb"P4\s+(\d+)\s+(\d+)\s", data)
    w, h = int(m.group(1)), int(m.group(2))
    body = data[m.end():]
    row = (w + 7) // 8
    lines = ["P4", "%d %d" % (w, h)]
    lines += [body[i * row:(i + 1) * row].hex() for i in range(h)]
    return ("\n".join(lines) + "\n").encode()


@lru_cache(maxsize=None)
def _tak(x, y, z):
    return _tak(_tak(x - 1, y, z), _tak(y - 1, z, x), _tak(z - 1, x, y)) if y < x else z


def _primes_below(n):
    if n < 3:
        return 0
    flags = bytearray([1]) * n
    flags[0] = flags[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = bytearray(len(range(i * i, n, i)))
    return sum(flags)


def expected_output(bench, args):
    """(expected stdout as bytes, where it comes from) for these arguments, or None."""
    try:
        ints = [int(a) for a in args]
    except ValueError:
        return None
    name = bench.name
    if bench.oracle and ORACLE_DIR and list(args) == bench.oracle[1]:
        path = os.path.join(ORACLE_DIR, bench.oracle[0])
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            if name == "mandelbrot":
                data = mandelbrot_pbm_to_text(data)
            return data, "oracle " + bench.oracle[0]
    if name in AWFY_TITLES:
        inner = ints[0] if ints else None
        outer = ints[1] if len(ints) > 1 else 1
        if inner is None or (name in AWFY_ONLY_SIZES and inner not in AWFY_ONLY_SIZES[name]):
            return None
        return ("%s: %d x %d iterations verified\n" % (AWFY_TITLES[name], outer, inner)).encode(), \
            "AWFY verification value"
    if not ints:
        return None
    n = ints[0]
    if name == "fib" and 0 <= n <= 90:
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return ("fib(%d) = %d\n" % (n, a)).encode(), "known value"
    if name == "tak" and 0 <= n <= 12:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))
        return ("tak(%d, %d, %d) = %d\n" % (3 * n, 2 * n, n, _tak(3 * n, 2 * n, n))).encode(), "known value"
    if name == "ackermann" and 0 <= n <= 60:
        return ("ack(3, %d) = %d\n" % (n, 2 ** (n + 3) - 3)).encode(), "known value"
    if name == "nqueens" and 0 <= n < len(NQUEENS):
        return ("N-queens(%d) = %d\n" % (n, NQUEENS[n])).encode(), "known value"
    if name == "sieve" and 0 <= n <= 50_000_000:
        return ("primes below %d: %d\n" % (n, _primes_below(n))).encode(), "known value"
    if name == "pmap" and 0 < n <= 10_000_000 and math.gcd(n, 48271) == 1:
        # Keys i * 48271 mod n are a permutation of 0..n; values are 2 * key; the keys
        # of odd i remain after the removal.
        rest = sum(2 * (i * 48271 % n) for i in range(1, n, 2))
        return ("size %d sum %d after removal %d sum %d\n"
                % (n, n * (n - 1), n // 2, rest)).encode(), "known value"
    return None


# ---------------------------------------------------------------------------------------
# Running a command and measuring it
# ---------------------------------------------------------------------------------------


class RunResult:
    def __init__(self):
        self.cpu = None       # user + sys seconds of the child
        self.wall = None
        self.maxrss_kb = None
        self.rc = None
        self.timed_out = False
        self.error = None     # could not start
        self.digest = None
        self.size = 0
        self.head = b""
        self.stderr_tail = ""

    def ok(self):
        return self.error is None and not self.timed_out and self.rc == 0

    def failure(self):
        if self.error:
            return self.error
        if self.timed_out:
            return "timed out"
        if self.rc != 0:
            tail = self.stderr_tail.strip().splitlines()
            msg = "exit status %s" % self.rc
            if tail:
                msg += ": " + tail[-1][:200]
            return msg
        return None

    def as_dict(self):
        return {
            "cpu": self.cpu, "wall": self.wall, "maxrss_kb": self.maxrss_kb, "rc": self.rc,
            "timed_out": self.timed_out, "error": self.error, "digest": self.digest,
            "output_bytes": self.size, "stderr_tail": self.stderr_tail[-2000:],
        }


def find_gnu_time():
    """GNU time reports the peak RSS of its child exactly (see run_measured)."""
    for path in ("/usr/bin/time", shutil.which("gtime") or ""):
        if path and os.path.exists(path):
            try:
                p = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if b"GNU" in p.stdout:
                return path
    return None


GNU_TIME = find_gnu_time()
RSS_FLOOR_KB = None    # without GNU time: what wait4 reports for /bin/true (see measure_floor)


def run_measured(cmd, cwd, timeout, use_time=True):
    """Runs cmd with stdout and stderr to temporary files and measures it.

    CPU time is user + sys of the child from wait4. The peak RSS that wait4 reports
    for a child of this (large) Python process is at least Python's own peak, because
    Linux carries the pre-exec high-water mark of a forked process over exec; so, when
    GNU time is installed, the command runs under `time -f %M`, whose child is forked
    from a small process, and the peak RSS is the one it reports. (GNU time's own CPU
    time, a fraction of a millisecond, is then included in the CPU time.)
    """
    res = RunResult()
    rss_file = None
    if use_time and GNU_TIME:
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file] + list(cmd)
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            try:
                proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                        start_new_session=True)
            except OSError as e:
                res.error = "cannot start %s: %s" % (cmd[0], e)
                return res

            def kill():
                res.timed_out = True
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    pass

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                while True:
                    try:
                        _, status, ru = os.wait4(proc.pid, 0)
                        break
                    except InterruptedError:
                        continue
            finally:
                timer.cancel()
            res.wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            res.rc = proc.returncode
            res.cpu = ru.ru_utime + ru.ru_stime
            res.maxrss_kb = ru.ru_maxrss
            if rss_file:
                try:
                    with open(rss_file) as f:
                        lines = [l.strip() for l in f if l.strip()]
                    res.maxrss_kb = int(lines[-1])
                    # GNU time exits with 128 + n when its child is killed by signal n.
                    if any(l.startswith("Command terminated by signal") for l in lines):
                        res.rc = -int(lines[0].rsplit(" ", 1)[-1])
                except (OSError, ValueError, IndexError):
                    pass
            out.seek(0)
            h = hashlib.sha256()
            first = True
            while True:
                chunk = out.read(1 << 20)
                if not chunk:
                    break
                if first:
                    res.head = chunk[:4096]
                    first = False
                h.update(chunk)
                res.size += len(chunk)
            res.digest = h.hexdigest()
            err.seek(0)
            res.stderr_tail = err.read()[-4000:].decode("utf-8", "replace")
    finally:
        if rss_file:
            try:
                os.remove(rss_file)
            except OSError:
                pass
    return res


def measure_floor(cwd):
    """Without GNU time, the peak RSS wait4 reports for `true`: below it nothing is known."""
    global RSS_FLOOR_KB
    if GNU_TIME is None and shutil.which("true"):
        r = run_measured([shutil.which("true")], cwd, 30, use_time=False)
        RSS_FLOOR_KB = r.maxrss_kb


def digest_of(data):
    return hashlib.sha256(data).hexdigest()


def first_difference(got_head, expected):
    """A short description of where the output first differs from the expected one."""
    n = min(len(got_head), len(expected))
    i = 0
    while i < n and got_head[i] == expected[i]:
        i += 1
    line = expected[:i].count(b"\n") + 1
    exp_line = expected.split(b"\n")[line - 1] if line - 1 < len(expected.split(b"\n")) else b""
    got_line = got_head[:].split(b"\n")[line - 1] if line - 1 < len(got_head.split(b"\n")) else b""
    return "line %d: expected %r, got %r" % (line, exp_line[:80].decode("utf-8", "replace"),
                                              got_line[:80].decode("utf-8", "replace"))


# ---------------------------------------------------------------------------------------
# The systems
# ---------------------------------------------------------------------------------------


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        return p.stdout.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return None


class System:
    name = ""
    install = ""
    is_hashvm = False

    def available(self):
        """None when usable, else why not."""
        return None

    def version(self):
        return None

    def prepare(self, bench, build_dir):
        """Compiles what needs compiling; returns None or an error message."""
        return None

    def command(self, bench, args):
        raise NotImplementedError


class LuaSystem(System):
    def __init__(self, name, exe, flags):
        self.name = name
        self.exe = exe
        self.flags = flags
        self.install = "apt-get install " + ("lua5.4" if exe == "lua5.4" else "luajit")

    def available(self):
        return None if shutil.which(self.exe) else "%s not found" % self.exe

    def version(self):
        v = tool_version([self.exe, "-v"])
        return re.split(r"\s{2,}| -- ", v)[0] if v else None

    def prepare(self, bench, build_dir):
        src = os.path.join(PEERS_DIR, bench.name + ".lua")
        return None if os.path.exists(src) else "no peers/%s.lua" % bench.name

    def command(self, bench, args):
        return [self.exe] + self.flags + [os.path.join(PEERS_DIR, bench.name + ".lua")] + list(args)


class OCamlSystem(System):
    def __init__(self, native):
        self.native = native
        self.name = "ocamlopt" if native else "ocamlrun"
        self.compiler = "ocamlopt" if native else "ocamlc"
        self.install = "apt-get install ocaml-nox"
        self.exes = {}

    def available(self):
        need = [self.compiler] + ([] if self.native else ["ocamlrun"])
        missing = [t for t in need if not shutil.which(t)]
        return None if not missing else "%s not found" % ", ".join(missing)

    def version(self):
        v = tool_version([self.compiler, "-version"])
        return ("OCaml %s (%s)" % (v, self.compiler)) if v else None

    def prepare(self, bench, build_dir):
        src = os.path.join(PEERS_DIR, bench.name + ".ml")
        if not os.path.exists(src):
            return "no peers/%s.ml" % bench.name
        d = os.path.join(build_dir, "ocaml-native" if self.native else "ocaml-byte")
        os.makedirs(d, exist_ok=True)
        ml = os.path.join(d, bench.name + ".ml")
        shutil.copyfile(src, ml)
        exe = os.path.join(d, bench.name + (".native" if self.native else ".byte"))
        cmd = [self.compiler, "-o", exe, ml]
        try:
            p = subprocess.run(cmd, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "%s failed: %s" % (self.compiler, e)
        if p.returncode != 0:
            return "%s failed: %s" % (self.compiler, p.stdout.decode("utf-8", "replace").strip()[-500:])
        self.exes[bench.name] = exe
        return None

    def command(self, bench, args):
        exe = self.exes[bench.name]
        return ([exe] if self.native else ["ocamlrun", exe]) + list(args)


class HashBuild:
    """What the hashvm columns share: the cargo build, hashc and its outputs. Each program
    is compiled once and run by both columns (the interpreter and the JIT)."""

    def __init__(self, target_dir, native=False):
        self.target_dir = target_dir
        # Native executables (`hashc --native`, SPEC.md §11) instead of `hashvm run`.
        self.native = native
        self.hashc = os.path.join(target_dir, "release", "hashc")
        self.hashvm = os.path.join(target_dir, "release", "hashvm")
        self.build_error = None
        self.hbc = {}
        # bench name -> (seconds hashc took, bytes of the output), for the report.
        self.builds = {}
        # bench name -> (functions compiled ahead of time, functions), from --native-stats.
        self.compiled = {}
        # bench name -> error message of hashc, so that the second column does not retry.
        self.errors = {}

    def build(self, log_path, timeout):
        """cargo build --release -p hashvm-cli; sets build_error on failure."""
        if not shutil.which("cargo"):
            self.build_error = "cargo not found (install Rust to build hashvm)"
            return
        cmd = ["cargo", "build", "--release", "-p", "hashvm-cli"]
        progress("building hashvm: %s (log: %s)" % (" ".join(cmd), os.path.relpath(log_path, REPO)))
        t0 = time.perf_counter()
        try:
            with open(log_path, "wb") as log:
                p = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        except OSError as e:
            self.build_error = "cannot run cargo: %s" % e
            return
        progress("  cargo finished in %.0f s with status %s" % (time.perf_counter() - t0, rc))
        if rc != 0:
            with open(log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            errors = [l for l in lines if l.startswith("error")]
            detail = errors[0] if errors else (lines[-1] if lines else "")
            self.build_error = "cargo build --release -p hashvm-cli failed (%s): %s" % (rc, detail[:300])

    def available(self):
        if self.build_error:
            return self.build_error
        needed = [self.hashc] + ([] if self.native else [self.hashvm])
        if self.native:
            needed.append(os.path.join(self.target_dir, "release", "hashvm-rt"))
        for exe in needed:
            if not os.path.exists(exe):
                return "%s is missing (build hashvm first: cargo build --release -p hashvm-cli)" \
                    % os.path.relpath(exe, REPO)
        return None

    def version(self):
        v = tool_version(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
        if not v:
            return "hashvm"
        try:
            p = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20)
            dirty = any(line[3:].strip() and not line[3:].startswith("benches/")
                        for line in p.stdout.decode("utf-8", "replace").splitlines())
        except (OSError, subprocess.TimeoutExpired):
            dirty = False
        return "hashvm built from commit %s%s" % (v, " plus uncommitted changes in the work tree"
                                                   if dirty else "")

    def prepare(self, bench, build_dir):
        if bench.name in self.hbc:
            return None
        if bench.name in self.errors:
            return self.errors[bench.name]
        err = self._compile(bench, build_dir)
        if err:
            self.errors[bench.name] = err
        return err

    def _compile(self, bench, build_dir):
        src = os.path.join(PROGRAMS_DIR, bench.name + ".hash")
        if not os.path.exists(src):
            return "no programs/%s.hash" % bench.name
        d = os.path.join(build_dir, "hash")
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, bench.name + ("" if self.native else ".hbc"))
        if os.path.exists(out):
            os.remove(out)
        # --native-stats adds one summary line and a line per function on standard error.
        cmd = [self.hashc] + (["--native", "--native-stats"] if self.native else []) + [src, "-o", out]
        try:
            t0 = time.perf_counter()
            p = subprocess.run(cmd, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            took = time.perf_counter() - t0
        except (OSError, subprocess.TimeoutExpired) as e:
            return "hashc failed: %s" % e
        if p.returncode != 0 or not os.path.exists(out):
            msg = (p.stderr or p.stdout).decode("utf-8", "replace").strip()
            lines = [l for l in msg.splitlines() if "error" in l] or msg.splitlines() or [""]
            return "hashc failed (status %d): %s" % (p.returncode, lines[0][:300])
        self.hbc[bench.name] = out
        self.builds[bench.name] = (took, os.path.getsize(out))
        m = re.search(rb"native: (\d+) functions: (\d+) compiled", p.stderr)
        if m:
            self.compiled[bench.name] = (int(m.group(2)), int(m.group(1)))
        return None

    def stats_command(self, bench, args):
        """`hashvm run --jit=on --jit-stats`: the JIT's counters on standard error at exit.
        None for native executables, whose runtime has no such option."""
        if self.native or bench.name not in self.hbc:
            return None
        return [self.hashvm, "run", "--jit=on", "--jit-stats", self.hbc[bench.name]] + list(args)


class HashSystem(System):
    """One hashvm column: the interpreter alone (`hashvm`, `--jit=off`), with its tracing
    JIT (`hashvm-jit`, `--jit=on`), both running the same compiled `.hbc`; or the native
    executable of `hashc --native` (`hashvm-native`, SPEC.md §11) run as it is, in the
    default environment (its compiled code, the interpreter for what the compiler leaves,
    and the tracing JIT attached as by default)."""
    is_hashvm = True
    install = "cargo build --release -p hashvm-cli (done by this script)"

    def __init__(self, build, jit):
        self.build_info = build
        self.jit = jit
        self.native = build.native
        self.name = "hashvm-native" if self.native else ("hashvm-jit" if jit else "hashvm")

    def available(self):
        return self.build_info.available()

    def version(self):
        v = self.build_info.version()
        if self.native:
            return v + ", native executables of `hashc --native`"
        return v + (", tracing JIT on" if self.jit else ", interpreter only (JIT off)")

    def prepare(self, bench, build_dir):
        return self.build_info.prepare(bench, build_dir)

    def command(self, bench, args):
        exe = self.build_info.hbc[bench.name]
        if self.native:
            return [exe] + list(args)
        mode = "--jit=on" if self.jit else "--jit=off"
        return [self.build_info.hashvm, "run", mode, exe] + list(args)


HASH_SYSTEMS = ("hashvm", "hashvm-jit", "hashvm-native")

# The programs the "share of instructions run in traces >= 90%" target is about:
# the numeric loops and the recursive calls (issue 9, Performance).
NUMERIC_RECURSIVE = ["fib", "tak", "ackermann", "sieve", "nbody", "spectralnorm", "mandelbrot",
                     "awfy_mandelbrot", "awfy_nbody"]
# Programs the issue wants within 2x of ocamlopt with the JIT, and at least 2.5x faster
# with the JIT than with the interpreter.
NEAR_OCAMLOPT = ["nbody", "spectralnorm", "mandelbrot", "sieve"]
JIT_SPEEDUP = ["fib", "tak", "ackermann"]

# What the report wants from `--jit-stats`, and how to recognise each number in its line
# (`jit: 12 recordings, 1 aborted, 11 traces, 3000 trace entries, 0.250 ms recording and
# compiling`). The line is parsed item by item rather than with one fixed pattern, so that
# numbers the JIT adds later (side exits, the share of instructions in traces) are picked up
# as soon as it prints them under a recognisable label.
JIT_STAT_FIELDS = [
    # key, column title, predicate on (label, unit)
    ("traces", "traces compiled", lambda l, u: l in ("traces", "traces compiled", "root traces")),
    ("side_traces", "side traces", lambda l, u: "side trace" in l),
    ("recordings", "recordings", lambda l, u: l.startswith("recording") and u is None),
    ("aborted", "aborted", lambda l, u: l.startswith("abort")),
    ("entries", "trace entries", lambda l, u: "entr" in l),
    ("side_exits", "side exits", lambda l, u: "exit" in l),
    ("in_traces_pct", "instructions in traces", lambda l, u: u == "%" and "instruction" in l),
    ("compile_ms", "compile time", lambda l, u: u in ("ms", "s") and "compil" in l),
]


def parse_jit_stats(stderr):
    """The numbers of the last `jit: ...` line on standard error: {key: float}, with the
    compile time in milliseconds. None when there is no such line."""
    line = None
    for l in stderr.splitlines():
        if l.startswith("jit:"):
            line = l
    if line is None:
        return None
    found = {"line": line.strip()}
    for item in line[len("jit:"):].split(","):
        m = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(%|ms|s\b)?\s*(.*)$", item)
        if not m:
            continue
        value, unit, label = float(m.group(1)), m.group(2), m.group(3).strip().lower()
        if unit == "s":
            value, unit = value * 1e3, "ms"
        for key, _, pred in JIT_STAT_FIELDS:
            if key not in found and pred(label, unit):
                found[key] = value
                break
    return found



# ---------------------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------------------


def machine_info():
    info = {}
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = cpu or platform.processor() or "unknown"
    info["logical_cpus"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cpus"] = os.cpu_count()
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    info["memory_bytes"] = mem
    info["os"] = "%s %s" % (platform.system(), platform.release())
    info["python"] = platform.python_version()
    info["rustc"] = tool_version(["rustc", "--version"])
    return info


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------

QUIET = False


def progress(msg):
    if not QUIET:
        print(msg, file=sys.stderr, flush=True)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def fmt_secs(x):
    if x is None:
        return "–"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    if x >= 1:
        return "%.2f" % x
    return "%.3f" % x


def fmt_ratio(x):
    if x is None:
        return "–"
    if x >= 100:
        return "%.0f×" % x
    if x >= 10:
        return "%.1f×" % x
    return "%.2f×" % x


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


PEER_COLORS = {
    "lua5.4": "#1f77b4", "luajit -joff": "#17becf", "luajit": "#2ca02c",
    "ocamlrun": "#ff7f0e", "ocamlopt": "#d62728", "hashvm": "#9467bd", "hashvm-jit": "#8c564b",
    "hashvm-native": "#e377c2",
}



def hash_opacity(run_hash):
    """Bar opacity of each hashvm column in the chart: with several, the interpreter
    palest and the last (the JIT, or the native executables) solid."""
    levels = {1: [1.0], 2: [0.4, 1.0], 3: [0.3, 0.6, 1.0]}[len(run_hash)]
    return dict(zip(run_hash, levels))


def series_style(entry):
    """(name, data, colour, opacity) of a chart series given as (name, data) or in full."""
    if len(entry) == 4:
        return entry
    name, data = entry
    return name, data, PEER_COLORS.get(name, "#888"), 1.0


def svg_chart(rows, series, title, subtitle, value_label, missing_label="no result", legend=None):
    """A horizontal grouped bar chart on a log scale.

    rows: program names; series: list of (name, {program: value}) or (name, {program:
    value}, colour, opacity); values > 0. A row with no value at all gets missing_label
    instead of bars. legend: (label, colour, opacity) entries, by default one per series.
    """
    series = [series_style(e) for e in series]
    if legend is None:
        legend = [(name, color, opacity) for name, _, color, opacity in series]
    values = [v for _, d, _, _ in series for v in d.values() if v and v > 0]
    n_series = max(1, len(series))
    bar_h = 9 if n_series <= 6 else 6
    group_h = n_series * bar_h + 10
    left, right, top = 150, 30, 70
    plot_w = 620
    width = left + plot_w + right
    # The legend wraps onto as many lines as it needs.
    legend_lines, x = 1, left
    for sname, _, _ in legend:
        w = 24 + 7 * len(sname) + 10
        if x + w > width and x > left:
            legend_lines, x = legend_lines + 1, left
        x += w
    legend_h = 8 + 16 * legend_lines
    height = top + max(1, len(rows)) * group_h + 40 + legend_h
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (left - 140, xml(title)),
           '<text x="%d" y="40" fill="#444">%s</text>' % (left - 140, xml(subtitle))]
    if not values:
        out.append('<text x="%d" y="%d" fill="#a00">no data</text>' % (left, top + 20))
        out.append("</svg>")
        return "\n".join(out) + "\n"
    lo = 10 ** math.floor(math.log10(min(min(values), 1.0)))
    hi = 10 ** math.ceil(math.log10(max(max(values), 1.0)))
    if hi <= lo:
        hi = lo * 10
    llo, lhi = math.log10(lo), math.log10(hi)

    def xpos(v):
        return left + (math.log10(v) - llo) / (lhi - llo) * plot_w

    plot_bottom = top + len(rows) * group_h
    # grid: powers of ten, and 2 and 5 between them
    decade = int(llo)
    while decade <= lhi:
        for m in (1, 2, 5):
            v = m * 10 ** decade
            if lo <= v <= hi:
                x = xpos(v)
                strong = m == 1
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1"/>'
                           % (x, top - 5, x, plot_bottom, "#bbb" if strong else "#eee"))
                if strong or (lhi - llo) <= 2:
                    label = ("%g" % v)
                    out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s×</text>'
                               % (x, plot_bottom + 14, label))
        decade += 1
    x1 = xpos(1.0)
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="1.5"/>'
               % (x1, top - 8, x1, plot_bottom))
    out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>'
               % (left + plot_w / 2, plot_bottom + 30, xml(value_label)))
    for i, row in enumerate(rows):
        gy = top + i * group_h
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (left - 8, gy + group_h / 2, xml(row)))
        if i % 2 == 1:
            out.insert(2, '<rect x="%d" y="%d" width="%d" height="%d" fill="#f7f7f7"/>'
                       % (left, gy, plot_w, group_h))
        if all(not d.get(row) for _, d, _, _ in series):
            out.append('<text x="%.1f" y="%.1f" fill="#999" font-style="italic">%s</text>'
                       % (x1 + 6, gy + group_h / 2, xml(missing_label)))
        for j, (sname, data, color, opacity) in enumerate(series):
            v = data.get(row)
            y = gy + 5 + j * bar_h
            if v is None or v <= 0:
                continue
            xa, xb = sorted((x1, xpos(v)))
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"%s>'
                       '<title>%s: %s</title></rect>'
                       % (xa, y, max(xb - xa, 1.0), bar_h - 1, color,
                          ' fill-opacity="%.2f"' % opacity if opacity < 1 else "", xml(sname), fmt_ratio(v)))
    lx = left
    ly = height - legend_h + 4
    for sname, color, opacity in legend:
        w = 24 + 7 * len(sname) + 10
        if lx + w > width and lx > left:
            lx, ly = left, ly + 16
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"%s/>'
                   % (lx, ly, color, ' fill-opacity="%.2f"' % opacity if opacity < 1 else ""))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 14, ly + 9, xml(sname)))
        lx += w
    out.append("</svg>")
    return "\n".join(out) + "\n"


def xml(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def hash_method(hash_names):
    """How the hashvm columns run, for the report's Method section."""
    if not hash_names:
        return "hashvm was not run"
    parts = []
    run = [h for h in hash_names if h != "hashvm-native"]
    for h in run:
        jit = h == "hashvm-jit"
        parts.append("%s runs `hashvm run --jit=%s X.hbc ARGS` (%s)"
                     % (h, "on" if jit else "off", "its tracing JIT" if jit else "the interpreter alone"))
    text = "; ".join(parts)
    if run:
        text += (" on the output of `hashc X.hash -o X.hbc`, compiled once for %s"
                 % ("both" if len(run) > 1 else "it"))
    if "hashvm-native" in hash_names:
        text += ("%shashvm-native runs the executable of `hashc --native X.hash -o X` as `X ARGS` "
                 "in the default environment (the functions and loops the ahead-of-time compiler "
                 "handles run as its machine code, the rest interpreted, with the tracing JIT "
                 "attached; SPEC.md §11.6)" % ("; " if run else ""))
    return text


def jit_targets(bench_names, geo, ratios, jit_ratio, jit_stats):
    """The Performance targets of issue 9, each as {target, measured, status}: status is
    "met", "not met" or "not measured", with what was not measured named in `measured`."""
    out = []

    def add(target, measured, ok, missing=()):
        if ok is None:
            status = "not measured"
        else:
            status = "met" if ok else "not met"
        if missing and ok is not None:
            status += " (partial)"
        if missing:
            measured = (measured + "; " if measured else "") + "not measured: " + ", ".join(missing)
        out.append({"target": target, "measured": measured, "status": status})

    def per_program(names, value):
        """({name: value} for those measured, [names in the run but not measured, or not in the run])."""
        got, missing = {}, []
        for n in names:
            v = value(n) if n in bench_names else None
            if v is None:
                missing.append(n + (" (no result)" if n in bench_names else " (not in this run)"))
            else:
                got[n] = v
        return got, missing

    jit_geo = geo.get("hashvm-jit", {})
    g = jit_geo.get("luajit", {}).get("core")
    add("geomean CPU time ≤ 1.0× luajit (issue not resolved above 2.0×)",
        "%s over %d program%s%s" % (fmt_ratio(g), jit_geo["luajit"]["core_n"],
                                    "" if jit_geo["luajit"]["core_n"] == 1 else "s",
                                   "; above 2.0×" if g > 2.0 else "") if g else "",
        None if g is None else g <= 1.0,
        ["the %d other programs of the suite (not in this run)" % (len(BENCHES) - len(bench_names))]
        if len(bench_names) < len(BENCHES) else [])
    if jit_ratio:
        worst = max(jit_ratio, key=jit_ratio.get)
        slow = sorted(n for n, v in jit_ratio.items() if v > 1.05)
        add("no program slower with the JIT on than off (JIT / interpreter ≤ 1.05×)",
            "worst %s %s; %d of %d above 1.05×%s" % (
                worst, fmt_ratio(jit_ratio[worst]), len(slow), len(jit_ratio),
                (": " + ", ".join(slow)) if slow else ""), not slow)
    else:
        add("no program slower with the JIT on than off (JIT / interpreter ≤ 1.05×)", "", None)
    near = ratios.get("hashvm-jit", {}).get("ocamlopt", {})
    got, missing = per_program(NEAR_OCAMLOPT, near.get)
    add("%s within 2× of ocamlopt (hashvm-jit / ocamlopt ≤ 2.0×)" % ", ".join(NEAR_OCAMLOPT),
        ", ".join("%s %s" % (n, fmt_ratio(v)) for n, v in got.items()),
        all(v <= 2.0 for v in got.values()) if got else None, missing)
    got, missing = per_program(JIT_SPEEDUP, lambda n: 1 / jit_ratio[n] if n in jit_ratio else None)
    add("%s at least 2.5× faster with the JIT than with the interpreter" % ", ".join(JIT_SPEEDUP),
        "speed-up (interpreter / JIT time): " + ", ".join("%s %s" % (n, fmt_ratio(v)) for n, v in got.items())
        if got else "",
        all(v >= 2.5 for v in got.values()) if got else None, missing)
    shares = {n: st["compile_share"] for n, st in jit_stats.items() if st.get("compile_share") is not None}
    if shares:
        worst = max(shares, key=shares.get)
        over = sorted(n for n, v in shares.items() if v >= 0.05)
        add("JIT compile time under 5% of run time on every benchmark",
            "largest %s %.2f%%; %d of %d at 5%% or more%s" % (
                worst, 100 * shares[worst], len(over), len(shares), (": " + ", ".join(over)) if over else ""),
            not over, [n for n in bench_names if n not in shares])
    else:
        add("JIT compile time under 5% of run time on every benchmark", "", None)
    printed = any("in_traces_pct" in st.get("stats", {}) for st in jit_stats.values())
    if printed:
        got, missing = per_program(NUMERIC_RECURSIVE,
                                   lambda n: jit_stats.get(n, {}).get("stats", {}).get("in_traces_pct"))
        add("share of instructions run in traces ≥ 90%% on the numeric and recursive programs (%s)"
            % ", ".join(NUMERIC_RECURSIVE),
            ", ".join("%s %.1f%%" % (n, v) for n, v in got.items()),
            all(v >= 90 for v in got.values()) if got else None, missing)
    else:
        add("share of instructions run in traces ≥ 90%% on the numeric and recursive programs (%s)"
            % ", ".join(NUMERIC_RECURSIVE),
            "`--jit-stats` does not print this share" if jit_stats else "", None)
    return out


def jit_section(L, benches, opts, jit_stats, targets, jit_missing):
    """The report's section on the JIT: its --jit-stats numbers and issue 9's targets.
    jit_missing: None when hashvm-jit ran, else why it did not."""
    L.append("## The JIT: `--jit-stats` and the targets of issue 9")
    L.append("")
    if jit_missing:
        L.append("No JIT numbers: %s." % md_escape(jit_missing))
        L.append("")
        return
    if opts.no_jit_stats:
        L.append("`--jit-stats` runs skipped (`--no-jit-stats`).")
        L.append("")
    else:
        L.append("After the timed runs, each program ran once more as `hashvm run --jit=on --jit-stats "
                 "X.hbc ARGS` at the size of the timed runs; its output had to match theirs. The "
                 "compile share is the compile time `--jit-stats` prints (recording and compiling) "
                 "divided by the CPU time of that run.")
        L.append("")
        present = [f for f in JIT_STAT_FIELDS
                   if any(f[0] in st.get("stats", {}) for st in jit_stats.values())]
        asked = {"traces": "traces compiled", "side_exits": "side exits",
                 "in_traces_pct": "share of instructions executed in traces", "compile_ms": "compile time"}
        heads = ["program", "arguments", "CPU (s)"] + [f[1] for f in present]
        has_share = any(st.get("compile_share") is not None for st in jit_stats.values())
        if has_share:
            heads.append("compile share")
        L.append("| " + " | ".join(heads) + " |")
        L.append("|---|---|" + "---:|" * (len(heads) - 2))
        for b in benches:
            st = jit_stats.get(b.name)
            if st is None:
                L.append("| %s | | %s |" % (b.name, " | ".join(["–"] * (len(heads) - 2))))
                continue
            row = [b.name, " ".join(st["args"]), fmt_secs(st.get("cpu"))]
            if st["status"] != "ok":
                row.append("**%s**: %s" % (st["status"].upper(), md_escape(st["detail"] or "")))
                row += [""] * (len(heads) - len(row))
            else:
                for key, _, _ in present:
                    v = st["stats"].get(key)
                    if v is None:
                        row.append("–")
                    elif key == "compile_ms":
                        row.append("%.2f ms" % v)
                    elif key == "in_traces_pct":
                        row.append("%.1f%%" % v)
                    else:
                        row.append("%d" % v)
                if has_share:
                    cs = st.get("compile_share")
                    row.append("–" if cs is None else "%.2f%%" % (100 * cs))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        missing = [asked[k] for k in asked if k not in [f[0] for f in present]]
        if missing and jit_stats:
            L.append("Not printed by `--jit-stats` (so not reported here): %s." % ", ".join(missing))
            L.append("")
    L.append("| target (issue 9) | measured | status |")
    L.append("|---|---|---|")
    for t in targets:
        L.append("| %s | %s | %s |" % (md_escape(t["target"]), md_escape(t["measured"]) or "–",
                                       "**%s**" % t["status"] if t["status"].startswith("not met") else t["status"]))
    L.append("")
    if opts.quick:
        L.append("*Quick mode*: at the small sizes start-up and warm-up dominate; these checks say "
                 "nothing about the targets.")
        L.append("")


def native_section(L, benches, geo, ratios, nativebuild):
    """The native executables' build table (compile time, size) and issue 14's targets."""
    L.append("### Native executables: builds and the targets of issue 14")
    L.append("")
    if nativebuild.builds:
        L.append("Wall time of `hashc --native --native-stats X.hash -o X` (compiling, linking, "
                 "verifying and writing the executable, one run), the executable's size, and the "
                 "functions compiled ahead of time of all the program's functions (its standard "
                 "library included; the others are interpreted, `--native-stats` says why).")
        L.append("")
        L.append("| program | build (ms) | size (bytes) | functions compiled |")
        L.append("|---|---:|---:|---:|")
        for b in benches:
            if b.name in nativebuild.builds:
                took, size = nativebuild.builds[b.name]
                c = nativebuild.compiled.get(b.name)
                L.append("| %s | %.1f | %d | %s |" % (b.name, 1e3 * took, size,
                                                      "%d / %d" % c if c else "–"))
            else:
                L.append("| %s | FAIL | – | – |" % b.name)
        L.append("")
    g = geo.get("hashvm-native", {}).get("ocamlopt", {})
    core = g.get("core")
    missing = len(BENCHES) - len(benches)
    if core is None:
        status, measured = "not measured", "no ocamlopt ratios in this run"
    else:
        status = ("met" if core <= 1.2 else "not met") + (" (partial)" if missing else "")
        measured = "%s over %d program%s%s%s" % (
            fmt_ratio(core), g["core_n"], "" if g["core_n"] == 1 else "s",
            "; above 2.0×: not resolvable" if core > 2.0 else "",
            "; not in this run: %d programs of the suite" % missing if missing else "")
    L.append("| target (issue 14) | measured | status |")
    L.append("|---|---|---|")
    L.append("| geomean CPU time ≤ 1.2× ocamlopt over the suite (not resolved above 2.0×) | %s | %s |"
             % (md_escape(measured), "**%s**" % status if status.startswith("not met") else status))
    L.append("")
    if core is not None and g.get("core_best") is not None:
        L.append("Medians of the runs above; from each side's fastest run (the runs alternate "
                 "between the systems, and noise on a shared machine only adds time) the geomean "
                 "is %s." % fmt_ratio(g["core_best"]))
    L.append("")


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Benchmark hashvm against Lua 5.4, LuaJIT and OCaml (see benches/README.md).")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (the oracle sizes) and 1 run unless --runs is given: a smoke test")
    p.add_argument("--runs", type=int, default=None, help="timed runs per program and system (default 3)")
    p.add_argument("--only", default=None,
                   help="comma-separated programs or groups (classic, bg, awfy) to run")
    p.add_argument("--systems", default=None,
                   help="comma-separated systems: hashvm (the interpreter), hashvm-jit, lua5.4, "
                        "luajit-joff, luajit, ocamlrun, ocamlopt")
    p.add_argument("--no-build", action="store_true",
                   help="do not run cargo; use the hashc and hashvm already in target/release")
    p.add_argument("--no-hashvm", action="store_true", help="leave hashvm out (peers only)")
    p.add_argument("--jit", action="store_true",
                   help="only the JIT column of hashvm (hashvm-jit), not the interpreter's; the same "
                        "as --systems without hashvm")
    p.add_argument("--native", action="store_true",
                   help="only the native column of hashvm (hashvm-native, the executables of "
                        "hashc --native); the same as --systems with hashvm-native and the peers")
    p.add_argument("--no-jit-stats", action="store_true",
                   help="skip the extra --jit-stats run per program (the JIT section stays empty)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the separate check pass at the small sizes (full runs only)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per run (default 300)")
    p.add_argument("--build-timeout", type=float, default=3600.0,
                   help="seconds allowed for the cargo build (default 3600)")
    p.add_argument("--results", default=None,
                   help="where to write the report (default benches/RESULTS.md for a full run, "
                        "target/bench/RESULTS.md when --quick, --only, --systems or --no-hashvm "
                        "narrow it)")
    p.add_argument("--svg", default=None,
                   help="where to write the chart (default ratios.svg beside the report)")
    p.add_argument("--json", default=None,
                   help="where to write the raw data (default target/bench/results-full.json for "
                        "a full run, target/bench/results.json for a narrowed one)")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when hashvm fails too, not only when a peer fails")
    p.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    return p.parse_args(argv)


SYSTEM_ALIASES = {"luajit-joff": "luajit -joff", "luajit_joff": "luajit -joff", "joff": "luajit -joff",
                  "hashvm_jit": "hashvm-jit", "hashvm-interp": "hashvm", "hashvm_native": "hashvm-native",
                  "native": "hashvm-native"}


def select_benches(only):
    if not only:
        return list(BENCHES)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = []
    for w in wanted:
        matches = [b for b in BENCHES if b.name == w or b.group == w] or \
            [b for b in BENCHES if b.name == "awfy_" + w]
        if not matches:
            sys.exit("run.py: unknown program or group %r (known: %s)"
                     % (w, ", ".join(b.name for b in BENCHES)))
        for m in matches:
            if m not in chosen:
                chosen.append(m)
    return [b for b in BENCHES if b in chosen]


def main(argv=None):
    global QUIET
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    QUIET = opts.quiet
    runs = opts.runs if opts.runs is not None else (1 if opts.quick else 3)
    if runs < 1:
        sys.exit("run.py: --runs must be at least 1")
    benches = select_benches(opts.only)
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    if not os.path.isabs(target_dir):
        target_dir = os.path.join(REPO, target_dir)
    build_dir = os.path.join(target_dir, "bench")
    os.makedirs(build_dir, exist_ok=True)
    scratch = os.path.join(build_dir, "scratch")
    os.makedirs(scratch, exist_ok=True)
    measure_floor(scratch)
    partial = opts.quick or opts.only or opts.systems or opts.no_hashvm or opts.jit or opts.native
    if opts.results is None:
        opts.results = os.path.join(build_dir if partial else BENCH_DIR, "RESULTS.md")
    # One run at a time: runs side by side would slow each other down and share build_dir.
    lock = open(os.path.join(build_dir, "run.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        progress("another run.py is running; waiting for it to finish")
        fcntl.flock(lock, fcntl.LOCK_EX)
    svg_path = opts.svg or os.path.join(os.path.dirname(os.path.abspath(opts.results)), "ratios.svg")
    json_path = opts.json or os.path.join(build_dir, "results.json" if partial else "results-full.json")
    started = datetime.datetime.now(datetime.timezone.utc)

    hashbuild = HashBuild(target_dir)
    # The native column: its own outputs (executables), from the same cargo build.
    nativebuild = HashBuild(target_dir, native=True)
    all_systems = [HashSystem(hashbuild, jit=False), HashSystem(hashbuild, jit=True),
                   HashSystem(nativebuild, jit=True), LuaSystem("lua5.4", "lua5.4", []),
                   LuaSystem("luajit -joff", "luajit", ["-joff"]),
                   LuaSystem("luajit", "luajit", []), OCamlSystem(native=False), OCamlSystem(native=True)]
    if opts.systems:
        names = [SYSTEM_ALIASES.get(s.strip(), s.strip()) for s in opts.systems.split(",") if s.strip()]
        unknown = [n for n in names if n not in [s.name for s in all_systems]]
        if unknown:
            sys.exit("run.py: unknown system(s) %s" % ", ".join(unknown))
        all_systems = [s for s in all_systems if s.name in names]
    if opts.no_hashvm:
        all_systems = [s for s in all_systems if not s.is_hashvm]
    if opts.jit:
        all_systems = [s for s in all_systems if s.name not in ("hashvm", "hashvm-native")]
    if opts.native:
        all_systems = [s for s in all_systems if s.name not in ("hashvm", "hashvm-jit")]
    hash_names = [s.name for s in all_systems if s.is_hashvm]

    machine = machine_info()
    progress("machine: %s, %s logical CPUs, %.1f GiB" % (
        machine["cpu"], machine["logical_cpus"], (machine["memory_bytes"] or 0) / 2 ** 30))
    if ORACLE_DIR is None:
        sys.exit("run.py: the Benchmarks Game oracles are missing: expected %s (the shared "
                 "folder beside the repository) or $HASH_ORACLES" % os.path.join(
                     os.path.dirname(REPO), "shared", "oracles", "benchmarksgame"))

    # Which systems can run at all.
    unavailable = {}
    if hash_names and not opts.no_build:
        hashbuild.build(os.path.join(build_dir, "cargo-build.log"), opts.build_timeout)
        nativebuild.build_error = hashbuild.build_error
    for s in all_systems:
        why = s.available()
        if why:
            unavailable[s.name] = why
            if s.is_hashvm:
                progress("%s unavailable: %s" % (s.name, why))
            else:
                progress("peer %s unavailable: %s; install with: %s" % (s.name, why, s.install))
    systems = [s for s in all_systems if s.name not in unavailable]
    versions = {s.name: s.version() for s in systems}

    # Compile.
    prep_error = {}    # (system, bench) -> message
    for b in benches:
        for s in systems:
            err = s.prepare(b, build_dir)
            if err:
                prep_error[(s.name, b.name)] = err
                progress("[%s] %s: %s" % (b.name, s.name, err))

    # Check pass at the small sizes (the oracle sizes), one run each.
    checks = {}        # (system, bench) -> dict(status, detail, source)

    def check_result(b, s, args, res, expected):
        if not res.ok():
            return {"status": "fail", "detail": res.failure()}
        if expected is None:
            return {"status": "ran", "detail": ""}
        exp, source = expected
        if res.digest == digest_of(exp):
            return {"status": "ok", "detail": source}
        return {"status": "mismatch", "detail": "%s: %s" % (source, first_difference(res.head, exp))}

    if not opts.quick and not opts.no_check:
        progress("check pass at the small sizes")
        for b in benches:
            expected = expected_output(b, b.quick)
            for s in systems:
                if (s.name, b.name) in prep_error:
                    continue
                res = run_measured(s.command(b, b.quick), scratch, opts.timeout)
                c = check_result(b, s, b.quick, res, expected)
                c["args"] = list(b.quick)
                c["digest"] = res.digest
                checks[(s.name, b.name)] = c
                progress("[%s %s] %s: %s %s" % (b.name, " ".join(b.quick), s.name, c["status"], c["detail"]))

    # Timed runs.
    timed = {}         # (system, bench) -> [RunResult]
    for b in benches:
        args = b.quick if opts.quick else b.standard
        for r in range(runs):
            for s in systems:
                if (s.name, b.name) in prep_error:
                    continue
                if checks.get((s.name, b.name), {}).get("status") == "fail":
                    continue      # it already failed at the small size: not run at the big one
                prev = timed.setdefault((s.name, b.name), [])
                if prev and not prev[-1].ok():
                    continue      # a failed program is not run again
                res = run_measured(s.command(b, args), scratch, opts.timeout)
                prev.append(res)
                status = "%.3f s CPU, %.1f MiB" % (res.cpu, res.maxrss_kb / 1024) if res.ok() else res.failure()
                progress("[%s %s] %s run %d/%d: %s" % (b.name, " ".join(args), s.name, r + 1, runs, status))

    # Per (system, bench) outcome of the timed runs, and agreement of the outputs.
    outcome = {}       # (system, bench) -> dict(status, detail, median, rss)
    for b in benches:
        args = b.quick if opts.quick else b.standard
        expected = expected_output(b, args)
        digests = {}
        for s in systems:
            key = (s.name, b.name)
            if key in prep_error:
                outcome[key] = {"status": "fail", "detail": prep_error[key]}
                continue
            rs = timed.get(key, [])
            bad = [r for r in rs if not r.ok()]
            if not rs and checks.get(key, {}).get("status") == "fail":
                outcome[key] = {"status": "fail", "detail": "not timed: failed at the small size: "
                                + (checks[key]["detail"] or "")}
                continue
            if not rs or bad:
                outcome[key] = {"status": "fail", "detail": (bad[0].failure() if bad else "not run")}
                continue
            ds = {r.digest for r in rs}
            o = {"median": statistics.median(r.cpu for r in rs), "best": min(r.cpu for r in rs),
                 "wall": statistics.median(r.wall for r in rs),
                 "rss_kb": max(r.maxrss_kb for r in rs), "runs": len(rs), "digest": rs[0].digest}
            if len(ds) > 1:
                o.update(status="mismatch", detail="output differs between runs")
            elif expected is not None:
                exp, source = expected
                if rs[0].digest == digest_of(exp):
                    o.update(status="ok", detail=source)
                else:
                    o.update(status="mismatch", detail="%s: %s" % (source, first_difference(rs[0].head, exp)))
            else:
                o.update(status="ran", detail="")
                digests[s.name] = rs[0].digest
            outcome[key] = o
        # With no expected output, the systems must agree with each other: the reference
        # is the output most peers printed (lua5.4's on a tie).
        if digests:
            peer_digests = [d for n, d in digests.items() if n not in HASH_SYSTEMS] or list(digests.values())
            counts = {}
            for d in peer_digests:
                counts[d] = counts.get(d, 0) + 1
            best = max(counts.values())
            ref = digests.get("lua5.4") if counts.get(digests.get("lua5.4")) == best else \
                [d for d, c in counts.items() if c == best][0]
            agree = sorted(n for n, d in digests.items() if d == ref)
            for n, d in digests.items():
                o = outcome[(n, b.name)]
                if d == ref:
                    o.update(status="ok", detail="agrees with %s" % ", ".join(x for x in agree if x != n)
                             if len(agree) > 1 else "no other system to compare with")
                else:
                    o.update(status="mismatch", detail="output differs from %s" % ", ".join(agree))

    # Ratios hashvm / peer, for each hashvm column, and JIT / interpreter.
    def good(sname, bname):
        o = outcome.get((sname, bname))
        return o and o["status"] == "ok" and o.get("median") is not None

    def ratio(a, b, bname):
        return max(outcome[(a, bname)]["median"], 1e-4) / max(outcome[(b, bname)]["median"], 1e-4)

    peer_names = [s.name for s in systems if not s.is_hashvm]
    run_hash = [s.name for s in systems if s.is_hashvm]
    ok_by = {h: [b.name for b in benches if good(h, b.name)] for h in run_hash}
    hash_ok = [b.name for b in benches if any(good(h, b.name) for h in run_hash)]
    ratios = {h: {p: {b.name: ratio(h, p, b.name) for b in benches if good(h, b.name) and good(p, b.name)}
                  for p in peer_names} for h in run_hash}
    geo = {h: {} for h in run_hash}
    for h in run_hash:
        for p in peer_names:
            r = ratios[h][p]
            core = [v for k, v in r.items() if k not in LIBRARY_BOUND]
            # The same ratios from each side's fastest run: on a shared machine noise only
            # ever adds time, so the fastest of the alternated runs is the steadier estimate
            # of a deterministic program's CPU time; the median stays the headline.
            best = [max(outcome[(h, k)]["best"], 1e-4) / max(outcome[(p, k)]["best"], 1e-4)
                    for k in r if k not in LIBRARY_BOUND]
            geo[h][p] = {"core": geomean(core), "core_n": len(core),
                         "all": geomean(list(r.values())), "all_n": len(r), "core_best": geomean(best)}
    # JIT / interpreter per program: below 1 the JIT is faster.
    jit_ratio = {}
    if "hashvm" in run_hash and "hashvm-jit" in run_hash:
        jit_ratio = {b.name: ratio("hashvm-jit", "hashvm", b.name) for b in benches
                     if good("hashvm", b.name) and good("hashvm-jit", b.name)}
    jit_geo = {"core": geomean([v for k, v in jit_ratio.items() if k not in LIBRARY_BOUND]),
               "core_n": len([k for k in jit_ratio if k not in LIBRARY_BOUND]),
               "all": geomean(list(jit_ratio.values())), "all_n": len(jit_ratio)}
    # The native executables against the other two hashvm columns: below 1 native is faster.
    native_vs = {}     # other hashvm column -> {"per": {bench: ratio}, "core", "core_n", "all", "all_n"}
    if "hashvm-native" in run_hash:
        for other in ("hashvm", "hashvm-jit"):
            if other not in run_hash:
                continue
            per = {b.name: ratio("hashvm-native", other, b.name) for b in benches
                   if good("hashvm-native", b.name) and good(other, b.name)}
            core = [v for k, v in per.items() if k not in LIBRARY_BOUND]
            native_vs[other] = {"per": per, "core": geomean(core), "core_n": len(core),
                                "all": geomean(list(per.values())), "all_n": len(per)}

    # The JIT's own numbers: one more run of each program with `--jit-stats`, at the size
    # of the timed runs, after them (so that it does not warm anything for them).
    jit_stats = {}     # bench -> dict (parsed --jit-stats, cpu, status, detail)
    if "hashvm-jit" in run_hash and not opts.no_jit_stats:
        for b in benches:
            if not good("hashvm-jit", b.name):
                continue
            args = b.quick if opts.quick else b.standard
            cmd = hashbuild.stats_command(b, args)
            res = run_measured(cmd, scratch, opts.timeout)
            st = {"args": list(args), "cpu": res.cpu}
            if not res.ok():
                st.update(status="fail", detail=res.failure())
            elif res.digest != outcome[("hashvm-jit", b.name)].get("digest"):
                st.update(status="mismatch", detail="output differs from the timed runs with --jit=on")
            else:
                parsed = parse_jit_stats(res.stderr_tail)
                if parsed is None:
                    st.update(status="fail", detail="no `jit:` line on standard error")
                else:
                    st.update(status="ok", detail="", stats=parsed)
                    if parsed.get("compile_ms") is not None and res.cpu:
                        st["compile_share"] = parsed["compile_ms"] / 1e3 / res.cpu
            jit_stats[b.name] = st
            progress("[%s %s] hashvm-jit --jit-stats: %s" % (
                b.name, " ".join(args), st["stats"]["line"] if st["status"] == "ok" else
                "%s: %s" % (st["status"], st["detail"])))

    # Peer-only fallback data for the chart: peer time relative to lua5.4.
    rel_lua = {p: {} for p in peer_names if p != "lua5.4"}
    for p in rel_lua:
        for b in benches:
            if good(p, b.name) and good("lua5.4", b.name):
                rel_lua[p][b.name] = max(outcome[(p, b.name)]["median"], 1e-4) / \
                    max(outcome[("lua5.4", b.name)]["median"], 1e-4)

    targets = jit_targets([b.name for b in benches], geo, ratios, jit_ratio, jit_stats) \
        if "hashvm-jit" in run_hash else []
    finished = datetime.datetime.now(datetime.timezone.utc)
    all_names = [s.name for s in all_systems]
    cmdline = "python3 benches/run.py" + ("" if argv is None and len(sys.argv) == 1 else
                                          " " + " ".join(sys.argv[1:] if argv is None else argv))

    # ---- the chart: for each peer, the interpreter's ratio (pale) and the JIT's (solid),
    # then the JIT against the interpreter.
    rows = [b.name for b in benches] + ["geomean"]
    if hash_ok and (peer_names or jit_ratio):
        opacity = hash_opacity(run_hash)
        series = []
        for p in peer_names:
            for h in run_hash:
                series.append(("%s / %s" % (h, p), dict(ratios[h][p], geomean=geo[h][p]["core"]),
                               PEER_COLORS.get(p, "#888"), opacity[h]))
        if jit_ratio:
            series.append(("hashvm-jit / hashvm", dict(jit_ratio, geomean=jit_geo["core"]),
                           PEER_COLORS["hashvm-jit"], 1.0))
        if "hashvm-jit" in native_vs:
            series.append(("hashvm-native / hashvm-jit", dict(native_vs["hashvm-jit"]["per"],
                                                              geomean=native_vs["hashvm-jit"]["core"]),
                           PEER_COLORS["hashvm-native"], 1.0))
        cols = " and ".join(run_hash)
        legend = None
        if len(run_hash) > 1:
            shade = {0.3: "palest", 0.4: "pale", 0.6: "pale", 1.0: "solid"}
            legend = [("%s: %s / peer" % (shade[opacity[h]], h), "#777", opacity[h]) for h in run_hash]
            legend += [(p, PEER_COLORS.get(p, "#888"), 1.0) for p in peer_names]
            if jit_ratio:
                legend.append(("hashvm-jit / hashvm", PEER_COLORS["hashvm-jit"], 1.0))
            if "hashvm-jit" in native_vs:
                legend.append(("hashvm-native / hashvm-jit", PEER_COLORS["hashvm-native"], 1.0))
        chart = svg_chart(rows, series,
                          "%s CPU time / peer CPU time" % cols,
                          "median of %d run%s%s; below 1× hashvm is faster, above 1× slower (log scale)%s"
                          % (runs, "s" if runs > 1 else "", ", quick sizes" if opts.quick else "",
                             "; " + ", ".join("%s bars: %s" % ({0.3: "palest", 0.4: "pale", 0.6: "pale", 1.0: "solid"}[o], h)
                                                for h, o in opacity.items()) if len(run_hash) > 1 else ""),
                          "hashvm / peer (geomean without %s)" % ", ".join(sorted(LIBRARY_BOUND)),
                          "no hashvm result", legend)
    else:
        series = [(p, dict(rel_lua[p], geomean=geomean(list(rel_lua[p].values())))) for p in rel_lua]
        why = [unavailable[h] for h in hash_names if h in unavailable]
        chart = svg_chart(rows, series,
                          "hashvm results pending: peers' CPU time / lua5.4's",
                          "no hashvm numbers yet (%s); the bars compare the peers with lua5.4"
                          % (why[0] if why else "every Hash program failed")[:90],
                          "peer / lua5.4", "no result")
    os.makedirs(os.path.dirname(os.path.abspath(svg_path)), exist_ok=True)
    with open(svg_path, "w") as f:
        f.write(chart)

    # ---- the report
    L = []
    L.append("# hashvm benchmarks: hashvm against Lua 5.4, LuaJIT and OCaml")
    L.append("")
    L.append("Written by `%s` on %s (%.0f s)."
             % (cmdline, started.strftime("%Y-%m-%d %H:%M UTC"), (finished - started).total_seconds()))
    L.append("")
    if not hash_names:
        L.append("**hashvm was left out of this run** (`--no-hashvm` or `--systems`): "
                 "the tables hold peer numbers only.")
    elif not run_hash:
        why = "; ".join(sorted({unavailable[h] for h in hash_names}))
        L.append("**hashvm results pending: hashvm could not be run.** %s. "
                 "The peers were run anyway; the tables below hold peer numbers only, "
                 "and the ratio columns stay empty until hashvm runs."
                 % md_escape(why))
    elif not hash_ok:
        reasons = sorted({outcome[(h, b.name)]["detail"] for h in run_hash for b in benches
                          if (h, b.name) in outcome})
        common = (" Every program failed the same way: %s." % md_escape(reasons[0])
                  if len(reasons) == 1 else "")
        L.append("**hashvm results pending: no Hash program ran correctly** (see *Failures*).%s "
                 "The peers were run anyway; the tables below hold peer numbers only, and the "
                 "ratio columns stay empty until hashvm runs." % common)
    else:
        parts = []
        for h in run_hash:
            failed = [b.name for b in benches if b.name not in ok_by[h]]
            parts.append("%s ran %d of %d programs correctly%s"
                         % (h, len(ok_by[h]), len(benches),
                            (" (failed or wrong output: %s, see *Failures*)" % ", ".join(failed))
                            if failed else ""))
        L.append("; ".join(parts) + ".")
    if opts.quick:
        L.append("")
        L.append("*Quick mode*: the small check sizes, where start-up time dominates; "
                 "these numbers say little about speed.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("- CPU: %s; %s logical CPUs (%s usable by this process)"
             % (machine["cpu"], machine["logical_cpus"], machine["usable_cpus"]))
    if machine["memory_bytes"]:
        L.append("- Memory: %.1f GiB" % (machine["memory_bytes"] / 2 ** 30))
    L.append("- OS: %s; Python %s%s" % (machine["os"], machine["python"],
                                        ("; " + machine["rustc"]) if machine["rustc"] else ""))
    for s in all_systems:
        if s.name in unavailable:
            L.append("- %s: **not available**: %s%s" % (
                s.name, md_escape(unavailable[s.name]),
                "" if s.is_hashvm else " (install with `%s`)" % s.install))
        else:
            L.append("- %s: %s" % (s.name, versions.get(s.name) or "?"))
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("Each program is run %d time%s per system at the sizes below%s; the time is the child's "
             "user + system CPU time (from `wait4`), the median of the runs; memory is the largest "
             "peak resident set size of the runs. A system's entry counts only when all its runs "
             "exited with status 0 and printed the expected output: the Benchmarks Game oracle, the "
             "Are We Fast Yet? verification or a known value where there is one, otherwise the "
             "output the peers agree on. %s; lua5.4 and luajit run `peers/X.lua`, `luajit -joff` with its "
             "JIT compiler off; ocamlrun runs the bytecode of `ocamlc`, ocamlopt is native code "
             "(default flags). Ratios are hashvm's time divided by the peer's (below 1 hashvm is "
             "faster). %s"
             % (runs, "s" if runs > 1 else "", " (quick mode)" if opts.quick else "",
                hash_method(hash_names),
                "Before the timed runs every system ran every program once at the small size "
                "(the oracle size) to check it (*Checks at the small sizes*)."
                if checks else ""))
    L.append("")
    L.append("## Summary: geometric mean of hashvm / peer")
    L.append("")
    if hash_ok:
        L.append("| hashvm column | peer | geomean (without %s) | programs | geomean (all) | programs |"
                 % ", ".join(sorted(LIBRARY_BOUND)))
        L.append("|---|---|---:|---:|---:|---:|")
        for h in run_hash:
            for p in peer_names:
                g = geo[h][p]
                L.append("| %s | %s | %s | %d | %s | %d |" % (h, p, fmt_ratio(g["core"]), g["core_n"],
                                                              fmt_ratio(g["all"]), g["all_n"]))
        if jit_ratio:
            L.append("| hashvm-jit | hashvm (JIT / interpreter) | %s | %d | %s | %d |"
                     % (fmt_ratio(jit_geo["core"]), jit_geo["core_n"], fmt_ratio(jit_geo["all"]),
                        jit_geo["all_n"]))
        for other, g in native_vs.items():
            L.append("| hashvm-native | %s (native / %s) | %s | %d | %s | %d |"
                     % (other, "interpreter" if other == "hashvm" else "JIT", fmt_ratio(g["core"]),
                        g["core_n"], fmt_ratio(g["all"]), g["all_n"]))
        L.append("")
        L.append("pidigits is left out of the first mean: hashvm does its arithmetic in GMP "
                 "(`ibig`), the peers in a bignum written in Lua or OCaml.")
    else:
        L.append("Pending: no hashvm results yet.")
    L.append("")
    L.append("![hashvm / peer CPU time ratios](%s)" % os.path.relpath(
        svg_path, os.path.dirname(os.path.abspath(opts.results))))
    L.append("")

    def cell_time(sname, bname):
        if sname in unavailable:
            return "n/a"
        o = outcome.get((sname, bname))
        if not o:
            return "–"
        if o["status"] == "fail":
            return "FAIL (compile)" if (sname, bname) in prep_error else "FAIL"
        t = fmt_secs(o["median"])
        return t if o["status"] == "ok" else t + " (wrong output)"

    L.append("## CPU time (median seconds)")
    L.append("")
    L.append("| program | arguments | " + " | ".join(all_names) + " |")
    L.append("|---|---|" + "---:|" * len(all_names))
    for b in benches:
        args = b.quick if opts.quick else b.standard
        L.append("| %s | %s | %s |" % (b.name, " ".join(args),
                                        " | ".join(cell_time(n, b.name) for n in all_names)))
    L.append("")
    # One ratio table per hashvm column (the JIT's with JIT / interpreter as a last column):
    # one table with both would be too wide to read.
    if not hash_ok:
        L.append("## Ratio hashvm / peer")
        L.append("")
        L.append("Pending: no hashvm results yet.")
        L.append("")
    for h in run_hash if hash_ok else []:
        # Extra columns: the JIT against the interpreter, the native executables against both.
        extra = []
        if h == "hashvm-jit" and jit_ratio:
            extra.append(("JIT / interpreter", jit_ratio, jit_geo["core"]))
        if h == "hashvm-native":
            for other, g in native_vs.items():
                extra.append(("native / %s" % ("interpreter" if other == "hashvm" else "JIT"), g["per"], g["core"]))
        L.append("## Ratio %s / peer%s" % (h, {"hashvm": " (the interpreter)", "hashvm-jit": " (the JIT)",
                                                "hashvm-native": " (native executables)"}[h]))
        L.append("")
        heads = list(peer_names) + [e[0] for e in extra]
        L.append("| program | " + " | ".join(heads) + " |")
        L.append("|---|" + "---:|" * len(heads))
        for b in benches:
            cells = [fmt_ratio(ratios[h][p].get(b.name)) for p in peer_names]
            cells += [fmt_ratio(e[1].get(b.name)) for e in extra]
            L.append("| %s | %s |" % (b.name, " | ".join(cells)))
        cells = [fmt_ratio(geo[h][p]["core"]) for p in peer_names] + [fmt_ratio(e[2]) for e in extra]
        L.append("| **geomean** (without %s) | %s |" % (", ".join(sorted(LIBRARY_BOUND)), " | ".join(cells)))
        if extra:
            L.append("")
            L.append("; ".join("*%s*: %s's time divided by %s's (below 1 %s is faster)"
                               % (e[0], h, {"JIT / interpreter": "hashvm", "native / interpreter": "hashvm",
                                            "native / JIT": "hashvm-jit"}[e[0]], h) for e in extra) + ".")
        L.append("")
        if h == "hashvm-native":
            native_section(L, benches, geo, ratios, nativebuild)
    jit_section(L, benches, opts, jit_stats, targets,
                None if "hashvm-jit" in run_hash else
                "hashvm-jit could not be run: " + unavailable["hashvm-jit"] if "hashvm-jit" in unavailable else
                "hashvm-jit was left out of this run (`--systems`, `--no-hashvm`)")
    L.append("## Peak memory (MiB, largest resident set of the runs)")
    L.append("")
    if GNU_TIME:
        L.append("Measured by GNU time (`%s -f %%M`), which runs each program as its own child." % GNU_TIME)
    else:
        L.append("GNU time was not found (`apt-get install time`), so these are the peak RSS that "
                 "`wait4` reports, which Linux never puts below the launcher's own peak: %s MiB "
                 "here (what `true` reports). Values at that floor mean \"at most that much\"."
                 % ("%.1f" % (RSS_FLOOR_KB / 1024) if RSS_FLOOR_KB else "?"))
    L.append("")
    L.append("| program | " + " | ".join(all_names) + " |")
    L.append("|---|" + "---:|" * len(all_names))
    for b in benches:
        cells = []
        for n in all_names:
            o = outcome.get((n, b.name))
            if n in unavailable:
                cells.append("n/a")
            elif not o or o.get("rss_kb") is None:
                cells.append("–")
            else:
                cells.append("%.1f" % (o["rss_kb"] / 1024))
        L.append("| %s | %s |" % (b.name, " | ".join(cells)))
    L.append("")
    L.append("## Output checks of the timed runs")
    L.append("")
    L.append("*ok*: the output is the expected one (column *expected* says where that comes "
             "from); *agrees*: no expected output is known at this size, and the output is the one "
             "the peers agree on; *FAIL*: compile error, run-time error, non-zero status or time-out; "
             "*MISMATCH*: wrong output (details under *Failures*).")
    L.append("")
    L.append("| program | expected | " + " | ".join(all_names) + " |")
    L.append("|---|---|" + "---|" * len(all_names))
    for b in benches:
        args = b.quick if opts.quick else b.standard
        e = expected_output(b, args)
        cells = []
        for n in all_names:
            o = outcome.get((n, b.name))
            if n in unavailable:
                cells.append("n/a")
            elif not o:
                cells.append("–")
            elif o["status"] == "ok":
                cells.append("ok" if e else "agrees")
            else:
                cells.append("**%s**" % o["status"].upper())
        L.append("| %s | %s | %s |" % (b.name, e[1] if e else "peers agree", " | ".join(cells)))
    L.append("")
    if checks:
        L.append("## Checks at the small sizes")
        L.append("")
        L.append("| program | arguments | expected | " + " | ".join(all_names) + " |")
        L.append("|---|---|---|" + "---|" * len(all_names))
        for b in benches:
            e = expected_output(b, b.quick)
            cells = []
            for n in all_names:
                c = checks.get((n, b.name))
                if n in unavailable:
                    cells.append("n/a")
                elif (n, b.name) in prep_error:
                    cells.append("**FAIL**")
                elif not c:
                    cells.append("–")
                elif c["status"] in ("ok", "ran"):
                    cells.append(c["status"])
                else:
                    cells.append("**%s**" % c["status"].upper())
            L.append("| %s | %s | %s | %s |" % (b.name, " ".join(b.quick), e[1] if e else "–",
                                                 " | ".join(cells)))
        L.append("")
    # Failures.
    fails = []
    for b in benches:
        for n in all_names:
            if n in unavailable:
                continue
            o = outcome.get((n, b.name))
            if o and o["status"] not in ("ok",):
                fails.append("- %s, %s (timed runs): %s: %s" % (b.name, n, o["status"], md_escape(o["detail"] or "")))
            c = checks.get((n, b.name))
            if c and c["status"] not in ("ok", "ran"):
                fails.append("- %s, %s (check at %s): %s: %s" % (b.name, n, " ".join(c["args"]), c["status"],
                                                                   md_escape(c["detail"] or "")))
    for bname, st in jit_stats.items():
        if st["status"] != "ok":
            fails.append("- %s, hashvm-jit (--jit-stats run): %s: %s" % (bname, st["status"],
                                                                       md_escape(st["detail"] or "")))
    L.append("## Failures")
    L.append("")
    if unavailable:
        for n, why in unavailable.items():
            L.append("- %s not available: %s" % (n, md_escape(why)))
    L.extend(fails if fails else ([] if unavailable else ["None."]))
    L.append("")
    L.append("## Programs and sizes")
    L.append("")
    L.append("| program | suite | arguments mean | standard | quick / check | note |")
    L.append("|---|---|---|---|---|---|")
    for b in benches:
        suite = {"classic": "classic", "bg": "Benchmarks Game", "awfy": "Are We Fast Yet?"}[b.group]
        L.append("| %s | %s | %s | %s | %s | %s |" % (b.name, suite, b.size_doc, " ".join(b.standard),
                                                       " ".join(b.quick), b.note))
    L.append("")
    L.append("Raw data: `%s`." % os.path.relpath(json_path, REPO))
    L.append("")
    # Hand-written performance notes (what was slow and what fixed it) travel with
    # every report.
    notes = os.path.join(BENCH_DIR, "NOTES.md")
    if os.path.exists(notes):
        with open(notes) as nf:
            L.append(nf.read().rstrip("\n"))
        L.append("")
    os.makedirs(os.path.dirname(os.path.abspath(opts.results)), exist_ok=True)
    with open(opts.results, "w") as f:
        f.write("\n".join(L))

    raw = {
        "started": started.isoformat(), "finished": finished.isoformat(), "command": cmdline,
        "machine": machine, "runs": runs, "quick": opts.quick, "versions": versions,
        "unavailable": unavailable,
        "programs": {b.name: {"args": b.quick if opts.quick else b.standard} for b in benches},
        "outcome": {"%s|%s" % k: v for k, v in outcome.items()},
        "checks": {"%s|%s" % k: v for k, v in checks.items()},
        "timed": {"%s|%s" % k: [r.as_dict() for r in v] for k, v in timed.items()},
        "ratios": ratios, "geomean": geo, "jit_over_interpreter": jit_ratio,
        "jit_over_interpreter_geomean": jit_geo, "jit_stats": jit_stats, "targets": targets,
        "native_over": native_vs,
        "native_builds": {n: {"seconds": t, "bytes": sz, "compiled": nativebuild.compiled.get(n)}
                          for n, (t, sz) in nativebuild.builds.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(raw, f, indent=1)

    progress("wrote %s, %s and %s" % (os.path.relpath(opts.results), os.path.relpath(svg_path),
                                      os.path.relpath(json_path)))
    peer_fail = any(o["status"] != "ok" for (n, _), o in outcome.items() if n not in HASH_SYSTEMS) or \
        any(c["status"] not in ("ok", "ran") for (n, _), c in checks.items() if n not in HASH_SYSTEMS)
    hash_fail = bool(hash_names) and (
        any(h in unavailable for h in hash_names) or
        any(o["status"] != "ok" for (n, _), o in outcome.items() if n in HASH_SYSTEMS) or
        any(st["status"] != "ok" for st in jit_stats.values()))
    if peer_fail:
        progress("some peer failed its checks: see %s" % os.path.relpath(opts.results))
        return 1
    if hash_fail:
        progress("hashvm failed or is pending: see %s" % os.path.relpath(opts.results))
        return 1 if opts.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
