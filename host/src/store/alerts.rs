//! Alert states (`alert_states`): whether each operational alert is active, so its e-mails go out
//! once when the condition starts and once when it ends, whatever the number of checks, restarts or
//! instances sharing the database.
//!
//! A transition is *claimed* with one conditional write (`UPDATE … WHERE active = false`, or an
//! `INSERT … ON CONFLICT DO NOTHING` for a key never seen) in one transaction: exactly one checker
//! sees one row changed, and only that one sends the e-mail. If the e-mail then fails, the claim is
//! given back ([`unclaim`]) so the next check tries again.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::alert_states;
use super::{Store, StoreError, now_utc};

/// One alert's stored state.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = alert_states)]
pub struct AlertState {
    /// `device_silent:12`, `deliveries_failed`, `plugin_failing:process_attendance`, `crm_unreachable`.
    pub alert_key: String,
    /// Whether the condition holds (as of the last claimed transition).
    pub active: bool,
    /// When it last started, UTC.
    pub started_at: Option<NaiveDateTime>,
    /// When it last ended, UTC.
    pub ended_at: Option<NaiveDateTime>,
    /// What the start e-mail said.
    pub detail: Option<String>,
    /// Last change, UTC.
    pub updated_at: NaiveDateTime,
}

/// Every alert whose condition is active.
///
/// # Errors
/// When the query fails.
pub async fn active(store: &Store) -> Result<Vec<AlertState>, StoreError> {
    crate::with_conn!(store, |conn| {
        alert_states::table
            .filter(alert_states::active.eq(true))
            .order(alert_states::alert_key)
            .select(AlertState::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Claims the start of `key`: true when this caller turned it from inactive (or unknown) to active.
///
/// # Errors
/// When the query fails.
pub async fn claim_start(store: &Store, key: &str, detail: &str) -> Result<bool, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<bool, StoreError, _>(conn, async |conn| {
            let updated = diesel::update(alert_states::table.find(key).filter(alert_states::active.eq(false)))
                .set((
                    alert_states::active.eq(true),
                    alert_states::started_at.eq(now),
                    alert_states::detail.eq(detail),
                    alert_states::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            if updated == 1 {
                return Ok(true);
            }
            let inserted = diesel::insert_into(alert_states::table)
                .values((
                    alert_states::alert_key.eq(key),
                    alert_states::active.eq(true),
                    alert_states::started_at.eq(now),
                    alert_states::detail.eq(detail),
                    alert_states::updated_at.eq(now),
                ))
                .on_conflict(alert_states::alert_key)
                .do_nothing()
                .execute(conn)
                .await?;
            Ok(inserted == 1)
        })
        .await
    })
}

/// Claims the end of `key`: true when this caller turned it from active to inactive.
///
/// # Errors
/// When the query fails.
pub async fn claim_end(store: &Store, key: &str) -> Result<bool, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let updated = diesel::update(alert_states::table.find(key).filter(alert_states::active.eq(true)))
            .set((alert_states::active.eq(false), alert_states::ended_at.eq(now), alert_states::updated_at.eq(now)))
            .execute(conn)
            .await?;
        Ok(updated == 1)
    })
}

/// Gives a claimed transition back (its e-mail could not be sent): `key` returns to `was_active`.
///
/// # Errors
/// When the query fails.
pub async fn unclaim(store: &Store, key: &str, was_active: bool) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::update(alert_states::table.find(key))
            .set((alert_states::active.eq(was_active), alert_states::updated_at.eq(now)))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// What the outbox says about the CRM's reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmReachability {
    /// The oldest waiting delivery whose last attempt failed without an answer or with a 5xx, UTC.
    pub failing_since: Option<NaiveDateTime>,
    /// The last delivery the CRM acknowledged, UTC.
    pub last_delivered: Option<NaiveDateTime>,
}

/// Reads [`CrmReachability`] from the outbox.
///
/// # Errors
/// When the query fails.
pub async fn crm_reachability(store: &Store) -> Result<CrmReachability, StoreError> {
    use super::outbox::OutboxStatus;
    use super::schema::crm_outbox;
    crate::with_conn!(store, |conn| {
        let failing_since = crm_outbox::table
            .filter(crm_outbox::status.eq_any([OutboxStatus::Pending, OutboxStatus::InFlight]))
            .filter(crm_outbox::attempts.gt(0))
            .filter(crm_outbox::last_status.is_null().or(crm_outbox::last_status.ge(500)))
            .select(diesel::dsl::min(crm_outbox::created_at))
            .first::<Option<NaiveDateTime>>(conn)
            .await?;
        let last_delivered = crm_outbox::table.select(diesel::dsl::max(crm_outbox::delivered_at)).first::<Option<NaiveDateTime>>(conn).await?;
        Ok(CrmReachability { failing_since, last_delivered })
    })
}
