//! `standard-shifts`: the default shift rules of `shift-rules.md` §6, as a plugin.
//!
//! The rules live in the `standard-rules` library (plain Rust on the SDK's typed model), so the
//! same code runs inside this component, in site variants such as `quarter-hour`, and natively
//! (the fixture tests and the native-vs-plugin benchmark). Like every new plugin it implements the
//! SDK's root interface (2, `typed-shift-rules`): times cross the sandbox as numbers, so the plugin
//! neither parses nor formats text.

use attendance_plugin_sdk::prelude::*;

/// The default rules.
pub struct StandardShifts;

impl ShiftRules for StandardShifts {
    fn info() -> PluginInfo {
        PluginInfo { name: "standard-shifts".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn process(input: RulesInput) -> Result<RulesOutput> {
        standard_rules::process_typed(&input)
    }
}

shift_rules_plugin!(StandardShifts);
