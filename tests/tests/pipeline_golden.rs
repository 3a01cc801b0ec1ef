//! The pipeline computes what the rules say, on both backends: three simulated devices with generated
//! punches are polled (twice: the second adds no row) and processed through `standard-shifts.wasm`;
//! every stored day equals the day the standard rules, compiled natively, give for the same punches.
//!
//! The expectation is built straight from what the simulators hold (not through the host's input
//! builder or storage), so a punch lost, doubled, shifted in time or attributed to the wrong device
//! anywhere between the wire and the processed table shows up as a difference.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use attendance_bridge::config::Config;
use attendance_bridge::domain::EmployeeId;
use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::pipeline::{plugin_registry, process};
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::attendance::{self, ProcessedDay};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches;
use attendance_plugin_sdk::text as model;
use bridge_e2e::{Backend, TestDb, on_both_backends};
use chrono::NaiveDate;

on_both_backends!(three_devices_polled_and_processed_equal_the_rules_on_the_same_punches);

/// The comparable part of a day: what the CRM and the reports show.
#[derive(Debug, PartialEq, Eq)]
struct Day {
    status: String,
    clock_in: Option<chrono::NaiveDateTime>,
    clock_out: Option<chrono::NaiveDateTime>,
    worked_min: Option<i32>,
    payable_min: Option<i32>,
    late_min: Option<i32>,
    early_min: Option<i32>,
    flags: Vec<String>,
}

fn expected_day(r: &model::AttendanceRecord) -> Day {
    let utc = |t: &Option<String>| t.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.naive_utc());
    let mut flags = r.flags.clone();
    flags.sort();
    Day {
        status: r.status.clone(),
        clock_in: utc(&r.clock_in),
        clock_out: utc(&r.clock_out),
        worked_min: r.worked_min,
        payable_min: r.payable_min,
        late_min: r.late_min,
        early_min: r.early_min,
        flags,
    }
}

fn stored_day(d: &ProcessedDay) -> Day {
    Day {
        status: d.status.clone(),
        clock_in: d.clock_in_utc,
        clock_out: d.clock_out_utc,
        worked_min: d.worked_min,
        payable_min: d.payable_min,
        late_min: d.late_min,
        early_min: d.early_min,
        flags: serde_json::from_str(&d.flags).expect("flags"),
    }
}

async fn three_devices_polled_and_processed_equal_the_rules_on_the_same_punches(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let first_day = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
    let mut sims = Vec::new();
    for seed in 0..3u64 {
        let data = DeviceData::generate(20, 400, 300 + seed, first_day);
        let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("sim");
        let device = devices::insert(&store, &NewDevice::pull(&format!("Door {seed}"), "127.0.0.1", sim.address().port(), 0)).await.expect("device");
        sims.push((sim, device.id));
    }
    for round in 0..2 {
        let polled = poll::poll_all(&store, chrono_tz::UTC, "test", Duration::from_secs(5), None, PollOptions::default()).await.expect("poll");
        let stored: usize = polled.iter().map(|(_, r)| r.as_ref().expect("polled").stored).sum();
        assert_eq!(stored, if round == 0 { 1_200 } else { 0 }, "poll {round}");
        assert_eq!(punches::count(&store).await.expect("count"), 1_200, "polling twice adds no row");
    }

    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let registry = plugin_registry(&config).expect("registry");
    let report = process::run_processing(&store, &registry, &config).await.expect("processing");
    assert_eq!(report.failed, 0);

    // The rules' own answer for the same punches: the configured default shift (08:00-17:00, the
    // original's 3 h clock-out window) every day, each device's watermark as the poll recorded it.
    let stored_devices = devices::list(&store).await.expect("devices");
    let rule_devices: Vec<model::Device> = stored_devices
        .iter()
        .map(|d| model::Device {
            id: d.id.to_string(),
            tz: "UTC".into(),
            valid_from: None,
            watermark: d.watermark_at.map(|t| t.and_utc().to_rfc3339()),
            clock_offset_s: i64::from(d.clock_offset_s.unwrap_or(0)),
        })
        .collect();
    let template = model::Template { code: "DEFAULT".into(), start: "08:00".into(), end: "17:00".into(), late_out_window_min: 180, ..model::Template::default() };
    let mut by_employee: BTreeMap<String, Vec<model::Punch>> = BTreeMap::new();
    for (sim, device) in &sims {
        for (seq, r) in sim.data().attendance.iter().enumerate() {
            by_employee.entry(r.user_id.0.clone()).or_default().push(model::Punch {
                device: device.to_string(),
                seq: i64::try_from(seq).expect("seq"),
                time: r.time.0.format("%Y-%m-%dT%H:%M:%S").to_string(),
                state: r.state,
            });
        }
    }
    let mut compared = 0;
    for (employee, punches) in by_employee {
        let input = model::RulesInput {
            user_id: employee.clone(),
            site_tz: "UTC".into(),
            now: chrono::Utc::now().to_rfc3339(),
            devices: rule_devices.clone(),
            templates: BTreeMap::from([("DEFAULT".to_owned(), template.clone())]),
            roster: Vec::new(),
            weekly: Some(model::Weekly { days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(str::to_owned).to_vec(), shift: "DEFAULT".into() }),
            default_shift: Some("DEFAULT".into()),
            holidays: Vec::new(),
            punches,
            config: serde_json::Value::Null,
        };
        let expected = standard_rules::process(&input).expect("the rules accept the input");
        let expected: BTreeMap<(String, String), Day> =
            expected.records.iter().map(|r| ((r.date.clone(), r.shift.clone().unwrap_or_default()), expected_day(r))).collect();
        let stored: BTreeMap<(String, String), Day> = attendance::for_employee(&store, &EmployeeId(employee.clone()))
            .await
            .expect("days")
            .iter()
            .map(|d| ((d.work_date.to_string(), d.shift_code.clone()), stored_day(d)))
            .collect();
        // Every day with a punch in it, in either result, is in both and equal.
        let worked = |days: &BTreeMap<(String, String), Day>| -> BTreeSet<(String, String)> {
            days.iter().filter(|(_, d)| d.clock_in.is_some() || d.clock_out.is_some()).map(|(k, _)| k.clone()).collect()
        };
        let keys: BTreeSet<_> = worked(&expected).union(&worked(&stored)).cloned().collect();
        for key in keys {
            assert_eq!(stored.get(&key), expected.get(&key), "employee {employee}, day {key:?}: stored vs the rules");
            compared += 1;
        }
    }
    println!("{backend:?}: {compared} worked days compared with the rules, all equal");
    assert!(compared > 100, "the generated punches make many worked days ({compared})");
    for (sim, _) in sims {
        sim.stop();
    }
}
