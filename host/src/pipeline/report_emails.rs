//! `send_reports`: the scheduled report e-mails ([`crate::reports::email`]).

use crate::config::Config;
use crate::reports::email;
use crate::store::Store;

use super::{Job, JobError, JobFuture};

/// The job.
pub struct SendReports {
    store: Store,
    config: Config,
    instance: String,
}

impl SendReports {
    /// The job for `instance` (recorded on each claimed period).
    pub fn new(store: Store, config: Config, instance: &str) -> Self {
        Self { store, config, instance: instance.to_owned() }
    }
}

impl Job for SendReports {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::SendReports
    }

    fn run(&self) -> JobFuture {
        let (store, config, instance) = (self.store.clone(), self.config.clone(), self.instance.clone());
        Box::pin(async move {
            let now = chrono::Utc::now().with_timezone(&config.time_zone.0).naive_local();
            let report = email::send_due(&store, &config, &instance, now).await.map_err(|e| JobError::Failed(e.to_string()))?;
            let counts = serde_json::to_value(&report).unwrap_or_default();
            if report.failed.is_empty() { Ok(counts) } else { Err(JobError::Failed(report.failed.join("; "))) }
        })
    }
}
