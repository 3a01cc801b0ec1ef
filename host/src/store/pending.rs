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
