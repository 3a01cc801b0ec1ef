//! Runs registered jobs on the schedules stored in `job_schedules`.
//!
//! Every few seconds each instance looks at the schedules and tries to claim the due ticks
//! ([`crate::store::jobs::claim_tick`]); only one instance wins a tick. The winner records the run in
//! `job_runs`, renews its lease while the job works, and releases it at the end. Schedules are read
//! on every look, so an interval changed or a job paused from the CLI applies without a restart.
//! A job that fails or panics is recorded as failed and simply runs again at its next tick: it never
//! takes the scheduler down.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use crate::domain::WallTime;
use crate::store::jobs::{self, JobSchedule};
use crate::store::{Store, StoreError};

/// What a job run returns: figures worth recording (`{"devices": 3}`) or why it failed.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, JobError>> + Send>>;

/// A job failure, recorded in `job_runs.error`.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else the job reports.
    #[error("{0}")]
    Failed(String),
}

/// A unit of scheduled work. Implementations hold what they need (store, config) and are cheap to call.
pub trait Job: Send + Sync {
    /// The job, whose name its schedule is stored under.
    fn name(&self) -> jobs::JobName;
    /// Runs the job once.
    fn run(&self) -> JobFuture;
}

/// How long a claimed tick stays leased without renewal; a crashed instance's work resumes after it.
const LEASE: TimeDelta = TimeDelta::seconds(120);
/// How often a running job's lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(30);

/// When the scheduler loop last looked at the schedules, shared with `/readyz` so a process whose
/// scheduler task died (or hangs) stops reporting ready.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<std::sync::atomic::AtomicI64>);

impl Heartbeat {
    fn beat(&self) {
        self.0.store(Utc::now().timestamp_millis(), std::sync::atomic::Ordering::Relaxed);
    }

    /// How long ago the loop last looked; `None` before its first look.
    pub fn age(&self) -> Option<Duration> {
        let at = self.0.load(std::sync::atomic::Ordering::Relaxed);
        (at != 0).then(|| Duration::from_millis(u64::try_from(Utc::now().timestamp_millis() - at).unwrap_or(0)))
    }
}

/// Runs jobs for one instance.
pub struct Scheduler {
    heartbeat: Heartbeat,
    store: Store,
    instance: String,
    site_tz: chrono_tz::Tz,
    jobs: BTreeMap<&'static str, Arc<dyn Job>>,
    look_every: Duration,
}

impl Scheduler {
    /// A scheduler for `instance` (a name unique among the instances sharing the database).
    pub fn new(store: Store, instance: impl Into<String>, site_tz: chrono_tz::Tz) -> Self {
        Self {
            heartbeat: Heartbeat::default(),
            store,
            instance: instance.into(),
            site_tz,
            jobs: BTreeMap::new(),
            look_every: Duration::from_secs(5),
        }
    }

    /// Registers `job`; jobs without a stored schedule are never run.
    #[must_use]
    pub fn with_job(mut self, job: Arc<dyn Job>) -> Self {
        self.jobs.insert(job.name().as_str(), job);
        self
    }

    /// How often the schedules are read (tests use a short period).
    #[must_use]
    pub fn look_every(mut self, period: Duration) -> Self {
        self.look_every = period;
        self
    }

    /// The loop's heartbeat, for the readiness probe.
    pub fn heartbeat(&self) -> Heartbeat {
        self.heartbeat.clone()
    }

    /// The longest pause between two looks at the schedules of a healthy loop.
    pub fn look_every_period(&self) -> Duration {
        self.look_every
    }

    /// Runs until `shutdown` is cancelled, then waits for jobs in progress to finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut running = tokio::task::JoinSet::new();
        loop {
            this.heartbeat.beat();
            match this.claim_due().await {
                Ok(claimed) => {
                    for job in claimed {
                        let this = Arc::clone(&this);
                        running.spawn(async move { this.run_claimed(job).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduler cannot read job schedules; retrying"),
            }
            while running.try_join_next().is_some() {}
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(this.look_every) => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    /// Claims every due tick this instance can run; returns the jobs won.
    ///
    /// # Errors
    /// When the schedules cannot be read.
    pub async fn claim_due(&self) -> Result<Vec<Arc<dyn Job>>, StoreError> {
        let now = Utc::now();
        let mut claimed = Vec::new();
        for schedule in jobs::list(&self.store).await? {
            let Some(job) = self.jobs.get(schedule.name.as_str()) else { continue };
            if schedule.paused || schedule.next_run_at.is_some_and(|at| at > now.naive_utc()) {
                continue;
            }
            let Some(next) = next_run(&schedule, now, self.site_tz) else {
                tracing::warn!(job = %schedule.name, "schedule has neither an interval nor a daily time; skipped");
                continue;
            };
            if jobs::claim_tick(&self.store, &schedule.name, &self.instance, now, next, now + LEASE).await? {
                claimed.push(Arc::clone(job));
            }
        }
        Ok(claimed)
    }

    /// Runs a claimed job: records the run, keeps the lease alive, records the outcome, releases.
    async fn run_claimed(&self, job: Arc<dyn Job>) {
        let name = job.name().as_str();
        let run_id = match jobs::start_run(&self.store, name, &self.instance, Utc::now()).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(job = name, error = %e, "cannot record the job's start; running it anyway");
                None
            }
        };
        let started = std::time::Instant::now();
        let mut work = tokio::spawn(job.run());
        let mut renew = tokio::time::interval(RENEW_EVERY);
        renew.tick().await;
        let result = loop {
            tokio::select! {
                joined = &mut work => break joined,
                _ = renew.tick() => {
                    if let Err(e) = jobs::renew_lease(&self.store, name, &self.instance, Utc::now() + LEASE).await {
                        tracing::warn!(job = name, error = %e, "cannot renew the job's lease");
                    }
                }
            }
        };
        let (counts, error) = match result {
            Ok(Ok(counts)) => (counts, None),
            Ok(Err(e)) => (serde_json::json!({}), Some(e.to_string())),
            Err(join) if join.is_panic() => (serde_json::json!({}), Some("the job panicked".to_owned())),
            Err(join) => (serde_json::json!({}), Some(join.to_string())),
        };
        crate::metrics::JOB_SECONDS.observe(&[name], started.elapsed().as_secs_f64());
        if error.is_some() {
            crate::metrics::JOB_FAILURES.inc(&[name]);
        }
        match &error {
            None => tracing::info!(job = name, %counts, "job finished"),
            Some(e) => tracing::warn!(job = name, error = %e, "job failed; it runs again at its next tick"),
        }
        if let Some(run_id) = run_id {
            if let Err(e) = jobs::finish_run(&self.store, run_id, Utc::now(), &counts, error.as_deref()).await {
                tracing::warn!(job = name, error = %e, "cannot record the job's outcome");
            }
        }
        if let Err(e) = jobs::release(&self.store, name, &self.instance).await {
            tracing::warn!(job = name, error = %e, "cannot release the job's lease; it expires by itself");
        }
    }
}

/// When the tick after the one starting at `now` is due.
fn next_run(schedule: &JobSchedule, now: DateTime<Utc>, site_tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    if let Some(seconds) = schedule.interval_seconds.filter(|s| *s > 0) {
        return Some(now + TimeDelta::seconds(i64::from(seconds)));
    }
    let at = NaiveTime::parse_from_str(schedule.daily_at.as_deref()?, "%H:%M").ok()?;
    next_daily(at, now, site_tz)
}

/// The first instant after `now` whose wall time in `tz` is `at` (DST days resolved as everywhere else).
fn next_daily(at: NaiveTime, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    (0..=2)
        .filter_map(|days| today.checked_add_signed(TimeDelta::days(days)))
        .filter_map(|date| WallTime(date.and_time(at)).resolve(tz).ok().map(|(instant, _)| instant))
        .find(|candidate| *candidate > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn daily_jobs_run_at_site_time() {
        let at = NaiveTime::from_hms_opt(2, 0, 0).expect("time");
        let nairobi = chrono_tz::Africa::Nairobi; // UTC+3
        let now = NaiveDate::from_ymd_opt(2025, 6, 2).and_then(|d| d.and_hms_opt(12, 0, 0)).expect("time").and_utc();
        let next = next_daily(at, now, nairobi).expect("next");
        assert_eq!(next.to_rfc3339(), "2025-06-02T23:00:00+00:00");
        let just_before = NaiveDate::from_ymd_opt(2025, 6, 2).and_then(|d| d.and_hms_opt(22, 59, 0)).expect("t").and_utc();
        assert_eq!(next_daily(at, just_before, nairobi), Some(next));
    }
}
