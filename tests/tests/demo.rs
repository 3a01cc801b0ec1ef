//! The README's first command, as a user meets it.
//!
//! - `./scripts/demo.sh` from the repository with the environment as it is (in CI: no
//!   `CARGO_TARGET_DIR`), to its ready banner, then Ctrl-C. It exists because the demo once failed on
//!   every fresh clone (a relative binary path used after a `cd`) while every other test passed. It
//!   builds the binary through `cargo run` (the debug profile, whose dependencies the suite has
//!   built already); the nextest override in `.config/nextest.toml` still allows a slow machine.
//! - `attendance-bridge demo` (the debug binary the suite builds anyway): signing in with the login
//!   the banner prints shows processed and synced days in the browser, with outliers a handful; a
//!   second run reuses the data and the logins.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bridge_e2e::browser::Chrome;
use bridge_e2e::workspace_root;

/// Sends `signal` to every process of the group `pgid` (`--` so the negative id is not read as an option).
fn signal_group(signal: &str, pgid: u32) -> std::process::ExitStatus {
    Command::new("kill").args(["-s", signal, "--", &format!("-{pgid}")]).status().expect("kill runs")
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

/// A running demo: its process group, its banner, and its stderr (read to the end when it stops).
struct Demo {
    child: Child,
    banner: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Demo {
    /// Starts `command` in its own process group (so Ctrl-C reaches everything it started, as in a
    /// terminal) and waits up to `timeout` for the whole banner.
    fn start(mut command: Command, timeout: Duration) -> Demo {
        // A developer's own bridge settings must not change what a new user sees; the build settings
        // (CARGO_TARGET_DIR or its absence) are kept, since those are what broke the script once.
        for (name, _) in attendance_bridge::config::sources::ENV_KEYS {
            command.env_remove(name);
        }
        command.env_remove("RUST_LOG").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = command.spawn().expect("the demo starts");
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut demo = Demo { child, banner: Vec::new(), stderr: Some(stderr) };
        let deadline = Instant::now() + timeout;
        loop {
            match lines_rx.recv_timeout(Duration::from_millis(500)) {
                Ok(line) => {
                    let end = line.contains("Press Ctrl-C");
                    demo.banner.push(line);
                    if end {
                        return demo;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => {
                    let _ = signal_group("KILL", demo.child.id());
                    let _ = demo.child.wait();
                    let stderr = demo.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
                    panic!("the demo never printed its ready banner; stdout:\n{}\nstderr:\n{stderr}", demo.banner.join("\n"));
                }
            }
        }
    }

    /// The value after `label` on the banner's line starting with it (`Dashboard:` → the URL).
    fn field(&self, label: &str) -> String {
        self.banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("the banner has a {label} line:\n{}", self.banner.join("\n")))
    }

    /// The password of `user` as the banner prints it (`Admin:      admin / PASSWORD`).
    fn password(&self, label: &str, user: &str) -> String {
        let value = self.field(label);
        value.strip_prefix(&format!("{user} / ")).unwrap_or_else(|| panic!("{label} names {user}: {value}")).to_owned()
    }

    /// Ctrl-C to the whole group, as from a terminal; the demo must be gone within a minute (a
    /// processing run in progress finishes first; the debug build on a busy machine is slow).
    fn stop(mut self) -> String {
        let status = signal_group("INT", self.child.id());
        assert!(status.success(), "SIGINT delivered to the demo's process group");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().expect("wait on the demo").is_none() {
            if Instant::now() > deadline {
                let _ = signal_group("KILL", self.child.id());
                let _ = self.child.wait();
                let stderr = self.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
                panic!("the demo did not stop within a minute of Ctrl-C; stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default()
    }
}

/// The port of `http://127.0.0.1:PORT/…`.
fn port_of(url: &str) -> u16 {
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap_or_else(|| panic!("a loopback URL: {url}"));
    rest.trim_end_matches('/').split(['/', ' ']).next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("a port in {url}"))
}

fn debug_demo(data: &Path) -> Command {
    let mut command = Command::new(bridge_e2e::bridge_binary());
    command.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data).current_dir(data);
    command
}

#[tokio::test]
async fn the_readme_demo_command_reaches_its_ready_banner_and_stops_on_ctrl_c() {
    let data = tempfile::tempdir().expect("data dir");
    let port = bridge_e2e::free_port();
    let mut command = Command::new("bash");
    command.arg("scripts/demo.sh").args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(data.path());
    command.current_dir(workspace_root());
    // `cargo run` may rebuild the host crate (features resolve differently for `-p`); the nextest
    // override allows a slow machine.
    let demo = Demo::start(command, Duration::from_secs(1700));
    let dashboard = demo.field("Dashboard:");
    assert_eq!(dashboard, format!("http://127.0.0.1:{port}/"), "the banner names the dashboard URL");
    assert!(!demo.password("Admin:", "admin").is_empty());
    let crm_port = port_of(&demo.field("Mock CRM:"));

    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.expect("the bridge answers");
    assert_eq!(ready.status(), 200, "the demo's bridge is ready");

    demo.stop();
    // Everything it started is gone: nothing answers on its ports any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while [port, crm_port].iter().any(|p| answers(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!answers(port) && !answers(crm_port), "the dashboard and the mock CRM are closed after Ctrl-C");
    assert!(data.path().join("bridge.db").exists(), "the demo kept its data in the folder it was given");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_the_printed_login_shows_processed_and_synced_days_with_a_handful_of_outliers() {
    let data = tempfile::tempdir().expect("data dir");
    let started = Instant::now();
    let demo = Demo::start(debug_demo(data.path()), Duration::from_secs(400));
    let ready_after = started.elapsed();
    let dashboard = demo.field("Dashboard:");
    let admin = demo.password("Admin:", "admin");
    let viewer = demo.password("Viewer:", "viewer");
    assert_ne!(admin, viewer, "two logins, two passwords");
    let banner = demo.banner.join("\n");
    eprintln!("demo ready after {:.1} s:\n{banner}", ready_after.as_secs_f64());

    // What the CRM got: days, each once.
    let crm = reqwest::get(format!("{}", demo.field("Mock CRM:").split_whitespace().next().expect("a URL")))
        .await
        .expect("the mock CRM answers")
        .json::<serde_json::Value>()
        .await
        .expect("CRM stats as JSON");
    let applied = crm["applied"].as_u64().expect("applied");
    assert!(applied > 300, "the first pass delivered the history to the CRM: {crm}");
    assert_eq!(crm["duplicates"], 0, "no day posted twice: {crm}");

    let chrome = Chrome::start(dashboard.trim_end_matches('/'), "demo").await;
    chrome.sign_in("admin", &admin).await;
    assert_eq!(chrome.current_path().await, "/");
    let text = chrome.page_text().await;
    chrome.screenshot("demo-home").await;
    assert!(text.contains("Lobby (push)") && text.contains("Night gate"), "the home page lists the devices: {text}");
    // The figures behind the page, as the signed-in admin reads them through the API.
    let (status, _, body) = chrome.download("/api/processed-attendance/stats/").await;
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_slice(&body).expect("stats as JSON");
    let days = stats["processed_days"].as_i64().expect("processed_days");
    let outliers = stats["outliers"].as_i64().expect("outliers");
    let synced = stats["synced"].as_i64().expect("synced");
    assert!(days > 300, "a few weeks of processed days: {stats}");
    assert!(synced * 10 > days * 9, "the days went to the CRM: {stats}");
    assert!(outliers > 0, "the history has real outliers: {stats}");
    assert!(outliers * 100 < days * 15, "outliers are a handful: {outliers} of {days} days");
    for device in stats["device_status"].as_array().expect("device_status") {
        assert!(device["last_sync"].is_string(), "every device has synced, the push terminal too: {device}");
        assert!(device["last_error"].is_null(), "no device has an error: {device}");
    }
    chrome.close().await;

    let stderr = demo.stop();
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");

    // Again, without --fresh: the same data and logins.
    let again = Demo::start(debug_demo(data.path()), Duration::from_secs(400));
    assert_eq!(again.password("Admin:", "admin"), admin, "a second run keeps the logins");
    let now_line = again.field("Processed:");
    let days_again: i64 = now_line.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("a count: {now_line}"));
    assert!(days_again >= days, "a second run keeps the days ({days} -> {days_again})");
    again.stop();
}
