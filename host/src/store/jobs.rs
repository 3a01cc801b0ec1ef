//! Job schedules (`job_schedules`) and their run history (`job_runs`).
//!
//! A tick is claimed with one conditional `UPDATE`: it succeeds only when the job is due, not paused and
//! not leased to another instance, and it moves `next_run_at` forward in the same statement. Both
//! backends execute that atomically (PostgreSQL re-checks the condition after a concurrent update
//! commits; SQLite serialises writers), so a tick runs once however many instances share the database.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::closed_set::{self, ClosedSet};
use super::lease::{self, Reentry};
use super::schema::{job_runs, job_schedules};
use super::{Store, StoreError, now_utc};

/// A job's schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = job_schedules)]
pub struct JobSchedule {
    /// Job name (`poll_devices`, …).
    pub name: String,
    /// Run every this many seconds…
    pub interval_seconds: Option<i32>,
    /// …or once a day at this `HH:MM` site time.
    pub daily_at: Option<String>,
    /// Paused jobs are skipped until resumed.
    pub paused: bool,
    /// When the next tick is due, UTC; `None` = now.
    pub next_run_at: Option<NaiveDateTime>,
    /// The instance running it now, if any.
    pub lease_owner: Option<String>,
    /// Until when that instance holds it, UTC.
    pub lease_until: Option<NaiveDateTime>,
    /// Last change, UTC.
    pub updated_at: NaiveDateTime,
}

/// One recorded run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = job_runs)]
pub struct JobRun {
    /// Row id.
    pub id: i64,
    /// Job name.
    pub job_name: String,
    /// The instance that ran it.
    pub instance: String,
    /// Start, UTC.
    pub started_at: NaiveDateTime,
    /// End, UTC; `None` while running (or if the instance died).
    pub finished_at: Option<NaiveDateTime>,
    /// Running, ok or failed.
    pub outcome: JobOutcome,
    /// JSON object of figures (`{"devices": 3, "punches": 120}`).
    pub counts: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// The jobs the bridge schedules (the `jobs` table holds one schedule per name). Runs of other
/// actions (`poll_device:3`, reports) are recorded under names of their own, so a run's name stays
/// text; a schedule's is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobName {
    /// Downloads new punches from the polled devices.
    PollDevices,
    /// Turns pending punches into attendance days.
    ProcessAttendance,
    /// Sends new and changed days to the CRM.
    SyncToCrm,
    /// Puts dead letters back in the queue.
    RetryFailedSyncs,
    /// Removes what is past its retention.
    DailyCleanup,
    /// Checks the alert conditions.
    CheckAlerts,
    /// E-mails the subscribed reports.
    SendReports,
}

impl ClosedSet for JobName {
    const ALL: &'static [(Self, &'static str)] = &[
        (JobName::PollDevices, JobName::PollDevices.as_str()),
        (JobName::ProcessAttendance, JobName::ProcessAttendance.as_str()),
        (JobName::SyncToCrm, JobName::SyncToCrm.as_str()),
        (JobName::RetryFailedSyncs, JobName::RetryFailedSyncs.as_str()),
        (JobName::DailyCleanup, JobName::DailyCleanup.as_str()),
        (JobName::CheckAlerts, JobName::CheckAlerts.as_str()),
        (JobName::SendReports, JobName::SendReports.as_str()),
    ];
    const WHAT: &'static str = "job";
}

impl JobName {
    /// The stored name (a `const fn`, so constants such as the alerts' can name a job).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobName::PollDevices => "poll_devices",
            JobName::ProcessAttendance => "process_attendance",
            JobName::SyncToCrm => "sync_to_crm",
            JobName::RetryFailedSyncs => "retry_failed_syncs",
            JobName::DailyCleanup => "daily_cleanup",
            JobName::CheckAlerts => "check_alerts",
            JobName::SendReports => "send_reports",
        }
    }

    /// The job of a stored or typed name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::parse(name)
    }

    /// Whether an admin may start it by hand (page, API, CLI): the alert check and the report
    /// mails run on their schedule only.
    pub fn runs_on_request(self) -> bool {
        !matches!(self, JobName::CheckAlerts | JobName::SendReports)
    }
}

impl std::fmt::Display for JobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a job's run ended (stored as `running`, `ok` or `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum JobOutcome {
    /// Started and not finished (or its instance died).
    Running,
    /// Finished without error.
    Ok,
    /// Finished with an error.
    Failed,
}

impl ClosedSet for JobOutcome {
    const ALL: &'static [(Self, &'static str)] = &[(JobOutcome::Running, "running"), (JobOutcome::Ok, "ok"), (JobOutcome::Failed, "failed")];
    const WHAT: &'static str = "job outcome";
}

impl JobOutcome {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl std::fmt::Display for JobOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets a test or a report compare with the stored word (`run.outcome == "ok"`).
impl PartialEq<&str> for JobOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for JobOutcome
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for JobOutcome
where
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
}

/// Every schedule, by name.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store) -> Result<Vec<JobSchedule>, StoreError> {
    crate::with_conn!(store, |conn| {
        job_schedules::table.order(job_schedules::name).select(JobSchedule::as_select()).load(conn).await.map_err(StoreError::from)
    })
}

/// Claims the due tick of `job` for `instance`: returns whether this instance won it.
///
/// `next_run_at` becomes `next`, and the lease lasts until `lease_until`; a crashed instance's lease
/// simply runs out.
///
/// # Errors
/// When the query fails.
pub async fn claim_tick(
    store: &Store,
    job: &str,
    instance: &str,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = now.naive_utc();
    let claimed = crate::with_conn!(store, |conn| {
        Ok::<_, StoreError>(lease::JOB
            .claim(
                conn,
                instance,
                now,
                lease_until.naive_utc(),
                Reentry::FreeOnly,
                |set| {
                    set.push(", next_run_at = ").bind(next.naive_utc());
                },
                |scope| {
                    scope.push(" AND name = ").bind(job).push(" AND paused = ").bind(false);
                    scope.push(" AND (next_run_at IS NULL OR next_run_at <= ").bind(now).push(")");
                },
            )
            .await?)
    })?;
    Ok(claimed == 1)
}

/// Extends `instance`'s lease on `job` while a long run is still going; false if the lease was lost.
///
/// # Errors
/// When the query fails.
pub async fn renew_lease(store: &Store, job: &str, instance: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
    let renewed = crate::with_conn!(store, |conn| {
        Ok::<_, StoreError>(lease::JOB
            .renew(conn, instance, until.naive_utc(), |scope| {
                scope.push(" AND name = ").bind(job);
            })
            .await?)
    })?;
    Ok(renewed == 1)
}

/// Gives the lease back after a run (only if `instance` still holds it).
///
/// # Errors
/// When the query fails.
pub async fn release(store: &Store, job: &str, instance: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        lease::JOB
            .release(conn, instance, |scope| {
                scope.push(" AND name = ").bind(job);
            })
            .await?;
        Ok(())
    })
}

/// Changes a schedule: a new interval (clears any daily time), pause or resume, or "run now".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleChange {
    /// Run every this many seconds from now on.
    pub interval_seconds: Option<u32>,
    /// Pause (`Some(true)`) or resume (`Some(false)`).
    pub paused: Option<bool>,
    /// Make the next tick due immediately.
    pub run_now: bool,
}

/// Applies `change` to `job`; the scheduler picks it up at its next look, no restart needed.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown job.
pub async fn update_schedule(store: &Store, job: &str, change: &ScheduleChange) -> Result<(), StoreError> {
    let now = now_utc();
    let updated = crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let target = job_schedules::table.filter(job_schedules::name.eq(job));
            let mut updated = diesel::update(target).set(job_schedules::updated_at.eq(now)).execute(conn).await?;
            if let Some(seconds) = change.interval_seconds {
                let seconds = i32::try_from(seconds).map_err(|_| StoreError::Invalid("interval too long".into()))?;
                updated = diesel::update(target)
                    .set((job_schedules::interval_seconds.eq(Some(seconds)), job_schedules::daily_at.eq(None::<String>)))
                    .execute(conn)
                    .await?;
                // A shorter interval brings the next tick closer; a job never run stays due now.
                let soonest = now + TimeDelta::seconds(i64::from(seconds));
                diesel::update(target.filter(job_schedules::next_run_at.gt(soonest)))
                    .set(job_schedules::next_run_at.eq(soonest))
                    .execute(conn)
                    .await?;
            }
            if let Some(paused) = change.paused {
                updated = diesel::update(target).set(job_schedules::paused.eq(paused)).execute(conn).await?;
            }
            if change.run_now {
                updated = diesel::update(target).set(job_schedules::next_run_at.eq(now)).execute(conn).await?;
            }
            Ok(updated)
        })
        .await
    })?;
    if updated == 0 { Err(StoreError::NotFound(format!("job {job:?}"))) } else { Ok(()) }
}

/// Records that `instance` started `job`; returns the run's id.
///
/// # Errors
/// When the query fails.
pub async fn start_run(store: &Store, job: &str, instance: &str, at: DateTime<Utc>) -> Result<i64, StoreError> {
    let values = (
        job_runs::job_name.eq(job),
        job_runs::instance.eq(instance),
        job_runs::started_at.eq(at.naive_utc()),
        job_runs::outcome.eq(JobOutcome::Running),
    );
    crate::with_conn!(store, |conn| {
        diesel::insert_into(job_runs::table).values(values).returning(job_runs::id).get_result(conn).await.map_err(StoreError::from)
    })
}

/// Records how a run ended: `counts` (a JSON object) on success, `error` on failure.
///
/// # Errors
/// When the query fails.
pub async fn finish_run(
    store: &Store,
    run: i64,
    at: DateTime<Utc>,
    counts: &serde_json::Value,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let outcome = if error.is_some() { JobOutcome::Failed } else { JobOutcome::Ok };
    crate::with_conn!(store, |conn| {
        diesel::update(job_runs::table.find(run))
            .set((
                job_runs::finished_at.eq(at.naive_utc()),
                job_runs::outcome.eq(outcome),
                job_runs::counts.eq(counts.to_string()),
                job_runs::error.eq(error),
            ))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// The latest runs, newest first, optionally of one job.
///
/// # Errors
/// When the query fails.
pub async fn recent_runs(store: &Store, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>, StoreError> {
    crate::with_conn!(store, |conn| {
        let mut query = job_runs::table.select(JobRun::as_select()).order(job_runs::id.desc()).limit(limit).into_boxed();
        if let Some(job) = job {
            query = query.filter(job_runs::job_name.eq(job));
        }
        query.load(conn).await.map_err(StoreError::from)
    })
}

/// Deletes finished run records that started before `before`; returns how many went.
///
/// # Errors
/// When the query fails.
pub async fn delete_runs_before(store: &Store, before: DateTime<Utc>) -> Result<usize, StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::delete(job_runs::table.filter(job_runs::started_at.lt(before.naive_utc())).filter(job_runs::finished_at.is_not_null()))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })
}
