//! The global allocator: mimalloc, with blocks of 1 MiB and more mapped directly from the OS.
//!
//! mimalloc serves every small allocation of the process — Rust's, and through its `override`
//! feature SQLite's C ones. With glibc's malloc, allocation took a quarter of the SQLite writer
//! thread's time (arena lock hand-offs with the runtime's threads, `malloc_consolidate`); with
//! mimalloc the server issues ~20 % more tickets per second (BENCHMARKS.md).
//!
//! Large blocks are the ~19 MiB working memory of each password hash. Both glibc and mimalloc
//! keep such blocks cached after they are freed (glibc in per-thread arenas, mimalloc until the
//! freeing thread allocates again — and a password thread may sleep for hours), which left the
//! idle server at 40–60 MiB instead of under 20. Mapping them with `mmap` and returning them
//! with `munmap` gives that memory back the moment the hash is done.

use std::alloc::{GlobalAlloc, Layout};

/// Turns transparent huge pages off for this process; call first thing in `main`.
///
/// Debian's kernel backs any large enough mapping with 2 MiB pages (`enabled=always`), and
/// mimalloc reserves its heap as one large mapping: each small block touched then made a whole
/// huge page resident, and the idle server sat at 38 MiB instead of under 20.
pub fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Blocks from this size on are mapped directly.
const LARGE: usize = 1 << 20;

/// See the module documentation.
pub struct Allocator;

fn is_large(layout: &Layout) -> bool {
    // mmap gives page alignment; larger alignments stay with mimalloc.
    layout.size() >= LARGE && layout.align() <= 4096
}

// SAFETY: small blocks are mimalloc's (a correct allocator); large blocks are fresh anonymous
// mappings of at least the requested size, page-aligned (which satisfies `is_large`'s alignment
// bound) and unmapped exactly once, with the same size, in `dealloc`. A block's path is decided
// by its layout, which Rust passes unchanged to `dealloc`.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            // SAFETY: an anonymous private mapping; no existing memory is touched.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    layout.size(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                std::ptr::null_mut()
            } else {
                p.cast()
            }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            // SAFETY: as `alloc`; fresh anonymous mappings are zero-filled.
            unsafe { self.alloc(layout) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            // SAFETY: `ptr` is a mapping of `layout.size()` bytes made by `alloc`.
            unsafe {
                libc::munmap(ptr.cast(), layout.size());
            }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` forms a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_large(&layout) && !is_large(&new) {
            // SAFETY: both sides are mimalloc's.
            return unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        }
        // Crossing to or from a mapping (or between mappings): allocate, copy, free.
        // SAFETY: `new` is valid (see above); the copy covers the smaller of the two blocks.
        unsafe {
            let out = self.alloc(new);
            if !out.is_null() {
                std::ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_blocks_round_trip_through_realloc() {
        let a = Allocator;
        for (from, to) in [
            (64, 4096),
            (4096, 2 << 20),
            (2 << 20, 3 << 20),
            (3 << 20, 128),
        ] {
            let layout = Layout::from_size_align(from, 8).unwrap();
            // SAFETY: valid layouts; every block is written within bounds and freed once.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                for i in 0..from {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = a.realloc(p, layout, to);
                assert!(!q.is_null());
                for i in 0..from.min(to) {
                    assert_eq!(*q.add(i), (i % 251) as u8, "byte {i} after {from} -> {to}");
                }
                a.dealloc(q, Layout::from_size_align(to, 8).unwrap());
            }
        }
    }
}
