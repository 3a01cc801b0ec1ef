//! Helpers for the CRM sync suites: processed days to deliver, and the sender wired to the built-in
//! `crm-json` mapping plugin and a mock CRM.

use std::sync::Arc;
use std::time::Duration;

use attendance_bridge::domain::EmployeeId;
use attendance_bridge::plugins::Registry;
use attendance_bridge::simulator::crm::MockCrm;
use attendance_bridge::store::Store;
use attendance_bridge::store::attendance::{self, DayContent, Upserted};
use attendance_bridge::store::outbox;
use attendance_bridge::sync::payload::Renderer;
use attendance_bridge::sync::sender::AuthScheme;
use attendance_bridge::sync::{SendSettings, Sender};
use chrono::{NaiveDate, TimeDelta};

/// The token the mock CRMs of the suites require.
pub const TOKEN: &str = "secret";

/// A complete 08:00–17:00 day (site time UTC+2) with `worked_min` minutes.
pub fn day_content(date: NaiveDate, worked_min: i32) -> DayContent {
    let local_in = date.and_hms_opt(8, 0, 0).expect("time");
    let local_out = date.and_hms_opt(17, 0, 0).expect("time");
    DayContent {
        status: "present".into(),
        clock_in_local: Some(local_in),
        clock_in_utc: Some(local_in - TimeDelta::hours(2)),
        clock_out_local: Some(local_out),
        clock_out_utc: Some(local_out - TimeDelta::hours(2)),
        worked_min: Some(worked_min),
        break_min: Some(0),
        payable_min: Some(worked_min),
        scheduled_min: Some(480),
        overtime_min: Some(0),
        late_min: None,
        early_min: None,
        duplicates: 0,
        flags: "[]".into(),
        is_final: true,
        reason: None,
        rule_plugin: "standard-shifts".into(),
        rule_version: "1.0.0".into(),
    }
}

/// The `n`-th seeded day: 100 employees, consecutive dates from 2025-01-01.
pub fn nth_day(n: u32) -> (EmployeeId, NaiveDate) {
    let date = NaiveDate::from_ymd_opt(2025, 1, 1).and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(n / 100)))).expect("date");
    (EmployeeId(format!("{}", n % 100 + 1)), date)
}

/// Writes `n` processed days, each enqueued once.
pub async fn seed_days(store: &Store, n: u32) {
    for i in 0..n {
        let (employee, date) = nth_day(i);
        let outcome = attendance::upsert(store, &employee, date, "", &day_content(date, 480)).await.expect("upsert");
        assert_eq!(outcome, Upserted::Inserted);
    }
}

/// A registry with the built-in plugins and, optionally, per-plugin settings; its compile cache is its
/// own, seeded warm (see [`crate::plugins::seed_plugin_cache`]).
pub fn registry(configs: Vec<(String, serde_json::Value)>) -> crate::plugins::TestRegistry {
    crate::plugins::TestRegistry::new(configs)
}

/// Settings for `crm` with fast retries.
pub fn settings(crm: &MockCrm, timeout: Duration, max_retries: u32) -> SendSettings {
    SendSettings {
        url: crm.url().parse().expect("url"),
        token: Some(TOKEN.to_string().into()),
        auth_scheme: AuthScheme::Token,
        timeout,
        concurrency: 8,
        max_retries,
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        batch_size: 100,
        batch_requests: false,
        signing: None,
        extra_roots: Vec::new(),
    }
}

/// A sender rendering through the built-in `crm-json`.
pub fn sender(store: &Store, registry: &Arc<Registry>, settings: SendSettings) -> Sender {
    Sender::new(store.clone(), settings, Renderer::new(store.clone(), Arc::clone(registry), "crm-json"), "test").expect("sender")
}

/// Runs the sender until nothing is pending, like the scheduler would; returns the rounds it took.
pub async fn drain(sender: &Sender, store: &Store) -> u32 {
    for round in 1..=300 {
        sender.run_once(None).await.expect("run");
        let stats = outbox::stats(store).await.expect("stats");
        if stats.pending == 0 && stats.in_flight == 0 {
            return round;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("the outbox never drained");
}

/// A mock CRM on an ephemeral loopback port requiring [`TOKEN`].
pub async fn mock_crm(faults: attendance_bridge::simulator::crm::Faults) -> MockCrm {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    MockCrm::spawn(listener, Some(TOKEN.into()), faults).expect("mock crm")
}
