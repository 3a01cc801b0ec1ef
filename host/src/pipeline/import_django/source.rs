//! Reading the original Django bridge's database: its `core_*` tables, on SQLite or PostgreSQL,
//! through plain SQL on a connection of its own (the source is never written).
//!
//! Django keeps instants in UTC: as text on SQLite, as `timestamp with time zone` on PostgreSQL.
//! Every value is selected as text or a number, the same on both, so one set of row types serves
//! both backends. Columns the source lacks (an older install) are read as `NULL`.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection as _};

use super::ImportError;
use crate::config::DatabaseUrl;
use crate::store::SqliteConn;

/// The tables and columns the import needs, and those that only some versions have.
const DEVICE_REQUIRED: &[&str] = &["id", "name", "ip_address", "port", "enabled"];
const USER_REQUIRED: &[&str] = &["user_id", "name"];
const RAW_REQUIRED: &[&str] = &["id", "device_id", "user_id", "timestamp", "status"];
const DAY_REQUIRED: &[&str] = &["id", "device_id", "user_id", "synced_to_crm"];

/// An open connection to the original's database.
pub enum Source {
    /// `db.sqlite3`.
    Sqlite(SqliteConn),
    /// Its PostgreSQL database.
    Postgres(Box<AsyncPgConnection>),
}

/// What the source's schema has: which user table, which optional columns.
#[derive(Debug, Clone, Default)]
pub struct SourceSchema {
    /// `core_deviceuser`, or `core_user` before the original renamed it.
    pub users_table: String,
    device: BTreeSet<String>,
    users: BTreeSet<String>,
    raw: BTreeSet<String>,
    days: BTreeSet<String>,
    /// The Celery beat tables (`django_celery_beat`) are there.
    pub has_beat: bool,
}

impl SourceSchema {
    /// The processed days have only the legacy columns (`date`, `clock_in`, `clock_out`): an install
    /// from before the original's shift engine.
    pub fn legacy_days(&self) -> bool {
        !self.days.contains("shift_date")
    }

    /// Devices predate the failover address or the per-device zone.
    pub fn legacy_devices(&self) -> bool {
        !self.device.contains("secondary_ip_address") || !self.device.contains("timezone")
    }
}

/// A `core_device` row.
#[derive(Debug, Clone, QueryableByName)]
pub struct DeviceRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub ip_address: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub secondary_ip_address: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub port: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub timezone: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub enabled: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_sync: Option<String>,
}

/// A `core_deviceuser` row.
#[derive(Debug, Clone, QueryableByName)]
pub struct UserRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub full_name: Option<String>,
}

/// A `core_rawattendance` row.
#[derive(Debug, Clone, QueryableByName)]
pub struct RawRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub device_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub timestamp: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub status: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub punch_state: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub verify_type: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub created_at: Option<String>,
}

/// A `core_processedattendance` row, newest columns preferred over the legacy ones.
#[derive(Debug, Clone, QueryableByName)]
pub struct DayRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub device_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub day: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub clock_in: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub clock_out: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub is_late: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub is_early: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub is_incomplete: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub is_outlier: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub notes: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub synced: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub sync_attempts: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_sync_attempt: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub updated_at: Option<String>,
}

/// A periodic task of `django_celery_beat`, with its interval or crontab.
#[derive(Debug, Clone, QueryableByName)]
pub struct BeatRow {
    #[diesel(sql_type = Text)]
    pub task: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pub enabled: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub every: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub period: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub minute: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub hour: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub day_of_week: Option<String>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

impl Source {
    /// Opens the source. A SQLite path must exist: an import never creates an empty source.
    ///
    /// # Errors
    /// [`ImportError::Source`] when it cannot be opened.
    pub async fn open(url: &DatabaseUrl) -> Result<Source, ImportError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if !path.is_file() {
                    return Err(ImportError::Source(format!("no SQLite database at {}", path.display())));
                }
                crate::store::configure_sqlite_library();
                let conn = SqliteConn::establish(&path.to_string_lossy()).await.map_err(|e| ImportError::Source(e.to_string()))?;
                Ok(Source::Sqlite(conn))
            }
            DatabaseUrl::Postgres(pg) => {
                let mut conn = AsyncPgConnection::establish(pg.as_str()).await.map_err(|e| ImportError::Source(e.to_string()))?;
                // Instants are formatted in UTC, whatever the server's zone.
                conn.batch_execute("SET TIME ZONE 'UTC'").await.map_err(|e| ImportError::Source(e.to_string()))?;
                Ok(Source::Postgres(Box::new(conn)))
            }
        }
    }

    async fn load<T>(&mut self, sql: &str) -> Result<Vec<T>, ImportError>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + Send + 'static,
    {
        let query = diesel::sql_query(sql);
        let rows = match self {
            Source::Sqlite(conn) => query.load(conn).await,
            Source::Postgres(conn) => query.load(&mut **conn).await,
        };
        rows.map_err(|e| ImportError::Source(format!("reading the source failed: {e} (query: {sql})")))
    }

    async fn tables(&mut self) -> Result<BTreeSet<String>, ImportError> {
        let sql = match self {
            Source::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
            Source::Postgres(_) => "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = current_schema()",
        };
        Ok(self.load::<Name>(sql).await?.into_iter().map(|n| n.name).collect())
    }

    async fn columns(&mut self, table: &str) -> Result<BTreeSet<String>, ImportError> {
        // `table` is one of this module's constants, never user input.
        let sql = match self {
            Source::Sqlite(_) => format!("SELECT name FROM pragma_table_info('{table}')"),
            Source::Postgres(_) => format!(
                "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
        };
        Ok(self.load::<Name>(&sql).await?.into_iter().map(|n| n.name).collect())
    }

    /// Checks that this is the original's database and learns which version of its schema it has.
    ///
    /// # Errors
    /// [`ImportError::NotDjango`] naming what is missing.
    pub async fn inspect(&mut self) -> Result<SourceSchema, ImportError> {
        let tables = self.tables().await?;
        let not_django = |what: String| {
            let found: Vec<&str> = tables.iter().map(String::as_str).take(12).collect();
            ImportError::NotDjango(format!(
                "{what}; this is not a database of the Django attendance bridge (tables found: {})",
                if found.is_empty() { "none".to_owned() } else { found.join(", ") }
            ))
        };
        let users_table = ["core_deviceuser", "core_user"].into_iter().find(|t| tables.contains(*t));
        for table in ["core_device", "core_rawattendance", "core_processedattendance"] {
            if !tables.contains(table) {
                return Err(not_django(format!("table {table} is missing")));
            }
        }
        let Some(users_table) = users_table else {
            return Err(not_django("table core_deviceuser (or the older core_user) is missing".into()));
        };
        let mut schema = SourceSchema {
            users_table: users_table.to_owned(),
            has_beat: tables.contains("django_celery_beat_periodictask"),
            ..SourceSchema::default()
        };
        schema.device = self.columns("core_device").await?;
        schema.users = self.columns(users_table).await?;
        schema.raw = self.columns("core_rawattendance").await?;
        schema.days = self.columns("core_processedattendance").await?;
        for (table, have, required) in [
            ("core_device", &schema.device, DEVICE_REQUIRED),
            (users_table, &schema.users, USER_REQUIRED),
            ("core_rawattendance", &schema.raw, RAW_REQUIRED),
            ("core_processedattendance", &schema.days, DAY_REQUIRED),
        ] {
            if let Some(missing) = required.iter().find(|c| !have.contains(**c)) {
                return Err(not_django(format!("{table} has no column {missing}")));
            }
        }
        if !schema.days.contains("shift_date") && !schema.days.contains("date") {
            return Err(not_django("core_processedattendance has neither shift_date nor the legacy date".into()));
        }
        Ok(schema)
    }

    fn pg(&self) -> bool {
        matches!(self, Source::Postgres(_))
    }

    /// An instant column as `YYYY-MM-DD HH:MM:SS[.ffffff]` UTC text, or `NULL` when absent.
    fn instant(&self, have: &BTreeSet<String>, column: &str) -> String {
        match (have.contains(column), self.pg()) {
            (false, _) => "NULL".into(),
            (true, false) => format!("CAST(\"{column}\" AS TEXT)"),
            (true, true) => format!("to_char(\"{column}\", 'YYYY-MM-DD HH24:MI:SS.US')"),
        }
    }

    fn text(have: &BTreeSet<String>, column: &str) -> String {
        if have.contains(column) { format!("CAST(\"{column}\" AS TEXT)") } else { "NULL".into() }
    }

    fn int(have: &BTreeSet<String>, column: &str, sql_type: &str) -> String {
        if have.contains(column) { format!("CAST(\"{column}\" AS {sql_type})") } else { "NULL".into() }
    }

    /// An IP column: `inet` on PostgreSQL (read without its netmask), text on SQLite.
    fn ip(&self, have: &BTreeSet<String>, column: &str) -> String {
        match (have.contains(column), self.pg()) {
            (false, _) => "NULL".into(),
            (true, false) => format!("CAST(\"{column}\" AS TEXT)"),
            (true, true) => format!("host(CAST(\"{column}\" AS inet))"),
        }
    }

    /// Every device (a site has a handful).
    ///
    /// # Errors
    /// When the query fails.
    pub async fn devices(&mut self, schema: &SourceSchema) -> Result<Vec<DeviceRow>, ImportError> {
        let d = &schema.device;
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, CAST(name AS TEXT) AS name, {} AS ip_address, {} AS secondary_ip_address, {} AS port, {} AS timezone, {} AS enabled, {} AS last_sync FROM core_device ORDER BY id",
            self.ip(d, "ip_address"),
            self.ip(d, "secondary_ip_address"),
            Self::int(d, "port", "BIGINT"),
            Self::text(d, "timezone"),
            Self::int(d, "enabled", "INTEGER"),
            self.instant(d, "last_sync"),
        );
        self.load(&sql).await
    }

    /// Device users with ids above `after`, at most `limit`, by id.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn users(&mut self, schema: &SourceSchema, after: i64, limit: usize) -> Result<Vec<UserRow>, ImportError> {
        let u = &schema.users;
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, {} AS user_id, {} AS name, {} AS full_name FROM {} WHERE id > {after} ORDER BY id LIMIT {limit}",
            Self::text(u, "user_id"),
            Self::text(u, "name"),
            Self::text(u, "full_name"),
            schema.users_table,
        );
        self.load(&sql).await
    }

    /// Raw attendance with ids above `after`, at most `limit`, by id.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn raw(&mut self, schema: &SourceSchema, after: i64, limit: usize) -> Result<Vec<RawRow>, ImportError> {
        let r = &schema.raw;
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, CAST(device_id AS BIGINT) AS device_id, {} AS user_id, {} AS timestamp, {} AS status, {} AS punch_state, {} AS verify_type, {} AS created_at FROM core_rawattendance WHERE id > {after} ORDER BY id LIMIT {limit}",
            Self::text(r, "user_id"),
            self.instant(r, "timestamp"),
            Self::int(r, "status", "BIGINT"),
            Self::int(r, "punch_state", "BIGINT"),
            Self::int(r, "verify_type", "BIGINT"),
            self.instant(r, "created_at"),
        );
        self.load(&sql).await
    }

    /// Processed days with ids above `after`, at most `limit`, by id: the newest columns where they
    /// are set, the legacy ones otherwise.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn days(&mut self, schema: &SourceSchema, after: i64, limit: usize) -> Result<Vec<DayRow>, ImportError> {
        let p = &schema.days;
        let date = |s: &Self, column: &str| match (p.contains(column), s.pg()) {
            (false, _) => "NULL".to_owned(),
            (true, false) => format!("CAST(\"{column}\" AS TEXT)"),
            (true, true) => format!("to_char(\"{column}\", 'YYYY-MM-DD')"),
        };
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, CAST(device_id AS BIGINT) AS device_id, {} AS user_id, COALESCE({}, {}) AS day, COALESCE({}, {}) AS clock_in, COALESCE({}, {}) AS clock_out, {} AS is_late, {} AS is_early, {} AS is_incomplete, {} AS is_outlier, {} AS notes, {} AS synced, {} AS sync_attempts, {} AS last_sync_attempt, {} AS updated_at FROM core_processedattendance WHERE id > {after} ORDER BY id LIMIT {limit}",
            Self::text(p, "user_id"),
            date(self, "shift_date"),
            date(self, "date"),
            self.instant(p, "earliest_punch"),
            self.instant(p, "clock_in"),
            self.instant(p, "latest_punch"),
            self.instant(p, "clock_out"),
            Self::int(p, "is_late_arrival", "INTEGER"),
            Self::int(p, "is_early_departure", "INTEGER"),
            Self::int(p, "is_incomplete", "INTEGER"),
            Self::int(p, "is_outlier", "INTEGER"),
            Self::text(p, "notes"),
            Self::int(p, "synced_to_crm", "INTEGER"),
            Self::int(p, "sync_attempts", "BIGINT"),
            self.instant(p, "last_sync_attempt"),
            self.instant(p, "updated_at"),
        );
        self.load(&sql).await
    }

    /// The periodic tasks of `django_celery_beat`, when the original kept its schedule there.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn beat(&mut self) -> Result<Vec<BeatRow>, ImportError> {
        let sql = "SELECT CAST(t.task AS TEXT) AS task, CAST(t.enabled AS INTEGER) AS enabled, CAST(i.every AS BIGINT) AS every, CAST(i.period AS TEXT) AS period, \
                   CAST(c.minute AS TEXT) AS minute, CAST(c.hour AS TEXT) AS hour, CAST(c.day_of_week AS TEXT) AS day_of_week \
                   FROM django_celery_beat_periodictask t \
                   LEFT JOIN django_celery_beat_intervalschedule i ON i.id = t.interval_id \
                   LEFT JOIN django_celery_beat_crontabschedule c ON c.id = t.crontab_id ORDER BY t.id";
        self.load(sql).await
    }
}

/// A UTC instant as Django wrote it (`2025-03-09 06:30:00`, fractions, a `T`, an offset or `Z`).
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = text.trim_end_matches('Z').trim_end_matches("+00:00").trim_end_matches("+00");
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|t| t.and_utc())
}

/// A date as Django wrote it.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim().get(..10)?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_instants_parse_as_utc() {
        let at = |s: &str| parse_instant(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2025-03-09 06:30:00").as_deref(), Some("2025-03-09T06:30:00+00:00"));
        assert_eq!(at("2025-03-09 06:30:00.250000").as_deref(), Some("2025-03-09T06:30:00.250+00:00"));
        assert_eq!(at("2025-03-09T06:30:00+00:00").as_deref(), Some("2025-03-09T06:30:00+00:00"));
        assert_eq!(at("2025-03-09 09:30:00+03:00").as_deref(), Some("2025-03-09T06:30:00+00:00"));
        assert_eq!(at("yesterday"), None);
        assert_eq!(parse_date("2025-03-09"), NaiveDate::from_ymd_opt(2025, 3, 9));
    }
}
