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
use crate::device::client::ZkClient;
use crate::device::records::AttendanceRecord;
use crate::domain::{DeviceId, PunchTimeError, PunchWindow};
use crate::store::devices::{self, Device, Lease, Transport};
use crate::store::punches::{self, NewPunch};
use crate::store::{Store, StoreError, device_failover as devices_failover, employees};

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
    /// Of those, records the previous poll stored (skipped without a database round trip).
    pub already_known: usize,
    /// Records new to the bridge.
    pub stored: usize,
    /// People seen for the first time.
    pub new_employees: usize,
    /// Device clock minus bridge clock (site wall time), seconds.
    pub clock_offset_s: i64,
    /// False when another instance was polling the device.
    pub polled: bool,
    /// The clock was set because it was off by more than the configured threshold.
    pub clock_corrected: bool,
    /// Records refused for a time outside the punch window (`PUNCH_MIN_DATE`, `PUNCH_MAX_FUTURE_HOURS`).
    pub refused: usize,
    /// Which address answered (`primary` or `secondary`) and where, once connected.
    pub answered: Option<(super::failover::Answered, String)>,
}

/// How a poll behaves: what it stores, and whether it corrects the device's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollOptions {
    /// Keep only punches at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Set the device clock when it is off by more than this many seconds (opt-in:
    /// `CLOCK_CORRECTION_SECONDS`). Punches already written keep the times the device gave them.
    pub correct_clock_above_s: Option<u32>,
    /// The accepted punch times; records outside are refused, named in the log and counted.
    pub window: PunchWindow,
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
    filter: PollOptions,
) -> Result<PollReport, PollError> {
    let now = Utc::now();
    if !devices::claim(store, Lease::Poll, device.id, instance, now, now + POLL_LEASE).await? {
        return Ok(PollReport::default());
    }
    let result = download_and_store(store, device, site_tz, timeout, filter).await;
    crate::metrics::device_polled(device.id, result.is_ok());
    if let Err(e) = &result {
        let _ = devices::record_sync(store, device.id, Utc::now(), Some(&e.to_string())).await;
    }
    let _ = devices::release(store, Lease::Poll, device.id, instance).await;
    result
}

async fn download_and_store(
    store: &Store,
    device: &Device,
    site_tz: chrono_tz::Tz,
    timeout: Duration,
    filter: PollOptions,
) -> Result<PollReport, PollError> {
    let tz = device.zone(site_tz);
    let connected = super::failover::connect_device(device, timeout).await?;
    let mut client = connected.client;
    if connected.answered == super::failover::Answered::Secondary {
        tracing::warn!(device = %device.name, address = %connected.address, "polled through the secondary address");
    }
    devices_failover::record_answered(store, device.id, &connected.address).await?;
    let started = Utc::now();
    let mut clock_offset_s = clock_offset(&mut client, tz).await?;
    let clock_corrected = filter.correct_clock_above_s.is_some_and(|limit| clock_offset_s.unsigned_abs() > u64::from(limit));
    if clock_corrected {
        client.set_time(Utc::now().with_timezone(&tz).naive_local()).await?;
        tracing::info!(device = %device.name, offset_s = clock_offset_s, "device clock corrected");
        clock_offset_s = clock_offset(&mut client, tz).await?;
    }
    let download = client.download().await?;
    client.disconnect().await;

    // The log only grows until it is cleared: when the record at the last poll's end is still there,
    // everything before it is stored already and the database need not hear about it again.
    let records = &download.attendance;
    let known = known_prefix(device, records);
    let mut refused = Vec::new();
    let punches: Vec<NewPunch> = records[known..]
        .iter()
        .filter_map(|r| to_punch(device.id, tz, &filter.window, started, r).map_err(|e| refused.push(e)).ok())
        .filter(|p| filter.since.is_none_or(|since| p.utc_time >= since))
        .collect();
    if let Some(first) = refused.first() {
        tracing::warn!(device = %device.name, refused = refused.len(), first = %first, "records with impossible times were not stored");
    }
    let stored = punches::insert(store, &punches).await?;
    crate::metrics::punches_stored(device.id, crate::metrics::PunchSource::Poll, stored);
    if filter.since.is_none() {
        // Everything on the device is stored now (a --since poll left older records out on purpose).
        let tail = records.last().map(|r| devices::log_mark(&r.user_id.0, r.time.0, r.state));
        devices::record_log_mark(store, device.id, records.len(), tail.as_deref()).await?;
    }
    let people: Vec<_> = download.users.iter().map(|u| (u.user_id.clone(), Some(u.name.clone()).filter(|n| !n.is_empty()))).collect();
    let new_employees = employees::upsert_names(store, &people).await?;
    // Everything up to the moment the download started is now known.
    devices::record_poll(store, device.id, Utc::now(), i32::try_from(clock_offset_s).unwrap_or(i32::MAX), started).await?;
    Ok(PollReport {
        downloaded: records.len(),
        already_known: known,
        stored,
        new_employees,
        clock_offset_s,
        polled: true,
        clock_corrected,
        refused: refused.len(),
        answered: Some((connected.answered, connected.address)),
    })
}

/// A device record as the raw store keeps it: the wall time as written, the instant it means in `tz`.
///
/// # Errors
/// [`PunchTimeError`] when the time is outside `window` at `now`: such a record is never stored.
pub(super) fn to_punch(device: DeviceId, tz: chrono_tz::Tz, window: &PunchWindow, now: DateTime<Utc>, r: &AttendanceRecord) -> Result<NewPunch, PunchTimeError> {
    Ok(NewPunch {
        device_id: device,
        employee: r.user_id.clone(),
        local_time: r.time,
        utc_time: window.check(r.time, tz, now)?,
        status: r.verify,
        punch_state: r.state,
        verify_type: r.verify,
        device_seq: None,
    })
}

/// How many records at the start of `records` the last complete poll stored already (0 when the log
/// was cleared or rewritten, or the device was never fully polled).
fn known_prefix(device: &Device, records: &[AttendanceRecord]) -> usize {
    let (Some(count), Some(tail)) = (device.log_count.and_then(|c| usize::try_from(c).ok()), device.log_tail.as_deref()) else {
        return 0;
    };
    match count.checked_sub(1).and_then(|last| records.get(last)) {
        Some(r) if devices::log_mark(&r.user_id.0, r.time.0, r.state) == tail => count,
        _ => 0,
    }
}

/// Device clock minus the bridge's clock in the device's zone, seconds.
async fn clock_offset(client: &mut ZkClient, tz: chrono_tz::Tz) -> Result<i64, DeviceError> {
    let asked = Utc::now();
    Ok((client.time().await? - asked.with_timezone(&tz).naive_local()).num_seconds())
}

/// `devices set-time`: sets a pulled device's clock to the bridge's time in the device's zone and
/// returns its offset (seconds) before and after.
///
/// # Errors
/// When the device cannot be reached or refuses.
pub async fn set_clock(device: &Device, site_tz: chrono_tz::Tz, timeout: Duration) -> Result<(i64, i64), PollError> {
    let tz = device.zone(site_tz);
    let mut client = super::failover::connect_device(device, timeout).await?.client;
    let before = clock_offset(&mut client, tz).await?;
    client.set_time(Utc::now().with_timezone(&tz).naive_local()).await?;
    let after = clock_offset(&mut client, tz).await?;
    client.disconnect().await;
    Ok((before, after))
}

/// The `poll_devices` job.
pub struct PollDevices {
    store: Store,
    site_tz: chrono_tz::Tz,
    instance: String,
    timeout: Duration,
    options: PollOptions,
}

impl PollDevices {
    /// A poll job for `instance`.
    pub fn new(store: Store, config: &Config, instance: &str) -> Self {
        let options = PollOptions {
            since: None,
            correct_clock_above_s: Some(config.devices.clock_correction_seconds).filter(|s| *s > 0),
            window: config.devices.punch_window(),
        };
        Self { store, site_tz: config.time_zone.0, instance: instance.to_owned(), timeout: Duration::from_secs(30), options }
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
    filter: PollOptions,
) -> Result<Vec<(Device, Result<PollReport, PollError>)>, StoreError> {
    poll_all_reporting(store, site_tz, instance, timeout, only, filter, &|_| {}).await
}

/// The devices [`poll_all`] polls: every enabled, approved pulled device, or just `only` (even when
/// disabled: asking for one device by id is asking for it).
///
/// # Errors
/// When the device list cannot be read.
pub async fn targets(store: &Store, only: Option<DeviceId>) -> Result<Vec<Device>, StoreError> {
    Ok(devices::list(store)
        .await?
        .into_iter()
        .filter(|d| d.transport == Transport::Pull && d.approved && (d.enabled || only.is_some()))
        .filter(|d| only.is_none_or(|id| d.id == id))
        .collect())
}

/// [`poll_all`], calling `done` as each device finishes (the CLI's progress bar).
///
/// # Errors
/// When the device list cannot be read.
pub async fn poll_all_reporting(
    store: &Store,
    site_tz: chrono_tz::Tz,
    instance: &str,
    timeout: Duration,
    only: Option<DeviceId>,
    filter: PollOptions,
    done: &(dyn Fn(&Device) + Sync),
) -> Result<Vec<(Device, Result<PollReport, PollError>)>, StoreError> {
    let targets = targets(store, only).await?;
    let store = Arc::new(store.clone());
    let results = futures_util::stream::iter(targets)
        .map(|device| {
            let store = Arc::clone(&store);
            async move {
                let outcome = poll_device(&store, &device, site_tz, instance, timeout, filter).await;
                done(&device);
                (device, outcome)
            }
        })
        .buffer_unordered(PARALLEL_POLLS)
        .collect()
        .await;
    Ok(results)
}

impl Job for PollDevices {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::PollDevices
    }

    fn run(&self) -> JobFuture {
        let (store, tz, instance, timeout, options) = (self.store.clone(), self.site_tz, self.instance.clone(), self.timeout, self.options);
        Box::pin(async move {
            let results = poll_all(&store, tz, &instance, timeout, None, options).await?;
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
