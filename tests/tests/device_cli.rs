//! `simulate-device` and `test-device` as operators run them: the real binary, real sockets on loopback.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use bridge_e2e::{Backend, TestDb, bridge_command};

struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `simulate-device` on a free port and waits until it says it is serving. The port is chosen
/// before the simulator binds it (its serial number is `SIM<port>`, so the port must be known up front);
/// should another process take it in between, the simulator exits and another port is tried.
fn simulate(dir: &std::path::Path, extra: &[&str]) -> (Simulator, u16) {
    for _ in 0..5 {
        let port = bridge_e2e::free_port();
        let mut child = bridge_command(dir)
            .args(["simulate-device", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("simulator starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let simulator = Simulator(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                assert!(line.contains("simulated device on"), "{line}");
                return (simulator, port);
            }
            // The output closed without the line: the simulator could not listen there.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the simulator never reported"),
        }
    }
    panic!("the simulator could not listen on any of five free ports");
}

fn test_device(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = bridge_command(dir).arg("test-device").args(args).args(["--timeout", "3"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "{text}");
    (out.status.success(), text)
}

#[test]
fn test_device_reports_serial_count_and_drift() {
    let dir = tempfile::tempdir().expect("dir");
    let (_sim, port) = simulate(dir.path(), &["--punches", "321", "--comm-key", "777", "--skew-seconds", "-120", "--record-size", "16"]);
    let port = port.to_string();
    for transport in [&[][..], &["--udp"][..]] {
        let (ok, text) = test_device(dir.path(), &[&["--ip", "127.0.0.1", "--port", &port, "--comm-key", "777"][..], transport].concat());
        assert!(ok, "{text}");
        assert!(text.contains(&format!("SIM{port}")), "serial number: {text}");
        assert!(text.contains("records:        321 of"), "record count: {text}");
        let drift_ok = (-125..=-115).any(|d| text.contains(&format!("drift {d} s")));
        assert!(drift_ok, "clock drift: {text}");
    }
}

#[test]
fn test_device_diagnoses_failures() {
    let dir = tempfile::tempdir().expect("dir");
    let (_sim, port) = simulate(dir.path(), &["--punches", "10", "--comm-key", "777"]);
    let (ok, text) = test_device(dir.path(), &["--ip", "127.0.0.1", "--port", &port.to_string(), "--comm-key", "778"]);
    assert!(!ok && text.contains("wrong comm key"), "{text}");
    let (ok, text) = test_device(dir.path(), &["--ip", "127.0.0.1", "--port", &bridge_e2e::free_port().to_string()]);
    assert!(!ok && text.contains("unreachable"), "{text}");
    let (ok, text) = test_device(dir.path(), &["--ip", "127.0.0.1", "--port", &bridge_e2e::free_port().to_string(), "--udp"]);
    assert!(!ok && (text.contains("timeout") || text.contains("unreachable")), "{text}");
}

bridge_e2e::on_both_backends!(test_device_by_id_and_all, set_time_by_hand_and_automatic_correction);

async fn test_device_by_id_and_all(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path();
    let (_sim, port) = simulate(dir, &["--punches", "42"]);
    let url = db.database_url();
    let add = bridge_command(dir)
        .args(["devices", "add", "--name", "Gate", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .env("DATABASE_URL", &url)
        .output()
        .expect("add");
    assert!(add.status.success());
    for args in [&["--device-id", "1"][..], &["--all"][..]] {
        let out = bridge_command(dir).arg("test-device").args(args).env("DATABASE_URL", &url).output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Gate: OK") && text.contains("records:        42 of"), "{text}");
    }
}

fn bridge(dir: &std::path::Path, url: &str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut command = bridge_command(dir);
    command.args(args).env("DATABASE_URL", url);
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

/// The offset the CLI printed after `label` (`clock offset +3600 s before` → 3600).
fn offset_after(text: &str, label: &str) -> i64 {
    let at = text.find(label).unwrap_or_else(|| panic!("{label:?} in {text}")) + label.len();
    text[at..].split_whitespace().next().and_then(|n| n.trim_start_matches('+').parse().ok()).unwrap_or_else(|| panic!("a number after {label:?}: {text}"))
}

/// `devices set-time` sets a polled device's clock now; `CLOCK_CORRECTION_SECONDS` makes polls correct a
/// clock that drifted past it (and leaves one within it alone).
async fn set_time_by_hand_and_automatic_correction(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path();
    let url = db.database_url();
    let (_fast, fast) = simulate(dir, &["--punches", "5", "--skew-seconds", "3600"]);
    let (_slow, slow) = simulate(dir, &["--punches", "5", "--skew-seconds", "-600"]);
    bridge(dir, &url, &["devices", "add", "--name", "Fast", "--ip", "127.0.0.1", "--port", &fast.to_string()], &[]);
    bridge(dir, &url, &["devices", "add", "--name", "Slow", "--ip", "127.0.0.1", "--port", &slow.to_string()], &[]);

    let set = bridge(dir, &url, &["devices", "set-time", "Fast", "--timeout", "3"], &[]);
    println!("{set}");
    assert!((offset_after(&set, "clock offset ") - 3600).abs() <= 2, "{set}");
    assert!(offset_after(&set, "s before, ").abs() <= 2, "{set}");

    // Slow is 10 minutes behind: a threshold of 15 minutes leaves it, 2 minutes corrects it.
    let lenient = bridge(dir, &url, &["poll-devices", "--device-id", "2", "--timeout", "3"], &[("CLOCK_CORRECTION_SECONDS", "900")]);
    assert!(!lenient.contains("clock corrected"), "{lenient}");
    let strict = bridge(dir, &url, &["poll-devices", "--device-id", "2", "--timeout", "3"], &[("CLOCK_CORRECTION_SECONDS", "120")]);
    println!("{strict}");
    assert!(strict.contains("(clock corrected)") && offset_after(&strict, "clock offset ").abs() <= 2, "{strict}");
    let again = bridge(dir, &url, &["poll-devices", "--device-id", "2", "--timeout", "3"], &[]);
    assert!(offset_after(&again, "clock offset ").abs() <= 2 && !again.contains("clock corrected"), "{again}");
}
