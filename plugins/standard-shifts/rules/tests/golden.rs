//! Every golden scenario, natively through the SDK's fixture runner.

use attendance_plugin_sdk::fixtures;

#[test]
fn golden_fixtures_pass_natively() {
    let text = include_str!("../../../../tests/fixtures/shift-fixtures.json");
    let file = fixtures::parse(text).expect("fixture file");
    let report = fixtures::run(&file, standard_rules::process);
    for (id, name, diffs) in &report.scenarios {
        for diff in diffs {
            println!("FAIL {id} {name}: {diff}");
        }
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    assert_eq!(report.failed(), 0);
}
