//! The plugin host: shift rules and CRM mappings as WebAssembly components run by wasmtime.
//!
//! Plugins are pure functions in a sandbox. They get no WASI at all (a component importing anything
//! beyond the interface is refused at load), only a `log` import. Every call runs in a fresh store
//! (a trapped instance is never re-entered) with a time limit (an endless loop stops) and a memory
//! cap (an allocation bomb stops); any failure is a [`PluginError`] naming the plugin, and the
//! caller keeps its input for a retry.
//!
//! - [`bindings`]: the generated host bindings, one module per interface version (1: text, 2:
//!   typed values; a plugin is run through the version it was built for).
//! - [`runtime`]: the engine, limits, compile cache, and calls.
//! - [`registry`]: built-in plugins plus the plugins folder, reloaded when a file changes.

pub mod bindings;
mod cache;
pub mod contract;
mod convert;
mod convert_v2;
pub mod registry;
pub mod runtime;

pub use registry::Registry;
pub use runtime::{Limits, PluginRuntime};

/// Which interface a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// The `shift-rules` world.
    ShiftRules,
    /// The `crm-mapping` world.
    CrmMapping,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::ShiftRules => "shift-rules",
            PluginKind::CrmMapping => "crm-mapping",
        })
    }
}

/// Why a plugin could not be loaded or called. Every variant names the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The file is not a WebAssembly component wasmtime can compile.
    #[error("plugin {plugin}: not a valid WebAssembly component: {message}")]
    Invalid {
        /// Plugin name.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The component implements neither world, or imports something the host does not offer.
    #[error("plugin {plugin}: {message}")]
    WrongWorld {
        /// Plugin name.
        plugin: String,
        /// What does not match.
        message: String,
    },
    /// One call ran past its time limit (an endless loop, or far too much work).
    #[error("plugin {plugin}: stopped after running longer than its time limit of {limit_ms} ms per call")]
    TimeLimit {
        /// Plugin name.
        plugin: String,
        /// The limit, milliseconds.
        limit_ms: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin {plugin}: stopped at its memory cap of {cap_mb} MiB")]
    OutOfMemory {
        /// Plugin name.
        plugin: String,
        /// The cap.
        cap_mb: u64,
    },
    /// The plugin asked for more than the sandbox gives: a second linear memory, too many tables,
    /// instances or table elements.
    #[error("plugin {plugin}: refused by the sandbox: {message}")]
    Sandbox {
        /// Plugin name.
        plugin: String,
        /// Which limit, and the limits.
        message: String,
    },
    /// The plugin trapped (a panic, an unreachable, a bad memory access).
    #[error("plugin {plugin}: trapped: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// The trap.
        message: String,
    },
    /// The plugin panicked: the SDK's panic hook logged where and why just before the trap.
    #[error("plugin {plugin} {version} panicked at {message}")]
    Panicked {
        /// Plugin name.
        plugin: String,
        /// Plugin version.
        version: String,
        /// `src/lib.rs:40:13: index out of bounds: …`
        message: String,
    },
    /// The plugin's output broke the output contract (see [`contract`]); nothing of it was stored.
    #[error("{0}")]
    Contract(Box<contract::Violation>),
    /// Not called: the plugin hit its time limit earlier in the same run (or the run's budget is
    /// spent); the input stays pending for the next run.
    #[error("plugin {plugin}: not called: {reason}")]
    Deferred {
        /// Plugin name.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The plugin returned its own error.
    #[error("plugin {plugin}: {message}")]
    Guest {
        /// Plugin name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// No plugin by that name.
    #[error("no plugin named {0:?}")]
    NotFound(String),
    /// Reading or caching failed.
    #[error("plugin {plugin}: {message}")]
    Io {
        /// Plugin name.
        plugin: String,
        /// What failed.
        message: String,
    },
}

impl PluginError {
    /// A short word for the kind of failure (the `kind` label of the plugin-failure metric).
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Invalid { .. } => "invalid",
            PluginError::WrongWorld { .. } => "wrong_world",
            PluginError::TimeLimit { .. } => "time_limit",
            PluginError::OutOfMemory { .. } => "out_of_memory",
            PluginError::Sandbox { .. } => "sandbox",
            PluginError::Trap { .. } => "trap",
            PluginError::Panicked { .. } => "panicked",
            PluginError::Contract(_) => "contract",
            PluginError::Deferred { .. } => "deferred",
            PluginError::Guest { .. } => "guest",
            PluginError::NotFound(_) => "not_found",
            PluginError::Io { .. } => "io",
        }
    }
}
