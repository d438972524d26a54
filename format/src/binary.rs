//! Reading and writing `.hbc` bytes. The layout is specified byte for byte in SPEC.md
//! ("File format"); this module is its only implementation.
//!
//! The reader is strict: it accepts exactly the files the writer produces, so
//! `write(read(bytes)) == bytes` for every file it accepts. It never panics and never
//! allocates more than a small multiple of the input size, whatever the input.

use crate::bignum::{BigInt, BigRatio};
use crate::module::*;

/// The eight bytes every `.hbc` file starts with. The `\r\n` and `\x1a` catch text-mode
/// transfers, as PNG's signature does.
pub const MAGIC: [u8; 8] = [0x7F, b'H', b'B', b'C', b'\r', b'\n', 0x1A, b'\n'];
/// The format's major version: a reader rejects any other.
pub const VERSION_MAJOR: u16 = 1;
/// The format's minor version: additions a version-1 reader may ignore (none yet).
pub const VERSION_MINOR: u16 = 0;
/// Size of the fixed header in bytes.
pub const HEADER_SIZE: usize = 32;
/// Size of one section-table entry in bytes.
pub const SECTION_ENTRY_SIZE: usize = 16;
/// The sections, in the order they must appear.
pub const SECTIONS: [[u8; 4]; 5] = [*b"TYPE", *b"CODE", *b"GLOB", *b"SYMB", *b"DBUG"];
/// How deeply encoded constants may nest (deeper values must be split across globals).
pub const MAX_CONST_DEPTH: usize = 1000;

/// Why bytes are not a well-formed `.hbc` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// The section being read, if any (`"header"` for the header and section table).
    pub section: &'static str,
    /// The byte offset in the file where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} section, byte {}: {}",
            self.section, self.offset, self.message
        )
    }
}

impl std::error::Error for FormatError {}

// ---------------------------------------------------------------- writing

struct W {
    b: Vec<u8>,
}

impl W {
    fn u8(&mut self, v: u8) {
        self.b.push(v)
    }
    fn u16(&mut self, v: u16) {
        self.b.extend(v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) {
        self.b.extend(v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) {
        self.b.extend(v.to_le_bytes())
    }
    fn len(&mut self, n: usize) {
        self.u32(n as u32)
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.b.extend(s.as_bytes())
    }
    fn big(&mut self, v: &BigInt) {
        self.u8(u8::from(v.is_negative()));
        self.len(v.magnitude().len());
        self.b.extend(v.magnitude());
    }
    fn konst(&mut self, c: &Const) {
        match c {
            Const::Unit => self.u8(0),
            Const::Bool(b) => {
                self.u8(1);
                self.u8(u8::from(*b))
            }
            Const::I64(v) => {
                self.u8(2);
                self.u64(*v as u64)
            }
            Const::U64(v) => {
                self.u8(3);
                self.u64(*v)
            }
            Const::F64(v) => {
                self.u8(4);
                self.u64(*v)
            }
            Const::Char(v) => {
                self.u8(5);
                self.u32(*v)
            }
            Const::Str(s) => {
                self.u8(6);
                self.str(s)
            }
            Const::Bytes(b) => {
                self.u8(7);
                self.len(b.len());
                self.b.extend(b)
            }
            Const::Big(v) => {
                self.u8(8);
                self.big(v)
            }
            Const::Ratio(r) => {
                self.u8(9);
                self.big(r.numer());
                self.big(r.denom())
            }
            Const::Data { ty, tag, fields } => {
                self.u8(10);
                self.u32(*ty);
                self.u16(*tag);
                self.consts(fields)
            }
            Const::Tuple(v) => {
                self.u8(11);
                self.consts(v)
            }
            Const::List(v) => {
                self.u8(12);
                self.consts(v)
            }
            Const::Array(v) => {
                self.u8(13);
                self.consts(v)
            }
            Const::Closure { func, captures } => {
                self.u8(14);
                self.u32(*func);
                self.consts(captures)
            }
            Const::Func(f) => {
                self.u8(15);
                self.u32(*f)
            }
            Const::Ref(c) => {
                self.u8(16);
                self.konst(c)
            }
            Const::Global(g) => {
                self.u8(17);
                self.u32(*g)
            }
        }
    }
    fn consts(&mut self, v: &[Const]) {
        self.len(v.len());
        for c in v {
            self.konst(c)
        }
    }
}

fn section_type(m: &Module, w: &mut W) {
    w.len(m.types.len());
    for t in &m.types {
        match t {
            TypeDef::Defined { name, ctors } => {
                w.u8(0);
                w.str(name);
                w.len(ctors.len());
                for c in ctors {
                    w.str(&c.name);
                    w.u16(c.arity);
                    w.u16(c.fields.len() as u16);
                    for f in &c.fields {
                        w.str(f)
                    }
                }
            }
            TypeDef::Import { symbol } => {
                w.u8(1);
                w.str(symbol)
            }
        }
    }
}

fn section_code(m: &Module, w: &mut W) {
    w.len(m.functions.len());
    for f in &m.functions {
        w.str(&f.name);
        w.u16(f.arity);
        w.u16(f.ncaptures);
        w.u16(f.nslots);
        w.u16(0);
        w.len(f.code.len());
        w.b.extend(&f.code);
    }
}

fn section_glob(m: &Module, w: &mut W) {
    w.len(m.globals.len());
    for g in &m.globals {
        w.str(&g.name);
        match &g.init {
            GlobalInit::Const(c) => {
                w.u8(0);
                w.konst(c)
            }
            GlobalInit::Uninit => w.u8(1),
            GlobalInit::Import(s) => {
                w.u8(2);
                w.str(s)
            }
        }
    }
}

fn section_symb(m: &Module, w: &mut W) {
    w.len(m.exports.len());
    for e in &m.exports {
        w.str(&e.name);
        match e.target {
            ExportTarget::Global(i) => {
                w.u8(0);
                w.u32(i)
            }
            ExportTarget::Type(i) => {
                w.u8(1);
                w.u32(i)
            }
        }
    }
    w.len(m.libraries.len());
    for l in &m.libraries {
        w.str(l)
    }
    w.len(m.inits.len());
    for i in &m.inits {
        w.u32(*i)
    }
    match m.entry {
        Some(e) => {
            w.u8(1);
            w.u32(e)
        }
        None => {
            w.u8(0);
            w.u32(0)
        }
    }
    w.len(m.foreigns.len());
    for f in &m.foreigns {
        w.str(&f.library);
        w.str(&f.symbol);
        w.len(f.params.len());
        for p in &f.params {
            w.u8(*p as u8)
        }
        w.u8(f.ret as u8)
    }
}

fn section_dbug(m: &Module, w: &mut W) {
    w.len(m.debug.files.len());
    for f in &m.debug.files {
        w.str(f)
    }
    w.len(m.debug.lines.len());
    for t in &m.debug.lines {
        w.u32(t.func);
        w.len(t.entries.len());
        for e in &t.entries {
            w.u32(e.offset);
            w.u32(e.file);
            w.u32(e.line);
            w.u32(e.col);
        }
    }
}

/// Encodes a module as `.hbc` bytes.
pub fn write(m: &Module) -> Vec<u8> {
    let writers: [fn(&Module, &mut W); 5] = [
        section_type,
        section_code,
        section_glob,
        section_symb,
        section_dbug,
    ];
    let bodies: Vec<Vec<u8>> = writers
        .iter()
        .map(|f| {
            let mut w = W { b: Vec::new() };
            f(m, &mut w);
            w.b
        })
        .collect();
    let mut w = W { b: Vec::new() };
    w.b.extend(MAGIC);
    w.u16(VERSION_MAJOR);
    w.u16(VERSION_MINOR);
    w.u32(m.flags);
    w.u32(SECTIONS.len() as u32);
    w.b.extend([0u8; 12]);
    let mut off = HEADER_SIZE + SECTION_ENTRY_SIZE * SECTIONS.len();
    for (id, body) in SECTIONS.iter().zip(&bodies) {
        w.b.extend(id);
        w.u32(off as u32);
        w.u32(body.len() as u32);
        w.u32(0);
        off += body.len();
    }
    for body in bodies {
        w.b.extend(body);
    }
    w.b
}

// ---------------------------------------------------------------- reading

struct R<'a> {
    b: &'a [u8],
    p: usize,
    end: usize,
    section: &'static str,
}

type Res<T> = Result<T, FormatError>;

impl<'a> R<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Res<T> {
        Err(FormatError {
            section: self.section,
            offset: self.p,
            message: msg.into(),
        })
    }
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if n > self.end - self.p {
            return self.err(format!(
                "needs {n} more bytes but the section has {} left",
                self.end - self.p
            ));
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or([0; 2]),
        ))
    }
    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or([0; 4]),
        ))
    }
    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }
    /// A count of items each at least `min_size` bytes long: bounded by what is left, so
    /// a lying count cannot make us allocate.
    fn count(&mut self, min_size: usize) -> Res<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.end - self.p {
            return self.err(format!("count {n} is larger than the rest of the section"));
        }
        Ok(n)
    }
    fn str(&mut self) -> Res<String> {
        let n = self.count(1)?;
        let at = self.p;
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(FormatError {
                section: self.section,
                offset: at,
                message: "string is not valid UTF-8".into(),
            }),
        }
    }
    fn big(&mut self) -> Res<BigInt> {
        let sign = self.u8()?;
        let n = self.count(1)?;
        let digits = self.take(n)?;
        if sign > 1 {
            return self.err("integer sign byte must be 0 or 1");
        }
        if digits.last() == Some(&0) {
            return self.err("integer magnitude has a trailing zero byte (not canonical)");
        }
        if digits.is_empty() && sign == 1 {
            return self.err("negative zero integer (not canonical)");
        }
        Ok(BigInt::from_sign_magnitude(sign == 1, digits.to_vec()))
    }
    fn konst(&mut self, depth: usize) -> Res<Const> {
        if depth > MAX_CONST_DEPTH {
            return self.err(format!("constant nested deeper than {MAX_CONST_DEPTH}"));
        }
        let at = self.p;
        let tag = self.u8()?;
        Ok(match tag {
            0 => Const::Unit,
            1 => match self.u8()? {
                0 => Const::Bool(false),
                1 => Const::Bool(true),
                _ => return self.err("bool constant must be 0 or 1"),
            },
            2 => Const::I64(self.u64()? as i64),
            3 => Const::U64(self.u64()?),
            4 => Const::F64(self.u64()?),
            5 => {
                let c = self.u32()?;
                if char::from_u32(c).is_none() {
                    return self.err(format!("0x{c:x} is not a Unicode scalar value"));
                }
                Const::Char(c)
            }
            6 => Const::Str(self.str()?),
            7 => {
                let n = self.count(1)?;
                Const::Bytes(self.take(n)?.to_vec())
            }
            8 => Const::Big(self.big()?),
            9 => {
                let n = self.big()?;
                let d = self.big()?;
                if d.is_negative() || d.is_zero() {
                    return self.err("ratio denominator must be positive");
                }
                if !BigRatio::is_canonical(&n, &d) {
                    return self.err("ratio is not in lowest terms");
                }
                match BigRatio::new(n, d) {
                    Some(r) => Const::Ratio(r),
                    None => return self.err("ratio denominator must be positive"),
                }
            }
            10 => {
                let ty = self.u32()?;
                let tag = self.u16()?;
                Const::Data {
                    ty,
                    tag,
                    fields: self.consts(depth)?,
                }
            }
            11 => Const::Tuple(self.consts(depth)?),
            12 => Const::List(self.consts(depth)?),
            13 => Const::Array(self.consts(depth)?),
            14 => {
                let func = self.u32()?;
                Const::Closure {
                    func,
                    captures: self.consts(depth)?,
                }
            }
            15 => Const::Func(self.u32()?),
            16 => Const::Ref(Box::new(self.konst(depth + 1)?)),
            17 => Const::Global(self.u32()?),
            t => {
                self.p = at;
                return self.err(format!("unknown constant kind {t}"));
            }
        })
    }
    fn consts(&mut self, depth: usize) -> Res<Vec<Const>> {
        let n = self.count(1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.konst(depth + 1)?);
        }
        Ok(v)
    }
    fn done(&self) -> Res<()> {
        if self.p != self.end {
            return self.err(format!(
                "{} unexpected bytes at the end of the section",
                self.end - self.p
            ));
        }
        Ok(())
    }
}

fn read_type(r: &mut R, m: &mut Module) -> Res<()> {
    let n = r.count(5)?;
    for _ in 0..n {
        match r.u8()? {
            0 => {
                let name = r.str()?;
                let nc = r.count(8)?;
                let mut ctors = Vec::with_capacity(nc);
                for _ in 0..nc {
                    let name = r.str()?;
                    let arity = r.u16()?;
                    let nf = r.u16()?;
                    if nf != 0 && nf != arity {
                        return r.err(format!(
                            "constructor {name} has {nf} field names but arity {arity}"
                        ));
                    }
                    let mut fields = Vec::with_capacity(nf as usize);
                    for _ in 0..nf {
                        fields.push(r.str()?);
                    }
                    ctors.push(Ctor {
                        name,
                        arity,
                        fields,
                    });
                }
                m.types.push(TypeDef::Defined { name, ctors });
            }
            1 => m.types.push(TypeDef::Import { symbol: r.str()? }),
            k => return r.err(format!("unknown type entry kind {k}")),
        }
    }
    r.done()
}

fn read_code(r: &mut R, m: &mut Module) -> Res<()> {
    let n = r.count(16)?;
    for _ in 0..n {
        let name = r.str()?;
        let arity = r.u16()?;
        let ncaptures = r.u16()?;
        let nslots = r.u16()?;
        if r.u16()? != 0 {
            return r.err("reserved function field must be zero");
        }
        let len = r.count(1)?;
        let code = r.take(len)?.to_vec();
        m.functions.push(Function {
            name,
            arity,
            ncaptures,
            nslots,
            code,
        });
    }
    r.done()
}

fn read_glob(r: &mut R, m: &mut Module) -> Res<()> {
    let n = r.count(5)?;
    for _ in 0..n {
        let name = r.str()?;
        let init = match r.u8()? {
            0 => GlobalInit::Const(r.konst(0)?),
            1 => GlobalInit::Uninit,
            2 => GlobalInit::Import(r.str()?),
            k => return r.err(format!("unknown global kind {k}")),
        };
        m.globals.push(Global { name, init });
    }
    r.done()
}

fn read_symb(r: &mut R, m: &mut Module) -> Res<()> {
    let n = r.count(9)?;
    for _ in 0..n {
        let name = r.str()?;
        let target = match r.u8()? {
            0 => ExportTarget::Global(r.u32()?),
            1 => ExportTarget::Type(r.u32()?),
            k => return r.err(format!("unknown export kind {k}")),
        };
        m.exports.push(Export { name, target });
    }
    let n = r.count(4)?;
    for _ in 0..n {
        m.libraries.push(r.str()?);
    }
    let n = r.count(4)?;
    for _ in 0..n {
        m.inits.push(r.u32()?);
    }
    let has = r.u8()?;
    let e = r.u32()?;
    m.entry = match (has, e) {
        (0, 0) => None,
        (1, e) => Some(e),
        (0, _) => return r.err("entry index must be 0 when there is no entry"),
        (k, _) => return r.err(format!("entry flag must be 0 or 1, not {k}")),
    };
    let n = r.count(13)?;
    for _ in 0..n {
        let library = r.str()?;
        let symbol = r.str()?;
        let np = r.count(1)?;
        let mut params = Vec::with_capacity(np);
        for _ in 0..np {
            params.push(ffi_type(r)?);
        }
        let ret = ffi_type(r)?;
        m.foreigns.push(Foreign {
            library,
            symbol,
            params,
            ret,
        });
    }
    r.done()
}

fn ffi_type(r: &mut R) -> Res<FfiType> {
    let b = r.u8()?;
    match FfiType::from_code(b) {
        Some(t) => Ok(t),
        None => r.err(format!("unknown foreign type code {b}")),
    }
}

fn read_dbug(r: &mut R, m: &mut Module) -> Res<()> {
    let n = r.count(4)?;
    for _ in 0..n {
        m.debug.files.push(r.str()?);
    }
    let n = r.count(8)?;
    for _ in 0..n {
        let func = r.u32()?;
        let k = r.count(16)?;
        let mut entries = Vec::with_capacity(k);
        for _ in 0..k {
            entries.push(LineEntry {
                offset: r.u32()?,
                file: r.u32()?,
                line: r.u32()?,
                col: r.u32()?,
            });
        }
        m.debug.lines.push(FuncLines { func, entries });
    }
    r.done()
}

/// Decodes `.hbc` bytes. Checks the encoding only (magic, version, section layout,
/// UTF-8, canonical numbers); index ranges and code are the verifier's job.
pub fn read(bytes: &[u8]) -> Result<Module, FormatError> {
    let mut h = R {
        b: bytes,
        p: 0,
        end: bytes.len(),
        section: "header",
    };
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        return h.err("not a .hbc file (bad magic bytes)");
    }
    h.p = 8;
    let major = h.u16()?;
    let minor = h.u16()?;
    if major != VERSION_MAJOR {
        return h.err(format!(
            "format version {major}.{minor} is not supported (this reader reads {VERSION_MAJOR}.x)"
        ));
    }
    if minor != VERSION_MINOR {
        return h.err(format!(
            "format version {major}.{minor} is newer than this reader"
        ));
    }
    let flags = h.u32()?;
    if flags & !FLAG_EXECUTABLE != 0 {
        return h.err(format!("reserved flag bits set: 0x{flags:08x}"));
    }
    let nsec = h.u32()? as usize;
    if nsec != SECTIONS.len() {
        return h.err(format!(
            "expected {} sections, found {nsec}",
            SECTIONS.len()
        ));
    }
    if h.take(12)?.iter().any(|&b| b != 0) {
        h.p -= 12;
        return h.err("reserved header bytes must be zero");
    }
    let mut m = Module {
        flags,
        ..Module::default()
    };
    let mut expect = HEADER_SIZE + SECTION_ENTRY_SIZE * SECTIONS.len();
    let mut ranges = Vec::new();
    for id in SECTIONS.iter() {
        let got = h.take(4)?;
        if got != id {
            h.p -= 4;
            return h.err(format!(
                "expected section {} here, found {:?}",
                String::from_utf8_lossy(id),
                String::from_utf8_lossy(got)
            ));
        }
        let off = h.u32()? as usize;
        let size = h.u32()? as usize;
        if h.u32()? != 0 {
            return h.err("reserved section-table field must be zero");
        }
        if off != expect {
            return h.err(format!(
                "section {} starts at {off}, expected {expect}",
                String::from_utf8_lossy(id)
            ));
        }
        if size > bytes.len().saturating_sub(off) {
            return h.err(format!(
                "section {} runs past the end of the file",
                String::from_utf8_lossy(id)
            ));
        }
        expect = off + size;
        ranges.push((off, size));
    }
    if expect != bytes.len() {
        return Err(FormatError {
            section: "header",
            offset: expect,
            message: format!("{} bytes after the last section", bytes.len() - expect),
        });
    }
    type SectionReader = fn(&mut R, &mut Module) -> Res<()>;
    let readers: [(&'static str, SectionReader); 5] = [
        ("TYPE", read_type),
        ("CODE", read_code),
        ("GLOB", read_glob),
        ("SYMB", read_symb),
        ("DBUG", read_dbug),
    ];
    for ((name, f), (off, size)) in readers.iter().zip(ranges) {
        let mut r = R {
            b: bytes,
            p: off,
            end: off + size,
            section: name,
        };
        f(&mut r, &mut m)?;
    }
    Ok(m)
}
