//! Processed attendance days (`processed_attendance`): one row per employee, date and shift, with a
//! revision that grows whenever the rules' result changes. A day someone corrected by hand
//! (`manual_override`) is never overwritten by processing.
//!
//! Every new revision enqueues its CRM delivery ([`super::outbox`]) in the same transaction as the day:
//! either both are saved or neither, which is what makes delivery exactly-once from the bridge's side.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::dialect::{self, Dialect, IdRow, Sql};
use super::outbox;
use super::schema::processed_attendance as pa;
use super::{Store, StoreError, now_utc};
use crate::domain::EmployeeId;

/// A processed day as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = pa)]
pub struct ProcessedDay {
    pub id: i64,
    pub user_id: String,
    #[diesel(deserialize_as = super::sql_time::SqlDate)]
    pub work_date: NaiveDate,
    /// `''` for an unscheduled day.
    pub shift_code: String,
    /// A [`crate::domain::AttendanceStatus`] word; read through the enum, so an unknown one fails the read.
    #[diesel(deserialize_as = crate::domain::AttendanceStatus)]
    pub status: String,
    #[diesel(deserialize_as = super::sql_time::SqlNullableTimestamp)]
    pub clock_in_local: Option<NaiveDateTime>,
    #[diesel(deserialize_as = super::sql_time::SqlNullableTimestamp)]
    pub clock_in_utc: Option<NaiveDateTime>,
    #[diesel(deserialize_as = super::sql_time::SqlNullableTimestamp)]
    pub clock_out_local: Option<NaiveDateTime>,
    #[diesel(deserialize_as = super::sql_time::SqlNullableTimestamp)]
    pub clock_out_utc: Option<NaiveDateTime>,
    pub worked_min: Option<i32>,
    pub break_min: Option<i32>,
    pub payable_min: Option<i32>,
    pub scheduled_min: Option<i32>,
    pub overtime_min: Option<i32>,
    pub late_min: Option<i32>,
    pub early_min: Option<i32>,
    pub duplicates: i32,
    /// JSON array of flag names.
    pub flags: String,
    pub is_final: bool,
    pub reason: Option<String>,
    pub revision: i32,
    pub rule_plugin: String,
    pub rule_version: String,
    pub manual_override: bool,
    #[diesel(deserialize_as = super::sql_time::SqlTimestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::sql_time::SqlTimestamp)]
    pub updated_at: NaiveDateTime,
}

/// A day's content as the rules produced it.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, AsChangeset)]
#[diesel(table_name = pa, treat_none_as_null = true)]
pub struct DayContent {
    pub status: String,
    pub clock_in_local: Option<NaiveDateTime>,
    pub clock_in_utc: Option<NaiveDateTime>,
    pub clock_out_local: Option<NaiveDateTime>,
    pub clock_out_utc: Option<NaiveDateTime>,
    pub worked_min: Option<i32>,
    pub break_min: Option<i32>,
    pub payable_min: Option<i32>,
    pub scheduled_min: Option<i32>,
    pub overtime_min: Option<i32>,
    pub late_min: Option<i32>,
    pub early_min: Option<i32>,
    pub duplicates: i32,
    pub flags: String,
    pub is_final: bool,
    pub reason: Option<String>,
    pub rule_plugin: String,
    pub rule_version: String,
}

impl DayContent {
    /// Whether storing this over `day` would change it (a new revision).
    pub fn same_as(&self, day: &ProcessedDay) -> bool {
        self.status == day.status
            && self.clock_in_utc == day.clock_in_utc
            && self.clock_out_utc == day.clock_out_utc
            && self.worked_min == day.worked_min
            && self.break_min == day.break_min
            && self.payable_min == day.payable_min
            && self.scheduled_min == day.scheduled_min
            && self.overtime_min == day.overtime_min
            && self.late_min == day.late_min
            && self.early_min == day.early_min
            && self.duplicates == day.duplicates
            && without_amended(&self.flags) == without_amended(&day.flags)
            && self.is_final == day.is_final
    }
}

/// The flags (a sorted JSON array) without `amended`: the store adds that mark, the rules never
/// produce it, so it must not make the same result look like a change (and a new revision).
fn without_amended(flags: &str) -> std::borrow::Cow<'_, str> {
    if !flags.contains("\"amended\"") {
        return std::borrow::Cow::Borrowed(flags);
    }
    let kept: Vec<String> = serde_json::from_str::<Vec<String>>(flags).unwrap_or_default().into_iter().filter(|f| f != "amended").collect();
    std::borrow::Cow::Owned(serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into()))
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new day (revision 1).
    Inserted,
    /// The content changed; the new revision.
    Updated(i32),
    /// Nothing changed.
    Unchanged,
    /// A hand-corrected day was left as it is.
    ManualKept,
}

/// What [`upsert_days`] did to one day, and the day's flags before (to tell new outliers from known ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayOutcome {
    /// Inserted, a new revision, or left alone.
    pub upserted: Upserted,
    /// The stored day's flags (JSON array) before this upsert; `None` for a new day.
    pub previous_flags: Option<String>,
}

/// Stores a day's result: inserts it, or bumps its revision when the content changed. A day that was
/// final and changes gets the `amended` flag.
///
/// # Errors
/// When the database fails.
pub async fn upsert(store: &Store, employee: &EmployeeId, date: NaiveDate, shift: &str, content: &DayContent) -> Result<Upserted, StoreError> {
    let outcomes = upsert_days(store, employee, &[(date, shift.to_owned(), content.clone())]).await?;
    Ok(outcomes.into_iter().next().map_or(Upserted::Unchanged, |o| o.upserted))
}

/// Stores one employee's processed days (date, shift, content) in one transaction, as [`upsert`]
/// does for one: the stored days of that date range are read in one query, new days are inserted
/// (and their deliveries enqueued) in multi-row statements, changed days get a new revision. A
/// (date, shift) given twice keeps the last content. Outcomes come in the order of `days`.
///
/// Processing a backfill writes hundreds of thousands of days: one transaction per day was what made
/// it slow, not the rules.
///
/// # Errors
/// When the database fails; then nothing of this call is stored.
pub async fn upsert_days(store: &Store, employee: &EmployeeId, days: &[(NaiveDate, String, DayContent)]) -> Result<Vec<DayOutcome>, StoreError> {
    let item = ProcessedEmployee { employee, days, asked: &[], processed_from: NaiveDateTime::MIN };
    Ok(store_processed(store, &[item]).await?.into_iter().next().unwrap_or_default())
}

/// One employee's share of [`store_processed`]: the days the rules produced, and the pending days
/// they answer.
#[derive(Debug, Clone, Copy)]
pub struct ProcessedEmployee<'a> {
    /// Whose days.
    pub employee: &'a EmployeeId,
    /// (date, shift, content), as [`upsert_days`] takes them.
    pub days: &'a [(NaiveDate, String, DayContent)],
    /// The pending days this result answers (cleared as [`super::pending::clear`] clears them).
    pub asked: &'a [NaiveDate],
    /// When processing of these days started: a day marked again since stays pending.
    pub processed_from: NaiveDateTime,
}

/// Stores a batch of employees' results in **one** transaction: each employee's days as
/// [`upsert_days`] stores them, and their pending marks cleared, so a crash keeps either all of
/// the batch (with its deliveries and cleared marks) or none of it (still pending). Each employee
/// appears at most once in a batch: the stored days are read once, before any is written.
///
/// Processing calls this once per batch of employees: one commit per employee wrote the same
/// table and index pages to SQLite's log (or flushed PostgreSQL's) thousands of times per run.
///
/// # Errors
/// When the database fails; then nothing of the batch is stored.
pub async fn store_processed(store: &Store, batch: &[ProcessedEmployee<'_>]) -> Result<Vec<Vec<DayOutcome>>, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<Vec<Vec<DayOutcome>>, StoreError, _>(conn, async |conn| {
            // This run may be filling the table it reads (see `plan_each_time`).
            super::dialect::Dialect::plan_each_time(conn).await?;
            // The stored days of every employee of the batch, in one query per thousand employees
            // (rows outside an employee's own range are filtered below).
            let mut stored_all: Vec<ProcessedDay> = Vec::new();
            for chunk in batch.chunks(1000) {
                let dates = || chunk.iter().flat_map(|item| item.days.iter().map(|d| d.0));
                let (Some(first), Some(last)) = (dates().min(), dates().max()) else { continue };
                let employees: Vec<&str> = chunk.iter().filter(|item| !item.days.is_empty()).map(|item| item.employee.0.as_str()).collect();
                stored_all.extend(
                    pa::table
                        .filter(pa::user_id.eq_any(employees))
                        .filter(pa::work_date.between(first, last))
                        .select(ProcessedDay::as_select())
                        .load::<ProcessedDay>(conn)
                        .await?,
                );
            }
            let mut stored_by_employee: HashMap<&str, Vec<&ProcessedDay>> = HashMap::new();
            for day in &stored_all {
                stored_by_employee.entry(day.user_id.as_str()).or_default().push(day);
            }
            let mut all = Vec::with_capacity(batch.len());
            let mut new_rows = Vec::new();
            let mut cleared = Vec::new();
            for &ProcessedEmployee { employee, days, asked, processed_from } in batch {
                // An employee whose result holds no day still has its pending marks cleared.
                let outcomes = 'days: {
                    let (Some(first), Some(last)) = (days.iter().map(|d| d.0).min(), days.iter().map(|d| d.0).max()) else {
                        break 'days Vec::new();
                    };
                    let none = Vec::new();
                    let stored_days = stored_by_employee.get(employee.0.as_str()).unwrap_or(&none);
                    let stored: HashMap<(NaiveDate, &str), &ProcessedDay> =
                        stored_days.iter().filter(|d| d.work_date >= first && d.work_date <= last).map(|d| ((d.work_date, d.shift_code.as_str()), *d)).collect();
                    // The last occurrence of each (date, shift) is the one that counts.
                    let last_of: HashMap<(NaiveDate, &str), usize> = days.iter().enumerate().map(|(i, d)| ((d.0, d.1.as_str()), i)).collect();
                    let mut outcomes = Vec::with_capacity(days.len());
                    let mut new_days = Vec::new();
                    for (i, (date, shift, content)) in days.iter().enumerate() {
                        let key = (*date, shift.as_str());
                        let previous = stored.get(&key).copied();
                        let previous_flags = previous.map(|d| d.flags.clone());
                        let upserted = match previous {
                            _ if last_of.get(&key) != Some(&i) => Upserted::Unchanged,
                            None => {
                                new_days.push(i);
                                Upserted::Inserted
                            }
                            Some(day) if day.manual_override => Upserted::ManualKept,
                            // A day imported from the Django bridge, recomputed on request (`import-django
                            // --reprocess-synced`), with the times the CRM already has: the rules' content
                            // replaces the original's without a new revision, the CRM is told of no change.
                            // A day the original changed after delivering it is sent again regardless.
                            Some(day)
                                if day.rule_plugin == super::django_import::IMPORTED_RULES
                                    && !day.flags.contains("\"changed_after_sync\"")
                                    && day.clock_in_utc == content.clock_in_utc
                                    && day.clock_out_utc == content.clock_out_utc =>
                            {
                                diesel::update(pa::table.find(day.id)).set((content, pa::updated_at.eq(now))).execute(conn).await?;
                                Upserted::Unchanged
                            }
                            Some(day) if content.same_as(day) => Upserted::Unchanged,
                            Some(day) => {
                                let mut content = content.clone();
                                // Once amended, always amended: the CRM was told a final day changed.
                                if day.is_final || day.flags.contains("\"amended\"") {
                                    let mut flags: Vec<String> = serde_json::from_str(&content.flags).unwrap_or_default();
                                    if !flags.iter().any(|f| f == "amended") {
                                        flags.push("amended".into());
                                        flags.sort();
                                    }
                                    content.flags = serde_json::to_string(&flags).unwrap_or_else(|_| "[]".into());
                                }
                                let revision = day.revision + 1;
                                diesel::update(pa::table.find(day.id))
                                    .set((&content, pa::revision.eq(revision), pa::updated_at.eq(now)))
                                    .execute(conn)
                                    .await?;
                                outbox::enqueue(conn, day.id, revision, now).await?;
                                Upserted::Updated(revision)
                            }
                        };
                        outcomes.push(DayOutcome { upserted, previous_flags });
                    }
                    new_rows.extend(new_days.iter().map(|&i| (employee, &days[i].0, &days[i].1, &days[i].2)));
                    outcomes
                };
                all.push(outcomes);
                if !asked.is_empty() {
                    cleared.push((employee, asked, processed_from));
                }
            }
            // New days of the whole batch in multi-row statements, then their first deliveries.
            let ids = insert_new_days(conn, &new_rows, now).await?;
            outbox::enqueue_first(conn, &ids, now).await?;
            super::pending::clear_many_in(conn, &cleared).await?;
            Ok(all)
        })
        .await
    })
}

/// Inserts new days (revision 1), each with its employee, inside the caller's transaction, in
/// multi-row statements; returns their ids (in any order).
async fn insert_new_days<C: Dialect>(
    conn: &mut C,
    days: &[(&EmployeeId, &NaiveDate, &String, &DayContent)],
    now: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    const COLUMNS: usize = 24;
    let mut ids = Vec::with_capacity(days.len());
    for chunk in dialect::chunks::<C, _>(days, COLUMNS) {
        let mut sql = Sql::<C>::new(
            "INSERT INTO processed_attendance (user_id, work_date, shift_code, revision, created_at, updated_at, status, \
             clock_in_local, clock_in_utc, clock_out_local, clock_out_utc, worked_min, break_min, payable_min, scheduled_min, \
             overtime_min, late_min, early_min, duplicates, flags, is_final, reason, rule_plugin, rule_version) ",
        );
        sql.rows(chunk, |&(employee, date, shift, c)| {
            vec![
                employee.0.as_str().into(),
                (*date).into(),
                shift.as_str().into(),
                1_i32.into(),
                now.into(),
                now.into(),
                c.status.as_str().into(),
                c.clock_in_local.into(),
                c.clock_in_utc.into(),
                c.clock_out_local.into(),
                c.clock_out_utc.into(),
                c.worked_min.into(),
                c.break_min.into(),
                c.payable_min.into(),
                c.scheduled_min.into(),
                c.overtime_min.into(),
                c.late_min.into(),
                c.early_min.into(),
                c.duplicates.into(),
                c.flags.as_str().into(),
                c.is_final.into(),
                c.reason.clone().into(),
                c.rule_plugin.as_str().into(),
                c.rule_version.as_str().into(),
            ]
        });
        sql.push(" RETURNING id");
        ids.extend(sql.load::<IdRow>(conn).await?.into_iter().map(|r| r.id));
    }
    Ok(ids)
}

/// An employee's days, by date.
///
/// # Errors
/// When the query fails.
pub async fn for_employee(store: &Store, employee: &EmployeeId) -> Result<Vec<ProcessedDay>, StoreError> {
    crate::with_conn!(store, |conn| {
        pa::table
            .filter(pa::user_id.eq(&employee.0))
            .order((pa::work_date, pa::shift_code))
            .select(ProcessedDay::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// `sync-to-crm --force`: gives each selected day a new revision with unchanged content, so the CRM
/// receives it again under a new idempotency key. Hand-corrected days are included (the operator asked).
/// Returns how many days were re-enqueued.
///
/// # Errors
/// When the database fails.
pub async fn bump_revisions(store: &Store, ids: &[i64]) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let mut bumped = 0;
            for &id in ids {
                let revision: Option<i32> = diesel::update(pa::table.find(id))
                    .set((pa::revision.eq(pa::revision + 1), pa::updated_at.eq(now)))
                    .returning(pa::revision)
                    .get_result(conn)
                    .await
                    .optional()?;
                if let Some(revision) = revision {
                    outbox::enqueue(conn, id, revision, now).await?;
                    bumped += 1;
                }
            }
            Ok(bumped)
        })
        .await
    })
}

/// The most recently written day (`test-crm`'s dry run shows its payload).
///
/// # Errors
/// When the query fails.
pub async fn latest(store: &Store) -> Result<Option<ProcessedDay>, StoreError> {
    crate::with_conn!(store, |conn| {
        pa::table.order((pa::updated_at.desc(), pa::id.desc())).select(ProcessedDay::as_select()).first(conn).await.optional().map_err(StoreError::from)
    })
}

/// Processed days by id (missing ids are left out).
///
/// # Errors
/// When the query fails.
pub async fn get_many(store: &Store, ids: &[i64]) -> Result<Vec<ProcessedDay>, StoreError> {
    crate::with_conn!(store, |conn| pa::table.filter(pa::id.eq_any(ids)).select(ProcessedDay::as_select()).load(conn).await.map_err(StoreError::from))
}

/// Which days an operator means (`--start-date`, `--end-date`, `--user-id`); the default is every day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaySelection {
    /// First work date, inclusive.
    pub start: Option<NaiveDate>,
    /// Last work date, inclusive.
    pub end: Option<NaiveDate>,
    /// One employee.
    pub employee: Option<EmployeeId>,
}

impl DaySelection {
    /// Whether it selects every day.
    pub fn is_all(&self) -> bool {
        self.start.is_none() && self.end.is_none() && self.employee.is_none()
    }

    /// Appends ` AND {column} IN (the selected days' ids)`, or nothing when every day is selected.
    pub(crate) fn push_filter<C: Dialect>(&self, sql: &mut Sql<C>, column: &str) {
        if self.is_all() {
            return;
        }
        sql.push(&format!(" AND {column} IN (SELECT id FROM processed_attendance WHERE 1 = 1"));
        self.push_conditions(sql);
        sql.push(")");
    }

    /// Appends the conditions on `processed_attendance` (each ` AND …`).
    fn push_conditions<C: Dialect>(&self, sql: &mut Sql<C>) {
        if let Some(start) = self.start {
            sql.push(" AND work_date >= ").bind(start);
        }
        if let Some(end) = self.end {
            sql.push(" AND work_date <= ").bind(end);
        }
        if let Some(employee) = &self.employee {
            sql.push(" AND user_id = ").bind(employee.0.as_str());
        }
    }
}

/// The ids of the selected days, in id order.
///
/// # Errors
/// When the query fails.
pub async fn select_ids(store: &Store, selection: &DaySelection) -> Result<Vec<i64>, StoreError> {
    crate::with_conn!(store, |conn| Ok(select_ids_in(conn, selection).await?))
}

async fn select_ids_in<C: Dialect>(conn: &mut C, selection: &DaySelection) -> QueryResult<Vec<i64>> {
    let mut sql = Sql::<C>::new("SELECT id FROM processed_attendance WHERE 1 = 1");
    selection.push_conditions(&mut sql);
    sql.push(" ORDER BY id");
    Ok(sql.load::<IdRow>(conn).await?.into_iter().map(|r| r.id).collect())
}
