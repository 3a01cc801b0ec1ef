//! `plugin preview` shows which stored days a candidate rules plugin would change, writing nothing;
//! `plugin activate` makes it the plugin of the next processing run and the previous one rolls back.

use attendance_bridge::domain::{DeviceId, EmployeeId};
use attendance_bridge::store::attendance;
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::{self, NewPunch};
use bridge_e2e::{Backend, TestDb, bridge_command, on_both_backends};
use chrono::{NaiveDate, TimeDelta, Utc};

on_both_backends!(preview_the_example_plugin_then_activate_and_roll_back);

fn bridge(db: &TestDb, args: &[&str]) -> String {
    let out = bridge_command(db.dir.path())
        .args(args)
        .env("DATABASE_URL", db.database_url())
        .env("BRIDGE_DATA_DIR", bridge_e2e::plugins::data_dir(&db.dir.path().join("data")))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

fn punch(device: DeviceId, employee: &str, date: NaiveDate, h: u32, m: u32, state: u8) -> NewPunch {
    bridge_e2e::utc_punch(device, employee, date.and_hms_opt(h, m, 0).expect("time").and_utc(), state)
}

async fn preview_the_example_plugin_then_activate_and_roll_back(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let day = (Utc::now() - TimeDelta::days(3)).date_naive();
    // 1001 punches off the quarter hours (rounding changes the day); 1002 exactly on them (no change).
    let batch = [
        punch(gate, "1001", day, 8, 7, 0),
        punch(gate, "1001", day, 16, 53, 1),
        punch(gate, "1002", day, 8, 0, 0),
        punch(gate, "1002", day, 17, 0, 1),
    ];
    punches::insert(&store, &batch).await.expect("punches");
    bridge(&db, &["process-attendance"]);
    let before = attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days");

    let preview = bridge(&db, &["plugin", "preview", "quarter-hour", "--days", "7"]);
    println!("{preview}");
    let changed: Vec<&str> = preview.lines().filter(|l| l.starts_with("1001 ") || l.starts_with("1002 ")).collect();
    assert_eq!(changed.len(), 1, "only 1001's day changes: {preview}");
    assert!(changed[0].starts_with(&format!("1001 {day}")) && changed[0].contains("→"), "{preview}");
    assert!(preview.contains("1 would change") && preview.contains("nothing was written"), "{preview}");
    assert_eq!(attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days"), before, "a preview writes nothing");

    let activated = bridge(&db, &["plugin", "activate", "quarter-hour"]);
    assert!(activated.contains("was standard-shifts"), "{activated}");
    let range = [day.to_string(), day.to_string()];
    bridge(&db, &["process-attendance", "--start-date", &range[0], "--end-date", &range[1]]);
    let after = attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days");
    let today = after.iter().find(|d| d.work_date == day).expect("the day");
    assert_eq!((today.rule_plugin.as_str(), today.revision), ("quarter-hour", 2));

    let rolled_back = bridge(&db, &["plugin", "activate", "standard-shifts"]);
    assert!(rolled_back.contains("was quarter-hour"), "{rolled_back}");
    bridge(&db, &["process-attendance", "--start-date", &range[0], "--end-date", &range[1]]);
    let again = attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days");
    assert_eq!(again.iter().find(|d| d.work_date == day).expect("the day").rule_plugin, "standard-shifts");
}
