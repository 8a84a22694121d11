//! `smartqueue-server` command line: see `smartqueue_server::cli`.

fn main() -> std::process::ExitCode {
    tune_allocator();
    smartqueue_server::cli::main()
}

/// Password hashing allocates ~19 MiB per sign-in. glibc's adaptive mmap threshold then rises
/// to that size and such blocks are recycled inside per-thread arenas instead of being returned,
/// which grew the server to hundreds of MiB after a few dozen sign-ins (BENCHMARKS.md). A fixed
/// threshold keeps large blocks mmapped, so freeing them gives the memory back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets an allocator parameter; it is called once, before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
