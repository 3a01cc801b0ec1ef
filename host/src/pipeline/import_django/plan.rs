//! Mapping the original's rows onto the bridge's: pure functions, one per table, each returning the
//! row to write or the reason it is refused.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::source::{BeatRow, DayRow, DeviceRow, RawRow, UserRow, parse_date, parse_instant};
use crate::domain::{AttendanceStatus, DeviceId, EmployeeId, WallTime};
use crate::store::attendance::DayContent;
use crate::store::django_import::{IMPORTED_RULES, ImportedDay, ImportedDevice, ImportedSchedule};
use crate::store::employees::MAX_DEVICE_NAME_CHARS;
use crate::store::punches::NewPunch;

/// The zone the original gave a device without one (its model default).
pub const ORIGINAL_DEFAULT_ZONE: &str = "Africa/Nairobi";

/// A device of the bridge a source device maps to.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Our id.
    pub id: DeviceId,
    /// The zone its wall times are in.
    pub tz: chrono_tz::Tz,
}

fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// A device, or why it cannot be registered.
///
/// # Errors
/// The reason, for the report.
pub fn device(row: &DeviceRow) -> Result<(ImportedDevice, chrono_tz::Tz), String> {
    let name = non_empty(Some(&row.name)).ok_or("no name")?;
    let address = non_empty(row.ip_address.as_deref()).ok_or("no IP address")?;
    let port = row.port.unwrap_or(4370);
    let port = i32::try_from(port).ok().filter(|p| (1..=65535).contains(p)).ok_or_else(|| format!("port {port} out of range"))?;
    let zone = non_empty(row.timezone.as_deref()).unwrap_or_else(|| ORIGINAL_DEFAULT_ZONE.to_owned());
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone {zone:?}"))?;
    let device = ImportedDevice {
        name,
        address,
        secondary_address: non_empty(row.secondary_ip_address.as_deref()),
        port,
        time_zone: tz.name().to_owned(),
        enabled: row.enabled.unwrap_or(1) != 0,
        last_sync_at: row.last_sync.as_deref().and_then(parse_instant).map(|t| t.naive_utc()),
    };
    Ok((device, tz))
}

/// The name to keep: the full name when the original has one (its display rule), else the device
/// name; control characters dropped and cut as names from devices are.
pub fn display_name(row: &UserRow) -> Option<String> {
    let name = non_empty(row.full_name.as_deref()).or_else(|| non_empty(row.name.as_deref()))?;
    let printable: String = name.chars().filter(|c| !c.is_control()).collect();
    let cut: String = printable.trim().chars().take(MAX_DEVICE_NAME_CHARS).collect();
    (!cut.is_empty()).then_some(cut)
}

/// An employee, or why not.
///
/// # Errors
/// The reason, for the report.
pub fn employee(row: &UserRow) -> Result<(EmployeeId, Option<String>), String> {
    let code = non_empty(row.user_id.as_deref()).ok_or("no user id")?;
    Ok((EmployeeId(code), display_name(row)))
}

fn small(value: Option<i64>, what: &str) -> Result<u8, String> {
    let value = value.unwrap_or(0);
    u8::try_from(value).map_err(|_| format!("{what} {value} out of range"))
}

/// A raw punch with the device's wall time recovered (the stored UTC instant seen in the device's
/// zone, DST included), and when the original received it.
///
/// # Errors
/// The reason, for the report.
pub fn punch(row: &RawRow, target: Target, now: NaiveDateTime) -> Result<(NewPunch, NaiveDateTime), String> {
    let employee = non_empty(row.user_id.as_deref()).ok_or("no user id")?;
    let text = row.timestamp.as_deref().ok_or("no timestamp")?;
    let utc: DateTime<Utc> = parse_instant(text).ok_or_else(|| format!("unreadable timestamp {text:?}"))?;
    let local = utc.with_timezone(&target.tz).naive_local();
    let punch = NewPunch {
        device_id: target.id,
        employee: EmployeeId(employee),
        local_time: WallTime(local),
        utc_time: utc,
        status: small(row.status, "status")?,
        punch_state: small(row.punch_state, "punch state")?,
        verify_type: small(row.verify_type, "verify type")?,
        device_seq: None,
    };
    let received = row.created_at.as_deref().and_then(parse_instant).map_or(now, |t| t.naive_utc());
    Ok((punch, received))
}

/// What a processed day of the original is to the import.
#[derive(Debug, Clone)]
pub enum DayPlan {
    /// The original delivered it: copy it, delivered.
    Delivered(Box<ImportedDay>),
    /// Not delivered: not copied; our rules compute it from the punches.
    NotSynced(EmployeeId, NaiveDate),
}

/// A day, or why not. `shift_code` is the code our rules give an unscheduled employee's day.
///
/// # Errors
/// The reason, for the report.
pub fn day(row: &DayRow, tz: chrono_tz::Tz, shift_code: &str) -> Result<DayPlan, String> {
    let employee = EmployeeId(non_empty(row.user_id.as_deref()).ok_or("no user id")?);
    let text = row.day.as_deref().ok_or("no shift date (neither shift_date nor date)")?;
    let work_date = parse_date(text).ok_or_else(|| format!("unreadable date {text:?}"))?;
    if row.synced.unwrap_or(0) == 0 {
        return Ok(DayPlan::NotSynced(employee, work_date));
    }
    let instant = |t: &Option<String>| t.as_deref().and_then(parse_instant);
    let (clock_in, clock_out) = (instant(&row.clock_in), instant(&row.clock_out));
    let local = |t: Option<DateTime<Utc>>| t.map(|t| t.with_timezone(&tz).naive_local());
    let worked_min = clock_in.zip(clock_out).and_then(|(i, o)| i32::try_from((o - i).num_minutes()).ok()).filter(|m| *m >= 0);
    let mut flags = vec!["imported"];
    let set = |v: Option<i32>| v.unwrap_or(0) != 0;
    if set(row.is_late) {
        flags.push("late");
    }
    if set(row.is_early) {
        flags.push("early_exit");
    }
    if clock_in.is_none() {
        flags.push("missing_in");
    }
    if clock_out.is_none() || (set(row.is_incomplete) && clock_in == clock_out) {
        flags.push("missing_out");
    }
    if set(row.is_outlier) {
        flags.push("outlier_punches");
    }
    if changed_after_sync(row) {
        // The CRM may hold an older version: a recomputation sends it again whatever the times.
        flags.push(CHANGED_AFTER_SYNC);
    }
    flags.sort_unstable();
    flags.dedup();
    let status = match (clock_in, clock_out) {
        (Some(_), Some(_)) if !set(row.is_incomplete) => AttendanceStatus::Present,
        (None, None) => AttendanceStatus::Absent,
        _ => AttendanceStatus::Incomplete,
    };
    let content = DayContent {
        status: status.into(),
        clock_in_local: local(clock_in),
        clock_in_utc: clock_in.map(|t| t.naive_utc()),
        clock_out_local: local(clock_out),
        clock_out_utc: clock_out.map(|t| t.naive_utc()),
        worked_min,
        break_min: None,
        payable_min: worked_min,
        scheduled_min: None,
        overtime_min: None,
        late_min: None,
        early_min: None,
        duplicates: 0,
        flags: serde_json::to_string(&flags).unwrap_or_else(|_| "[\"imported\"]".into()),
        is_final: true,
        reason: non_empty(row.notes.as_deref()),
        rule_plugin: IMPORTED_RULES.to_owned(),
        rule_version: "1".to_owned(),
    };
    Ok(DayPlan::Delivered(Box::new(ImportedDay {
        employee,
        work_date,
        shift_code: shift_code.to_owned(),
        content,
        manual_override: true,
        attempts: i32::try_from(row.sync_attempts.unwrap_or(1)).unwrap_or(i32::MAX).max(1),
        delivered_at: row.last_sync_attempt.as_deref().and_then(parse_instant).map(|t| t.naive_utc()),
    })))
}

/// The flag of a delivered day the original changed after delivering it.
pub const CHANGED_AFTER_SYNC: &str = "changed_after_sync";

/// Whether the original changed a delivered day after its last delivery (its processing rewrote
/// synced days without sending them again): the CRM may hold an older version.
pub fn changed_after_sync(row: &DayRow) -> bool {
    let instant = |t: &Option<String>| t.as_deref().and_then(parse_instant);
    matches!((instant(&row.updated_at), instant(&row.last_sync_attempt)), (Some(u), Some(s)) if u > s + chrono::TimeDelta::seconds(1))
}

/// Our job for a Celery task of the original.
fn job_of(task: &str) -> Option<&'static str> {
    use crate::store::jobs::JobName;
    let job = match task.trim() {
        "core.poll_devices" | "core.tasks.poll_devices" => JobName::PollDevices,
        "core.process_attendance" | "core.tasks.process_attendance" => JobName::ProcessAttendance,
        "core.sync_to_crm" | "core.tasks.sync_to_crm" => JobName::SyncToCrm,
        "core.retry_failed_syncs" | "core.tasks.retry_failed_syncs" => JobName::RetryFailedSyncs,
        "core.daily_cleanup" | "core.tasks.daily_cleanup" => JobName::DailyCleanup,
        _ => return None,
    };
    Some(job.as_str())
}

/// A Celery beat task as our job schedule: intervals as they are; crontabs that run hourly, every
/// N hours or once a day become an interval or a daily time. Anything else is not translated.
///
/// # Errors
/// Why the task cannot be translated, for the report.
pub fn schedule(row: &BeatRow) -> Result<(&'static str, ImportedSchedule, bool), String> {
    let job = job_of(&row.task).ok_or_else(|| format!("task {:?} has no counterpart", row.task))?;
    let paused = row.enabled.unwrap_or(1) == 0;
    if let (Some(every), Some(period)) = (row.every, row.period.as_deref()) {
        let unit = match period {
            "days" => 86_400,
            "hours" => 3_600,
            "minutes" => 60,
            "seconds" => 1,
            other => return Err(format!("{job}: period {other:?} not understood")),
        };
        let seconds = i32::try_from(every.saturating_mul(unit)).ok().filter(|s| *s > 0).ok_or_else(|| format!("{job}: interval out of range"))?;
        return Ok((job, ImportedSchedule::Every(seconds), paused));
    }
    let (Some(minute), Some(hour)) = (row.minute.as_deref().map(str::trim), row.hour.as_deref().map(str::trim)) else {
        return Err(format!("{job}: neither an interval nor a crontab"));
    };
    if row.day_of_week.as_deref().is_some_and(|d| d.trim() != "*") {
        return Err(format!("{job}: crontab on some weekdays only is not translated"));
    }
    let minute: u32 = minute.parse().map_err(|_| format!("{job}: crontab minute {minute:?} is not translated"))?;
    let schedule = match hour {
        "*" => ImportedSchedule::Every(3_600),
        h if h.starts_with("*/") => {
            let n: i32 = h[2..].parse().map_err(|_| format!("{job}: crontab hour {h:?} is not translated"))?;
            ImportedSchedule::Every(n.clamp(1, 24) * 3_600)
        }
        h => {
            let h: u32 = h.parse().ok().filter(|h| *h < 24).ok_or_else(|| format!("{job}: crontab hour {h:?} is not translated"))?;
            if minute >= 60 {
                return Err(format!("{job}: crontab minute {minute} out of range"));
            }
            ImportedSchedule::DailyAt(format!("{h:02}:{minute:02}"))
        }
    };
    Ok((job, schedule, paused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ts: &str) -> RawRow {
        RawRow { id: 1, device_id: Some(1), user_id: Some("7".into()), timestamp: Some(ts.into()), status: Some(1), punch_state: Some(0), verify_type: Some(1), created_at: None }
    }

    #[test]
    fn wall_time_is_recovered_across_a_dst_change() {
        let target = Target { id: DeviceId(1), tz: chrono_tz::America::New_York };
        let now = NaiveDateTime::default();
        // 2025-03-09: 01:59 EST is 06:59 UTC, 03:01 EDT is 07:01 UTC.
        let (before, _) = punch(&raw("2025-03-09 06:59:00"), target, now).expect("punch");
        let (after, _) = punch(&raw("2025-03-09 07:01:00"), target, now).expect("punch");
        assert_eq!(before.local_time.0.to_string(), "2025-03-09 01:59:00");
        assert_eq!(after.local_time.0.to_string(), "2025-03-09 03:01:00");
        let nairobi = Target { id: DeviceId(1), tz: chrono_tz::Africa::Nairobi };
        assert_eq!(punch(&raw("2025-03-09 05:00:00"), nairobi, now).expect("punch").0.local_time.0.to_string(), "2025-03-09 08:00:00");
        assert!(punch(&raw("soon"), nairobi, now).is_err());
    }

    #[test]
    fn full_names_are_preferred() {
        let row = |name: &str, full: &str| UserRow { id: 1, user_id: Some("1".into()), name: Some(name.into()), full_name: Some(full.into()) };
        assert_eq!(display_name(&row("JOSE", "José Álvarez")).as_deref(), Some("José Álvarez"));
        assert_eq!(display_name(&row("Zoë", "  ")).as_deref(), Some("Zoë"));
        assert_eq!(display_name(&row("", "")), None);
    }

    #[test]
    fn beat_schedules_translate() {
        let row = |task: &str, every: Option<i64>, period: Option<&str>, minute: Option<&str>, hour: Option<&str>| BeatRow {
            task: task.into(),
            enabled: Some(1),
            every,
            period: period.map(Into::into),
            minute: minute.map(Into::into),
            hour: hour.map(Into::into),
            day_of_week: Some("*".into()),
        };
        assert_eq!(schedule(&row("core.poll_devices", Some(10), Some("minutes"), None, None)).expect("ok").1, ImportedSchedule::Every(600));
        assert_eq!(schedule(&row("core.daily_cleanup", None, None, Some("0"), Some("2"))).expect("ok").1, ImportedSchedule::DailyAt("02:00".into()));
        assert_eq!(schedule(&row("core.retry_failed_syncs", None, None, Some("30"), Some("*/6"))).expect("ok").1, ImportedSchedule::Every(21_600));
        assert_eq!(schedule(&row("core.process_attendance", None, None, Some("5"), Some("*"))).expect("ok").1, ImportedSchedule::Every(3_600));
        assert!(schedule(&row("celery.backend_cleanup", None, None, Some("0"), Some("4"))).is_err());
    }
}
