//! The `attendance-bridge` binary: everything lives in the library; see [`attendance_bridge::cli`].

fn main() -> std::process::ExitCode {
    attendance_bridge::cli::run()
}
