//! The pipeline: the scheduled work that moves punches from devices to processed days.
//!
//! [`scheduler`] decides *when* a job runs (once per tick across every instance sharing the database);
//! each job decides *what* it does.

pub mod cleanup;
pub mod push;
pub mod scheduler;

use std::sync::Arc;

pub use scheduler::{Job, JobError, JobFuture, Scheduler};

use crate::config::Config;
use crate::store::Store;

/// The jobs a worker runs. Jobs whose schedules exist but that are not listed here are not run.
pub fn standard_jobs(store: &Store, _config: &Config) -> Vec<Arc<dyn Job>> {
    vec![Arc::new(cleanup::DailyCleanup::new(store.clone()))]
}
