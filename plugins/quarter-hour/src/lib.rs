//! `quarter-hour`: an example of a site-specific variant.
//!
//! A site that pays by the quarter hour keeps every standard rule and only rounds clock-in and
//! clock-out to the nearest 15 minutes (half up) for payable time, on every template that does not
//! round already. The pattern: adjust the input (or the output), delegate to the standard rules.
//!
//! Config (optional): `{"interval_min": 30, "mode": "down"}` (`mode`: `nearest_half_up`, `up`,
//! `down`).

use attendance_plugin_sdk::model::{Rounding, RoundingMode};
use attendance_plugin_sdk::prelude::*;

/// Standard rules, rounded payable time.
pub struct QuarterHour;

impl ShiftRules for QuarterHour {
    fn info() -> PluginInfo {
        PluginInfo { name: "quarter-hour".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn process(mut input: RulesInput) -> Result<RulesOutput> {
        let interval_min = input.config.get("interval_min").and_then(|v| v.as_u64()).and_then(|v| u32::try_from(v).ok()).unwrap_or(15);
        let mode = match input.config.get("mode").and_then(|v| v.as_str()) {
            Some("up") => RoundingMode::Up,
            Some("down") => RoundingMode::Down,
            _ => RoundingMode::NearestHalfUp,
        };
        for template in &mut input.templates {
            if template.rounding.is_none() {
                template.rounding = Some(Rounding { interval_min, mode });
            }
        }
        standard_rules::process_typed(&input)
    }
}

shift_rules_plugin!(QuarterHour);
