//! The pipeline: the scheduled work that moves punches from devices to processed days.
//!
//! [`scheduler`] decides *when* a job runs (once per tick across every instance sharing the database);
//! each job decides *what* it does.

pub mod scheduler;

pub use scheduler::{Job, JobError, JobFuture, Scheduler};
