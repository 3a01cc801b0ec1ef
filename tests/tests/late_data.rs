//! Scenarios S39 and S40 of the shift rules, end to end (`../shared/shift-rules.md`): they span several
//! processing runs, so they belong to the pipeline rather than to the pure plugin. Late data from a
//! second device makes a new revision of the day, and that revision is what the CRM receives next.

use attendance_bridge::config::Config;
use attendance_bridge::domain::{DeviceId, EmployeeId};
use attendance_bridge::pipeline::{plugin_registry, process};
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::store::attendance::{self, ProcessedDay};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches;
use attendance_bridge::store::{Store, outbox};
use bridge_e2e::crm::{drain, mock_crm, sender, settings};
use bridge_e2e::{Backend, TestDb, on_both_backends};
use chrono::{DateTime, NaiveDate, Utc};

on_both_backends!(s39_a_day_waits_for_every_device, s40_late_data_amends_a_final_day_and_the_crm_gets_the_new_revision);

const EMPLOYEE: &str = "1001";

fn at(text: &str) -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("time").and_utc()
}

async fn punch(store: &Store, device: DeviceId, time: &str, state: u8) {
    let new = bridge_e2e::utc_punch(device, EMPLOYEE, at(time), state);
    punches::insert(store, &[new]).await.expect("punch");
}

async fn two_devices(store: &Store) -> (DeviceId, DeviceId) {
    let a = devices::insert(store, &NewDevice::pull("A", "127.0.0.1", 4370, 0)).await.expect("A").id;
    let b = devices::insert(store, &NewDevice::pull("B", "127.0.0.1", 4371, 0)).await.expect("B").id;
    (a, b)
}

async fn the_day(store: &Store) -> ProcessedDay {
    let days = attendance::for_employee(store, &EmployeeId(EMPLOYEE.into())).await.expect("days");
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
    days.into_iter().find(|d| d.work_date == date).expect("2025-06-02 processed")
}

async fn process(store: &Store, config: &Config) {
    let registry = plugin_registry(config).expect("registry");
    let report = process::run_processing(store, &registry, config).await.expect("processing");
    assert_eq!(report.failed, 0);
}

async fn s39_a_day_waits_for_every_device(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let (a, b) = two_devices(&store).await;
    devices::record_poll(&store, a, Utc::now(), 0, Utc::now()).await.expect("A polled");
    devices::record_poll(&store, b, at("2025-06-02 16:00"), 0, at("2025-06-02 16:00")).await.expect("B polled at 16:00");
    punch(&store, a, "2025-06-02 08:55", 0).await;
    punch(&store, a, "2025-06-02 17:05", 1).await;
    process(&store, &config).await;
    let first = the_day(&store).await;
    println!("S39 (a): B's data ends at 16:00 → {} out {:?}, final {}, revision {}", first.status, first.clock_out_local, first.is_final, first.revision);
    assert!(!first.is_final, "B may still hold punches of that day");

    devices::record_poll(&store, b, at("2025-06-02 21:00"), 0, at("2025-06-02 21:00")).await.expect("B polled at 21:00");
    punch(&store, b, "2025-06-02 17:40", 1).await;
    process(&store, &config).await;
    let second = the_day(&store).await;
    println!("S39 (b): B delivers 17:40 → {} out {:?}, worked {:?}, final {}, revision {}", second.status, second.clock_out_local, second.worked_min, second.is_final, second.revision);
    assert!(second.is_final);
    assert_eq!(second.revision, 2);
    assert_eq!(second.clock_out_local, Some(at("2025-06-02 17:40").naive_utc()));
    assert!(!second.flags.contains("amended"), "the first version was provisional, so this is no amendment");
}

async fn s40_late_data_amends_a_final_day_and_the_crm_gets_the_new_revision(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let (a, b) = two_devices(&store).await;
    devices::record_poll(&store, a, Utc::now(), 0, Utc::now()).await.expect("A polled");
    devices::record_poll(&store, b, Utc::now(), 0, Utc::now()).await.expect("B polled");
    punch(&store, a, "2025-06-02 08:55", 0).await;
    process(&store, &config).await;
    let first = the_day(&store).await;
    assert_eq!((first.status.as_str(), first.is_final, first.revision), ("incomplete", true, 1));
    assert!(first.flags.contains("missing_out"), "{}", first.flags);

    let crm = mock_crm(Faults::default()).await;
    let registry = plugin_registry(&config).expect("registry");
    let s = sender(&store, &registry, settings(&crm, std::time::Duration::from_secs(5), 5));
    drain(&s, &store).await;
    assert_eq!(crm.stats().applied, 1);

    // Days later, B's clock-out arrives.
    punch(&store, b, "2025-06-02 17:04", 1).await;
    process(&store, &config).await;
    let second = the_day(&store).await;
    println!("S40: after B's 17:04 → {} worked {:?} flags {} revision {}", second.status, second.worked_min, second.flags, second.revision);
    assert_eq!((second.status.as_str(), second.revision), ("present", 2));
    assert!(second.flags.contains("amended"), "{}", second.flags);

    drain(&s, &store).await;
    let records = crm.records();
    let order = crm.applied_order();
    assert_eq!(order.len(), 2, "the CRM got revision 1, then revision 2");
    let latest = &records[&order[1]];
    println!("S40: the CRM's latest record: {latest}");
    assert_eq!((latest["revision"].as_i64(), latest["status"].as_str()), (Some(2), Some("present")));
    assert!(latest["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "amended")));
    assert_eq!(latest["device_name"], "A", "the clock-in's terminal");
    assert_eq!(outbox::stats(&store).await.expect("stats").synced, 1);
}
