//! Builds the misbehaving test plugin (`tests/plugins/evil`) once, into the shared target folder.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::workspace_root;

/// Path of `evil_plugin.wasm`, built on first use.
///
/// # Panics
/// When the build fails (the wasm target must be installed; `scripts/test.sh` does it).
pub fn evil_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
            let target = if target.is_absolute() { target } else { workspace_root().join(target) }.join("test-plugins");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(workspace_root().join("tests/plugins/evil"))
                .args(["build", "--quiet", "--release", "--target", "wasm32-unknown-unknown", "--target-dir"])
                .arg(&target)
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-component-ld")
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the evil test plugin failed (rustup target add wasm32-unknown-unknown?)");
            target.join("wasm32-unknown-unknown/release/evil_plugin.wasm")
        })
        .clone()
}
