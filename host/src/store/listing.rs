//! Paged, filtered reads for the REST API: processed days, raw punches, employees, job runs.
//!
//! Every filter is backed by an index (migration `000011_api`); pages are `ORDER BY … LIMIT/OFFSET`
//! walks of those indexes, and one row more than asked is read so "is there a next page" never
//! needs the count.
//!
//! Counts: a last page knows its count (offset + rows). Otherwise an unfiltered list reports the
//! table's size: exact when small, else an estimate (PostgreSQL's `reltuples`, SQLite's highest row
//! id). A filtered list counts exactly up to [`EXACT_COUNT_LIMIT`] matches (a `LIMIT`ed index read);
//! above that, an exact count is kept for [`COUNT_CACHE_TTL`] in this process. So no page request
//! scans a million rows; only the first request for a large filtered set each minute does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::dsl;
use diesel::prelude::*;
use diesel::query_builder::{AsQuery, BoxedSelectStatement, FromClause};
use diesel::query_dsl::methods::{self, BoxedDsl};
use diesel_async::RunQueryDsl;

use super::attendance::ProcessedDay;
use super::jobs::JobRun;
use super::outbox::OutboxStatus;
use super::schema::{crm_outbox, employees, job_runs, processed_attendance as pa, raw_punches};
use super::{Store, StoreError};

/// Up to this many matching rows a count is exact and cheap.
pub const EXACT_COUNT_LIMIT: i64 = 10_000;
/// How long a large filtered count is reused.
pub const COUNT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Which processed days a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProcessedFilter {
    /// One employee.
    pub user_id: Option<String>,
    /// First work date, inclusive.
    pub start: Option<NaiveDate>,
    /// Last work date, inclusive.
    pub end: Option<NaiveDate>,
    /// Only days flagged (or not flagged) as outliers.
    pub is_outlier: Option<bool>,
    /// Only days whose current revision the CRM acknowledged (or not).
    pub synced: Option<bool>,
    /// Only days with this status.
    pub status: Option<String>,
}

impl ProcessedFilter {
    fn is_empty(&self) -> bool {
        *self == ProcessedFilter::default()
    }
}

/// `processed_attendance` with the delivery of each day's current revision, if one exists.
/// `crm_outbox` is unique on `(attendance_id, revision)` (migration `000005_crm_outbox`), so the
/// join gives at most one delivery per day and never repeats a day.
type CurrentDelivery = dsl::And<dsl::Eq<crm_outbox::attendance_id, pa::id>, dsl::Eq<crm_outbox::revision, pa::revision>>;
type DaysWithDelivery = dsl::LeftJoinOn<pa::table, crm_outbox::table, CurrentDelivery>;

/// The processed days a filter selects, boxed for backend `DB`: each list and count query starts here.
type DaysQuery<'a, DB> = BoxedSelectStatement<
    'a,
    <DaysWithDelivery as AsQuery>::SqlType,
    FromClause<dsl::LeftJoinQuerySource<pa::table, crm_outbox::table, CurrentDelivery>>,
    DB,
>;

fn days_with_delivery() -> DaysWithDelivery {
    pa::table.left_join(crm_outbox::table.on(crm_outbox::attendance_id.eq(pa::id).and(crm_outbox::revision.eq(pa::revision))))
}

/// Adds the conditions of `filter` on the day itself (all but `synced`) to a boxed query over
/// `processed_attendance`, alone or joined. Generic over the query, so one function serves both
/// backends and both shapes: the bounds name the filters it adds, and every boxed query over the
/// table has them.
fn day_conditions<Q>(mut query: Q, filter: &ProcessedFilter) -> Q
where
    Q: methods::FilterDsl<dsl::Eq<pa::user_id, String>, Output = Q>
        + methods::FilterDsl<dsl::GtEq<pa::work_date, NaiveDate>, Output = Q>
        + methods::FilterDsl<dsl::LtEq<pa::work_date, NaiveDate>, Output = Q>
        + methods::FilterDsl<dsl::Eq<pa::status, String>, Output = Q>
        + methods::FilterDsl<dsl::Eq<pa::is_outlier, bool>, Output = Q>,
{
    if let Some(user) = &filter.user_id {
        query = query.filter(pa::user_id.eq(user.clone()));
    }
    if let Some(start) = filter.start {
        query = query.filter(pa::work_date.ge(start));
    }
    if let Some(end) = filter.end {
        query = query.filter(pa::work_date.le(end));
    }
    if let Some(status) = &filter.status {
        query = query.filter(pa::status.eq(status.clone()));
    }
    if let Some(outlier) = filter.is_outlier {
        query = query.filter(pa::is_outlier.eq(outlier));
    }
    query
}

/// The days `filter` selects, each with its current delivery (the pages read both in one query).
/// Diesel's DSL, so each statement shape is prepared once per pooled connection and reused.
fn processed_query<'a, DB>(filter: &ProcessedFilter) -> DaysQuery<'a, DB>
where
    DB: Backend + 'a,
    DaysWithDelivery: BoxedDsl<'a, DB, Output = DaysQuery<'a, DB>>,
    DaysQuery<'a, DB>: methods::FilterDsl<dsl::Eq<pa::user_id, String>, Output = DaysQuery<'a, DB>>
        + methods::FilterDsl<dsl::GtEq<pa::work_date, NaiveDate>, Output = DaysQuery<'a, DB>>
        + methods::FilterDsl<dsl::LtEq<pa::work_date, NaiveDate>, Output = DaysQuery<'a, DB>>
        + methods::FilterDsl<dsl::Eq<pa::status, String>, Output = DaysQuery<'a, DB>>
        + methods::FilterDsl<dsl::Eq<pa::is_outlier, bool>, Output = DaysQuery<'a, DB>>
        + methods::FilterDsl<dsl::Eq<crm_outbox::status, OutboxStatus>, Output = DaysQuery<'a, DB>>
        + methods::FilterDsl<dsl::Or<dsl::IsNull<crm_outbox::status>, dsl::NotEq<crm_outbox::status, OutboxStatus>>, Output = DaysQuery<'a, DB>>,
{
    let query = day_conditions(days_with_delivery().into_boxed::<DB>(), filter);
    // "Synced" as `stats` counts it: the CRM acknowledged the day's current revision.
    match filter.synced {
        Some(true) => query.filter(crm_outbox::status.eq(OutboxStatus::Delivered)),
        Some(false) => query.filter(crm_outbox::status.is_null().or(crm_outbox::status.ne(OutboxStatus::Delivered))),
        None => query,
    }
}

/// The days `filter` selects without their deliveries, for counts that do not filter on `synced`
/// (SQLite keeps a `LEFT JOIN` nothing reads, and probes the outbox for every row counted).
fn days_query<'a, DB>(filter: &ProcessedFilter) -> pa::BoxedQuery<'a, DB>
where
    DB: Backend + 'a,
    pa::table: BoxedDsl<'a, DB, Output = pa::BoxedQuery<'a, DB>>,
    pa::BoxedQuery<'a, DB>: methods::FilterDsl<dsl::Eq<pa::user_id, String>, Output = pa::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::GtEq<pa::work_date, NaiveDate>, Output = pa::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::LtEq<pa::work_date, NaiveDate>, Output = pa::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::Eq<pa::status, String>, Output = pa::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::Eq<pa::is_outlier, bool>, Output = pa::BoxedQuery<'a, DB>>,
{
    day_conditions(pa::table.into_boxed::<DB>(), filter)
}

/// The CRM state of a day's current revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The CRM acknowledged the current revision.
    pub synced: bool,
    /// Attempts made for the current revision.
    pub attempts: i32,
    /// When the CRM acknowledged it, UTC.
    pub delivered_at: Option<NaiveDateTime>,
    /// The delivery's status (`pending`, `delivered`, `failed`, …); `None` when none exists.
    pub status: Option<String>,
    /// The last error the CRM or the network reported.
    pub last_error: Option<String>,
}

/// A page of rows and the total they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// At most `limit` rows.
    pub rows: Vec<T>,
    /// Whether more rows follow.
    pub more: bool,
    /// How many rows match (see the module's note on counts).
    pub count: i64,
}

/// The delivery columns a day's row carries (`None` when its current revision has no delivery).
type DeliveryColumns = (OutboxStatus, i32, Option<super::sql_time::SqlTimestamp>, Option<String>);

fn delivery_columns() -> (crm_outbox::status, crm_outbox::attempts, crm_outbox::delivered_at, crm_outbox::last_error) {
    (crm_outbox::status, crm_outbox::attempts, crm_outbox::delivered_at, crm_outbox::last_error)
}

fn sync_state(delivery: Option<DeliveryColumns>) -> SyncState {
    delivery.map_or_else(SyncState::default, |(status, attempts, delivered_at, last_error)| SyncState {
        synced: status == OutboxStatus::Delivered,
        attempts,
        delivered_at: delivered_at.map(NaiveDateTime::from),
        status: Some(status.as_str().to_owned()),
        last_error,
    })
}

/// The count a page already tells: a last page knows it (offset + rows), an empty first page is 0.
fn count_from_page(offset: i64, rows: usize, more: bool) -> Option<i64> {
    if !more && rows > 0 {
        Some(offset + rows as i64)
    } else if rows == 0 && offset == 0 {
        Some(0)
    } else {
        None
    }
}

/// A page of processed days, newest date first, with each day's CRM state (read in the same query).
///
/// A page after the first selects its ids first, in a subquery the date index answers alone, and
/// only then reads those rows and their deliveries: `OFFSET` otherwise reads every skipped row and
/// its delivery (page 200 of a million days: 10,000 rows read to show 50).
///
/// # Errors
/// When a query fails.
pub async fn processed_page(store: &Store, filter: &ProcessedFilter, offset: i64, limit: i64) -> Result<Page<(ProcessedDay, SyncState)>, StoreError> {
    let newest_first = (pa::work_date.desc(), pa::id.desc());
    let mut rows: Vec<(ProcessedDay, Option<DeliveryColumns>)> = crate::with_conn!(store, |conn| {
        let columns = (ProcessedDay::as_select(), delivery_columns().nullable());
        if offset == 0 {
            processed_query(filter).order(newest_first).limit(limit + 1).select(columns).load(conn).await
        } else if filter.synced.is_none() {
            let ids = days_query(filter).select(pa::id).order(newest_first).offset(offset).limit(limit + 1);
            days_with_delivery().filter(pa::id.eq_any(ids)).order(newest_first).select(columns).load(conn).await
        } else {
            let ids = processed_query(filter).select(pa::id).order(newest_first).offset(offset).limit(limit + 1);
            days_with_delivery().filter(pa::id.eq_any(ids)).order(newest_first).select(columns).load(conn).await
        }
        .map_err(StoreError::from)
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let count = match count_from_page(offset, rows.len(), more) {
        Some(n) => n,
        None => count_processed(store, filter).await?,
    };
    let rows = rows.into_iter().map(|(day, delivery)| (day, sync_state(delivery))).collect();
    Ok(Page { rows, more, count })
}

/// One processed day and its CRM state.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown id.
pub async fn processed_one(store: &Store, id: i64) -> Result<(ProcessedDay, SyncState), StoreError> {
    let found: Option<(ProcessedDay, Option<DeliveryColumns>)> = crate::with_conn!(store, |conn| {
        days_with_delivery()
            .filter(pa::id.eq(id))
            .select((ProcessedDay::as_select(), delivery_columns().nullable()))
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from)
    })?;
    let (day, delivery) = found.ok_or_else(|| StoreError::NotFound(format!("processed day {id}")))?;
    Ok((day, sync_state(delivery)))
}

async fn count_processed(store: &Store, filter: &ProcessedFilter) -> Result<i64, StoreError> {
    if filter.is_empty() {
        return table_estimate(store, "processed_attendance").await;
    }
    let key = format!("pa:{filter:?}");
    if let Some(n) = cached(&key) {
        return Ok(n);
    }
    let with_delivery = filter.synced.is_some();
    let bounded: Vec<i64> = crate::with_conn!(store, |conn| {
        let first = EXACT_COUNT_LIMIT + 1;
        if with_delivery {
            processed_query(filter).select(pa::id).limit(first).load(conn).await.map_err(StoreError::from)
        } else {
            days_query(filter).select(pa::id).limit(first).load(conn).await.map_err(StoreError::from)
        }
    })?;
    if (bounded.len() as i64) <= EXACT_COUNT_LIMIT {
        return Ok(bounded.len() as i64);
    }
    cached_count(&key, async {
        crate::with_conn!(store, |conn| {
            if with_delivery {
                processed_query(filter).count().get_result::<i64>(conn).await.map_err(StoreError::from)
            } else {
                days_query(filter).count().get_result::<i64>(conn).await.map_err(StoreError::from)
            }
        })
    })
    .await
}

/// A count computed less than [`COUNT_CACHE_TTL`] ago.
fn cached(key: &str) -> Option<i64> {
    count_cache().lock().ok().and_then(|cache| cache.get(key).filter(|(at, _)| at.elapsed() < COUNT_CACHE_TTL).map(|(_, n)| *n))
}

fn count_cache() -> &'static Mutex<HashMap<String, (Instant, i64)>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<String, (Instant, i64)>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

async fn cached_count(key: &str, exact: impl Future<Output = Result<i64, StoreError>>) -> Result<i64, StoreError> {
    if let Some(n) = cached(key) {
        return Ok(n);
    }
    let n = exact.await?;
    remember(key, n);
    Ok(n)
}

/// Keeps `n` under `key` for [`COUNT_CACHE_TTL`].
fn remember(key: &str, n: i64) {
    if let Ok(mut cache) = count_cache().lock() {
        // A bounded memory: many distinct filters only reset the cache.
        if cache.len() >= 1_000 {
            cache.clear();
        }
        cache.insert(key.to_owned(), (Instant::now(), n));
    }
}

/// The size of an unfiltered table without counting a large one: SQLite's highest id (rows are rarely
/// deleted from these tables, so it is close) or PostgreSQL's planner estimate. A table known to be
/// small is counted exactly; a PostgreSQL table not analysed yet is counted once a minute.
///
/// The estimate of a large table is kept for [`COUNT_CACHE_TTL`], as a large filtered count is:
/// every first page of the unfiltered list needs it, and asking again on each request cost a query
/// (a raw one, prepared anew each time) for a figure that is approximate anyway.
async fn table_estimate(store: &Store, table: &'static str) -> Result<i64, StoreError> {
    let key = format!("estimate:{table}");
    if let Some(n) = cached(&key) {
        return Ok(n);
    }
    #[derive(QueryableByName)]
    struct Estimate {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let estimate = match store {
        Store::Sqlite(_) => format!("SELECT COALESCE(MAX(id), 0) AS n FROM {table}"),
        Store::Postgres(_) => format!("SELECT reltuples::BIGINT AS n FROM pg_class WHERE oid = '{table}'::regclass"),
    };
    let exact = format!("SELECT COUNT(*) AS n FROM {table}");
    let rows: Vec<Estimate> = crate::with_conn!(store, |conn| diesel::sql_query(&estimate).load(conn).await.map_err(StoreError::from))?;
    let n = rows.into_iter().next().map_or(-1, |r| r.n);
    let count_now = async {
        let rows: Vec<Estimate> = crate::with_conn!(store, |conn| diesel::sql_query(&exact).load(conn).await.map_err(StoreError::from))?;
        Ok::<i64, StoreError>(rows.into_iter().next().map_or(0, |r| r.n))
    };
    match store {
        Store::Sqlite(_) if n <= EXACT_COUNT_LIMIT => count_now.await,
        Store::Postgres(_) if n < 0 => cached_count(&format!("table:{table}"), count_now).await,
        Store::Postgres(_) if n <= EXACT_COUNT_LIMIT => count_now.await,
        Store::Sqlite(_) | Store::Postgres(_) => {
            remember(&key, n);
            Ok(n)
        }
    }
}

/// Which punches a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RawFilter {
    /// One employee (the enrolment number on the device).
    pub user_id: Option<String>,
    /// One device.
    pub device: Option<i64>,
    /// From this instant, UTC, inclusive.
    pub from_utc: Option<NaiveDateTime>,
    /// Before this instant, UTC.
    pub until_utc: Option<NaiveDateTime>,
}

/// One stored punch as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct RawRow {
    /// Row id.
    pub id: i64,
    /// The device it came from.
    pub device_id: i64,
    /// The enrolment number.
    pub user_id: String,
    /// The device's wall time.
    pub local_time: NaiveDateTime,
    /// The instant, UTC.
    pub utc_time: NaiveDateTime,
    /// The device's status code.
    pub status: i32,
    /// Check-in, check-out, break…
    pub punch_state: i32,
    /// Finger, face, card…
    pub verify_type: i32,
    /// When the bridge stored it, UTC.
    pub received_at: NaiveDateTime,
}

/// The punches `filter` selects, boxed for backend `DB` (as [`processed_query`]).
fn raw_query<'a, DB>(filter: &RawFilter) -> raw_punches::BoxedQuery<'a, DB>
where
    DB: Backend + 'a,
    raw_punches::table: BoxedDsl<'a, DB, Output = raw_punches::BoxedQuery<'a, DB>>,
    raw_punches::BoxedQuery<'a, DB>: methods::FilterDsl<dsl::Eq<raw_punches::device_user_id, String>, Output = raw_punches::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::Eq<raw_punches::device_id, i64>, Output = raw_punches::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::GtEq<raw_punches::utc_time, NaiveDateTime>, Output = raw_punches::BoxedQuery<'a, DB>>
        + methods::FilterDsl<dsl::Lt<raw_punches::utc_time, NaiveDateTime>, Output = raw_punches::BoxedQuery<'a, DB>>,
{
    let mut query = raw_punches::table.into_boxed::<DB>();
    if let Some(user) = &filter.user_id {
        query = query.filter(raw_punches::device_user_id.eq(user.clone()));
    }
    if let Some(device) = filter.device {
        query = query.filter(raw_punches::device_id.eq(device));
    }
    if let Some(from) = filter.from_utc {
        query = query.filter(raw_punches::utc_time.ge(from));
    }
    if let Some(until) = filter.until_utc {
        query = query.filter(raw_punches::utc_time.lt(until));
    }
    query
}

/// A page of punches, newest first.
///
/// # Errors
/// When a query fails.
pub async fn raw_page(store: &Store, filter: &RawFilter, offset: i64, limit: i64) -> Result<Page<RawRow>, StoreError> {
    let columns = (
        raw_punches::id,
        raw_punches::device_id,
        raw_punches::device_user_id,
        raw_punches::local_time,
        raw_punches::utc_time,
        raw_punches::status,
        raw_punches::punch_state,
        raw_punches::verify_type,
        raw_punches::received_at,
    );
    let mut rows: Vec<RawRow> = crate::with_conn!(store, |conn| {
        raw_query(filter)
            .order((raw_punches::utc_time.desc(), raw_punches::id.desc()))
            .offset(offset)
            .limit(limit + 1)
            .select(columns)
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let count = if let Some(n) = count_from_page(offset, rows.len(), more) {
        n
    } else {
        let key = format!("raw:{filter:?}");
        if *filter == RawFilter::default() {
            table_estimate(store, "raw_punches").await?
        } else if let Some(n) = cached(&key) {
            n
        } else {
            let bounded: Vec<i64> = crate::with_conn!(store, |conn| {
                raw_query(filter).select(raw_punches::id).limit(EXACT_COUNT_LIMIT + 1).load(conn).await.map_err(StoreError::from)
            })?;
            if (bounded.len() as i64) <= EXACT_COUNT_LIMIT {
                bounded.len() as i64
            } else {
                cached_count(&key, async {
                    crate::with_conn!(store, |conn| raw_query(filter).count().get_result::<i64>(conn).await.map_err(StoreError::from))
                })
                .await?
            }
        }
    };
    Ok(Page { rows, more, count })
}

/// An employee with the number of processed days and the last punch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeRow {
    /// Row id.
    pub id: i64,
    /// The enrolment number.
    pub user_id: String,
    /// The name from the device, if any.
    pub name: Option<String>,
    /// Whether processing includes them.
    pub active: bool,
    /// Processed days stored.
    pub days: i64,
    /// Their newest punch, UTC.
    pub last_punch_utc: Option<NaiveDateTime>,
}

/// A page of employees by enrolment number.
///
/// # Errors
/// When a query fails.
pub async fn employees_page(store: &Store, offset: i64, limit: i64) -> Result<Page<EmployeeRow>, StoreError> {
    crate::with_conn!(store, |conn| {
        let mut people: Vec<(i64, String, Option<String>, bool)> = employees::table
            .order(employees::employee_code)
            .offset(offset)
            .limit(limit + 1)
            .select((employees::id, employees::employee_code, employees::name, employees::active))
            .load(conn)
            .await?;
        let more = people.len() as i64 > limit;
        people.truncate(usize::try_from(limit).unwrap_or(0));
        let codes: Vec<String> = people.iter().map(|p| p.1.clone()).collect();
        let days: HashMap<String, i64> = pa::table
            .filter(pa::user_id.eq_any(&codes))
            .group_by(pa::user_id)
            .select((pa::user_id, diesel::dsl::count_star()))
            .load::<(String, i64)>(conn)
            .await?
            .into_iter()
            .collect();
        let last: HashMap<String, Option<NaiveDateTime>> = raw_punches::table
            .filter(raw_punches::device_user_id.eq_any(&codes))
            .group_by(raw_punches::device_user_id)
            .select((raw_punches::device_user_id, diesel::dsl::max(raw_punches::utc_time)))
            .load::<(String, Option<NaiveDateTime>)>(conn)
            .await?
            .into_iter()
            .collect();
        let count: i64 = employees::table.count().get_result(conn).await?;
        let rows = people
            .into_iter()
            .map(|(id, code, name, active)| EmployeeRow {
                id,
                days: days.get(&code).copied().unwrap_or(0),
                last_punch_utc: last.get(&code).copied().flatten(),
                user_id: code,
                name,
                active,
            })
            .collect();
        Ok(Page { rows, more, count })
    })
}

/// One job run by id.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown id.
pub async fn job_run(store: &Store, id: i64) -> Result<JobRun, StoreError> {
    let run: Option<JobRun> = crate::with_conn!(store, |conn| {
        job_runs::table.find(id).select(JobRun::as_select()).first(conn).await.optional().map_err(StoreError::from)
    })?;
    run.ok_or_else(|| StoreError::NotFound(format!("job run {id}")))
}

/// The newest run of `job` still marked running and started after `since`, if any (an action
/// triggered twice joins the run in progress instead of starting another).
///
/// # Errors
/// When the query fails.
pub async fn running_run(store: &Store, job: &str, since: NaiveDateTime) -> Result<Option<i64>, StoreError> {
    crate::with_conn!(store, |conn| {
        job_runs::table
            .filter(job_runs::job_name.eq(job))
            .filter(job_runs::outcome.eq(super::jobs::JobOutcome::Running))
            .filter(job_runs::started_at.ge(since))
            .order(job_runs::id.desc())
            .select(job_runs::id)
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from)
    })
}
