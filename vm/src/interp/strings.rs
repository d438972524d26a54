//! The string instructions: `tostr` (a value's display form as a new string), `scat`
//! (concatenation) and `print` (writing a string to the program's output). Each
//! allocates or does I/O, so they live out of the dispatch loop's code; the loop saves
//! the ip for a trace before calling them and refreshes its frame base after.

use super::*;

impl Vm {
    /// `tostr`: the display form of `v`, as a new string.
    pub(crate) fn display_str(&mut self, v: Value) -> Result<Value, Trap> {
        let s = self.display_checked(v)?;
        self.new_str(&s)
    }

    /// `scat`: the concatenation of the strings in slots `ia` and `ib` of the frame at
    /// `b`, faulting if either is not a string.
    pub(crate) fn concat(&mut self, b: usize, ia: usize, ib: usize) -> Result<Value, Trap> {
        let (x, y) = (self.stack[b + ia], self.stack[b + ib]);
        if !(is_str(x) && is_str(y)) {
            return Err(self.error_plain(format!(
                "string concatenation of {} and {}",
                self.type_name(x),
                self.type_name(y)
            )));
        }
        // SAFETY: both are strings (checked above), and OBJ values point at live objects.
        let (la, lb) = unsafe { ((*x.ptr()).len as usize, (*y.ptr()).len as usize) };
        let p = self.alloc(la + lb, Kind::STR, 0, 0, (la + lb) as u64)?;
        // Re-read the operands: the allocation may have moved them.
        let (x, y) = (self.stack[b + ia], self.stack[b + ib]);
        // SAFETY: `p` has room for `la + lb` bytes after its header, and the operands
        // are strings of `la` and `lb` bytes (a collection moves but never changes them).
        unsafe {
            let dst = (p as *mut u8).add(16);
            std::ptr::copy_nonoverlapping((x.ptr() as *const u8).add(16), dst, la);
            std::ptr::copy_nonoverlapping((y.ptr() as *const u8).add(16), dst.add(la), lb);
        }
        Ok(Value::obj(p))
    }

    /// `print`: writes the string `v` to the program's output.
    pub(crate) fn print_str(&mut self, v: Value) -> Result<(), Trap> {
        if !is_str(v) {
            return Err(self.error_plain(format!("print of a {}, not a str", self.type_name(v))));
        }
        use std::io::Write;
        // SAFETY: `v` is a string (checked above), a live object.
        let bytes = unsafe { heap::bytes(v.ptr()) };
        if let Err(e) = self.out.write_all(bytes) {
            // A reader that went away (`prog | head -1`) ends the program quietly, as
            // SIGPIPE ends a C program; a program printing in a loop would otherwise
            // never stop.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Err(Trap::Exit(0));
            }
            return Err(self.error_plain(format!("cannot write to standard output: {e}")));
        }
        Ok(())
    }
}
