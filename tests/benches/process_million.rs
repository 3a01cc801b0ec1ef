//! `cargo bench -p bridge-e2e --bench process_million`: 1,000,000 raw punches (5,000 employees x 50
//! days x 4 punches) stored on SQLite and on PostgreSQL, then processed end to end by the
//! `process_attendance` job body: pending days found, inputs built from storage, the built-in
//! `standard-shifts.wasm` run in the sandbox, days upserted with their CRM deliveries enqueued.
//! Prints punches/s of the processing and its peak memory (the peak is reset before it starts).
//! `-- sqlite` or `-- postgres` runs one backend only; `-- compare` runs each backend first the way
//! storage wrote before PostgreSQL got batches as arrays (`VALUES` lists, and the duplicate outbox
//! index migration 000016 dropped), then as it writes now.

use std::sync::Arc;
use std::time::Instant;

use attendance_bridge::config::Config;
use attendance_bridge::domain::{EmployeeId, WallTime};
use attendance_bridge::pipeline::process;
use attendance_bridge::plugins::{Limits, PluginRuntime, Registry};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::{self, NewPunch};
use attendance_bridge::store::{Store, pending, stats};
use bridge_e2e::{Backend, TestDb};
use chrono::{NaiveDate, TimeDelta};

const EMPLOYEES: usize = 5_000;
const DAYS: usize = 50;

async fn seed(store: &Store) -> usize {
    let device = devices::insert(store, &NewDevice::pull("Bench", "127.0.0.1", 4370, 0)).await.expect("device");
    let first = NaiveDate::from_ymd_opt(2025, 3, 3).expect("date");
    let mut total = 0;
    for chunk in (0..EMPLOYEES).collect::<Vec<_>>().chunks(200) {
        let mut batch = Vec::with_capacity(chunk.len() * DAYS * 4);
        for &employee in chunk {
            for day in 0..DAYS {
                let date = first + TimeDelta::days(i64::try_from(day).unwrap_or(0));
                let jitter = i64::try_from((employee * 7 + day * 13) % 600).unwrap_or(0);
                for (h, m, state) in [(7, 55, 0u8), (12, 0, 2), (12, 30, 3), (17, 5, 1)] {
                    let local = date.and_hms_opt(h, m, 0).expect("time") + TimeDelta::seconds(jitter);
                    batch.push(NewPunch {
                        device_id: device.id,
                        employee: EmployeeId(format!("E{employee:05}")),
                        local_time: WallTime(local),
                        utc_time: local.and_utc(),
                        status: 1,
                        punch_state: state,
                        verify_type: 1,
                        device_seq: None,
                    });
                }
            }
        }
        total += punches::insert(store, &batch).await.expect("insert");
    }
    total
}

async fn run(backend: Backend, before: bool) {
    let db = TestDb::new(backend).await;
    let label = if before { "before (VALUES lists, duplicate index)" } else { "now" };
    let store = db.store().await;
    attendance_bridge::store::dialect::send_rows_as_values_lists(before);
    if before {
        db.execute("CREATE INDEX crm_outbox_by_day_revision ON crm_outbox (attendance_id, revision)").await;
    }
    let started = Instant::now();
    let seeded = seed(&store).await;
    let seed_secs = started.elapsed().as_secs_f64();
    let pending_days = pending::count(&store).await.expect("pending");

    let config = Config { time_zone: attendance_bridge::config::TimeZone(chrono_tz::UTC), ..Config::default() };
    let cache = tempfile::tempdir().expect("cache dir");
    let registry = Arc::new(Registry::new(PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("runtime"), None));
    registry.get("standard-shifts").expect("compile the plugin before timing");
    bridge_e2e::reset_peak_memory();
    let private = bridge_e2e::PrivateMemoryPeak::start();
    let started = Instant::now();
    let report = process::run_processing(&store, &registry, &config).await.expect("processing");
    let secs = started.elapsed().as_secs_f64();
    let peak = bridge_e2e::peak_memory_mib();
    let private = private.finish();
    let counts = stats::counts(&store).await.expect("stats");
    assert_eq!(report.failed, 0);
    assert_eq!(counts.pending_days, 0, "everything processed");
    println!(
        "{backend:?} {label}: {seeded} punches stored in {seed_secs:.1}s ({:.0}/s, {pending_days} employee-days marked); processed in {secs:.1}s = {:.0} punches/s ({} days written, {} employees); peak memory while processing {peak:.0} MiB resident (VmHWM), {private:.0} MiB private (RssAnon)",
        seeded as f64 / seed_secs,
        seeded as f64 / secs,
        report.days_written,
        report.employees,
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
