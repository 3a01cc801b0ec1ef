//! `cargo bench -p bridge-e2e --bench crm_sync`: 10,000 days to the local mock CRM, the concurrent
//! keep-alive sender against one request at a time, in the same run.

use std::time::{Duration, Instant};

use attendance_bridge::store::Store;
use attendance_bridge::store::attendance::{self, DayContent};
use attendance_bridge::sync::mock_crm::{Faults, MockCrm};
use attendance_bridge::sync::payload::{DayForCrm, DefaultJson, Mapped, PayloadMapper as _};
use attendance_bridge::sync::sender::AuthScheme;
use attendance_bridge::sync::{SendSettings, Sender};
use bridge_e2e::{Backend, TestDb};
use chrono::NaiveDate;

const DAYS: u32 = 10_000;

async fn seed(store: &Store) {
    for i in 0..DAYS {
        let date = NaiveDate::from_ymd_opt(2024, 1, 1).and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(i / 200)))).unwrap_or_default();
        let day = DayContent {
            user_id: format!("u{}", i % 200),
            work_date: date,
            shift_code: String::new(),
            status: "complete".into(),
            clock_in_local: date.and_hms_opt(8, 0, 0),
            clock_out_local: date.and_hms_opt(17, 0, 0),
            worked_min: Some(480),
            flags: "[]".into(),
            reason: None,
            rule_plugin: "default".into(),
            rule_version: "1".into(),
        };
        let make = |id, revision| match DefaultJson.map(&DayForCrm { attendance_id: id, revision, day: &day, device_name: None, device_ip: None }) {
            Ok(Mapped::Send { body, .. }) => body,
            _ => String::from("{}"),
        };
        attendance::upsert_day(store, &day, false, &make).await.expect("seed");
    }
}

async fn run(concurrency: usize) -> f64 {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    seed(&store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    // A CRM taking 2 ms per request, as a real one would at the very least.
    let crm = MockCrm::spawn(listener, None, Faults { slow_ms: 2, slow_count: u64::MAX, ..Faults::default() }).expect("crm");
    let settings = SendSettings {
        url: crm.url().parse().expect("url"),
        token: None,
        auth_scheme: AuthScheme::Token,
        timeout: Duration::from_secs(30),
        concurrency,
        max_retries: 5,
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(10),
        batch_size: 500,
    };
    let sender = Sender::new(store.clone(), settings, "bench").expect("sender");
    let started = Instant::now();
    let report = sender.run_once(None).await.expect("run");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.delivered, u64::from(DAYS));
    assert_eq!(crm.stats().applied, u64::from(DAYS));
    let rate = f64::from(DAYS) / secs;
    println!("concurrency {concurrency:>2}: {DAYS} days in {secs:.2}s = {rate:.0} records/s");
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let one = run(1).await;
        let many = run(32).await;
        println!("ratio concurrent/sequential: {:.1}x", many / one);
    });
}
