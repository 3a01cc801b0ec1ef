//! The README's "Writing a plugin", followed literally in a temporary folder outside the workspace:
//! `cargo new`, the `.cargo/config.toml` it says to copy, the dependencies it says to add, its
//! `src/lib.rs` (read from the README itself, so the two cannot drift), a release build for the wasm
//! target, then `plugin check` and `plugin test` on the golden fixtures.
//!
//! Differences from a person at a terminal, all about the machine rather than the steps: cargo runs
//! offline (tests talk to loopback only; the workspace's build already fetched every crate), on the
//! toolchain this workspace pins (which has the wasm target), with a build folder kept inside the
//! workspace's target folder so reruns are incremental.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust block the README marks `<!-- walkthrough:lib.rs -->`.
fn readme_lib_rs(readme: &str) -> String {
    let marker = readme.find("<!-- walkthrough:lib.rs -->").expect("the README marks the walk-through's lib.rs");
    let rest = &readme[marker..];
    let start = rest.find("```rust\n").expect("a rust block follows the marker") + "```rust\n".len();
    let end = rest[start..].find("```").expect("the block ends");
    rest[start..start + end].to_owned()
}

/// The `cat >> Cargo.toml <<TOML … TOML` lines of the README, with `$BRIDGE` filled in.
fn readme_cargo_toml_additions(readme: &str, bridge: &Path) -> String {
    let start = readme.find("cat >> Cargo.toml <<TOML\n").expect("the README appends to Cargo.toml") + "cat >> Cargo.toml <<TOML\n".len();
    let end = readme[start..].find("\nTOML\n").expect("the heredoc ends");
    format!("{}\n", readme[start..start + end].replace("$BRIDGE", &bridge.display().to_string()))
}

/// The toolchain `rust-toolchain.toml` pins.
fn pinned_toolchain(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("rust-toolchain.toml")).expect("rust-toolchain.toml");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("channel").map(|v| v.trim_start_matches([' ', '=']).trim().trim_matches('"').to_owned()))
        .expect("a channel")
}

fn cargo(root: &Path, dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(dir).env("RUSTUP_TOOLCHAIN", pinned_toolchain(root)).env("CARGO_NET_OFFLINE", "true");
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET", "CARGO", "RUSTC"] {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

/// The workspace's target folder (where the test binaries live), for the walk-through's own build.
fn build_folder() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    // target/<profile>/deps/<test binary>
    exe.ancestors().nth(3).map(|t| t.join("plugin-walkthrough")).unwrap_or_else(|| std::env::temp_dir().join("plugin-walkthrough"))
}

#[test]
fn a_new_author_gets_from_cargo_new_to_a_checked_and_tested_plugin() {
    let root = bridge_e2e::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let home = tempfile::tempdir().expect("temp dir");
    assert!(!home.path().starts_with(&root), "outside the workspace");

    // cargo new --lib my-rules && cd my-rules
    run(cargo(&root, home.path()).args(["new", "--lib", "my-rules"]));
    let project = home.path().join("my-rules");
    // mkdir -p .cargo && cp "$BRIDGE/.cargo/config.toml" .cargo/
    std::fs::create_dir_all(project.join(".cargo")).expect("mkdir");
    std::fs::copy(root.join(".cargo/config.toml"), project.join(".cargo/config.toml")).expect("copy config");
    // cat >> Cargo.toml <<TOML … TOML
    let mut manifest = std::fs::read_to_string(project.join("Cargo.toml")).expect("manifest");
    assert!(manifest.trim_end().ends_with("[dependencies]"), "cargo new ends the manifest with [dependencies]:\n{manifest}");
    manifest.push_str(&readme_cargo_toml_additions(&readme, &root));
    std::fs::write(project.join("Cargo.toml"), manifest).expect("write manifest");
    // src/lib.rs
    std::fs::write(project.join("src/lib.rs"), readme_lib_rs(&readme)).expect("write lib.rs");

    // cargo build --release --target wasm32-unknown-unknown
    let target = build_folder();
    run(cargo(&root, &project).args(["build", "--release", "--target", "wasm32-unknown-unknown"]).env("CARGO_TARGET_DIR", &target));
    let wasm = target.join("wasm32-unknown-unknown/release/my_rules.wasm");
    assert!(wasm.exists(), "{} built", wasm.display());

    let data = tempfile::tempdir().expect("data dir");
    let bridge = |args: &[&str]| {
        let mut command = bridge_e2e::bridge_command(data.path());
        command
            .args(args)
            .env("DATABASE_URL", format!("sqlite://{}", data.path().join("bridge.db").display()))
            .env("BRIDGE_DATA_DIR", data.path().join("data"));
        command
    };
    let wasm_arg = wasm.display().to_string();
    // attendance-bridge plugin check …/my_rules.wasm
    let checked = run(&mut bridge(&["plugin", "check", &wasm_arg]));
    assert!(checked.contains("implements world typed-shift-rules of attendance:plugin@2.0.0"), "{checked}");
    assert!(checked.contains("the plugin calls itself my-rules 0.1.0"), "{checked}");
    assert!(!checked.contains("host@1.0.0"), "the current interface needs nothing of version 1: {checked}");
    // attendance-bridge plugin test …/my_rules.wasm "$BRIDGE/tests/fixtures/shift-fixtures.json"
    let fixtures = root.join("tests/fixtures/shift-fixtures.json").display().to_string();
    let tested = run(&mut bridge(&["plugin", "test", &wasm_arg, &fixtures]));
    assert!(tested.trim_end().ends_with("48 passed, 0 failed"), "{tested}");
}
