//! Hints that memory will be read soon, so its cache misses overlap other work.
//! A prefetch reads nothing the program can see and never faults: a hint at a
//! wrong address costs a little time, never correctness.

const LINE: usize = 64;

/// A hint that the cache line holding `p` will be read soon.
#[inline]
pub fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of x86_64, and a prefetch is only a hint: it reads
        // nothing the program can see and never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A hint that up to `max_lines` cache lines' worth of `bytes`, from its start,
/// will be read soon.
#[inline]
pub fn lines(bytes: &[u8], max_lines: usize) {
    let p = bytes.as_ptr();
    let span = bytes.len().min(max_lines * LINE);
    let mut offset = 0;
    while offset < span {
        line(p.wrapping_add(offset));
        offset += LINE;
    }
    // `bytes` may start in the middle of a line: the last line asked for too.
    if span > 0 {
        line(p.wrapping_add(span - 1));
    }
}
