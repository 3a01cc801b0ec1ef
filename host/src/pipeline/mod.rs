//! The pipeline: the scheduled work that moves punches from devices to processed days and on to the CRM.
//!
//! [`scheduler`] decides *when* a job runs (once per tick across every instance sharing the database);
//! each job decides *what* it does.

pub mod alerts;
pub mod checked_batch;
pub mod cleanup;
pub mod fixture_gate;
pub mod crm_sync;
pub mod failover;
pub mod import_django;
pub mod live;
pub mod on_demand;
pub mod plugin_config;
pub mod poll;
pub mod preview;
pub mod process;
pub mod push;
pub mod report_emails;
pub mod scheduler;

use std::sync::Arc;

pub use scheduler::{Heartbeat, Job, JobError, JobFuture, Scheduler};

use crate::config::Config;
use crate::store::Store;
use crate::store::jobs::JobName;

/// The jobs a worker runs. Jobs whose schedules exist but that are not listed here are not run.
pub fn standard_jobs(store: &Store, config: &Config, instance: &str, registry: &Arc<crate::plugins::Registry>) -> Vec<Arc<dyn Job>> {
    vec![
        Arc::new(cleanup::DailyCleanup::new(store.clone(), config.devices.raw_punch_retention_days).with_web_settings(&config.web)),
        Arc::new(poll::PollDevices::new(store.clone(), config, instance)),
        Arc::new(process::ProcessAttendance::new(store.clone(), Arc::clone(registry), config.clone())),
        Arc::new(crm_sync::SyncToCrm::new(store.clone(), Arc::clone(registry), config.clone(), instance)),
        Arc::new(crm_sync::RetryFailedSyncs::new(store.clone())),
        Arc::new(alerts::CheckAlerts::new(store.clone(), config.clone())),
        Arc::new(report_emails::SendReports::new(store.clone(), config.clone(), instance)),
    ]
}

/// The plugin registry the configuration describes: limits, the plugins folder, the compile cache,
/// per-plugin settings.
///
/// # Errors
/// When the engine cannot be created.
pub fn plugin_registry(config: &Config) -> Result<Arc<crate::plugins::Registry>, crate::plugins::PluginError> {
    let limits = crate::plugins::Limits { time_limit_ms: config.plugins.time_limit_ms, memory_mb: config.plugins.memory_mb };
    let runtime = crate::plugins::PluginRuntime::new(limits, Some(config.data_dir.join("plugin-cache")))?;
    Ok(Arc::new(crate::plugins::Registry::new(runtime, Some(config.plugins_dir())).with_configs(config.plugins.config.clone())))
}

/// Applies the configured polling interval (`POLLING_INTERVAL_MINUTES`) to the `poll_devices` schedule,
/// and `ALERT_CHECK_SECONDS` to `check_alerts`.
///
/// Run at start-up: `jobs set-interval` changes last until the next restart, the configuration is
/// what a restart comes back to.
///
/// # Errors
/// When the schedule cannot be written.
pub async fn apply_configured_intervals(store: &Store, config: &Config) -> Result<(), crate::store::StoreError> {
    let current = crate::store::jobs::list(store).await?;
    let configured = [
        (JobName::PollDevices.as_str(), config.devices.polling_interval_minutes.saturating_mul(60)),
        (JobName::CheckAlerts.as_str(), config.alerts.check_seconds.max(1)),
    ];
    for (job, seconds) in configured {
        let unchanged = current.iter().any(|s| s.name == job && s.interval_seconds == i32::try_from(seconds).ok());
        if unchanged || !current.iter().any(|s| s.name == job) {
            continue;
        }
        let change = crate::store::jobs::ScheduleChange { interval_seconds: Some(seconds), ..Default::default() };
        crate::store::jobs::update_schedule(store, job, &change).await?;
    }
    Ok(())
}
