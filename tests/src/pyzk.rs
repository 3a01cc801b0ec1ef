//! Runs the independent Python client `pyzk` (pinned in `tests/python/requirements.txt`) against a
//! device address and returns what it read. The interpreter is `BRIDGE_TEST_PYTHON` or the
//! `.venv-test` that `scripts/test.sh` prepares; without it the test fails with instructions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use crate::workspace_root;

/// The Python interpreter with pyzk installed.
///
/// # Panics
/// When none is found: the suite must not silently skip the independent check.
pub fn python() -> PathBuf {
    let path = std::env::var_os("BRIDGE_TEST_PYTHON").map_or_else(|| workspace_root().join(".venv-test/bin/python"), PathBuf::from);
    assert!(
        path.exists(),
        "pyzk is needed: run ./scripts/test.sh (it creates .venv-test), or set BRIDGE_TEST_PYTHON to a Python with pyzk installed ({} missing)",
        path.display()
    );
    path
}

/// Reads everything with pyzk; returns its JSON report.
///
/// # Panics
/// When pyzk fails (its error output is shown).
pub fn read_device(address: SocketAddr, comm_key: u32, udp: bool) -> serde_json::Value {
    let script = workspace_root().join("tests/python/pyzk_read.py");
    let out = Command::new(python())
        .arg(script)
        .args([address.ip().to_string(), address.port().to_string(), comm_key.to_string()])
        .arg(if udp { "udp" } else { "tcp" })
        .output()
        .expect("python runs");
    assert!(out.status.success(), "pyzk failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("pyzk prints JSON")
}
