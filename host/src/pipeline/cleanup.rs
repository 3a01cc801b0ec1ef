//! `daily_cleanup`: keeps the tables from growing without end. It prunes old job-run records, and raw
//! punches older than `RAW_PUNCH_RETENTION_DAYS` once their days are processed and acknowledged by the
//! CRM ([`punches::delete_synced_before`]), so nothing unsynced is ever deleted. It also deletes
//! expired sign-in sessions and failed sign-ins that no longer count (sign-ins purge them too).

use chrono::{TimeDelta, Utc};

use super::{Job, JobFuture};
use crate::store::{Store, jobs, login_failures, punches, sessions};

/// Job-run records older than this are deleted.
pub const JOB_RUN_RETENTION: TimeDelta = TimeDelta::days(90);

/// The `daily_cleanup` job.
pub struct DailyCleanup {
    store: Store,
    raw_punch_retention_days: u32,
    session_idle: TimeDelta,
    login_window: TimeDelta,
}

impl DailyCleanup {
    /// A cleanup job over `store`, keeping raw punches `raw_punch_retention_days` days (0: forever),
    /// with the default session idle time and sign-in failure window.
    pub fn new(store: Store, raw_punch_retention_days: u32) -> Self {
        let web = crate::config::WebSettings::default();
        Self { store, raw_punch_retention_days, session_idle: minutes(web.session_idle_minutes), login_window: minutes(web.login_window_minutes) }
    }

    /// Uses the configured session idle time and sign-in failure window.
    pub fn with_web_settings(mut self, web: &crate::config::WebSettings) -> Self {
        self.session_idle = minutes(web.session_idle_minutes);
        self.login_window = minutes(web.login_window_minutes);
        self
    }
}

fn minutes(m: u32) -> TimeDelta {
    TimeDelta::minutes(i64::from(m))
}

impl Job for DailyCleanup {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::DailyCleanup
    }

    fn run(&self) -> JobFuture {
        let store = self.store.clone();
        let retention = self.raw_punch_retention_days;
        let (idle, window) = (self.session_idle, self.login_window);
        Box::pin(async move {
            let sessions = sessions::purge_expired(&store, idle).await?;
            let failures = login_failures::purge_older_than(&store, window).await?;
            let job_runs = jobs::delete_runs_before(&store, Utc::now() - JOB_RUN_RETENTION).await?;
            let punches = match retention {
                0 => 0,
                days => punches::delete_synced_before(&store, Utc::now() - TimeDelta::days(i64::from(days))).await?,
            };
            Ok(serde_json::json!({
                "job_runs_deleted": job_runs, "raw_punches_deleted": punches,
                "sessions_deleted": sessions, "login_failures_deleted": failures,
            }))
        })
    }
}
