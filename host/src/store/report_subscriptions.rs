//! Scheduled report e-mails: who receives which report (`report_subscriptions`) and which periods
//! went out (`report_sends`).
//!
//! A send is claimed before the e-mail is built by inserting its `(subscription, period)` row: the
//! primary key lets exactly one instance insert it, so a period is never sent twice however many
//! instances run the job. After sending, the row is marked sent. If sending fails, the claim is
//! deleted and the next run tries again. If the process dies between sending and marking, the row
//! stays claimed without `sent_at`: the period is not sent again (at most once: a lost e-mail is
//! better than a duplicate payroll report), and `reports list` shows it as unconfirmed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{report_sends, report_subscriptions};
use super::{Store, StoreError, now_utc};

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = report_subscriptions)]
pub struct Subscription {
    /// Row id (what `reports unsubscribe` takes).
    pub id: i64,
    /// The report's slug (`daily-attendance`, `monthly-timesheet`, `late-early`).
    pub report: String,
    /// Comma-separated addresses.
    pub recipients: String,
    /// When it was created, UTC.
    pub created_at: NaiveDateTime,
    /// Who created it.
    pub created_by: String,
}

/// One claimed period of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = report_sends)]
pub struct Send {
    /// The subscription.
    pub subscription_id: i64,
    /// `2025-06-02`, `2025-06` or `2025-W23`.
    pub period: String,
    /// The instance that claimed it.
    pub instance: String,
    /// When, UTC.
    pub claimed_at: NaiveDateTime,
    /// When the e-mail was accepted by the mail server, UTC; `None` if unconfirmed.
    pub sent_at: Option<NaiveDateTime>,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// Adds a subscription; returns its id.
///
/// # Errors
/// When the query fails.
pub async fn subscribe(store: &Store, report: &str, recipients: &str, by: &str) -> Result<i64, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::insert_into(report_subscriptions::table)
            .values((
                report_subscriptions::report.eq(report),
                report_subscriptions::recipients.eq(recipients),
                report_subscriptions::created_at.eq(now),
                report_subscriptions::created_by.eq(by),
            ))
            .returning(report_subscriptions::id)
            .get_result(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Every subscription, oldest first.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store) -> Result<Vec<Subscription>, StoreError> {
    crate::with_conn!(store, |conn| {
        report_subscriptions::table.order(report_subscriptions::id).select(Subscription::as_select()).load(conn).await.map_err(StoreError::from)
    })
}

/// The latest sends of a subscription, newest first.
///
/// # Errors
/// When the query fails.
pub async fn sends(store: &Store, subscription: i64, limit: i64) -> Result<Vec<Send>, StoreError> {
    crate::with_conn!(store, |conn| {
        report_sends::table
            .filter(report_sends::subscription_id.eq(subscription))
            .order(report_sends::claimed_at.desc())
            .limit(limit)
            .select(Send::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Removes a subscription and its send history.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown id.
pub async fn unsubscribe(store: &Store, id: i64) -> Result<(), StoreError> {
    let removed = crate::with_conn!(store, |conn| {
        diesel::delete(report_sends::table.filter(report_sends::subscription_id.eq(id))).execute(conn).await?;
        diesel::delete(report_subscriptions::table.find(id)).execute(conn).await.map_err(StoreError::from)
    })?;
    if removed == 0 { Err(StoreError::NotFound(format!("report subscription {id}"))) } else { Ok(()) }
}

/// Claims `period` of `subscription` for `instance`: true for the one caller that inserted the row.
///
/// # Errors
/// When the query fails.
pub async fn claim(store: &Store, subscription: i64, period: &str, instance: &str) -> Result<bool, StoreError> {
    let now = now_utc();
    let inserted = crate::with_conn!(store, |conn| {
        diesel::insert_into(report_sends::table)
            .values((
                report_sends::subscription_id.eq(subscription),
                report_sends::period.eq(period),
                report_sends::instance.eq(instance),
                report_sends::claimed_at.eq(now),
            ))
            .on_conflict((report_sends::subscription_id, report_sends::period))
            .do_nothing()
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })?;
    Ok(inserted == 1)
}

/// Marks a claimed period sent.
///
/// # Errors
/// When the query fails.
pub async fn mark_sent(store: &Store, subscription: i64, period: &str) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::update(report_sends::table.find((subscription, period))).set(report_sends::sent_at.eq(now)).execute(conn).await?;
        Ok(())
    })
}

/// Gives a claim back after a failed send, so the next run tries again.
///
/// # Errors
/// When the query fails.
pub async fn release(store: &Store, subscription: i64, period: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::delete(report_sends::table.find((subscription, period)).filter(report_sends::sent_at.is_null())).execute(conn).await?;
        Ok(())
    })
}
