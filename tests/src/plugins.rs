//! Test plugins and compile caches: the misbehaving test plugins (`tests/plugins/*`), each built once
//! into the shared target folder, and a compile cache of its own for every test, started warm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use attendance_bridge::plugins::registry::BUILTINS;
use attendance_bridge::plugins::{Limits, PluginRuntime, Registry};

use crate::workspace_root;

/// Builds the plugin crate in `tests/plugins/<dir>` for the wasm target and returns the path of its
/// component, `<artifact>.wasm`.
///
/// # Panics
/// When the build fails (the wasm target must be installed; `scripts/test.sh` does it).
fn build(dir: &str, artifact: &str, folder: &str, extra: &[&str]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let target = if target.is_absolute() { target } else { workspace_root().join(target) }.join(folder);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root().join("tests/plugins").join(dir))
        .args(["build", "--quiet", "--release", "--target", "wasm32-unknown-unknown"])
        .args(extra)
        .arg("--target-dir")
        .arg(&target)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-component-ld")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the {dir} test plugin {extra:?} failed (rustup target add wasm32-unknown-unknown?)");
    target.join(format!("wasm32-unknown-unknown/release/{artifact}.wasm"))
}

/// Path of `evil_plugin.wasm` (endless loop, allocation bomb, panic), built on first use.
///
/// # Panics
/// When the build fails.
pub fn evil_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("evil", "evil_plugin", "test-plugins", &[])).clone()
}

/// Path of the evil plugin built with its `wasi` feature: a component importing WASI.
///
/// # Panics
/// As [`evil_plugin`].
pub fn evil_plugin_importing_wasi() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("evil", "evil_plugin", "test-plugins-wasi", &["--features", "wasi"])).clone()
}

/// The folder where the built-in plugins are compiled once per build, for tests to copy from.
fn warm_cache() -> &'static Path {
    static WARM: OnceLock<PathBuf> = OnceLock::new();
    WARM.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
        let target = if target.is_absolute() { target } else { workspace_root().join(target) };
        let dir = target.join("test-plugin-cache");
        std::fs::create_dir_all(&dir).expect("warm plugin cache folder");
        // Test processes run in parallel: one compiles while the others wait, and nobody copies a file
        // another is writing (copies take the lock shared, see `seed_plugin_cache`).
        let lock = lock_file(&dir);
        lock.lock().expect("lock the warm plugin cache");
        let runtime = PluginRuntime::new(Limits::default(), Some(dir.clone())).expect("engine");
        for (name, bytes) in BUILTINS {
            runtime.load(name, bytes, "built-in").unwrap_or_else(|e| panic!("compiling the built-in {name}: {e}"));
        }
        drop(lock);
        dir
    })
}

fn lock_file(dir: &Path) -> std::fs::File {
    std::fs::File::options().create(true).truncate(false).write(true).open(dir.with_extension("lock")).expect("lock file")
}

/// Fills `cache` (created if missing) with the built-in plugins compiled for this build, so a test has
/// a compile cache of its own, starts warm, and never shares a cache folder with a test running beside
/// it. Plugins the test adds are compiled into its own folder.
///
/// # Panics
/// When the folders cannot be read or written.
pub fn seed_plugin_cache(cache: &Path) {
    let warm = warm_cache();
    std::fs::create_dir_all(cache).expect("plugin cache folder");
    let lock = lock_file(warm);
    lock.lock_shared().expect("lock the warm plugin cache");
    // The compiled files are signed with the warm cache's per-install key (kept beside its folder as
    // `<folder>.key`); the copy gets the same key, or the bridge would refuse them and recompile.
    let key_of = |dir: &Path| {
        let mut name = dir.file_name().map(std::ffi::OsString::from).unwrap_or_default();
        name.push(".key");
        dir.with_file_name(name)
    };
    if key_of(warm).exists() {
        std::fs::copy(key_of(warm), key_of(cache)).expect("copy the warm cache's key");
    }
    for entry in std::fs::read_dir(warm).expect("warm plugin cache") {
        // Everything the cache holds (compiled plugins and whatever the runtime keeps beside them),
        // but no temporary file.
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if entry.file_type().expect("file type").is_file() && !name.to_string_lossy().contains("tmp") {
            std::fs::copy(entry.path(), cache.join(name)).expect("copy a compiled plugin");
        }
    }
}

/// A data folder at `dir` whose plugin cache (`plugin-cache`, where the bridge keeps it) is seeded by
/// [`seed_plugin_cache`]; returns `dir`.
pub fn data_dir(dir: &Path) -> PathBuf {
    seed_plugin_cache(&dir.join("plugin-cache"));
    dir.to_path_buf()
}

/// A plugin registry with the built-in plugins and a seeded compile cache of its own, which lives as
/// long as this value. Dereferences to the registry.
pub struct TestRegistry {
    registry: Arc<Registry>,
    _cache: tempfile::TempDir,
}

impl TestRegistry {
    /// The built-ins with per-plugin settings `configs`.
    pub fn new(configs: Vec<(String, serde_json::Value)>) -> TestRegistry {
        let cache = tempfile::tempdir().expect("plugin cache folder");
        seed_plugin_cache(cache.path());
        let runtime = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("engine");
        TestRegistry { registry: Arc::new(Registry::new(runtime, None).with_configs(configs)), _cache: cache }
    }
}

impl std::ops::Deref for TestRegistry {
    type Target = Arc<Registry>;

    fn deref(&self) -> &Arc<Registry> {
        &self.registry
    }
}

/// Path of `rogue_rules.wasm`, a version-1 shift-rules plugin breaking the output contract as the
/// user id asks (see its crate doc), built on first use.
///
/// # Panics
/// When the build fails.
pub fn rogue_rules_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("rogue-rules", "rogue_rules", "test-plugins", &[])).clone()
}

/// Path of `rogue_crm.wasm`, a crm-mapping plugin breaking the output contract as the user id
/// asks, built on first use.
///
/// # Panics
/// When the build fails.
pub fn rogue_crm_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("rogue-crm", "rogue_crm", "test-plugins", &[])).clone()
}
