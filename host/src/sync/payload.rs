//! The request the CRM receives for one processed day, rendered by the active `crm-mapping` plugin
//! (`CRM_PLUGIN`, the built-in `crm-json` by default).
//!
//! Rendering happens once, before a delivery's first attempt, and the result is frozen in the outbox
//! ([`outbox::set_body`]): a retry sends the same bytes under the same key even if the plugin or the
//! day changed meanwhile. A plugin that fails leaves the delivery pending for a later attempt; nothing
//! is dropped.

use std::sync::Arc;

use crate::domain::EmployeeId;
use attendance_plugin_sdk::model;

use crate::plugins::{PluginError, PluginKind, Registry};
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

    /// Renders one delivery from the day as stored now.
    ///
    /// # Errors
    /// When the day cannot be read or the plugin fails.
    pub async fn render(&self, delivery: &Delivery) -> Result<Rendered, RenderError> {
        let Some(day) = attendance::get(&self.store, delivery.attendance_id).await? else {
            return Ok(Rendered::Superseded);
        };
        if day.revision != delivery.revision {
            return Ok(Rendered::Superseded);
        }
        self.render_day(&day).await
    }

    /// Renders a day as stored (also `test-crm`'s dry run).
    ///
    /// # Errors
    /// When the day's context cannot be read or the plugin fails.
    pub async fn render_day(&self, day: &ProcessedDay) -> Result<Rendered, RenderError> {
        let input = self.crm_day(day).await?;
        let registry = Arc::clone(&self.registry);
        let name = self.plugin.clone();
        let request = tokio::task::spawn_blocking(move || {
            let plugin = registry.get_kind(&name, PluginKind::CrmMapping)?;
            registry.runtime().map_day(&plugin, &input)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("mapping task failed: {e}")))??;
        Ok(match request {
            model::CrmRequest::Skip => Rendered::Skip,
            model::CrmRequest::Post { body, headers } => Rendered::Send { body: body.to_string(), headers },
        })
    }

    /// The plugin's input: the day in the fixture format, plus who and which terminal.
    async fn crm_day(&self, day: &ProcessedDay) -> Result<model::CrmDay, StoreError> {
        let employee = EmployeeId(day.user_id.clone());
        let employee_name = employees::get(&self.store, &employee).await?.and_then(|e| e.name);
        let device = match day.clock_in_utc {
            Some(at) => punches::source_device(&self.store, &employee, at).await?,
            None => None,
        };
        Ok(model::CrmDay {
            user_id: day.user_id.clone(),
            employee_name,
            day: record(day),
            revision: u32::try_from(day.revision).unwrap_or(0),
            rule_plugin: day.rule_plugin.clone(),
            rule_version: day.rule_version.clone(),
            device_name: device.as_ref().map(|(name, _)| name.clone()),
            device_ip: device.and_then(|(_, address)| address),
            config: self.registry.config_for(&self.plugin),
        })
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
