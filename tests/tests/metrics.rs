//! `/metrics`, `/livez` and `/readyz` of a running bridge: the counters move while the scheduler polls
//! a simulated device, processes and syncs to the mock CRM, and the exposition parses with the
//! reference Prometheus parser (Python `prometheus_client`, pinned in `tests/python/requirements.txt`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use attendance_bridge::config::HttpUrl;
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::jobs::{self, ScheduleChange};
use bridge_e2e::crm::{TOKEN, mock_crm};
use bridge_e2e::{Backend, TestApp, on_both_backends};
use chrono::NaiveDate;

/// One parsed sample.
#[derive(Debug, Clone, serde::Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses `text` with `prometheus_client`; panics with the parser's message when it is not valid.
fn parse(text: &str) -> Vec<Sample> {
    let script = bridge_e2e::workspace_root().join("tests/python/parse_metrics.py");
    let mut child = Command::new(bridge_e2e::pyzk::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("parser");
    assert!(out.status.success(), "the exposition does not parse: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("sample")).collect()
}

/// Sum of the samples named `name` whose labels include `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v)))
        .map(|s| s.value)
        .sum()
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200, "loopback needs no login");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    parse(&response.text().await.expect("body"))
}

/// Scrapes until `done` holds (the scheduler looks every 5 s), for at most 60 s.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    for _ in 0..240 {
        let samples = scrape(app).await;
        if done(&samples) {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} did not happen within 60 s");
}

on_both_backends!(counters_move_while_the_bridge_polls_processes_and_syncs);

async fn counters_move_while_the_bridge_polls_processes_and_syncs(backend: Backend) {
    let crm = mock_crm(Faults::default()).await;
    let app = TestApp::start_with(backend, |c| {
        c.data_dir = bridge_e2e::plugins::data_dir(&c.data_dir);
        c.crm.api_url = Some(HttpUrl(crm.url().parse().expect("url")));
        c.crm.api_token = Some(TOKEN.to_owned().into());
    })
    .await;
    let store = app.db.store().await;
    let data = DeviceData::generate(5, 60, 7, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("sim");
    // Read before the device exists: the scheduler may poll it as soon as it is added.
    let before = scrape(&app).await;
    let device = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", sim.address().port(), 0)).await.expect("device");
    let id = device.id.0.to_string();

    let punches = |s: &[Sample]| total(s, "bridge_punches_stored_total", &[("device_id", &id), ("source", "poll")]);
    assert_eq!(punches(&before), 0.0);
    let days_before = total(&before, "bridge_days_processed_total", &[]);
    let delivered_before = total(&before, "bridge_deliveries_total", &[("outcome", "delivered")]);
    let plugin_calls_before = total(&before, "bridge_plugin_calls_total", &[]);

    let run_now = ScheduleChange { run_now: true, ..Default::default() };
    jobs::update_schedule(&store, "poll_devices", &run_now).await.expect("poll now");
    let polled = scrape_until(&app, "a poll", |s| punches(s) >= 60.0).await;
    assert_eq!(punches(&polled), 60.0, "every punch of the device counted once");
    let last = total(&polled, "bridge_device_last_download_timestamp_seconds", &[("device_id", &id)]);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - last).abs() < 120.0, "last download {last} is now ({now})");
    assert_eq!(total(&polled, "bridge_device_info", &[("device_id", &id), ("name", "Gate"), ("transport", "pull")]), 1.0);
    assert!(polled.iter().any(|s| s.name == "bridge_device_clock_drift_seconds" && s.labels.get("device_id") == Some(&id)));
    assert_eq!(total(&polled, "bridge_device_consecutive_failures", &[("device_id", &id)]), 0.0);

    jobs::update_schedule(&store, "process_attendance", &run_now).await.expect("process now");
    let processed = scrape_until(&app, "processing", |s| total(s, "bridge_days_processed_total", &[]) > days_before).await;
    assert!(total(&processed, "bridge_plugin_calls_total", &[]) > plugin_calls_before, "the rules plugin was called");
    assert!(total(&processed, "bridge_plugin_call_seconds_count", &[]) > 0.0);
    assert!(total(&processed, "bridge_outbox_pending", &[]) > 0.0, "processed days wait for the CRM");

    jobs::update_schedule(&store, "sync_to_crm", &run_now).await.expect("sync now");
    let synced = scrape_until(&app, "a sync", |s| {
        total(s, "bridge_deliveries_total", &[("outcome", "delivered")]) > delivered_before && total(s, "bridge_outbox_pending", &[]) == 0.0
    })
    .await;
    assert_eq!(total(&synced, "bridge_outbox_oldest_pending_age_seconds", &[]), 0.0);
    for job in ["poll_devices", "process_attendance", "sync_to_crm"] {
        assert!(total(&synced, "bridge_job_run_seconds_count", &[("job", job)]) >= 1.0, "{job} timed");
    }

    // Routes are the matched pattern, never the raw path.
    let _ = app.get("/api/v1/devices/12345/").await;
    let after = scrape(&app).await;
    assert!(total(&after, "bridge_http_requests_total", &[("route", "/api/v1/devices/{id}/"), ("status", "401")]) >= 1.0);
    assert!(total(&after, "bridge_http_requests_total", &[("route", "/metrics"), ("status", "200")]) >= 1.0);
    assert!(total(&after, "bridge_http_request_seconds_count", &[("route", "/metrics")]) >= 1.0);
    assert!(!after.iter().any(|s| s.labels.values().any(|v| v.contains("12345"))), "no raw path in any label");
    println!(
        "metrics ({backend:?}): {} samples; punches {} days {} delivered {}",
        after.len(),
        punches(&after),
        total(&after, "bridge_days_processed_total", &[]),
        total(&after, "bridge_deliveries_total", &[("outcome", "delivered")])
    );
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn metrics_from_elsewhere_need_the_token() {
    let client = reqwest::Client::new();
    // A request relayed by a proxy is not "this machine", whatever its TCP peer.
    let open = TestApp::start(Backend::Sqlite).await;
    let relayed = client.get(format!("{}/metrics", open.base_url)).header("X-Forwarded-For", "127.0.0.9").send().await.expect("get");
    assert_eq!(relayed.status(), 403, "no METRICS_TOKEN: only this machine");
    open.stop().await.expect("stop");

    let app = TestApp::start_with(Backend::Sqlite, |c| c.metrics.token = Some("scrape-me".to_owned().into())).await;
    let url = format!("{}/metrics", app.base_url);
    let missing = client.get(&url).header("X-Forwarded-For", "127.0.0.9").send().await.expect("get");
    assert_eq!(missing.status(), 401);
    let wrong = client.get(&url).header("X-Forwarded-For", "127.0.0.9").bearer_auth("nope").send().await.expect("get");
    assert_eq!(wrong.status(), 401);
    let right = client.get(&url).header("X-Forwarded-For", "127.0.0.9").bearer_auth("scrape-me").send().await.expect("get");
    assert_eq!(right.status(), 200);
    assert!(!parse(&right.text().await.expect("body")).is_empty());
    app.stop().await.expect("stop");
}

on_both_backends!(probes_answer);

async fn probes_answer(backend: Backend) {
    let app = TestApp::start(backend).await;
    for path in ["/livez", "/healthz"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let ready: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["status"], "ready");
    assert!(ready["scheduler_seconds_since_look"].as_u64().is_some(), "role all watches its scheduler: {ready}");
    app.stop().await.expect("stop");
}
