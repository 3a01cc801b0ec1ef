//! The deployment files in `deploy/`: `systemd-analyze verify` accepts the units, they carry the
//! hardening the README promises, the Dockerfile builds with the commands `deploy/README.md` gives
//! (no container engine here: the test reads the Dockerfile's `RUN` lines and finds each in the
//! README's build block), and the example `bridge.toml` is valid and documents every key.

use std::path::PathBuf;
use std::process::Command;

use bridge_e2e::{bridge_binary, bridge_command, workspace_root};

fn deploy(file: &str) -> PathBuf {
    workspace_root().join("deploy").join(file)
}

const UNITS: [&str; 3] = ["attendance-bridge.service", "attendance-bridge-web.service", "attendance-bridge-worker.service"];

#[test]
fn systemd_accepts_the_units() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| std::path::Path::new(p).exists());
    let analyze = analyze.expect("systemd-analyze is needed: scripts/test.sh installs Debian's systemd package");
    let dir = tempfile::tempdir().expect("dir");
    for unit in UNITS {
        let text = std::fs::read_to_string(deploy(unit)).expect("unit");
        // `verify` checks that ExecStart= exists: point it at the binary just built instead of /usr/local/bin.
        let installed = text.replace("/usr/local/bin/attendance-bridge", &bridge_binary().display().to_string());
        std::fs::write(dir.path().join(unit), installed).expect("write");
    }
    let out = Command::new(analyze)
        .arg("verify")
        .args(UNITS.map(|u| dir.path().join(u)))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("systemd-analyze runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Only complaints about our units count (a container without a running systemd warns about itself).
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("attendance-bridge")).collect();
    println!("systemd-analyze verify: exit {:?}; {}", out.status.code(), if ours.is_empty() { "no complaint about the units".into() } else { ours.join(" | ") });
    assert!(ours.is_empty(), "{said}");
    assert!(out.status.success(), "{said}");
}

#[test]
fn units_are_hardened_and_run_the_right_role() {
    for (unit, role) in UNITS.into_iter().zip(["all", "web", "worker"]) {
        let text = std::fs::read_to_string(deploy(unit)).expect("unit");
        for line in [
            "DynamicUser=yes",
            "User=attendance-bridge",
            "StateDirectory=attendance-bridge",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "EnvironmentFile=-/etc/attendance-bridge/bridge.env",
            "Environment=BRIDGE_DATA_DIR=/var/lib/attendance-bridge",
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} has {line}");
        }
        let exec = text.lines().find(|l| l.starts_with("ExecStart=")).expect("ExecStart");
        assert!(exec.contains(&format!("serve --role {role}")), "{unit}: {exec}");
    }
}

/// The shell commands of the README's "Build the binary" block.
fn readme_build_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(deploy("README.md")).expect("README");
    let section = readme.split("## Build the binary").nth(1).expect("a build section");
    let block = section.split("```sh").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    block.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn the_dockerfile_builds_with_the_readmes_commands() {
    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = dockerfile.split("\nFROM ").collect();
    assert_eq!(stages.len(), 3, "two stages: builder and runtime");
    let builder = stages[1];
    assert!(builder.starts_with("rust:") && builder.contains("AS builder"), "{builder}");
    let runs: Vec<String> = builder.lines().filter_map(|l| l.strip_prefix("RUN ")).map(|l| l.trim().to_owned()).collect();
    let readme = readme_build_commands();
    println!("README build: {readme:?}; Dockerfile builder RUN: {runs:?}");
    assert_eq!(runs, readme, "the builder runs exactly the README's commands, in order");
    assert!(readme.contains(&"cargo build --release -p attendance-bridge".to_owned()));

    let runtime = stages[2];
    assert!(runtime.starts_with("debian:") && runtime.contains("-slim"), "{runtime}");
    assert!(runtime.contains("COPY --from=builder /src/target/release/attendance-bridge /usr/local/bin/attendance-bridge"));
    let user = runtime.lines().find_map(|l| l.strip_prefix("USER ")).expect("a USER line");
    assert!(user != "root" && user != "0", "runs as non-root: {user}");
    assert!(runtime.contains("VOLUME [\"/var/lib/attendance-bridge\"]"));
    let health = runtime.lines().skip_while(|l| !l.starts_with("HEALTHCHECK")).take(2).collect::<String>();
    assert!(health.contains("/livez"), "{health}");
}

#[test]
fn the_example_bridge_toml_is_valid_and_documents_every_key() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::copy(deploy("bridge.toml"), &path).expect("copy");
    let out = bridge_command(dir.path()).arg("--config").arg(&path).arg("check-config").output().expect("check-config");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&path).expect("read");
    for (name, _) in attendance_bridge::config::sources::ENV_KEYS {
        assert!(text.contains(name), "{name} is documented in deploy/bridge.toml");
    }
    // Every key is commented: the file changes nothing until an operator says so.
    assert!(text.lines().all(|l| !l.chars().next().is_some_and(|c| c.is_ascii_lowercase())), "keys are commented out");
}
