//! `poll_devices`: download every enabled pulled device and store what is new.
//!
//! A device is polled by one instance at a time (a lease on its row). The download is all or nothing
//! (the client refuses partial data), and the punches are stored in one transaction that also marks
//! their days for processing, so a device that drops mid-download stores nothing and the next poll
//! picks everything up. Wall times are kept as written and resolved to instants in the device's zone
//! (or the site's), with the DST rule of [`crate::domain::WallTime::resolve`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt as _;

use super::{Job, JobError, JobFuture};
use crate::config::Config;
use crate::device::DeviceError;
use crate::device::client::{ConnectOptions, ZkClient};
use crate::domain::DeviceId;
use crate::store::devices::{self, Device, Transport};
use crate::store::punches::{self, NewPunch};
use crate::store::{Store, StoreError, employees};

/// How long a poll lease lasts; a crashed poller's device is free again after it.
const POLL_LEASE: TimeDelta = TimeDelta::minutes(10);
/// Devices polled at once.
const PARALLEL_POLLS: usize = 4;

/// Why one device's poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The device could not be read.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The device row cannot be used (no address, bad port).
    #[error("{0}")]
    Config(String),
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// Records the device holds.
    pub downloaded: usize,
    /// Records new to the bridge.
    pub stored: usize,
    /// People seen for the first time.
    pub new_employees: usize,
    /// Device clock minus bridge clock (site wall time), seconds.
    pub clock_offset_s: i64,
    /// False when another instance was polling the device.
    pub polled: bool,
}

/// Limits on what a poll stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollFilter {
    /// Keep only punches at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

/// Polls one device under its lease.
///
/// # Errors
/// [`PollError`]; the device's last error is recorded too.
pub async fn poll_device(
    store: &Store,
    device: &Device,
    site_tz: chrono_tz::Tz,
    instance: &str,
    timeout: Duration,
    filter: PollFilter,
) -> Result<PollReport, PollError> {
    let now = Utc::now();
    if !devices::claim_poll(store, device.id, instance, now, now + POLL_LEASE).await? {
        return Ok(PollReport::default());
    }
    let result = download_and_store(store, device, site_tz, timeout, filter).await;
    if let Err(e) = &result {
        let _ = devices::record_sync(store, device.id, Utc::now(), Some(&e.to_string())).await;
    }
    let _ = devices::release_poll(store, device.id, instance).await;
    result
}

async fn download_and_store(
    store: &Store,
    device: &Device,
    site_tz: chrono_tz::Tz,
    timeout: Duration,
    filter: PollFilter,
) -> Result<PollReport, PollError> {
    let host = device.address.as_deref().ok_or_else(|| PollError::Config(format!("device {:?} has no address", device.name)))?;
    let port = u16::try_from(device.port).map_err(|_| PollError::Config(format!("device {:?} has port {}", device.name, device.port)))?;
    let address = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| PollError::Device(DeviceError::Unreachable(e.to_string())))?
        .next()
        .ok_or_else(|| PollError::Device(DeviceError::Unreachable(format!("{host} has no address"))))?;
    let options = ConnectOptions { address, comm_key: u32::try_from(device.comm_key).unwrap_or(0), timeout, udp: false };
    let tz = device.zone(site_tz);

    let mut client = ZkClient::connect(options).await?;
    let started = Utc::now();
    let device_clock = client.time().await?;
    let clock_offset_s = (device_clock - started.with_timezone(&tz).naive_local()).num_seconds();
    let download = client.download().await?;
    client.disconnect().await;

    let punches: Vec<NewPunch> = download
        .attendance
        .iter()
        .map(|r| NewPunch {
            device_id: device.id,
            employee: r.user_id.clone(),
            local_time: r.time,
            utc_time: r.time.resolve(tz).0,
            status: r.verify,
            punch_state: r.state,
            verify_type: r.verify,
            device_seq: None,
        })
        .filter(|p| filter.since.is_none_or(|since| p.utc_time >= since))
        .collect();
    let stored = punches::insert(store, &punches).await?;
    let people: Vec<_> = download.users.iter().map(|u| (u.user_id.clone(), Some(u.name.clone()).filter(|n| !n.is_empty()))).collect();
    let new_employees = employees::upsert_names(store, &people).await?;
    // Everything up to the moment the download started is now known.
    devices::record_poll(store, device.id, Utc::now(), i32::try_from(clock_offset_s).unwrap_or(i32::MAX), started).await?;
    Ok(PollReport { downloaded: download.attendance.len(), stored, new_employees, clock_offset_s, polled: true })
}

/// The `poll_devices` job.
pub struct PollDevices {
    store: Store,
    site_tz: chrono_tz::Tz,
    instance: String,
    timeout: Duration,
}

impl PollDevices {
    /// A poll job for `instance`.
    pub fn new(store: Store, config: &Config, instance: &str) -> Self {
        Self { store, site_tz: config.time_zone.0, instance: instance.to_owned(), timeout: Duration::from_secs(30) }
    }
}

/// Polls every enabled, approved pulled device (a few at once); returns per-device outcomes.
///
/// # Errors
/// When the device list cannot be read; single devices failing are reported in the result.
pub async fn poll_all(
    store: &Store,
    site_tz: chrono_tz::Tz,
    instance: &str,
    timeout: Duration,
    only: Option<DeviceId>,
    filter: PollFilter,
) -> Result<Vec<(Device, Result<PollReport, PollError>)>, StoreError> {
    let targets: Vec<Device> = devices::list(store)
        .await?
        .into_iter()
        .filter(|d| d.transport == Transport::Pull && d.approved && (d.enabled || only.is_some()))
        .filter(|d| only.is_none_or(|id| d.id == id))
        .collect();
    let store = Arc::new(store.clone());
    let results = futures_util::stream::iter(targets)
        .map(|device| {
            let store = Arc::clone(&store);
            async move {
                let outcome = poll_device(&store, &device, site_tz, instance, timeout, filter).await;
                (device, outcome)
            }
        })
        .buffer_unordered(PARALLEL_POLLS)
        .collect()
        .await;
    Ok(results)
}

impl Job for PollDevices {
    fn name(&self) -> &'static str {
        "poll_devices"
    }

    fn run(&self) -> JobFuture {
        let (store, tz, instance, timeout) = (self.store.clone(), self.site_tz, self.instance.clone(), self.timeout);
        Box::pin(async move {
            let results = poll_all(&store, tz, &instance, timeout, None, PollFilter::default()).await?;
            let mut stored = 0;
            let mut failed = Vec::new();
            for (device, outcome) in &results {
                match outcome {
                    Ok(report) => stored += report.stored,
                    Err(e) => failed.push(format!("{}: {e}", device.name)),
                }
            }
            let counts = serde_json::json!({ "devices": results.len(), "punches_stored": stored, "devices_failed": failed.len() });
            if failed.is_empty() { Ok(counts) } else { Err(JobError::Failed(failed.join("; "))) }
        })
    }
}
