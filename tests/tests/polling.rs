//! Polling pulled devices into storage, on both backends: idempotent, all-or-nothing, days marked.

use std::time::Duration;

use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::simulator::{DeviceData, Faults, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{Store, pending, punches, stats};
use bridge_e2e::{Backend, TestDb};
use chrono::NaiveDate;

bridge_e2e::on_both_backends!(three_devices_polled_twice_store_each_punch_once, a_repoll_skips_the_known_log_and_a_cleared_log_is_read_again, a_drop_mid_download_stores_nothing_then_everything, a_late_night_punch_marks_the_previous_day);

const TIMEOUT: Duration = Duration::from_secs(3);

async fn simulated(seed: u64, punches: usize, faults: Faults) -> SimulatedDevice {
    let data = DeviceData::generate(15, punches, seed, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let config = SimConfig { faults, ..SimConfig::default() };
    SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), config, data).await.expect("simulator")
}

async fn register(store: &Store, name: &str, sim: &SimulatedDevice) {
    let address = sim.address();
    devices::insert(store, &NewDevice::pull(name, &address.ip().to_string(), address.port(), 0)).await.expect("device");
}

async fn three_devices_polled_twice_store_each_punch_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sims = [simulated(1, 700, Faults::default()).await, simulated(2, 500, Faults::default()).await, simulated(3, 300, Faults::default()).await];
    for (i, sim) in sims.iter().enumerate() {
        register(&store, &format!("Device {i}"), sim).await;
    }
    let first = poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|(_, r)| r.as_ref().is_ok_and(|r| r.polled)), "{first:?}");
    assert_eq!(punches::count(&store).await.expect("count"), 1500);
    let counts = stats::counts(&store).await.expect("stats");
    assert_eq!(counts.employees, 15, "device user lists become employees");

    let second = poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    assert!(second.iter().all(|(_, r)| r.as_ref().is_ok_and(|r| r.stored == 0)), "a second poll adds no row");
    assert_eq!(punches::count(&store).await.expect("count"), 1500);
    for (device, _) in &second {
        let device = devices::get(&store, device.id).await.expect("device");
        assert!(device.last_sync_at.is_some() && device.watermark_at.is_some() && device.clock_offset_s.is_some());
        assert_eq!(device.last_error, None);
    }
    // Each stored punch is exactly what its device holds.
    for (i, sim) in sims.iter().enumerate() {
        let device = &devices::list(&store).await.expect("list")[i];
        let stored = punches::list_for_device(&store, device.id).await.expect("list");
        let mut held: Vec<_> = sim.data().attendance.iter().map(|r| (r.user_id.clone(), r.time)).collect();
        held.sort();
        let mut got: Vec<_> = stored.iter().map(|p| (p.employee.clone(), p.local_time)).collect();
        got.sort();
        assert_eq!(got, held, "{}", device.name);
    }
}

async fn a_drop_mid_download_stores_nothing_then_everything(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sim = simulated(4, 4000, Faults { drop_after_bytes: Some(60_000), ..Faults::default() }).await;
    register(&store, "Flaky", &sim).await;
    let outcome = poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    assert!(outcome[0].1.is_err(), "the dropped download is an error");
    assert_eq!(punches::count(&store).await.expect("count"), 0, "nothing partial is stored");
    let device = &devices::list(&store).await.expect("list")[0];
    assert!(device.last_error.is_some(), "the error is visible on the device");

    sim.set_faults(Faults::default());
    let outcome = poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    assert_eq!(outcome[0].1.as_ref().expect("polled").stored, 4000);
    assert_eq!(punches::count(&store).await.expect("count"), 4000);
    assert!(sim.stats().enabled);
}

async fn a_late_night_punch_marks_the_previous_day(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), DeviceData::default()).await.expect("sim");
    register(&store, "Night gate", &sim).await;
    poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    assert_eq!(pending::count(&store).await.expect("pending"), 0);
    // A punch the device records now (say 02:00 on the night shift) arrives in a later poll.
    let record = sim.punch("1001", 1);
    poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default()).await.expect("poll");
    let days: Vec<NaiveDate> = pending::list(&store, 10).await.expect("pending").into_iter().map(|d| d.work_date).collect();
    let day = record.time.0.date();
    assert!(days.contains(&day) && days.contains(&day.pred_opt().expect("day before")), "{days:?}");
}

/// The second poll recognises the log it stored (same record at the same position) and only looks at
/// what follows; a log that no longer matches (cleared, replaced) is read in full again, still without
/// duplicates.
async fn a_repoll_skips_the_known_log_and_a_cleared_log_is_read_again(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sim = simulated(4, 400, Faults::default()).await;
    register(&store, "Gate", &sim).await;
    let poll = || poll::poll_all(&store, chrono_tz::UTC, "test", TIMEOUT, None, PollOptions::default());
    let first = poll().await.expect("poll");
    let report = first[0].1.as_ref().expect("polled");
    assert_eq!((report.downloaded, report.already_known, report.stored), (400, 0, 400));

    sim.punch("1", 0);
    sim.punch("2", 1);
    let second = poll().await.expect("poll");
    let report = second[0].1.as_ref().expect("polled");
    assert_eq!((report.downloaded, report.already_known, report.stored), (402, 400, 2), "only the two new records were looked at");

    // A mark that no longer matches the device: everything is read again, nothing is stored twice.
    let device = devices::list(&store).await.expect("list").remove(0);
    devices::record_log_mark(&store, device.id, 402, Some("someone|else|0")).await.expect("mark");
    let third = poll().await.expect("poll");
    let report = third[0].1.as_ref().expect("polled");
    assert_eq!((report.downloaded, report.already_known, report.stored), (402, 0, 0));
    assert_eq!(punches::count(&store).await.expect("count"), 402);
}
