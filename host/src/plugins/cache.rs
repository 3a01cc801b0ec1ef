//! Compiled components cached on disk, keyed by the component's SHA-256 and the engine's
//! compatibility hash, so start-up with known plugins skips compilation.
//!
//! A cached file is native code the process will run, so it is never trusted for being there:
//! each file carries an HMAC-SHA256, under a per-install key, over the source component's hash and
//! the compiled bytes. The key lives beside the cache folder (`plugin-cache.key` in the data
//! folder, mode 0600, created on first use), so write access to the cache folder alone cannot
//! produce a file the bridge will load. A file that fails the check is ignored with a warning and
//! replaced by a fresh compilation. The bytes checked are the bytes loaded (read once into memory),
//! so the file cannot be swapped between the check and the load.
//!
//! Files are written under a unique temporary name and renamed into place, so two processes
//! compiling the same plugin at once each publish a whole file, never a mix of both.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::hmac::{constant_time_eq, hmac_sha256_parts};

/// Opens every cache file: names the format, so an old unsigned file is a clean miss.
const MAGIC: &[u8; 8] = b"ABCWASM1";
/// Bytes of the MAC after the magic.
const MAC_LEN: usize = 32;
/// Bytes of the per-install key.
const KEY_LEN: usize = 32;

/// Compiles `bytes`, or loads the cached compilation. Errors are wasmtime's message.
pub(super) fn compile(engine: &Engine, bytes: &[u8], sha256: &str, cache_dir: Option<&Path>) -> Result<Component, String> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes).map_err(|e| format!("{e:#}"));
    };
    let key = match install_key(&key_path(dir)) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(path = %key_path(dir).display(), error = %e, "no key for the compiled-plugin cache: compiling without the cache");
            return Component::new(engine, bytes).map_err(|e| format!("{e:#}"));
        }
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
    if path.exists() {
        match load_cached(engine, &path, &key, sha256) {
            Ok(component) => return Ok(component),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring a compiled-plugin cache file; compiling the plugin again"),
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| format!("{e:#}"))?;
    if let Ok(serialized) = component.serialize() {
        let mac = hmac_sha256_parts(&key, &[sha256.as_bytes(), &serialized]);
        let written = std::fs::create_dir_all(dir).and_then(|()| write_atomically(&path, &[MAGIC, &mac, &serialized]));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled-plugin cache");
        }
    }
    Ok(component)
}

/// Where the key of the cache in `dir` lives: beside it, `<dir>.key`.
pub(super) fn key_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_else(|| "plugin-cache".into());
    name.push(".key");
    dir.with_file_name(name)
}

/// Reads the per-install key, creating it (random, mode 0600) on first use. Two processes starting
/// at once agree on one key: each writes a candidate under its own name and links it into place,
/// which fails for all but the first.
fn install_key(path: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let candidate = unique_temporary(path);
    let key: [u8; KEY_LEN] = rand::random();
    let written = write_private(&candidate, hex::encode(key).as_bytes()).and_then(|()| match std::fs::hard_link(&candidate, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    });
    let _ = std::fs::remove_file(&candidate);
    written?;
    read_key(path)?.ok_or_else(|| std::io::Error::other("the key file vanished while it was created"))
}

/// The key in `path`, `None` when there is no file yet.
fn read_key(path: &Path) -> std::io::Result<Option<[u8; KEY_LEN]>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the compiled-plugin cache key is readable by others: chmod 600 it");
        }
    }
    let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; KEY_LEN]>::try_from(b).ok());
    bytes.map(Some).ok_or_else(|| std::io::Error::other(format!("{} does not hold a {KEY_LEN}-byte hex key", path.display())))
}

/// Creates `path` (which must not exist) readable by its owner only, with `contents`.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A name beside `path` no other writer uses: process id and a random number.
fn unique_temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(format!(".{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
    path.with_file_name(name)
}

/// Writes `parts` to a fresh file under a unique temporary name, then renames it to `path`: readers
/// see the old file or the whole new one, and concurrent writers never share a file.
pub(super) fn write_atomically(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let temporary = unique_temporary(path);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Loads a compiled component written by [`compile`], after checking its MAC.
#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &Path, key: &[u8; KEY_LEN], sha256: &str) -> Result<Component, String> {
    let file = std::fs::read(path).map_err(|e| e.to_string())?;
    let (mac, serialized) = file
        .strip_prefix(MAGIC.as_slice())
        .and_then(|rest| rest.split_at_checked(MAC_LEN))
        .ok_or("not a signed compiled-plugin file (written by another version, or not by the bridge)")?;
    let expected = hmac_sha256_parts(key, &[sha256.as_bytes(), serialized]);
    if !constant_time_eq(mac, &expected) {
        return Err("its MAC does not match: the file was changed, or written for another component or install".into());
    }
    // SAFETY: `deserialize` trusts the bytes to be wasmtime's own output. These bytes are exactly
    // the ones whose MAC was just checked: a MAC only `compile` above can produce (the key is
    // private to this install), over the serialized component it compiled from the source with
    // this SHA-256. wasmtime additionally checks the header (version, target, settings) and
    // refuses a mismatch, which we treat as a miss.
    unsafe { Component::deserialize(engine, serialized) }.map_err(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_sits_beside_the_cache_folder_and_is_private() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = dir.path().join("plugin-cache");
        let path = key_path(&cache);
        assert_eq!(path, dir.path().join("plugin-cache.key"));
        let key = install_key(&path).expect("created");
        assert_eq!(install_key(&path).expect("read"), key, "the same key on every use");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("list").filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("plugin-cache.key")]);
    }

    #[test]
    fn concurrent_key_creation_agrees_on_one_key() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("plugin-cache.key");
        let keys: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| install_key(&path).expect("key"))).collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "every process uses the same key");
    }

    /// Eight writers publishing different contents at once: the file ends up whole, one of them.
    #[test]
    fn concurrent_writers_never_mix_their_files() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("plugin.cwasm");
        for _round in 0..5 {
            std::thread::scope(|scope| {
                for writer in 0..8u8 {
                    let path = &path;
                    scope.spawn(move || {
                        let contents = vec![writer; 2 << 20];
                        write_atomically(path, &[&contents[..1 << 20], &contents[1 << 20..]]).expect("written");
                    });
                }
            });
            let file = std::fs::read(&path).expect("read");
            assert_eq!(file.len(), 2 << 20);
            assert!(file.iter().all(|b| *b == file[0]), "one writer's file, whole");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plugin.cwasm")], "no temporary files left");
    }
}
