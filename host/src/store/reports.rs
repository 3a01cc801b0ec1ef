//! Read-only queries behind the HR reports (`crate::reports`): the processed days of a period and
//! the raw punches of a period, each with what a report shows beside them (device names, shift
//! templates, holidays), in as few statements as possible so a month of 2,000 employees stays fast.
//!
//! Days are read through the `processed_attendance_by_date` index (`work_date, id`), punches through
//! `raw_punches_by_time` (`utc_time, id`) or, for one employee, `raw_punches_by_user_time`.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::attendance::ProcessedDay;
use super::schema::{devices, holidays, processed_attendance as pa, raw_punches, shift_templates};
use super::{Store, StoreError};

/// Which days or punches a report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodFilter {
    /// Only this employee (the enrolment number).
    pub employee: Option<String>,
    /// Only days on this shift code (days only; punches carry no shift).
    pub shift: Option<String>,
}

/// The processed days whose work date lies in `from..=to`, by employee then date.
///
/// # Errors
/// When the query fails.
pub async fn days_between(store: &Store, from: NaiveDate, to: NaiveDate, filter: &PeriodFilter) -> Result<Vec<ProcessedDay>, StoreError> {
    crate::with_conn!(store, |conn| {
        let mut query = pa::table.filter(pa::work_date.between(from, to)).select(ProcessedDay::as_select()).into_boxed();
        if let Some(employee) = &filter.employee {
            query = query.filter(pa::user_id.eq(employee));
        }
        if let Some(shift) = &filter.shift {
            query = query.filter(pa::shift_code.eq(shift));
        }
        query.order((pa::user_id, pa::work_date, pa::shift_code)).load(conn).await.map_err(StoreError::from)
    })
}

/// A stored punch with its device's name.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct PunchRow {
    /// Row id.
    pub id: i64,
    /// The device's id.
    pub device_id: i64,
    /// The device's name.
    pub device_name: String,
    /// The enrolment number.
    pub user_id: String,
    /// The device's wall time.
    pub local_time: NaiveDateTime,
    /// The instant, UTC.
    pub utc_time: NaiveDateTime,
    /// Status byte.
    pub status: i32,
    /// Punch state (0 in, 1 out, ...).
    pub punch_state: i32,
    /// Verification method.
    pub verify_type: i32,
}

/// The punches whose instant lies in `from_utc..until_utc`, by employee then time.
///
/// # Errors
/// When the query fails.
pub async fn punches_between(
    store: &Store,
    from_utc: NaiveDateTime,
    until_utc: NaiveDateTime,
    employee: Option<&str>,
) -> Result<Vec<PunchRow>, StoreError> {
    crate::with_conn!(store, |conn| {
        let mut query = raw_punches::table
            .inner_join(devices::table)
            .filter(raw_punches::utc_time.ge(from_utc))
            .filter(raw_punches::utc_time.lt(until_utc))
            .select((
                raw_punches::id,
                raw_punches::device_id,
                devices::name,
                raw_punches::device_user_id,
                raw_punches::local_time,
                raw_punches::utc_time,
                raw_punches::status,
                raw_punches::punch_state,
                raw_punches::verify_type,
            ))
            .into_boxed();
        if let Some(employee) = employee {
            query = query.filter(raw_punches::device_user_id.eq(employee));
        }
        query.order((raw_punches::device_user_id, raw_punches::utc_time, raw_punches::id)).load(conn).await.map_err(StoreError::from)
    })
}

/// A shift template's schedule, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Its name.
    pub name: String,
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`.
    pub end: String,
}

/// Every shift template's schedule, by code.
///
/// # Errors
/// When the query fails.
pub async fn schedules(store: &Store) -> Result<HashMap<String, Schedule>, StoreError> {
    let rows: Vec<(String, String, String, String)> = crate::with_conn!(store, |conn| {
        shift_templates::table
            .select((shift_templates::code, shift_templates::name, shift_templates::start_time, shift_templates::end_time))
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    Ok(rows.into_iter().map(|(code, name, start, end)| (code, Schedule { name, start, end })).collect())
}

/// The holidays in `from..=to`, with their names.
///
/// # Errors
/// When the query fails.
pub async fn holidays_between(store: &Store, from: NaiveDate, to: NaiveDate) -> Result<HashMap<NaiveDate, String>, StoreError> {
    let rows: Vec<(NaiveDate, String)> = crate::with_conn!(store, |conn| {
        holidays::table
            .filter(holidays::holiday_date.between(from, to))
            .select((holidays::holiday_date, holidays::name))
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    Ok(rows.into_iter().collect())
}
