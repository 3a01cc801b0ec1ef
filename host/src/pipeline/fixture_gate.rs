//! The gate `plugin activate` puts in front of a shift-rules plugin: the golden fixtures
//! (`tests/fixtures/shift-fixtures.json`, compiled in) run through it, and every output must come
//! back and meet the output contract ([`crate::plugins::contract`]), exactly as processing would
//! demand. A plugin that traps, panics, runs out of time, returns its own error or breaks the
//! contract on any fixture is refused unless forced.
//!
//! Values that differ from the standard rules' expectations are counted, not refused: a site
//! variant (such as `quarter-hour`, which rounds payable time) differs from them by design.

use std::collections::BTreeSet;

use attendance_plugin_sdk::{fixtures, text as model};
use chrono::NaiveDate;

use crate::plugins::Registry;
use crate::plugins::runtime::LoadedPlugin;

/// The golden fixtures, as shipped with the source.
pub const GOLDEN_FIXTURES: &str = include_str!("../../../tests/fixtures/shift-fixtures.json");

/// What the golden fixtures found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateReport {
    /// Fixtures run.
    pub fixtures: usize,
    /// Fixtures the plugin failed on (error or contract violation): id and error.
    pub broken: Vec<(String, String)>,
    /// Fixtures whose values differ from the standard rules' expectations.
    pub differing: usize,
}

/// The inputs of `file`'s scenarios for `plugin`: its configured settings apply where a fixture
/// brings none of its own (as `plugin test` and `plugin activate` both run them).
pub fn fixture_inputs(registry: &Registry, plugin: &LoadedPlugin, file: &fixtures::FixtureFile) -> Vec<model::RulesInput> {
    inputs_with(&registry.config_for(&plugin.name), file)
}

/// The inputs of `file`'s scenarios with `configured` where a fixture brings no settings of its own.
fn inputs_with(configured: &serde_json::Value, file: &fixtures::FixtureFile) -> Vec<model::RulesInput> {
    file.scenarios
        .iter()
        .map(|s| {
            let mut input = s.input.clone();
            if input.config.is_null() {
                input.config = configured.clone();
            }
            input
        })
        .collect()
}

/// Runs the golden fixtures through `plugin` (with its configured settings) and checks each output.
///
/// # Errors
/// When the compiled-in fixture file cannot be read (a build defect).
pub fn run(registry: &Registry, plugin: &LoadedPlugin) -> Result<GateReport, String> {
    run_with(registry, plugin, &registry.config_for(&plugin.name))
}

/// [`run`] with `config` as the plugin's settings instead of its configured ones: how a new
/// configuration is tried before it is saved.
///
/// # Errors
/// As [`run`].
pub fn run_with(registry: &Registry, plugin: &LoadedPlugin, config: &serde_json::Value) -> Result<GateReport, String> {
    let file = fixtures::parse(GOLDEN_FIXTURES)?;
    let inputs = inputs_with(config, &file);
    let results = registry.runtime().process_batch(plugin, &inputs);
    let mut report = GateReport { fixtures: inputs.len(), ..GateReport::default() };
    let mut checked = Vec::with_capacity(results.len());
    for ((scenario, input), result) in file.scenarios.iter().zip(&inputs).zip(results) {
        // The days a pending run would ask about: those with punches (else the rostered ones).
        let mut days: BTreeSet<NaiveDate> = input.punches.iter().filter_map(|p| p.time.get(..10)?.parse().ok()).collect();
        if days.is_empty() {
            days = input.roster.iter().filter_map(|r| r.date.parse().ok()).collect();
        }
        let result = result.and_then(|output| {
            if !days.is_empty() {
                super::checked_batch::check(plugin, input, &days, &output)?;
            }
            Ok(output)
        });
        if let Err(e) = &result {
            report.broken.push((scenario.id.clone(), e.to_string()));
        }
        checked.push(result);
    }
    let mut outputs = checked.into_iter();
    let compared = fixtures::run(&file, |_| outputs.next().map_or_else(|| Err("no result".to_owned()), |r| r.map_err(|e| e.to_string())));
    report.differing = compared.scenarios.iter().filter(|(id, _, diffs)| !diffs.is_empty() && !report.broken.iter().any(|(b, _)| b == id)).count();
    Ok(report)
}
