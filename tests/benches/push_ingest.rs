//! Benchmark: punches per second accepted by the push endpoint from 20 concurrent simulated terminals,
//! on SQLite and on PostgreSQL, and the peak memory of the whole process (server and terminals).
//! Run with `cargo bench -p bridge-e2e --bench push_ingest` (`-- sqlite` or `-- postgres` for one backend).

use std::time::{Duration, Instant};

use attendance_bridge::simulator::push::{PushConfig, PushTerminal, SimPunch};
use bridge_e2e::{Backend, TestApp};
use chrono::{NaiveDate, TimeDelta};
use tokio_util::sync::CancellationToken;

const TERMINALS: usize = 20;
const PUNCHES_EACH: usize = 5_000;
const BATCH: usize = 500;

fn log_for(terminal: usize) -> Vec<SimPunch> {
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
    (0..PUNCHES_EACH)
        .map(|i| SimPunch {
            pin: format!("{}", 10_000 + terminal * 100 + i % 100),
            time: start + TimeDelta::seconds(i64::try_from(i * 37).unwrap_or(0)),
            state: u8::try_from(i % 2).unwrap_or(0),
            verify: 1,
        })
        .collect()
}

async fn run(backend: Backend) -> (Duration, usize) {
    let app = TestApp::start(backend).await;
    let stop = CancellationToken::new();
    let terminals: Vec<PushTerminal> = (0..TERMINALS)
        .map(|t| {
            let mut config = PushConfig::new(&format!("BENCH{t:03}"), &app.base_url);
            config.batch_size = BATCH;
            PushTerminal::new(config, log_for(t))
        })
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = terminals.iter().map(|t| tokio::spawn(t.clone().run(stop.clone()))).collect();
    // A terminal only ends when told to: one that ended early panicked, so stop and say so.
    let deadline = started + Duration::from_secs(600);
    while terminals.iter().any(|t| t.state().acknowledged < PUNCHES_EACH) {
        if let Some(ended) = tasks.iter().position(tokio::task::JoinHandle::is_finished) {
            stop.cancel();
            let failure = tasks.into_iter().nth(ended).expect("that task").await;
            panic!("terminal {ended} ended before uploading everything: {failure:?}");
        }
        if Instant::now() >= deadline {
            let behind: Vec<usize> = terminals.iter().map(|t| PUNCHES_EACH - t.state().acknowledged.min(PUNCHES_EACH)).collect();
            panic!("not everything acknowledged after {:?}; still to go per terminal: {behind:?}", deadline - started);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    for task in tasks {
        task.await.expect("a terminal panicked");
    }
    let store = app.db.store().await;
    let stored = usize::try_from(attendance_bridge::store::punches::count(&store).await.expect("count the stored punches")).expect("a count");
    (elapsed, stored)
}

#[tokio::main]
async fn main() {
    println!("push ingestion: {TERMINALS} terminals x {PUNCHES_EACH} punches, batches of {BATCH}");
    let only = std::env::args().skip(1).find(|a| a == "sqlite" || a == "postgres");
    for (backend, name) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        bridge_e2e::reset_peak_memory();
        let (elapsed, stored) = run(backend).await;
        let total = TERMINALS * PUNCHES_EACH;
        assert_eq!(stored, total, "every punch stored once");
        let rate = total as f64 / elapsed.as_secs_f64();
        println!(
            "{backend:?}: {total} punches in {:.2} s = {rate:.0} punches/s; peak memory {:.0} MiB",
            elapsed.as_secs_f64(),
            bridge_e2e::peak_memory_mib()
        );
    }
}
