//! Shared helpers for the end-to-end suites in `tests/tests/`.
//!
//! - [`TestDb`]: a throwaway database on SQLite (a temp file) or PostgreSQL (a new database on the
//!   server at `BRIDGE_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`, dropped
//!   afterwards). PostgreSQL being unreachable fails the test: it is never skipped.
//! - [`TestApp`]: the real application served on `127.0.0.1:0` in-process.
//! - [`bridge_command`]: the real `attendance-bridge` binary, freshly built.
//! - [`smtp_sink::SmtpSink`]: a local SMTP server that keeps what it receives.
//! - [`crm`]: processed days to deliver and a sender wired to a mock CRM.
//! - [`browser::Chrome`]: headless Chromium over WebDriver for the page suites (screenshots, PDF).

pub mod app;
pub mod browser;
pub mod crm;
pub mod db;
pub mod plugins;
pub mod pyzk;
pub mod report_seed;
pub mod smtp_sink;
pub mod web;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub use app::TestApp;

/// Turns each `async fn check(Backend)` into two tests, `check::sqlite` and `check::postgres`,
/// so every storage-touching behaviour is specified once and checked on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check($crate::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check($crate::Backend::Postgres).await;
            }
        }
    )*};
}
pub use db::{Backend, TestDb};

/// A loopback port nothing listens on right now (for "nothing answers there" cases and for servers
/// that must restart on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// Spawns `command` (its environment already set) as `serve --listen LISTEN`, stdout discarded, and
/// waits for the log line that says where it listens; returns the child and that address
/// (`127.0.0.1:PORT`, the chosen one when LISTEN asks for port 0).
///
/// # Panics
/// When the server exits or stays silent instead of listening.
pub fn spawn_serve(command: Command, listen: &str) -> (std::process::Child, String) {
    try_spawn_serve(command, listen).unwrap_or_else(|| panic!("serve --listen {listen} did not start listening"))
}

/// [`spawn_serve`], returning `None` (the child reaped) when the server ends or stays silent for a
/// minute instead of listening, e.g. because the port is taken; for restarts on a fixed port.
pub fn try_spawn_serve(mut command: Command, listen: &str) -> Option<(std::process::Child, String)> {
    use std::io::{BufRead as _, BufReader};
    let mut child = command
        .args(["serve", "--listen", listen])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps reading to the end, so the child never blocks on a full stderr pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(address) => Some((child, address)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

/// A punch whose device wall time is UTC (status 0, fingerprint), for suites that seed storage directly.
pub fn utc_punch(device: attendance_bridge::domain::DeviceId, employee: &str, at: chrono::DateTime<chrono::Utc>, state: u8) -> attendance_bridge::store::punches::NewPunch {
    attendance_bridge::store::punches::NewPunch {
        device_id: device,
        employee: attendance_bridge::domain::EmployeeId(employee.into()),
        local_time: attendance_bridge::domain::WallTime(at.naive_utc()),
        utc_time: at,
        status: 0,
        punch_state: state,
        verify_type: 1,
        device_seq: None,
    }
}

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`).
///
/// # Panics
/// Where `/proc` is missing or lacks the field: a benchmark must not report a made-up figure.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| panic!("reading /proc/self/status for {field}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Peak resident memory of this process since start or the last [`reset_peak_memory`], MiB (`VmHWM`).
/// For the benchmarks' reports.
///
/// # Panics
/// Where `/proc/self/status` is missing (the benchmarks measure memory on Linux only).
pub fn peak_memory_mib() -> f64 {
    proc_status_kib("VmHWM") as f64 / 1024.0
}

/// The peak of this process's private memory (`RssAnon`: heap, stacks, anonymous maps) over a
/// phase, sampled every 20 ms by a thread of its own. Beside [`peak_memory_mib`]: `VmHWM` also counts
/// file pages mapped into the process, and SQLite reads its database through a memory map (the
/// kernel's page cache, shared, dropped under pressure), so on SQLite the resident peak grows with
/// the database file while the private peak shows what the work itself holds.
pub struct PrivateMemoryPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PrivateMemoryPeak {
    /// Starts sampling.
    pub fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = proc_status_kib("RssAnon");
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(20));
                peak = peak.max(proc_status_kib("RssAnon"));
            }
            peak
        });
        PrivateMemoryPeak { stop, sampler }
    }

    /// Stops sampling; the peak in MiB.
    ///
    /// # Panics
    /// When the sampler panicked (no `/proc`).
    pub fn finish(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().expect("memory sampler") as f64 / 1024.0
    }
}

/// Resets the peak to the current resident size (Linux `clear_refs` 5), so one phase is measured alone.
///
/// # Panics
/// When the reset is refused or does not take: a "peak while processing" would otherwise silently be
/// the whole process's peak.
pub fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap_or_else(|e| panic!("cannot reset the peak memory (/proc/self/clear_refs): {e}"));
    // Right after the reset the peak is the current size (give or take what a concurrent thread
    // allocated in between).
    let (peak, now) = (proc_status_kib("VmHWM"), proc_status_kib("VmRSS"));
    assert!(peak <= now + 64 * 1024, "the peak memory was not reset: VmHWM {peak} KiB, VmRSS {now} KiB");
}

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// The `attendance-bridge` binary, built once per test process so it is never stale.
pub fn bridge_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "attendance-bridge", "--bin", "attendance-bridge"])
                .current_dir(workspace_root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building attendance-bridge failed");
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
            let target = if target.is_absolute() { target } else { workspace_root().join(target) };
            target.join("debug").join("attendance-bridge")
        })
        .clone()
}

/// A command running the binary in an empty working folder with no inherited bridge settings,
/// so a developer's own `.env` or environment cannot change a test's outcome.
pub fn bridge_command(workdir: &std::path::Path) -> Command {
    let mut command = Command::new(bridge_binary());
    command.current_dir(workdir);
    for (name, _) in attendance_bridge::config::sources::ENV_KEYS {
        command.env_remove(name);
    }
    command.env_remove("RUST_LOG");
    command
}

#[cfg(test)]
mod tests {
    use super::{peak_memory_mib, reset_peak_memory};

    #[test]
    fn the_peak_memory_resets_to_the_current_size() {
        let block = vec![1u8; 256 << 20];
        std::hint::black_box(&block);
        drop(block);
        let before = peak_memory_mib();
        assert!(before >= 256.0, "the block counted in the peak: {before} MiB");
        reset_peak_memory();
        let after = peak_memory_mib();
        assert!(after < before - 200.0, "the peak was reset: {before} MiB -> {after} MiB");
    }
}
