//! `daily_cleanup`: keeps the bookkeeping tables from growing without end.
//!
//! For now it prunes old job-run records; raw punches are only ever pruned once they are processed
//! and synced (that part joins when the CRM sync lands), so nothing unsynced is ever deleted.

use chrono::{TimeDelta, Utc};

use super::{Job, JobFuture};
use crate::store::{Store, jobs};

/// Job-run records older than this are deleted.
pub const JOB_RUN_RETENTION: TimeDelta = TimeDelta::days(90);

/// The `daily_cleanup` job.
pub struct DailyCleanup {
    store: Store,
}

impl DailyCleanup {
    /// A cleanup job over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Job for DailyCleanup {
    fn name(&self) -> &'static str {
        "daily_cleanup"
    }

    fn run(&self) -> JobFuture {
        let store = self.store.clone();
        Box::pin(async move {
            let job_runs = jobs::delete_runs_before(&store, Utc::now() - JOB_RUN_RETENTION).await?;
            Ok(serde_json::json!({ "job_runs_deleted": job_runs }))
        })
    }
}
