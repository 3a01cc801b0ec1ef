//! `cargo bench -p bridge-e2e --bench crm_sync`: 10,000 processed days to the local mock CRM (which
//! takes 2 ms per request, as a real one would at the very least), sent by the concurrent keep-alive
//! sender, by one request at a time, and as batch requests, in the same run, on SQLite and PostgreSQL.
//! Every run renders each day through the built-in `crm-json` plugin, as production does.

use std::time::{Duration, Instant};

use attendance_bridge::simulator::crm::{Faults, MockCrm};
use bridge_e2e::crm::{registry, seed_days, sender, settings};
use bridge_e2e::{Backend, TestDb};

const DAYS: u32 = 10_000;

async fn run(backend: Backend, concurrency: usize, batch: bool) -> f64 {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, DAYS).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let crm = MockCrm::spawn(listener, Some(bridge_e2e::crm::TOKEN.into()), Faults { slow_ms: 2, slow_count: u64::MAX, ..Faults::default() })
        .expect("crm");
    let mut settings = settings(&crm, Duration::from_secs(30), 5);
    settings.concurrency = concurrency;
    settings.batch_size = 500;
    settings.batch_requests = batch;
    let sender = sender(&store, &registry(vec![]), settings);
    let started = Instant::now();
    let report = sender.run_once(None).await.expect("run");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.delivered, u64::from(DAYS));
    assert_eq!((crm.stats().applied, crm.stats().duplicates), (u64::from(DAYS), 0));
    let rate = f64::from(DAYS) / secs;
    let mode = if batch { "batches of 500".to_owned() } else { format!("{concurrency} in flight") };
    println!("{backend:?}, {mode:>15}: {DAYS} days in {secs:6.2}s = {rate:7.0} records/s");
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let one = run(backend, 1, false).await;
            let many = run(backend, 16, false).await;
            let batched = run(backend, 16, true).await;
            println!("{backend:?}: concurrent keep-alive / one at a time = {:.1}x (target ≥ 5x); batch / one at a time = {:.1}x", many / one, batched / one);
        }
    });
}
