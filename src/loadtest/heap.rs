//! Giving the allocator's free memory back to the system, once per interval (the writer thread does it).
//!
//! Why: a backlog (the broker stalled for seconds, the host stole the CPU) makes the generator hold more at once:
//! owner sessions keep opening connections whose CONNACK does not come, each with its task, its channel and its
//! buffers, and publishes wait for their acknowledgement. When the backlog clears they are freed, but glibc's
//! malloc gives memory back to the system only from the top of its heap, and the long-lived allocations made
//! meanwhile sit above the freed ones: the pages stay resident, free but kept. Measured (ad hoc, a 120-s headline
//! run with mosquitto stopped for 3 s; glibc's own counters read each second): memory in use went 123 -> 165 -> 128
//! MB, while the heap kept 43 MB free and RSS stayed 25 % above its level before the stall for the rest of the run.
//! `malloc_trim(0)` returns the whole free pages inside the heap (`madvise(MADV_DONTNEED)`), so RSS follows the
//! memory in use again; it cost 0.1-0.2 ms a call there, on the writer thread, off the recorder's loop.
//!
//! Only glibc targets do it (the glibc Pi builds too); musl's allocator (the default, static Pi builds) hands freed
//! memory back itself, and elsewhere this is a no-op.

/// Returns the allocator's free pages to the system; whether any were returned.
pub(super) fn give_back() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes the allocator's own locks; it frees nothing that is in use.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// How many of the pages spanning `from..to` are resident (mincore), and how many there are.
    fn resident(from: usize, to: usize) -> (usize, usize) {
        let page = 4096;
        let start = from & !(page - 1);
        let pages = (to - start).div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: the range lies inside this thread's heap (the chunks below keep it mapped); vec has a byte a page.
        let rc = unsafe { libc::mincore(start as *mut libc::c_void, pages * page, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        (vec.iter().filter(|&&b| b & 1 == 1).count(), pages)
    }

    #[test]
    fn the_free_pages_a_backlog_left_inside_the_heap_are_given_back() {
        // A backlog's pattern: many small allocations, a few of them long-lived, the rest freed.
        let mut chunks: Vec<Box<[u8; 512]>> = (0..100_000).map(|_| Box::new([1u8; 512])).collect();
        let (lo, hi) =
            chunks.iter().map(|c| c.as_ptr() as usize).fold((usize::MAX, 0), |(l, h), p| (l.min(p), h.max(p)));
        let kept: Vec<_> = chunks.drain(..).enumerate().filter(|(i, _)| i % 64 == 0).map(|(_, c)| c).collect();
        let (before, pages) = resident(lo, hi);
        assert!(before * 10 > pages * 9, "freed but kept: {before} of {pages} pages resident before the trim");

        assert!(give_back(), "malloc_trim returned nothing");
        let (after, _) = resident(lo, hi);
        assert!(after * 4 < pages, "{after} of {pages} pages still resident after the trim ({before} before)");
        assert!(kept.iter().all(|c| c.iter().all(|&b| b == 1)), "a chunk in use lost its contents");
    }
}
