//! The figures of the HR home page ("Today"): one date's attendance cards, the same weekday a week
//! before, a 30-day trend, arrivals by hour, device health, the CRM queue and the newest punch.
//!
//! Every figure is one aggregate query over an indexed range (`processed_attendance (work_date, id)`,
//! `raw_punches (utc_time, id)`, `raw_punches (device_id, utc_time)`, `crm_outbox (status, …)`,
//! `crm_outbox (attendance_id, status)`), so the page costs the same with a million processed days
//! as with a hundred: nothing here scans a whole table.
//!
//! # What each card counts (one processed day = one employee on one work date)
//!
//! - **present**: days with any status but `absent`: the employee came (`present`, `half_day`,
//!   `off_day_work`, and `incomplete`, where a punch is missing but one was made).
//! - **absent**: status `absent`.
//! - **late**: the flag `late` (arrived after the shift start plus grace, rule R8).
//! - **early leave**: the flag `early_exit`.
//! - **missing punch-out**: status `incomplete` with the flag `missing_out` (open days HR must close).
//! - **outliers**: any flag naming an outlier (`outlier_punches`, `in_outlier`, `out_outlier`), the
//!   same test as the API's `is_outlier`.
//! - **waiting for the CRM**: days of the date with a delivery `pending` or `in_flight` in the outbox.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone as _, Utc};
use diesel::QueryResult;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use super::devices::{self, Device, Transport};
use super::dialect::{Dialect, Sql};
use super::outbox::OutboxStatus;
use super::schema::{processed_attendance as pa, raw_punches};
use super::{Store, StoreError, now_utc};
use crate::domain::AttendanceStatus;

/// Days in the attendance trend, the chosen date included.
pub const TREND_DAYS: u64 = 30;

/// One work date's attendance figures (see the module documentation for what each counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DayCounts {
    /// The work date.
    pub date: Option<NaiveDate>,
    /// Processed days of that date (every status).
    pub days: i64,
    /// Days the employee came.
    pub present: i64,
    /// Days with status `absent`.
    pub absent: i64,
    /// Days flagged `late`.
    pub late: i64,
    /// Days flagged `early_exit`.
    pub early_leave: i64,
    /// `incomplete` days flagged `missing_out`.
    pub missing_out: i64,
    /// Days with an outlier flag.
    pub outliers: i64,
    /// Days with a delivery waiting in the outbox.
    pub waiting_crm: i64,
}

/// How often each kind of device is expected to report, to tell a silent device from a quiet one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedIntervals {
    /// Between two downloads of a pulled device (`POLLING_INTERVAL_MINUTES`).
    pub pull: TimeDelta,
    /// Between two requests of a push terminal (`PUSH_POLL_DELAY_SECONDS`).
    pub push: TimeDelta,
}

/// One approved device's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceHealth {
    /// The stored device.
    pub device: Device,
    /// The last successful download, UTC: a pulled device's last poll; for a push terminal, when
    /// its newest record arrived (its last upload).
    pub last_download: Option<NaiveDateTime>,
    /// Records stored today (punch times inside the chosen date, display zone).
    pub stored_today: i64,
    /// How long it has been silent beyond twice its interval, if it has: a problem, not just a date.
    pub silent_for: Option<TimeDelta>,
}

impl DeviceHealth {
    /// The last contact of any kind: a download, or a push terminal's request.
    pub fn last_contact(&self) -> Option<NaiveDateTime> {
        self.last_download.max(self.device.last_seen_at)
    }
}

/// The CRM delivery queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncQueue {
    /// Waiting or being sent (`pending` + `in_flight`, as `stats` counts `sync_pending`).
    pub pending: i64,
    /// Dead letters (`failed`), listed at `/admin/sync`.
    pub failed: i64,
    /// When the oldest waiting delivery was queued, UTC.
    pub oldest_pending: Option<NaiveDateTime>,
}

/// Everything the home page shows for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardFigures {
    /// The chosen date.
    pub day: DayCounts,
    /// The same weekday one week before, for the change shown on each card.
    pub week_before: DayCounts,
    /// The [`TREND_DAYS`] dates ending with the chosen one, oldest first (dates without data are zero).
    pub trend: Vec<DayCounts>,
    /// Arrivals (first punch in) of the chosen date by hour of the display zone, 0–23.
    pub arrivals_by_hour: [i64; 24],
    /// Approved devices, by name.
    pub devices: Vec<DeviceHealth>,
    /// Push terminals awaiting an admin's approval.
    pub awaiting_approval: i64,
    /// The CRM queue now.
    pub sync: SyncQueue,
    /// The newest stored punch time, UTC (how current the page is).
    pub newest_punch: Option<NaiveDateTime>,
    /// When the figures were read, UTC.
    pub read_at: NaiveDateTime,
    /// The first [`ATTENTION_LIMIT`] days of the date HR has to look at (open or with outliers).
    pub attention: Vec<AttentionDay>,
}

/// How many days the "needs attention" list names (the cards give the totals).
pub const ATTENTION_LIMIT: i64 = 8;

/// A day HR has to look at: `incomplete` (a punch is missing) or with an outlier flag.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct AttentionDay {
    /// The employee code.
    #[diesel(sql_type = Text)]
    pub user_id: String,
    /// The employee's name, when known.
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    /// The day's status.
    #[diesel(sql_type = Text)]
    pub status: AttendanceStatus,
    /// The day's flags, a JSON array.
    #[diesel(sql_type = Text)]
    pub flags: String,
    /// The first punch in, UTC.
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub clock_in_utc: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Date)]
    work_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    days: i64,
    #[diesel(sql_type = BigInt)]
    present: i64,
    #[diesel(sql_type = BigInt)]
    absent: i64,
    #[diesel(sql_type = BigInt)]
    late: i64,
    #[diesel(sql_type = BigInt)]
    early_leave: i64,
    #[diesel(sql_type = BigInt)]
    missing_out: i64,
    #[diesel(sql_type = BigInt)]
    outliers: i64,
}

#[derive(QueryableByName)]
struct WaitingRow {
    #[diesel(sql_type = Date)]
    work_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    waiting: i64,
}

#[derive(QueryableByName)]
struct QueueRow {
    #[diesel(sql_type = Text)]
    status: OutboxStatus,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    oldest: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct DeviceCountRow {
    #[diesel(sql_type = BigInt)]
    device_id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The UTC instants `[start, end)` of `date` in `zone` (a day of 23 or 25 hours across a DST change).
pub fn day_window(date: NaiveDate, zone: chrono_tz::Tz) -> (NaiveDateTime, NaiveDateTime) {
    let start_of = |d: NaiveDate| -> NaiveDateTime {
        let midnight = d.and_time(chrono::NaiveTime::MIN);
        // A zone that skips midnight (a DST change at 00:00) starts the day at the first valid instant.
        zone.from_local_datetime(&midnight)
            .earliest()
            .or_else(|| zone.from_local_datetime(&(midnight + TimeDelta::hours(1))).earliest())
            .map_or(midnight, |t| t.with_timezone(&Utc).naive_utc())
    };
    (start_of(date), start_of(date + TimeDelta::days(1)))
}

/// Reads every figure of the home page for `date`; day boundaries and hours are `zone`'s.
///
/// # Errors
/// When a query fails.
pub async fn figures(store: &Store, date: NaiveDate, zone: chrono_tz::Tz, intervals: ExpectedIntervals) -> Result<DashboardFigures, StoreError> {
    let now = now_utc();
    let first = date - TimeDelta::days(TREND_DAYS as i64 - 1);
    let week_before_date = date - TimeDelta::days(7);
    let (day_start, day_end) = day_window(date, zone);
    let all_devices = devices::list(store).await?;
    crate::with_conn!(store, |conn| {
        let rows = day_counts(conn, first, date).await?;
        let waiting = waiting_for_crm(conn, &[date, week_before_date]).await?;
        let arrivals: Vec<Option<NaiveDateTime>> = pa::table
            .filter(pa::work_date.eq(date))
            .filter(pa::clock_in_utc.is_not_null())
            .select(pa::clock_in_utc)
            .load(conn)
            .await?;
        let stored = stored_between(conn, day_start, day_end).await?;
        let attention = needs_attention(conn, date).await?;
        let sync = queue(conn).await?;
        let newest_punch: Option<NaiveDateTime> =
            raw_punches::table.select(diesel::dsl::max(raw_punches::utc_time)).first(conn).await?;
        let mut health = Vec::new();
        for device in all_devices.iter().filter(|d| d.approved) {
            let last_download = match device.transport {
                Transport::Pull => device.last_sync_at,
                // A push terminal's last upload: when its newest record arrived (one index probe).
                Transport::Push => raw_punches::table
                    .filter(raw_punches::device_id.eq(device.id.0))
                    .order(raw_punches::utc_time.desc())
                    .select(raw_punches::received_at)
                    .first::<NaiveDateTime>(conn)
                    .await
                    .optional()?
                    .max(device.last_sync_at),
            };
            let stored_today = stored.iter().find(|r| r.device_id == device.id.0).map_or(0, |r| r.n);
            let mut item = DeviceHealth { device: device.clone(), last_download, stored_today, silent_for: None };
            item.silent_for = silence(&item, now, intervals);
            health.push(item);
        }
        health.sort_by(|a, b| a.device.name.to_lowercase().cmp(&b.device.name.to_lowercase()));
        let counts_of = |d: NaiveDate| {
            let mut counts = rows.iter().find(|r| r.work_date == d).map_or_else(DayCounts::default, |r| DayCounts {
                date: None,
                days: r.days,
                present: r.present,
                absent: r.absent,
                late: r.late,
                early_leave: r.early_leave,
                missing_out: r.missing_out,
                outliers: r.outliers,
                waiting_crm: 0,
            });
            counts.date = Some(d);
            counts.waiting_crm = waiting.iter().find(|w| w.work_date == d).map_or(0, |w| w.waiting);
            counts
        };
        let trend = (0..TREND_DAYS).map(|i| counts_of(first + TimeDelta::days(i as i64))).collect();
        let mut arrivals_by_hour = [0_i64; 24];
        for at in arrivals.into_iter().flatten() {
            let hour = chrono::Timelike::hour(&Utc.from_utc_datetime(&at).with_timezone(&zone)) as usize;
            if let Some(slot) = arrivals_by_hour.get_mut(hour) {
                *slot += 1;
            }
        }
        Ok(DashboardFigures {
            day: counts_of(date),
            week_before: counts_of(week_before_date),
            trend,
            arrivals_by_hour,
            devices: health,
            awaiting_approval: all_devices.iter().filter(|d| !d.approved).count() as i64,
            sync,
            newest_punch,
            read_at: now,
            attention,
        })
    })
}

/// Whether a device has been silent longer than twice its interval, and for how long. Disabled
/// devices are not expected to report; a device that never reported counts from when it was added.
fn silence(item: &DeviceHealth, now: NaiveDateTime, intervals: ExpectedIntervals) -> Option<TimeDelta> {
    let device = &item.device;
    let interval = match device.transport {
        Transport::Pull if !device.enabled => return None,
        Transport::Pull => intervals.pull,
        Transport::Push => intervals.push,
    };
    let since = item.last_contact().unwrap_or(device.created_at);
    let silent = now - since;
    (silent > interval * 2).then_some(silent)
}

/// The cards of each date in `[first, last]` (dates without processed days are absent).
async fn day_counts<C: Dialect>(conn: &mut C, first: NaiveDate, last: NaiveDate) -> QueryResult<Vec<DayRow>> {
    let mut sql = Sql::<C>::new("SELECT work_date, COUNT(*) AS days, SUM(CASE WHEN status <> ");
    sql.bind(AttendanceStatus::Absent).push(" THEN 1 ELSE 0 END) AS present, SUM(CASE WHEN status = ");
    sql.bind(AttendanceStatus::Absent).push(
        " THEN 1 ELSE 0 END) AS absent, \
         SUM(CASE WHEN flags LIKE '%\"late\"%' THEN 1 ELSE 0 END) AS late, \
         SUM(CASE WHEN flags LIKE '%\"early_exit\"%' THEN 1 ELSE 0 END) AS early_leave, \
         SUM(CASE WHEN status = ",
    );
    sql.bind(AttendanceStatus::Incomplete).push(
        " AND flags LIKE '%\"missing_out\"%' THEN 1 ELSE 0 END) AS missing_out, \
         SUM(CASE WHEN flags LIKE '%outlier%' THEN 1 ELSE 0 END) AS outliers \
         FROM processed_attendance WHERE work_date >= ",
    );
    sql.bind(first).push(" AND work_date <= ").bind(last).push(" GROUP BY work_date");
    sql.load(conn).await
}

/// Days of `dates` with a delivery waiting (`pending` or `in_flight`).
async fn waiting_for_crm<C: Dialect>(conn: &mut C, dates: &[NaiveDate]) -> QueryResult<Vec<WaitingRow>> {
    let mut sql = Sql::<C>::new(
        "SELECT p.work_date AS work_date, COUNT(DISTINCT p.id) AS waiting FROM processed_attendance p \
         JOIN crm_outbox o ON o.attendance_id = p.id \
         WHERE o.status IN (",
    );
    sql.bind(OutboxStatus::Pending).push(", ").bind(OutboxStatus::InFlight).push(") AND p.work_date IN (");
    for (i, d) in dates.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(*d);
    }
    sql.push(") GROUP BY p.work_date");
    sql.load(conn).await
}

/// The first [`ATTENTION_LIMIT`] open or outlier days of `date`, by employee code.
async fn needs_attention<C: Dialect>(conn: &mut C, date: NaiveDate) -> QueryResult<Vec<AttentionDay>> {
    let mut sql = Sql::<C>::new(
        "SELECT p.user_id AS user_id, e.name AS name, p.status AS status, p.flags AS flags, p.clock_in_utc AS clock_in_utc \
         FROM processed_attendance p LEFT JOIN employees e ON e.employee_code = p.user_id WHERE p.work_date = ",
    );
    sql.bind(date)
        .push(" AND (p.status = ")
        .bind(AttendanceStatus::Incomplete)
        .push(" OR p.flags LIKE '%outlier%') ORDER BY p.user_id LIMIT ")
        .bind(ATTENTION_LIMIT);
    sql.load(conn).await
}

/// Punches stored per device with a punch time in `[start, end)`, UTC.
async fn stored_between<C: Dialect>(conn: &mut C, start: NaiveDateTime, end: NaiveDateTime) -> QueryResult<Vec<DeviceCountRow>> {
    let mut sql = Sql::<C>::new("SELECT device_id, COUNT(*) AS n FROM raw_punches WHERE utc_time >= ");
    sql.bind(start).push(" AND utc_time < ").bind(end).push(" GROUP BY device_id");
    sql.load(conn).await
}

/// The outbox's waiting and failed deliveries, and the oldest waiting one.
async fn queue<C: Dialect>(conn: &mut C) -> QueryResult<SyncQueue> {
    let mut sql = Sql::<C>::new("SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM crm_outbox WHERE status IN (");
    sql.bind(OutboxStatus::Pending).push(", ").bind(OutboxStatus::InFlight).push(", ").bind(OutboxStatus::Failed);
    sql.push(") GROUP BY status");
    let rows: Vec<QueueRow> = sql.load(conn).await?;
    let mut queue = SyncQueue::default();
    for row in rows {
        if row.status == OutboxStatus::Failed {
            queue.failed += row.n;
        } else {
            queue.pending += row.n;
            queue.oldest_pending = match (queue.oldest_pending, row.oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    Ok(queue)
}

/// `at` (UTC) in `zone`, for display.
pub fn in_zone(at: NaiveDateTime, zone: chrono_tz::Tz) -> DateTime<chrono_tz::Tz> {
    Utc.from_utc_datetime(&at).with_timezone(&zone)
}
