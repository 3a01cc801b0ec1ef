//! `plugin preview` and `plugin activate`: try a candidate shift-rules plugin on the last days of
//! stored punches, see which days it would change and how, without writing anything; then make it the
//! plugin processing uses, keeping the previous one named for roll-back.

use std::collections::BTreeSet;
use std::sync::Arc;

use attendance_plugin_sdk::text as model;
use chrono::{NaiveDate, Utc};

use super::process::{self, ProcessError};
use crate::config::Config;
use crate::domain::EmployeeId;
use crate::plugins::runtime::LoadedPlugin;
use crate::plugins::{PluginError, PluginKind, Registry};
use crate::store::attendance::{self, ProcessedDay};
use crate::store::{Store, StoreError, punches, settings};

/// One day the candidate would store differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayChange {
    /// Whose day.
    pub employee: EmployeeId,
    /// Work date.
    pub date: NaiveDate,
    /// Shift code (`""` unscheduled).
    pub shift: String,
    /// What differs, field by field (`status: present → late`), or `new day` / `no longer produced`.
    pub differences: Vec<String>,
}

/// What a preview found.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    /// Employees looked at.
    pub employees: usize,
    /// Days the candidate produced in the window.
    pub days: usize,
    /// The days that would change.
    pub changes: Vec<DayChange>,
    /// Employees the candidate failed on, with the error.
    pub failures: Vec<(EmployeeId, String)>,
}

/// Runs `candidate` (a name or a `.wasm` path) over the last `days` days of stored punches and
/// compares its days with the stored ones. Nothing is written.
///
/// # Errors
/// When the candidate cannot be loaded or is not a shift-rules plugin, or storage fails.
pub async fn preview(store: &Store, registry: &Arc<Registry>, config: &Config, candidate: &str, days: u32) -> Result<Preview, ProcessError> {
    let plugin = load_rules(registry, candidate).await?;
    let today = Utc::now().with_timezone(&config.time_zone.0).date_naive();
    let first = today
        .checked_sub_days(chrono::Days::new(u64::from(days.max(1)) - 1))
        .ok_or_else(|| ProcessError::Activation(format!("{days} days back from {today} is outside the calendar")))?;
    let window: BTreeSet<NaiveDate> = first.iter_days().take_while(|d| *d <= today).collect();
    let at_midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default();
    let tomorrow = today.succ_opt().unwrap_or(today);
    let people = punches::employees_between(store, at_midnight(first), at_midnight(tomorrow)).await?;
    super::plugin_config::refresh(store, registry).await?;
    let rules_config = registry.config_for(&plugin.name);
    let site_context = process::SiteContext::load(store, config).await?;
    let mut inputs = Vec::with_capacity(people.len());
    for employee in &people {
        inputs.push((process::build_input(store, config, &site_context, &rules_config, employee, &window).await?, window.clone()));
    }
    // Checked as processing checks: a candidate returning garbage is a failure, not "no change".
    let outputs = super::checked_batch::run(registry, &plugin, inputs).await?;
    let mut preview = Preview { employees: people.len(), ..Preview::default() };
    for (employee, output) in people.into_iter().zip(outputs) {
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                preview.failures.push((employee, e.to_string()));
                continue;
            }
        };
        let stored: Vec<ProcessedDay> = attendance::for_employee(store, &employee).await?.into_iter().filter(|d| window.contains(&d.work_date)).collect();
        let mut produced = BTreeSet::new();
        for record in &output.records {
            let Ok(date) = NaiveDate::parse_from_str(&record.date, "%Y-%m-%d") else { continue };
            if !window.contains(&date) {
                continue;
            }
            preview.days += 1;
            let shift = record.shift.clone().unwrap_or_default();
            produced.insert((date, shift.clone()));
            let before = stored.iter().find(|d| d.work_date == date && d.shift_code == shift);
            let differences = match before {
                None => vec!["new day".to_owned()],
                Some(day) => differences(day, record, &plugin.info),
            };
            if !differences.is_empty() {
                preview.changes.push(DayChange { employee: employee.clone(), date, shift, differences });
            }
        }
        for day in stored.iter().filter(|d| !produced.contains(&(d.work_date, d.shift_code.clone()))) {
            preview.changes.push(DayChange {
                employee: employee.clone(),
                date: day.work_date,
                shift: day.shift_code.clone(),
                differences: vec!["no longer produced".to_owned()],
            });
        }
    }
    preview.changes.sort_by(|a, b| (&a.employee, a.date, &a.shift).cmp(&(&b.employee, b.date, &b.shift)));
    Ok(preview)
}

/// What would change between a stored day and the candidate's record, in words.
fn differences(day: &ProcessedDay, record: &model::AttendanceRecord, info: &model::PluginInfo) -> Vec<String> {
    let new = process::content(record, info);
    if new.same_as(day) {
        return Vec::new();
    }
    let show = |v: Option<i32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let time = |t: Option<chrono::NaiveDateTime>| t.map_or_else(|| "-".to_owned(), |t| t.format("%H:%M").to_string());
    let mut out = Vec::new();
    let mut field = |name: &str, before: String, after: String| {
        if before != after {
            out.push(format!("{name}: {before} → {after}"));
        }
    };
    field("status", day.status.clone(), new.status.clone());
    field("in", time(day.clock_in_local), time(new.clock_in_local));
    field("out", time(day.clock_out_local), time(new.clock_out_local));
    field("worked", show(day.worked_min), show(new.worked_min));
    field("payable", show(day.payable_min), show(new.payable_min));
    field("break", show(day.break_min), show(new.break_min));
    field("overtime", show(day.overtime_min), show(new.overtime_min));
    field("late", show(day.late_min), show(new.late_min));
    field("early", show(day.early_min), show(new.early_min));
    field("flags", day.flags.clone(), new.flags.clone());
    field("final", day.is_final.to_string(), new.is_final.to_string());
    if out.is_empty() {
        out.push("scheduled minutes or duplicates".to_owned());
    }
    out
}

/// Makes `name` the shift-rules plugin of the next processing runs, on every instance, and returns the
/// one it replaces (still available: activating it again rolls back) and what the golden fixtures
/// found.
///
/// # Errors
/// When the plugin cannot be loaded, is not a shift-rules plugin, is given as a path (copy it into the
/// plugins folder: every instance must find it by name), fails a golden fixture (an error or a
/// broken output contract, see [`super::fixture_gate`]) and `force` is not set, or storage fails.
pub async fn activate(
    store: &Store,
    registry: &Arc<Registry>,
    config: &Config,
    name: &str,
    force: bool,
) -> Result<(String, super::fixture_gate::GateReport), ProcessError> {
    if name.ends_with(".wasm") || name.contains('/') {
        return Err(ProcessError::Activation(format!(
            "{name} is a path: copy the file into the plugins folder and activate it by its name, so every instance finds it"
        )));
    }
    super::plugin_config::refresh(store, registry).await?;
    let plugin = load_rules(registry, name).await?;
    let gate = {
        let registry = Arc::clone(registry);
        tokio::task::spawn_blocking(move || super::fixture_gate::run(&registry, &plugin))
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))?
            .map_err(ProcessError::Activation)?
    };
    if !gate.broken.is_empty() && !force {
        let (id, error) = &gate.broken[0];
        return Err(ProcessError::Activation(format!(
            "{name} fails {} of {} golden fixtures (first {id}: {error}); not activated (--force activates it anyway)",
            gate.broken.len(),
            gate.fixtures
        )));
    }
    let previous = process::active_rules_plugin(store, config).await?;
    if previous != name {
        settings::set(store, settings::PREVIOUS_RULES_PLUGIN, &previous).await?;
        settings::set(store, settings::RULES_PLUGIN, name).await?;
    }
    Ok((previous, gate))
}

async fn load_rules(registry: &Arc<Registry>, name: &str) -> Result<Arc<LoadedPlugin>, ProcessError> {
    let registry = Arc::clone(registry);
    let name = name.to_owned();
    let plugin = tokio::task::spawn_blocking(move || {
        let plugin = registry.resolve(&name)?;
        if plugin.kind != PluginKind::ShiftRules {
            return Err(PluginError::WrongWorld { plugin: name, message: format!("is a {} plugin, not shift-rules", plugin.kind) });
        }
        Ok(plugin)
    })
    .await
    .map_err(|e| StoreError::Invalid(e.to_string()))??;
    Ok(plugin)
}
