//! Interface version 2, the `typed-shift-rules` world: the same rules input and output as version 1,
//! with typed values instead of text.
//!
//! Why a version 2: in version 1 every punch carries its device id and time as strings, so
//! handing one employee's month to a plugin meant hundreds of calls into the plugin's allocator
//! and hundreds of time parses inside the sandbox, and every output time was formatted there
//! and copied back. Version 2 carries numbers ([`wire`] says how), which cross the boundary as a
//! flat copy; the host reads and writes text once, natively ([`text`]).
//!
//! Write rules on [`model`]'s types, implement [`ShiftRules`] and export it with
//! [`crate::shift_rules_plugin!`] (the crate root re-exports all of this: it is the newest interface). Test them natively on the golden fixtures with
//! [`process_text`], which converts exactly as the host does:
//!
//! ```ignore
//! let report = fixtures::run(&file, |input| v2::process_text(input, MyRules::process));
//! ```
//!
//! Version-1 plugins ([`crate::v1::ShiftRules`]) keep working; the host runs both.

#[doc(hidden)]
pub mod glue;
pub mod model;
pub mod text;
pub mod wire;

pub use model::{AttendanceRecord, Flag, Flags, RulesInput, RulesOutput, Status};

use crate::text as text_model;

/// The interface version of this module (the WIT package version).
pub const INTERFACE_VERSION: &str = "2.0.0";

/// Turns punches into attendance days, on typed values (interface 2, the newest; the crate root
/// re-exports it as [`crate::ShiftRules`]).
pub trait ShiftRules {
    /// Name and version, recorded with every day the plugin produces.
    fn info() -> crate::PluginInfo;
    /// Processes one employee's period.
    ///
    /// # Errors
    /// A message the host shows next to the days it could not process (they stay pending).
    fn process(input: RulesInput) -> crate::Result<RulesOutput>;
}

// Interface 2's own `host.log`: a version-2 plugin imports nothing of version 1.
crate::logging::host_log_for!(crate::shift_rules_v2_bindings::attendance::plugin::host);

/// Runs typed rules on a text input (a fixture's, or interface 1's) and writes the output as text:
/// what the host does around a version-2 plugin.
///
/// # Errors
/// A value of the input that cannot be read, or the rules' error.
pub fn process_text(
    input: &text_model::RulesInput,
    rules: impl FnOnce(RulesInput) -> Result<RulesOutput, String>,
) -> Result<text_model::RulesOutput, String> {
    let typed = text::input_from_text(input)?;
    // The output names templates by position: keep the codes for writing it back.
    let templates = typed.templates.iter().map(|t| t.code.clone()).collect::<Vec<_>>();
    let output = rules(typed)?;
    text::output_to_text(output, &templates)
}

/// Exports a [`ShiftRules`] implementation (interface 2) as the component's `typed-shift-rules`
/// world.
#[macro_export]
macro_rules! shift_rules_plugin {
    ($ty:ty) => {
        const _: () = {
            struct Export;
            impl $crate::shift_rules_v2_bindings::Guest for Export {
                fn info() -> $crate::shift_rules_v2_bindings::PluginInfo {
                    $crate::connect_host($crate::v2::host_log);
                    <$ty as $crate::ShiftRules>::info().into()
                }
                fn process(
                    input: $crate::shift_rules_v2_bindings::RulesInput,
                ) -> ::core::result::Result<$crate::shift_rules_v2_bindings::RulesOutput, ::std::string::String> {
                    $crate::connect_host($crate::v2::host_log);
                    $crate::v2::glue::process(input, <$ty as $crate::ShiftRules>::process)
                }
            }
            $crate::shift_rules_v2_bindings::export_typed_shift_rules!(Export with_types_in $crate::shift_rules_v2_bindings);
        };
    };
}
