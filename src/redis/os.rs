//! The one call into the operating system rather than the server.

/// Lowers the calling thread's priority (nice +5; Linux keeps a nice value per thread).
/// A failure only leaves the priority as it was.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls about the calling thread, with no memory passed in.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 5);
    }
}
