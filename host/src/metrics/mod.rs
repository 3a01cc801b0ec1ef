//! Operational metrics in the Prometheus text format, served at `/metrics`.
//!
//! Two sources:
//! - **counters and histograms** kept in this process ([`registry`]), incremented where the work
//!   happens (punches stored, days processed, plugin calls, deliveries, job runs, HTTP requests).
//!   They restart from zero with the process, as Prometheus expects of counters;
//! - **gauges read from the database at scrape time** ([`render`]): outbox depth and age, each
//!   device's last successful download and clock drift. Reading them is one or two small queries,
//!   cheaper than keeping them current, and right after a restart and on every instance sharing the
//!   database.

pub mod http;
pub mod registry;

use registry::{Family, JOB_BUCKETS, Kind, LATENCY_BUCKETS};

use crate::store::closed_set::ClosedSet as _;
use crate::store::{Store, StoreError, devices, outbox};

/// Where a stored punch came from (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunchSource {
    /// Downloaded by a scheduled or manual poll.
    Poll,
    /// Received over a live (real-time event) connection.
    Live,
    /// Uploaded by a push (ADMS) terminal.
    Push,
}

impl PunchSource {
    fn label(self) -> &'static str {
        match self {
            PunchSource::Poll => "poll",
            PunchSource::Live => "live",
            PunchSource::Push => "push",
        }
    }
}

/// Punches stored for the first time.
pub static PUNCHES_STORED: Family = Family {
    name: "bridge_punches_stored_total",
    help: "Punches stored for the first time, by device id and source (poll, live, push).",
    kind: Kind::Counter,
    labels: &["device_id", "source"],
    buckets: &[],
};
/// Employee-days processed.
pub static DAYS_PROCESSED: Family = Family {
    name: "bridge_days_processed_total",
    help: "Employee-days processed into attendance records.",
    kind: Kind::Counter,
    labels: &[],
    buckets: &[],
};
/// Plugin calls.
pub static PLUGIN_CALLS: Family = Family {
    name: "bridge_plugin_calls_total",
    help: "Plugin calls, by plugin.",
    kind: Kind::Counter,
    labels: &["plugin"],
    buckets: &[],
};
/// Plugin calls that failed.
pub static PLUGIN_FAILURES: Family = Family {
    name: "bridge_plugin_failures_total",
    help: "Plugin calls that failed, by plugin and kind of failure.",
    kind: Kind::Counter,
    labels: &["plugin", "kind"],
    buckets: &[],
};
/// How long plugin calls take.
pub static PLUGIN_SECONDS: Family = Family {
    name: "bridge_plugin_call_seconds",
    help: "Time spent in one plugin call, seconds.",
    kind: Kind::Histogram,
    labels: &["plugin"],
    buckets: LATENCY_BUCKETS,
};
/// Deliveries to the CRM, by outcome.
pub static DELIVERIES: Family = Family {
    name: "bridge_deliveries_total",
    help: "Deliveries to the CRM by outcome (delivered, retry, failed, skipped, superseded).",
    kind: Kind::Counter,
    labels: &["outcome"],
    buckets: &[],
};
/// Consecutive failed polls per device (reset by a success).
pub static DEVICE_FAILURES: Family = Family {
    name: "bridge_device_consecutive_failures",
    help: "Polls of the device that failed in a row since its last success (this instance).",
    kind: Kind::Gauge,
    labels: &["device_id"],
    buckets: &[],
};
/// Job run durations.
pub static JOB_SECONDS: Family = Family {
    name: "bridge_job_run_seconds",
    help: "Duration of scheduled job runs, seconds.",
    kind: Kind::Histogram,
    labels: &["job"],
    buckets: JOB_BUCKETS,
};
/// Job runs that failed.
pub static JOB_FAILURES: Family = Family {
    name: "bridge_job_failures_total",
    help: "Scheduled job runs that failed, by job.",
    kind: Kind::Counter,
    labels: &["job"],
    buckets: &[],
};
/// HTTP requests.
pub static HTTP_REQUESTS: Family = Family {
    name: "bridge_http_requests_total",
    help: "HTTP requests by route pattern, method and status.",
    kind: Kind::Counter,
    labels: &["route", "method", "status"],
    buckets: &[],
};
/// HTTP latency.
pub static HTTP_SECONDS: Family = Family {
    name: "bridge_http_request_seconds",
    help: "HTTP request latency by route pattern, seconds.",
    kind: Kind::Histogram,
    labels: &["route"],
    buckets: LATENCY_BUCKETS,
};

const FAMILIES: &[&Family] = &[
    &PUNCHES_STORED,
    &DAYS_PROCESSED,
    &PLUGIN_CALLS,
    &PLUGIN_FAILURES,
    &PLUGIN_SECONDS,
    &DELIVERIES,
    &DEVICE_FAILURES,
    &JOB_SECONDS,
    &JOB_FAILURES,
    &HTTP_REQUESTS,
    &HTTP_SECONDS,
];

/// Counts `n` punches stored from `device` by `source` (nothing for zero).
pub fn punches_stored(device: crate::domain::DeviceId, source: PunchSource, n: usize) {
    if n > 0 {
        PUNCHES_STORED.inc_by(&[&device.0.to_string(), source.label()], n as f64);
    }
}

/// Records a poll's outcome for the consecutive-failures gauge.
pub fn device_polled(device: crate::domain::DeviceId, ok: bool) {
    let id = device.0.to_string();
    if ok {
        DEVICE_FAILURES.set(&[&id], 0.0);
    } else {
        DEVICE_FAILURES.inc(&[&id]);
    }
}

/// The whole exposition: in-process families, then the gauges read from `store`.
///
/// # Errors
/// When the database cannot be read.
pub async fn render(store: &Store) -> Result<String, StoreError> {
    let mut out = String::with_capacity(8 * 1024);
    registry::encode(FAMILIES, &mut out);
    let stats = outbox::stats(store).await?;
        registry::encode_gauge("bridge_outbox_pending", "Deliveries waiting for the CRM.", &[], &[(vec![], stats.pending as f64)], &mut out);
        registry::encode_gauge("bridge_outbox_failed", "Deliveries failed for good (dead letters).", &[], &[(vec![], stats.failed as f64)], &mut out);
        registry::encode_gauge(
            "bridge_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending delivery, seconds (0 when none).",
            &[],
            &[(vec![], stats.oldest_pending_seconds.unwrap_or(0) as f64)],
            &mut out,
        );
    let devices = devices::list(store).await?;
    let mut info = Vec::new();
    let mut last = Vec::new();
    let mut drift = Vec::new();
    for d in &devices {
        let id = d.id.0.to_string();
        info.push((vec![id.clone(), d.name.clone(), d.transport.word().to_owned(), d.enabled.to_string()], 1.0));
        // A push terminal's last upload is its last download.
        let at = match d.transport {
            devices::Transport::Pull => d.last_sync_at,
            devices::Transport::Push => d.last_seen_at,
        };
        if let Some(at) = at {
            last.push((vec![id.clone()], at.and_utc().timestamp() as f64));
        }
        if let Some(offset) = d.clock_offset_s {
            drift.push((vec![id], f64::from(offset)));
        }
    }
    registry::encode_gauge("bridge_device_info", "One series per device: its name, transport and whether it is enabled.", &["device_id", "name", "transport", "enabled"], &info, &mut out);
    registry::encode_gauge(
        "bridge_device_last_download_timestamp_seconds",
        "Unix time of the device's last successful download (push: last upload).",
        &["device_id"],
        &last,
        &mut out,
    );
    registry::encode_gauge("bridge_device_clock_drift_seconds", "Device clock minus server clock at the last poll, seconds.", &["device_id"], &drift, &mut out);
    Ok(out)
}
