//! The audit trail (`audit_log`): who changed what, when, from which value to which, and why.
//!
//! A change and its audit entry must commit together, so [`record`] takes the caller's connection
//! and runs inside the caller's transaction; [`record_alone`] is for changes that are a single
//! statement of their own (a device created through the API).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::dialect::{Dialect, Sql, Value};
use super::{Store, StoreError, now_utc};

diesel::table! {
    /// Declared here rather than in `schema` because nothing joins it.
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Text>,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// When, UTC.
    pub at: NaiveDateTime,
    /// The account's user name.
    pub actor: String,
    /// What was done (`attendance.correct`, `device.create`, `job.run`, …).
    pub action: String,
    /// The kind of thing changed (`processed_attendance`, `device`, `job`).
    pub target_type: String,
    /// Which one.
    pub target_id: Option<String>,
    /// The value before, JSON.
    pub old_value: Option<String>,
    /// The value after, JSON.
    pub new_value: Option<String>,
    /// Why (required for manual corrections).
    pub reason: Option<String>,
}

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When, UTC.
    pub at: NaiveDateTime,
    /// The account's user name.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The kind of thing changed.
    pub target_type: String,
    /// Which one.
    pub target_id: Option<String>,
    /// The value before, JSON.
    pub old_value: Option<String>,
    /// The value after, JSON.
    pub new_value: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

impl NewAuditEntry {
    /// An entry stamped now, without values or reason (add them with the fields).
    pub fn now(actor: &str, action: &str, target_type: &str, target_id: Option<String>) -> Self {
        Self {
            at: now_utc(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id,
            old_value: None,
            new_value: None,
            reason: None,
        }
    }
}

/// Writes `entry` through the caller's connection, so it commits or rolls back with the caller's change.
///
/// # Errors
/// When the insert fails.
pub async fn record<C: Dialect>(conn: &mut C, entry: &NewAuditEntry) -> Result<(), StoreError> {
    let mut insert =
        Sql::<C>::new("INSERT INTO audit_log (at, actor, action, target_type, target_id, old_value, new_value, reason) VALUES ");
    insert.row([
        Value::from(entry.at),
        Value::from(entry.actor.as_str()),
        Value::from(entry.action.as_str()),
        Value::from(entry.target_type.as_str()),
        Value::from(entry.target_id.as_deref()),
        Value::from(entry.old_value.as_deref()),
        Value::from(entry.new_value.as_deref()),
        Value::from(entry.reason.as_deref()),
    ]);
    insert.execute(conn).await?;
    Ok(())
}

/// Writes `entry` on its own.
///
/// # Errors
/// When the insert fails.
pub async fn record_alone(store: &Store, entry: &NewAuditEntry) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| record(conn, entry).await)
}

/// A page of entries, newest first, with the total.
///
/// # Errors
/// When the query fails.
pub async fn page(store: &Store, offset: i64, limit: i64) -> Result<(Vec<AuditEntry>, i64), StoreError> {
    crate::with_conn!(store, |conn| {
        let rows = audit_log::table
            .order((audit_log::at.desc(), audit_log::id.desc()))
            .offset(offset)
            .limit(limit)
            .select(AuditEntry::as_select())
            .load(conn)
            .await?;
        let count: i64 = audit_log::table.count().get_result(conn).await?;
        Ok((rows, count))
    })
}

/// The latest entries about one thing (a day, a device), newest first; `audit_log_by_target`
/// answers it.
///
/// # Errors
/// When the query fails.
pub async fn for_target(store: &Store, target_type: &str, target_id: &str, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
    crate::with_conn!(store, |conn| {
        audit_log::table
            .filter(audit_log::target_type.eq(target_type))
            .filter(audit_log::target_id.eq(target_id))
            .order((audit_log::at.desc(), audit_log::id.desc()))
            .limit(limit)
            .select(AuditEntry::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}
