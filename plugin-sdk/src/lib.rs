//! # Attendance Bridge plugin SDK
//!
//! Write the two things a site customises, as WebAssembly components the bridge runs in a sandbox:
//!
//! - **shift rules** ([`ShiftRules`]): one employee's punches over a period, plus context (shift
//!   templates, roster, holidays, devices), become attendance days;
//! - **CRM mapping** ([`CrmMapping`]): one processed day becomes the request the CRM receives.
//!
//! Implement the trait on a unit struct and export it with [`shift_rules_plugin!`] or
//! [`crm_mapping_plugin!`]. Plugins are pure functions: no files, no network, no clock; the only
//! host service is [`log`]. Build with `cargo build --release --target wasm32-unknown-unknown`
//! (the workspace's `.cargo/config.toml` links with `wasm-component-ld`, which makes a component).
//!
//! Your logic works on the plain types in [`model`], the same types the golden fixtures use, so
//! [`fixtures`] runs a fixture file against your rules natively in `cargo test`.

pub mod fixtures;
mod glue;
pub mod model;
pub mod v2;

pub use model::{AttendanceRecord, CrmDay, CrmRequest, PluginInfo, RulesInput, RulesOutput};

/// The interface version this SDK builds (the WIT package version).
pub const INTERFACE_VERSION: &str = "1.0.0";

/// Generated bindings of the `shift-rules` world (plumbing for [`shift_rules_plugin!`]).
#[doc(hidden)]
pub mod shift_rules_bindings {
    wit_bindgen::generate!({
        world: "shift-rules",
        path: "wit/v1",
        pub_export_macro: true,
        export_macro_name: "export_shift_rules",
        default_bindings_module: "attendance_plugin_sdk::shift_rules_bindings",
    });
}

/// Generated bindings of the `crm-mapping` world (plumbing for [`crm_mapping_plugin!`]).
#[doc(hidden)]
pub mod crm_mapping_bindings {
    wit_bindgen::generate!({
        world: "crm-mapping",
        path: "wit/v1",
        pub_export_macro: true,
        export_macro_name: "export_crm_mapping",
        default_bindings_module: "attendance_plugin_sdk::crm_mapping_bindings",
    });
}

/// Generated bindings of the `typed-shift-rules` world, interface version 2 (plumbing for
/// [`shift_rules_plugin_v2!`]).
#[doc(hidden)]
pub mod shift_rules_v2_bindings {
    wit_bindgen::generate!({
        world: "typed-shift-rules",
        path: "wit/v2",
        pub_export_macro: true,
        export_macro_name: "export_typed_shift_rules",
        default_bindings_module: "attendance_plugin_sdk::shift_rules_v2_bindings",
    });
}

#[doc(hidden)]
pub use glue::{crm as crm_glue, rules as rules_glue};

/// Turns punches into attendance days.
pub trait ShiftRules {
    /// Name and version, recorded with every day the plugin produces.
    fn info() -> PluginInfo;
    /// Processes one employee's period.
    ///
    /// # Errors
    /// A message the host shows next to the days it could not process (they stay pending).
    fn process(input: RulesInput) -> Result<RulesOutput, String>;
}

/// Turns a processed day into a CRM request.
pub trait CrmMapping {
    /// Name and version.
    fn info() -> PluginInfo;
    /// Maps one day.
    ///
    /// # Errors
    /// A message the host records on the delivery.
    fn map_day(day: CrmDay) -> Result<CrmRequest, String>;
}

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

/// Writes a line to the bridge's log, attributed to this plugin. Outside a component (native
/// tests) it prints to standard error.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use shift_rules_bindings::attendance::plugin::host::{Level as L, log as host_log};
        let level = match level {
            Level::Trace => L::Trace,
            Level::Debug => L::Debug,
            Level::Info => L::Info,
            Level::Warn => L::Warn,
            Level::Error => L::Error,
        };
        host_log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// How the panic hook's log line starts; the host keeps such a line to name the trap that follows.
pub const PANIC_PREFIX: &str = "panicked at ";

/// Installs (once) a panic hook that sends the panic's location and message to the host through
/// [`log`] before the panic aborts: inside the sandbox the default hook writes to a standard error
/// nobody reads, and the host would only see an `unreachable` trap. The export macros call it.
#[doc(hidden)]
pub fn install_panic_hook() {
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

/// Exports a [`ShiftRules`] implementation as the component's `shift-rules` world.
#[macro_export]
macro_rules! shift_rules_plugin {
    ($ty:ty) => {
        const _: () = {
            struct Export;
            impl $crate::shift_rules_bindings::Guest for Export {
                fn info() -> $crate::shift_rules_bindings::PluginInfo {
                    $crate::install_panic_hook();
                    $crate::rules_glue::info(<$ty as $crate::ShiftRules>::info())
                }
                fn process(
                    input: $crate::shift_rules_bindings::RulesInput,
                ) -> ::core::result::Result<$crate::shift_rules_bindings::RulesOutput, ::std::string::String> {
                    $crate::install_panic_hook();
                    $crate::rules_glue::process(input, <$ty as $crate::ShiftRules>::process)
                }
            }
            $crate::shift_rules_bindings::export_shift_rules!(Export with_types_in $crate::shift_rules_bindings);
        };
    };
}

/// Exports a [`CrmMapping`] implementation as the component's `crm-mapping` world.
#[macro_export]
macro_rules! crm_mapping_plugin {
    ($ty:ty) => {
        const _: () = {
            struct Export;
            impl $crate::crm_mapping_bindings::Guest for Export {
                fn info() -> $crate::crm_mapping_bindings::PluginInfo {
                    $crate::install_panic_hook();
                    $crate::crm_glue::info(<$ty as $crate::CrmMapping>::info())
                }
                fn map_day(
                    day: $crate::crm_mapping_bindings::CrmDay,
                ) -> ::core::result::Result<$crate::crm_mapping_bindings::CrmRequest, ::std::string::String> {
                    $crate::install_panic_hook();
                    $crate::crm_glue::map_day(day, <$ty as $crate::CrmMapping>::map_day)
                }
            }
            $crate::crm_mapping_bindings::export_crm_mapping!(Export with_types_in $crate::crm_mapping_bindings);
        };
    };
}
