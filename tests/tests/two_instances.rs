//! Two `serve` processes on one PostgreSQL database (the production set-up for larger sites): each job
//! tick runs once across both, both take their share of the ticks, and each device is downloaded once
//! per `poll_devices` tick, counted by the simulated devices themselves.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::Store;
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::jobs::{self, JobRun, ScheduleChange};
use bridge_e2e::{Backend, TestDb, bridge_command};

/// How often a `serve` process looks at the schedules (the scheduler's default).
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// The poll interval under test: one second more than a look period, so each tick falls due between
/// the winner's looks and goes to whichever instance looks next (see the stagger below).
const INTERVAL_SECONDS: u32 = 6;

/// A `serve` process on `db` with its own data folder, listening on a port of its own choosing.
fn serve(db: &TestDb, name: &str) -> Child {
    let mut command = bridge_command(db.dir.path());
    command.env("DATABASE_URL", db.database_url()).env("BRIDGE_DATA_DIR", bridge_e2e::plugins::data_dir(&db.dir.path().join(name)));
    bridge_e2e::spawn_serve(command, "127.0.0.1:0").0
}

/// Kills the processes however the test ends.
struct Instances(Vec<Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn poll_runs(store: &Store) -> Vec<JobRun> {
    jobs::recent_runs(store, Some("poll_devices"), 1_000).await.expect("runs")
}

/// Polls `check` every 200 ms until it holds; panics naming `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    // The second instance starts half a look period after the first, so their looks interleave and a
    // tick due between one instance's looks is claimed by the other: both compete for every tick.
    // (Started together, one instance would look first every time and win every tick, and the test
    // would show nothing about two instances.)
    let mut instances = Instances(vec![serve(&db, "first")]);
    tokio::time::sleep(LOOK_EVERY / 2).await;
    instances.0.push(serve(&db, "second"));
    let changed_at = chrono::Utc::now().naive_utc();
    let change = ScheduleChange { interval_seconds: Some(INTERVAL_SECONDS), run_now: true, ..ScheduleChange::default() };
    jobs::update_schedule(&store, "poll_devices", &change).await.expect("schedule");
    wait_until("both instances ran at least two polls each", Duration::from_secs(120), async || {
        let runs = poll_runs(&store).await;
        let per_instance = |who: &str| runs.iter().filter(|r| r.instance == who && r.started_at >= changed_at).count();
        let names: BTreeSet<&str> = runs.iter().map(|r| r.instance.as_str()).collect();
        names.len() == 2 && names.iter().all(|n| per_instance(n) >= 2)
    })
    .await;
    // Stop the ticks, then wait until no poll is half-way: every run finished and the lease given back.
    jobs::update_schedule(&store, "poll_devices", &ScheduleChange { paused: Some(true), ..ScheduleChange::default() }).await.expect("pause");
    wait_until("the last poll finished", Duration::from_secs(60), async || {
        let schedules = jobs::list(&store).await.expect("schedules");
        let poll = schedules.iter().find(|s| s.name == "poll_devices").expect("poll_devices schedule");
        poll.lease_owner.is_none() && poll_runs(&store).await.iter().all(|r| r.finished_at.is_some())
    })
    .await;
    drop(instances);

    let runs = poll_runs(&store).await;
    let polled: Vec<_> = runs.iter().filter(|r| r.outcome == "ok").collect();
    let instances: BTreeSet<&str> = runs.iter().map(|r| r.instance.as_str()).collect();
    let reads: Vec<usize> = sims.iter().map(|s| s.stats().attendance_reads).collect();
    println!(
        "two instances at a {INTERVAL_SECONDS} s poll interval: {} poll_devices runs ({} ok) by {instances:?}; downloads per device {reads:?}",
        runs.len(),
        polled.len()
    );
    assert_eq!(instances.len(), 2, "both instances ran polls: {runs:?}");
    assert!(polled.len() >= 4, "the ticks ran: {runs:?}");
    assert_eq!(polled.len(), runs.len(), "every run succeeded");
    for (device, reads) in reads.iter().enumerate() {
        assert_eq!(*reads, polled.len(), "device {device} downloaded once per tick, never twice");
    }
    // One run per tick: after the change, consecutive starts are an interval apart (less the few
    // milliseconds between a claim and the recorded start), never two for the same tick.
    let mut starts: Vec<_> = runs.iter().map(|r| r.started_at).filter(|at| *at >= changed_at).collect();
    starts.sort();
    for pair in starts.windows(2) {
        let interval = chrono::TimeDelta::seconds(i64::from(INTERVAL_SECONDS));
        assert!(pair[1] - pair[0] >= interval - chrono::TimeDelta::milliseconds(500), "two runs for one tick: {pair:?}");
    }
    // The other interval jobs were due at start-up and their intervals (30 min and more) are far longer
    // than this test: each ran exactly once across both instances.
    for job in ["process_attendance", "sync_to_crm", "retry_failed_syncs"] {
        let runs = jobs::recent_runs(&store, Some(job), 100).await.expect("runs");
        assert_eq!(runs.len(), 1, "{job} ran once for its one tick: {runs:?}");
    }
}
