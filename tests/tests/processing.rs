//! Poll → process → processed days, with the active rules plugin, on both backends; outliers
//! produce exactly one digest e-mail per run through a real SMTP conversation.

use std::time::Duration;

use attendance_bridge::config::{CommaList, Config, EmailBackend};
use attendance_bridge::domain::{DeviceId, EmployeeId};
use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::pipeline::{plugin_registry, process};
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::NewPunch;
use attendance_bridge::store::{attendance, outbox, pending};
use bridge_e2e::smtp_sink::SmtpSink;
use bridge_e2e::{Backend, TestDb};

bridge_e2e::on_both_backends!(
    polled_punches_become_days_and_outliers_one_digest,
    days_stay_pending_while_the_rules_plugin_fails,
    a_day_the_database_refuses_sets_its_employee_aside_and_the_rest_of_the_batch_is_stored
);

fn punches_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("punches.csv");
    // Default shift 08:00-17:00. 1001: a normal day; 1002: in 2 h 30 late (an outlier), twice the same day.
    std::fs::write(
        &path,
        "user_id,time,state,verify\n1001,2025-06-02 07:57:12,0,1\n1001,2025-06-02 17:03:40,1,1\n\
         1002,2025-06-02 10:30:00,0,1\n1002,2025-06-02 17:00:00,1,1\n",
    )
    .expect("write");
    path
}

async fn polled_punches_become_days_and_outliers_one_digest(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let data = DeviceData::load(&punches_file(db.dir.path())).expect("load");
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("sim");
    let address = sim.address();
    devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", address.port(), 0)).await.expect("device");
    poll::poll_all(&store, chrono_tz::UTC, "test", Duration::from_secs(3), None, PollOptions::default()).await.expect("poll");
    assert!(pending::count(&store).await.expect("pending") > 0);

    let sink = SmtpSink::start().await;
    let mut config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    config.email.outlier_notifications = true;
    config.email.outlier_recipients = CommaList(vec!["hr@example.com".into()]);
    config.email.backend = EmailBackend::Smtp;
    config.email.host = "127.0.0.1".into();
    config.email.port = sink.address.port();
    let registry = plugin_registry(&config).expect("registry");

    let report = process::run_processing(&store, &registry, &config).await.expect("processed");
    assert_eq!(report.failed, 0);
    assert_eq!(pending::count(&store).await.expect("pending"), 0, "processed days are no longer pending");
    let ann = attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days");
    let day = ann.iter().find(|d| d.work_date.to_string() == "2025-06-02").expect("the day");
    assert_eq!((day.status.as_str(), day.shift_code.as_str(), day.worked_min), ("present", "DEFAULT", Some(546)));
    assert_eq!((day.rule_plugin.as_str(), day.revision), ("standard-shifts", 1));
    let bob = attendance::for_employee(&store, &EmployeeId("1002".into())).await.expect("days");
    let late = bob.iter().find(|d| d.work_date.to_string() == "2025-06-02").expect("the day");
    assert!(late.flags.contains("in_outlier") && late.flags.contains("late"), "{}", late.flags);

    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one digest for the run");
    assert!(mails[0].data.contains("1002") && mails[0].data.contains("in_outlier"), "{}", mails[0].data);

    // Processing the same punches again changes nothing and sends nothing.
    pending::mark_range(&store, "2025-06-01".parse().expect("d"), "2025-06-03".parse().expect("d")).await.expect("mark");
    let again = process::run_processing(&store, &registry, &config).await.expect("processed");
    assert_eq!(again.days_written, 0);
    assert_eq!(sink.messages().len(), 1, "never the same outlier twice");
    assert_eq!(attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days")[0].revision, 1);
}

/// A punch of `employee` on 2 June 2025 at `h`:00 UTC: in before noon, out after.
fn june_2(device: DeviceId, employee: &str, h: u32) -> NewPunch {
    let time = chrono::NaiveDate::from_ymd_opt(2025, 6, 2).and_then(|d| d.and_hms_opt(h, 0, 0)).expect("time").and_utc();
    bridge_e2e::utc_punch(device, employee, time, u8::from(h >= 12))
}

/// The rules plugin traps for one employee: that employee's days stay pending with the error recorded
/// (nothing written, nothing queued for the CRM), the others are processed, and once a working plugin
/// is active the waiting days go through.
async fn days_stay_pending_while_the_rules_plugin_fails(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let device = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let at = |employee: &str, h: u32| june_2(device, employee, h);
    // The test plugin traps (panics) for the user id "trap" and returns an empty output for anyone
    // else, which the output contract refuses for someone who punched: both fail, each with its own
    // named error, and neither stops the other.
    attendance_bridge::store::punches::insert(&store, &[at("trap", 8), at("trap", 17), at("1001", 8), at("1001", 17)]).await.expect("punches");
    let mut config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    std::fs::create_dir_all(config.plugins_dir()).expect("plugins dir");
    std::fs::copy(bridge_e2e::plugins::evil_plugin(), config.plugins_dir().join("evil_plugin.wasm")).expect("install the plugin");
    config.plugins.rules = "evil_plugin".into();
    let registry = plugin_registry(&config).expect("registry");

    for attempt in 1..=2 {
        let report = process::run_processing(&store, &registry, &config).await.expect("the run itself completes");
        assert_eq!((report.failed, report.employees), (2, 0), "attempt {attempt}: {report:?}");
        // Each one's punch day (and the day before, marked in case the punches close a night shift) waits.
        let waiting = pending::list(&store, 10).await.expect("pending");
        for employee in ["trap", "1001"] {
            assert!(waiting.iter().any(|d| d.employee.0 == employee && d.work_date.to_string() == "2025-06-02"), "{employee}: {waiting:?}");
        }
        for day in &waiting {
            assert_eq!(day.attempts, attempt, "each failed run is counted: {day:?}");
            let error = day.last_error.as_deref().expect("the error is kept");
            let named = if day.employee.0 == "trap" { "traps on purpose" } else { "no record" };
            assert!(error.contains("evil_plugin") && error.contains(named), "{error}");
        }
        for employee in ["trap", "1001"] {
            assert!(attendance::for_employee(&store, &EmployeeId(employee.into())).await.expect("days").is_empty(), "nothing written");
        }
        assert_eq!(outbox::stats(&store).await.expect("outbox").pending, 0, "nothing queued for the CRM");
    }

    // The working rules are back: the waiting day is processed.
    config.plugins.rules = "standard-shifts".into();
    let report = process::run_processing(&store, &registry, &config).await.expect("processed");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(pending::count(&store).await.expect("pending"), 0);
    let mut written = 0;
    for employee in ["trap", "1001"] {
        let days = attendance::for_employee(&store, &EmployeeId(employee.into())).await.expect("days");
        assert!(days.iter().any(|d| d.work_date.to_string() == "2025-06-02"), "{employee}: {days:?}");
        written += days.len();
    }
    let queued = outbox::stats(&store).await.expect("outbox").pending;
    assert_eq!(queued, i64::try_from(written).expect("few"), "each written day queued for the CRM once");
}

/// A trigger that makes the database refuse any processed day of employee `REFUSED`, as a constraint
/// or a value it cannot hold would: the statement fails while the database goes on answering.
fn refuse_trigger(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_one BEFORE INSERT ON processed_attendance WHEN NEW.user_id = 'REFUSED' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN \
               IF NEW.user_id = 'REFUSED' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; \
             END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_one BEFORE INSERT ON processed_attendance FOR EACH ROW EXECUTE FUNCTION refuse_one();"
        }
    }
}

async fn a_day_the_database_refuses_sets_its_employee_aside_and_the_rest_of_the_batch_is_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let device = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let at = |employee: &str, h: u32| june_2(device, employee, h);
    // One batch (the plugin's batch is 100 employees): the refused employee among four others.
    let employees = ["1001", "1002", "REFUSED", "1003", "1004"];
    let punches: Vec<_> = employees.iter().flat_map(|e| [at(e, 8), at(e, 17)]).collect();
    attendance_bridge::store::punches::insert(&store, &punches).await.expect("punches");
    db.execute(refuse_trigger(backend)).await;
    let config = Config { data_dir: bridge_e2e::plugins::data_dir(&db.dir.path().join("data")), ..Config::default() };
    let registry = plugin_registry(&config).expect("registry");

    let report = process::run_processing(&store, &registry, &config).await.expect("the run itself completes");
    assert_eq!((report.failed, report.employees), (1, 4), "{report:?}");
    for employee in ["1001", "1002", "1003", "1004"] {
        let days = attendance::for_employee(&store, &EmployeeId(employee.into())).await.expect("days");
        assert!(days.iter().any(|d| d.work_date.to_string() == "2025-06-02"), "{employee} is stored: {days:?}");
    }
    assert!(attendance::for_employee(&store, &EmployeeId("REFUSED".into())).await.expect("days").is_empty());
    let waiting = pending::list(&store, 10).await.expect("pending");
    assert!(!waiting.is_empty() && waiting.iter().all(|d| d.employee.0 == "REFUSED"), "only the refused employee waits: {waiting:?}");
    let error = waiting.iter().find_map(|d| d.last_error.clone()).expect("the error is kept");
    assert!(error.contains("refused by the test"), "{error}");
    let queued = outbox::stats(&store).await.expect("outbox").pending;

    // Once the database takes the day, the next run stores it, and each day is queued for the CRM once.
    db.execute(match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_one",
        Backend::Postgres => "DROP TRIGGER refuse_one ON processed_attendance",
    })
    .await;
    let report = process::run_processing(&store, &registry, &config).await.expect("processed");
    assert_eq!((report.failed, report.employees), (0, 1), "{report:?}");
    assert_eq!(pending::count(&store).await.expect("pending"), 0);
    let refused = attendance::for_employee(&store, &EmployeeId("REFUSED".into())).await.expect("days");
    assert_eq!(outbox::stats(&store).await.expect("outbox").pending, queued + i64::try_from(refused.len()).expect("few"));
}
