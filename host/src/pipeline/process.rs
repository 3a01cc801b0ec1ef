//! `process_attendance`: turn pending employee-days into processed days with the active rules plugin.
//!
//! For each employee with pending days, the host gathers the punches around those days (from
//! approved devices), the templates, roster, weekly pattern, holidays and device watermarks, and
//! calls the rules plugin once (a batch of employees per sandboxed instance). Results are upserted:
//! a new revision when a day changes, hand corrections kept. The pending marks are cleared only for
//! days that were processed; when the plugin fails they stay pending with the error, for a retry.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;

use attendance_plugin_sdk::text as model;
use chrono::{Days, NaiveDate, NaiveDateTime, Utc};

use crate::config::Config;
use crate::domain::EmployeeId;
use crate::notify::OutlierLine;
use crate::plugins::runtime::LoadedPlugin;
use crate::plugins::{PluginError, PluginKind, Registry};
use crate::store::attendance::{self, DayContent, Upserted};
use crate::store::{Store, StoreError, devices, employees, pending, punches, rosters, settings};

/// The built-in template made from `WORK_START_TIME`, `WORK_END_TIME` and the overnight settings;
/// employees without any schedule work it every day, as the original bridge did.
pub const DEFAULT_TEMPLATE: &str = "DEFAULT";

/// Flags that make a day an outlier (digest e-mail, `is_outlier` in the CRM payload).
pub const OUTLIER_FLAGS: [&str; 3] = ["in_outlier", "out_outlier", "outlier_punches"];

/// What one processing run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProcessReport {
    /// Employees processed.
    pub employees: usize,
    /// Days inserted or changed.
    pub days_written: usize,
    /// Employees whose processing failed (their days stay pending).
    pub failed: usize,
    /// Pending days cleared without a record of their own: no punch that day, or its punches
    /// belong to a neighbouring day's shift (the night before). Counted so the figure is visible.
    pub no_result: usize,
    /// Employees not sent to the plugin in this run (their days stay pending for the next run):
    /// the plugin hit its time limit, or the run's plugin budget was spent. See [`Self::stopped`].
    pub deferred: usize,
    /// Why the run stopped calling the plugin early, if it did.
    pub stopped: Option<String>,
    /// Outliers that are new in this run.
    #[serde(skip)]
    pub new_outliers: Vec<OutlierLine>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rules plugin cannot be loaded.
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
    /// A plugin cannot be activated as asked.
    #[error("{0}")]
    Activation(String),
}

/// Why one employee's days could not be processed this time. The error is recorded on the days (they
/// stay pending, their failure counted) and the run goes on with everyone else: bad data for one
/// person never stops the others.
#[derive(Debug, thiserror::Error)]
pub enum EmployeeError {
    /// A work date so far from today that the days around it cannot be computed (a punch with a time
    /// like year 262142 stored before times were checked on the way in).
    #[error("work date {0} is outside the dates processing can handle")]
    DateOutOfRange(NaiveDate),
    /// The rules plugin failed on this employee's input.
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
    /// Processing this employee panicked (a bug): the batch is set aside instead of stopping the run.
    #[error("processing panicked (set aside; the other employees went on): {0}")]
    Panicked(String),
    /// The database refused to store this employee's result while it went on answering (a
    /// constraint, a trigger, a value it cannot hold): the employee is set aside, the others go on.
    #[error("the database refused this employee's result (set aside; the other employees went on): {0}")]
    Refused(String),
}

/// The punch range an employee's input covers: two days before the first pending day to three after
/// the last (night shifts and the rules' context), computed without overflow.
///
/// # Errors
/// [`EmployeeError::DateOutOfRange`] at the ends of the calendar.
pub(super) fn input_range(days: &BTreeSet<NaiveDate>) -> Result<(NaiveDate, NaiveDate), EmployeeError> {
    let (Some(first), Some(last)) = (days.first().copied(), days.last().copied()) else {
        return Err(EmployeeError::DateOutOfRange(NaiveDate::MIN));
    };
    let from = first.checked_sub_days(Days::new(2)).ok_or(EmployeeError::DateOutOfRange(first))?;
    let to = last.checked_add_days(Days::new(3)).ok_or(EmployeeError::DateOutOfRange(last))?;
    // Midnight of both ends must exist as a timestamp too (it always does once the dates exist).
    Ok((from, to))
}

fn default_template(config: &Config) -> model::Template {
    let shift = &config.shift;
    model::Template {
        code: DEFAULT_TEMPLATE.to_owned(),
        start: shift.work_start_time.0.format("%H:%M").to_string(),
        end: shift.work_end_time.0.format("%H:%M").to_string(),
        // The original overnight buffer: how long after the end a clock-out still counts.
        late_out_window_min: if shift.overnight_shift { (shift.overnight_shift_buffer_hours * 60).max(60) } else { 180 },
        ..model::Template::default()
    }
}

fn template_from_row(t: &rosters::ShiftTemplate) -> model::Template {
    let u = |v: i32| u32::try_from(v).unwrap_or(0);
    model::Template {
        code: t.code.clone(),
        start: t.start_time.clone(),
        end: t.end_time.clone(),
        early_in_window_min: u(t.early_in_window_min),
        late_out_window_min: u(t.late_out_window_min),
        late_in_outlier_min: u(t.late_in_outlier_min),
        early_out_outlier_min: u(t.early_out_outlier_min),
        late_grace_min: u(t.late_grace_min),
        early_grace_min: u(t.early_grace_min),
        dedup_window_s: u(t.dedup_window_s),
        min_span_min: u(t.min_span_min),
        overtime_min_min: u(t.overtime_min_min),
        absent_below_min: u(t.absent_below_min),
        half_day_below_min: u(t.half_day_below_min),
        rounding: t.rounding_interval_min.zip(t.rounding_mode).map(|(i, mode)| model::Rounding { interval_min: u(i), mode: mode.as_str().to_owned() }),
        settle_min: u(t.settle_min),
        unscheduled_day_boundary: t.unscheduled_day_boundary.clone(),
    }
}

/// What every employee's rules input shares: devices, templates and holidays, read once per run
/// rather than once per employee.
pub(super) struct SiteContext {
    devices: Vec<model::Device>,
    templates: BTreeMap<String, model::Template>,
    holidays: Vec<String>,
}

impl SiteContext {
    /// Reads the shared context.
    pub(super) async fn load(store: &Store, config: &Config) -> Result<Self, StoreError> {
        let site = config.time_zone.0;
        let instant = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc().to_rfc3339());
        let devices = devices::list(store)
            .await?
            .iter()
            .filter(|d| d.enabled && d.approved)
            .map(|d| model::Device {
                id: d.id.to_string(),
                tz: d.time_zone.clone().unwrap_or_else(|| site.name().to_owned()),
                valid_from: None,
                // A push device has delivered everything up to its last request.
                watermark: instant(d.watermark_at.or(d.last_seen_at)),
                clock_offset_s: i64::from(d.clock_offset_s.unwrap_or(0)),
            })
            .collect();
        let mut templates: BTreeMap<String, model::Template> =
            rosters::list_templates(store).await?.iter().map(|t| (t.code.clone(), template_from_row(t))).collect();
        templates.entry(DEFAULT_TEMPLATE.to_owned()).or_insert_with(|| default_template(config));
        let holidays = rosters::list_holidays(store).await?.into_iter().map(|(d, _)| d.to_string()).collect();
        Ok(Self { devices, templates, holidays })
    }
}

/// Builds one employee's rules input covering `days` (and a day on each side).
pub(super) async fn build_input(
    store: &Store,
    config: &Config,
    site_context: &SiteContext,
    rules_config: &serde_json::Value,
    employee: &EmployeeId,
    days: &BTreeSet<NaiveDate>,
) -> Result<model::RulesInput, StoreError> {
    let mut inputs = build_inputs(store, config, site_context, rules_config, &[(employee, days)]).await?;
    inputs.pop().ok_or_else(|| StoreError::Invalid("no days to process".into()))
}

/// Builds the rules inputs of several employees, each covering its `days` (and a day on each
/// side), in order: punches, rosters and employee records are read in one query each for the
/// whole batch, not three per employee.
pub(super) async fn build_inputs(
    store: &Store,
    config: &Config,
    site_context: &SiteContext,
    rules_config: &serde_json::Value,
    wanted: &[(&EmployeeId, &BTreeSet<NaiveDate>)],
) -> Result<Vec<model::RulesInput>, StoreError> {
    let at_midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut ranges = Vec::with_capacity(wanted.len());
    for (employee, days) in wanted {
        if days.is_empty() {
            return Err(StoreError::Invalid("no days to process".into()));
        }
        let (from, to) = input_range(days).map_err(|e| StoreError::Invalid(e.to_string()))?;
        ranges.push((*employee, from, to));
    }
    let (Some(first), Some(last)) = (ranges.iter().map(|r| r.1).min(), ranges.iter().map(|r| r.2).max()) else {
        return Ok(Vec::new());
    };
    let punch_ranges: Vec<_> = ranges.iter().map(|&(employee, from, to)| (employee, at_midnight(from), at_midnight(to))).collect();
    let mut punches = punches::for_employees_between(store, &punch_ranges).await?;
    let codes: Vec<&EmployeeId> = ranges.iter().map(|r| r.0).collect();
    let people = employees::get_many(store, &codes).await?;
    let mut rosters = rosters::rosters_between(store, &codes, first, last).await?;
    let site = config.time_zone.0;
    let now = Utc::now().to_rfc3339();
    let mut inputs = Vec::with_capacity(ranges.len());
    for (employee, from, to) in ranges {
        let stored = punches.remove(employee).unwrap_or_default();
        let person = people.get(employee);
        let roster: Vec<model::RosterEntry> = rosters
            .get_mut(employee)
            .map(std::mem::take)
            .unwrap_or_default()
            .into_iter()
            .filter(|(date, _)| *date >= from && *date <= to)
            .map(|(date, shift)| model::RosterEntry { date: date.to_string(), shift })
            .collect();
        let weekly_shift = person.and_then(|p| p.weekly_shift.clone());
        let mut weekly = weekly_shift.map(|shift| model::Weekly { days: person.map(|p| p.weekly_days.split(',').map(str::to_owned).collect()).unwrap_or_default(), shift });
        let mut default_shift = person.and_then(|p| p.default_shift.clone());
        if weekly.is_none() && default_shift.is_none() && roster.is_empty() {
            // No schedule at all: the configured default shift, every day.
            weekly = Some(model::Weekly { days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(str::to_owned).to_vec(), shift: DEFAULT_TEMPLATE.to_owned() });
            default_shift = Some(DEFAULT_TEMPLATE.to_owned());
        }
        inputs.push(model::RulesInput {
            user_id: employee.0.clone(),
            site_tz: site.name().to_owned(),
            now: now.clone(),
            devices: site_context.devices.clone(),
            templates: site_context.templates.clone(),
            roster,
            weekly,
            default_shift,
            holidays: site_context.holidays.clone(),
            punches: stored
                .iter()
                .map(|p| model::Punch {
                    device: p.device_id.to_string(),
                    seq: p.device_seq.unwrap_or(p.id),
                    time: p.local_time.0.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    state: u8::try_from(p.punch_state).unwrap_or(255),
                })
                .collect(),
            config: rules_config.clone(),
        });
    }
    Ok(inputs)
}

fn parse_zoned(text: &Option<String>) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    match text.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => (Some(t.naive_local()), Some(t.naive_utc())),
        None => (None, None),
    }
}

/// A record of the rules' output as the day stored.
pub(super) fn content(record: &model::AttendanceRecord, rule: &model::PluginInfo) -> DayContent {
    let (clock_in_local, clock_in_utc) = parse_zoned(&record.clock_in);
    let (clock_out_local, clock_out_utc) = parse_zoned(&record.clock_out);
    let mut flags = record.flags.clone();
    flags.sort();
    DayContent {
        status: record.status.clone(),
        clock_in_local,
        clock_in_utc,
        clock_out_local,
        clock_out_utc,
        worked_min: record.worked_min,
        break_min: record.break_min,
        payable_min: record.payable_min,
        scheduled_min: record.scheduled_min,
        overtime_min: record.overtime_min,
        late_min: record.late_min,
        early_min: record.early_min,
        duplicates: i32::try_from(record.duplicates).unwrap_or(i32::MAX),
        flags: serde_json::to_string(&flags).unwrap_or_else(|_| "[]".into()),
        is_final: record.is_final,
        reason: Some(record.reason.clone()).filter(|r| !r.is_empty()),
        rule_plugin: rule.name.clone(),
        rule_version: rule.version.clone(),
    }
}

/// [`super::checked_batch::run_checked`] (plugin call and output contract) with each employee
/// isolated from the others' panics: the batch runs on one blocking thread; if that panics, each input
/// runs again alone, so only the employee whose input makes the plugin host panic is set aside (with
/// [`EmployeeError::Panicked`]) and the others get their results.
async fn run_batch_isolated(
    registry: &Arc<Registry>,
    plugin: &Arc<LoadedPlugin>,
    inputs: Vec<(model::RulesInput, BTreeSet<NaiveDate>)>,
) -> Vec<Result<model::RulesOutput, EmployeeError>> {
    let inputs = Arc::new(inputs);
    let run = |range: std::ops::Range<usize>| {
        let (registry, plugin, inputs) = (Arc::clone(registry), Arc::clone(plugin), Arc::clone(&inputs));
        tokio::task::spawn_blocking(move || super::checked_batch::run_checked(&registry, &plugin, inputs.get(range).unwrap_or_default()))
    };
    match run(0..inputs.len()).await {
        Ok(results) if results.len() == inputs.len() => return results.into_iter().map(|r| r.map_err(EmployeeError::from)).collect(),
        Ok(results) => tracing::error!(inputs = inputs.len(), results = results.len(), "rules batch returned the wrong number of results; running one by one"),
        Err(e) => tracing::error!(error = %e, "rules batch panicked; running its employees one by one to set the culprit aside"),
    }
    let mut results = Vec::with_capacity(inputs.len());
    let mut timed_out = None;
    for index in 0..inputs.len() {
        if let Some(reason) = &timed_out {
            // As inside a batch: after a time-limit stop the plugin is not called again this run.
            results.push(Err(EmployeeError::Plugin(PluginError::Deferred { plugin: plugin.name.clone(), reason: String::clone(reason) })));
            continue;
        }
        let result = match run(index..index + 1).await {
            Ok(mut one) if one.len() == 1 => one.pop().map_or_else(|| Err(EmployeeError::Panicked("no result".into())), |r| r.map_err(EmployeeError::from)),
            Ok(_) => Err(EmployeeError::Panicked("the plugin host returned no result".into())),
            Err(e) => Err(EmployeeError::Panicked(panic_text(e))),
        };
        if let Err(EmployeeError::Plugin(e @ PluginError::TimeLimit { .. })) = &result {
            timed_out = Some(format!("{e}; the plugin is not called again in this run"));
        }
        results.push(result);
    }
    results
}

/// What a failed blocking task says (the panic message when there is one).
fn panic_text(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => panic_payload_text(payload.as_ref()),
        Err(e) => e.to_string(),
    }
}

fn panic_payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "unknown panic".into());
    crate::device::push::truncate_chars(&text, 300).to_owned()
}

/// The shift-rules plugin processing uses: the one `plugin activate` chose, else `RULES_PLUGIN`.
///
/// # Errors
/// When the setting cannot be read.
pub async fn active_rules_plugin(store: &Store, config: &Config) -> Result<String, StoreError> {
    Ok(settings::get(store, settings::RULES_PLUGIN).await?.unwrap_or_else(|| config.plugins.rules.clone()))
}

/// Processes up to `limit` pending employee-days.
///
/// # Errors
/// When the pending list or the plugin cannot be read; single employees failing are counted in the report.
pub async fn process_pending(store: &Store, registry: &Arc<Registry>, config: &Config, limit: i64) -> Result<ProcessReport, ProcessError> {
    process_pending_reporting(store, registry, config, limit, &|_| {}).await
}

/// [`process_pending`], calling `done` with the number of employee-days each employee's result
/// settled (the CLI's progress bar).
///
/// # Errors
/// As [`process_pending`].
pub async fn process_pending_reporting(
    store: &Store,
    registry: &Arc<Registry>,
    config: &Config,
    limit: i64,
    done: &(dyn Fn(u64) + Sync),
) -> Result<ProcessReport, ProcessError> {
    process_round(store, registry, config, limit, done, &RunBudget::start(config)).await
}

/// One round of [`process_pending_reporting`], within the run's plugin `budget` (shared by the
/// rounds of one [`run_processing_reporting`]).
async fn process_round(
    store: &Store,
    registry: &Arc<Registry>,
    config: &Config,
    limit: i64,
    done: &(dyn Fn(u64) + Sync),
    budget: &RunBudget,
) -> Result<ProcessReport, ProcessError> {
    let started = crate::store::now_utc();
    let mut by_employee: BTreeMap<EmployeeId, BTreeSet<NaiveDate>> = BTreeMap::new();
    for day in pending::list(store, limit).await? {
        by_employee.entry(day.employee).or_default().insert(day.work_date);
    }
    if by_employee.is_empty() {
        // Nothing to do: not even loading (possibly compiling) the plugin.
        return Ok(ProcessReport::default());
    }
    let plugin_name = active_rules_plugin(store, config).await?;
    let plugin = {
        let registry = Arc::clone(registry);
        let name = plugin_name.clone();
        tokio::task::spawn_blocking(move || registry.get_kind(&name, PluginKind::ShiftRules))
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))??
    };
    super::plugin_config::refresh(store, registry).await?;
    let rules_config = registry.config_for(&plugin_name);
    let mut report = ProcessReport::default();
    let site_context = SiteContext::load(store, config).await?;
    let by_employee: Vec<(EmployeeId, BTreeSet<NaiveDate>)> = by_employee.into_iter().collect();
    for (position, chunk) in by_employee.chunks(100).enumerate() {
        if report.stopped.is_none() {
            report.stopped = budget.spent();
        }
        if report.stopped.is_some() {
            // The rest stays pending for the next run, untouched (not a failure).
            report.deferred += by_employee.len() - position * 100;
            break;
        }
        // Inputs are built a batch at a time, so memory stays flat however much is pending.
        let mut wanted = Vec::with_capacity(chunk.len());
        let mut batched = Vec::with_capacity(chunk.len());
        for (employee, days) in chunk {
            let day_list: Vec<NaiveDate> = days.iter().copied().collect();
            if let Err(e) = input_range(days) {
                set_aside(store, &mut report, employee, &day_list, &e).await?;
                continue;
            }
            wanted.push((employee, days));
            batched.push((employee, day_list));
        }
        let inputs = build_inputs(store, config, &site_context, &rules_config, &wanted).await?;
        let batch: Vec<_> = inputs.into_iter().zip(&wanted).map(|(input, (_, days))| (input, (*days).clone())).collect();
        let results = run_batch_isolated(registry, &plugin, batch).await;
        let mut outputs = Vec::with_capacity(results.len());
        for ((employee, day_list), result) in batched.into_iter().zip(results) {
            match result {
                Ok(output) => outputs.push((employee, day_list, output)),
                Err(EmployeeError::Plugin(PluginError::Deferred { reason, .. })) => {
                    report.deferred += 1;
                    report.stopped.get_or_insert(reason);
                }
                Err(e) => {
                    set_aside(store, &mut report, employee, &day_list, &e).await?;
                    if let EmployeeError::Plugin(PluginError::TimeLimit { .. }) = e {
                        // Not called again in this run: each call would wait out the whole limit.
                        report.stopped.get_or_insert_with(|| format!("{e}; the plugin is not called again in this run"));
                    }
                }
            }
        }
        store_outputs(store, &mut report, outputs, &plugin.info, started, done).await?;
    }
    Ok(report)
}

/// The per-run plugin budget (`PLUGIN_RUN_BUDGET_SECONDS`): once spent, the rest of the run's
/// employees stay pending for the next run, so one slow plugin cannot hold processing for hours.
struct RunBudget {
    started: std::time::Instant,
    seconds: u64,
}

impl RunBudget {
    fn start(config: &Config) -> Self {
        Self { started: std::time::Instant::now(), seconds: config.plugins.run_budget_seconds }
    }

    /// Why the run must stop, once the budget is spent.
    fn spent(&self) -> Option<String> {
        (self.started.elapsed().as_secs() >= self.seconds)
            .then(|| format!("the run's plugin budget of {} s (PLUGIN_RUN_BUDGET_SECONDS) is spent", self.seconds))
    }
}

/// Records `error` on the employee's days (they stay pending) and counts the failure.
async fn set_aside(store: &Store, report: &mut ProcessReport, employee: &EmployeeId, days: &[NaiveDate], error: &EmployeeError) -> Result<(), StoreError> {
    tracing::warn!(employee = %employee, error = %error, "processing failed; the days stay pending");
    pending::record_failure(store, employee, days, &error.to_string()).await?;
    report.failed += 1;
    Ok(())
}

/// What storing one employee's result did.
struct Stored {
    days_written: usize,
    /// Asked days without a record of their own (see [`ProcessReport::no_result`]).
    no_result: usize,
    new_outliers: Vec<OutlierLine>,
}

/// One employee's result, ready to store: the records kept, and their rows.
struct Prepared<'a> {
    kept: Vec<&'a model::AttendanceRecord>,
    rows: Vec<(NaiveDate, String, DayContent)>,
}

/// Keeps the records of `output` within the asked days plus a day each side (the rules may return
/// neighbouring days for context; only the asked range is stored) and turns them into rows.
fn prepare<'a>(day_list: &[NaiveDate], output: &'a model::RulesOutput, rule: &model::PluginInfo) -> Result<Prepared<'a>, EmployeeError> {
    let (Some(first), Some(last)) = (day_list.first(), day_list.last()) else {
        return Ok(Prepared { kept: Vec::new(), rows: Vec::new() });
    };
    let first = first.checked_sub_days(Days::new(1)).ok_or(EmployeeError::DateOutOfRange(*first))?;
    let last = last.checked_add_days(Days::new(1)).ok_or(EmployeeError::DateOutOfRange(*last))?;
    let (kept, rows) = output
        .records
        .iter()
        .filter_map(|r| NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").ok().filter(|d| *d >= first && *d <= last).map(|d| (r, d)))
        .map(|(r, date)| (r, (date, r.shift.clone().unwrap_or_default(), content(r, rule))))
        .unzip();
    Ok(Prepared { kept, rows })
}

/// Stores one batch's outputs, with their pending marks cleared, in one transaction
/// ([`attendance::store_processed`]), and counts what was written.
///
/// When that transaction fails, or panics on some employee's data, each employee is stored on its
/// own instead: one employee's bad result then sets only that employee aside, and a database that
/// is down stops the run, as it did before batches.
async fn store_outputs(
    store: &Store,
    report: &mut ProcessReport,
    outputs: Vec<(&EmployeeId, Vec<NaiveDate>, model::RulesOutput)>,
    rule: &model::PluginInfo,
    started: NaiveDateTime,
    done: &(dyn Fn(u64) + Sync),
) -> Result<(), StoreError> {
    let mut ready = Vec::with_capacity(outputs.len());
    for (employee, day_list, output) in &outputs {
        // Under catch_unwind like the rest of storing: a panic on one employee's result sets that
        // employee aside instead of failing the run at every schedule.
        let prepared = std::panic::catch_unwind(AssertUnwindSafe(|| prepare(day_list, output, rule)))
            .unwrap_or_else(|payload| Err(EmployeeError::Panicked(panic_payload_text(payload.as_ref()))));
        match prepared {
            Ok(prepared) => ready.push((*employee, day_list.as_slice(), prepared)),
            Err(e) => set_aside(store, report, employee, day_list, &e).await?,
        }
    }
    fn item<'a>(one: &'a (&EmployeeId, &[NaiveDate], Prepared<'_>), processed_from: NaiveDateTime) -> attendance::ProcessedEmployee<'a> {
        attendance::ProcessedEmployee { employee: one.0, days: &one.2.rows, asked: one.1, processed_from }
    }
    let batch: Vec<attendance::ProcessedEmployee<'_>> = ready.iter().map(|one| item(one, started)).collect();
    if let Ok(Ok(outcomes)) = AssertUnwindSafe(attendance::store_processed(store, &batch)).catch_unwind().await {
        for ((employee, day_list, prepared), outcomes) in ready.iter().zip(outcomes) {
            let stored = AssertUnwindSafe(finish(store, employee, day_list, prepared, &outcomes)).catch_unwind().await;
            record_stored(store, report, employee, day_list, stored, done).await?;
        }
        return Ok(());
    }
    tracing::warn!("storing a batch of results failed; storing its employees one at a time");
    for one in &ready {
        let stored = AssertUnwindSafe(async {
            let outcomes = attendance::store_processed(store, &[item(one, started)]).await?.into_iter().next().unwrap_or_default();
            finish(store, one.0, one.1, &one.2, &outcomes).await
        })
        .catch_unwind()
        .await;
        record_stored(store, report, one.0, one.1, stored, done).await?;
    }
    Ok(())
}

/// Counts one employee's stored result in `report`, or sets the employee aside after a panic or when
/// the database refused its result.
async fn record_stored(
    store: &Store,
    report: &mut ProcessReport,
    employee: &EmployeeId,
    day_list: &[NaiveDate],
    stored: std::thread::Result<Result<Stored, StoreError>>,
    done: &(dyn Fn(u64) + Sync),
) -> Result<(), StoreError> {
    match stored {
        Ok(Ok(stored)) => {
            report.employees += 1;
            report.days_written += stored.days_written;
            crate::metrics::DAYS_PROCESSED.inc_by(&[], stored.days_written as f64);
            report.no_result += stored.no_result;
            report.new_outliers.extend(stored.new_outliers);
            done(day_list.len() as u64);
            Ok(())
        }
        // One employee's failure stops the run only when the database itself is gone: while it
        // still answers, the failure is this employee's data, and the others must go on.
        Ok(Err(e)) => match store.ping().await {
            Ok(()) => set_aside(store, report, employee, day_list, &EmployeeError::Refused(e.to_string())).await,
            Err(_) => Err(e),
        },
        // Storing runs under catch_unwind: a panic on one employee's data sets that employee aside,
        // where it would otherwise fail the whole run again at every schedule.
        Err(payload) => set_aside(store, report, employee, day_list, &EmployeeError::Panicked(panic_payload_text(payload.as_ref()))).await,
    }
}

/// What storing `prepared` did: days written, asked days without a record, the new outliers.
async fn finish(store: &Store, employee: &EmployeeId, day_list: &[NaiveDate], prepared: &Prepared<'_>, outcomes: &[attendance::DayOutcome]) -> Result<Stored, StoreError> {
    // The output passed the contract, so it is not empty for an employee who punched on an asked
    // day; an asked day with no record of its own is counted, then cleared.
    let recorded: BTreeSet<NaiveDate> = prepared.rows.iter().map(|(date, _, _)| *date).collect();
    let no_result = day_list.iter().filter(|d| !recorded.contains(d)).count();
    let mut stored = Stored { days_written: 0, no_result, new_outliers: Vec::new() };
    let mut name = None;
    for (record, outcome) in prepared.kept.iter().zip(outcomes) {
        if !matches!(outcome.upserted, Upserted::Inserted | Upserted::Updated(_)) {
            continue;
        }
        stored.days_written += 1;
        let was_outlier = outcome.previous_flags.as_deref().is_some_and(|flags| OUTLIER_FLAGS.iter().any(|f| flags.contains(f)));
        let outliers: Vec<&str> = record.flags.iter().map(String::as_str).filter(|f| OUTLIER_FLAGS.contains(f)).collect();
        if outliers.is_empty() || was_outlier {
            continue;
        }
        if name.is_none() {
            name = Some(employees::get(store, employee).await?.and_then(|e| e.name));
        }
        stored.new_outliers.push(OutlierLine {
            employee: employee.0.clone(),
            name: name.clone().flatten(),
            date: record.date.clone(),
            shift: record.shift.clone(),
            reason: outliers.join(", "),
            clock_in: record.clock_in.as_deref().map(|t| t.get(11..16).unwrap_or(t).to_owned()),
            clock_out: record.clock_out.as_deref().map(|t| t.get(11..16).unwrap_or(t).to_owned()),
        });
    }
    Ok(stored)
}

/// The `process_attendance` job: processes what is pending, then sends one outlier digest.
pub struct ProcessAttendance {
    store: Store,
    registry: Arc<Registry>,
    config: Config,
}

impl ProcessAttendance {
    /// A processing job.
    pub fn new(store: Store, registry: Arc<Registry>, config: Config) -> Self {
        Self { store, registry, config }
    }
}

/// Processes every pending day (in rounds) and e-mails one digest of the new outliers when enabled.
///
/// # Errors
/// As [`process_pending`]; a failed e-mail is an error too (the days are stored by then).
pub async fn run_processing(store: &Store, registry: &Arc<Registry>, config: &Config) -> Result<ProcessReport, super::JobError> {
    run_processing_reporting(store, registry, config, &|_| {}).await
}

/// [`run_processing`], calling `done` with the employee-days settled as it goes.
///
/// # Errors
/// As [`run_processing`].
pub async fn run_processing_reporting(
    store: &Store,
    registry: &Arc<Registry>,
    config: &Config,
    done: &(dyn Fn(u64) + Sync),
) -> Result<ProcessReport, super::JobError> {
    let mut total = ProcessReport::default();
    let budget = RunBudget::start(config);
    // Rounds of up to 5,000 days until nothing processable is left (days that failed stay pending).
    loop {
        let round = process_round(store, registry, config, 5000, done, &budget).await.map_err(|e| super::JobError::Failed(e.to_string()))?;
        total.employees += round.employees;
        total.days_written += round.days_written;
        total.failed += round.failed;
        total.no_result += round.no_result;
        total.deferred += round.deferred;
        total.new_outliers.extend(round.new_outliers);
        let stopped = round.stopped.is_some();
        if let Some(reason) = round.stopped {
            tracing::warn!(reason = %reason, deferred = total.deferred, "processing stopped calling the plugin; the rest stays pending for the next run");
            total.stopped = Some(reason);
        }
        let remaining = pending::list(store, 1).await?;
        if round.employees == 0 || remaining.is_empty() || round.failed > 0 || stopped {
            break;
        }
    }
    if config.email.outlier_notifications && !total.new_outliers.is_empty() {
        let mailer = crate::notify::Mailer::from_settings(&config.email, config.data_dir.join("mail")).map_err(|e| super::JobError::Failed(e.to_string()))?;
        mailer
            .send_outlier_digest(&total.new_outliers, config.time_zone.0.name())
            .await
            .map_err(|e| super::JobError::Failed(format!("outlier digest: {e}")))?;
    }
    Ok(total)
}

impl super::Job for ProcessAttendance {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::ProcessAttendance
    }

    fn run(&self) -> super::JobFuture {
        let (store, registry, config) = (self.store.clone(), Arc::clone(&self.registry), self.config.clone());
        Box::pin(async move {
            let report = run_processing(&store, &registry, &config).await?;
            Ok(serde_json::json!({
                "employees": report.employees,
                "days_written": report.days_written,
                "no_result": report.no_result,
                "deferred": report.deferred,
                "stopped": report.stopped,
                "failed": report.failed,
                "new_outliers": report.new_outliers.len(),
            }))
        })
    }
}
