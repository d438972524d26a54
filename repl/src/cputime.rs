//! CPU time of the calling thread, for `:time`.
//!
//! The REPL runs programs on its own thread, so that thread's CPU time is what an
//! evaluation cost. It is read from Linux's `/proc/thread-self/schedstat` (its first
//! field is the time spent on the CPU, in nanoseconds), which needs no `unsafe`; where
//! that file does not exist, `:time` reports only the elapsed time.

use std::time::Duration;

/// The CPU time the calling thread has used so far, if the system tells.
pub fn now() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_grows_with_work() {
        let Some(t0) = super::now() else {
            return; // Not Linux: nothing to measure.
        };
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let t1 = super::now().expect("readable once");
        assert!(t1 > t0, "{t0:?} {t1:?}");
    }
}
