//! The allocator's arenas. glibc gives each thread that meets contention an arena of its own (up
//! to eight per core), and memory freed in one is not reused by another: a long build, whose
//! store calls run on tokio's blocking threads, grew about 2.8 KiB an iteration that way (+17 MiB
//! over 5,000 iterations with the output stream on; the same build with one arena grew 1 KiB an
//! iteration, its session's own content). Two arenas are plenty for iteratr's few busy threads.

/// Caps glibc's arenas at two; call before any thread starts. Elsewhere (musl, macOS) nothing.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; called from main before any other
    // thread exists, nothing allocates concurrently.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
