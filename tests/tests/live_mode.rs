//! Live mode on both backends: a punch made on a device is stored within seconds, the connection
//! comes back after the device restarts, the periodic poll never stores a live punch twice, and one
//! instance at a time holds a device's live connection.

use std::time::{Duration, Instant};

use attendance_bridge::config::Config;
use attendance_bridge::pipeline::live::{LiveSettings, LiveSupervisor};
use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{Store, punches};
use bridge_e2e::{Backend, TestDb};
use chrono::{NaiveDate, TimeDelta};
use tokio_util::sync::CancellationToken;

bridge_e2e::on_both_backends!(live_punches_arrive_in_seconds_and_survive_a_device_restart, one_instance_holds_the_live_connection_and_another_takes_over);

const TIMEOUT: Duration = Duration::from_secs(3);

fn fast() -> LiveSettings {
    LiveSettings {
        rescan: Duration::from_millis(100),
        heartbeat: Duration::from_millis(300),
        lease: TimeDelta::seconds(3),
        max_backoff: Duration::from_millis(400),
        timeout: Duration::from_secs(2),
    }
}

fn supervisor(store: &Store, instance: &str) -> LiveSupervisor {
    let config = Config { time_zone: attendance_bridge::config::TimeZone(chrono_tz::UTC), ..Config::default() };
    LiveSupervisor::new(store.clone(), &config, instance).with_settings(fast())
}

/// Waits up to five seconds for `check`; panics naming `what` otherwise. Returns how long it took.
async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn live_device(store: &Store, data: DeviceData) -> (SimulatedDevice, attendance_bridge::store::devices::Device) {
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("simulator");
    let address = sim.address();
    let device = devices::insert(store, &NewDevice::pull("Live door", &address.ip().to_string(), address.port(), 0)).await.expect("device");
    devices::set_live_mode(store, device.id, true).await.expect("live on");
    (sim, device)
}

async fn live_punches_arrive_in_seconds_and_survive_a_device_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let data = DeviceData::generate(10, 50, 5, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let (sim, device) = live_device(&store, data).await;
    let polled = poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    assert_eq!(polled[0].1.as_ref().expect("polled").stored, 50);

    let stop = CancellationToken::new();
    let running = tokio::spawn(supervisor(&store, "instance-a").run(stop.clone()));
    eventually("the live subscription", async || sim.stats().subscriptions == 1).await;
    sim.punch("1", 0);
    let latency = eventually("the live punch", async || punches::count(&store).await.expect("count") == 51).await;
    println!("live punch stored {latency:?} after it was made");

    // The device restarts: the connection breaks, and comes back to the new process on the same port.
    let address = sim.address();
    let held = sim.data();
    sim.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let restarted = SimulatedDevice::start(address, SimConfig::default(), held).await.expect("restarted simulator");
    let reconnect = eventually("the subscription after the restart", async || restarted.stats().subscriptions == 1).await;
    println!("live connection back {reconnect:?} after the device restarted");
    restarted.punch("2", 1);
    eventually("the punch after the restart", async || punches::count(&store).await.expect("count") == 52).await;

    // The safety-net poll reads the whole log again and adds nothing live mode stored.
    let polled = poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    let report = polled[0].1.as_ref().expect("polled");
    assert_eq!((report.downloaded, report.stored), (52, 0), "{report:?}");
    assert_eq!(punches::count(&store).await.expect("count"), 52);

    // Live mode off: the connection closes and the lease is given back within a lease third.
    devices::set_live_mode(&store, device.id, false).await.expect("live off");
    eventually("the lease release", async || devices::get(&store, device.id).await.expect("device").live_lease_owner.is_none()).await;
    stop.cancel();
    running.await.expect("supervisor");
    restarted.stop();
}

async fn one_instance_holds_the_live_connection_and_another_takes_over(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let data = DeviceData::generate(5, 10, 6, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let (sim, device) = live_device(&store, data).await;

    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let a = tokio::spawn(supervisor(&store, "instance-a").run(stop_a.clone()));
    eventually("the first subscription", async || sim.stats().subscriptions == 1).await;
    let b = tokio::spawn(supervisor(&store, "instance-b").run(stop_b.clone()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.stats().subscriptions, 1, "the second instance leaves the device to the first");
    assert_eq!(devices::get(&store, device.id).await.expect("device").live_lease_owner.as_deref(), Some("instance-a"));

    // The first instance stops; the second takes the device over at its next rescan.
    stop_a.cancel();
    a.await.expect("supervisor a");
    eventually("the take-over", async || sim.stats().subscriptions == 2).await;
    sim.punch("3", 0);
    eventually("the punch through the second instance", async || punches::count(&store).await.expect("count") == 1).await;
    assert_eq!(devices::get(&store, device.id).await.expect("device").live_lease_owner.as_deref(), Some("instance-b"));
    stop_b.cancel();
    b.await.expect("supervisor b");
    sim.stop();
}
