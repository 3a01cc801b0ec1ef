//! Builds the misbehaving test plugins (`tests/plugins/*`) once each, into the shared target folder.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::workspace_root;

/// Builds the plugin crate in `tests/plugins/<dir>` for the wasm target and returns the path of its
/// component, `<artifact>.wasm`.
///
/// # Panics
/// When the build fails (the wasm target must be installed; `scripts/test.sh` does it).
fn build(dir: &str, artifact: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let target = if target.is_absolute() { target } else { workspace_root().join(target) }.join("test-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root().join("tests/plugins").join(dir))
        .args(["build", "--quiet", "--release", "--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(&target)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-component-ld")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the {dir} test plugin failed (rustup target add wasm32-unknown-unknown?)");
    target.join(format!("wasm32-unknown-unknown/release/{artifact}.wasm"))
}

/// Path of `evil_plugin.wasm` (endless loop, allocation bomb, panic), built on first use.
///
/// # Panics
/// When the build fails.
pub fn evil_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("evil", "evil_plugin")).clone()
}

/// Path of `rogue_rules.wasm`, a version-1 shift-rules plugin breaking the output contract as the
/// user id asks (see its crate doc), built on first use.
///
/// # Panics
/// When the build fails.
pub fn rogue_rules_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("rogue-rules", "rogue_rules")).clone()
}

/// Path of `rogue_crm.wasm`, a crm-mapping plugin breaking the output contract as the user id
/// asks, built on first use.
///
/// # Panics
/// When the build fails.
pub fn rogue_crm_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("rogue-crm", "rogue_crm")).clone()
}
