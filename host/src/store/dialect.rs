//! Where the two backends differ, in one place: [`Dialect`], implemented for [`SqliteConn`] and
//! [`AsyncPgConnection`].
//!
//! Most queries are diesel's DSL inside [`crate::with_conn!`], compiled once per backend. What the DSL
//! cannot write for SQLite (a multi-row `INSERT … ON CONFLICT … RETURNING`, `UPDATE … FROM (VALUES …)`)
//! and what must compose inside a caller's transaction in a generic function is written as text with
//! bound values through [`Sql`]: the placeholders and the bound-parameter limit are the only things
//! that differ, and they are answered here.

use std::future::Future;
use std::marker::PhantomData;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryResult;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Date, Integer, Nullable, Text, Timestamp};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::SqliteConn;

/// A value bound to a placeholder of a [`Sql`] statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `TEXT` (or `NULL`).
    Text(Option<String>),
    /// `INTEGER` (32 bits, or `NULL`).
    Int(Option<i32>),
    /// `BIGINT` (or `NULL`).
    BigInt(Option<i64>),
    /// `TIMESTAMP`, UTC (or `NULL`).
    Timestamp(Option<NaiveDateTime>),
    /// `DATE`.
    Date(NaiveDate),
    /// `BOOLEAN`.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i32>> for Value {
    fn from(v: Option<i32>) -> Self {
        Value::Int(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::BigInt(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::BigInt(v)
    }
}
impl From<NaiveDateTime> for Value {
    fn from(v: NaiveDateTime) -> Self {
        Value::Timestamp(Some(v))
    }
}
impl From<Option<NaiveDateTime>> for Value {
    fn from(v: Option<NaiveDateTime>) -> Self {
        Value::Timestamp(v)
    }
}
impl From<NaiveDate> for Value {
    fn from(v: NaiveDate) -> Self {
        Value::Date(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// What differs between the backends, for code written once over `C: Dialect`.
pub trait Dialect: AsyncConnection + Send + Sized + 'static {
    /// Bound parameters one statement may carry (SQLite's bundled build: 32,766; PostgreSQL's
    /// protocol: 65,535).
    const MAX_PARAMS: usize;

    /// The placeholder of the `n`th bound value (from 1).
    fn placeholder(n: usize) -> String;

    /// Runs a statement; returns the rows it changed.
    fn execute_sql(&mut self, sql: String, binds: Vec<Value>) -> impl Future<Output = QueryResult<usize>> + Send;

    /// Runs a query (or a statement with `RETURNING`) and reads its rows by column name.
    fn load_sql<T: Row>(&mut self, sql: String, binds: Vec<Value>) -> impl Future<Output = QueryResult<Vec<T>>> + Send;

    /// Opens a transaction that is going to write (see [`super::write_tx`]); inside an open one, a
    /// savepoint.
    ///
    /// SQLite's plain `BEGIN` is deferred: the first read takes a snapshot and the first write must
    /// then upgrade to the write lock, which fails at once with "database is locked" when another
    /// connection wrote since the snapshot (waiting could not help: the snapshot is stale), so
    /// SQLite opens it with `BEGIN IMMEDIATE`, taking the write lock first (and waiting for it under
    /// `busy_timeout`). PostgreSQL's row locks need nothing special.
    fn begin_write(&mut self) -> impl Future<Output = QueryResult<()>> + Send;

    /// Inside a transaction, plans the rest of its statements for their actual values instead of
    /// reusing a statement's cached generic plan (PostgreSQL's `SET LOCAL plan_cache_mode =
    /// force_custom_plan`; SQLite has no such cache and does nothing).
    ///
    /// For a read of a table the same run is filling: PostgreSQL fixes a prepared statement's generic
    /// plan after a few executions, and one fixed while the table was nearly empty (a sequential scan)
    /// stays until the table is analysed again. Where autovacuum is off, that is never: processing a
    /// backfill then scanned the whole growing `processed_attendance` once per employee (more than
    /// 200 s for 5,000 employees instead of under 30 s). Only where it is needed: planning each time
    /// costs the API's list query 40 % of its throughput.
    fn plan_each_time(&mut self) -> impl Future<Output = QueryResult<()>> + Send;
}

/// Whether `conn` is inside a transaction already.
fn in_transaction<C: AsyncConnection>(conn: &mut C) -> QueryResult<bool> {
    use diesel_async::TransactionManager as _;
    Ok(C::TransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some())
}

/// A row [`Sql::load`] reads: a `#[derive(QueryableByName)]` struct, which then reads on both
/// backends (so code generic over [`Dialect`] can name it without bounds of its own).
pub trait Row: diesel::QueryableByName<diesel::sqlite::Sqlite> + diesel::QueryableByName<diesel::pg::Pg> + Send + 'static {}

impl<T> Row for T where T: diesel::QueryableByName<diesel::sqlite::Sqlite> + diesel::QueryableByName<diesel::pg::Pg> + Send + 'static {}

/// Binds `values` in order on a boxed `sql_query`.
fn bound<DB>(sql: String, values: Vec<Value>) -> BoxedSqlQuery<'static, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Timestamp>
        + diesel::sql_types::HasSqlType<Date>
        + diesel::sql_types::HasSqlType<Bool>,
    Option<String>: diesel::serialize::ToSql<Nullable<Text>, DB>,
    Option<i32>: diesel::serialize::ToSql<Nullable<Integer>, DB>,
    Option<i64>: diesel::serialize::ToSql<Nullable<BigInt>, DB>,
    Option<NaiveDateTime>: diesel::serialize::ToSql<Nullable<Timestamp>, DB>,
    NaiveDate: diesel::serialize::ToSql<Date, DB>,
    bool: diesel::serialize::ToSql<Bool, DB>,
{
    let mut query = diesel::sql_query(sql).into_boxed::<DB>();
    for value in values {
        query = match value {
            Value::Text(v) => query.bind::<Nullable<Text>, _>(v),
            Value::Int(v) => query.bind::<Nullable<Integer>, _>(v),
            Value::BigInt(v) => query.bind::<Nullable<BigInt>, _>(v),
            Value::Timestamp(v) => query.bind::<Nullable<Timestamp>, _>(v),
            Value::Date(v) => query.bind::<Date, _>(v),
            Value::Bool(v) => query.bind::<Bool, _>(v),
        };
    }
    query
}

impl Dialect for SqliteConn {
    const MAX_PARAMS: usize = 32_766;

    fn placeholder(_n: usize) -> String {
        // Positional: values are bound in the order their placeholders appear, which `Sql` keeps.
        "?".to_owned()
    }

    async fn execute_sql(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<usize> {
        bound::<diesel::sqlite::Sqlite>(sql, binds).execute(self).await
    }

    async fn load_sql<T: Row>(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<Vec<T>> {
        bound::<diesel::sqlite::Sqlite>(sql, binds).load(self).await
    }

    async fn begin_write(&mut self) -> QueryResult<()> {
        use diesel_async::TransactionManager as _;
        if in_transaction(self)? {
            return <Self as AsyncConnection>::TransactionManager::begin_transaction(self).await;
        }
        // Through diesel's transaction manager, so the depth it tracks (commit, rollback, the pool's
        // check for a connection left inside a transaction) counts this one.
        self.spawn_blocking(|conn| diesel::connection::AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")).await
    }

    async fn plan_each_time(&mut self) -> QueryResult<()> {
        Ok(())
    }
}

impl Dialect for AsyncPgConnection {
    const MAX_PARAMS: usize = 65_535;

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    async fn execute_sql(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<usize> {
        bound::<diesel::pg::Pg>(sql, binds).execute(self).await
    }

    async fn load_sql<T: Row>(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<Vec<T>> {
        bound::<diesel::pg::Pg>(sql, binds).load(self).await
    }

    async fn begin_write(&mut self) -> QueryResult<()> {
        use diesel_async::TransactionManager as _;
        <Self as AsyncConnection>::TransactionManager::begin_transaction(self).await
    }

    async fn plan_each_time(&mut self) -> QueryResult<()> {
        diesel_async::SimpleAsyncConnection::batch_execute(self, "SET LOCAL plan_cache_mode = force_custom_plan").await
    }
}

/// A statement written as text with its bound values, for connection type `C`: text and values are
/// appended in order, so every placeholder gets the right number on either backend.
#[derive(Debug)]
pub struct Sql<C> {
    text: String,
    binds: Vec<Value>,
    backend: PhantomData<fn() -> C>,
}

impl<C: Dialect> Sql<C> {
    /// A statement starting with `text`.
    pub fn new(text: &str) -> Self {
        Sql { text: text.to_owned(), binds: Vec::new(), backend: PhantomData }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.binds.push(value.into());
        self.text.push_str(&C::placeholder(self.binds.len()));
        self
    }

    /// Appends one parenthesised row of placeholders, `(…, …)`, for a `VALUES` list.
    pub fn row(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        self.text.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self.text.push(')');
        self
    }

    /// Appends `rows` as a `VALUES` list, `(…), (…)`, each row's values given by `row`.
    pub fn values<R>(&mut self, rows: &[R], row: impl Fn(&R) -> Vec<Value>) -> &mut Self {
        for (i, item) in rows.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.row(row(item));
        }
        self
    }

    /// Runs it; returns the rows it changed.
    ///
    /// # Errors
    /// When the database rejects it.
    pub async fn execute(self, conn: &mut C) -> QueryResult<usize> {
        conn.execute_sql(self.text, self.binds).await
    }

    /// Runs it and reads the rows it returns.
    ///
    /// # Errors
    /// When the database rejects it.
    pub async fn load<T: Row>(self, conn: &mut C) -> QueryResult<Vec<T>> {
        conn.load_sql(self.text, self.binds).await
    }
}

/// Parameters kept free in a multi-row statement for what surrounds its `VALUES` list.
const RESERVED_PARAMS: usize = 16;

/// `items` in chunks small enough for one multi-row statement of `columns` values a row on
/// connection type `C` (with a few parameters to spare for the rest of the statement).
pub fn chunks<C: Dialect, R>(items: &[R], columns: usize) -> std::slice::Chunks<'_, R> {
    items.chunks((C::MAX_PARAMS.saturating_sub(RESERVED_PARAMS) / columns.max(1)).max(1))
}

/// A row of one `id` column (`RETURNING id`, `SELECT id …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::QueryableByName)]
pub struct IdRow {
    /// The id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
}
