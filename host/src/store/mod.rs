//! Storage: one [`Store`] over SQLite (the embedded default) or PostgreSQL (production).
//!
//! Both backends share [`schema`]; their migrations live under `migrations/sqlite` and
//! `migrations/postgres`, are embedded in the binary, and run at start-up and through
//! `attendance-bridge migrate`. Storage knows nothing of HTTP or jobs: it takes and returns plain
//! values from [`crate::domain`].
//!
//! # How storage code is written
//!
//! - A function that stands alone takes `&Store` and gets a pooled connection with [`with_conn!`],
//!   whose body is compiled once per backend (diesel's DSL works there as usual).
//! - A function that must run inside a caller's transaction takes the connection, generic over
//!   [`dialect::Dialect`] (implemented for [`SqliteConn`] and `AsyncPgConnection`), and returns
//!   `QueryResult`. Callers compose several of them in one [`write_tx`] (not diesel's
//!   `conn.transaction(…)`, whose deferred SQLite transaction fails instead of waiting when another
//!   connection writes between its first read and its first write). Inside, statements
//!   are written with [`dialect::Sql`] (text plus bound values; multi-row `VALUES` lists chunked by
//!   [`dialect::chunks`] under the backend's parameter limit), so nothing differs per backend.
//! - Leases are [`lease::Lease`]; closed sets stored as text are enums ([`closed_set`]).
//!
//! The example to copy (`pending::mark_days` and `punches::insert_in` are real ones):
//!
//! ```ignore
//! /// Stores the punches and marks their days, in the caller's transaction.
//! pub(crate) async fn store_batch<C: Dialect>(conn: &mut C, batch: &[NewPunch], at: NaiveDateTime) -> QueryResult<usize> {
//!     let mut sql = Sql::<C>::new("UPDATE devices SET last_seen_at = ");
//!     sql.bind(at).push(" WHERE id = ").bind(batch[0].device_id.0);
//!     sql.execute(conn).await?;
//!     punches::insert_in(conn, batch, true, at).await
//! }
//!
//! /// Stand-alone: one transaction around the composed steps.
//! pub async fn ingest(store: &Store, batch: &[NewPunch]) -> Result<usize, StoreError> {
//!     let at = now_utc();
//!     crate::with_conn!(store, |conn| {
//!         write_tx::<_, StoreError, _>(conn, async |conn| Ok(store_batch(conn, batch, at).await?)).await
//!     })
//! }
//! ```

pub mod attendance;
pub mod attendance_status;
pub mod alerts;
pub mod audit;
pub mod backup;
pub mod closed_set;
mod connect;
pub mod corrections;
pub mod dashboard;
pub mod device_commands;
pub mod device_failover;
pub mod devices;
pub mod dialect;
pub mod django_import;
pub mod employees;
mod error;
pub mod jobs;
pub mod lease;
pub mod listing;
pub mod login_failures;
pub mod outbox;
pub mod pending;
pub mod punches;
pub mod reports;
pub mod report_subscriptions;
pub mod rosters;
pub mod schema;
pub mod sessions;
pub mod sql_time;
pub mod settings;
pub mod stats;
pub mod tokens;
mod transaction;
pub mod users;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;

pub use connect::{configure_sqlite_library, MigrationReport, ReadyState, run_migrations};
pub use error::StoreError;
pub use transaction::write_tx;

/// A SQLite connection usable from async code (diesel runs it on a blocking thread).
pub type SqliteConn = SyncConnectionWrapper<diesel::SqliteConnection>;

/// The database, whichever backend it is. Cheap to clone: both variants are shared pools.
#[derive(Clone)]
pub enum Store {
    /// An embedded SQLite file, in WAL mode.
    Sqlite(Pool<SqliteConn>),
    /// A PostgreSQL server.
    Postgres(Pool<AsyncPgConnection>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.backend_name())
    }
}

impl Store {
    /// `"sqlite"` or `"postgres"`, for logs and `/readyz`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

/// Runs `$body` with `$conn` bound to a pooled connection of the store's backend.
///
/// The body is compiled once per backend, so a query that one backend cannot express fails the build.
/// It must evaluate to a `Result<_, StoreError>` (diesel and pool errors convert with `?`).
#[macro_export]
macro_rules! with_conn {
    ($store:expr, |$conn:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool) => {
                let mut pooled = pool.get().await?;
                let $conn: &mut $crate::store::SqliteConn = &mut pooled;
                $body
            }
            $crate::store::Store::Postgres(pool) => {
                let mut pooled = pool.get().await?;
                let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
                $body
            }
        }
    };
}

/// The current time as stored in `TIMESTAMP` columns: UTC, microsecond precision.
pub(crate) fn now_utc() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    // PostgreSQL keeps microseconds; truncating here makes values read back equal to values written.
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}
