//! Where the two backends differ, in one place: [`Dialect`], implemented for [`SqliteConn`] and
//! [`AsyncPgConnection`].
//!
//! Most queries are diesel's DSL inside [`crate::with_conn!`], compiled once per backend. What the DSL
//! cannot write for SQLite (a multi-row `INSERT … ON CONFLICT … RETURNING`, `UPDATE … FROM (VALUES …)`)
//! and what must compose inside a caller's transaction in a generic function is written as text with
//! bound values through [`Sql`]: the placeholders, the bound-parameter limit and how a batch of rows
//! is sent ([`Sql::rows`]) are the only things that differ, and they are answered here.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryResult;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Nullable, Text, Timestamp};
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
    /// One column of a batch of rows as an array (PostgreSQL only; see [`Sql::rows`]).
    Array(Column),
}

/// One column of a batch of rows, bound as one PostgreSQL array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// `text[]`.
    Text(Vec<Option<String>>),
    /// `int4[]`.
    Int(Vec<Option<i32>>),
    /// `int8[]`.
    BigInt(Vec<Option<i64>>),
    /// `timestamp[]`.
    Timestamp(Vec<Option<NaiveDateTime>>),
    /// `date[]`.
    Date(Vec<NaiveDate>),
    /// `bool[]`.
    Bool(Vec<bool>),
}

impl Column {
    /// An empty column of `value`'s type.
    fn of(value: &Value) -> Option<Column> {
        Some(match value {
            Value::Text(_) => Column::Text(Vec::new()),
            Value::Int(_) => Column::Int(Vec::new()),
            Value::BigInt(_) => Column::BigInt(Vec::new()),
            Value::Timestamp(_) => Column::Timestamp(Vec::new()),
            Value::Date(_) => Column::Date(Vec::new()),
            Value::Bool(_) => Column::Bool(Vec::new()),
            Value::Array(_) => return None,
        })
    }

    /// Appends `value`; false (and nothing appended) when it is of another type.
    fn push(&mut self, value: Value) -> bool {
        match (self, value) {
            (Column::Text(c), Value::Text(v)) => c.push(v),
            (Column::Int(c), Value::Int(v)) => c.push(v),
            (Column::BigInt(c), Value::BigInt(v)) => c.push(v),
            (Column::Timestamp(c), Value::Timestamp(v)) => c.push(v),
            (Column::Date(c), Value::Date(v)) => c.push(v),
            (Column::Bool(c), Value::Bool(v)) => c.push(v),
            _ => return false,
        }
        true
    }

    /// The PostgreSQL array type the column is cast to in `UNNEST`.
    fn pg_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Int(_) => "int4[]",
            Column::BigInt(_) => "int8[]",
            Column::Timestamp(_) => "timestamp[]",
            Column::Date(_) => "date[]",
            Column::Bool(_) => "bool[]",
        }
    }

    /// `rows` (each of the same length) as columns, or `None` when a column mixes types.
    fn transpose(rows: Vec<Vec<Value>>) -> Option<Vec<Column>> {
        let mut columns: Vec<Column> = rows.as_slice().first()?.iter().map(Column::of).collect::<Option<_>>()?;
        for row in rows {
            if row.len() != columns.len() {
                return None;
            }
            for (column, value) in columns.iter_mut().zip(row) {
                if !column.push(value) {
                    return None;
                }
            }
        }
        Some(columns)
    }
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

    /// Whether a batch of rows goes as one array per column (`UNNEST`) rather than a `VALUES` list
    /// of one placeholder per value (see [`Sql::rows`]).
    const ARRAY_ROWS: bool;

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

/// Binds `values` in order on a boxed `sql_query`; `array` binds a [`Value::Array`] (only
/// PostgreSQL has arrays: SQLite refuses them, and [`Sql::rows`] never makes one there).
fn bound<DB>(
    sql: String,
    values: Vec<Value>,
    array: impl Fn(BoxedSqlQuery<'static, DB, SqlQuery>, Column) -> QueryResult<BoxedSqlQuery<'static, DB, SqlQuery>>,
) -> QueryResult<BoxedSqlQuery<'static, DB, SqlQuery>>
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
            Value::Array(column) => array(query, column)?,
        };
    }
    Ok(query)
}

/// SQLite's answer to a [`Value::Array`]: it has none.
fn no_arrays(_: BoxedSqlQuery<'static, diesel::sqlite::Sqlite, SqlQuery>, _: Column) -> QueryResult<BoxedSqlQuery<'static, diesel::sqlite::Sqlite, SqlQuery>> {
    Err(diesel::result::Error::QueryBuilderError("SQLite has no array parameters".into()))
}

/// Binds one column of a batch as a PostgreSQL array.
fn pg_array(query: BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery>, column: Column) -> QueryResult<BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery>> {
    Ok(match column {
        Column::Text(v) => query.bind::<Array<Nullable<Text>>, _>(v),
        Column::Int(v) => query.bind::<Array<Nullable<Integer>>, _>(v),
        Column::BigInt(v) => query.bind::<Array<Nullable<BigInt>>, _>(v),
        Column::Timestamp(v) => query.bind::<Array<Nullable<Timestamp>>, _>(v),
        Column::Date(v) => query.bind::<Array<Date>, _>(v),
        Column::Bool(v) => query.bind::<Array<Bool>, _>(v),
    })
}

impl Dialect for SqliteConn {
    const MAX_PARAMS: usize = 32_766;
    const ARRAY_ROWS: bool = false;

    fn placeholder(_n: usize) -> String {
        // Positional: values are bound in the order their placeholders appear, which `Sql` keeps.
        "?".to_owned()
    }

    async fn execute_sql(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<usize> {
        bound::<diesel::sqlite::Sqlite>(sql, binds, no_arrays)?.execute(self).await
    }

    async fn load_sql<T: Row>(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<Vec<T>> {
        bound::<diesel::sqlite::Sqlite>(sql, binds, no_arrays)?.load(self).await
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
    const ARRAY_ROWS: bool = true;

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    async fn execute_sql(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<usize> {
        bound::<diesel::pg::Pg>(sql, binds, pg_array)?.execute(self).await
    }

    async fn load_sql<T: Row>(&mut self, sql: String, binds: Vec<Value>) -> QueryResult<Vec<T>> {
        bound::<diesel::pg::Pg>(sql, binds, pg_array)?.load(self).await
    }

    async fn begin_write(&mut self) -> QueryResult<()> {
        use diesel_async::TransactionManager as _;
        <Self as AsyncConnection>::TransactionManager::begin_transaction(self).await
    }

    async fn plan_each_time(&mut self) -> QueryResult<()> {
        diesel_async::SimpleAsyncConnection::batch_execute(self, "SET LOCAL plan_cache_mode = force_custom_plan").await
    }
}

/// Set by [`send_rows_as_values_lists`].
static VALUES_LISTS: AtomicBool = AtomicBool::new(false);

/// For benchmarks only: PostgreSQL gets batches as `VALUES` lists too, as before [`Sql::rows`] sent
/// arrays, so one bench run can print the figure before the change beside the one after it.
#[doc(hidden)]
pub fn send_rows_as_values_lists(on: bool) {
    VALUES_LISTS.store(on, Ordering::Relaxed);
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

    /// Appends `rows` as a row source, each row's values given by `row`: what may follow `INSERT
    /// INTO t (…)`, or stand in parentheses after `IN` or `FROM` (its columns are named `column1`,
    /// `column2`, … as a `VALUES` list's are on both backends).
    ///
    /// SQLite gets a `VALUES` list. PostgreSQL gets `SELECT * FROM UNNEST($1::int8[], …)`, one array
    /// per column: the statement's text and its parameter count stay the same whatever the batch
    /// size, where a `VALUES` list of thousands of rows costs PostgreSQL tens of thousands of
    /// parameters to parse, bind and plan on every call. A batch whose column mixes types (never
    /// the case for a `row` that builds the same values each time) falls back to the `VALUES` list.
    pub fn rows<R>(&mut self, rows: &[R], row: impl Fn(&R) -> Vec<Value>) -> &mut Self {
        if C::ARRAY_ROWS
            && !AtomicBool::load(&VALUES_LISTS, Ordering::Relaxed)
            && let Some(columns) = Column::transpose(rows.iter().map(&row).collect())
        {
            self.text.push_str("SELECT * FROM UNNEST(");
            let count = columns.len();
            for (i, column) in columns.into_iter().enumerate() {
                if i > 0 {
                    self.text.push_str(", ");
                }
                let cast = column.pg_type();
                self.bind(Value::Array(column));
                self.text.push_str("::");
                self.text.push_str(cast);
            }
            self.text.push_str(") AS v(");
            for i in 1..=count {
                if i > 1 {
                    self.text.push_str(", ");
                }
                self.text.push_str(&format!("column{i}"));
            }
            self.text.push(')');
            return self;
        }
        self.text.push_str("VALUES ");
        self.values(rows, row)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Vec<(i64, Option<&'static str>)> {
        vec![(1, Some("a")), (2, None)]
    }

    fn row(&(id, text): &(i64, Option<&'static str>)) -> Vec<Value> {
        vec![id.into(), text.into()]
    }

    #[test]
    fn postgresql_gets_a_batch_as_one_array_per_column_named_as_a_values_list_would_be() {
        let mut sql = Sql::<AsyncPgConnection>::new("INSERT INTO t (a, b) ");
        sql.rows(&batch(), row);
        assert_eq!(sql.text, "INSERT INTO t (a, b) SELECT * FROM UNNEST($1::int8[], $2::text[]) AS v(column1, column2)");
        assert_eq!(
            sql.binds,
            vec![Value::Array(Column::BigInt(vec![Some(1), Some(2)])), Value::Array(Column::Text(vec![Some("a".into()), None]))]
        );
    }

    #[test]
    fn sqlite_gets_a_values_list() {
        let mut sql = Sql::<SqliteConn>::new("INSERT INTO t (a, b) ");
        sql.rows(&batch(), row);
        assert_eq!(sql.text, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
        assert_eq!(sql.binds.len(), 4);
    }

    #[test]
    fn a_column_of_mixed_types_falls_back_to_a_values_list() {
        let mixed = [vec![Value::from(1_i64)], vec![Value::from(2_i32)]];
        let mut sql = Sql::<AsyncPgConnection>::new("");
        sql.rows(&mixed, Clone::clone);
        assert_eq!(sql.text, "VALUES ($1), ($2)");
    }
}
