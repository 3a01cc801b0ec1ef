//! Employee-days waiting for (re)processing (`pending_days`).
//!
//! Rows are written by [`super::punches::insert`] in the transaction that stores new punches, and
//! removed by processing once a day's result is stored; a day the rules fail on stays, with the error.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::dialect::{self, Dialect, Sql};
use super::schema::pending_days;
use super::{Store, StoreError};
use crate::domain::EmployeeId;

/// Marks `(employee, date)` pairs as needing processing, inside the caller's transaction, in
/// multi-row upserts; a day marked again keeps one row with the newer mark.
///
/// # Errors
/// When a statement fails.
pub(crate) async fn mark_days<C: Dialect>(
    conn: &mut C,
    days: impl IntoIterator<Item = (EmployeeId, NaiveDate)>,
    at: chrono::NaiveDateTime,
) -> QueryResult<()> {
    // One row per day: PostgreSQL refuses an upsert that would change the same row twice.
    let days: Vec<(EmployeeId, NaiveDate)> = days.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for chunk in dialect::chunks::<C, _>(&days, 3) {
        let mut sql = Sql::<C>::new("INSERT INTO pending_days (employee_code, work_date, marked_at) ");
        sql.rows(chunk, |(employee, day)| vec![employee.0.as_str().into(), (*day).into(), at.into()]);
        sql.push(" ON CONFLICT (employee_code, work_date) DO UPDATE SET marked_at = excluded.marked_at");
        sql.execute(conn).await?;
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
    crate::with_conn!(store, |conn| clear_in(conn, employee, days, processed_from).await.map_err(StoreError::from))
}

/// [`clear`] inside the caller's transaction.
///
/// # Errors
/// When a statement fails.
pub(crate) async fn clear_in<C: Dialect>(conn: &mut C, employee: &EmployeeId, days: &[NaiveDate], processed_from: chrono::NaiveDateTime) -> QueryResult<()> {
    for chunk in dialect::chunks::<C, _>(days, 1) {
        let mut sql = Sql::<C>::new("DELETE FROM pending_days WHERE employee_code = ");
        sql.bind(employee.0.as_str()).push(" AND marked_at <= ").bind(processed_from).push(" AND work_date IN ");
        sql.row(chunk.iter().map(|d| (*d).into()));
        sql.execute(conn).await?;
    }
    Ok(())
}

/// [`clear_in`] for several employees at once: `(employee, days, processed_from)` each, in multi-row
/// statements (`(employee_code, work_date) IN (VALUES …)`), one per processing start time.
///
/// # Errors
/// When a statement fails.
pub(crate) async fn clear_many_in<C: Dialect>(conn: &mut C, cleared: &[(&EmployeeId, &[NaiveDate], chrono::NaiveDateTime)]) -> QueryResult<()> {
    let mut by_start: std::collections::BTreeMap<chrono::NaiveDateTime, Vec<(&str, NaiveDate)>> = std::collections::BTreeMap::new();
    for &(employee, days, processed_from) in cleared {
        by_start.entry(processed_from).or_default().extend(days.iter().map(|d| (employee.0.as_str(), *d)));
    }
    for (processed_from, days) in by_start {
        for chunk in dialect::chunks::<C, _>(&days, 2) {
            let mut sql = Sql::<C>::new("DELETE FROM pending_days WHERE marked_at <= ");
            sql.bind(processed_from).push(" AND (employee_code, work_date) IN (");
            sql.rows(chunk, |&(employee, day)| vec![employee.into(), day.into()]);
            sql.push(")");
            sql.execute(conn).await?;
        }
    }
    Ok(())
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
        let days: std::collections::BTreeSet<(EmployeeId, NaiveDate)> = rows.into_iter().map(|(e, t)| (EmployeeId(e), t.0.date())).collect();
        let count = days.len();
        mark_days(conn, days, now).await?;
        Ok(count)
    })
}
