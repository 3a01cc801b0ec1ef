//! Builds the built-in plugins (`plugins/*`) as WebAssembly components and leaves them in `OUT_DIR`
//! for `include_bytes!`, so the binary carries its standard rules and needs no files beside it.
//!
//! The nested cargo uses its own target folder (the outer build holds the lock on the usual one)
//! and the workspace's `.cargo/config.toml`, which links wasm32 with `wasm-component-ld`.

use std::path::PathBuf;
use std::process::Command;

const PLUGINS: &[(&str, &str)] = &[("crm-json", "crm_json"), ("standard-shifts", "standard_shifts"), ("quarter-hour", "quarter_hour")];

fn main() {
    // `embed_migrations!` reads these folders at compile time; a new migration must rebuild the crate.
    println!("cargo:rerun-if-changed=../migrations");
    if std::env::var_os("CARGO_FEATURE_BUILTIN_PLUGINS").is_none() {
        return;
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.parent().map(PathBuf::from).unwrap_or_default();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    for watched in ["plugin-sdk/src", "plugin-sdk/wit", "plugin-sdk/Cargo.toml", "plugins"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = out.join("plugin-build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(&root).args(["build", "--release", "--target", "wasm32-unknown-unknown", "--target-dir"]).arg(&target_dir);
    // Plugins are small: whole-program optimisation is cheap for them and inlines chrono's calls.
    command.args(["--config", "profile.release.lto=true", "--config", "profile.release.codegen-units=1"]);
    for (package, _) in PLUGINS {
        command.args(["-p", package]);
    }
    // Flags meant for the host build must not leak into the wasm build.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"] {
        command.env_remove(var);
    }
    let status = command.status();
    match status {
        Ok(s) if s.success() => {}
        _ => panic!(
            "building the built-in plugins failed; is the wasm target installed? run: rustup target add wasm32-unknown-unknown"
        ),
    }
    let dest = out.join("plugins");
    std::fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("cannot create {}: {e}", dest.display()));
    for (_, file) in PLUGINS {
        let built = target_dir.join("wasm32-unknown-unknown/release").join(format!("{file}.wasm"));
        std::fs::copy(&built, dest.join(format!("{file}.wasm"))).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    }
}
