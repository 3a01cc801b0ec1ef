//! Interface version 1 (`attendance:plugin@1.0.0`): shift rules on text values, and the CRM mapping.
//!
//! Shift rules written on text ([`ShiftRules`], exported with [`shift_rules_plugin!`]) stay
//! supported: compiled version-1 plugins keep loading, and this module keeps building them. New
//! rules should use the crate root's typed [`crate::ShiftRules`]. The CRM mapping's newest (and
//! only) interface is this one; the crate root re-exports it.

#[doc(hidden)]
pub mod glue;

pub use crate::text as model;
pub use crate::text::{AttendanceRecord, CrmDay, CrmRequest, PluginInfo, RulesInput, RulesOutput};
#[doc(inline)]
pub use crate::__shift_rules_plugin_v1 as shift_rules_plugin;

/// The interface version of this module (the WIT package version).
pub const INTERFACE_VERSION: &str = "1.0.0";

/// Turns punches into attendance days, on text values (interface 1).
pub trait ShiftRules {
    /// Name and version, recorded with every day the plugin produces.
    fn info() -> PluginInfo;
    /// Processes one employee's period.
    ///
    /// # Errors
    /// A message the host shows next to the days it could not process (they stay pending).
    fn process(input: RulesInput) -> crate::Result<RulesOutput>;
}

/// Turns a processed day into a CRM request.
pub trait CrmMapping {
    /// Name and version.
    fn info() -> PluginInfo;
    /// Maps one day.
    ///
    /// # Errors
    /// A message the host records on the delivery.
    fn map_day(day: CrmDay) -> crate::Result<CrmRequest>;
}

crate::logging::host_log_for!(crate::shift_rules_bindings::attendance::plugin::host);

/// Exports a version-1 [`ShiftRules`] implementation as the component's `shift-rules` world.
/// Use it as `attendance_plugin_sdk::v1::shift_rules_plugin!(MyRules);`.
#[doc(hidden)]
#[macro_export]
macro_rules! __shift_rules_plugin_v1 {
    ($ty:ty) => {
        const _: () = {
            struct Export;
            impl $crate::shift_rules_bindings::Guest for Export {
                fn info() -> $crate::shift_rules_bindings::PluginInfo {
                    $crate::connect_host($crate::v1::host_log);
                    <$ty as $crate::v1::ShiftRules>::info().into()
                }
                fn process(
                    input: $crate::shift_rules_bindings::RulesInput,
                ) -> ::core::result::Result<$crate::shift_rules_bindings::RulesOutput, ::std::string::String> {
                    $crate::connect_host($crate::v1::host_log);
                    $crate::v1::glue::rules::process(input, <$ty as $crate::v1::ShiftRules>::process)
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
                    $crate::connect_host($crate::v1::host_log);
                    <$ty as $crate::CrmMapping>::info().into()
                }
                fn map_day(
                    day: $crate::crm_mapping_bindings::CrmDay,
                ) -> ::core::result::Result<$crate::crm_mapping_bindings::CrmRequest, ::std::string::String> {
                    $crate::connect_host($crate::v1::host_log);
                    $crate::v1::glue::crm::map_day(day, <$ty as $crate::CrmMapping>::map_day)
                }
            }
            $crate::crm_mapping_bindings::export_crm_mapping!(Export with_types_in $crate::crm_mapping_bindings);
        };
    };
}
