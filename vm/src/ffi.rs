//! Foreign (C) functions: resolution at load time and the `ffi.call` instruction
//! (SPEC.md §2.7 and §3).
//!
//! A module declares each C function it calls (library, symbol, parameter and result
//! types) in its SYMB section. Loading resolves every declaration with
//! `dlopen`/`dlsym`, so a missing library or symbol is a load error, never a fault in
//! the middle of a run; and loading refuses foreign declarations altogether unless
//! [`crate::Config::allow_ffi`] is set, because C code can break every guarantee the
//! verifier gives (`hashvm run --allow-ffi`).
//!
//! # The calling scheme
//!
//! No call trampoline is generated: every call goes through one of two fixed Rust
//! function-pointer types, `extern "C" fn(6 × u64, 8 × f64) -> u64` and the same
//! returning `f64`. Under the System V x86-64 convention scalar arguments are assigned
//! by class, in order: integer-class arguments (integers, bools, chars, pointers) to
//! `rdi, rsi, rdx, rcx, r8, r9`, `double`s to `xmm0`–`xmm7`, independently of how the
//! two classes interleave. Packing the integer-class arguments into the six integer
//! parameters and the `f64` arguments into the eight float parameters therefore puts
//! every argument where a non-variadic C callee reads it, whatever its signature;
//! unused registers are ignored by the callee. The limits that follow, checked at load
//! time with a clean error: at most six integer-class and eight `f64` parameters, no
//! variadic functions (`printf`: `al` is not set), no structs by value, no callbacks.
//! Results come back in `rax` (`u64`) or `xmm0` (`f64`); narrower C results are
//! truncated to their width (`bool`: `al`, `char`/`i32`: `eax`) because the ABI leaves
//! the upper bits undefined.
//!
//! On other hosts a module with foreign declarations does not load.

use crate::heap::{self, Kind};
use crate::value::{Tag, Value};
use crate::vm::{Trap, Vm};
use hashvm_format::{FfiType, Foreign};

/// Integer-class parameters the fixed scheme passes (in registers).
pub const MAX_INT_PARAMS: usize = 6;
/// `f64` parameters the fixed scheme passes (in `xmm0`–`xmm7`).
pub const MAX_F64_PARAMS: usize = 8;

/// A foreign function resolved at load time.
#[derive(Clone, Debug)]
pub(crate) struct ForeignFn {
    /// The declaration (for conversions and messages).
    pub(crate) decl: Foreign,
    /// The address `dlsym` gave.
    pub(crate) addr: usize,
}

/// Checks a declaration against the fixed calling scheme's limits.
pub fn check_scheme(f: &Foreign) -> Result<(), String> {
    if !cfg!(all(unix, target_arch = "x86_64")) {
        return Err(format!(
            "foreign function `{}` from `{}`: foreign calls are only supported on x86-64 Unix hosts (this is {} {})",
            f.symbol,
            f.library,
            std::env::consts::ARCH,
            std::env::consts::OS
        ));
    }
    let floats = f.params.iter().filter(|t| **t == FfiType::F64).count();
    let ints = f.params.len() - floats;
    if ints > MAX_INT_PARAMS || floats > MAX_F64_PARAMS {
        return Err(format!(
            "foreign function `{}` from `{}` takes {ints} integer-class and {floats} f64 parameters: at most {MAX_INT_PARAMS} and {MAX_F64_PARAMS} are supported (they are passed in registers only)",
            f.symbol, f.library
        ));
    }
    Ok(())
}

/// The loader's side: the policy check, the scheme check and `dlopen`/`dlsym`.
impl Vm {
    /// Resolves the declarations `fs` (appended to the loaded ones by the caller only
    /// once every one resolved, so that a failure leaves the VM unchanged).
    pub(crate) fn resolve_foreigns(
        &mut self,
        fs: &[Foreign],
    ) -> Result<Vec<std::sync::Arc<ForeignFn>>, String> {
        let mut out = Vec::with_capacity(fs.len());
        for f in fs {
            if !self.config.allow_ffi {
                return Err(format!(
                    "the program declares the foreign function `{}` from `{}`: foreign calls can break every guarantee of the verifier, so they must be allowed with --allow-ffi",
                    f.symbol, f.library
                ));
            }
            check_scheme(f)?;
            let addr = self.dl_symbol(&f.library, &f.symbol)?;
            out.push(std::sync::Arc::new(ForeignFn {
                decl: f.clone(),
                addr,
            }));
        }
        Ok(out)
    }

    #[cfg(all(unix, target_arch = "x86_64"))]
    fn dl_symbol(&mut self, library: &str, symbol: &str) -> Result<usize, String> {
        use std::ffi::{CStr, CString};
        let last_error = || {
            // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the
            // next dl call on this thread; it is copied at once.
            let e = unsafe { libc::dlerror() };
            if e.is_null() {
                "unknown error".to_string()
            } else {
                // SAFETY: non-NULL: a NUL-terminated string (see above).
                unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
            }
        };
        // The verifier rejects names with NUL bytes.
        let lib_c = CString::new(library).map_err(|_| "a library name holds NUL".to_string())?;
        let sym_c = CString::new(symbol).map_err(|_| "a symbol name holds NUL".to_string())?;
        let handle = match self.ffi_libs.get(library) {
            Some(&h) => h,
            None => {
                // SAFETY: a valid C string; the handle is kept (never closed) for the
                // life of the process, so resolved addresses stay valid.
                let h = unsafe { libc::dlopen(lib_c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
                if h.is_null() {
                    return Err(format!(
                        "cannot load the library `{library}` (for the foreign function `{symbol}`): {}",
                        last_error()
                    ));
                }
                self.ffi_libs.insert(library.to_string(), h as usize);
                h as usize
            }
        };
        // SAFETY: `handle` came from dlopen and was never closed; a valid C string.
        let p = unsafe { libc::dlsym(handle as *mut libc::c_void, sym_c.as_ptr()) };
        if p.is_null() {
            return Err(format!(
                "the library `{library}` has no symbol `{symbol}`: {}",
                last_error()
            ));
        }
        Ok(p as usize)
    }

    #[cfg(not(all(unix, target_arch = "x86_64")))]
    fn dl_symbol(&mut self, library: &str, symbol: &str) -> Result<usize, String> {
        Err(format!(
            "foreign function `{symbol}` from `{library}`: foreign calls are not supported on this host"
        ))
    }
}

fn is_bytes(v: Value) -> bool {
    // SAFETY: the tag is OBJ, and OBJ values point at live objects.
    v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind } == Kind::BYTES
}

/// One argument converted for C.
enum Arg {
    Int(u64),
    F64(f64),
}

/// A foreign function a trace may call directly from machine code: only `i64` and
/// `f64` parameters (no conversion can fault: the trace guards their tags), and an
/// `i64`, `i32`, `f64` or unit result (no conversion can fault after the call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectForeign {
    /// The address `dlsym` gave.
    pub addr: usize,
    /// The parameter types, in order (each `I64` or `F64`).
    pub params: Vec<FfiType>,
    /// The result type (`I64`, `I32`, `F64` or `Unit`).
    pub ret: FfiType,
}

impl Vm {
    /// Foreign function `fi`, if a trace may call it directly (see [`DirectForeign`]).
    pub fn direct_foreign(&self, fi: u32) -> Option<DirectForeign> {
        let f = self.foreigns.get(fi as usize)?;
        let scalar = f
            .decl
            .params
            .iter()
            .all(|t| matches!(t, FfiType::I64 | FfiType::F64));
        let ret_ok = matches!(
            f.decl.ret,
            FfiType::I64 | FfiType::I32 | FfiType::F64 | FfiType::Unit
        );
        (scalar && ret_ok).then(|| DirectForeign {
            addr: f.addr,
            params: f.decl.params.clone(),
            ret: f.decl.ret,
        })
    }

    /// Writes out what the program printed so far (a trace that calls C directly is
    /// entered with the buffer empty, as the interpreter's `ffi.call` flushes it
    /// before each call: C's own output comes after the program's).
    pub fn jit_flush_output(&mut self) {
        if !self.out.buffer().is_empty() {
            self.flush();
        }
    }
}

/// The interpreter's side: `ffi.call`.
impl Vm {
    /// `ffi.call`: calls foreign function `fi` with the `n` values at stack index `a0`
    /// and stores the converted result at stack index `dst`. Faults (with the C
    /// symbol's name) on an argument of the wrong kind, a str holding NUL, a NULL or
    /// non-UTF-8 str result, or a char result that is not a Unicode scalar value.
    pub(crate) fn ffi_call(
        &mut self,
        dst: usize,
        fi: u32,
        a0: usize,
        n: usize,
    ) -> Result<(), Trap> {
        // The verifier checked `fi` against the declarations and `n` against the
        // parameter count; the loader resolved every declaration.
        let Some(ff) = self.foreigns.get(fi as usize) else {
            return Err(self.error_plain(format!("foreign function {fi} is not loaded")));
        };
        // Shared, not copied: a call allocates nothing on the Rust heap unless it
        // passes strs or bytes.
        let ff = std::sync::Arc::clone(ff);
        let (addr, ret) = (ff.addr, ff.decl.ret);
        let (params, symbol) = (&ff.decl.params, &ff.decl.symbol);
        let mut ints = [0u64; MAX_INT_PARAMS];
        let mut floats = [0f64; MAX_F64_PARAMS];
        let (mut ni, mut nf) = (0usize, 0usize);
        // Owned copies that must outlive the call: C strings and byte buffers (with
        // the bytes object each buffer is copied back into).
        let mut cstrings: Vec<std::ffi::CString> = Vec::new();
        let mut buffers: Vec<(*mut heap::Header, Vec<u8>)> = Vec::new();
        for (i, &t) in params.iter().enumerate().take(n) {
            let v = self.stack[a0 + i];
            let bad = |vm: &Vm| {
                vm.error_plain(format!(
                    "foreign function `{symbol}`: argument {} must be {}, got {}",
                    i + 1,
                    t.name(),
                    vm.type_name(v)
                ))
            };
            let arg = match t {
                FfiType::I64 if v.tag == Tag::I64 => Arg::Int(v.bits),
                FfiType::I32 if v.tag == Tag::I64 => {
                    let x = v.bits as i64;
                    if i32::try_from(x).is_err() {
                        return Err(self.error_plain(format!(
                            "foreign function `{symbol}`: argument {} ({x}) does not fit a C int",
                            i + 1
                        )));
                    }
                    Arg::Int(x as i32 as i64 as u64)
                }
                FfiType::U64 if v.tag == Tag::U64 => Arg::Int(v.bits),
                FfiType::Bool if v.tag == Tag::BOOL => Arg::Int(v.bits),
                FfiType::Char if v.tag == Tag::CHAR => Arg::Int(v.bits),
                FfiType::Ptr if v.tag == Tag::PTR => Arg::Int(v.bits),
                FfiType::F64 if v.tag == Tag::F64 => Arg::F64(f64::from_bits(v.bits)),
                FfiType::Str if crate::interp::is_str(v) => {
                    // SAFETY: a live STR object (checked just above).
                    let s = unsafe { heap::bytes(v.ptr()) };
                    match std::ffi::CString::new(s) {
                        Ok(c) => {
                            let p = c.as_ptr() as u64;
                            cstrings.push(c);
                            Arg::Int(p)
                        }
                        Err(_) => {
                            return Err(self.error_plain(format!(
                                "foreign function `{symbol}`: argument {} holds a NUL byte, which C cannot see past",
                                i + 1
                            )))
                        }
                    }
                }
                FfiType::Bytes if is_bytes(v) => {
                    // SAFETY: a live BYTES object.
                    let mut copy = unsafe { heap::bytes(v.ptr()) }.to_vec();
                    // A buffer of length 0 still gets a valid, unique pointer.
                    copy.reserve(1);
                    let p = copy.as_mut_ptr() as u64;
                    buffers.push((v.ptr(), copy));
                    Arg::Int(p)
                }
                _ => return Err(bad(self)),
            };
            match arg {
                Arg::Int(x) => {
                    ints[ni] = x;
                    ni += 1;
                }
                Arg::F64(x) => {
                    floats[nf] = x;
                    nf += 1;
                }
            }
        }
        // C's own output (printf) must come after what the program printed before.
        if !self.out.buffer().is_empty() {
            self.flush();
        }
        // SAFETY: `addr` is the address dlsym gave for a function the program declared
        // with these parameter and result types (the caller's promise, which is why
        // foreign calls must be allowed explicitly); the scheme check at load time
        // bounded the argument counts, and every pointer passed (C strings, buffers)
        // lives until after the call.
        let (ri, rf) = unsafe { call(addr, &ints, &floats, ret == FfiType::F64) };
        // Copy the buffers back: nothing has allocated since the bytes objects were
        // read, so their addresses are still valid.
        for (h, buf) in &buffers {
            // SAFETY: a live BYTES object of `buf.len()` bytes (unchanged lengths).
            unsafe {
                let len = (**h).len as usize;
                std::ptr::copy_nonoverlapping(buf.as_ptr(), (*h as *mut u8).add(16), len);
            }
        }
        drop(cstrings);
        let v = match ret {
            FfiType::Unit => Value::UNIT,
            FfiType::Bool => Value::bool(ri as u8 != 0),
            FfiType::I64 => Value::i64(ri as i64),
            FfiType::I32 => Value::i64(ri as u32 as i32 as i64),
            FfiType::U64 => Value::u64(ri),
            FfiType::F64 => Value::f64(rf),
            FfiType::Ptr => Value::c_ptr(ri),
            FfiType::Char => match char::from_u32(ri as u32) {
                Some(c) => Value::char(c),
                None => {
                    return Err(self.error_plain(format!(
                        "foreign function `{symbol}` returned 0x{:x}, which is not a Unicode scalar value",
                        ri as u32
                    )))
                }
            },
            FfiType::Str => {
                if ri == 0 {
                    return Err(self.error_plain(format!(
                        "foreign function `{symbol}` returned NULL for a str result (declare the result ptr to test for NULL)"
                    )));
                }
                // SAFETY: a non-NULL `char *` result of a function declared to return
                // a NUL-terminated string; copied before anything else runs.
                let c = unsafe { std::ffi::CStr::from_ptr(ri as *const libc::c_char) };
                match c.to_str() {
                    Ok(s) => {
                        let s = s.to_owned();
                        self.new_str(&s)?
                    }
                    Err(_) => {
                        return Err(self.error_plain(format!(
                            "foreign function `{symbol}` returned a string that is not valid UTF-8"
                        )))
                    }
                }
            }
            FfiType::Bytes => {
                return Err(self.error_plain(format!(
                    "foreign function `{symbol}` is declared to return bytes"
                )))
            }
        };
        self.stack[dst] = v;
        Ok(())
    }
}

/// Calls `addr` with the fixed scheme (see the module documentation).
///
/// # Safety
/// `addr` must be a C function whose integer-class parameters are read from the first
/// entries of `ints` and `f64` parameters from the first of `floats`, returning a
/// `double` when `float_ret`, else an integer, pointer or nothing.
#[cfg(all(unix, target_arch = "x86_64"))]
unsafe fn call(addr: usize, ints: &[u64; 6], floats: &[f64; 8], float_ret: bool) -> (u64, f64) {
    type FnI = unsafe extern "C" fn(
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
    ) -> u64;
    type FnF = unsafe extern "C" fn(
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
    ) -> f64;
    let [i0, i1, i2, i3, i4, i5] = *ints;
    let [f0, f1, f2, f3, f4, f5, f6, f7] = *floats;
    if float_ret {
        // SAFETY: the caller's promise: a C function at `addr` reading these
        // registers (extra registers are ignored by a non-variadic callee).
        let f: FnF = unsafe { std::mem::transmute::<usize, FnF>(addr) };
        // SAFETY: as above.
        (0, unsafe {
            f(i0, i1, i2, i3, i4, i5, f0, f1, f2, f3, f4, f5, f6, f7)
        })
    } else {
        // SAFETY: as above.
        let f: FnI = unsafe { std::mem::transmute::<usize, FnI>(addr) };
        // SAFETY: as above.
        (
            unsafe { f(i0, i1, i2, i3, i4, i5, f0, f1, f2, f3, f4, f5, f6, f7) },
            0.0,
        )
    }
}

/// Never reached: nothing resolves on other hosts.
///
/// # Safety
/// None needed; it only reports.
#[cfg(not(all(unix, target_arch = "x86_64")))]
unsafe fn call(_: usize, _: &[u64; 6], _: &[f64; 8], _: bool) -> (u64, f64) {
    (0, 0.0)
}
