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
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::attendance::ProcessedDay;
use super::jobs::JobRun;
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

macro_rules! processed_query {
    ($filter:expr) => {{
        let filter: &ProcessedFilter = $filter;
        let mut query = pa::table.into_boxed();
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
        // Flags are a JSON array of names; every outlier flag name contains "outlier".
        match filter.is_outlier {
            Some(true) => query = query.filter(pa::flags.like("%outlier%")),
            Some(false) => query = query.filter(pa::flags.not_like("%outlier%")),
            None => {}
        }
        // "Synced" as `stats` counts it: the CRM acknowledged the day's current revision. A
        // correlated subquery diesel cannot type, so written out; the outbox index on
        // (attendance_id, revision) answers it.
        const DELIVERED_NOW: &str = "EXISTS (SELECT 1 FROM crm_outbox o WHERE o.attendance_id = processed_attendance.id \
                                     AND o.revision = processed_attendance.revision AND o.status = 'delivered')";
        match filter.synced {
            Some(true) => query = query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(DELIVERED_NOW)),
            Some(false) => query = query.filter(diesel::dsl::not(diesel::dsl::sql::<diesel::sql_types::Bool>(DELIVERED_NOW))),
            None => {}
        }
        query
    }};
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

/// A page of processed days, newest date first, with each day's CRM state.
///
/// # Errors
/// When a query fails.
pub async fn processed_page(store: &Store, filter: &ProcessedFilter, offset: i64, limit: i64) -> Result<Page<(ProcessedDay, SyncState)>, StoreError> {
    let key = format!("pa:{filter:?}");
    let mut rows: Vec<ProcessedDay> = crate::with_conn!(store, |conn| {
        processed_query!(filter)
            .order((pa::work_date.desc(), pa::id.desc()))
            .offset(offset)
            .limit(limit + 1)
            .select(ProcessedDay::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let count = if !more && !rows.is_empty() {
        offset + rows.len() as i64
    } else if rows.is_empty() && offset == 0 {
        0
    } else {
        count_processed(store, filter, &key).await?
    };
    let states = sync_states(store, &rows).await?;
    let rows = rows.into_iter().map(|d| {
        let state = states.get(&d.id).cloned().unwrap_or_default();
        (d, state)
    });
    Ok(Page { rows: rows.collect(), more, count })
}

/// One processed day and its CRM state.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown id.
pub async fn processed_one(store: &Store, id: i64) -> Result<(ProcessedDay, SyncState), StoreError> {
    let day: Option<ProcessedDay> = crate::with_conn!(store, |conn| {
        pa::table.find(id).select(ProcessedDay::as_select()).first(conn).await.optional().map_err(StoreError::from)
    })?;
    let day = day.ok_or_else(|| StoreError::NotFound(format!("processed day {id}")))?;
    let state = sync_states(store, std::slice::from_ref(&day)).await?.remove(&day.id).unwrap_or_default();
    Ok((day, state))
}

async fn sync_states(store: &Store, days: &[ProcessedDay]) -> Result<HashMap<i64, SyncState>, StoreError> {
    if days.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = days.iter().map(|d| d.id).collect();
    type Row = (i64, i32, super::outbox::OutboxStatus, i32, Option<NaiveDateTime>, Option<String>);
    let rows: Vec<Row> = crate::with_conn!(store, |conn| {
        crm_outbox::table
            .filter(crm_outbox::attendance_id.eq_any(&ids))
            .select((
                crm_outbox::attendance_id,
                crm_outbox::revision,
                crm_outbox::status,
                crm_outbox::attempts,
                crm_outbox::delivered_at,
                crm_outbox::last_error,
            ))
            .order(crm_outbox::id)
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    let current: HashMap<i64, i32> = days.iter().map(|d| (d.id, d.revision)).collect();
    let mut states = HashMap::new();
    for (id, revision, status, attempts, delivered_at, last_error) in rows {
        if current.get(&id) != Some(&revision) {
            continue;
        }
        let synced = status == super::outbox::OutboxStatus::Delivered;
        states.insert(id, SyncState { synced, attempts, delivered_at, status: Some(status.as_str().to_owned()), last_error });
    }
    Ok(states)
}

async fn count_processed(store: &Store, filter: &ProcessedFilter, key: &str) -> Result<i64, StoreError> {
    if filter.is_empty() {
        return table_estimate(store, "processed_attendance").await;
    }
    if let Some(n) = cached(key) {
        return Ok(n);
    }
    let bounded: Vec<i64> = crate::with_conn!(store, |conn| {
        processed_query!(filter).select(pa::id).limit(EXACT_COUNT_LIMIT + 1).load(conn).await.map_err(StoreError::from)
    })?;
    if (bounded.len() as i64) <= EXACT_COUNT_LIMIT {
        return Ok(bounded.len() as i64);
    }
    cached_count(key, async {
        crate::with_conn!(store, |conn| processed_query!(filter).count().get_result::<i64>(conn).await.map_err(StoreError::from))
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
    if let Ok(mut cache) = count_cache().lock() {
        // A bounded memory: many distinct filters only reset the cache.
        if cache.len() >= 1_000 {
            cache.clear();
        }
        cache.insert(key.to_owned(), (Instant::now(), n));
    }
    Ok(n)
}

/// The size of an unfiltered table without counting a large one: SQLite's highest id (rows are rarely
/// deleted from these tables, so it is close) or PostgreSQL's planner estimate. A table known to be
/// small is counted exactly; a PostgreSQL table not analysed yet is counted once a minute.
async fn table_estimate(store: &Store, table: &'static str) -> Result<i64, StoreError> {
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
        Store::Sqlite(_) | Store::Postgres(_) => Ok(n),
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

macro_rules! raw_query {
    ($filter:expr) => {{
        let filter: &RawFilter = $filter;
        let mut query = raw_punches::table.into_boxed();
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
    }};
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
        raw_query!(filter)
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
    let count = if !more && !rows.is_empty() {
        offset + rows.len() as i64
    } else if rows.is_empty() && offset == 0 {
        0
    } else {
        let key = format!("raw:{filter:?}");
        if *filter == RawFilter::default() {
            table_estimate(store, "raw_punches").await?
        } else if let Some(n) = cached(&key) {
            n
        } else {
            let bounded: Vec<i64> = crate::with_conn!(store, |conn| {
                raw_query!(filter).select(raw_punches::id).limit(EXACT_COUNT_LIMIT + 1).load(conn).await.map_err(StoreError::from)
            })?;
            if (bounded.len() as i64) <= EXACT_COUNT_LIMIT {
                bounded.len() as i64
            } else {
                cached_count(&key, async {
                    crate::with_conn!(store, |conn| raw_query!(filter).count().get_result::<i64>(conn).await.map_err(StoreError::from))
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
