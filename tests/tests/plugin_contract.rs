//! Plugin results are checked before anything is stored (issue 15): a shift-rules plugin breaking
//! the output contract fails that employee's batch with an error naming plugin, version, employee,
//! date, field and value, and the days stay pending; a panic carries its message and line, a trap
//! its code; an endless loop costs one time limit per run, not one per employee; a CRM mapping
//! smuggling headers or a 50 MB body keeps its deliveries queued. Then the standard plugins process
//! the same days (and deliver the same deliveries) correctly. Storage cases on both backends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_bridge::config::Config;
use attendance_bridge::domain::{DeviceId, EmployeeId};
use attendance_bridge::pipeline::{plugin_registry, preview, process};
use attendance_bridge::plugins::{Limits, PluginError, PluginRuntime, Registry};
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::store::attendance::{self, Upserted};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{Store, outbox, pending, punches};
use attendance_bridge::sync::payload::Renderer;
use attendance_bridge::sync::sender::Sender;
use attendance_plugin_sdk::text::RulesInput;
use bridge_e2e::crm::{day_content, mock_crm, settings};
use bridge_e2e::{Backend, TestDb, on_both_backends};
use chrono::NaiveDate;

on_both_backends!(
    each_broken_output_is_named_the_days_stay_pending_then_the_standard_plugin_processes_them,
    an_endless_loop_across_50_employees_costs_one_time_limit_and_defers_the_rest,
    a_rogue_crm_mapping_keeps_its_deliveries_queued_then_crm_json_delivers_them,
    preview_reports_a_bad_candidate_and_activate_refuses_it_unless_forced,
);

const DAY: &str = "2025-06-02";

fn day() -> NaiveDate {
    DAY.parse().expect("date")
}

/// A config whose plugins folder holds the rogue rules as `rogue-rules.wasm`, selected with
/// `RULES_PLUGIN`; memory generous enough that 100,000 records reach the host's check.
fn rogue_config(db: &TestDb, time_limit_ms: u64) -> Config {
    let dir = db.dir.path().join("plugins");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(bridge_e2e::plugins::rogue_rules_plugin(), dir.join("rogue-rules.wasm")).expect("copy");
    let mut config = Config { data_dir: db.dir.path().join("data"), ..Config::default() };
    config.plugins.dir = Some(dir);
    config.plugins.rules = "rogue-rules".into();
    config.plugins.memory_mb = 256;
    config.plugins.time_limit_ms = time_limit_ms;
    config
}

async fn punch_a_day(store: &Store, gate: DeviceId, employees: &[String]) {
    let at = |h: u32, m: u32| day().and_hms_opt(h, m, 0).expect("time").and_utc();
    let batch: Vec<_> = employees
        .iter()
        .flat_map(|e| [bridge_e2e::utc_punch(gate, e, at(7, 57), 0), bridge_e2e::utc_punch(gate, e, at(17, 3), 1)])
        .collect();
    punches::insert(store, &batch).await.expect("punches");
}

async fn pending_errors(store: &Store) -> BTreeMap<String, Vec<(NaiveDate, Option<String>)>> {
    let mut by_employee: BTreeMap<String, Vec<(NaiveDate, Option<String>)>> = BTreeMap::new();
    for day in pending::list(store, 10_000).await.expect("pending") {
        by_employee.entry(day.employee.0.clone()).or_default().push((day.work_date, day.last_error));
    }
    by_employee
}

async fn each_broken_output_is_named_the_days_stay_pending_then_the_standard_plugin_processes_them(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    // Employee code → what the error must say (besides plugin, version, employee and date).
    let cases: [(&str, &str); 12] = [
        ("date", "date = \"2031-01-01\": not a day the input covers"),
        ("status", "status = \"hacked\": not a documented status"),
        ("time", "clock_in = \"not-a-time\": not an RFC 3339 time"),
        ("order", "clock_out = \"2025-06-02T07:57:00+00:00\": clock-out before clock-in"),
        ("negative", "worked_min = \"-5000\": not within 0..="),
        ("huge", "payable_min = \"2147483647\": not within 0..="),
        ("flag", "flags = \"<script>alert(1)</script>\": a flag is at most 64 characters"),
        ("reason", "(… 1048576 bytes): at most 1024 bytes"),
        ("many", "records = \"100000 records\": more records than days × shifts"),
        ("empty", "records = \"no records\": no record, unassigned or review entry"),
        ("panic", "plugin rogue-rules 1.2.0 panicked at src/lib.rs:"),
        ("trap", "plugin rogue-rules: trapped: wasm trap: wasm `unreachable` instruction executed"),
    ];
    let mut employees: Vec<String> = cases.iter().map(|(e, _)| format!("{e}-1")).collect();
    employees.push("fine-1".into());
    punch_a_day(&store, gate, &employees).await;
    let pending_before = pending::count(&store).await.expect("count");

    let config = rogue_config(&db, 2_000);
    let registry = plugin_registry(&config).expect("registry");
    let report = process::run_processing(&store, &registry, &config).await.expect("run");
    println!("rogue run: {report:?}");
    assert_eq!((report.failed, report.employees, report.deferred), (12, 1, 0), "every broken output fails its employee alone");
    assert_eq!(report.no_result, 1, "fine-1's day before its punches: cleared, counted");

    let pending = pending_errors(&store).await;
    for (employee, expected) in cases {
        let code = format!("{employee}-1");
        let days = pending.get(&code).unwrap_or_else(|| panic!("{code}'s days stay pending"));
        assert!(days.iter().any(|(d, _)| *d == day()), "{code}: {days:?}");
        let error = days[0].1.clone().unwrap_or_default();
        println!("{code}: {error}");
        assert!(error.contains(expected), "{code}: {error}");
        assert!(error.len() < 600, "{code}: the error is shown short: {} bytes", error.len());
        if !matches!(employee, "panic" | "trap") {
            let named = format!("plugin rogue-rules 1.2.0 broke the output contract for employee {code}");
            assert!(error.starts_with(&named), "{code}: {error}");
        }
        assert!(attendance::for_employee(&store, &EmployeeId(code.clone())).await.expect("days").is_empty(), "{code}: nothing stored");
    }
    let panic = &pending["panic-1"][0].1.clone().unwrap_or_default();
    assert!(panic.contains("index out of bounds: the len is 0 but the index is 9"), "{panic}");
    assert!(!pending["trap-1"][0].1.clone().unwrap_or_default().contains("backtrace"), "one line, no raw backtrace");
    assert!(!pending.contains_key("fine-1"), "the valid output was stored and its days cleared");
    assert!(pending::count(&store).await.expect("count") < pending_before);

    // The standard plugin then processes the same days correctly.
    let config = Config { plugins: attendance_bridge::config::PluginSettings { rules: "standard-shifts".into(), ..config.plugins.clone() }, ..config };
    let registry = plugin_registry(&config).expect("registry");
    let report = process::run_processing(&store, &registry, &config).await.expect("run");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(pending::count(&store).await.expect("count"), 0);
    for (employee, _) in cases {
        let days = attendance::for_employee(&store, &EmployeeId(format!("{employee}-1"))).await.expect("days");
        let stored = days.iter().find(|d| d.work_date == day()).unwrap_or_else(|| panic!("{employee}: the day"));
        assert_eq!((stored.status.as_str(), stored.worked_min, stored.rule_plugin.as_str()), ("present", Some(546), "standard-shifts"), "{employee}");
    }
    // A punch also marks the day before (in case of a night shift); it gets no record of its own and
    // is cleared, but counted.
    assert_eq!(report.no_result, 12, "{report:?}");
}

async fn an_endless_loop_across_50_employees_costs_one_time_limit_and_defers_the_rest(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let employees: Vec<String> = (1..=50).map(|n| format!("loop-{n:02}")).collect();
    punch_a_day(&store, gate, &employees).await;
    let limit = Duration::from_millis(1_000);
    let config = rogue_config(&db, 1_000);
    let registry = plugin_registry(&config).expect("registry");
    registry.get("rogue-rules").expect("compiled before the clock starts");
    let started = Instant::now();
    let report = process::run_processing(&store, &registry, &config).await.expect("run");
    let elapsed = started.elapsed();
    println!("endless loop over 50 employees: {elapsed:?}, {report:?}");
    assert!(elapsed < limit + Duration::from_secs(1), "{elapsed:?}");
    assert_eq!((report.failed, report.deferred, report.employees), (1, 49, 0));
    let reason = report.stopped.clone().expect("the run says why it stopped");
    assert!(reason.contains("time limit of 1000 ms"), "{reason}");
    let pending = pending_errors(&store).await;
    assert_eq!(pending.len(), 50, "every employee's days stay pending");
    assert!(pending["loop-01"][0].1.as_deref().is_some_and(|e| e.contains("time limit")), "{:?}", pending["loop-01"]);
    assert!(pending["loop-02"][0].1.is_none(), "a deferred employee is not a failure");

    // The job's recorded counts carry the figures and the reason.
    let job = attendance_bridge::pipeline::process::ProcessAttendance::new(store.clone(), Arc::clone(&registry), config.clone());
    let counts = attendance_bridge::pipeline::Job::run(&job).await.expect("job");
    assert_eq!((counts["failed"].as_u64(), counts["deferred"].as_u64()), (Some(1), Some(49)), "{counts}");
    assert!(counts["stopped"].as_str().is_some_and(|s| s.contains("time limit")), "{counts}");

    // The next run with the standard plugin processes them all.
    let config = Config { plugins: attendance_bridge::config::PluginSettings { rules: "standard-shifts".into(), ..config.plugins.clone() }, ..config };
    let registry = plugin_registry(&config).expect("registry");
    let report = process::run_processing(&store, &registry, &config).await.expect("run");
    assert_eq!((report.failed, report.deferred, report.employees), (0, 0, 50), "{report:?}");
    assert_eq!(pending::count(&store).await.expect("count"), 0);
}

async fn a_rogue_crm_mapping_keeps_its_deliveries_queued_then_crm_json_delivers_them(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let dir = db.dir.path().join("plugins");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(bridge_e2e::plugins::rogue_crm_plugin(), dir.join("rogue-crm.wasm")).expect("copy");
    // Memory for a 50 MB body to reach the host's check (under the default cap it stops earlier).
    let runtime = PluginRuntime::new(Limits { time_limit_ms: 10_000, memory_mb: 512 }, None).expect("engine");
    let registry = Arc::new(Registry::new(runtime, Some(dir)));
    for employee in ["inject", "auth", "big", "fine"] {
        let outcome = attendance::upsert(&store, &EmployeeId(employee.into()), day(), "", &day_content(day(), 480)).await.expect("day");
        assert_eq!(outcome, Upserted::Inserted);
    }
    let crm = mock_crm(Faults::default()).await;
    let rogue = Sender::new(store.clone(), settings(&crm, Duration::from_secs(2), 5), Renderer::new(store.clone(), Arc::clone(&registry), "rogue-crm"), "test")
        .expect("sender");
    rogue.run_once(None).await.expect("run");
    let expected = [
        ("inject", "headers[1].value = \"ok\\r\\nAuthorization: Bearer stolen\": not a header value"),
        ("auth", "headers[1].name = \"Authorization\": a header the bridge sets itself"),
        ("big", "body = \"52428"),
    ];
    for (id, (employee, message)) in (1..=3).zip(expected) {
        let rows = outbox::for_day(&store, id).await.expect("rows");
        let row = rows.last().expect("a delivery");
        let error = row.last_error.clone().unwrap_or_default();
        println!("{employee}: {} {error}", row.status);
        assert_eq!(row.status, outbox::PENDING, "{employee} stays queued");
        assert!(row.body.is_none(), "{employee}: nothing was frozen");
        assert!(error.contains(&format!("plugin rogue-crm 1.2.0 broke the output contract for employee {employee} on {DAY}")), "{error}");
        assert!(error.contains(message), "{employee}: {error}");
    }
    assert_eq!(crm.records().len(), 1, "only the valid request went out");

    // crm-json then delivers the same deliveries.
    let standard = Sender::new(store.clone(), settings(&crm, Duration::from_secs(2), 5), Renderer::new(store.clone(), Arc::clone(&registry), "crm-json"), "test")
        .expect("sender");
    for _ in 0..100 {
        standard.run_once(None).await.expect("run");
        if outbox::stats(&store).await.expect("stats").pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(crm.records().len(), 4, "every day arrives once");
}

async fn preview_reports_a_bad_candidate_and_activate_refuses_it_unless_forced(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let recent = (chrono::Utc::now() - chrono::TimeDelta::days(3)).date_naive();
    let at = |h: u32| recent.and_hms_opt(h, 0, 0).expect("time").and_utc();
    punches::insert(&store, &[bridge_e2e::utc_punch(gate, "1001", at(8), 0), bridge_e2e::utc_punch(gate, "1001", at(17), 1)]).await.expect("punches");
    let mut config = rogue_config(&db, 2_000);
    config.plugins.rules = "standard-shifts".into();
    // The evil plugin answers an ordinary employee with nothing at all.
    std::fs::copy(bridge_e2e::plugins::evil_plugin(), config.plugins.dir.clone().expect("dir").join("empty-rules.wasm")).expect("copy");
    let registry = plugin_registry(&config).expect("registry");

    let found = preview::preview(&store, &registry, &config, "empty-rules", 7).await.expect("preview");
    assert!(found.changes.is_empty());
    assert_eq!(found.failures.len(), 1, "the bad candidate is reported, not shown as no change: {found:?}");
    assert!(found.failures[0].1.contains("no record, unassigned or review entry"), "{:?}", found.failures);

    let refused = preview::activate(&store, &registry, &config, "empty-rules", false).await.expect_err("refused");
    println!("{refused}");
    assert!(refused.to_string().contains("fails 46 of 48 golden fixtures") && refused.to_string().contains("--force"), "{refused}");
    assert_eq!(process::active_rules_plugin(&store, &config).await.expect("active"), "standard-shifts", "nothing changed");
    let (previous, report) = preview::activate(&store, &registry, &config, "empty-rules", true).await.expect("forced");
    assert_eq!((previous.as_str(), report.broken.len()), ("standard-shifts", 46), "every fixture with punches");
    assert_eq!(process::active_rules_plugin(&store, &config).await.expect("active"), "empty-rules");
    // A site variant that only differs in values (payable rounding) passes the gate.
    let (_, report) = preview::activate(&store, &registry, &config, "quarter-hour", false).await.expect("activated");
    assert!(report.broken.is_empty() && report.differing > 0, "{report:?}");
}

/// Without a database: the runtime's own reports for a panic, a trap and a batch of endless loops.
#[test]
fn a_panic_names_its_line_and_message_a_trap_its_code() {
    let runtime = PluginRuntime::new(Limits { time_limit_ms: 300, memory_mb: 64 }, None).expect("engine");
    let rogue = runtime.load_file(&bridge_e2e::plugins::rogue_rules_plugin()).expect("loads");
    let input = |user: &str| -> RulesInput {
        serde_json::from_value(serde_json::json!({ "user_id": user, "site_tz": "UTC", "now": "2030-01-01T00:00:00Z" })).expect("input")
    };
    let panic = runtime.process(&rogue, &input("panic")).expect_err("panicked");
    println!("{panic}");
    assert!(matches!(&panic, PluginError::Panicked { plugin, version, .. } if plugin == "rogue_rules" && version == "1.2.0"), "{panic:?}");
    let text = panic.to_string();
    assert!(text.starts_with("plugin rogue_rules 1.2.0 panicked at src/lib.rs:"), "{text}");
    assert!(text.ends_with("index out of bounds: the len is 0 but the index is 7"), "{text}");
    let trap = runtime.process(&rogue, &input("trap")).expect_err("trapped");
    println!("{trap}");
    assert_eq!(trap.to_string(), "plugin rogue_rules: trapped: wasm trap: wasm `unreachable` instruction executed");

    let started = Instant::now();
    let inputs: Vec<RulesInput> = (0..50).map(|n| input(&format!("loop-{n}"))).collect();
    let results = runtime.process_batch(&rogue, &inputs);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(300) + Duration::from_secs(1), "{elapsed:?}");
    assert!(matches!(results[0], Err(PluginError::TimeLimit { .. })), "{:?}", results[0]);
    assert!(results[1..].iter().all(|r| matches!(r, Err(PluginError::Deferred { .. }))));
}

/// `plugin test` stops at the first time-limit stop with a clear line, instead of waiting out the
/// limit once per remaining fixture.
#[test]
fn plugin_test_stops_at_the_first_time_limit_stop() {
    let dir = tempfile::tempdir().expect("dir");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bridge_e2e::workspace_root().join("tests/fixtures/shift-fixtures.json")).expect("read"))
            .expect("json");
    let first = golden["scenarios"][0].clone();
    let scenarios: Vec<serde_json::Value> = ["1001", "loop-1", "loop-2", "loop-3"]
        .iter()
        .enumerate()
        .map(|(n, user)| {
            let mut s = first.clone();
            s["id"] = format!("X{n}").into();
            s["input"]["user_id"] = (*user).into();
            s
        })
        .collect();
    let file = dir.path().join("fixtures.json");
    std::fs::write(&file, serde_json::json!({ "format": "attendance-fixtures/1", "scenarios": scenarios }).to_string()).expect("write");
    let run = || {
        bridge_e2e::bridge_command(dir.path())
            .args(["plugin", "test"])
            .arg(bridge_e2e::plugins::rogue_rules_plugin())
            .arg(&file)
            .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("bridge.db").display()))
            .env("BRIDGE_DATA_DIR", dir.path().join("data"))
            .env("PLUGIN_TIME_LIMIT_MS", "500")
            .output()
            .expect("runs")
    };
    // The first run compiles the plugin into the cache (seconds in a debug build); time the second.
    run();
    let started = Instant::now();
    let out = run();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}{elapsed:?}");
    assert!(!out.status.success());
    assert!(text.contains("STOPPED at X1: rogue_rules ran past its time limit of 500 ms; the 2 later fixture(s) were not run"), "{text}");
    assert!(text.trim_end().ends_with("failed"), "the summary stays last: {text}");
    assert!(elapsed < Duration::from_millis(500) + Duration::from_secs(3), "{elapsed:?} (one limit plus start-up, not one per fixture)");
}

/// What the output check costs next to the plugin call it guards (the golden inputs through
/// `standard-shifts`, four rounds). A measurement, not a gate: `--ignored` to run it; release
/// builds give the meaningful ratio.
#[test]
#[ignore = "a measurement"]
fn the_output_check_costs_little_next_to_the_plugin_call() {
    let registry = bridge_e2e::crm::registry(vec![]);
    let plugin = registry.get("standard-shifts").expect("built-in");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bridge_e2e::workspace_root().join("tests/fixtures/shift-fixtures.json")).expect("read"))
            .expect("json");
    let inputs: Vec<RulesInput> =
        golden["scenarios"].as_array().expect("scenarios").iter().map(|s| serde_json::from_value(s["input"].clone()).expect("input")).collect();
    let days: Vec<std::collections::BTreeSet<NaiveDate>> =
        inputs.iter().map(|i| i.punches.iter().filter_map(|p| p.time.get(..10)?.parse().ok()).collect()).collect();
    let (mut call, mut check) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        let started = Instant::now();
        let outputs = registry.runtime().process_batch(&plugin, &inputs);
        call += started.elapsed();
        let started = Instant::now();
        for ((input, days), output) in inputs.iter().zip(&days).zip(&outputs) {
            if let (Ok(output), false) = (output, days.is_empty()) {
                attendance_bridge::pipeline::checked_batch::check(&plugin, input, days, output).expect("golden outputs pass");
            }
        }
        check += started.elapsed();
    }
    println!("plugin calls {call:?}, output checks {check:?}: {:.2} % of the plugin path", 100.0 * check.as_secs_f64() / call.as_secs_f64());
}
