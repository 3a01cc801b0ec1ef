//! The CRM outbox (`crm_outbox`): one row per processed day and revision that the CRM must receive.
//!
//! Rows are written by [`enqueue`] inside the transaction that writes the day's new revision
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

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, SubsecRound as _, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::attendance::DaySelection;
use super::closed_set::{self, ClosedSet};
use super::dialect::{self, Dialect, IdRow, Sql, Value};
use super::lease::{self, Reentry};
use super::schema::{crm_outbox, processed_attendance};
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

/// Where a delivery stands (stored as the words above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum OutboxStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// Leased to a sender right now.
    InFlight,
    /// Acknowledged by the CRM (2xx).
    Delivered,
    /// Dead letter: rejected by the CRM or out of retries; needs `--retry-failed`.
    Failed,
    /// The mapping plugin said this day is not for the CRM.
    Skipped,
    /// A newer revision of the same day replaced it before it went out.
    Superseded,
}

impl ClosedSet for OutboxStatus {
    const ALL: &'static [(Self, &'static str)] = &[
        (OutboxStatus::Pending, PENDING),
        (OutboxStatus::InFlight, IN_FLIGHT),
        (OutboxStatus::Delivered, DELIVERED),
        (OutboxStatus::Failed, FAILED),
        (OutboxStatus::Skipped, SKIPPED),
        (OutboxStatus::Superseded, SUPERSEDED),
    ];
    const WHAT: &'static str = "outbox status";
}

impl OutboxStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl std::fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets a test or a report compare with the stored word (`delivery.status == outbox::PENDING`).
impl PartialEq<&str> for OutboxStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<OutboxStatus> for Value {
    fn from(status: OutboxStatus) -> Self {
        Value::from(status.as_str())
    }
}

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for OutboxStatus
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for OutboxStatus
where
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
}

/// Enqueues the delivery of `(attendance_id, revision)` inside the caller's transaction, superseding
/// the day's older deliveries that are still waiting or dead-lettered.
///
/// # Errors
/// When a statement fails.
pub(crate) async fn enqueue<C: Dialect>(conn: &mut C, attendance_id: i64, revision: i32, now: NaiveDateTime) -> QueryResult<()> {
    let mut supersede = Sql::<C>::new("UPDATE crm_outbox SET status = ");
    supersede.bind(OutboxStatus::Superseded).push(" WHERE attendance_id = ").bind(attendance_id);
    supersede.push(" AND status IN (").bind(OutboxStatus::Pending).push(", ").bind(OutboxStatus::Failed).push(")");
    supersede.execute(conn).await?;
    let mut insert = Sql::<C>::new(FIRST_DELIVERY_INSERT);
    insert.push("VALUES ").row(delivery_row(attendance_id, revision, now));
    insert.execute(conn).await.map(drop)
}

/// Enqueues revision 1 of each new day inside the caller's transaction (nothing earlier to
/// supersede), due now, in multi-row statements.
///
/// # Errors
/// When a statement fails.
pub(crate) async fn enqueue_first<C: Dialect>(conn: &mut C, attendance_ids: &[i64], now: NaiveDateTime) -> QueryResult<()> {
    for chunk in dialect::chunks::<C, _>(attendance_ids, 6) {
        let mut insert = Sql::<C>::new(FIRST_DELIVERY_INSERT);
        insert.rows(chunk, |&id| delivery_row(id, 1, now));
        insert.execute(conn).await?;
    }
    Ok(())
}

const FIRST_DELIVERY_INSERT: &str =
    "INSERT INTO crm_outbox (attendance_id, revision, idempotency_key, status, next_attempt_at, created_at) ";

fn delivery_row(attendance_id: i64, revision: i32, now: NaiveDateTime) -> Vec<Value> {
    vec![
        attendance_id.into(),
        revision.into(),
        idempotency_key(attendance_id, revision).into(),
        OutboxStatus::Pending.into(),
        now.into(),
        now.into(),
    ]
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
    /// Where it stands.
    pub status: OutboxStatus,
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
/// The batch is taken with one conditional `UPDATE` (the [`lease::OUTBOX`] lease), so concurrent
/// senders never share a row. A day whose older revision is still in flight elsewhere waits, so
/// revisions reach the CRM in order.
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
        let ids = claim_due_ids(conn, owner, now, until, limit, selection).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
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

/// The claiming part of [`claim_due`]: returns the ids it tried to take (read back which are
/// `owner`'s).
async fn claim_due_ids<C: Dialect>(
    conn: &mut C,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
    selection: &DaySelection,
) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Due {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        attendance_id: i64,
    }
    let mut due = Sql::<C>::new("SELECT id, attendance_id FROM crm_outbox WHERE ((status = ");
    due.bind(OutboxStatus::Pending).push(" AND next_attempt_at <= ").bind(now);
    due.push(") OR (status = ").bind(OutboxStatus::InFlight).push(" AND lease_until < ").bind(now).push("))");
    selection.push_filter(&mut due, "attendance_id");
    due.push(" ORDER BY id LIMIT ").bind(limit);
    let due: Vec<Due> = due.load(conn).await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut busy = Sql::<C>::new("SELECT DISTINCT attendance_id AS id FROM crm_outbox WHERE status = ");
    busy.bind(OutboxStatus::InFlight).push(" AND lease_until >= ").bind(now).push(" AND attendance_id IN ");
    busy.row(due.iter().map(|d| Value::from(d.attendance_id)));
    let busy: HashSet<i64> = busy.load::<IdRow>(conn).await?.into_iter().map(|r| r.id).collect();
    let ids: Vec<i64> = due.into_iter().filter(|d| !busy.contains(&d.attendance_id)).map(|d| d.id).collect();
    if ids.is_empty() {
        return Ok(ids);
    }
    // One conditional UPDATE for the batch: a row another sender took meanwhile no longer matches
    // and is not ours; the rows carrying our owner and lease are.
    lease::OUTBOX
        .claim(
            conn,
            owner,
            now,
            until,
            Reentry::FreeOnly,
            |set| {
                set.push(", status = ").bind(OutboxStatus::InFlight).push(", attempts = attempts + 1");
            },
            |scope| {
                scope.push(" AND id IN ").row(ids.iter().map(|&id| Value::from(id)));
                scope.push(" AND ((status = ").bind(OutboxStatus::Pending).push(" AND next_attempt_at <= ").bind(now);
                scope.push(") OR status = ").bind(OutboxStatus::InFlight).push(")");
            },
        )
        .await?;
    Ok(ids)
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
    crate::with_conn!(store, |conn| {
        super::write_tx::<_, StoreError, _>(conn, async |conn| {
            freeze_bodies(conn, owner, bodies).await?;
            let stored: Vec<(i64, Option<String>, Option<String>)> = crm_outbox::table
                .filter(crm_outbox::id.eq_any(&ids))
                .filter(crm_outbox::lease_owner.eq(owner))
                .select((crm_outbox::id, crm_outbox::body, crm_outbox::headers))
                .load(conn)
                .await?;
            Ok(stored.into_iter().filter_map(|(id, body, headers)| Some((id, (body?, headers)))).collect())
        })
        .await
    })
}

/// Writes the bodies of [`set_bodies`] in multi-row `UPDATE … FROM (VALUES …)` statements, where
/// the delivery is `owner`'s and has none yet.
async fn freeze_bodies<C: Dialect>(conn: &mut C, owner: &str, bodies: &[(i64, String, String)]) -> QueryResult<()> {
    for chunk in dialect::chunks::<C, _>(bodies, 3) {
        let mut sql = Sql::<C>::new("UPDATE crm_outbox SET body = v.column2, headers = v.column3 FROM (");
        sql.rows(chunk, |(id, body, headers)| vec![(*id).into(), body.clone().into(), headers.clone().into()]);
        sql.push(") AS v");
        lease::OUTBOX.push_held_by(&mut sql, owner);
        sql.push(" AND crm_outbox.id = v.column1 AND crm_outbox.body IS NULL");
        sql.execute(conn).await?;
    }
    Ok(())
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
    /// Closed without sending: [`OutboxStatus::Skipped`] (the mapping plugin said so) or
    /// [`OutboxStatus::Superseded`] (the day moved on to a newer revision before this one was rendered).
    Closed(OutboxStatus),
}

/// Records the outcomes of deliveries `owner` holds, in one transaction, releasing their leases:
/// one multi-row `UPDATE … FROM (VALUES …)` per kind of outcome.
/// Returns, in order, whether each was still `owner`'s (a lost lease records nothing).
///
/// # Errors
/// When a query fails.
pub async fn mark_all(store: &Store, owner: &str, marks: &[(i64, Mark)]) -> Result<Vec<bool>, StoreError> {
    let now = now_utc();
    let kept: HashSet<i64> = crate::with_conn!(store, |conn| {
        super::write_tx::<_, StoreError, _>(conn, async |conn| Ok(record_marks(conn, owner, marks, now).await?)).await
    })?;
    Ok(marks.iter().map(|(id, _)| kept.contains(id)).collect())
}

/// The statements of [`mark_all`]; returns the ids that were `owner`'s.
async fn record_marks<C: Dialect>(conn: &mut C, owner: &str, marks: &[(i64, Mark)], now: NaiveDateTime) -> QueryResult<HashSet<i64>> {
    // Each kind of outcome sets its own columns from the `VALUES` row: (id, …).
    let rows = |pick: &dyn Fn(&Mark) -> Option<Vec<Value>>| -> Vec<Vec<Value>> {
        marks
            .iter()
            .filter_map(|(id, mark)| {
                let mut row = vec![Value::from(*id)];
                row.extend(pick(mark)?);
                Some(row)
            })
            .collect()
    };
    let outcomes: [(Vec<Vec<Value>>, usize, &str); 4] = [
        (
            rows(&|m| match m {
                Mark::Delivered { status, crm_id } => Some(vec![OutboxStatus::Delivered.into(), i32::from(*status).into(), crm_id.clone().into(), now.into()]),
                _ => None,
            }),
            5,
            "last_status = v.column3, last_error = NULL, crm_id = v.column4, delivered_at = v.column5",
        ),
        (
            rows(&|m| match m {
                Mark::Retry { next_attempt_at, status, error } => Some(vec![
                    OutboxStatus::Pending.into(),
                    next_attempt_at.naive_utc().into(),
                    status.map(i32::from).into(),
                    error.clone().into(),
                ]),
                _ => None,
            }),
            5,
            "next_attempt_at = v.column3, last_status = v.column4, last_error = v.column5",
        ),
        (
            rows(&|m| match m {
                Mark::Failed { status, error } => Some(vec![OutboxStatus::Failed.into(), status.map(i32::from).into(), error.clone().into()]),
                _ => None,
            }),
            4,
            "last_status = v.column3, last_error = v.column4",
        ),
        (
            rows(&|m| match m {
                Mark::Closed(status) => Some(vec![(*status).into()]),
                _ => None,
            }),
            2,
            "",
        ),
    ];
    let mut kept = HashSet::new();
    for (rows, columns, assignments) in &outcomes {
        for chunk in dialect::chunks::<C, _>(rows, *columns) {
            let mut sql = Sql::<C>::new("UPDATE crm_outbox SET status = v.column2, ");
            lease::OUTBOX.push_release(&mut sql);
            if !assignments.is_empty() {
                sql.push(", ").push(assignments);
            }
            sql.push(" FROM (").rows(chunk, Clone::clone).push(") AS v");
            lease::OUTBOX.push_held_by(&mut sql, owner);
            sql.push(" AND crm_outbox.id = v.column1 RETURNING id");
            kept.extend(sql.load::<IdRow>(conn).await?.into_iter().map(|r| r.id));
        }
    }
    Ok(kept)
}

/// `--retry-failed`: makes dead-lettered deliveries pending again (same key and body), attempts reset;
/// those of the selected days.
///
/// # Errors
/// When the query fails.
pub async fn requeue_failed(store: &Store, selection: &DaySelection) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| Ok(requeue_failed_in(conn, selection, now).await?))
}

async fn requeue_failed_in<C: Dialect>(conn: &mut C, selection: &DaySelection, now: NaiveDateTime) -> QueryResult<usize> {
    let mut sql = Sql::<C>::new("UPDATE crm_outbox SET status = ");
    sql.bind(OutboxStatus::Pending).push(", attempts = 0, next_attempt_at = ").bind(now);
    sql.push(" WHERE status = ").bind(OutboxStatus::Failed);
    selection.push_filter(&mut sql, "attendance_id");
    sql.execute(conn).await
}

/// Dead letters that ran out of retries on transient failures get a fresh budget (same key and body);
/// rejections and replayed stored failures are left alone. Returns how many were re-queued.
///
/// # Errors
/// When the query fails.
pub async fn requeue_exhausted(store: &Store) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::update(crm_outbox::table.filter(crm_outbox::status.eq(OutboxStatus::Failed)).filter(crm_outbox::last_error.like(format!("{GAVE_UP}%"))))
            .set((crm_outbox::status.eq(OutboxStatus::Pending), crm_outbox::attempts.eq(0), crm_outbox::next_attempt_at.eq(now)))
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
            .filter(crm_outbox::status.eq(OutboxStatus::Failed))
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
        let count = |s: OutboxStatus| crm_outbox::table.filter(crm_outbox::status.eq(s)).count();
        let pending = count(OutboxStatus::Pending).get_result::<i64>(conn).await?;
        let in_flight = count(OutboxStatus::InFlight).get_result::<i64>(conn).await?;
        let failed = count(OutboxStatus::Failed).get_result::<i64>(conn).await?;
        let skipped = count(OutboxStatus::Skipped).get_result::<i64>(conn).await?;
        let synced = crm_outbox::table
            .inner_join(processed_attendance::table)
            .filter(crm_outbox::status.eq(OutboxStatus::Delivered))
            .filter(crm_outbox::revision.eq(processed_attendance::revision))
            .count()
            .get_result::<i64>(conn)
            .await?;
        let oldest = crm_outbox::table
            .filter(crm_outbox::status.eq(OutboxStatus::Pending))
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

/// The deliveries in one state by their next attempt (the next due first, or the latest first),
/// at most `limit` (the sync page's queue); the `crm_outbox_due` index (status, next attempt)
/// answers it without sorting.
///
/// # Errors
/// When the query fails.
pub async fn by_status(store: &Store, status: OutboxStatus, latest_first: bool, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    crate::with_conn!(store, |conn| {
        let query = crm_outbox::table.filter(crm_outbox::status.eq(status)).into_boxed();
        let query = if latest_first { query.order(crm_outbox::next_attempt_at.desc()) } else { query.order(crm_outbox::next_attempt_at.asc()) };
        query
            .limit(limit)
            .select(Delivery::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// How many deliveries are in one state, counting at most `cap + 1` rows (the sync page shows
/// "more than `cap`" past that): a bounded index range scan instead of a full count on a large
/// outbox.
///
/// # Errors
/// When the query fails.
pub async fn count_capped(store: &Store, status: OutboxStatus, cap: i64) -> Result<i64, StoreError> {
    let ids: Vec<i64> = crate::with_conn!(store, |conn| {
        crm_outbox::table
            .filter(crm_outbox::status.eq(status))
            .select(crm_outbox::id)
            .limit(cap + 1)
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    Ok(i64::try_from(ids.len()).unwrap_or(i64::MAX))
}
