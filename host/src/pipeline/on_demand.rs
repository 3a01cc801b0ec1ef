//! Actions an admin starts through the API (poll, process, sync, "run this job now"): recorded in
//! `job_runs` like the scheduler's runs, run in the background, and followed by their run id.
//!
//! A request never waits for the work: it gets the run's id at once. The same action asked for again
//! while it runs joins the run in progress (same id) instead of starting a second one: checked in
//! this process under a lock, and in the database for runs another instance started.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};

use super::{Job as _, JobError, poll};
use crate::config::Config;
use crate::domain::{DeviceId, EmployeeId};
use crate::store::attendance::{self, DaySelection};
use crate::store::jobs::JobName;
use crate::store::{Store, StoreError, jobs, listing, outbox, pending};

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Download from one device, or from every enabled one.
    Poll(Option<DeviceId>),
    /// Process what is pending, after marking this date range (both or neither) for reprocessing.
    Process(Option<(NaiveDate, NaiveDate)>),
    /// Send to the CRM.
    Sync(SyncOptions),
    /// Run a scheduled job now.
    Job(JobName),
}

/// The options of `sync-to-crm`, for the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Send at most this many deliveries.
    pub limit: Option<u64>,
    /// Requeue dead letters of the selected days first.
    pub retry_failed: bool,
    /// Re-send the selected days as a new revision.
    pub force: bool,
    /// Which days.
    pub selection: DaySelection,
}

impl Action {
    /// The name its run is recorded under; equal names are one action (they never run twice at once).
    pub fn run_name(&self) -> String {
        match self {
            Action::Poll(Some(id)) => format!("poll_device:{}", id.0),
            Action::Poll(None) => JobName::PollDevices.to_string(),
            Action::Process(_) => JobName::ProcessAttendance.to_string(),
            Action::Sync(_) => JobName::SyncToCrm.to_string(),
            Action::Job(name) => name.to_string(),
        }
    }
}

/// A started (or joined) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    /// The `job_runs` id to follow.
    pub run_id: i64,
    /// The same action was already running: this is its run.
    pub joined: bool,
}

/// A run older than this that still says "running" is taken for dead (its instance crashed).
const STALE_RUN: TimeDelta = TimeDelta::hours(2);

fn running() -> &'static tokio::sync::Mutex<HashMap<String, i64>> {
    static RUNNING: OnceLock<tokio::sync::Mutex<HashMap<String, i64>>> = OnceLock::new();
    RUNNING.get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
}

/// Starts `action` in the background (or joins the identical one in progress) and returns its run.
///
/// # Errors
/// When the run cannot be recorded, or the marking of a date range fails.
pub async fn trigger(store: &Store, config: &Config, action: Action) -> Result<Triggered, StoreError> {
    let name = action.run_name();
    if let Action::Process(Some((from, to))) = &action {
        // Marking is idempotent: done even when a run is joined, so the range is processed by it or the next.
        pending::mark_range(store, *from, *to).await?;
    }
    let mut in_progress = running().lock().await;
    if let Some(&run_id) = in_progress.get(&name) {
        return Ok(Triggered { run_id, joined: true });
    }
    let since = (Utc::now() - STALE_RUN).naive_utc();
    if let Some(run_id) = listing::running_run(store, &name, since).await? {
        return Ok(Triggered { run_id, joined: true });
    }
    let instance = format!("api:{}", std::process::id());
    let run_id = jobs::start_run(store, &name, &instance, Utc::now()).await?;
    in_progress.insert(name.clone(), run_id);
    drop(in_progress);
    let (store, config) = (store.clone(), config.clone());
    tokio::spawn(async move {
        let work = tokio::spawn({
            let (store, config, instance) = (store.clone(), config.clone(), instance.clone());
            async move { execute(&store, &config, &instance, action).await }
        });
        let (counts, error) = match work.await {
            Ok(Ok(counts)) => (counts, None),
            Ok(Err(e)) => (serde_json::json!({}), Some(e.to_string())),
            Err(e) if e.is_panic() => (serde_json::json!({}), Some("the action panicked".to_owned())),
            Err(e) => (serde_json::json!({}), Some(e.to_string())),
        };
        if let Err(e) = jobs::finish_run(&store, run_id, Utc::now(), &counts, error.as_deref()).await {
            tracing::warn!(run = run_id, error = %e, "cannot record the outcome of an action started through the API");
        }
        running().lock().await.remove(&name);
    });
    Ok(Triggered { run_id, joined: false })
}

/// Does the work of `action`; its figures go into the run record.
async fn execute(store: &Store, config: &Config, instance: &str, action: Action) -> Result<serde_json::Value, JobError> {
    match action {
        Action::Poll(only) => {
            let options = poll::PollOptions {
                since: None,
                correct_clock_above_s: Some(config.devices.clock_correction_seconds).filter(|s| *s > 0),
                window: config.devices.punch_window(),
            };
            let results = poll::poll_all(store, config.time_zone.0, instance, Duration::from_secs(30), only, options).await?;
            let mut failed = Vec::new();
            let mut stored = 0usize;
            for (device, outcome) in &results {
                match outcome {
                    Ok(report) => stored += report.stored,
                    Err(e) => failed.push(format!("{}: {e}", device.name)),
                }
            }
            if !failed.is_empty() {
                return Err(JobError::Failed(failed.join("; ")));
            }
            Ok(serde_json::json!({ "devices": results.len(), "stored": stored }))
        }
        Action::Process(_) => {
            let registry = super::plugin_registry(config).map_err(|e| JobError::Failed(e.to_string()))?;
            super::process::ProcessAttendance::new(store.clone(), registry, config.clone()).run().await
        }
        Action::Sync(options) => {
            let registry = super::plugin_registry(config).map_err(|e| JobError::Failed(e.to_string()))?;
            let sender = super::crm_sync::configured_sender(store, &registry, config, instance).map_err(|e| JobError::Failed(e.to_string()))?;
            let Some(sender) = sender else {
                return Ok(serde_json::json!({ "skipped": "CRM_API_URL is not set" }));
            };
            let requeued = if options.retry_failed { outbox::requeue_failed(store, &options.selection).await? } else { 0 };
            let resent = if options.force {
                let ids = attendance::select_ids(store, &options.selection).await?;
                attendance::bump_revisions(store, &ids).await?
            } else {
                0
            };
            let report = sender.run_selected(options.limit, &options.selection).await.map_err(|e| JobError::Failed(e.to_string()))?;
            let mut counts = serde_json::to_value(report).unwrap_or_default();
            if let Some(map) = counts.as_object_mut() {
                map.insert("requeued".into(), requeued.into());
                map.insert("resent".into(), resent.into());
            }
            Ok(counts)
        }
        Action::Job(name) => {
            let registry = super::plugin_registry(config).map_err(|e| JobError::Failed(e.to_string()))?;
            let job = super::standard_jobs(store, config, instance, &registry)
                .into_iter()
                .find(|j| j.name() == name)
                .ok_or_else(|| JobError::Failed(format!("no job named {name:?} runs in this bridge")))?;
            job.run().await
        }
    }
}

/// The job named `name`, if it is one this bridge runs on request.
pub fn runnable_job(name: &str) -> Option<JobName> {
    JobName::from_name(name).filter(|job| job.runs_on_request())
}

/// A day selection from the API's filters.
pub fn selection(start: Option<NaiveDate>, end: Option<NaiveDate>, user_id: Option<String>) -> DaySelection {
    DaySelection { start, end, employee: user_id.map(EmployeeId) }
}

/// What a device reports about itself, read live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LiveInfo {
    /// Serial number.
    pub serial_number: String,
    /// Model.
    pub model: String,
    /// Hardware platform.
    pub platform: String,
    /// Firmware version.
    pub firmware: String,
    /// MAC address.
    pub mac: String,
    /// Enrolled users.
    pub users: u32,
    /// Enrolled fingerprints.
    pub fingerprints: u32,
    /// Attendance records held.
    pub records: u32,
    /// Record capacity.
    pub records_capacity: u32,
    /// The device clock, read as site wall time, RFC 3339 with the site's offset.
    pub device_time: String,
    /// Device clock minus the site's wall time, seconds.
    pub clock_drift_s: i64,
}

/// Connects to a pulled device and reads its information and clock; on failure, a sentence an
/// operator can act on.
///
/// # Errors
/// The diagnosis when the device cannot be reached or answers wrongly.
pub async fn device_info(device: &crate::store::devices::Device, site: chrono_tz::Tz, timeout: Duration) -> Result<LiveInfo, String> {
    use crate::device::DeviceError;
    use crate::device::client::{ConnectOptions, ZkClient};
    let Some(host) = device.address.as_deref() else {
        return Err("this device pushes to the bridge (no address to connect to)".into());
    };
    let port = u16::try_from(device.port).map_err(|_| format!("port {} is out of range", device.port))?;
    let address = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let options = ConnectOptions { address, comm_key: u32::try_from(device.comm_key).unwrap_or(0), timeout, udp: false };
    let diagnose = |e: DeviceError| match e {
        DeviceError::Unreachable(_) => format!("unreachable: nothing answers at {address}; check the IP, the port and that the device is on"),
        DeviceError::Timeout(t) => format!("timeout: no answer from {address} within {t:?}; the device may be busy, or the port filtered"),
        DeviceError::WrongCommKey => "wrong comm key: set the key configured on the device (Menu > Comm. > Comm Key)".to_owned(),
        DeviceError::CommKeyRequired => "the device requires a comm key".to_owned(),
        DeviceError::Closed => format!("{address} closed the connection: another program may hold the device, or it restarted"),
        other => format!("protocol error: {other}"),
    };
    let read = async {
        let mut client = ZkClient::connect(options.clone()).await?;
        let info = client.device_info().await?;
        let time = client.time().await?;
        client.disconnect().await;
        Ok::<_, DeviceError>((info, time))
    };
    let (info, time) = tokio::time::timeout(timeout.saturating_mul(3), read).await.map_err(|_| diagnose(DeviceError::Timeout(timeout)))?.map_err(diagnose)?;
    let drift = time - Utc::now().with_timezone(&site).naive_local();
    Ok(LiveInfo {
        serial_number: info.serial_number,
        model: info.device_name,
        platform: info.platform,
        firmware: info.firmware,
        mac: info.mac,
        users: info.sizes.users,
        fingerprints: info.sizes.fingers,
        records: info.sizes.records,
        records_capacity: info.sizes.records_cap,
        device_time: crate::domain::WallTime(time)
            .resolve(site)
            .map_or_else(|_| time.format("%Y-%m-%dT%H:%M:%S").to_string(), |(t, _)| t.with_timezone(&site).to_rfc3339()),
        clock_drift_s: drift.num_seconds(),
    })
}
