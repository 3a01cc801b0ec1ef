//! Which plugins exist: the built-in ones compiled into the binary, plus `*.wasm` files in the
//! plugins folder (a file named like a built-in overrides it). A file that changes is reloaded at
//! its next use, so a site swaps its rules by dropping in a new `.wasm`, without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use super::runtime::{LoadedPlugin, PluginRuntime};
use super::{PluginError, PluginKind};

/// Built-in plugins: name and component bytes (built by `host/build.rs`).
#[cfg(not(feature = "builtin-plugins"))]
pub const BUILTINS: &[(&str, &[u8])] = &[];

/// Built-in plugins: name and component bytes (built by `host/build.rs`).
#[cfg(feature = "builtin-plugins")]
pub const BUILTINS: &[(&str, &[u8])] = &[
    ("crm-json", include_bytes!(concat!(env!("OUT_DIR"), "/plugins/crm_json.wasm"))),
    ("standard-shifts", include_bytes!(concat!(env!("OUT_DIR"), "/plugins/standard_shifts.wasm"))),
    ("quarter-hour", include_bytes!(concat!(env!("OUT_DIR"), "/plugins/quarter_hour.wasm"))),
];

type Stamp = Option<(SystemTime, u64)>;

/// Loaded plugins by name.
pub struct Registry {
    runtime: Arc<PluginRuntime>,
    dir: Option<PathBuf>,
    configs: HashMap<String, serde_json::Value>,
    /// Settings an admin saved on the plugins page; they win over `configs` (see [`Registry::set_overrides`]).
    overrides: RwLock<HashMap<String, serde_json::Value>>,
    loaded: Mutex<HashMap<String, (Arc<LoadedPlugin>, Stamp)>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Registry {
    /// A registry over the built-ins and `dir`.
    pub fn new(runtime: Arc<PluginRuntime>, dir: Option<PathBuf>) -> Self {
        Self { runtime, dir, configs: HashMap::new(), overrides: RwLock::new(HashMap::new()), loaded: Mutex::new(HashMap::new()) }
    }

    /// Sets each plugin's configuration (from `[plugins.config.<name>]`), handed to it with every call.
    #[must_use]
    pub fn with_configs(mut self, configs: impl IntoIterator<Item = (String, serde_json::Value)>) -> Self {
        self.configs = configs.into_iter().collect();
        self
    }

    /// The configuration for plugin `name`: the one saved on the plugins page, else the configuration
    /// file's, else `null`.
    pub fn config_for(&self, name: &str) -> serde_json::Value {
        let overrides = self.overrides.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        overrides.get(name).or_else(|| self.configs.get(name)).cloned().unwrap_or(serde_json::Value::Null)
    }

    /// The configuration file's settings for plugin `name` (`[plugins.config.<name>]`), if any.
    pub fn file_config(&self, name: &str) -> Option<&serde_json::Value> {
        self.configs.get(name)
    }

    /// Replaces the settings saved at run time (they live in the database, shared by every instance,
    /// so the pipeline reloads them before each run instead of the registry caching them for good).
    pub fn set_overrides(&self, overrides: HashMap<String, serde_json::Value>) {
        *self.overrides.write().unwrap_or_else(std::sync::PoisonError::into_inner) = overrides;
    }

    /// The runtime that calls the plugins.
    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    fn file_for(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.as_ref()?.join(format!("{name}.wasm"));
        path.exists().then_some(path)
    }

    /// The plugin called `name` (a file in the plugins folder wins over a built-in), loading or
    /// reloading it when needed.
    ///
    /// # Errors
    /// [`PluginError::NotFound`], or the load error.
    pub fn get(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        let file = self.file_for(name);
        let current = file.as_deref().and_then(stamp);
        {
            let loaded = self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((plugin, seen)) = loaded.get(name) {
                if *seen == current {
                    return Ok(Arc::clone(plugin));
                }
            }
        }
        let plugin = match &file {
            Some(path) => self.runtime.load_file(path)?,
            None => {
                let (_, bytes) = BUILTINS.iter().find(|(n, _)| *n == name).ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
                self.runtime.load(name, bytes, "built-in")?
            }
        };
        let plugin = Arc::new(plugin);
        if file.is_some() {
            tracing::info!(plugin = name, version = %plugin.info.version, "plugin loaded from {}", plugin.source);
        }
        self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_owned(), (Arc::clone(&plugin), current));
        Ok(plugin)
    }

    /// The plugin for a CLI argument: a `.wasm` path, or a name.
    ///
    /// # Errors
    /// As [`Registry::get`].
    pub fn resolve(&self, name_or_path: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        if name_or_path.ends_with(".wasm") || name_or_path.contains('/') {
            return self.runtime.load_file(Path::new(name_or_path)).map(Arc::new);
        }
        self.get(name_or_path)
    }

    /// Every available plugin name: built-ins and files, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTINS.iter().map(|(n, _)| (*n).to_owned()).collect();
        if let Some(dir) = &self.dir {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "wasm") {
                        if let Some(stem) = path.file_stem() {
                            names.push(stem.to_string_lossy().into_owned());
                        }
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Loads every available plugin; failures are returned beside the successes.
    pub fn list(&self) -> Vec<(String, Result<Arc<LoadedPlugin>, PluginError>)> {
        self.names().into_iter().map(|n| {
            let loaded = self.get(&n);
            (n, loaded)
        }).collect()
    }

    /// The plugin `name`, which must implement `kind`.
    ///
    /// # Errors
    /// As [`Registry::get`], or [`PluginError::WrongWorld`].
    pub fn get_kind(&self, name: &str, kind: PluginKind) -> Result<Arc<LoadedPlugin>, PluginError> {
        let plugin = self.get(name)?;
        if plugin.kind != kind {
            return Err(PluginError::WrongWorld { plugin: name.to_owned(), message: format!("is a {} plugin, not {kind}", plugin.kind) });
        }
        Ok(plugin)
    }
}
