//! Native executables (SPEC.md §11): the file layout shared by the tools that write them
//! (`hashc --native`, `hashld --native`) and the runtime that runs them (`hashvm-rt`).
//!
//! A native executable is the runtime's ELF image, cut to the part the kernel loads
//! (no section headers, symbols or debug information), then, at the next page
//! boundary, a *payload* holding the program, then a 32-byte trailer that says where
//! the payload is. The kernel never looks past the loaded segments, so the payload is
//! inert data to it; the runtime finds it through the trailer at the end of
//! `/proc/self/exe` and maps it with `memmap2`. Everything here is plain bytes, parsed
//! with bounds checks: a truncated or edited file gives an error, never a panic.

use std::path::{Path, PathBuf};

/// The last 8 bytes of a native executable.
pub const TRAILER_MAGIC: [u8; 8] = *b"HVMNATV1";
/// The trailer: payload offset, payload length, checksum of the payload (u64 each,
/// little-endian), then [`TRAILER_MAGIC`].
pub const TRAILER_SIZE: usize = 32;
/// The first 8 bytes of the payload.
pub const PAYLOAD_MAGIC: [u8; 8] = *b"\x7fHVMPAY\n";
/// The version of the payload layout; a runtime refuses any other.
pub const PAYLOAD_VERSION: u32 = 3;
/// Payload header: magic, version (u32), section count (u32).
pub const PAYLOAD_HEADER_SIZE: usize = 16;
/// One section-table entry: kind (4 bytes), flags (u32), offset from the payload start
/// (u64), size (u64).
pub const SECTION_ENTRY_SIZE: usize = 24;
/// The payload and each of its sections start on a boundary of this many bytes, so a
/// section can be mapped on its own (a future machine-code section, executable).
pub const PAGE: u64 = 4096;
/// The section holding the linked, verified program as a `.hbc` file (SPEC.md §2).
pub const SECTION_HBC: [u8; 4] = *b"HBC ";
/// A flag of the `HBC ` section: the program may call the foreign functions it declares
/// (it was built with `--allow-ffi`; SPEC.md §11.2). The builder of the executable gave
/// the consent `hashvm run --allow-ffi` asks for, so the runtime does not ask again.
pub const HBC_ALLOW_FFI: u32 = 1;
/// The section holding the machine code compiled ahead of time (position independent;
/// the runtime maps it read+execute on its own pages). SPEC.md §11.6.
pub const SECTION_TEXT: [u8; 4] = *b"TEXT";
/// The section describing `TEXT`: its binding to the program and its entry points.
pub const SECTION_AOT: [u8; 4] = *b"AOTM";
/// The first 8 bytes of the `AOTM` section; its digit is the section's version (2 since
/// the field kinds' codes of arrays of a known elements kind, which an earlier runtime
/// would read as damaged).
pub const AOT_MAGIC: [u8; 8] = *b"HVMAOT2\0";
/// `AOTM` header: magic, binding hash (u64), function count (u32), entry count (u32).
pub const AOT_HEADER_SIZE: usize = 24;
/// One `AOTM` entry: function (u32), bytecode offset (u32), code offset (u32).
pub const AOT_ENTRY_SIZE: usize = 12;
/// A payload section: its kind, its flags and its bytes.
pub type Section<'a> = ([u8; 4], u32, &'a [u8]);

/// Most sections a payload may have (a bound for the reader).
pub const MAX_SECTIONS: u32 = 64;

/// The environment variable naming the runtime to copy, overriding the one beside the
/// tool.
pub const RT_ENV: &str = "HASHVM_RT";
/// The runtime binary's file name.
pub const RT_NAME: &str = "hashvm-rt";

/// The identity the runtime binary carries (`hashvm-rt` holds it in a static), so a
/// tool can tell a runtime from any other file and refuse one that reads another
/// payload version. Built at run time from pieces so that the tools' own binaries never
/// contain it (pointing `HASHVM_RT` at `hashc` must fail).
pub fn runtime_mark() -> Vec<u8> {
    let mut m = b"\0hashvm-".to_vec();
    m.extend_from_slice(b"rt payload ");
    m.extend_from_slice(PAYLOAD_VERSION.to_string().as_bytes());
    m.extend_from_slice(b" hbc ");
    m.extend_from_slice(
        format!(
            "{}.{}",
            hashvm_format::binary::VERSION_MAJOR,
            hashvm_format::binary::VERSION_MINOR
        )
        .as_bytes(),
    );
    m.push(0);
    m
}

/// The payload checksum, 64 bits: FxHash's step (rotate, xor, multiply by an odd
/// constant) over little-endian words, eight bytes at a time, after the length. It
/// catches a truncated or damaged file with a clear message (every step is a bijection
/// of the running hash, so one changed word always changes the result); it is no
/// defence against a deliberate edit (whoever can edit the payload can edit the
/// runtime's own code), which is why the runtime also verifies the program before
/// running it (SPEC.md §11.3). Byte-wise FNV-1a, used before, cost about five
/// instructions a byte: with the binding hash, a million instructions at every start
/// of a small program (fib's 0.3 ms of a 65 ms run).
pub fn checksum(bytes: &[u8]) -> u64 {
    checksum_parts(&[bytes])
}

const MIX: u64 = 0x517c_c1b7_2722_0a95;

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(MIX)
}

/// The checksum over several byte strings in turn, each preceded by its length so
/// that moving bytes from one part to another changes the result (a last partial
/// word is padded with zeros).
pub fn checksum_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        h = mix(h, p.len() as u64);
        let mut words = p.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = mix(h, u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            h = mix(h, u64::from_le_bytes(b));
        }
    }
    h
}

/// The binding hash of an `AOTM` section: over the program (`HBC ` bytes), the code,
/// the entry table and the field kinds, so code and facts serve only the program they
/// were compiled from.
pub fn aot_binding(hbc: &[u8], text: &[u8], entries: &[u8], kinds: &[u8]) -> u64 {
    checksum_parts(&[hbc, text, entries, kinds])
}

/// The `AOTM` section for `image` compiled from the program whose `.hbc` bytes are
/// `hbc`.
pub fn aot_section(hbc: &[u8], image: &hashvm_jit::aot::Image, nfuncs: usize) -> Vec<u8> {
    let mut ents = Vec::new();
    for e in &image.entries {
        ents.extend_from_slice(&e.func.to_le_bytes());
        ents.extend_from_slice(&e.ip.to_le_bytes());
        ents.extend_from_slice(&e.offset.to_le_bytes());
    }
    let kinds = image.fields.encode();
    let mut out = AOT_MAGIC.to_vec();
    out.extend_from_slice(&aot_binding(hbc, &image.text, &ents, &kinds).to_le_bytes());
    out.extend_from_slice(&(nfuncs as u32).to_le_bytes());
    out.extend_from_slice(&(image.entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&ents);
    out.extend_from_slice(&kinds);
    out
}

/// Reads an `AOTM` section and checks it against the program and the code: the entry
/// table and the program's field kinds, if the section was made for exactly these
/// `hbc` and `text` bytes and a program of `nfuncs` functions, and every entry lies
/// inside both.
pub fn read_aot(
    aot: &[u8],
    hbc: &[u8],
    text: &[u8],
    nfuncs: usize,
) -> Result<(Vec<hashvm_jit::aot::Entry>, hashvm_jit::kinds::FieldKinds), String> {
    let bad = || "its code section table (AOTM) is damaged".to_string();
    if aot.get(..8) != Some(&AOT_MAGIC[..]) {
        return Err(bad());
    }
    let bind = u64_at(aot, 8).ok_or_else(bad)?;
    let n = u32_at(aot, 16).ok_or_else(bad)? as usize;
    let count = u32_at(aot, 20).ok_or_else(bad)? as usize;
    let ents = count
        .checked_mul(AOT_ENTRY_SIZE)
        .and_then(|len| aot.get(AOT_HEADER_SIZE..AOT_HEADER_SIZE.checked_add(len)?))
        .ok_or_else(bad)?;
    let kinds_at = AOT_HEADER_SIZE + ents.len();
    let kinds = hashvm_jit::kinds::FieldKinds::decode(&aot[kinds_at..]).ok_or_else(bad)?;
    if aot_binding(hbc, text, ents, &aot[kinds_at..]) != bind {
        return Err(
            "its machine code was not compiled from its program (the code section \
                    does not match)"
                .into(),
        );
    }
    if n != nfuncs {
        return Err("its machine code is for a program with another number of functions".into());
    }
    let mut v = Vec::with_capacity(count);
    for k in 0..count {
        let at = k * AOT_ENTRY_SIZE;
        let e = hashvm_jit::aot::Entry {
            func: u32_at(ents, at).ok_or_else(bad)?,
            ip: u32_at(ents, at + 4).ok_or_else(bad)?,
            offset: u32_at(ents, at + 8).ok_or_else(bad)?,
        };
        if e.func as usize >= nfuncs || e.offset as usize >= text.len() {
            return Err(bad());
        }
        v.push(e);
    }
    Ok((v, kinds))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// ELF constants the image cutter needs.
const ELF_HEADER_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const EM_X86_64: u16 = 62;

/// The loadable image of a runtime binary `elf`: checks that it is a 64-bit
/// little-endian x86-64 ELF executable carrying the runtime mark and no payload, and
/// returns its bytes up to the end of the last segment the kernel loads, with the
/// section-header fields cleared (the section headers, symbol tables and debug
/// information that follow are dropped: nothing reads them at run time). If the
/// section headers do not come after every segment, the file is kept whole.
pub fn runtime_image(elf: &[u8]) -> Result<Vec<u8>, String> {
    if elf.len() < ELF_HEADER_SIZE || elf[..4] != *b"\x7fELF" {
        return Err("not an ELF executable".into());
    }
    if elf[4] != 2 || elf[5] != 1 || u16_at(elf, 18) != Some(EM_X86_64) {
        return Err("not a 64-bit little-endian x86-64 ELF executable".into());
    }
    if has_trailer(elf) {
        return Err(
            "it is a native executable (a runtime with a program attached), not the runtime itself"
                .into(),
        );
    }
    let mark = runtime_mark();
    if !elf.windows(mark.len()).any(|w| w == mark.as_slice()) {
        return Err(format!(
            "it is not a {RT_NAME} runtime of this version (payload layout {PAYLOAD_VERSION}): \
             rebuild the workspace so that {RT_NAME} and the tools match"
        ));
    }
    let bad = || "its ELF program headers are damaged".to_string();
    let phoff = usize::try_from(u64_at(elf, 32).ok_or_else(bad)?).map_err(|_| bad())?;
    let shoff = u64_at(elf, 40).ok_or_else(bad)?;
    let phentsize = usize::from(u16_at(elf, 54).ok_or_else(bad)?);
    let phnum = usize::from(u16_at(elf, 56).ok_or_else(bad)?);
    if phentsize != PHDR_SIZE || phnum == 0 {
        return Err(bad());
    }
    let table_end = phoff
        .checked_add(phnum * PHDR_SIZE)
        .filter(|&e| e <= elf.len())
        .ok_or_else(bad)?;
    let mut end = table_end.max(ELF_HEADER_SIZE) as u64;
    for i in 0..phnum {
        let ph = phoff + i * PHDR_SIZE;
        let off = u64_at(elf, ph + 8).ok_or_else(bad)?;
        let filesz = u64_at(elf, ph + 32).ok_or_else(bad)?;
        let seg_end = off.checked_add(filesz).ok_or_else(bad)?;
        if seg_end > elf.len() as u64 {
            return Err(bad());
        }
        end = end.max(seg_end);
    }
    if shoff != 0 && shoff < end {
        return Ok(elf.to_vec());
    }
    let mut image = elf[..end as usize].to_vec();
    image[40..48].fill(0); // e_shoff
    image[58..64].fill(0); // e_shentsize, e_shnum, e_shstrndx
    Ok(image)
}

/// Whether `file` ends with a native-executable trailer.
pub fn has_trailer(file: &[u8]) -> bool {
    file.len() >= TRAILER_SIZE && file[file.len() - 8..] == TRAILER_MAGIC
}

/// Writes a native executable: `image` (from [`runtime_image`]), padding to a page,
/// the payload with `sections` (each on a page boundary), and the trailer. The same
/// inputs give the same bytes.
pub fn build(image: &[u8], sections: &[Section<'_>]) -> Vec<u8> {
    let align = |n: u64| n.div_ceil(PAGE) * PAGE;
    let mut out = image.to_vec();
    let payload_start = align(out.len() as u64);
    out.resize(payload_start as usize, 0);
    let mut payload = Vec::new();
    payload.extend_from_slice(&PAYLOAD_MAGIC);
    payload.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
    payload.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    let mut at = align((PAYLOAD_HEADER_SIZE + sections.len() * SECTION_ENTRY_SIZE) as u64);
    let mut offsets = Vec::new();
    for (kind, flags, bytes) in sections {
        payload.extend_from_slice(kind);
        payload.extend_from_slice(&flags.to_le_bytes());
        payload.extend_from_slice(&at.to_le_bytes());
        payload.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offsets.push(at);
        at = align(at + bytes.len() as u64);
    }
    for ((_, _, bytes), off) in sections.iter().zip(offsets) {
        payload.resize(off as usize, 0);
        payload.extend_from_slice(bytes);
    }
    let sum = checksum(&payload);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&payload_start.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&TRAILER_MAGIC);
    out
}

/// Where the payload of a file of `file_len` bytes is, from its `trailer` (the last
/// [`TRAILER_SIZE`] bytes): `(offset, length, checksum)`. `Ok(None)`: no trailer (a
/// runtime with no program attached).
pub fn locate(file_len: u64, trailer: &[u8]) -> Result<Option<(u64, u64, u64)>, String> {
    if trailer.len() != TRAILER_SIZE || trailer[24..] != TRAILER_MAGIC {
        return Ok(None);
    }
    let (off, len, sum) = (
        u64_at(trailer, 0).unwrap_or(0),
        u64_at(trailer, 8).unwrap_or(0),
        u64_at(trailer, 16).unwrap_or(0),
    );
    if off % PAGE != 0 || off.checked_add(len) != file_len.checked_sub(TRAILER_SIZE as u64) {
        return Err("the trailer does not describe this file (truncated or edited)".into());
    }
    Ok(Some((off, len, sum)))
}

/// The sections of `payload` (checked against `sum` first): `(kind, bytes)` in order.
pub fn sections(payload: &[u8], sum: u64) -> Result<Vec<Section<'_>>, String> {
    let bad = || "its section table is damaged".to_string();
    // The version before the checksum: a file from a runtime of another payload layout
    // (whose checksum may be computed otherwise) is told so, not called damaged.
    if payload.get(..8) == Some(&PAYLOAD_MAGIC[..]) {
        if let Some(version) = u32_at(payload, 8).filter(|&v| v != PAYLOAD_VERSION) {
            return Err(format!(
                "its payload layout is version {version}; this runtime reads version {PAYLOAD_VERSION}"
            ));
        }
    }
    if checksum(payload) != sum {
        return Err("its checksum does not match (the file is damaged or was edited)".into());
    }
    if payload.get(..8) != Some(&PAYLOAD_MAGIC[..]) {
        return Err("it does not start with the payload magic".into());
    }
    u32_at(payload, 8).ok_or_else(bad)?;
    let count = u32_at(payload, 12).ok_or_else(bad)?;
    if count > MAX_SECTIONS {
        return Err(bad());
    }
    let mut v = Vec::new();
    for i in 0..count as usize {
        let e = PAYLOAD_HEADER_SIZE + i * SECTION_ENTRY_SIZE;
        let kind: [u8; 4] = payload
            .get(e..e + 4)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(bad)?;
        let flags = u32_at(payload, e + 4).ok_or_else(bad)?;
        let off = usize::try_from(u64_at(payload, e + 8).ok_or_else(bad)?).map_err(|_| bad())?;
        let len = usize::try_from(u64_at(payload, e + 16).ok_or_else(bad)?).map_err(|_| bad())?;
        let bytes = off
            .checked_add(len)
            .and_then(|end| payload.get(off..end))
            .ok_or_else(bad)?;
        v.push((kind, flags, bytes));
    }
    Ok(v)
}

/// The `.hbc` bytes a whole native executable `file` carries: `Ok(None)` when `file` is
/// not one (no trailer), `Err` when it is but is damaged. (`hashvm dis`, `hashvm run`
/// and `hashld` read native executables through this.)
pub fn program_of(file: &[u8]) -> Result<Option<&[u8]>, String> {
    let Some(trailer) = file.get(file.len().saturating_sub(TRAILER_SIZE)..) else {
        return Ok(None);
    };
    let Some((off, len, sum)) = locate(file.len() as u64, trailer)? else {
        return Ok(None);
    };
    // `locate` checked that off + len is the trailer's position, inside the file.
    let payload = &file[off as usize..(off + len) as usize];
    sections(payload, sum)?
        .into_iter()
        .find(|(k, _, _)| *k == SECTION_HBC)
        .map(|(_, _, b)| Some(b))
        .ok_or_else(|| "it has no HBC section".to_string())
}

/// The runtime `hashc --native` and `hashld --native` copy: `$HASHVM_RT` if set, else
/// `hashvm-rt` beside the running tool. The error says where it looked and how to fix
/// it.
pub fn find_runtime() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(RT_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(format!(
            "the native runtime {} (from {RT_ENV}) is not a file",
            p.display()
        ));
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the native runtime: cannot locate this tool: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let p = dir.join(RT_NAME);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "the native runtime {RT_NAME} is not installed: looked for {} (beside {}); it is \
             built with the workspace (`cargo build --release` puts it beside hashc), or set \
             {RT_ENV} to its path",
            p.display(),
            exe.display()
        ))
    }
}

/// Makes the native executable of the linked program `module` and writes it to `out`
/// with execute permission, through a temporary file renamed into place (a running
/// copy of the old file is not disturbed, and a failed write leaves no half
/// executable). It takes the verifier's proof: only verified programs are written
/// (and the runtime verifies again, SPEC.md §11.3).
///
/// A program that declares foreign functions is written only with `allow_ffi` (the
/// build's `--allow-ffi`), which the executable then carries (SPEC.md §11.2): without
/// it the executable could never run, so the build refuses with the error `hashvm run`
/// gives.
pub fn write_executable(
    module: hashvm_format::Verified<'_>,
    out: &Path,
    allow_ffi: bool,
) -> Result<(), String> {
    let rt = find_runtime()?;
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(&rt), std::fs::canonicalize(out)) {
        if a == b {
            return Err(format!(
                "{}: the output file is the native runtime itself",
                out.display()
            ));
        }
    }
    let elf =
        std::fs::read(&rt).map_err(|e| format!("the native runtime {}: {e}", rt.display()))?;
    let image =
        runtime_image(&elf).map_err(|e| format!("the native runtime {}: {e}", rt.display()))?;
    if !module.is_executable() {
        return Err(format!("{}: the program has no entry point", out.display()));
    }
    if let (false, Some(f)) = (allow_ffi, module.foreigns.first()) {
        return Err(format!(
            "the program declares the foreign function `{}` from `{}`: foreign calls can break \
             every guarantee of the verifier, so a native executable that makes them must be \
             built with --allow-ffi",
            f.symbol, f.library
        ));
    }
    let hbc = hashvm_format::write(&module);
    let flags = if allow_ffi && !module.foreigns.is_empty() {
        HBC_ALLOW_FFI
    } else {
        0
    };
    let bytes = match compile(module) {
        Ok(code) => {
            let aot = aot_section(&hbc, &code, module.functions.len());
            build(
                &image,
                &[
                    (SECTION_HBC, flags, &hbc),
                    (SECTION_AOT, 0, &aot),
                    (SECTION_TEXT, 0, &code.text),
                ],
            )
        }
        // No code: the executable interprets its bytecode (`--native-stats` says why).
        Err(_) => build(&image, &[(SECTION_HBC, flags, &hbc)]),
    };
    write_exe_file(out, &bytes)
}

/// Compiles the program ahead of time (on x86-64; elsewhere there is no code).
pub fn compile(module: hashvm_format::Verified<'_>) -> Result<hashvm_jit::aot::Image, String> {
    #[cfg(target_arch = "x86_64")]
    {
        hashvm_jit::aot::compile(module)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = module;
        Err("ahead-of-time compilation needs x86-64".into())
    }
}

fn write_exe_file(out: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = out
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", out.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = out.with_file_name(tmp_name);
    let err = |e: std::io::Error| format!("{}: {e}", out.display());
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// The `--native-stats` report of the program: how many functions were compiled
/// ahead of time, and for each one that was not entirely, which instructions the
/// interpreter runs (SPEC.md §11.6).
pub fn stats(module: hashvm_format::Verified<'_>) -> String {
    let start = std::time::Instant::now();
    match compile(module) {
        Ok(image) => format!(
            "{}native: compiled in {:.1} ms\n",
            image.stats(),
            start.elapsed().as_secs_f64() * 1e3
        ),
        Err(e) => format!(
            "native: {} functions: 0 compiled ahead of time ({e}): the executable interprets \
             its bytecode\n",
            module.functions.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 x86-64 image: header, one PT_LOAD over the first 200 bytes, the
    /// runtime mark inside it, then "debug" bytes and section headers after it.
    fn fake_elf() -> Vec<u8> {
        let mut e = vec![0u8; 300];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        e[40..48].copy_from_slice(&250u64.to_le_bytes()); // e_shoff
        e[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        e[58..60].copy_from_slice(&64u16.to_le_bytes());
        e[60..62].copy_from_slice(&3u16.to_le_bytes());
        e[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        e[64 + 32..64 + 40].copy_from_slice(&200u64.to_le_bytes()); // p_filesz
        let mark = runtime_mark();
        e[130..130 + mark.len()].copy_from_slice(&mark);
        e
    }

    #[test]
    fn image_is_cut_after_the_loaded_segments() {
        let img = runtime_image(&fake_elf()).unwrap();
        assert_eq!(img.len(), 200);
        assert_eq!(u64_at(&img, 40), Some(0));
        assert_eq!(u16_at(&img, 60), Some(0));
    }

    #[test]
    fn not_a_runtime() {
        let mut e = fake_elf();
        e[130] = 1;
        assert!(runtime_image(&e).unwrap_err().contains("not a hashvm-rt"));
        assert!(runtime_image(b"#!/bin/sh\n").is_err());
        let mut e = fake_elf();
        e[18] = 3;
        assert!(runtime_image(&e).is_err());
        let mut e = fake_elf();
        e[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(runtime_image(&e).is_err());
        let exe = build(
            &runtime_image(&fake_elf()).unwrap(),
            &[(SECTION_HBC, 0, b"x")],
        );
        assert!(runtime_image(&exe)
            .unwrap_err()
            .contains("native executable"));
    }

    #[test]
    fn round_trip_and_damage() {
        let img = runtime_image(&fake_elf()).unwrap();
        let exe = build(&img, &[(SECTION_HBC, 0, b"program"), (*b"NEXT", 0, b"")]);
        assert_eq!(
            exe,
            build(&img, &[(SECTION_HBC, 0, b"program"), (*b"NEXT", 0, b"")])
        );
        assert_eq!(&exe[..200], &img[..]);
        let t = &exe[exe.len() - TRAILER_SIZE..];
        let (off, len, sum) = locate(exe.len() as u64, t).unwrap().unwrap();
        assert_eq!(off % PAGE, 0);
        let payload = &exe[off as usize..(off + len) as usize];
        let s = sections(payload, sum).unwrap();
        assert_eq!(
            s,
            [(SECTION_HBC, 0, &b"program"[..]), (*b"NEXT", 0, &b""[..])]
        );
        // Every single-byte change to the payload is caught by the checksum.
        for i in 0..payload.len() {
            let mut p = payload.to_vec();
            p[i] ^= 0x40;
            assert!(sections(&p, sum).is_err());
        }
        // A truncated file no longer matches its trailer; no trailer is not an error.
        assert!(locate(exe.len() as u64 - 1, t).is_err());
        assert_eq!(program_of(&exe), Ok(Some(&b"program"[..])));
        assert_eq!(program_of(&img), Ok(None));
        assert_eq!(program_of(b""), Ok(None));
        assert_eq!(locate(100, &[0; TRAILER_SIZE]), Ok(None));
        assert_eq!(locate(100, &[0; 3]), Ok(None));
    }

    /// A payload of another layout version is reported as such, before its checksum
    /// (computed otherwise by that version's tools) is compared.
    #[test]
    fn another_version_is_named_not_called_damaged() {
        let mut p = PAYLOAD_MAGIC.to_vec();
        p.extend_from_slice(&2u32.to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
        let e = sections(&p, 0).unwrap_err();
        assert!(e.contains("payload layout is version 2"), "{e}");
        p[8] = PAYLOAD_VERSION as u8;
        assert!(sections(&p, 0).unwrap_err().contains("checksum"));
        assert!(sections(&p, checksum(&p)).is_ok());
    }

    /// The checksum sees one changed byte anywhere, and where part boundaries fall.
    #[test]
    fn checksum_sees_every_byte_and_the_parts() {
        let bytes: Vec<u8> = (0..61u8).collect();
        let sum = checksum(&bytes);
        for i in 0..bytes.len() {
            for bit in [0, 3, 7] {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert_ne!(checksum(&b), sum, "byte {i} bit {bit}");
            }
        }
        assert_ne!(checksum(&bytes[..60]), sum);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_ne!(checksum(&longer), sum, "a zero byte more");
        assert_ne!(
            checksum_parts(&[&bytes[..8], &bytes[8..]]),
            checksum_parts(&[&bytes[..16], &bytes[16..]])
        );
    }

    proptest::proptest! {
        /// The readers take any bytes without panicking: a trailer, a payload whose
        /// checksum matches (so the section table is parsed), an ELF file.
        #[test]
        fn readers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200), len in 0u64..1 << 40) {
            let _ = locate(len, &bytes);
            let mut t = bytes.clone();
            t.resize(TRAILER_SIZE, 0);
            t[24..].copy_from_slice(&TRAILER_MAGIC);
            let _ = locate(len, &t);
            let mut p = PAYLOAD_MAGIC.to_vec();
            p.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
            p.extend_from_slice(&bytes);
            let _ = sections(&p, checksum(&p));
            let mut e = fake_elf();
            let n = bytes.len().min(e.len() - 16);
            e[16..16 + n].copy_from_slice(&bytes[..n]);
            let _ = runtime_image(&e);
        }
    }

    #[test]
    fn the_tools_do_not_carry_the_mark() {
        // This test binary links the code of `runtime_mark`; the mark itself must be
        // built at run time, so no tool can be mistaken for the runtime.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let mark = runtime_mark();
        assert!(!me.windows(mark.len()).any(|w| w == mark.as_slice()));
    }
}
