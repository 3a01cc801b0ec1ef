//! Two `serve` processes on one PostgreSQL database (the production set-up for larger sites): each job
//! tick runs once across both, and each device is downloaded once per `poll_devices` tick, counted by
//! the simulated devices themselves.

use std::process::Child;
use std::time::Duration;

use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::jobs::{self, ScheduleChange};
use bridge_e2e::{Backend, TestDb, bridge_command, free_port};

fn serve(db: &TestDb) -> Child {
    let mut command = bridge_command(db.dir.path());
    command.env("DATABASE_URL", db.database_url()).env("BRIDGE_DATA_DIR", std::env::temp_dir().join("attendance-bridge-test-cli-data"));
    bridge_e2e::spawn_serve(command, &format!("127.0.0.1:{}", free_port())).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_poll_each_device_once_per_tick() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    let mut sims = Vec::new();
    for seed in 0..3 {
        let data = DeviceData::generate(20, 300, seed, chrono::NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
        let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("sim");
        devices::insert(&store, &NewDevice::pull(&format!("Device {seed}"), "127.0.0.1", sim.address().port(), 0)).await.expect("device");
        sims.push(sim);
    }
    let mut first = serve(&db);
    let mut second = serve(&db);
    // Both applied the configured 15-minute interval at start-up; now poll every 3 s, at once.
    let change = ScheduleChange { interval_seconds: Some(3), run_now: true, ..ScheduleChange::default() };
    jobs::update_schedule(&store, "poll_devices", &change).await.expect("schedule");
    tokio::time::sleep(Duration::from_secs(25)).await;
    // Stop the ticks before reading, so no poll is half-way.
    jobs::update_schedule(&store, "poll_devices", &ScheduleChange { paused: Some(true), ..ScheduleChange::default() }).await.expect("pause");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let _ = first.kill();
    let _ = second.kill();
    let _ = (first.wait(), second.wait());

    let runs = jobs::recent_runs(&store, Some("poll_devices"), 1_000).await.expect("runs");
    let polled: Vec<_> = runs.iter().filter(|r| r.outcome == "ok").collect();
    let instances: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.instance.as_str()).collect();
    let mut starts: Vec<_> = runs.iter().map(|r| r.started_at).collect();
    starts.sort();
    let reads: Vec<usize> = sims.iter().map(|s| s.stats().attendance_reads).collect();
    println!(
        "two instances, 25 s at a 3 s poll interval: {} poll_devices runs ({} ok) by {} instance(s); downloads per device {reads:?}",
        runs.len(),
        polled.len(),
        instances.len()
    );
    assert!(polled.len() >= 4, "the ticks ran: {runs:?}");
    assert_eq!(polled.len(), runs.len(), "every run succeeded");
    for (device, reads) in reads.iter().enumerate() {
        assert_eq!(*reads, polled.len(), "device {device} downloaded once per tick, never twice");
    }
    // One run per tick: consecutive starts are an interval apart, never two for the same tick.
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= chrono::TimeDelta::milliseconds(2_500), "two runs for one tick: {pair:?}");
    }
    // The sync and processing jobs ticked too (at start-up), once each.
    for job in ["process_attendance", "sync_to_crm", "retry_failed_syncs"] {
        let runs = jobs::recent_runs(&store, Some(job), 100).await.expect("runs");
        assert!(runs.len() <= 1, "{job} ran {} times for one tick", runs.len());
    }
}
