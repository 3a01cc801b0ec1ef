//! Plugin settings edited at run time (the plugins page), beside the configuration file's
//! `[plugins.config.<name>]`.
//!
//! Saved settings live in the database (`settings`, one row per plugin), so every instance sharing it
//! sees the same ones and a change needs no restart: each processing run, CRM sync run and preview
//! reloads them into the plugin registry first ([`refresh`]). A new configuration is tried before it
//! is kept ([`try_config`]): a shift-rules plugin runs the golden fixtures with it, a CRM plugin maps a
//! sample day with it; a configuration the plugin fails on is refused with the plugin's own words.

use std::sync::Arc;

use attendance_plugin_sdk::text as model;

use crate::plugins::runtime::LoadedPlugin;
use crate::plugins::{PluginKind, Registry};
use crate::store::{Store, StoreError, settings};

/// The largest configuration accepted from the page (the plugin gets it with every call).
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Loads the saved settings into `registry`, so the next calls see what an admin saved last.
///
/// # Errors
/// When the database cannot be read.
pub async fn refresh(store: &Store, registry: &Registry) -> Result<(), StoreError> {
    let (configs, unreadable) = settings::plugin_configs(store).await?;
    for name in unreadable {
        tracing::warn!(plugin = %name, "the saved configuration of this plugin is not JSON; using the configuration file's");
    }
    registry.set_overrides(configs);
    Ok(())
}

/// Reads a configuration typed on the page: empty means "back to the configuration file's" (`None`);
/// otherwise it must be a JSON object.
///
/// # Errors
/// Why the text is refused, with the line and column of a JSON syntax error.
pub fn parse(text: &str) -> Result<Option<serde_json::Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!("the configuration is {} KiB; at most {} KiB is accepted", text.len() >> 10, MAX_CONFIG_BYTES >> 10));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON at line {}, column {}: {e}", e.line(), e.column()))?;
    if !value.is_object() {
        return Err("the configuration must be a JSON object ({ \"setting\": value, … })".to_owned());
    }
    Ok(Some(value))
}

/// Runs `plugin` with `config` as processing or delivery would, without keeping anything: the golden
/// fixtures for a shift-rules plugin, one sample day for a CRM plugin. Returns what was run.
///
/// # Errors
/// What the plugin failed on, in its words.
pub async fn try_config(registry: &Arc<Registry>, plugin: &Arc<LoadedPlugin>, config: serde_json::Value) -> Result<String, String> {
    let (registry, plugin) = (Arc::clone(registry), Arc::clone(plugin));
    tokio::task::spawn_blocking(move || match plugin.kind {
        PluginKind::ShiftRules => {
            let report = super::fixture_gate::run_with(&registry, &plugin, &config)?;
            match report.broken.first() {
                None => Ok(format!("{} golden fixtures passed with it", report.fixtures)),
                Some((fixture, error)) => Err(format!("the plugin fails {} of {} golden fixtures with it (first, {fixture}: {error})", report.broken.len(), report.fixtures)),
            }
        }
        PluginKind::CrmMapping => {
            let day = sample_day(config);
            registry.runtime().map_day(&plugin, &day).map(|_| "a sample day mapped with it".to_owned()).map_err(|e| format!("the plugin fails with it: {e}"))
        }
    })
    .await
    .map_err(|e| format!("the trial run stopped: {e}"))?
}

/// A plain present day for trying a CRM plugin's configuration.
fn sample_day(config: serde_json::Value) -> model::CrmDay {
    model::CrmDay {
        user_id: "1".to_owned(),
        employee_name: Some("Sample Employee".to_owned()),
        day: model::AttendanceRecord {
            date: "2026-01-05".to_owned(),
            shift: Some("DAY".to_owned()),
            status: "present".to_owned(),
            clock_in: Some("2026-01-05T08:00:00+00:00".to_owned()),
            clock_out: Some("2026-01-05T17:00:00+00:00".to_owned()),
            worked_min: Some(540),
            break_min: Some(60),
            payable_min: Some(480),
            scheduled_min: Some(480),
            overtime_min: Some(0),
            late_min: Some(0),
            early_min: Some(0),
            duplicates: 0,
            flags: Vec::new(),
            is_final: true,
            reason: String::new(),
        },
        revision: 1,
        rule_plugin: "standard-shifts".to_owned(),
        rule_version: "1.0.0".to_owned(),
        device_name: Some("Main entrance".to_owned()),
        device_ip: None,
        config,
    }
}
