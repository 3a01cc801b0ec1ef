//! `daily_cleanup` deletes old raw punches only when everything they fed is processed and acknowledged
//! by the CRM; unsynced days, days waiting for processing and unapproved terminals keep theirs. It also
//! prunes job-run records after 90 days.

use attendance_bridge::config::Config;
use attendance_bridge::domain::{DeviceId, EmployeeId};
use attendance_bridge::pipeline::cleanup::DailyCleanup;
use attendance_bridge::pipeline::{Job as _, plugin_registry, process};
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::store::attendance::DaySelection;
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::{self, NewPunch};
use attendance_bridge::store::{Store, jobs, pending};
use bridge_e2e::crm::{mock_crm, sender, settings};
use bridge_e2e::{Backend, TestDb, on_both_backends};
use chrono::{TimeDelta, Utc};

on_both_backends!(
    old_punches_go_only_once_processed_and_synced,
    a_synced_day_waiting_to_be_processed_again_keeps_its_punches,
    job_runs_are_pruned_after_90_days,
);

async fn day_of_punches(store: &Store, device: DeviceId, employee: &str, days_ago: i64) {
    let date = (Utc::now() - TimeDelta::days(days_ago)).date_naive();
    let punches: Vec<NewPunch> = [(8, 0), (17, 0)]
        .into_iter()
        .enumerate()
        .map(|(i, (h, m))| bridge_e2e::utc_punch(device, employee, date.and_hms_opt(h, m, 0).expect("time").and_utc(), u8::try_from(i).unwrap_or(0)))
        .collect();
    punches::insert(store, &punches).await.expect("punches");
}

async fn old_punches_go_only_once_processed_and_synced(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let pending_terminal = devices::insert(&store, &NewDevice::push("Lobby", "SN-PENDING", false)).await.expect("device").id;
    // 1: old and recent days, all synced. 2: an old day processed but not synced. 3: an old day on a
    // terminal nobody approved yet (kept, not processed).
    day_of_punches(&store, gate, "1", 400).await;
    day_of_punches(&store, gate, "1", 10).await;
    day_of_punches(&store, gate, "2", 400).await;
    day_of_punches(&store, pending_terminal, "3", 400).await;
    let registry = plugin_registry(&config).expect("registry");
    process::run_processing(&store, &registry, &config).await.expect("processing");
    assert_eq!(pending::count(&store).await.expect("pending"), 0);
    let crm = mock_crm(Faults::default()).await;
    let only_1 = DaySelection { employee: Some(EmployeeId("1".into())), ..DaySelection::default() };
    sender(&store, &registry, settings(&crm, std::time::Duration::from_secs(5), 5)).run_selected(None, &only_1).await.expect("sync");

    let before = punches::count(&store).await.expect("count");
    let result = DailyCleanup::new(store.clone(), 365).run().await.expect("cleanup");
    let after = punches::count(&store).await.expect("count");
    println!("retention 365 days: {before} punches → {after}; {result}");
    assert_eq!(result["raw_punches_deleted"], 2, "only employee 1's old day");
    assert_eq!(after, before - 2);
    // Employee 1 keeps the recent day, employee 2 the unsynced old day; the unapproved terminal's
    // punches (not returned here, as they are not processed) are in the total above.
    let (from, to) = ((Utc::now() - TimeDelta::days(1000)).naive_utc(), (Utc::now() + TimeDelta::days(1)).naive_utc());
    for employee in ["1", "2"] {
        let kept = punches::for_employee_between(&store, &EmployeeId(employee.into()), from, to).await.expect("punches");
        assert_eq!(kept.len(), 2, "employee {employee}");
    }
    // Retention 0 keeps everything.
    assert_eq!(DailyCleanup::new(store.clone(), 0).run().await.expect("cleanup")["raw_punches_deleted"], 0);
}

/// A day that was processed and acknowledged by the CRM, then got a late punch: it waits for processing
/// again, so none of its punches may go yet (the new revision has not reached the CRM).
async fn a_synced_day_waiting_to_be_processed_again_keeps_its_punches(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    day_of_punches(&store, gate, "1", 400).await;
    day_of_punches(&store, gate, "4", 400).await;
    let registry = plugin_registry(&config).expect("registry");
    process::run_processing(&store, &registry, &config).await.expect("processing");
    let crm = mock_crm(Faults::default()).await;
    sender(&store, &registry, settings(&crm, std::time::Duration::from_secs(5), 5)).run_once(None).await.expect("sync");
    assert_eq!(crm.stats().applied, 2, "both old days acknowledged");

    // A late punch for employee 4's old day: the day waits for processing again.
    let date = (Utc::now() - TimeDelta::days(400)).date_naive();
    let late = bridge_e2e::utc_punch(gate, "4", date.and_hms_opt(12, 0, 0).expect("time").and_utc(), 2);
    punches::insert(&store, &[late]).await.expect("late punch");
    let waiting = pending::list(&store, 10).await.expect("pending");
    assert!(waiting.iter().all(|d| d.employee.0 == "4") && waiting.iter().any(|d| d.work_date == date), "{waiting:?}");

    let result = DailyCleanup::new(store.clone(), 365).run().await.expect("cleanup");
    println!("retention 365 days with a day waiting: {result}");
    assert_eq!(result["raw_punches_deleted"], 2, "employee 1's old day only");
    let (from, to) = ((Utc::now() - TimeDelta::days(1000)).naive_utc(), (Utc::now() + TimeDelta::days(1)).naive_utc());
    let kept = punches::for_employee_between(&store, &EmployeeId("4".into()), from, to).await.expect("punches");
    assert_eq!(kept.len(), 3, "the waiting day keeps all its punches, old and late");
}

async fn job_runs_are_pruned_after_90_days(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let now = Utc::now();
    let finished = async |job: &str, days_ago: i64| {
        let started = now - TimeDelta::days(days_ago);
        let id = jobs::start_run(&store, job, "test", started).await.expect("start");
        jobs::finish_run(&store, id, started + TimeDelta::minutes(1), &serde_json::json!({}), None).await.expect("finish");
        id
    };
    let old = finished("poll_devices", 91).await;
    let recent = finished("poll_devices", 89).await;
    // A run whose instance died long ago, never finished: kept (it is the only trace of that run).
    let unfinished = jobs::start_run(&store, "sync_to_crm", "gone", now - TimeDelta::days(120)).await.expect("start");

    let result = DailyCleanup::new(store.clone(), 0).run().await.expect("cleanup");
    assert_eq!(result["job_runs_deleted"], 1, "{result}");
    let left: Vec<i64> = jobs::recent_runs(&store, None, 100).await.expect("runs").iter().map(|r| r.id).collect();
    assert!(!left.contains(&old), "the 91-day-old run is gone: {left:?}");
    assert!(left.contains(&recent) && left.contains(&unfinished), "the 89-day-old and the unfinished run stay: {left:?}");
}
