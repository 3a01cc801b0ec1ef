//! Employee-days waiting for (re)processing (`pending_days`).
//!
//! Rows are written by [`super::punches::insert`] in the transaction that stores new punches, and
//! removed by processing once a day's result is stored; a day the rules fail on stays, with the error.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::pending_days;
use super::{Store, StoreError};
use crate::domain::EmployeeId;

/// Marks `(employee, date)` pairs as needing processing (one upsert each, inside the caller's
/// connection or transaction); a day marked again keeps one row with the newer mark.
macro_rules! mark_days {
    ($conn:expr, $days:expr, $at:expr) => {
        for (employee, day) in $days {
            use $crate::store::schema::pending_days as pd;
            diesel::insert_into(pd::table)
                .values((pd::employee_code.eq(&employee), pd::work_date.eq(day), pd::marked_at.eq($at)))
                .on_conflict((pd::employee_code, pd::work_date))
                .do_update()
                .set(pd::marked_at.eq($at))
                .execute($conn)
                .await?;
        }
    };
}
pub(crate) use mark_days;

/// [`mark_days!`] for PostgreSQL in multi-row upserts (1,000 days a statement): a round trip per day
/// was most of the cost of storing a pushed or polled batch there. Runs inside the caller's transaction.
pub(crate) async fn mark_days_batched(
    conn: &mut diesel_async::AsyncPgConnection,
    days: impl IntoIterator<Item = (EmployeeId, NaiveDate)>,
    at: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    use diesel::upsert::excluded;
    use pending_days as pd;
    let days: Vec<(EmployeeId, NaiveDate)> = days.into_iter().collect();
    for chunk in days.chunks(1000) {
        let rows: Vec<_> = chunk.iter().map(|(employee, day)| (pd::employee_code.eq(employee), pd::work_date.eq(*day), pd::marked_at.eq(at))).collect();
        diesel::insert_into(pd::table)
            .values(rows)
            .on_conflict((pd::employee_code, pd::work_date))
            .do_update()
            .set(pd::marked_at.eq(excluded(pd::marked_at)))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A day waiting for processing.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = pending_days)]
pub struct PendingDay {
    /// Employee code.
    #[diesel(column_name = employee_code)]
    pub employee: EmployeeId,
    /// Local work date.
    pub work_date: NaiveDate,
    /// When it was last marked, UTC.
    pub marked_at: chrono::NaiveDateTime,
    /// Failed processing attempts.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
}

/// How many days wait for processing.
///
/// # Errors
/// When the query fails.
pub async fn count(store: &Store) -> Result<i64, StoreError> {
    crate::with_conn!(store, |conn| pending_days::table.count().get_result(conn).await.map_err(StoreError::from))
}

/// The oldest-marked pending days, at most `limit`.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store, limit: i64) -> Result<Vec<PendingDay>, StoreError> {
    crate::with_conn!(store, |conn| {
        pending_days::table
            .order((pending_days::marked_at, pending_days::employee_code, pending_days::work_date))
            .limit(limit)
            .select(PendingDay::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Removes the given days of `employee` that were marked at or before `processed_from`: a day
/// marked again while it was being processed stays pending.
///
/// # Errors
/// When the query fails.
pub async fn clear(store: &Store, employee: &EmployeeId, days: &[NaiveDate], processed_from: chrono::NaiveDateTime) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::delete(
            pending_days::table
                .filter(pending_days::employee_code.eq(employee))
                .filter(pending_days::work_date.eq_any(days))
                .filter(pending_days::marked_at.le(processed_from)),
        )
        .execute(conn)
        .await
        .map(drop)
        .map_err(StoreError::from)
    })
}

/// Records a failed processing attempt on the days: they stay pending with the error visible.
///
/// # Errors
/// When the query fails.
pub async fn record_failure(store: &Store, employee: &EmployeeId, days: &[NaiveDate], error: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::update(pending_days::table.filter(pending_days::employee_code.eq(employee)).filter(pending_days::work_date.eq_any(days)))
            .set((pending_days::attempts.eq(pending_days::attempts + 1), pending_days::last_error.eq(error)))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// Marks every employee-day with punches between two dates (inclusive) for processing again.
///
/// # Errors
/// When the query fails.
pub async fn mark_range(store: &Store, from: NaiveDate, to: NaiveDate) -> Result<usize, StoreError> {
    use super::schema::raw_punches;
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = to.succ_opt().unwrap_or(to).and_hms_opt(0, 0, 0).unwrap_or_default();
    let now = super::now_utc();
    crate::with_conn!(store, |conn| {
        let rows: Vec<(String, crate::domain::WallTime)> = raw_punches::table
            .filter(raw_punches::local_time.ge(start))
            .filter(raw_punches::local_time.lt(end))
            .select((raw_punches::device_user_id, raw_punches::local_time))
            .load(conn)
            .await?;
        let days: std::collections::BTreeSet<(String, NaiveDate)> = rows.into_iter().map(|(e, t)| (e, t.0.date())).collect();
        let count = days.len();
        mark_days!(&mut *conn, days, now);
        Ok(count)
    })
}
