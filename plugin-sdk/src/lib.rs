//! # Attendance Bridge plugin SDK
//!
//! Write the two things a site customises, as WebAssembly components the bridge runs in a sandbox:
//!
//! - **shift rules** ([`ShiftRules`]): one employee's punches over a period, plus context (shift
//!   templates, roster, holidays, devices), become attendance days;
//! - **CRM mapping** ([`CrmMapping`]): one processed day becomes the request the CRM receives.
//!
//! The crate root is always the newest interface (as Zed's `extension_api` keeps it): shift rules
//! on typed values ([`model`], interface 2), the CRM mapping on interface 1 (its only version).
//! Implement the trait on a unit struct and export it with [`shift_rules_plugin!`] or
//! [`crm_mapping_plugin!`]; `use attendance_plugin_sdk::prelude::*;` brings what a plugin needs.
//! Plugins are pure functions: no files, no network, no clock; the only host service is [`log`].
//! Build with `cargo build --release --target wasm32-unknown-unknown` (the `.cargo/config.toml`
//! of the README's walk-through links with `wasm-component-ld`, which makes a component).
//!
//! Test rules natively on the golden fixtures with [`fixtures`] and [`v2::process_text`], which
//! converts from and to the fixtures' text exactly as the host does.
//!
//! Older interfaces stay under their version: [`v1`] holds version 1's text shift rules
//! (`v1::ShiftRules`, `v1::shift_rules_plugin!`); compiled version-1 plugins keep loading.

mod fields;
pub mod fixtures;
mod logging;
pub mod prelude;
pub mod text;
pub mod v1;
pub mod v2;

pub use logging::{Level, PANIC_PREFIX, log};
#[doc(hidden)]
pub use logging::connect_host;
pub use text::{CrmDay, CrmRequest, PluginInfo};
pub use v1::CrmMapping;
pub use v2::model;
pub use v2::model::{AttendanceRecord, Flag, Flags, RulesInput, RulesOutput, Status};
pub use v2::{INTERFACE_VERSION, ShiftRules};

/// What plugin functions return: a value, or a message the host shows next to the days (or the
/// delivery) it could not handle.
pub type Result<T, E = String> = core::result::Result<T, E>;

/// Generated bindings of interface 1's `shift-rules` world (plumbing for `v1::shift_rules_plugin!`).
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

/// Generated bindings of interface 1's `crm-mapping` world (plumbing for [`crm_mapping_plugin!`]).
/// Its `types` and `host` are the shift-rules world's (bindgen's `with:`): one Rust type per WIT
/// record, converted in one place.
#[doc(hidden)]
pub mod crm_mapping_bindings {
    wit_bindgen::generate!({
        world: "crm-mapping",
        path: "wit/v1",
        pub_export_macro: true,
        export_macro_name: "export_crm_mapping",
        default_bindings_module: "attendance_plugin_sdk::crm_mapping_bindings",
        with: {
            "attendance:plugin/types@1.0.0": crate::shift_rules_bindings::attendance::plugin::types,
            "attendance:plugin/host@1.0.0": crate::shift_rules_bindings::attendance::plugin::host,
        },
    });
}

/// Generated bindings of interface 2's `typed-shift-rules` world (plumbing for [`shift_rules_plugin!`]).
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
