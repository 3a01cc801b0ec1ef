//! The output contract, rule by rule; the golden fixtures' expected outputs all pass it; arbitrary
//! outputs never panic it and every rejection is named.

use std::collections::BTreeSet;

use attendance_plugin_sdk::text::{self as model, AttendanceRecord, RulesInput, RulesOutput};
use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;

const PRODUCER: Producer<'static> = Producer { plugin: "rogue", version: "1.2.0", typed: false };

fn input() -> RulesInput {
    serde_json::from_value(serde_json::json!({
        "user_id": "1001", "site_tz": "Europe/Berlin", "now": "2030-01-01T00:00:00Z",
        "templates": {"DAY": {"start": "09:00", "end": "17:00"}, "NIGHT": {"start": "20:00", "end": "05:00"}},
        "punches": [
            {"device": "A", "seq": 1, "time": "2025-06-02T08:57:12", "state": 0},
            {"device": "A", "seq": 2, "time": "2025-06-02T17:03:40", "state": 1}
        ]
    }))
    .expect("input")
}

fn days() -> BTreeSet<NaiveDate> {
    ["2025-06-02".parse().expect("date")].into()
}

fn good() -> AttendanceRecord {
    AttendanceRecord {
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
        flags: vec![],
        is_final: true,
        reason: String::new(),
    }
}

fn check(records: Vec<AttendanceRecord>) -> Result<(), Box<Violation>> {
    let input = input();
    let days = days();
    check_rules_output(PRODUCER, Asked { input: &input, days: &days }, &RulesOutput { records, ..RulesOutput::default() })
}

fn rejected(record: AttendanceRecord) -> Box<Violation> {
    check(vec![record]).expect_err("rejected")
}

#[test]
fn a_standard_record_passes() {
    assert_eq!(check(vec![good()]), Ok(()));
}

#[test]
fn a_date_outside_the_input_is_named() {
    let v = rejected(AttendanceRecord { date: "2025-07-02".into(), ..good() });
    assert_eq!((v.field.as_str(), v.date.as_deref()), ("date", Some("2025-07-02")));
    assert!(matches!(v.rule, Rule::DateOutOfRange { .. }), "{v}");
    assert_eq!(
        v.to_string(),
        "plugin rogue 1.2.0 broke the output contract for employee 1001 on 2025-07-02: date = \"2025-07-02\": \
         not a day the input covers (2025-05-30 to 2025-06-04)"
    );
    assert_eq!(rejected(AttendanceRecord { date: "9999-99-99".into(), ..good() }).rule, Rule::BadDate);
    // The night before (an early-morning punch's night shift) is context, not a violation.
    assert_eq!(check(vec![AttendanceRecord { date: "2025-06-01".into(), shift: None, clock_in: None, clock_out: None, ..good() }]), Ok(()));
}

#[test]
fn status_and_flags_come_from_the_vocabulary() {
    let v = rejected(AttendanceRecord { status: "hacked".into(), ..good() });
    assert_eq!((v.field.as_str(), v.value.as_str(), v.rule.clone()), ("status", "\"hacked\"", Rule::UnknownStatus));
    let v = rejected(AttendanceRecord { flags: vec!["<script>alert(1)</script>".into()], ..good() });
    assert_eq!((v.field.as_str(), v.rule), ("flags", Rule::BadFlag));
    assert_eq!(rejected(AttendanceRecord { flags: vec!["night_bonus".into()], ..good() }).rule, Rule::UnknownFlag);
    assert_eq!(check(vec![AttendanceRecord { flags: vec!["x-night_bonus".into(), "late".into()], ..good() }]), Ok(()));
    assert_eq!(rejected(AttendanceRecord { flags: vec!["x-a".repeat(30)], ..good() }).rule, Rule::BadFlag);
    assert_eq!(rejected(AttendanceRecord { flags: vec!["late".into(); 33], ..good() }).rule, Rule::TooManyFlags);
    // A typed (version 2) plugin's extra flags are its own.
    let input = input();
    let days = days();
    let typed = Producer { typed: true, ..PRODUCER };
    let output = RulesOutput { records: vec![AttendanceRecord { flags: vec!["night_bonus".into()], ..good() }], ..RulesOutput::default() };
    assert_eq!(check_rules_output(typed, Asked { input: &input, days: &days }, &output), Ok(()));
}

#[test]
fn times_parse_are_ordered_and_lie_in_the_window() {
    let v = rejected(AttendanceRecord { clock_in: Some("not-a-time".into()), ..good() });
    assert_eq!((v.field.as_str(), v.rule), ("clock_in", Rule::BadTime));
    let v = rejected(AttendanceRecord { clock_out: Some("2025-06-02T08:00:00+02:00".into()), worked_min: None, ..good() });
    assert_eq!((v.field.as_str(), v.rule), ("clock_out", Rule::OutBeforeIn));
    let v = rejected(AttendanceRecord { clock_out: Some("2025-06-03T17:00:00+02:00".into()), ..good() });
    assert!(matches!(v.rule, Rule::OutsideWindow { .. }), "{v}");
    assert_eq!(rejected(AttendanceRecord { shift: Some("NOPE".into()), ..good() }).rule, Rule::UnknownShift);
    // A night shift's clock-out the next morning is inside its window.
    let night = AttendanceRecord {
        shift: Some("NIGHT".into()),
        clock_in: Some("2025-06-02T19:52:00+02:00".into()),
        clock_out: Some("2025-06-03T05:07:00+02:00".into()),
        worked_min: Some(555),
        payable_min: Some(555),
        scheduled_min: Some(540),
        ..good()
    };
    assert_eq!(check(vec![night]), Ok(()));
}

#[test]
fn minute_figures_are_bounded_and_consistent() {
    let v = rejected(AttendanceRecord { worked_min: Some(-5000), ..good() });
    assert_eq!((v.field.as_str(), v.value.as_str()), ("worked_min", "\"-5000\""));
    assert!(matches!(v.rule, Rule::MinutesOutOfRange { .. }));
    assert!(matches!(rejected(AttendanceRecord { payable_min: Some(i32::MAX), ..good() }).rule, Rule::MinutesOutOfRange { .. }));
    assert_eq!(rejected(AttendanceRecord { worked_min: Some(600), payable_min: Some(600), ..good() }).rule, Rule::LongerThanSpan { span: 486 });
    assert_eq!(rejected(AttendanceRecord { payable_min: Some(486 + 121), ..good() }).rule, Rule::PayableAboveWorked { worked: 486 });
    assert_eq!(rejected(AttendanceRecord { duplicates: 3, ..good() }).rule, Rule::MoreThanPunches { punches: 2 });
}

#[test]
fn a_long_reason_is_refused_and_shown_short() {
    let v = rejected(AttendanceRecord { reason: "x".repeat(1 << 20), ..good() });
    assert_eq!(v.rule, Rule::ReasonTooLong);
    assert!(v.to_string().len() < 400, "{v}");
    assert!(v.value.ends_with("(… 1048576 bytes)"), "{}", v.value);
}

#[test]
fn record_count_is_bounded_and_records_are_unique() {
    let v = check(vec![good(); 100_000]).expect_err("too many");
    assert!(matches!(v.rule, Rule::TooManyRecords { max: 18 }), "{v}");
    assert_eq!(check(vec![good(), good()]).expect_err("twice").rule, Rule::DuplicateRecord);
}

#[test]
fn an_empty_output_for_an_employee_who_punched_is_refused() {
    assert_eq!(check(vec![]).expect_err("empty").rule, Rule::NoRecords);
    // Without punches on the asked days, nothing is a fine answer.
    let mut quiet = input();
    quiet.punches.clear();
    let days = days();
    assert_eq!(check_rules_output(PRODUCER, Asked { input: &quiet, days: &days }, &RulesOutput::default()), Ok(()));
}

fn crm_day() -> model::CrmDay {
    model::CrmDay {
        user_id: "1001".into(),
        employee_name: None,
        day: good(),
        revision: 1,
        rule_plugin: "standard-shifts".into(),
        rule_version: "0.1.0".into(),
        device_name: None,
        device_ip: None,
        config: serde_json::Value::Null,
    }
}

#[test]
fn crm_requests_cannot_smuggle_or_override_headers() {
    let check = |headers: &[(&str, &str)], body: usize| {
        let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        check_crm_request(PRODUCER, &crm_day(), body, &headers)
    };
    assert_eq!(check(&[("X-Site", "north")], 100), Ok(()));
    let v = check(&[("X-Site", "north\r\nAuthorization: Bearer stolen")], 100).expect_err("smuggled");
    assert_eq!((v.field.as_str(), v.rule.clone()), ("headers[0].value", Rule::BadHeaderValue));
    assert!(v.to_string().contains("\\r\\n"), "{v}");
    for reserved in ["Authorization", "idempotency-key", "Webhook-Signature", "webhook-id", "webhook-timestamp", "Content-Length", "Host"] {
        assert_eq!(check(&[(reserved, "x")], 100).expect_err(reserved).rule, Rule::ReservedHeader);
    }
    assert_eq!(check(&[("Bad Name", "x")], 100).expect_err("name").rule, Rule::BadHeaderName);
    assert_eq!(check(&[], 50 << 20).expect_err("big").rule, Rule::BodyTooLarge);
    assert_eq!(check(&[("X-A", "b"); 33], 10).expect_err("many").rule, Rule::TooManyHeaders);
}

#[test]
fn every_golden_expectation_meets_the_contract() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/shift-fixtures.json")).expect("fixtures");
    let file: serde_json::Value = serde_json::from_str(&text).expect("json");
    let scenarios = file["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.len() > 40);
    for scenario in scenarios {
        let input: RulesInput = serde_json::from_value(scenario["input"].clone()).expect("input");
        let output: RulesOutput = serde_json::from_value(scenario["expect"].clone()).expect("expect");
        let days: BTreeSet<NaiveDate> = input
            .punches
            .iter()
            .filter_map(|p| p.time.get(..10))
            .chain(output.records.iter().map(|r| r.date.as_str()))
            .filter_map(|d| d.parse().ok())
            .collect();
        if days.is_empty() {
            continue;
        }
        let result = check_rules_output(PRODUCER, Asked { input: &input, days: &days }, &output);
        assert_eq!(result, Ok(()), "{}", scenario["id"]);
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("2025-06-02".to_owned()),
        Just("2025-06-02T09:00:00+02:00".to_owned()),
        Just("present".to_owned()),
        Just("late".to_owned()),
        Just("DAY".to_owned()),
        ".{0,40}",
        "[0-9T:+-]{0,30}",
    ]
}

fn arb_record() -> impl Strategy<Value = AttendanceRecord> {
    let minutes = || proptest::option::of(prop_oneof![any::<i32>(), -10i32..2000]);
    (
        (arb_text(), proptest::option::of(arb_text()), arb_text(), proptest::option::of(arb_text()), proptest::option::of(arb_text())),
        (minutes(), minutes(), minutes(), minutes(), minutes(), minutes(), minutes()),
        (any::<u32>(), proptest::collection::vec(arb_text(), 0..40), any::<bool>(), arb_text()),
    )
        .prop_map(|((date, shift, status, clock_in, clock_out), (w, b, p, s, o, l, e), (duplicates, flags, is_final, reason))| AttendanceRecord {
            date,
            shift,
            status,
            clock_in,
            clock_out,
            worked_min: w,
            break_min: b,
            payable_min: p,
            scheduled_min: s,
            overtime_min: o,
            late_min: l,
            early_min: e,
            duplicates,
            flags,
            is_final,
            reason,
        })
}

proptest! {
    #[test]
    fn arbitrary_outputs_never_panic_and_every_rejection_is_named(
        records in proptest::collection::vec(arb_record(), 0..20),
        headers in proptest::collection::vec((arb_text(), arb_text()), 0..40),
        body in 0usize..(3 << 20),
    ) {
        let input = input();
        let days = days();
        let output = RulesOutput { records, ..RulesOutput::default() };
        if let Err(v) = check_rules_output(PRODUCER, Asked { input: &input, days: &days }, &output) {
            prop_assert_eq!((v.plugin.as_str(), v.version.as_str(), v.employee.as_str()), ("rogue", "1.2.0", "1001"));
            prop_assert!(!v.field.is_empty());
            prop_assert!(v.to_string().starts_with("plugin rogue 1.2.0 broke the output contract for employee 1001"));
            prop_assert!(v.value.chars().count() < 120);
        }
        if let Err(v) = check_crm_request(PRODUCER, &crm_day(), body, &headers) {
            prop_assert!(v.field == "body" || v.field == "headers" || v.field.starts_with("headers["));
            prop_assert!(v.value.chars().count() < 120);
        }
    }
}

proptest! {
    /// The hand-written date and `HH:MM` readers agree with chrono's format strings on every text.
    #[test]
    fn the_fast_readers_agree_with_chrono(text in "[0-9+-]{0,3}[0-9]{0,4}-[0-9]{1,2}-[0-9]{1,3}|[0-9]{1,2}:[0-9]{1,3}|.{0,12}") {
        prop_assert_eq!(parse_date(&text), NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok());
        prop_assert_eq!(parse_hh_mm(&text), chrono::NaiveTime::parse_from_str(&text, "%H:%M").ok());
    }
}
