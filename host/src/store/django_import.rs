//! Writing what `import-django` read from the original Django bridge.
//!
//! Every function here writes one chunk in one transaction and keys each row on its natural key
//! (device name, employee code, punch identity, employee-day) with `ON CONFLICT DO NOTHING`: a chunk
//! is all there or not at all, and running the import again (after a crash, or twice on purpose)
//! finds the rows in place and adds nothing.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::punches::NewPunch;
use super::schema::{crm_outbox, devices, employees, job_schedules, pending_days, processed_attendance as pa, raw_punches};
use super::{Store, StoreError, now_utc, outbox};
use crate::domain::{DeviceId, EmployeeId, WallTime};

/// `rule_plugin` of a day imported from the Django bridge: the CRM has it already, so it is kept as
/// it is (like a hand-corrected day) unless the operator asks the rules to recompute it.
pub const IMPORTED_RULES: &str = "django-import";

/// Rows per multi-row statement on PostgreSQL (well under its bound-parameter limit).
const PG_CHUNK: usize = 500;

/// A device as the original registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDevice {
    /// Unique name (the natural key).
    pub name: String,
    /// First address.
    pub address: String,
    /// Failover address.
    pub secondary_address: Option<String>,
    /// ZK port.
    pub port: i32,
    /// IANA zone of its wall times.
    pub time_zone: String,
    /// Whether it is polled.
    pub enabled: bool,
    /// Its last successful download in the original, UTC: everything up to it was delivered.
    pub last_sync_at: Option<NaiveDateTime>,
}

/// A day the original already delivered to the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDay {
    /// Employee code.
    pub employee: EmployeeId,
    /// Its work date (the shift's start date).
    pub work_date: NaiveDate,
    /// The shift code our rules give that day, so a recomputation (`--reprocess-synced`) meets it.
    pub shift_code: String,
    /// The day's content, `rule_plugin` = [`IMPORTED_RULES`].
    pub content: super::attendance::DayContent,
    /// Kept from the rules unless the operator asks for a recomputation.
    pub manual_override: bool,
    /// The original's delivery attempts.
    pub attempts: i32,
    /// When the original delivered it (its last attempt), UTC.
    pub delivered_at: Option<NaiveDateTime>,
}

/// Registers the devices that are not there yet (by name); returns how many were new and the id of
/// every device named, new or not.
///
/// # Errors
/// When the database fails; then none of the chunk is stored.
pub async fn insert_devices(store: &Store, rows: &[ImportedDevice]) -> Result<(usize, Vec<(String, DeviceId)>), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<(usize, Vec<(String, DeviceId)>), StoreError, _>(conn, async |conn| {
            let mut added = 0;
            for d in rows {
                added += diesel::insert_into(devices::table)
                    .values((
                        devices::name.eq(&d.name),
                        devices::address.eq(&d.address),
                        devices::secondary_address.eq(&d.secondary_address),
                        devices::port.eq(d.port),
                        devices::time_zone.eq(&d.time_zone),
                        devices::enabled.eq(d.enabled),
                        devices::last_sync_at.eq(d.last_sync_at),
                        devices::watermark_at.eq(d.last_sync_at),
                        devices::created_at.eq(now),
                        devices::updated_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            let names: Vec<&str> = rows.iter().map(|d| d.name.as_str()).collect();
            let ids = devices::table.filter(devices::name.eq_any(&names)).select((devices::name, devices::id)).load(conn).await?;
            Ok((added, ids))
        })
        .await
    })
}

/// Adds the employees that are not there yet; a known one without a name gets this one (a name an
/// admin gave is never replaced). Returns how many were new.
///
/// # Errors
/// When the database fails; then none of the chunk is stored.
pub async fn insert_employees(store: &Store, rows: &[(EmployeeId, Option<String>)]) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let mut added = 0;
            for (code, name) in rows {
                added += diesel::insert_into(employees::table)
                    .values((employees::employee_code.eq(code), employees::name.eq(name), employees::created_at.eq(now), employees::updated_at.eq(now)))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if let Some(name) = name {
                    diesel::update(employees::table.filter(employees::employee_code.eq(code)).filter(employees::name.is_null()))
                        .set((employees::name.eq(name), employees::updated_at.eq(now)))
                        .execute(conn)
                        .await?;
                }
            }
            Ok(added)
        })
        .await
    })
}

/// Stores delivered days with their delivery recorded as delivered (revision 1, the key a first
/// revision gets): the sender never picks them up. Returns how many were new.
///
/// # Errors
/// When the database fails; then none of the chunk is stored.
pub async fn insert_delivered_days(store: &Store, rows: &[ImportedDay]) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let mut added = 0;
            for day in rows {
                let id: Option<i64> = diesel::insert_into(pa::table)
                    .values((
                        &day.content,
                        pa::user_id.eq(&day.employee.0),
                        pa::work_date.eq(day.work_date),
                        pa::shift_code.eq(&day.shift_code),
                        pa::revision.eq(1),
                        pa::manual_override.eq(day.manual_override),
                        pa::created_at.eq(now),
                        pa::updated_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .returning(pa::id)
                    .get_result(conn)
                    .await
                    .optional()?;
                let Some(id) = id else { continue };
                diesel::insert_into(crm_outbox::table)
                    .values((
                        crm_outbox::attendance_id.eq(id),
                        crm_outbox::revision.eq(1),
                        crm_outbox::idempotency_key.eq(outbox::idempotency_key(id, 1)),
                        crm_outbox::status.eq(outbox::OutboxStatus::Delivered),
                        crm_outbox::attempts.eq(day.attempts),
                        crm_outbox::next_attempt_at.eq(now),
                        crm_outbox::created_at.eq(now),
                        crm_outbox::delivered_at.eq(day.delivered_at.or(Some(now))),
                    ))
                    .execute(conn)
                    .await?;
                added += 1;
            }
            Ok(added)
        })
        .await
    })
}

/// A punch row as the import writes it (the original's receipt time kept).
#[derive(Insertable)]
#[diesel(table_name = raw_punches)]
struct PunchRow<'a> {
    device_id: DeviceId,
    device_user_id: &'a EmployeeId,
    local_time: WallTime,
    utc_time: NaiveDateTime,
    status: i32,
    punch_state: i32,
    verify_type: i32,
    received_at: NaiveDateTime,
}

/// Which employee-days the new punches of a chunk make pending (decided by the caller, who knows
/// what the original delivered).
pub type DaysToMark<'a> = dyn Fn(&[(EmployeeId, WallTime)]) -> Vec<(EmployeeId, NaiveDate)> + Sync + 'a;

/// Stores punches (skipping those already stored) and, in the same transaction, marks for
/// processing the days `days_to_mark` names for the new ones: a crash never leaves a stored punch
/// whose day nobody will compute, and a punch stored before marks nothing again. Returns how many
/// punches were new.
///
/// # Errors
/// When the database fails; then none of the chunk is stored.
pub async fn insert_punches(store: &Store, rows: &[(NewPunch, NaiveDateTime)], days_to_mark: &DaysToMark<'_>) -> Result<usize, StoreError> {
    let now = now_utc();
    let values: Vec<PunchRow<'_>> = rows
        .iter()
        .map(|(p, received_at)| PunchRow {
            device_id: p.device_id,
            device_user_id: &p.employee,
            local_time: p.local_time,
            utc_time: p.utc_time.naive_utc(),
            status: i32::from(p.status),
            punch_state: i32::from(p.punch_state),
            verify_type: i32::from(p.verify_type),
            received_at: *received_at,
        })
        .collect();
    let values = &values;
    match store {
        Store::Sqlite(pool) => {
            let mut pooled = pool.get().await?;
            let conn: &mut super::SqliteConn = &mut pooled;
            super::write_tx::<usize, StoreError, _>(conn, async |conn| {
                let mut new = Vec::new();
                for row in values {
                    let inserted: Option<(EmployeeId, WallTime)> = diesel::insert_into(raw_punches::table)
                        .values(row)
                        .on_conflict_do_nothing()
                        .returning((raw_punches::device_user_id, raw_punches::local_time))
                        .get_result(conn)
                        .await
                        .optional()?;
                    new.extend(inserted);
                }
                super::pending::mark_days(&mut *conn, days_to_mark(&new), now).await?;
                Ok(new.len())
            })
            .await
        }
        Store::Postgres(pool) => {
            let mut pooled = pool.get().await?;
            let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
            super::write_tx::<usize, StoreError, _>(conn, async |conn| {
                let mut new = Vec::new();
                for chunk in values.chunks(PG_CHUNK) {
                    let inserted: Vec<(EmployeeId, WallTime)> = diesel::insert_into(raw_punches::table)
                        .values(chunk)
                        .on_conflict_do_nothing()
                        .returning((raw_punches::device_user_id, raw_punches::local_time))
                        .get_results(conn)
                        .await?;
                    new.extend(inserted);
                }
                super::pending::mark_days(conn, days_to_mark(&new), now).await?;
                Ok(new.len())
            })
            .await
        }
    }
}

/// `--reprocess-synced`: hands the imported days still kept from the rules back to them (and marks
/// them for processing), in one transaction. A recomputation that finds the times the CRM has changes
/// nothing there; a real difference becomes an amended revision under a new key. Returns how many
/// days were released (none the second time).
///
/// # Errors
/// When the database fails.
pub async fn release_imported_days(store: &Store) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let kept = || pa::table.filter(pa::rule_plugin.eq(IMPORTED_RULES)).filter(pa::manual_override.eq(true));
            let days: Vec<(String, NaiveDate)> = kept().select((pa::user_id, pa::work_date)).load(conn).await?;
            diesel::update(kept()).set((pa::manual_override.eq(false), pa::updated_at.eq(now))).execute(conn).await?;
            for (employee, day) in &days {
                diesel::insert_into(pending_days::table)
                    .values((pending_days::employee_code.eq(employee), pending_days::work_date.eq(day), pending_days::marked_at.eq(now)))
                    .on_conflict((pending_days::employee_code, pending_days::work_date))
                    .do_update()
                    .set(pending_days::marked_at.eq(now))
                    .execute(conn)
                    .await?;
            }
            Ok(days.len())
        })
        .await
    })
}

/// How a job runs: every N seconds, or daily at HH:MM (site time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedSchedule {
    /// Every this many seconds.
    Every(i32),
    /// Once a day at `HH:MM`.
    DailyAt(String),
}

/// Sets a job's schedule (and whether it is paused) as the original had it; returns whether a row
/// changed (false when it already was so, or the job is unknown).
///
/// # Errors
/// When the query fails.
pub async fn set_schedule(store: &Store, job: &str, schedule: &ImportedSchedule, paused: bool) -> Result<bool, StoreError> {
    let now = now_utc();
    let (interval, daily): (Option<i32>, Option<String>) = match schedule {
        ImportedSchedule::Every(s) => (Some(*s), None),
        ImportedSchedule::DailyAt(at) => (None, Some(at.clone())),
    };
    crate::with_conn!(store, |conn| {
        let target = job_schedules::table.filter(job_schedules::name.eq(job));
        // Only a real change is written, so a second import changes nothing.
        let current: Option<(Option<i32>, Option<String>, bool)> = target
            .select((job_schedules::interval_seconds, job_schedules::daily_at, job_schedules::paused))
            .first(conn)
            .await
            .optional()?;
        match current {
            None => return Ok(false),
            Some(row) if row == (interval, daily.clone(), paused) => return Ok(false),
            Some(_) => {}
        }
        diesel::update(target)
            .set((
                job_schedules::interval_seconds.eq(interval),
                job_schedules::daily_at.eq(daily),
                job_schedules::paused.eq(paused),
                job_schedules::updated_at.eq(now),
            ))
            .execute(conn)
            .await
            .map(|n| n > 0)
            .map_err(StoreError::from)
    })
}
