//! Throwaway databases for tests, on either backend.

use attendance_bridge::config::DatabaseUrl;
use attendance_bridge::store::{self, Store};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use rand::Rng as _;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the local PostgreSQL server.
    Postgres,
}

/// The server's maintenance database, where test databases are created and dropped.
pub fn postgres_admin_url() -> String {
    std::env::var("BRIDGE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test and disappears with this value.
pub struct TestDb {
    /// Where it is.
    pub url: DatabaseUrl,
    /// Holds the SQLite folder (and is a scratch folder for any backend).
    pub dir: tempfile::TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    /// Creates an empty database on `backend`.
    ///
    /// # Panics
    /// When PostgreSQL is unreachable: the suite must fail rather than silently skip a backend.
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = DatabaseUrl::Sqlite(dir.path().join("data").join("bridge.db"));
                TestDb { url, dir, postgres_name: None }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("bridge_test_{}_{:08x}", std::process::id(), rand::rng().random::<u32>());
                let mut conn = AsyncPgConnection::establish(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for the test suite and is not reachable at {admin}: {e}")
                });
                conn.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                let mut url = url::Url::parse(&admin).expect("admin URL parses");
                url.set_path(&name);
                TestDb { url: DatabaseUrl::Postgres(url), dir, postgres_name: Some(name) }
            }
        }
    }

    /// Opens the database and applies migrations.
    pub async fn store(&self) -> Store {
        let store = Store::open(&self.url, 4).await.expect("open store");
        store::run_migrations(&self.url).await.expect("migrate");
        store
    }

    /// Runs raw SQL beside the store's connections: fixtures no API makes, such as a failpoint trigger.
    ///
    /// # Panics
    /// When the SQL fails.
    pub async fn execute(&self, sql: &str) {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                use diesel::Connection as _;
                use diesel::connection::SimpleConnection as _;
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).expect("open the SQLite file");
                conn.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = AsyncPgConnection::establish(url.as_str()).await.expect("connect to the test database");
                conn.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// The URL as `DATABASE_URL` takes it.
    pub fn database_url(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.to_string(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs outside any async context we can rely on: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&postgres_admin_url()).await {
                    let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}
