//! The `attendance-bridge` binary: everything lives in the library; see [`attendance_bridge::cli`].

fn main() -> std::process::ExitCode {
    #[cfg(unix)]
    restore_sigpipe();
    attendance_bridge::cli::run()
}

/// Rust ignores SIGPIPE, so `attendance-bridge devices list | head` would end in a panic when `head`
/// closes the pipe; the default disposition ends the process quietly, like other Unix tools.
#[cfg(unix)]
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: runs first thing in `main`, before any other thread exists, and only restores the
    // signal's default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
