//! `cargo bench -p bridge-e2e --bench poll_store`: one simulated device holding 100,000 punches, polled
//! into SQLite and into PostgreSQL; then polled again with nothing new (the ZK protocol always sends the
//! whole log, so the re-poll skips what the last poll stored before touching the database). Prints
//! punches/s, the re-poll's share of the first poll's time (target under a tenth) and peak memory.
//! `-- sqlite` or `-- postgres` runs one backend only; `-- compare` runs each backend first the way
//! storage wrote before PostgreSQL got batches as arrays (`VALUES` lists, and the duplicate outbox
//! index migration 000016 dropped), then as it writes now.

use std::time::{Duration, Instant};

use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches;
use bridge_e2e::{Backend, TestDb};
use chrono::NaiveDate;

const PUNCHES: usize = 100_000;

async fn run(backend: Backend, before: bool) {
    let db = TestDb::new(backend).await;
    let label = if before { "before (VALUES lists, duplicate index)" } else { "now" };
    let store = db.store().await;
    attendance_bridge::store::dialect::send_rows_as_values_lists(before);
    if before {
        db.execute("CREATE INDEX crm_outbox_by_day_revision ON crm_outbox (attendance_id, revision)").await;
    }
    let data = DeviceData::generate(500, PUNCHES, 42, NaiveDate::from_ymd_opt(2025, 1, 6).expect("date"));
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("simulator");
    devices::insert(&store, &NewDevice::pull("Bench", "127.0.0.1", sim.address().port(), 0)).await.expect("device");
    let timeout = Duration::from_secs(60);
    bridge_e2e::reset_peak_memory();

    let started = Instant::now();
    let first = poll::poll_all(&store, chrono_tz::UTC, "bench", timeout, None, PollOptions::default()).await.expect("poll");
    let first_secs = started.elapsed().as_secs_f64();
    assert!(first[0].1.as_ref().is_ok_and(|r| r.stored == PUNCHES), "{first:?}");
    assert_eq!(punches::count(&store).await.expect("count"), i64::try_from(PUNCHES).unwrap_or(0));

    let started = Instant::now();
    let second = poll::poll_all(&store, chrono_tz::UTC, "bench", timeout, None, PollOptions::default()).await.expect("poll");
    let second_secs = started.elapsed().as_secs_f64();
    assert!(second[0].1.as_ref().is_ok_and(|r| r.stored == 0 && r.already_known == PUNCHES), "{second:?}");

    println!(
        "{backend:?} {label}: first poll {PUNCHES} punches in {first_secs:.2}s = {:.0} punches/s stored; re-poll with nothing new {second_secs:.2}s = {:.1}% of the first (target < 10%); peak memory of both polls {:.0} MiB",
        PUNCHES as f64 / first_secs,
        100.0 * second_secs / first_secs,
        bridge_e2e::peak_memory_mib()
    );
}

fn main() {
    let only = std::env::args().skip(1).find(|a| a == "sqlite" || a == "postgres");
    let variants: &[bool] = if std::env::args().any(|a| a == "compare") { &[true, false] } else { &[false] };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for (backend, name) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        if only.as_deref().is_none_or(|o| o == name) {
            for &before in variants {
                runtime.block_on(run(backend, before));
            }
        }
    }
}
