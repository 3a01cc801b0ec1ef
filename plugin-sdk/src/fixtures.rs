//! Golden fixtures (`attendance-fixtures/1`): read a file, run each scenario through a rules
//! implementation, and compare with the fixture's comparison rules. The host's `plugin test` and
//! a plugin's own native unit tests use the same code, so both judge alike.
//!
//! Comparison: records are matched by (`date`, `shift`) and compared field by field for every field
//! the expectation names; `flags` as a sorted set; a `null` expectation requires `null`; extra output
//! fields are ignored; missing and unexpected records are both differences. `unassigned` and
//! `review` are compared as sets.

use serde::Deserialize;
use serde_json::Value;

use crate::text::{RulesInput, RulesOutput};

/// A fixture file.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureFile {
    /// `attendance-fixtures/1`.
    pub format: String,
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
}

/// One scenario: an input and the output it must give.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    /// Short id (`S01`).
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// The rules' input.
    pub input: RulesInput,
    /// The expected output, kept as JSON so `null`s and omitted fields keep their meaning.
    pub expect: Value,
}

/// Parses a fixture file's text.
///
/// # Errors
/// A message when the text is not a fixture file of a known format.
pub fn parse(text: &str) -> Result<FixtureFile, String> {
    let file: FixtureFile = serde_json::from_str(text).map_err(|e| format!("not a fixture file: {e}"))?;
    if file.format != "attendance-fixtures/1" {
        return Err(format!("unknown fixture format {:?}", file.format));
    }
    Ok(file)
}

/// The differences between an expectation and an output; empty means the scenario passes.
pub fn compare(expect: &Value, got: &RulesOutput) -> Vec<String> {
    let mut diffs = Vec::new();
    let got_json = serde_json::to_value(got).unwrap_or(Value::Null);
    let key = |r: &Value| (r.get("date").cloned().unwrap_or(Value::Null), r.get("shift").cloned().unwrap_or(Value::Null));
    let expected_records = expect.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
    let got_records = got_json.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
    for want in &expected_records {
        let Some(found) = got_records.iter().find(|r| key(r) == key(want)) else {
            diffs.push(format!("missing record {} {}", key(want).0, key(want).1));
            continue;
        };
        let Some(fields) = want.as_object() else { continue };
        for (field, value) in fields {
            let actual = found.get(field.as_str()).cloned().unwrap_or(Value::Null);
            let same = if field == "flags" { sorted(value) == sorted(&actual) } else { *value == actual };
            if !same {
                diffs.push(format!("{} {}: {field} expected {value}, got {actual}", key(want).0, key(want).1));
            }
        }
    }
    for extra in got_records.iter().filter(|r| !expected_records.iter().any(|w| key(w) == key(r))) {
        diffs.push(format!("unexpected record {} {}", key(extra).0, key(extra).1));
    }
    for list in ["unassigned", "review"] {
        let want = sorted(expect.get(list).unwrap_or(&Value::Null));
        let actual = sorted(got_json.get(list).unwrap_or(&Value::Null));
        if want != actual {
            diffs.push(format!("{list} expected {}, got {}", Value::Array(want), Value::Array(actual)));
        }
    }
    diffs
}

fn sorted(value: &Value) -> Vec<Value> {
    let mut items = value.as_array().cloned().unwrap_or_default();
    items.sort_by_key(ToString::to_string);
    items
}

/// The result of running a fixture file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `(scenario id, name, differences)`; no differences = passed.
    pub scenarios: Vec<(String, String, Vec<String>)>,
}

impl Report {
    /// Scenarios that passed.
    pub fn passed(&self) -> usize {
        self.scenarios.iter().filter(|(_, _, d)| d.is_empty()).count()
    }

    /// Scenarios that failed.
    pub fn failed(&self) -> usize {
        self.scenarios.len() - self.passed()
    }
}

/// Runs every scenario through `rules`.
pub fn run(file: &FixtureFile, mut rules: impl FnMut(&RulesInput) -> Result<RulesOutput, String>) -> Report {
    let scenarios = file
        .scenarios
        .iter()
        .map(|s| {
            let diffs = match rules(&s.input) {
                Ok(output) => compare(&s.expect, &output),
                Err(e) => vec![format!("the rules failed: {e}")],
            };
            (s.id.clone(), s.name.clone(), diffs)
        })
        .collect();
    Report { scenarios }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::AttendanceRecord;

    fn record(worked: Option<i32>, flags: &[&str]) -> AttendanceRecord {
        AttendanceRecord {
            date: "2025-06-02".into(),
            shift: Some("DAY".into()),
            status: "present".into(),
            clock_in: None,
            clock_out: None,
            worked_min: worked,
            break_min: None,
            payable_min: None,
            scheduled_min: Some(480),
            overtime_min: None,
            late_min: None,
            early_min: None,
            duplicates: 0,
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            is_final: true,
            reason: "extra fields are ignored".into(),
        }
    }

    #[test]
    fn the_comparison_catches_what_differs() {
        let expect = serde_json::json!({
            "records": [{"date": "2025-06-02", "shift": "DAY", "worked_min": 486, "flags": ["late", "early_exit"], "late_min": null, "final": true}],
            "unassigned": [], "review": []
        });
        let good = RulesOutput { records: vec![record(Some(486), &["early_exit", "late"])], ..RulesOutput::default() };
        assert!(compare(&expect, &good).is_empty(), "flags compare as a set");
        let wrong = RulesOutput { records: vec![record(Some(485), &["late"])], ..RulesOutput::default() };
        assert_eq!(compare(&expect, &wrong).len(), 2);
        let extra = RulesOutput { records: vec![record(Some(486), &["late", "early_exit"]), AttendanceRecord { date: "2025-06-03".into(), ..record(None, &[]) }], ..RulesOutput::default() };
        assert_eq!(compare(&expect, &extra), vec!["unexpected record \"2025-06-03\" \"DAY\"".to_owned()]);
        assert_eq!(compare(&expect, &RulesOutput::default()).len(), 1, "a missing record");
    }
}
