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

bridge_e2e::on_both_backends!(
    live_punches_arrive_in_seconds_and_survive_a_device_restart,
    one_instance_holds_the_live_connection_and_another_takes_over,
    a_crashed_instance_s_device_is_taken_over_once_its_lease_expires,
    a_device_gone_silent_is_caught_by_the_heartbeat_and_reconnected,
    reconnection_attempts_back_off_up_to_the_cap,
);

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
    eventually_within(what, Duration::from_secs(5), check).await
}

/// [`eventually`] with another limit.
async fn eventually_within<F: AsyncFn() -> bool>(what: &str, limit: Duration, check: F) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
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
    // While the second instance rescans every 100 ms, the first keeps renewing its lease (every second):
    // watch two renewals go by, and at every look the device has one subscription, held by the first.
    let lease_until = async || devices::get(&store, device.id).await.expect("device").live_lease_until;
    let mut last = lease_until().await;
    let mut renewals = 0;
    let watched = Instant::now();
    while renewals < 2 {
        assert!(watched.elapsed() < Duration::from_secs(10), "the first instance stopped renewing its lease");
        let now = devices::get(&store, device.id).await.expect("device");
        assert_eq!(now.live_lease_owner.as_deref(), Some("instance-a"), "the lease stays with the first instance");
        assert_eq!(sim.stats().subscriptions, 1, "the second instance leaves the device to the first");
        if now.live_lease_until > last {
            renewals += 1;
            last = now.live_lease_until;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("the first instance renewed its lease twice in {:?} while the second looked on", watched.elapsed());
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

/// Runs `instance`'s supervisor on a runtime of its own, with its own connections to the database,
/// until `crash` is sent: then the runtime is torn down where it stands, as if the process died —
/// no connection closed politely, no lease given back.
fn crashable_supervisor(db: &TestDb, instance: &'static str) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (crash, crashed) = std::sync::mpsc::channel::<()>();
    let url = db.url.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        runtime.spawn(async move {
            let store = Store::open(&url, 2).await.expect("store");
            supervisor(&store, instance).run(CancellationToken::new()).await;
        });
        let _ = crashed.recv();
        runtime.shutdown_background();
    });
    (crash, thread)
}

async fn a_crashed_instance_s_device_is_taken_over_once_its_lease_expires(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let data = DeviceData::generate(5, 10, 7, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let (sim, device) = live_device(&store, data).await;
    let (crash_a, a) = crashable_supervisor(&db, "instance-a");
    eventually("the first subscription", async || sim.stats().subscriptions == 1).await;
    eventually("the first instance's lease", async || {
        devices::get(&store, device.id).await.expect("device").live_lease_owner.as_deref() == Some("instance-a")
    })
    .await;
    let stop_b = CancellationToken::new();
    let b = tokio::spawn(supervisor(&store, "instance-b").run(stop_b.clone()));

    // The first instance dies: its lease is still on the device, until it runs out.
    crash_a.send(()).expect("crash");
    a.join().expect("crashed runtime");
    let crashed_at = chrono::Utc::now().naive_utc();
    let held = devices::get(&store, device.id).await.expect("device");
    assert_eq!(held.live_lease_owner.as_deref(), Some("instance-a"), "a crash gives nothing back");
    let expires = held.live_lease_until.expect("lease end");
    assert!(expires > crashed_at, "the lease was still running at the crash");

    // Until the lease runs out the device stays with the dead instance: the second one, rescanning
    // every 100 ms, does not connect. Then it takes the device over.
    while chrono::Utc::now().naive_utc() < expires {
        assert_eq!(sim.stats().subscriptions, 1, "not taken over before the lease expired ({expires})");
        assert_eq!(devices::get(&store, device.id).await.expect("device").live_lease_owner.as_deref(), Some("instance-a"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = eventually("the take-over after the lease expired", async || sim.stats().subscriptions == 2).await;
    println!("lease ran out {:?} after the crash; taken over {took:?} after that", (expires - crashed_at).to_std().unwrap_or_default());
    assert_eq!(devices::get(&store, device.id).await.expect("device").live_lease_owner.as_deref(), Some("instance-b"));
    sim.punch("4", 0);
    eventually("the punch through the second instance", async || punches::count(&store).await.expect("count") == 1).await;
    stop_b.cancel();
    b.await.expect("supervisor b");
    sim.stop();
}

async fn a_device_gone_silent_is_caught_by_the_heartbeat_and_reconnected(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let data = DeviceData::generate(5, 10, 8, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let (sim, _device) = live_device(&store, data).await;
    let stop = CancellationToken::new();
    let running = tokio::spawn(supervisor(&store, "instance-a").run(stop.clone()));
    eventually("the live subscription", async || sim.stats().subscriptions == 1).await;

    // The device hangs with the connection still open: it answers nothing in time. No punch comes, so
    // only the heartbeat (after 300 ms of silence, bounded by the 2 s timeout) can notice.
    let silent = attendance_bridge::simulator::Faults { delay: Some(Duration::from_secs(30)), ..Default::default() };
    sim.set_faults(silent);
    let sessions_before = sim.stats().sessions;
    // Noticed: the bridge gives up on that connection and tries again (new sessions, unanswered).
    let noticed = eventually_within("a reconnection attempt", Duration::from_secs(15), async || sim.stats().sessions > sessions_before).await;
    println!("silent device noticed {noticed:?} after it hung");
    sim.set_faults(attendance_bridge::simulator::Faults::default());
    eventually_within("the subscription once the device answers again", Duration::from_secs(15), async || sim.stats().subscriptions >= 2).await;
    sim.punch("5", 0);
    eventually("a punch on the new connection", async || punches::count(&store).await.expect("count") == 1).await;
    stop.cancel();
    running.await.expect("supervisor");
    sim.stop();
}

async fn reconnection_attempts_back_off_up_to_the_cap(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    // Something answers on the device's port but is no device: each connection is accepted and closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let attempts = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let seen = std::sync::Arc::clone(&attempts);
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.lock().expect("attempts").push(Instant::now());
            drop(stream);
        }
    });
    let device = devices::insert(&store, &NewDevice::pull("Broken door", "127.0.0.1", address.port(), 0)).await.expect("device");
    devices::set_live_mode(&store, device.id, true).await.expect("live on");

    let settings = LiveSettings { max_backoff: Duration::from_secs(2), ..fast() };
    let config = Config { time_zone: attendance_bridge::config::TimeZone(chrono_tz::UTC), ..Config::default() };
    let stop = CancellationToken::new();
    let running = tokio::spawn(LiveSupervisor::new(store.clone(), &config, "instance-a").with_settings(settings).run(stop.clone()));
    eventually_within("four connection attempts", Duration::from_secs(20), async || attempts.lock().expect("attempts").len() >= 4).await;
    stop.cancel();
    running.await.expect("supervisor");
    acceptor.abort();

    let times = attempts.lock().expect("attempts").clone();
    let gaps: Vec<Duration> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
    println!("pauses between attempts: {gaps:?}");
    // One second after the first failure, then twice that, then no more than the 2 s cap. The upper
    // bounds leave most of a second for a loaded machine and still tell 1 s from 2 s from 4 s.
    assert!(gaps[0] >= Duration::from_millis(950) && gaps[0] < Duration::from_millis(1_900), "first pause about 1 s: {gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(1_950) && gaps[1] < Duration::from_millis(3_900), "then it doubles: {gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(1_950) && gaps[2] < Duration::from_millis(3_900), "then it stays at the cap: {gaps:?}");
}
