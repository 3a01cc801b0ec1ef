//! The plugin sandbox: endless loops, memory bombs, traps and bad files give clear errors naming the
//! plugin, and the next call to a good plugin succeeds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_bridge::plugins::runtime::LoadedPlugin;
use attendance_bridge::plugins::{Limits, PluginKind, PluginRuntime, Registry};
use attendance_bridge::plugins::PluginError;
use attendance_plugin_sdk::model::{AttendanceRecord, CrmDay, CrmRequest, RulesInput};

fn input(user: &str) -> RulesInput {
    serde_json::from_value(serde_json::json!({
        "user_id": user, "site_tz": "UTC", "now": "2030-01-01T00:00:00Z",
    }))
    .expect("input")
}

fn day() -> CrmDay {
    CrmDay {
        user_id: "1001".into(),
        employee_name: Some("Ann".into()),
        day: AttendanceRecord {
            date: "2025-06-02".into(),
            shift: Some("DAY".into()),
            status: "present".into(),
            clock_in: Some("2025-06-02T08:57:12+02:00".into()),
            clock_out: Some("2025-06-02T17:03:40+02:00".into()),
            worked_min: Some(486),
            break_min: Some(0),
            payable_min: Some(486),
            scheduled_min: Some(480),
            overtime_min: Some(0),
            late_min: None,
            early_min: None,
            duplicates: 0,
            flags: vec!["in_outlier".into()],
            is_final: true,
            reason: "clocked in 2 h 40 min late".into(),
        },
        revision: 1,
        rule_plugin: "standard-shifts".into(),
        rule_version: "0.1.0".into(),
        device_name: Some("Gate".into()),
        device_ip: Some("127.0.0.1".into()),
        config: serde_json::Value::Null,
    }
}

fn registry(limits: Limits, dir: Option<std::path::PathBuf>) -> Registry {
    Registry::new(PluginRuntime::new(limits, None).expect("engine"), dir)
}

fn good_call_works(registry: &Registry) {
    let crm = registry.get_kind("crm-json", PluginKind::CrmMapping).expect("crm-json");
    let request = registry.runtime().map_day(&crm, &day()).expect("good plugin still works");
    assert!(matches!(request, CrmRequest::Post { .. }));
}

fn evil(registry: &Registry) -> Arc<LoadedPlugin> {
    Arc::new(registry.runtime().load_file(&bridge_e2e::plugins::evil_plugin()).expect("evil loads"))
}

#[test]
fn an_endless_loop_is_stopped_by_its_time_limit() {
    let registry = registry(Limits { time_limit_ms: 200, memory_mb: 32 }, None);
    let evil = evil(&registry);
    let started = Instant::now();
    let error = registry.runtime().process(&evil, &input("loop")).expect_err("stopped");
    let elapsed = started.elapsed();
    println!("endless loop stopped after {elapsed:?}: {error}");
    assert_eq!(error, PluginError::TimeLimit { plugin: "evil_plugin".into(), limit_ms: 200 });
    assert_eq!(error.to_string(), "plugin evil_plugin: stopped after running longer than its time limit of 200 ms per call");
    // Not before the limit (the loop really ran until stopped), and promptly after it (one 10 ms
    // tick of granularity, plus slack for a loaded machine).
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    good_call_works(&registry);
    // The same plugin, fresh store, benign input: fine.
    assert!(registry.runtime().process(&evil, &input("ok")).is_ok());
}

#[test]
fn an_allocation_bomb_is_stopped_at_the_memory_cap() {
    let registry = registry(Limits { time_limit_ms: 60_000, memory_mb: 32 }, None);
    let evil = evil(&registry);
    let started = Instant::now();
    let error = registry.runtime().process(&evil, &input("alloc")).expect_err("stopped");
    println!("allocation bomb stopped after {:?}: {error}", started.elapsed());
    assert_eq!(error, PluginError::OutOfMemory { plugin: "evil_plugin".into(), cap_mb: 32 });
    good_call_works(&registry);
}

#[test]
fn a_trap_is_reported_and_the_batch_goes_on() {
    let registry = registry(Limits::default(), None);
    let evil = evil(&registry);
    let results = registry.runtime().process_batch(&evil, &[input("ok"), input("trap"), input("ok")]);
    assert!(results[0].is_ok());
    let error = results[1].clone().expect_err("trapped");
    // The evil plugin's trap is a panic: since issue 15 it is reported with its line and message.
    assert!(matches!(&error, PluginError::Panicked { plugin, .. } if plugin == "evil_plugin"), "{error:?}");
    assert!(error.to_string().starts_with("plugin evil_plugin 0.0.0 panicked at src/lib.rs:"), "{error}");
    assert!(error.to_string().ends_with("the evil plugin traps on purpose"), "{error}");
    assert!(results[2].is_ok(), "a trapped instance is replaced, not re-entered");
    good_call_works(&registry);
}

#[test]
fn corrupt_and_foreign_files_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = registry(Limits::default(), Some(dir.path().to_path_buf()));
    std::fs::write(dir.path().join("garbage.wasm"), b"this is not wasm").expect("write");
    let error = registry.get("garbage").expect_err("refused");
    assert!(matches!(&error, PluginError::Invalid { plugin, .. } if plugin == "garbage"), "{error:?}");
    // A core module (not a component), as an old toolchain would build.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    let error = registry.get("core").expect_err("refused");
    assert!(error.to_string().contains("plugin core"), "{error}");
    good_call_works(&registry);
    assert!(matches!(registry.get("nope"), Err(PluginError::NotFound(_))));
}

#[test]
fn crm_json_keeps_the_original_payload_fields() {
    let registry = registry(Limits::default(), None);
    let crm = registry.get("crm-json").expect("built-in");
    assert_eq!(crm.kind, PluginKind::CrmMapping);
    let CrmRequest::Post { body, .. } = registry.runtime().map_day(&crm, &day()).expect("mapped") else { panic!("posted") };
    for field in ["user_id", "date", "clock_in", "clock_out", "is_outlier", "outlier_reason", "device_name", "device_ip"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
    assert_eq!(body["is_outlier"], true);
    assert_eq!(body["worked_minutes"], 486);
    let mut skipping = day();
    skipping.config = serde_json::json!({ "skip_statuses": ["present"] });
    assert_eq!(registry.runtime().map_day(&crm, &skipping).expect("mapped"), CrmRequest::Skip);
}

#[test]
fn a_changed_plugin_file_is_reloaded_without_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = registry(Limits::default(), Some(dir.path().to_path_buf()));
    let site = dir.path().join("site-rules.wasm");
    let crm_bytes = attendance_bridge::plugins::registry::BUILTINS.iter().find(|(n, _)| *n == "crm-json").expect("built-in").1;
    std::fs::write(&site, crm_bytes).expect("write");
    assert_eq!(registry.get("site-rules").expect("loads").kind, PluginKind::CrmMapping);
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(bridge_e2e::plugins::evil_plugin(), &site).expect("replace");
    assert_eq!(registry.get("site-rules").expect("reloads").kind, PluginKind::ShiftRules);
    assert!(registry.names().contains(&"site-rules".to_owned()));
}

#[test]
fn start_up_with_a_cached_compiled_plugin_is_fast() {
    let cache = tempfile::tempdir().expect("dir");
    let bytes = std::fs::read(bridge_e2e::plugins::evil_plugin()).expect("read");
    let cold = Instant::now();
    let runtime = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("engine");
    runtime.load("evil", &bytes, "test").expect("cold load");
    let cold = cold.elapsed();
    let warm = Instant::now();
    let runtime = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("engine");
    runtime.load("evil", &bytes, "test").expect("warm load");
    let warm = warm.elapsed();
    println!("plugin start-up: compile {cold:?}, from cache {warm:?}");
    assert!(warm < Duration::from_secs(1), "{warm:?}");
}
