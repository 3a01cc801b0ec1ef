//! The CRM outbox (`crm_outbox`): one row per processed day and revision that the CRM must receive.
//!
//! Rows are written by [`enqueue!`] inside the transaction that writes the day's new revision
//! ([`super::attendance::upsert`]), so a saved change always has a delivery and a crash can never lose
//! one. A newer revision supersedes an older one that has not gone out yet, so the CRM is never sent
//! stale content after fresh content.
//!
//! The body is not rendered here: storage knows no plugins. The sender renders it through the mapping
//! plugin before the first attempt and freezes it with [`set_bodies`], so every retry sends the same
//! bytes under the same key.
//!
//! A sender claims due rows with a lease through a conditional `UPDATE` (as [`super::jobs`] does for
//! ticks), so two senders never hold the same row; a crashed sender's lease runs out and the row is
//! retried with the same key. Claims, frozen bodies and outcomes are written a batch at a time, so the
//! database work per delivery stays small next to the HTTP exchange.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, SubsecRound as _, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};

use super::attendance::DaySelection;
use super::schema::{crm_outbox, crm_outbox as ob_table, processed_attendance};
use super::{Store, StoreError, now_utc};

/// Waiting for its first or next attempt.
pub const PENDING: &str = "pending";
/// Leased to a sender right now.
pub const IN_FLIGHT: &str = "in_flight";
/// Acknowledged by the CRM (2xx).
pub const DELIVERED: &str = "delivered";
/// Dead letter: rejected by the CRM or out of retries; needs `--retry-failed`.
pub const FAILED: &str = "failed";
/// The mapping plugin said this day is not for the CRM.
pub const SKIPPED: &str = "skipped";
/// A newer revision of the same day replaced it before it went out.
pub const SUPERSEDED: &str = "superseded";

/// Enqueues the delivery of `(attendance_id, revision)` inside the caller's transaction, superseding
/// the day's older deliveries that are still waiting or dead-lettered.
macro_rules! enqueue {
    ($conn:expr, $attendance_id:expr, $revision:expr, $now:expr) => {{
        use $crate::store::schema::crm_outbox as ob;
        let (attendance_id, revision): (i64, i32) = ($attendance_id, $revision);
        diesel::update(
            ob::table
                .filter(ob::attendance_id.eq(attendance_id))
                .filter(ob::status.eq_any([$crate::store::outbox::PENDING, $crate::store::outbox::FAILED])),
        )
        .set(ob::status.eq($crate::store::outbox::SUPERSEDED))
        .execute($conn)
        .await?;
        diesel::insert_into(ob::table)
            .values((
                ob::attendance_id.eq(attendance_id),
                ob::revision.eq(revision),
                ob::idempotency_key.eq($crate::store::outbox::idempotency_key(attendance_id, revision)),
                ob::status.eq($crate::store::outbox::PENDING),
                ob::next_attempt_at.eq($now),
                ob::created_at.eq($now),
            ))
            .execute($conn)
            .await?;
    }};
}
pub(crate) use enqueue;

/// The delivery row of a day's first revision.
pub(crate) type FirstDelivery = (
    diesel::dsl::Eq<ob_table::attendance_id, i64>,
    diesel::dsl::Eq<ob_table::revision, i32>,
    diesel::dsl::Eq<ob_table::idempotency_key, String>,
    diesel::dsl::Eq<ob_table::status, &'static str>,
    diesel::dsl::Eq<ob_table::next_attempt_at, chrono::NaiveDateTime>,
    diesel::dsl::Eq<ob_table::created_at, chrono::NaiveDateTime>,
);

/// The delivery of a day that was just inserted (revision 1, nothing earlier to supersede), due now.
pub(crate) fn first_delivery(attendance_id: i64, now: chrono::NaiveDateTime) -> FirstDelivery {
    (
        ob_table::attendance_id.eq(attendance_id),
        ob_table::revision.eq(1),
        ob_table::idempotency_key.eq(idempotency_key(attendance_id, 1)),
        ob_table::status.eq(PENDING),
        ob_table::next_attempt_at.eq(now),
        ob_table::created_at.eq(now),
    )
}

/// One delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = crm_outbox)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// The processed day it carries.
    pub attendance_id: i64,
    /// That day's revision.
    pub revision: i32,
    /// Sent as `Idempotency-Key` (and `webhook-id`); stable for this day and revision.
    pub idempotency_key: String,
    /// The exact body to send: rendered before the first attempt, then fixed so retries are identical.
    pub body: Option<String>,
    /// Extra headers from the mapping plugin, as JSON `[[name, value], …]`.
    pub headers: Option<String>,
    /// One of the status constants of this module.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// Not before this instant, UTC.
    pub next_attempt_at: NaiveDateTime,
    /// The sender holding it.
    pub lease_owner: Option<String>,
    /// Until when, UTC.
    pub lease_until: Option<NaiveDateTime>,
    /// Last HTTP status seen.
    pub last_status: Option<i32>,
    /// Last error, as the CRM or the network reported it.
    pub last_error: Option<String>,
    /// The CRM's id for the record, when its answer had one.
    pub crm_id: Option<String>,
    /// Enqueued, UTC.
    pub created_at: NaiveDateTime,
    /// Acknowledged, UTC.
    pub delivered_at: Option<NaiveDateTime>,
}

/// The idempotency key of a day's revision: stable across retries and restarts, new for a new revision.
pub fn idempotency_key(attendance_id: i64, revision: i32) -> String {
    format!("attendance-{attendance_id}-r{revision}")
}

/// Claims up to `limit` due deliveries for `owner` until `lease_until`.
///
/// Due means pending and `next_attempt_at <= now`, or in flight with an expired lease (a crashed sender);
/// only deliveries of the selected days.
/// The batch is taken with one conditional `UPDATE`, so concurrent senders never share a row. A day
/// whose older revision is still in flight elsewhere waits, so revisions reach the CRM in order.
///
/// # Errors
/// When a query fails.
pub async fn claim_due(
    store: &Store,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    selection: &DaySelection,
) -> Result<Vec<Delivery>, StoreError> {
    let now = now.naive_utc();
    // Whole microseconds, as PostgreSQL stores them: the lease is read back by equality.
    let until = lease_until.naive_utc().trunc_subsecs(6);
    crate::with_conn!(store, |conn| {
        let mut due = crm_outbox::table.into_boxed();
        if !selection.is_all() {
            due = due.filter(crm_outbox::attendance_id.eq_any(super::attendance::selected_ids!(selection)));
        }
        let due = due
            .filter(
                crm_outbox::status
                    .eq(PENDING)
                    .and(crm_outbox::next_attempt_at.le(now))
                    .or(crm_outbox::status.eq(IN_FLIGHT).and(crm_outbox::lease_until.lt(now))),
            )
            .order(crm_outbox::id)
            .limit(limit)
            .select((crm_outbox::id, crm_outbox::attendance_id))
            .load::<(i64, i64)>(conn)
            .await?;
        let busy: std::collections::HashSet<i64> = crm_outbox::table
            .filter(crm_outbox::status.eq(IN_FLIGHT))
            .filter(crm_outbox::lease_until.ge(now))
            .filter(crm_outbox::attendance_id.eq_any(due.iter().map(|(_, day)| *day).collect::<Vec<_>>()))
            .select(crm_outbox::attendance_id)
            .load::<i64>(conn)
            .await?
            .into_iter()
            .collect();
        let ids: Vec<i64> = due.into_iter().filter(|(_, day)| !busy.contains(day)).map(|(id, _)| id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One conditional UPDATE for the batch: a row another sender took meanwhile no longer matches
        // and is not ours; the rows carrying our owner and lease are.
        diesel::update(
            crm_outbox::table.filter(crm_outbox::id.eq_any(&ids)).filter(
                crm_outbox::status
                    .eq(PENDING)
                    .and(crm_outbox::next_attempt_at.le(now))
                    .or(crm_outbox::status.eq(IN_FLIGHT).and(crm_outbox::lease_until.lt(now))),
            ),
        )
        .set((
            crm_outbox::status.eq(IN_FLIGHT),
            crm_outbox::lease_owner.eq(owner),
            crm_outbox::lease_until.eq(until),
            crm_outbox::attempts.eq(crm_outbox::attempts + 1),
        ))
        .execute(conn)
        .await?;
        crm_outbox::table
            .filter(crm_outbox::id.eq_any(&ids))
            .filter(crm_outbox::lease_owner.eq(owner))
            .filter(crm_outbox::lease_until.eq(until))
            .order(crm_outbox::id)
            .select(Delivery::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Freezes rendered bodies and headers of deliveries `owner` holds, in one transaction, unless one was
/// frozen before (then the stored one wins, so a retry never sends different bytes). Returns what is
/// stored now, by delivery id; a delivery missing from the answer is no longer `owner`'s.
///
/// # Errors
/// When a query fails.
pub async fn set_bodies(store: &Store, owner: &str, bodies: &[(i64, String, String)]) -> Result<HashMap<i64, (String, Option<String>)>, StoreError> {
    if bodies.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = bodies.iter().map(|(id, _, _)| *id).collect();
    macro_rules! freeze {
        ($conn:expr, $id:expr, $body:expr, $headers:expr) => {
            diesel::update(crm_outbox::table.find($id).filter(crm_outbox::lease_owner.eq(owner)).filter(crm_outbox::body.is_null()))
                .set((crm_outbox::body.eq($body), crm_outbox::headers.eq($headers)))
                .execute($conn)
                .await
        };
    }
    macro_rules! read_back {
        ($conn:expr) => {{
            let stored: Vec<(i64, Option<String>, Option<String>)> = crm_outbox::table
                .filter(crm_outbox::id.eq_any(&ids))
                .filter(crm_outbox::lease_owner.eq(owner))
                .select((crm_outbox::id, crm_outbox::body, crm_outbox::headers))
                .load($conn)
                .await?;
            Ok(stored.into_iter().filter_map(|(id, body, headers)| Some((id, (body?, headers)))).collect())
        }};
    }
    match store {
        Store::Postgres(pool) => {
            let mut pooled = pool.get().await?;
            let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
            conn.transaction::<_, StoreError, _>(async |conn| {
                // PostgreSQL: the updates are pipelined on the connection (one round trip, not one each).
                let shared: &diesel_async::AsyncPgConnection = conn;
                futures_util::future::try_join_all(bodies.iter().map(|(id, body, headers)| async move { freeze!(&mut &*shared, *id, body, headers) })).await?;
                read_back!(conn)
            })
            .await
        }
        Store::Sqlite(pool) => {
            let mut pooled = pool.get().await?;
            let conn: &mut super::SqliteConn = &mut pooled;
            conn.transaction::<_, StoreError, _>(async |conn| {
                for (id, body, headers) in bodies {
                    freeze!(&mut *conn, *id, body, headers)?;
                }
                read_back!(conn)
            })
            .await
        }
    }
}

/// What became of one attempt, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// The CRM acknowledged it (2xx), with its record id if it gave one.
    Delivered { status: u16, crm_id: Option<String> },
    /// A transient failure: pending again, not before `next_attempt_at`.
    Retry { next_attempt_at: DateTime<Utc>, status: Option<u16>, error: String },
    /// Dead letter, keeping the CRM's message; only `requeue_failed` brings it back.
    Failed { status: Option<u16>, error: String },
    /// Closed without sending: [`SKIPPED`] (the mapping plugin said so) or [`SUPERSEDED`] (the day moved
    /// on to a newer revision before this one was rendered).
    Closed(&'static str),
}

/// Records the outcomes of deliveries `owner` holds, in one transaction, releasing their leases
/// (on PostgreSQL the row updates are pipelined).
/// Returns, in order, whether each was still `owner`'s (a lost lease records nothing).
///
/// # Errors
/// When a query fails.
pub async fn mark_all(store: &Store, owner: &str, marks: &[(i64, Mark)]) -> Result<Vec<bool>, StoreError> {
    let now = now_utc();
    macro_rules! apply {
        ($conn:expr, $id:expr, $mark:expr) => {{
            let held = crm_outbox::table.find($id).filter(crm_outbox::lease_owner.eq(owner));
            let release = (crm_outbox::lease_owner.eq(None::<String>), crm_outbox::lease_until.eq(None::<NaiveDateTime>));
            match $mark {
                Mark::Delivered { status, crm_id } => {
                    diesel::update(held)
                        .set((
                            crm_outbox::status.eq(DELIVERED),
                            release,
                            crm_outbox::last_status.eq(Some(i32::from(*status))),
                            crm_outbox::last_error.eq(None::<String>),
                            crm_outbox::crm_id.eq(crm_id),
                            crm_outbox::delivered_at.eq(Some(now)),
                        ))
                        .execute($conn)
                        .await
                }
                Mark::Retry { next_attempt_at, status, error } => {
                    diesel::update(held)
                        .set((
                            crm_outbox::status.eq(PENDING),
                            release,
                            crm_outbox::next_attempt_at.eq(next_attempt_at.naive_utc()),
                            crm_outbox::last_status.eq(status.map(i32::from)),
                            crm_outbox::last_error.eq(Some(error)),
                        ))
                        .execute($conn)
                        .await
                }
                Mark::Failed { status, error } => {
                    diesel::update(held)
                        .set((
                            crm_outbox::status.eq(FAILED),
                            release,
                            crm_outbox::last_status.eq(status.map(i32::from)),
                            crm_outbox::last_error.eq(Some(error)),
                        ))
                        .execute($conn)
                        .await
                }
                Mark::Closed(status) => diesel::update(held).set((crm_outbox::status.eq(*status), release)).execute($conn).await,
            }
        }};
    }
    let changed: Vec<usize> = match store {
        Store::Postgres(pool) => {
            let mut pooled = pool.get().await?;
            let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
            conn.transaction::<_, StoreError, _>(async |conn| {
                // PostgreSQL: the updates are pipelined on the connection (one round trip, not one each).
                let shared: &diesel_async::AsyncPgConnection = conn;
                Ok(futures_util::future::try_join_all(marks.iter().map(|(id, mark)| async move { apply!(&mut &*shared, *id, mark) })).await?)
            })
            .await?
        }
        Store::Sqlite(pool) => {
            let mut pooled = pool.get().await?;
            let conn: &mut super::SqliteConn = &mut pooled;
            conn.transaction::<_, StoreError, _>(async |conn| {
                let mut changed = Vec::with_capacity(marks.len());
                for (id, mark) in marks {
                    changed.push(apply!(&mut *conn, *id, mark)?);
                }
                Ok(changed)
            })
            .await?
        }
    };
    Ok(changed.into_iter().map(|n| n == 1).collect())
}

/// `--retry-failed`: makes dead-lettered deliveries pending again (same key and body), attempts reset;
/// those of the selected days.
///
/// # Errors
/// When the query fails.
pub async fn requeue_failed(store: &Store, selection: &DaySelection) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let set = (crm_outbox::status.eq(PENDING), crm_outbox::attempts.eq(0), crm_outbox::next_attempt_at.eq(now));
        let failed = crm_outbox::table.filter(crm_outbox::status.eq(FAILED));
        let n = if selection.is_all() {
            diesel::update(failed).set(set).execute(conn).await?
        } else {
            diesel::update(failed.filter(crm_outbox::attendance_id.eq_any(super::attendance::selected_ids!(selection)))).set(set).execute(conn).await?
        };
        Ok(n)
    })
}

/// Dead letters that ran out of retries on transient failures get a fresh budget (same key and body);
/// rejections and replayed stored failures are left alone. Returns how many were re-queued.
///
/// # Errors
/// When the query fails.
pub async fn requeue_exhausted(store: &Store) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::update(crm_outbox::table.filter(crm_outbox::status.eq(FAILED)).filter(crm_outbox::last_error.like(format!("{GAVE_UP}%"))))
            .set((crm_outbox::status.eq(PENDING), crm_outbox::attempts.eq(0), crm_outbox::next_attempt_at.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// How the error of a delivery that ran out of retries starts (see [`requeue_exhausted`]).
pub const GAVE_UP: &str = "gave up after ";

/// The latest delivery of each failed day with its error, newest first (for `test-crm --stats`).
///
/// # Errors
/// When the query fails.
pub async fn failures(store: &Store, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    crate::with_conn!(store, |conn| {
        crm_outbox::table
            .filter(crm_outbox::status.eq(FAILED))
            .order(crm_outbox::id.desc())
            .limit(limit)
            .select(Delivery::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Outbox figures for `stats` and `test-crm --stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    /// Waiting to be sent.
    pub pending: i64,
    /// Being sent now.
    pub in_flight: i64,
    /// Dead letters.
    pub failed: i64,
    /// Days the mapping plugin skipped.
    pub skipped: i64,
    /// Processed days whose latest revision the CRM acknowledged.
    pub synced: i64,
    /// Age of the oldest pending delivery, seconds.
    pub oldest_pending_seconds: Option<i64>,
}

/// Counts the outbox by state.
///
/// # Errors
/// When a query fails.
pub async fn stats(store: &Store) -> Result<OutboxStats, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let count = |s: &'static str| crm_outbox::table.filter(crm_outbox::status.eq(s)).count();
        let pending = count(PENDING).get_result::<i64>(conn).await?;
        let in_flight = count(IN_FLIGHT).get_result::<i64>(conn).await?;
        let failed = count(FAILED).get_result::<i64>(conn).await?;
        let skipped = count(SKIPPED).get_result::<i64>(conn).await?;
        let synced = crm_outbox::table
            .inner_join(processed_attendance::table)
            .filter(crm_outbox::status.eq(DELIVERED))
            .filter(crm_outbox::revision.eq(processed_attendance::revision))
            .count()
            .get_result::<i64>(conn)
            .await?;
        let oldest = crm_outbox::table
            .filter(crm_outbox::status.eq(PENDING))
            .select(diesel::dsl::min(crm_outbox::created_at))
            .first::<Option<NaiveDateTime>>(conn)
            .await?;
        Ok(OutboxStats {
            pending,
            in_flight,
            failed,
            skipped,
            synced,
            oldest_pending_seconds: oldest.map(|t| (now - t).num_seconds()),
        })
    })
}

/// Every delivery of one day, oldest first (tests and diagnostics).
///
/// # Errors
/// When the query fails.
pub async fn for_day(store: &Store, attendance_id: i64) -> Result<Vec<Delivery>, StoreError> {
    crate::with_conn!(store, |conn| {
        crm_outbox::table
            .filter(crm_outbox::attendance_id.eq(attendance_id))
            .order(crm_outbox::id)
            .select(Delivery::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}
