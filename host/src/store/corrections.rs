//! Changes an admin makes through the API, each written with its audit entry in one transaction:
//! the manual correction of a processed day, and a device's settings.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use super::attendance::ProcessedDay;
use super::audit::{self, NewAuditEntry};
use super::devices::Device;
use super::outbox;
use super::schema::{devices, processed_attendance as pa};
use super::{Store, StoreError, now_utc};
use crate::domain::{AttendanceStatus, DeviceId};

/// The audit action of a manual correction: the day's history reads its entries back by it.
pub const CORRECTION_ACTION: &str = "attendance.correct";

/// A punch time as both clocks see it: the site's wall time and the instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall time at the site.
    pub local: NaiveDateTime,
    /// The instant, UTC.
    pub utc: NaiveDateTime,
}

/// What an admin changes on a processed day; `None` fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// New clock-in (`Some(None)` clears it).
    pub clock_in: Option<Option<Stamp>>,
    /// New clock-out (`Some(None)` clears it).
    pub clock_out: Option<Option<Stamp>>,
    /// New status.
    pub status: Option<AttendanceStatus>,
    /// Why (required: it goes into the audit trail).
    pub reason: String,
    /// The admin's user name.
    pub actor: String,
}

fn day_json(day: &ProcessedDay) -> serde_json::Value {
    let stamp = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc().to_rfc3339());
    json!({
        "clock_in": stamp(day.clock_in_utc),
        "clock_out": stamp(day.clock_out_utc),
        "status": day.status,
        "worked_minutes": day.worked_min,
        "revision": day.revision,
        "manual_override": day.manual_override,
    })
}

/// Applies a manual correction: the day gets the new values, `manual_override` (processing never
/// overwrites it again), a new revision enqueued for the CRM, and an audit entry with the old and new
/// values and the reason; all in one transaction.
///
/// The worked time is recomputed from the clock-in and clock-out when both are known.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown day, [`StoreError::Invalid`] when clock-out precedes clock-in.
pub async fn correct_day(store: &Store, id: i64, correction: &Correction) -> Result<ProcessedDay, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<ProcessedDay, StoreError, _>(conn, async |conn| {
            // The day changes now; a day that is not there changes no row.
            let found = diesel::update(pa::table.find(id)).set(pa::updated_at.eq(now)).execute(conn).await?;
            if found == 0 {
                return Err(StoreError::NotFound(format!("processed day {id}")));
            }
            let day: ProcessedDay = pa::table
                .find(id)
                .select(ProcessedDay::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("processed day {id}")))?;
            let clock_in = correction.clock_in.unwrap_or(day.clock_in_utc.zip(day.clock_in_local).map(|(utc, local)| Stamp { local, utc }));
            let clock_out =
                correction.clock_out.unwrap_or(day.clock_out_utc.zip(day.clock_out_local).map(|(utc, local)| Stamp { local, utc }));
            let worked = match (clock_in, clock_out) {
                (Some(i), Some(o)) if o.utc < i.utc => {
                    return Err(StoreError::Invalid("clock_out is before clock_in".into()));
                }
                (Some(i), Some(o)) => Some(i32::try_from((o.utc - i.utc).num_minutes()).unwrap_or(i32::MAX)),
                _ => day.worked_min,
            };
            let status = correction.status.map_or_else(|| day.status.clone(), String::from);
            let revision = day.revision + 1;
            diesel::update(pa::table.find(id))
                .set((
                    pa::clock_in_local.eq(clock_in.map(|s| s.local)),
                    pa::clock_in_utc.eq(clock_in.map(|s| s.utc)),
                    pa::clock_out_local.eq(clock_out.map(|s| s.local)),
                    pa::clock_out_utc.eq(clock_out.map(|s| s.utc)),
                    pa::worked_min.eq(worked),
                    pa::status.eq(&status),
                    pa::manual_override.eq(true),
                    pa::revision.eq(revision),
                    pa::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            outbox::enqueue(conn, id, revision, now).await?;
            let updated: ProcessedDay = pa::table.find(id).select(ProcessedDay::as_select()).first(conn).await?;
            let mut entry = NewAuditEntry::now(&correction.actor, CORRECTION_ACTION, "processed_attendance", Some(id.to_string()));
            entry.at = now;
            entry.old_value = Some(day_json(&day).to_string());
            entry.new_value = Some(day_json(&updated).to_string());
            entry.reason = Some(correction.reason.clone());
            audit::record(conn, &entry).await?;
            Ok(updated)
        })
        .await
    })
}

/// Undoes a manual correction: the day is handed back to the rules (`manual_override` cleared and
/// the day marked for processing, which writes the rules' result as a new revision when it differs
/// and sends that to the CRM), with an audit entry by `actor` saying why; all in one transaction.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown day, [`StoreError::Invalid`] when it was not corrected.
pub async fn undo_correction(store: &Store, id: i64, actor: &str, reason: &str) -> Result<ProcessedDay, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<ProcessedDay, StoreError, _>(conn, async |conn| {
            let found = diesel::update(pa::table.find(id)).set(pa::updated_at.eq(now)).execute(conn).await?;
            if found == 0 {
                return Err(StoreError::NotFound(format!("processed day {id}")));
            }
            let day: ProcessedDay = pa::table.find(id).select(ProcessedDay::as_select()).first(conn).await?;
            if !day.manual_override {
                return Err(StoreError::Invalid("this day has no manual correction to undo".into()));
            }
            diesel::update(pa::table.find(id)).set(pa::manual_override.eq(false)).execute(conn).await?;
            super::pending::mark_days(conn, [(crate::domain::EmployeeId(day.user_id.clone()), day.work_date)], now).await?;
            let updated: ProcessedDay = pa::table.find(id).select(ProcessedDay::as_select()).first(conn).await?;
            let mut entry = NewAuditEntry::now(actor, "attendance.uncorrect", "processed_attendance", Some(id.to_string()));
            entry.at = now;
            entry.old_value = Some(day_json(&day).to_string());
            entry.new_value = Some(day_json(&updated).to_string());
            entry.reason = Some(reason.to_owned());
            audit::record(conn, &entry).await?;
            Ok(updated)
        })
        .await
    })
}

/// What an admin changes on a device; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceChange {
    /// New name (unique).
    pub name: Option<String>,
    /// New address (`Some(None)` clears it, for a push terminal).
    pub address: Option<Option<String>>,
    /// New port.
    pub port: Option<u16>,
    /// New communication key.
    pub comm_key: Option<u32>,
    /// Poll it or not.
    pub enabled: Option<bool>,
    /// New time zone (`Some(None)`: the site's).
    pub time_zone: Option<Option<String>>,
}

/// Changes a device's settings, with an audit entry by `actor`, in one transaction.
///
/// # Errors
/// [`StoreError::NotFound`], or [`StoreError::AlreadyExists`] when the new name is taken.
pub async fn update_device(store: &Store, id: DeviceId, change: &DeviceChange, actor: &str) -> Result<Device, StoreError> {
    let now = now_utc();
    let comm_key = change
        .comm_key
        .map(|k| i32::try_from(k).map_err(|_| StoreError::Invalid(format!("comm key {k} is out of range"))))
        .transpose()?;
    let result = crate::with_conn!(store, |conn| {
        super::write_tx::<Device, StoreError, _>(conn, async |conn| {
            let found = diesel::update(devices::table.find(id)).set(devices::updated_at.eq(now)).execute(conn).await?;
            if found == 0 {
                return Err(StoreError::NotFound(format!("device {id}")));
            }
            let before: Device = devices::table
                .find(id)
                .select(Device::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("device {id}")))?;
            let target = devices::table.find(id);
            if let Some(name) = &change.name {
                diesel::update(target).set(devices::name.eq(name)).execute(conn).await?;
            }
            if let Some(address) = &change.address {
                diesel::update(target).set(devices::address.eq(address)).execute(conn).await?;
            }
            if let Some(port) = change.port {
                diesel::update(target).set(devices::port.eq(i32::from(port))).execute(conn).await?;
            }
            if let Some(key) = comm_key {
                diesel::update(target).set(devices::comm_key.eq(key)).execute(conn).await?;
            }
            if let Some(enabled) = change.enabled {
                diesel::update(target).set(devices::enabled.eq(enabled)).execute(conn).await?;
            }
            if let Some(zone) = &change.time_zone {
                diesel::update(target).set(devices::time_zone.eq(zone)).execute(conn).await?;
            }
            let after: Device = devices::table.find(id).select(Device::as_select()).first(conn).await?;
            let mut entry = NewAuditEntry::now(actor, "device.update", "device", Some(id.0.to_string()));
            entry.at = now;
            entry.old_value = Some(device_json(&before).to_string());
            entry.new_value = Some(device_json(&after).to_string());
            audit::record(conn, &entry).await?;
            Ok(after)
        })
        .await
    });
    match result {
        Err(StoreError::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))) => {
            Err(StoreError::AlreadyExists(format!("device name {:?}", change.name.as_deref().unwrap_or_default())))
        }
        other => other,
    }
}

/// A device's settings as the audit trail records them (never its key).
pub fn device_json(device: &Device) -> serde_json::Value {
    json!({
        "name": device.name,
        "ip_address": device.address,
        "port": device.port,
        "enabled": device.enabled,
        "time_zone": device.time_zone,
        "approved": device.approved,
    })
}
