//! Interface versions: each version has its own host imports, and a version-1 component compiled
//! before the SDK's root moved to version 2 keeps loading and computing exactly what it did.

use attendance_bridge::plugins::runtime::{InterfaceVersion, World};
use attendance_bridge::plugins::{Limits, PluginKind, PluginRuntime, Registry};
use attendance_plugin_sdk::text::RulesInput;
use chrono::NaiveDate;

fn registry() -> Registry {
    Registry::new(PluginRuntime::new(Limits::default(), None).expect("engine"), None)
}

fn golden_inputs() -> Vec<RulesInput> {
    let path = bridge_e2e::workspace_root().join("tests/fixtures/shift-fixtures.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    golden["scenarios"].as_array().expect("scenarios").iter().map(|s| serde_json::from_value(s["input"].clone()).expect("input")).collect()
}

/// `quarter-hour` as it was compiled from the version-1 source (text `ShiftRules`, SDK root of
/// before the move), kept as a binary fixture.
fn old_version_1_component() -> Vec<u8> {
    std::fs::read(bridge_e2e::workspace_root().join("tests/fixtures/plugins/quarter-hour-interface-1.wasm")).expect("fixture")
}

#[test]
fn each_interface_version_imports_only_its_own_host() {
    let registry = registry();
    for (name, host) in [
        ("standard-shifts", "attendance:plugin/host@2.0.0"),
        ("quarter-hour", "attendance:plugin/host@2.0.0"),
        ("crm-json", "attendance:plugin/host@1.0.0"),
    ] {
        let plugin = registry.get(name).expect("built-in");
        // Functions come from the plugin's own version's `host` only. (The SDK carries the type
        // descriptions of both versions, so a version-2 component may still list version 1's
        // type-only `types` instance: no function, nothing the host provides.)
        let hosts: Vec<&String> = plugin.imports.iter().filter(|i| i.starts_with("attendance:plugin/host")).collect();
        assert_eq!(hosts, [host], "{name} imports {:?}", plugin.imports);
    }
    let old = registry.runtime().load("old-quarter-hour", &old_version_1_component(), "fixture").expect("loads");
    assert_eq!(old.interface_version, InterfaceVersion::V1);
    assert_eq!(old.world(), World::ShiftRules);
    assert!(old.imports.iter().all(|i| i.ends_with("@1.0.0")), "{:?}", old.imports);
}

#[test]
fn a_version_1_component_compiled_before_the_move_computes_what_its_version_2_rewrite_does() {
    let registry = registry();
    let old_plugin = registry.runtime().load("quarter-hour", &old_version_1_component(), "fixture").expect("loads");
    let new_plugin = registry.get_kind("quarter-hour", PluginKind::ShiftRules).expect("built-in");
    assert_eq!(new_plugin.interface_version, InterfaceVersion::V2);
    let inputs = golden_inputs();
    let old_outputs = registry.runtime().process_batch(&old_plugin, &inputs);
    let new_outputs = registry.runtime().process_batch(&new_plugin, &inputs);
    for ((input, old), new) in inputs.iter().zip(old_outputs).zip(new_outputs) {
        let old = old.unwrap_or_else(|e| panic!("the version-1 binary failed on {}: {e}", input.user_id));
        let new = new.unwrap_or_else(|e| panic!("the rewrite failed on {}: {e}", input.user_id));
        assert_eq!(old, new, "scenario of user {}", input.user_id);
        // And what it returns still meets the output contract the host enforces.
        let days = input.punches.iter().filter_map(|p| p.time.get(..10)?.parse::<NaiveDate>().ok()).collect();
        if !input.punches.is_empty() {
            attendance_bridge::pipeline::checked_batch::check(&old_plugin, input, &days, &old).expect("contract");
        }
    }
}
