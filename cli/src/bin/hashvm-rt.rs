//! `hashvm-rt`: the runtime of native executables (SPEC.md §11). `hashc --native` and
//! `hashld --native` copy this binary's loadable image and attach the linked program
//! after it; at start the copy finds the program through the trailer at the end of
//! `/proc/self/exe`, maps it, checks and verifies it, and runs it exactly as `hashvm
//! run` runs a `.hbc` file. Its command line belongs to the program: the runtime's
//! settings come from the environment (`HASHVM_HEAP_LIMIT`, `HASHVM_STACK_LIMIT`,
//! `HASHVM_JIT`, `HASHVM_JIT_HOT`, `HASHVM_JIT_STATS`, `HASHVM_JIT_DUMP`, `HASHVM_GC_STRESS`,
//! `HASHVM_AOT`).
//! The machine code compiled ahead of time (the `TEXT` section) is mapped executable
//! straight from the file and entered when its functions are called; `HASHVM_AOT=off`
//! interprets the bytecode instead (for differential testing), `HASHVM_AOT_STATS=1`
//! prints how often the code was entered and left early.

use hashvm_cli::native;
use hashvm_cli::{ewrite, parse_size, program_arg, report, EXIT_ERROR, EXIT_USAGE};
use hashvm_vm::{run_program, Config, Outcome, Vm};
use std::os::unix::fs::FileExt;

/// The identity the tools look for in a runtime before copying it (see
/// `native::runtime_mark`, which must equal it: a test checks).
static RUNTIME_MARK: [u8; 29] = *b"\0hashvm-rt payload 3 hbc 1.0\0";

fn main() {
    // The mark must stay in the binary: read it once so the linker keeps it.
    std::hint::black_box(&RUNTIME_MARK);
    std::process::exit(run());
}

/// How the runtime calls itself in messages: the name it was started by.
fn me() -> String {
    std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| native::RT_NAME.into())
}

fn run() -> i32 {
    let (module, allow_ffi, code) = match load() {
        Ok(m) => m,
        Err((msg, code)) => {
            report(&msg);
            return code;
        }
    };
    // The program was verified when it was built; it is verified again here because
    // the file may have been edited since, and the verifier is the safety boundary.
    let verified = match hashvm_format::verify::verify(&module) {
        Ok(v) => v,
        Err(e) => {
            report(&format!(
                "{}: the attached program fails verification: {e}",
                me()
            ));
            return EXIT_ERROR;
        }
    };
    let (config, jit_off, jit_stats, jit_dump) = match config() {
        Ok((c, off, stats, dump)) => (Config { allow_ffi, ..c }, off, stats, dump),
        Err(e) => {
            report(&e);
            return EXIT_USAGE;
        }
    };
    let aot_on = match std::env::var("HASHVM_AOT").as_deref() {
        Err(_) | Ok("on") => true,
        Ok("off") => false,
        Ok(v) => {
            report(&format!("HASHVM_AOT={v}: takes on or off"));
            return EXIT_USAGE;
        }
    };
    let names: Vec<String> = module.functions.iter().map(|f| f.name.clone()).collect();
    let mut vm = Vm::new(config);
    vm.set_args(std::env::args_os().skip(1).map(program_arg).collect());
    let (inner, jstats) = if jit_off {
        (None, None)
    } else {
        // The program is closed: its field kinds hold for every run (SPEC.md §11.6),
        // and its types' field counts are the verified module's.
        let fields = code.as_ref().map(|c| c.2.clone().with_min_fields(&module));
        hashvm_cli::new_jit(&mut vm, false, jit_dump, jit_stats, fields)
    };
    let mut stats = None;
    match code {
        #[cfg(target_arch = "x86_64")]
        Some((text, entries, _)) if aot_on => {
            // SAFETY: `load` checked that the code section was compiled from exactly
            // this program (its binding hash covers the program, the code and the
            // entries) and mapped it executable; the program was verified above.
            let hook = unsafe {
                hashvm_jit::aot::hook::AotHook::new(
                    Box::new(text),
                    entries,
                    module.functions.len(),
                    inner,
                )
            };
            match hook {
                Ok(h) => {
                    stats = Some(h.stats.clone());
                    vm.set_jit(Some(Box::new(h)));
                }
                Err(e) => {
                    report(&format!("{}: the attached program is damaged: {e}", me()));
                    return EXIT_ERROR;
                }
            }
        }
        _ => vm.set_jit(inner),
    }
    let outcome = run_program(&mut vm, verified);
    if jit_stats {
        ewrite(&hashvm_cli::jit_stats_line(&jstats, &vm));
    }
    let r = match outcome {
        Outcome::Exit(c) => c,
        Outcome::Error(e) => {
            ewrite(&e.to_string());
            EXIT_ERROR
        }
    };
    if let (Some(s), Some(_)) = (stats, std::env::var_os("HASHVM_AOT_STATS")) {
        let name = |f: u32| names.get(f as usize).cloned().unwrap_or_default();
        ewrite(&s.borrow().report(10, &name));
    }
    r
}

/// The mapped machine code, its entry points and the program's field kinds.
type Code = (
    memmap2::Mmap,
    Vec<hashvm_jit::aot::Entry>,
    hashvm_jit::kinds::FieldKinds,
);

/// Finds, maps, checks and decodes the attached program. Errors carry their exit
/// status: 2 for a runtime started with no program (a usage error), 1 otherwise.
/// Also whether the program may make foreign calls (the build's `--allow-ffi`).
fn load() -> Result<(hashvm_format::Module, bool, Option<Code>), (String, i32)> {
    const SELF: &str = "/proc/self/exe";
    let fail = |m: String| (m, EXIT_ERROR);
    let file = std::fs::File::open(SELF).map_err(|e| {
        fail(format!(
            "{}: cannot open {SELF} to read the program: {e}",
            me()
        ))
    })?;
    let len = file
        .metadata()
        .map_err(|e| fail(format!("{}: {SELF}: {e}", me())))?
        .len();
    let mut trailer = [0u8; native::TRAILER_SIZE];
    let located = if len >= native::TRAILER_SIZE as u64 {
        file.read_exact_at(&mut trailer, len - native::TRAILER_SIZE as u64)
            .map_err(|e| fail(format!("{}: {SELF}: {e}", me())))?;
        native::locate(len, &trailer)
            .map_err(|e| fail(format!("{}: the attached program is damaged: {e}", me())))?
    } else {
        None
    };
    let Some((off, plen, sum)) = located else {
        return Err((
            format!(
                "{}: no program is attached: {} is the runtime that `hashc --native` and \
                 `hashld --native` copy into native executables; to run a .hbc or .hash \
                 file, use `hashvm run`",
                me(),
                native::RT_NAME
            ),
            EXIT_USAGE,
        ));
    };
    let plen = usize::try_from(plen)
        .map_err(|_| fail(format!("{}: the attached program is too large", me())))?;
    // SAFETY: the mapping is of this process's own executable, read-only. Linux refuses
    // to open a running executable for writing (ETXTBSY), so its bytes cannot change
    // under the mapping; even if they did, they are only read as data and every read
    // below is bounds-checked (the checksum, the section table, the `.hbc` reader) and
    // the program is verified before it runs.
    let map = unsafe { memmap2::MmapOptions::new().offset(off).len(plen).map(&file) }
        .map_err(|e| fail(format!("{}: cannot map the attached program: {e}", me())))?;
    let damaged = |e: String| fail(format!("{}: the attached program is damaged: {e}", me()));
    let sections = native::sections(&map, sum).map_err(damaged)?;
    let (flags, hbc) = sections
        .iter()
        .find(|(k, _, _)| *k == native::SECTION_HBC)
        .map(|(_, f, b)| (*f, *b))
        .ok_or_else(|| damaged("it has no HBC section".into()))?;
    let module = hashvm_format::read(hbc).map_err(|e| damaged(e.to_string()))?;
    let find = |kind: [u8; 4]| sections.iter().find(|(k, _, _)| *k == kind).map(|s| s.2);
    let code = match (find(native::SECTION_AOT), find(native::SECTION_TEXT)) {
        (None, None) => None,
        (Some(aot), Some(text)) => {
            let (entries, kinds) =
                native::read_aot(aot, hbc, text, module.functions.len()).map_err(damaged)?;
            // The section's place in the file: sections start on page boundaries.
            let at = off + (text.as_ptr() as usize - map.as_ptr() as usize) as u64;
            // SAFETY: as the mapping above: this process's own executable, which
            // cannot be written while it runs. The bytes were just checked to be the
            // code compiled from the program (the binding hash); mapping them
            // executable is what running them requires.
            let exec = unsafe {
                memmap2::MmapOptions::new()
                    .offset(at)
                    .len(text.len())
                    .map_exec(&file)
            }
            .map_err(|e| fail(format!("{}: cannot map the machine code: {e}", me())))?;
            if exec[..] != text[..] {
                return Err(damaged("its machine code changed while it was read".into()));
            }
            Some((exec, entries, kinds))
        }
        _ => return Err(damaged("it has only half of a code section".into())),
    };
    Ok((module, flags & native::HBC_ALLOW_FFI != 0, code))
}

/// The VM's configuration from the environment, and whether the JIT is off. The
/// program's own arguments are its own, so the runtime's options are variables.
fn config() -> Result<(Config, bool, bool, bool), String> {
    let mut c = Config::default();
    let var = |name: &str| -> Result<Option<String>, String> {
        match std::env::var_os(name) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .map_err(|_| format!("{name}: the value is not text")),
        }
    };
    if let Some(v) = var("HASHVM_HEAP_LIMIT")? {
        c.heap_limit = parse_size(&v)
            .ok_or_else(|| format!("HASHVM_HEAP_LIMIT={v}: needs a size such as 512M"))?;
    }
    if let Some(v) = var("HASHVM_STACK_LIMIT")? {
        c.max_frames = v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("HASHVM_STACK_LIMIT={v}: needs a positive number of frames"))?;
    }
    if let Some(v) = var("HASHVM_JIT_HOT")? {
        c.jit_hot = v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("HASHVM_JIT_HOT={v}: needs a number from 1 to 65535"))?;
    }
    let jit_off = match var("HASHVM_JIT")?.as_deref() {
        None | Some("on") => false,
        Some("off") => true,
        Some(v) => return Err(format!("HASHVM_JIT={v}: takes on or off")),
    };
    let jit_stats = match var("HASHVM_JIT_STATS")?.as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(v) => return Err(format!("HASHVM_JIT_STATS={v}: takes 1 or 0")),
    };
    let jit_dump = match var("HASHVM_JIT_DUMP")?.as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(v) => return Err(format!("HASHVM_JIT_DUMP={v}: takes 1 or 0")),
    };
    Ok((c, jit_off, jit_stats, jit_dump))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mark_is_the_one_the_tools_look_for() {
        assert_eq!(
            super::RUNTIME_MARK.as_slice(),
            hashvm_cli::native::runtime_mark()
        );
    }
}
