//! `daily_cleanup`: keeps the tables from growing without end. It prunes old job-run records, and raw
//! punches older than `RAW_PUNCH_RETENTION_DAYS` once their days are processed and acknowledged by the
//! CRM ([`punches::delete_synced_before`]), so nothing unsynced is ever deleted.

use chrono::{TimeDelta, Utc};

use super::{Job, JobFuture};
use crate::store::{Store, jobs, punches};

/// Job-run records older than this are deleted.
pub const JOB_RUN_RETENTION: TimeDelta = TimeDelta::days(90);

/// The `daily_cleanup` job.
pub struct DailyCleanup {
    store: Store,
    raw_punch_retention_days: u32,
}

impl DailyCleanup {
    /// A cleanup job over `store`, keeping raw punches `raw_punch_retention_days` days (0: forever).
    pub fn new(store: Store, raw_punch_retention_days: u32) -> Self {
        Self { store, raw_punch_retention_days }
    }
}

impl Job for DailyCleanup {
    fn name(&self) -> &'static str {
        "daily_cleanup"
    }

    fn run(&self) -> JobFuture {
        let store = self.store.clone();
        let retention = self.raw_punch_retention_days;
        Box::pin(async move {
            let job_runs = jobs::delete_runs_before(&store, Utc::now() - JOB_RUN_RETENTION).await?;
            let punches = match retention {
                0 => 0,
                days => punches::delete_synced_before(&store, Utc::now() - TimeDelta::days(i64::from(days))).await?,
            };
            Ok(serde_json::json!({ "job_runs_deleted": job_runs, "raw_punches_deleted": punches }))
        })
    }
}
