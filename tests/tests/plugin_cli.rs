//! `plugin list|check|test` as operators and plugin authors run them.

use bridge_e2e::{bridge_command, workspace_root};

fn run(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = bridge_command(dir.path()).args(args).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "{text}");
    (out.status.success(), text)
}

fn fixtures() -> String {
    workspace_root().join("tests/fixtures/shift-fixtures.json").display().to_string()
}

#[test]
fn every_golden_scenario_passes_through_the_compiled_standard_shifts() {
    let (ok, text) = run(&["plugin", "test", "standard-shifts", &fixtures()]);
    assert!(ok, "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("PASS ")).count(), 48, "{text}");
    assert_eq!(text.trim_end().lines().last(), Some("48 passed, 0 failed"));
}

#[test]
fn a_differing_plugin_fails_with_diffs_and_a_summary_last() {
    let (ok, text) = run(&["plugin", "test", "quarter-hour", &fixtures()]);
    assert!(!ok, "the rounding variant changes payable minutes");
    assert!(text.contains("FAIL S01") && text.contains("payable_min expected"), "{text}");
    let last = text.trim_end().lines().last().unwrap_or_default().to_owned();
    let (passed, failed) = last.split_once(" passed, ").expect("summary");
    assert!(passed.parse::<u32>().is_ok() && failed.trim_end_matches(" failed").parse::<u32>().is_ok_and(|f| f > 0), "{last}");
}

#[test]
fn check_and_list_name_world_and_version() {
    let evil = bridge_e2e::plugins::evil_plugin();
    let (ok, text) = run(&["plugin", "check", &evil.display().to_string()]);
    assert!(ok && text.contains("world shift-rules of attendance:plugin@1.0.0"), "{text}");
    let (ok, text) = run(&["plugin", "list"]);
    assert!(ok, "{text}");
    for line in ["crm-json\tcrm-mapping", "standard-shifts\tshift-rules", "quarter-hour\tshift-rules"] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // Both interface versions load side by side: the standard rules and the quarter-hour example are
    // written on the SDK's root (version 2); the CRM mapping's only interface is version 1, and a
    // version-1 shift-rules plugin (the evil one above) still loads.
    let version = |name: &str| text.lines().find(|l| l.starts_with(&format!("{name}\t"))).map(|l| l.contains("\tinterface 2.0.0\t"));
    assert_eq!((version("standard-shifts"), version("quarter-hour"), version("crm-json")), (Some(true), Some(true), Some(false)), "{text}");
    let dir = tempfile::tempdir().expect("dir");
    let standard = dir.path().join("standard-shifts.wasm");
    let bytes = attendance_bridge::plugins::registry::BUILTINS.iter().find(|(n, _)| *n == "standard-shifts").expect("built-in").1;
    std::fs::write(&standard, bytes).expect("write");
    let (ok, text) = run(&["plugin", "check", &standard.display().to_string()]);
    assert!(ok && text.contains("world typed-shift-rules of attendance:plugin@2.0.0"), "{text}");
    // A built-in's name works as with `plugin test` and `plugin preview`.
    let (ok, text) = run(&["plugin", "check", "standard-shifts"]);
    assert!(ok && text.contains("standard-shifts: implements world typed-shift-rules of attendance:plugin@2.0.0"), "{text}");
    let (ok, text) = run(&["plugin", "check", "crm-json"]);
    assert!(ok && text.contains("world crm-mapping of attendance:plugin@1.0.0"), "{text}");
    let (ok, text) = run(&["plugin", "check", "no-such-plugin"]);
    assert!(!ok && text.contains("no-such-plugin"), "an unknown name is named: {text}");
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"nope").expect("write");
    let (ok, text) = run(&["plugin", "check", &bogus.display().to_string()]);
    assert!(!ok && text.contains("plugin bogus: not a valid WebAssembly component"), "{text}");
}
