//! The README's first command, run as a user runs it: `./scripts/demo.sh` from the repository with the
//! environment as it is (in CI: no `CARGO_TARGET_DIR`), to its ready banner, then Ctrl-C.
//!
//! It exists because the demo once failed on every fresh clone (a relative binary path used after a
//! `cd`) while every other test passed.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bridge_e2e::workspace_root;

/// Three consecutive free loopback ports for the simulated devices (the script numbers them from a base).
fn free_port_run(count: u16) -> u16 {
    for _ in 0..200 {
        let base = bridge_e2e::free_port();
        let Some(last) = base.checked_add(count) else { continue };
        let all_free = (base..last).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no run of {count} free loopback ports");
}

/// Sends `signal` to every process of the group `pgid` (`--` so the negative id is not read as an option).
fn signal_group(signal: &str, pgid: u32) -> std::process::ExitStatus {
    Command::new("kill").args(["-s", signal, "--", &format!("-{pgid}")]).status().expect("kill runs")
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

#[tokio::test]
async fn the_readme_demo_command_reaches_its_ready_banner_and_stops_on_ctrl_c() {
    let data = tempfile::tempdir().expect("data dir");
    let port = bridge_e2e::free_port();
    let crm_port = bridge_e2e::free_port();
    let device_port = free_port_run(3);

    let mut command = Command::new("bash");
    command.arg("scripts/demo.sh").current_dir(workspace_root());
    // A developer's own bridge settings must not change what a new user sees; the build settings
    // (CARGO_TARGET_DIR or its absence) are kept, since those are what broke the script.
    for (name, _) in attendance_bridge::config::sources::ENV_KEYS {
        command.env_remove(name);
    }
    command
        .env("DEMO_PORT", port.to_string())
        .env("DEMO_CRM_PORT", crm_port.to_string())
        .env("DEMO_DEVICE_PORT", device_port.to_string())
        .env("DEMO_DATA_DIR", data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so Ctrl-C reaches the script and everything it started, as in a terminal.
        .process_group(0);
    let mut demo = command.spawn().expect("bash runs the demo script");
    let pgid = demo.id();

    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let stdout = demo.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut stderr = demo.stderr.take().expect("stderr");
    let stderr_text = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(200);
    let ready = loop {
        match lines_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                let banner = line.contains("Attendance Bridge demo is running");
                seen.push(line);
                if banner {
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    if !ready {
        let _ = signal_group("KILL", pgid);
        let _ = demo.wait();
        panic!("the demo never printed its ready banner; stdout:\n{}\nstderr:\n{}", seen.join("\n"), stderr_text.join().unwrap_or_default());
    }
    // The rest of the banner (dashboard URL, account) follows the first line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|l| l.contains("Press Ctrl-C")) && Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    let banner = seen.join("\n");
    assert!(banner.contains(&format!("http://127.0.0.1:{port}/")), "the banner names the dashboard URL:\n{banner}");
    assert!(banner.contains("admin / "), "the banner names the login:\n{banner}");

    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.expect("the bridge answers");
    assert_eq!(ready.status(), 200, "the demo's bridge is ready");

    // Ctrl-C: the whole group gets SIGINT, as from a terminal.
    let status = signal_group("INT", pgid);
    assert!(status.success(), "SIGINT delivered to the demo's process group");
    let deadline = Instant::now() + Duration::from_secs(30);
    let exited = loop {
        if demo.try_wait().expect("wait on the demo").is_some() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !exited {
        let _ = signal_group("KILL", pgid);
        let _ = demo.wait();
        panic!("the demo did not stop within 30 s of Ctrl-C");
    }
    // Everything it started is gone: nothing answers on its ports any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while [port, crm_port, device_port].iter().any(|p| answers(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for p in [port, crm_port, device_port, device_port + 1, device_port + 2] {
        assert!(!answers(p), "port {p} is closed after Ctrl-C");
    }
    assert!(data.path().join("bridge.db").exists(), "the demo kept its data in the folder it was given");
}
