//! Failed sign-ins (`login_failures`), counted per client address and per account name.
//!
//! Kept in the database rather than in memory so that several instances behind one load balancer
//! (sharing one PostgreSQL) enforce one limit, and a restart does not reset an attacker's count.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::login_failures;
use super::{Store, StoreError, now_utc};

/// What a failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The client address (after `TRUSTED_PROXIES`).
    Address,
    /// The user name tried (whether or not such an account exists).
    Account,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Account => "account",
        }
    }
}

/// Failures of one subject within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// How many.
    pub count: i64,
    /// The oldest one in the window (the count drops when it ages out).
    pub oldest: Option<NaiveDateTime>,
}

/// Records one failed sign-in against the address and against the account name.
///
/// # Errors
/// When the query fails.
pub async fn record(store: &Store, address: &str, account: &str) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        for (scope, subject) in [(Scope::Address, address), (Scope::Account, account)] {
            let row = (login_failures::scope.eq(scope.as_str()), login_failures::subject.eq(subject), login_failures::failed_at.eq(now));
            diesel::insert_into(login_failures::table).values(row).execute(conn).await?;
        }
        Ok(())
    })
}

/// Failures of `subject` in the last `window`.
///
/// # Errors
/// When the query fails.
pub async fn recent(store: &Store, scope: Scope, subject: &str, window: TimeDelta) -> Result<Failures, StoreError> {
    let since = now_utc() - window;
    crate::with_conn!(store, |conn| {
        let (count, oldest): (i64, Option<NaiveDateTime>) = login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject))
            .filter(login_failures::failed_at.gt(since))
            .select((diesel::dsl::count_star(), diesel::dsl::min(login_failures::failed_at)))
            .first(conn)
            .await?;
        Ok(Failures { count, oldest })
    })
}

/// Forgets an account's failures (after it signs in successfully); the address's stay counted.
///
/// # Errors
/// When the query fails.
pub async fn clear_account(store: &Store, account: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::delete(
            login_failures::table
                .filter(login_failures::scope.eq(Scope::Account.as_str()))
                .filter(login_failures::subject.eq(account)),
        )
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Deletes failures older than `window` (they no longer count); how many.
///
/// # Errors
/// When the query fails.
pub async fn purge_older_than(store: &Store, window: TimeDelta) -> Result<usize, StoreError> {
    let before = now_utc() - window;
    crate::with_conn!(store, |conn| {
        Ok(diesel::delete(login_failures::table.filter(login_failures::failed_at.le(before))).execute(conn).await?)
    })
}
