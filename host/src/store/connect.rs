//! Opening the database, applying migrations, and telling whether it is ready.

use std::time::Duration;

use diesel::{Connection, QueryableByName};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use super::{SqliteConn, Store, StoreError};
use crate::config::DatabaseUrl;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Per-connection SQLite settings: wait for a busy writer instead of failing at once, enforce
/// foreign keys, fsync at checkpoints only (safe in WAL mode), and read the database file through
/// a memory map of up to 1 GiB instead of `read()` calls: with a million days, API pages of random
/// employees spent their time copying pages from the kernel into each connection's own cache. The
/// map is shared by every connection and holds the kernel's page cache, not private memory; it does
/// show in the process's resident size (up to the database's size), which monitoring should read
/// as cache.
const SQLITE_PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 1073741824;";

/// Serialises migrations when several instances start against one PostgreSQL at once.
const MIGRATION_LOCK_KEY: i64 = 0x00A7_7E4D_0001;

/// How long a caller waits for a pooled connection before getting an error.
const POOL_WAIT: Duration = Duration::from_secs(15);

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, oldest first.
    pub applied: Vec<String>,
}

/// Whether the database is reachable and fully migrated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyState {
    /// Migrations this binary knows that the database lacks.
    pub pending: Vec<String>,
}

impl Store {
    /// Opens a pool on `url`, creating the SQLite file and its folder when needed, and checks one
    /// connection so an unreachable database is reported now rather than at the first query.
    ///
    /// # Errors
    /// [`StoreError::Connect`] when the database cannot be opened.
    pub async fn open(url: &DatabaseUrl, pool_size: u32) -> Result<Store, StoreError> {
        let size = usize::try_from(pool_size).unwrap_or(8).max(1);
        let store = match url {
            DatabaseUrl::Sqlite(path) => {
                configure_sqlite_library();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| connect_error("sqlite", &e))?;
                }
                set_wal_mode(path.to_string_lossy().into_owned()).await?;
                let mut config = ManagerConfig::default();
                config.recycling_method = recycling();
                config.custom_setup = Box::new(|url| {
                    async move {
                        let mut conn = SqliteConn::establish(url).await?;
                        conn.batch_execute(SQLITE_PRAGMAS).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path.to_string_lossy(), config);
                Store::Sqlite(build_pool(manager, size, "sqlite")?)
            }
            DatabaseUrl::Postgres(pg) => {
                let mut config = ManagerConfig::default();
                config.recycling_method = recycling();
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(pg.as_str(), config);
                Store::Postgres(build_pool(manager, size, "postgres")?)
            }
        };
        let backend = store.backend_name();
        crate::with_conn!(&store, |conn| conn.batch_execute("SELECT 1").await.map_err(|e| connect_error(backend, &e)))
            .map_err(|e| match e {
                StoreError::Pool(message) => StoreError::Connect { backend, message },
                other => other,
            })?;
        Ok(store)
    }

    /// Whether the database answers a trivial query: tells a failure of one statement (a row the
    /// database refuses) from a database that is down or unreachable.
    ///
    /// # Errors
    /// When no connection can be had or the query fails.
    pub async fn ping(&self) -> Result<(), StoreError> {
        crate::with_conn!(self, |conn| conn.batch_execute("SELECT 1").await.map_err(StoreError::from))
    }

    /// Reports migrations the database has not applied yet (empty when ready).
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn ready(&self) -> Result<ReadyState, StoreError> {
        #[derive(QueryableByName)]
        struct Applied {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let query = "SELECT version FROM __diesel_schema_migrations";
        let applied: Vec<Applied> = crate::with_conn!(self, |conn| {
            match RunQueryDsl::load::<Applied>(diesel::sql_query(query), conn).await {
                Ok(rows) => Ok(rows),
                // No bookkeeping table yet: nothing applied.
                Err(diesel::result::Error::DatabaseError(..)) => Ok(Vec::new()),
                Err(e) => Err(StoreError::Query(e)),
            }
        })?;
        let known = match self {
            Store::Sqlite(_) => versions::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS),
            Store::Postgres(_) => versions::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS),
        };
        let pending = known.into_iter().filter(|v| !applied.iter().any(|a| &a.version == v)).collect();
        Ok(ReadyState { pending })
    }
}

/// Applies every pending migration for the backend `url` names.
///
/// Runs on a blocking thread with its own connection (diesel's migration harness is synchronous).
/// On PostgreSQL an advisory lock makes concurrent starts wait for each other instead of colliding.
///
/// # Errors
/// [`StoreError::Connect`] or [`StoreError::Migration`].
pub async fn run_migrations(url: &DatabaseUrl) -> Result<MigrationReport, StoreError> {
    let url = url.clone();
    tokio::task::spawn_blocking(move || match url {
        DatabaseUrl::Sqlite(path) => {
            configure_sqlite_library();
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| connect_error("sqlite", &e))?;
            apply(&mut conn, SQLITE_MIGRATIONS)
        }
        DatabaseUrl::Postgres(pg) => {
            let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(pg.as_str())
                .map_err(|e| connect_error("postgres", &e))?;
            diesel::RunQueryDsl::execute(diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")), &mut conn)
                .map_err(|e| StoreError::Migration(e.to_string()))?;
            let result = apply(&mut conn, POSTGRES_MIGRATIONS);
            let unlock = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            let _ = diesel::RunQueryDsl::execute(unlock, &mut conn);
            result
        }
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))?
}

fn apply<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> Result<MigrationReport, StoreError>
where
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    let applied = conn.run_pending_migrations(migrations).map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(MigrationReport { applied: applied.into_iter().map(|v| v.to_string()).collect() })
}

fn versions<DB: diesel::backend::Backend>(migrations: &EmbeddedMigrations) -> Vec<String>
where
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    diesel::migration::MigrationSource::<DB>::migrations(migrations)
        .map(|list| list.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default()
}

/// WAL lets readers (the dashboard) work while the poller writes; the mode is stored in the file.
async fn set_wal_mode(path: String) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel::SqliteConnection::establish(&path).map_err(|e| connect_error("sqlite", &e))?;
        diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
            .map_err(|e| connect_error("sqlite", &e))
    })
    .await
    .map_err(|e| StoreError::Connect { backend: "sqlite", message: e.to_string() })?
}

/// Sets SQLite's process-wide options once, before this process opens its first connection
/// (`sqlite3_config` is refused once the library is initialised; it then changes nothing, which is
/// logged). Both options remove locking that measured as contention under concurrent API load
/// (futex waits, idle cores, `pthread_mutex_lock` in the profile):
///
/// - **no memory statistics**: with them, every allocation inside SQLite takes one process-wide
///   mutex, which all pooled connections share;
/// - **multi-thread mode**: no mutex per connection, taken by every `sqlite3_*` call on it. A diesel
///   connection and its prepared statements are only ever used by one thread at a time (the pool
///   hands a connection to one task; diesel-async runs its calls on one blocking thread at a time),
///   which is what this mode requires.
pub fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use libsqlite3_sys::{SQLITE_CONFIG_MEMSTATUS, SQLITE_CONFIG_MULTITHREAD, SQLITE_OK, sqlite3_config};
        #[allow(unsafe_code)]
        // SAFETY: both options take plain integers (or nothing), as the C signature expects. The
        // bridge's SQLite uses start in `Store::open`, `run_migrations` and the Django import, which
        // call this first, at start-up, before any connection exists; the `Once` keeps two callers
        // apart. Should something have initialised SQLite already, `sqlite3_config` returns
        // SQLITE_MISUSE and changes nothing (logged below).
        let (memstatus, threading) =
            unsafe { (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, std::ffi::c_int::from(0_u8)), sqlite3_config(SQLITE_CONFIG_MULTITHREAD)) };
        if memstatus != SQLITE_OK || threading != SQLITE_OK {
            tracing::debug!(memstatus, threading, "SQLite was initialised before its options could be set; it keeps its defaults");
        }
    });
}

fn build_pool<C>(manager: AsyncDieselConnectionManager<C>, size: usize, backend: &'static str) -> Result<Pool<C>, StoreError>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    for<'a> diesel::dsl::select<diesel::dsl::AsExprOf<i32, diesel::sql_types::Integer>>:
        diesel_async::methods::LoadQuery<'a, C, i32>,
    diesel::query_builder::SqlQuery: diesel::query_builder::QueryFragment<C::Backend>,
{
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Connect { backend, message: e.to_string() })
}

/// How the pool checks a connection it hands out again: `Fast` (is it marked broken?) rather than
/// diesel-async's default `Verified`, which runs `SELECT 1` on every checkout, a round trip per API
/// request and per job step. A connection the server closed fails its next query, which reports the
/// error, and the pool then discards it.
fn recycling<C: diesel_async::AsyncConnection>() -> diesel_async::pooled_connection::RecyclingMethod<C> {
    diesel_async::pooled_connection::RecyclingMethod::Fast
}

fn connect_error(backend: &'static str, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Connect { backend, message: e.to_string() }
}
