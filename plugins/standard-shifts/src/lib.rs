//! `standard-shifts`: the default shift rules of `shift-rules.md` §6, as a plugin.
//!
//! The rules live in the `standard-rules` library (plain Rust on the SDK's model), so the same code
//! runs inside this component, in site variants such as `quarter-hour`, and natively (the fixture
//! tests and the native-vs-plugin benchmark).

use attendance_plugin_sdk::{PluginInfo, RulesInput, RulesOutput, ShiftRules, shift_rules_plugin};

/// The default rules.
pub struct StandardShifts;

impl ShiftRules for StandardShifts {
    fn info() -> PluginInfo {
        PluginInfo { name: "standard-shifts".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn process(input: RulesInput) -> Result<RulesOutput, String> {
        standard_rules::process(&input)
    }
}

shift_rules_plugin!(StandardShifts);
