//! R1 of the reliability checklist, the happy path end to end on both backends: three simulated devices
//! with 500 punches each → poll → process with the standard rules → sync to the local CRM. Every
//! processed day arrives once; the figures are printed.

use std::time::{Duration, Instant};

use attendance_bridge::config::Config;
use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::pipeline::{plugin_registry, process};
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{outbox, stats};
use bridge_e2e::crm::{drain, mock_crm, sender, settings};
use bridge_e2e::{Backend, TestDb, on_both_backends};
use chrono::NaiveDate;

on_both_backends!(r1_three_devices_to_the_crm_exactly_once);

async fn r1_three_devices_to_the_crm_exactly_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut sims = Vec::new();
    for seed in 0..3 {
        let data = DeviceData::generate(25, 500, 100 + seed, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
        let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("sim");
        devices::insert(&store, &NewDevice::pull(&format!("Device {seed}"), "127.0.0.1", sim.address().port(), 0)).await.expect("device");
        sims.push(sim);
    }
    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let registry = plugin_registry(&config).expect("registry");
    let crm = mock_crm(Faults::default()).await;

    let started = Instant::now();
    poll::poll_all(&store, chrono_tz::UTC, "test", Duration::from_secs(5), None, PollOptions::default()).await.expect("poll");
    let polled = started.elapsed();
    process::run_processing(&store, &registry, &config).await.expect("processing");
    let processed = started.elapsed();
    drain(&sender(&store, &registry, settings(&crm, Duration::from_secs(5), 5)), &store).await;
    let synced = started.elapsed();

    let counts = stats::counts(&store).await.expect("stats");
    let outbox = outbox::stats(&store).await.expect("outbox");
    let c = crm.stats();
    println!(
        "R1 ({backend:?}): {} punches from 3 devices → {} processed days → {} delivered, lost {}, dup@CRM {}; \
         poll {:.2}s, +process {:.2}s, +sync {:.2}s (end to end {:.2}s)",
        counts.raw_punches,
        counts.processed_days,
        c.applied,
        counts.processed_days - i64::try_from(c.applied).unwrap_or(0),
        c.duplicates,
        polled.as_secs_f64(),
        (processed - polled).as_secs_f64(),
        (synced - processed).as_secs_f64(),
        synced.as_secs_f64()
    );
    assert_eq!(counts.raw_punches, 1_500);
    assert!(counts.processed_days > 0);
    assert_eq!(i64::try_from(c.applied).unwrap_or(0), counts.processed_days, "every processed day arrived");
    assert_eq!((c.duplicates, outbox.synced, outbox.failed), (0, counts.processed_days, 0));
}
