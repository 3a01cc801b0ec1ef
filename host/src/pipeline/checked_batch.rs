//! Running a batch of rules inputs through the shift-rules plugin with its output checked against
//! the output contract ([`crate::plugins::contract`]) before anyone can store it.
//!
//! Processing and `plugin preview` both go through here, so a candidate plugin that returns
//! garbage is reported by preview exactly as processing would fail it.

use std::collections::BTreeSet;
use std::sync::Arc;

use attendance_plugin_sdk::text as model;
use chrono::NaiveDate;

use crate::plugins::contract::{self, Asked, Producer};
use crate::plugins::runtime::{LoadedPlugin, World};
use crate::plugins::{PluginError, Registry};
use crate::store::StoreError;

/// One checked result per input: the plugin's output, or why it cannot be used.
pub type Checked = Result<model::RulesOutput, PluginError>;

/// Checks `plugin`'s output for one input against the contract.
///
/// # Errors
/// [`PluginError::Contract`] naming the first violation.
pub fn check(plugin: &LoadedPlugin, input: &model::RulesInput, days: &BTreeSet<NaiveDate>, output: &model::RulesOutput) -> Result<(), PluginError> {
    let producer = Producer { plugin: &plugin.name, version: &plugin.info.version, typed: plugin.world() == World::TypedShiftRules };
    contract::check_rules_output(producer, Asked { input, days }, output).map_err(PluginError::Contract)
}

/// Runs `inputs` (each asked about its `days`) through the rules plugin on a blocking thread (a
/// batch keeps a core busy for milliseconds to seconds, too long for the async workers) and checks
/// every output; one result per input.
///
/// # Errors
/// Only when the blocking task itself fails (a panic); plugin failures are per input.
pub async fn run(
    registry: &Arc<Registry>,
    plugin: &Arc<LoadedPlugin>,
    inputs: Vec<(model::RulesInput, BTreeSet<NaiveDate>)>,
) -> Result<Vec<Checked>, StoreError> {
    let (registry, plugin) = (Arc::clone(registry), Arc::clone(plugin));
    tokio::task::spawn_blocking(move || run_checked(&registry, &plugin, &inputs)).await.map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The blocking part of [`run`]: calls the plugin on `inputs` and checks every output; one result
/// per input. Processing calls it on its own blocking threads, to set aside an employee whose input
/// makes the host panic.
pub fn run_checked(registry: &Registry, plugin: &LoadedPlugin, inputs: &[(model::RulesInput, BTreeSet<NaiveDate>)]) -> Vec<Checked> {
    // Borrowed, not cloned: a batch's inputs hold every punch of a hundred employees.
    let plain: Vec<&model::RulesInput> = inputs.iter().map(|(input, _)| input).collect();
    let results = registry.runtime().process_batch(plugin, &plain);
    results
        .into_iter()
        .zip(inputs)
        .map(|(result, (input, days))| result.and_then(|output| check(plugin, input, days, &output).map(|()| output)))
        .collect()
}
