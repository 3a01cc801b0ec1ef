//! Running an import: read the source a chunk at a time, map it, write each chunk in one
//! transaction. Tables go in dependency order (devices, employees, delivered days, punches), so a
//! punch chunk never lands before the days that decide which of its days our rules may compute.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::plan::{self, DayPlan, Target};
use super::source::{Source, SourceSchema};
use super::{ImportError, ImportOptions, ImportReport};
use crate::config::DatabaseUrl;
use crate::domain::{DeviceId, EmployeeId, WallTime};
use crate::pipeline::process::DEFAULT_TEMPLATE;
use crate::store::{Store, django_import};

/// Imports the original's database at `from` into `store`. `progress` receives a line per committed
/// chunk (the CLI prints them).
///
/// # Errors
/// [`ImportError`] when the source cannot be read or is not the original's, or writing fails; the
/// chunks committed before stay, and running the import again finishes it.
pub async fn run(store: &Store, from: &DatabaseUrl, options: &ImportOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<ImportReport, ImportError> {
    let started = std::time::Instant::now();
    let mut source = Source::open(from).await?;
    let schema = source.inspect().await?;
    let mut report = ImportReport { dry_run: options.dry_run, legacy_schema: schema.legacy_days(), ..ImportReport::default() };
    if schema.legacy_days() {
        report.notes.push("the source has only the legacy day columns (date, clock_in, clock_out): read those".into());
    } else if schema.legacy_devices() {
        report.notes.push("the source's devices predate the failover address or the device zone: the missing values take the original's defaults".into());
    }
    let chunk = options.chunk_size.max(1);
    let targets = import_devices(store, &mut source, &schema, options, &mut report, progress).await?;
    import_employees(store, &mut source, &schema, options, chunk, &mut report, progress).await?;
    let days = import_days(store, &mut source, &schema, options, chunk, &targets, &mut report, progress).await?;
    import_punches(store, &mut source, &schema, options, chunk, &targets, &days, &mut report, progress).await?;
    import_schedules(store, &mut source, &schema, options, &mut report).await?;
    if options.reprocess_synced && !options.dry_run {
        report.released_days = django_import::release_imported_days(store).await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Source device id → our device (`None` when the device was refused).
type Targets = HashMap<i64, Option<Target>>;

async fn import_devices(
    store: &Store,
    source: &mut Source,
    schema: &SourceSchema,
    options: &ImportOptions,
    report: &mut ImportReport,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Targets, ImportError> {
    let rows = source.devices(schema).await?;
    let counts = &mut report.devices;
    counts.read = rows.len();
    let mut planned = Vec::new();
    let mut targets = Targets::new();
    for row in &rows {
        match plan::device(row) {
            Ok((device, tz)) => planned.push((row.id, device, tz)),
            Err(reason) => {
                counts.refuse(reason);
                targets.insert(row.id, None);
            }
        }
    }
    let new_devices: Vec<_> = planned.iter().map(|(_, d, _)| d.clone()).collect();
    if options.dry_run {
        counts.imported = planned.len();
        for (id, _, tz) in &planned {
            targets.insert(*id, Some(Target { id: DeviceId(0), tz: *tz }));
        }
        return Ok(targets);
    }
    let (added, ids) = django_import::insert_devices(store, &new_devices).await?;
    counts.imported = added;
    counts.duplicates = planned.len() - added;
    let ids: HashMap<String, DeviceId> = ids.into_iter().collect();
    for (source_id, device, tz) in &planned {
        let target = ids.get(&device.name).map(|id| Target { id: *id, tz: *tz });
        targets.insert(*source_id, target);
    }
    progress(&format!("devices: committed ({added} new of {})", planned.len()));
    Ok(targets)
}

async fn import_employees(
    store: &Store,
    source: &mut Source,
    schema: &SourceSchema,
    options: &ImportOptions,
    chunk: usize,
    report: &mut ImportReport,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ImportError> {
    let mut after = 0;
    loop {
        let rows = source.users(schema, after, chunk).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let counts = &mut report.employees;
        counts.read += rows.len();
        let mut planned = Vec::new();
        for row in &rows {
            match plan::employee(row) {
                Ok(employee) => planned.push(employee),
                Err(reason) => counts.refuse(reason),
            }
        }
        if options.dry_run {
            counts.imported += planned.len();
            continue;
        }
        let added = django_import::insert_employees(store, &planned).await?;
        counts.imported += added;
        counts.duplicates += planned.len() - added;
        progress(&format!("employees: chunk committed ({} read)", counts.read));
    }
    Ok(())
}

/// The original's employee-days, by what it did with them.
#[derive(Debug, Default)]
struct DayKeys {
    /// Delivered to the CRM: our rules must not compute them again (unless `--reprocess-synced`
    /// hands them back at the end).
    delivered: HashSet<(EmployeeId, NaiveDate)>,
    /// Processed but not delivered: our rules compute them.
    not_synced: HashSet<(EmployeeId, NaiveDate)>,
}

impl DayKeys {
    fn known(&self, day: &(EmployeeId, NaiveDate)) -> bool {
        self.delivered.contains(day) || self.not_synced.contains(day)
    }

    /// The days new punches make pending: the undelivered days they belong to, and for a punch the
    /// original never processed (no day of its own or the day before), its day and the day before,
    /// as a poll marks them. Never a delivered day. Only days with punches are marked, so a day
    /// before the original's first data is not computed as an absence.
    fn to_mark(&self, new: &[(EmployeeId, WallTime)]) -> Vec<(EmployeeId, NaiveDate)> {
        let mut marks = std::collections::BTreeSet::new();
        for (employee, time) in new {
            let day = (employee.clone(), time.0.date());
            let before = time.0.date().pred_opt().map(|d| (employee.clone(), d));
            let covered = self.known(&day) || before.as_ref().is_some_and(|b| self.known(b));
            for candidate in [Some(day), before].into_iter().flatten() {
                if self.delivered.contains(&candidate) {
                    continue;
                }
                if !covered || self.not_synced.contains(&candidate) {
                    marks.insert(candidate);
                }
            }
        }
        marks.into_iter().collect()
    }
}

/// Imports the delivered days; returns every employee-day of the original by what it did with it.
#[allow(clippy::too_many_arguments)]
async fn import_days(
    store: &Store,
    source: &mut Source,
    schema: &SourceSchema,
    options: &ImportOptions,
    chunk: usize,
    targets: &Targets,
    report: &mut ImportReport,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<DayKeys, ImportError> {
    let mut delivered = HashSet::new();
    let mut not_synced = HashSet::new();
    let mut changed_after_sync = 0;
    let mut after = 0;
    loop {
        let rows = source.days(schema, after, chunk).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let counts = &mut report.days;
        counts.read += rows.len();
        let mut planned = Vec::new();
        for row in &rows {
            let Some(target) = row.device_id.and_then(|id| targets.get(&id).copied()) else {
                counts.refuse("unknown device");
                continue;
            };
            let Some(target) = target else {
                counts.refuse("its device was refused");
                continue;
            };
            match plan::day(row, target.tz, DEFAULT_TEMPLATE) {
                Ok(DayPlan::Delivered(day)) => {
                    if !delivered.insert((day.employee.clone(), day.work_date)) {
                        // One record per employee and date here; the original kept one per device.
                        counts.note("delivered days merged into the same employee's day from another device");
                        continue;
                    }
                    if plan::changed_after_sync(row) {
                        changed_after_sync += 1;
                    }
                    planned.push(*day);
                }
                Ok(DayPlan::NotSynced(employee, date)) => {
                    counts.note("days not delivered by the original: not copied, left to our rules (their punches are marked pending)");
                    not_synced.insert((employee, date));
                }
                Err(reason) => counts.refuse(reason),
            }
        }
        if options.dry_run {
            counts.imported += planned.len();
            continue;
        }
        let added = django_import::insert_delivered_days(store, &planned).await?;
        counts.imported += added;
        counts.duplicates += planned.len() - added;
        progress(&format!("processed_attendance: chunk committed ({} read)", counts.read));
    }
    if changed_after_sync > 0 {
        report.notes.push(format!(
            "{changed_after_sync} delivered day(s) were changed by the original after their delivery; the CRM may hold an older version (--reprocess-synced recomputes them and sends real differences)"
        ));
    }
    // A day delivered from one device and not from another is delivered: the CRM has it.
    let overlap = not_synced.iter().filter(|d| delivered.contains(*d)).count();
    if overlap > 0 {
        report.notes.push(format!("{overlap} employee-day(s) were delivered from one device and not from another: kept as delivered"));
    }
    not_synced.retain(|d| !delivered.contains(d));
    Ok(DayKeys { delivered, not_synced })
}

#[allow(clippy::too_many_arguments)]
async fn import_punches(
    store: &Store,
    source: &mut Source,
    schema: &SourceSchema,
    options: &ImportOptions,
    chunk: usize,
    targets: &Targets,
    days: &DayKeys,
    report: &mut ImportReport,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ImportError> {
    let now = crate::store::now_utc();
    let mut after = 0;
    let mut committed = 0;
    loop {
        let rows = source.raw(schema, after, chunk).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let counts = &mut report.punches;
        counts.read += rows.len();
        let mut planned = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(target) = row.device_id.and_then(|id| targets.get(&id).copied()) else {
                counts.refuse("unknown device");
                continue;
            };
            let Some(target) = target else {
                counts.refuse("its device was refused");
                continue;
            };
            match plan::punch(row, target, now) {
                Ok(punch) => planned.push(punch),
                Err(reason) => counts.refuse(reason),
            }
        }
        if options.dry_run {
            counts.imported += planned.len();
            continue;
        }
        let added = django_import::insert_punches(store, &planned, &|new| days.to_mark(new)).await?;
        counts.imported += added;
        counts.duplicates += planned.len() - added;
        committed += 1;
        progress(&format!("raw_punches: chunk {committed} committed ({} read)", counts.read));
        if options.pause_after_chunk == Some(committed) {
            progress("paused (BRIDGE_IMPORT_PAUSE_AFTER_CHUNK)");
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    }
    Ok(())
}

async fn import_schedules(store: &Store, source: &mut Source, schema: &SourceSchema, options: &ImportOptions, report: &mut ImportReport) -> Result<(), ImportError> {
    if !schema.has_beat {
        report.notes.push("no Celery beat schedule in the source database (it was in the original's code): the default job schedules are kept".into());
        return Ok(());
    }
    let rows = source.beat().await?;
    let counts = &mut report.schedules;
    counts.read = rows.len();
    for row in &rows {
        match plan::schedule(row) {
            Ok((job, schedule, paused)) => {
                if options.dry_run || django_import::set_schedule(store, job, &schedule, paused).await? {
                    counts.imported += 1;
                } else {
                    counts.duplicates += 1;
                }
            }
            Err(reason) => counts.refuse(reason),
        }
    }
    Ok(())
}
