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
        Self::create(backend, true).await
    }

    /// Creates a database with no migrations applied (on SQLite: no file yet), for tests of
    /// migrating itself.
    pub async fn empty(backend: Backend) -> TestDb {
        Self::create(backend, false).await
    }

    async fn create(backend: Backend, migrated: bool) -> TestDb {
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
                // BRIDGE_TEST_NO_TEMPLATE=1: the old way (an empty database, migrated by `store()`), to
                // compare the suite's time.
                let create = if !migrated || std::env::var_os("BRIDGE_TEST_NO_TEMPLATE").is_some() {
                    format!("CREATE DATABASE {name}")
                } else {
                    format!("CREATE DATABASE {name} TEMPLATE {}", migrated_template(&mut conn, &admin).await)
                };
                conn.batch_execute(&create).await.expect("create test database");
                TestDb { url: DatabaseUrl::Postgres(database_url(&admin, &name)), dir, postgres_name: Some(name) }
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

/// The URL of database `name` on the server `admin` points at.
fn database_url(admin: &str, name: &str) -> url::Url {
    let mut url = url::Url::parse(admin).expect("admin URL parses");
    url.set_path(name);
    url
}

/// Serialises building the template among test processes (a PostgreSQL advisory lock).
const TEMPLATE_LOCK_KEY: i64 = 0x00A7_7E4D_7E57;

/// The name of a database holding every PostgreSQL migration of this tree, created (once, whichever
/// test process gets there first) when missing: each test's database is a copy of it
/// (`CREATE DATABASE … TEMPLATE …`), which is much faster than migrating each one.
///
/// The name carries a hash of the migrations, so processes of one run share it, a changed migration
/// gets a new template, and trees with different migrations on one server never share one. It is
/// built under another name and renamed when complete, so a template that exists is whole.
async fn migrated_template(conn: &mut AsyncPgConnection, admin: &str) -> String {
    let name = format!("bridge_template_{:016x}", migrations_hash());
    if database_exists(conn, &name).await {
        return name;
    }
    conn.batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})")).await.expect("lock the template");
    if !database_exists(conn, &name).await {
        let building = format!("{name}_{}", std::process::id());
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await.expect("clear a half-built template");
        conn.batch_execute(&format!("CREATE DATABASE {building}")).await.expect("create the template");
        store::run_migrations(&DatabaseUrl::Postgres(database_url(admin, &building))).await.expect("migrate the template");
        conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await.expect("name the template");
    }
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})")).await.expect("unlock the template");
    name
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let query = diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1").bind::<diesel::sql_types::Text, _>(name);
    let found: Vec<Found> = diesel_async::RunQueryDsl::load(query, conn).await.expect("look for the template");
    found.iter().any(|f| f.datname == name)
}

/// A hash of every file under `migrations/postgres` (paths and contents, in path order).
fn migrations_hash() -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the migrations folder").flatten() {
            let path = entry.path();
            if path.is_dir() { walk(&path, files) } else { files.push(path) }
        }
    }
    let root = crate::workspace_root().join("migrations").join("postgres");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    // SipHash with fixed keys: the same on every process of every build.
    let mut hasher = std::hash::DefaultHasher::new();
    for file in files {
        file.strip_prefix(&root).unwrap_or(&file).hash(&mut hasher);
        std::fs::read(&file).expect("read a migration").hash(&mut hasher);
    }
    hasher.finish()
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
