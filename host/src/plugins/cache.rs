//! Compiled components cached on disk, keyed by the component's SHA-256 and the engine's
//! compatibility hash, so start-up with known plugins skips compilation.

use std::hash::{Hash as _, Hasher as _};
use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles `bytes`, or loads the cached compilation. Errors are wasmtime's message.
pub(super) fn compile(engine: &Engine, bytes: &[u8], sha256: &str, cache_dir: Option<&Path>) -> Result<Component, String> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes).map_err(|e| format!("{e:#}"));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
    if path.exists() {
        match load_cached(engine, &path) {
            Ok(component) => return Ok(component),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable compiled-plugin cache file"),
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| format!("{e:#}"))?;
    if let Ok(serialized) = component.serialize() {
        let _ = std::fs::create_dir_all(dir);
        let temporary = path.with_extension("tmp");
        if std::fs::write(&temporary, serialized).is_ok() {
            let _ = std::fs::rename(&temporary, &path);
        }
    }
    Ok(component)
}

/// Loads a compiled component this process (or an earlier one) wrote.
#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &Path) -> Result<Component, String> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output. These files are
    // written only by `compile` above, into the bridge's private data folder, named by the SHA-256
    // of the component they came from and the engine's compatibility hash; wasmtime additionally
    // checks the header (version, target, settings) and refuses a mismatch, which we treat as a miss.
    unsafe { Component::deserialize_file(engine, path) }.map_err(|e| format!("{e:#}"))
}
