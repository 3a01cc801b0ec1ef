//! [`log`], and the panic hook that makes a plugin's panic readable on the host.
//!
//! Each interface version has its own `host.log` import. The export macro of the world a plugin
//! implements connects [`log`] to that version's import ([`connect_host`]), so a version-2 plugin
//! never imports version 1's `host` (and the reverse).

use std::sync::OnceLock;

/// Log levels for [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Detailed.
    Debug,
    /// Normal.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// The host's `log` of the interface the plugin was exported with; unset outside a component.
static HOST_LOG: OnceLock<fn(Level, &str)> = OnceLock::new();

/// Writes a line to the bridge's log, attributed to this plugin. Outside a component (native
/// tests) it prints to standard error.
pub fn log(level: Level, message: &str) {
    match HOST_LOG.get() {
        Some(host_log) => host_log(level, message),
        None => {
            #[cfg(not(target_arch = "wasm32"))]
            eprintln!("[{level:?}] {message}");
        }
    }
}

/// How the panic hook's log line starts; the host keeps such a line to name the trap that follows.
pub const PANIC_PREFIX: &str = "panicked at ";

/// Connects [`log`] to the exported world's `host.log` and installs (once) a panic hook that sends
/// the panic's location and message there before the panic aborts: inside the sandbox the default
/// hook writes to a standard error nobody reads, and the host would only see an `unreachable`
/// trap. The export macros call it at every entry.
#[doc(hidden)]
pub fn connect_host(host_log: fn(Level, &str)) {
    HOST_LOG.get_or_init(|| host_log);
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map_or_else(|| "an unknown location".to_owned(), |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            log(Level::Error, &format!("{PANIC_PREFIX}{location}: {message}"));
        }));
    });
}

/// Defines `host_log`, [`log`]'s connection to one interface version's `host.log` import (the
/// generated `host` module named here): each version's module calls it once, so the level mapping
/// is written once.
macro_rules! host_log_for {
    ($($host:ident)::+) => {
        /// This interface's `host.log` (what [`crate::log`] calls in a component exported with
        /// this version's macro).
        #[doc(hidden)]
        pub fn host_log(level: crate::Level, message: &str) {
            #[cfg(target_arch = "wasm32")]
            {
                use $($host)::+::{Level as L, log};
                let level = match level {
                    crate::Level::Trace => L::Trace,
                    crate::Level::Debug => L::Debug,
                    crate::Level::Info => L::Info,
                    crate::Level::Warn => L::Warn,
                    crate::Level::Error => L::Error,
                };
                log(level, message);
            }
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (level, message);
        }
    };
}
pub(crate) use host_log_for;
