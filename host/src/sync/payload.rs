//! The request the CRM receives for one processed day, rendered by the active `crm-mapping` plugin
//! (`CRM_PLUGIN`, the built-in `crm-json` by default).
//!
//! Rendering happens once per delivery, a batch at a time, before the first attempt, and the result is frozen in the outbox
//! ([`outbox::set_bodies`]): a retry sends the same bytes under the same key even if the plugin or the
//! day changed meanwhile. A plugin that fails leaves the delivery pending for a later attempt; nothing
//! is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::EmployeeId;
use attendance_plugin_sdk::text as model;

use crate::plugins::runtime::LoadedPlugin;
use crate::plugins::{PluginError, PluginKind, Registry, contract};
use crate::store::attendance::{self, ProcessedDay};
use crate::store::outbox::Delivery;
use crate::store::{Store, StoreError, employees, punches};

/// What the CRM gets for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// POST this JSON body with these extra headers.
    Send { body: String, headers: Vec<(String, String)> },
    /// The plugin says this day is not for the CRM.
    Skip,
    /// The day has a newer revision already; this delivery is moot.
    Superseded,
}

/// Why a day could not be rendered (the delivery stays pending and is retried).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Reading the day or its context failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mapping plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Renders deliveries through the mapping plugin.
#[derive(Clone)]
pub struct Renderer {
    store: Store,
    registry: Arc<Registry>,
    plugin: String,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").field("plugin", &self.plugin).finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer using the crm-mapping plugin `plugin` (a built-in name or a file in the plugins folder).
    pub fn new(store: Store, registry: Arc<Registry>, plugin: impl Into<String>) -> Self {
        Self { store, registry, plugin: plugin.into() }
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Renders deliveries from their days as stored now: a few queries and one plugin instance for
    /// the whole batch. One result per delivery, in order; a plugin failure is that delivery's alone.
    ///
    /// # Errors
    /// When the days or their context cannot be read.
    pub async fn render_all(&self, deliveries: &[Delivery]) -> Result<Vec<Result<Rendered, PluginError>>, StoreError> {
        let ids: Vec<i64> = deliveries.iter().map(|d| d.attendance_id).collect();
        let days: HashMap<i64, ProcessedDay> = attendance::get_many(&self.store, &ids).await?.into_iter().map(|d| (d.id, d)).collect();
        // A day gone, or at a newer revision, makes the delivery moot.
        let current: Vec<Option<&ProcessedDay>> =
            deliveries.iter().map(|d| days.get(&d.attendance_id).filter(|day| day.revision == d.revision)).collect();
        let mut rendered = self.render_days(&current.iter().flatten().copied().collect::<Vec<_>>()).await?.into_iter();
        Ok(current.iter().map(|day| if day.is_some() { rendered.next().unwrap_or(Ok(Rendered::Superseded)) } else { Ok(Rendered::Superseded) }).collect())
    }

    /// Renders one day as stored (`test-crm`'s dry run).
    ///
    /// # Errors
    /// When the day's context cannot be read or the plugin fails.
    pub async fn render_day(&self, day: &ProcessedDay) -> Result<Rendered, RenderError> {
        let rendered = self.render_days(&[day]).await?.pop().unwrap_or(Ok(Rendered::Skip))?;
        Ok(rendered)
    }

    async fn render_days(&self, days: &[&ProcessedDay]) -> Result<Vec<Result<Rendered, PluginError>>, StoreError> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let inputs = self.crm_days(days).await?;
        let registry = Arc::clone(&self.registry);
        let name = self.plugin.clone();
        let count = inputs.len();
        let results = tokio::task::spawn_blocking(move || match registry.get_kind(&name, PluginKind::CrmMapping) {
            // Every request is checked against the output contract before it can be frozen and sent.
            Ok(plugin) => registry.runtime().map_days(&plugin, &inputs).into_iter().zip(&inputs).map(|(result, day)| checked(&plugin, day, result?)).collect(),
            Err(e) => vec![Err(e); count],
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("mapping task failed: {e}")))?;
        Ok(results)
    }
}

/// A mapping's request as it would be sent, once it meets the output contract (body size, header
/// names and values, no header the bridge sets itself); a violation is the delivery's plugin error,
/// so it stays queued.
fn checked(plugin: &LoadedPlugin, day: &model::CrmDay, request: model::CrmRequest) -> Result<Rendered, PluginError> {
    match request {
        model::CrmRequest::Skip => Ok(Rendered::Skip),
        model::CrmRequest::Post { body, headers } => {
            let body = body.to_string();
            let producer = contract::Producer { plugin: &plugin.name, version: &plugin.info.version, typed: false };
            contract::check_crm_request(producer, day, body.len(), &headers).map_err(PluginError::Contract)?;
            Ok(Rendered::Send { body, headers })
        }
    }
}

impl Renderer {
    /// The plugin's inputs: each day in the fixture format, plus who and which terminal.
    async fn crm_days(&self, days: &[&ProcessedDay]) -> Result<Vec<model::CrmDay>, StoreError> {
        let employees: Vec<EmployeeId> = days.iter().map(|d| EmployeeId(d.user_id.clone())).collect();
        let names = employees::names(&self.store, &employees).await?;
        let clock_ins: Vec<(EmployeeId, chrono::NaiveDateTime)> =
            days.iter().filter_map(|d| Some((EmployeeId(d.user_id.clone()), d.clock_in_utc?))).collect();
        let devices = punches::source_devices(&self.store, &clock_ins).await?;
        let config = self.registry.config_for(&self.plugin);
        Ok(days
            .iter()
            .zip(employees)
            .map(|(day, employee)| {
                let device = day.clock_in_utc.and_then(|at| devices.get(&(employee.clone(), at)));
                model::CrmDay {
                    user_id: day.user_id.clone(),
                    employee_name: names.get(&employee).cloned(),
                    day: record(day),
                    revision: u32::try_from(day.revision).unwrap_or(0),
                    rule_plugin: day.rule_plugin.clone(),
                    rule_version: day.rule_version.clone(),
                    device_name: device.map(|(name, _)| name.clone()),
                    device_ip: device.and_then(|(_, address)| address.clone()),
                    config: config.clone(),
                }
            })
            .collect())
    }
}

/// A stored day back in the rules' record shape (times as RFC 3339 with the site offset of the day).
fn record(day: &ProcessedDay) -> model::AttendanceRecord {
    let zoned = |local: Option<chrono::NaiveDateTime>, utc: Option<chrono::NaiveDateTime>| -> Option<String> {
        let (local, utc) = (local?, utc?);
        let offset = chrono::FixedOffset::east_opt(i32::try_from((local - utc).num_seconds()).ok()?)?;
        Some(local.and_local_timezone(offset).single()?.to_rfc3339())
    };
    model::AttendanceRecord {
        date: day.work_date.to_string(),
        shift: Some(day.shift_code.clone()).filter(|s| !s.is_empty()),
        status: day.status.clone(),
        clock_in: zoned(day.clock_in_local, day.clock_in_utc),
        clock_out: zoned(day.clock_out_local, day.clock_out_utc),
        worked_min: day.worked_min,
        break_min: day.break_min,
        payable_min: day.payable_min,
        scheduled_min: day.scheduled_min,
        overtime_min: day.overtime_min,
        late_min: day.late_min,
        early_min: day.early_min,
        duplicates: u32::try_from(day.duplicates).unwrap_or(0),
        flags: serde_json::from_str(&day.flags).unwrap_or_default(),
        is_final: day.is_final,
        reason: day.reason.clone().unwrap_or_default(),
    }
}
