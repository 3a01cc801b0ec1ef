//! A version-1 shift-rules plugin that breaks the output contract in the way its input's user id
//! asks for (the part before the first `-`, so `loop-07` loops). Each misbehaviour changes one field
//! of an otherwise valid record for the first punch's day:
//! `date`, `status`, `time`, `order` (clock-out before clock-in), `negative`, `huge` (minutes),
//! `flag`, `reason` (1 MB), `many` (100,000 records), `empty`, `panic`, `trap` (no panic), `loop`.
//! Any other user gets the valid record.

use attendance_plugin_sdk::v1::AttendanceRecord;
use attendance_plugin_sdk::v1::{PluginInfo, RulesInput, RulesOutput, ShiftRules, shift_rules_plugin};

/// The rogue rules.
pub struct Rogue;

fn valid(input: &RulesInput) -> AttendanceRecord {
    let first = input.punches.iter().map(|p| p.time.as_str()).min().unwrap_or("2025-06-02T09:00:00");
    let last = input.punches.iter().map(|p| p.time.as_str()).max().unwrap_or(first);
    AttendanceRecord {
        date: first.get(..10).unwrap_or("2025-06-02").to_owned(),
        shift: None,
        status: "unscheduled_work".into(),
        clock_in: Some(format!("{first}+00:00")),
        clock_out: Some(format!("{last}+00:00")),
        worked_min: Some(0),
        break_min: Some(0),
        payable_min: Some(0),
        scheduled_min: None,
        overtime_min: None,
        late_min: None,
        early_min: None,
        duplicates: 0,
        flags: vec![],
        is_final: true,
        reason: String::new(),
    }
}

impl ShiftRules for Rogue {
    fn info() -> PluginInfo {
        PluginInfo { name: "rogue-rules".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn process(input: RulesInput) -> Result<RulesOutput, String> {
        let mut record = valid(&input);
        match input.user_id.split('-').next().unwrap_or_default() {
            "date" => record.date = "2031-01-01".into(),
            "status" => record.status = "hacked".into(),
            "time" => record.clock_in = Some("not-a-time".into()),
            "order" => std::mem::swap(&mut record.clock_in, &mut record.clock_out),
            "negative" => record.worked_min = Some(-5000),
            "huge" => record.payable_min = Some(i32::MAX),
            "flag" => record.flags = vec!["<script>alert(1)</script>".into()],
            "reason" => record.reason = "x".repeat(1 << 20),
            "many" => return Ok(RulesOutput { records: vec![record; 100_000], ..RulesOutput::default() }),
            "empty" => return Ok(RulesOutput::default()),
            "panic" => {
                let empty: Vec<u32> = std::hint::black_box(Vec::new());
                let at = std::hint::black_box(input.punches.len() + 7);
                return Err(format!("never: {}", empty[at]));
            }
            "trap" => std::process::abort(),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            _ => {}
        }
        Ok(RulesOutput { records: vec![record], ..RulesOutput::default() })
    }
}

shift_rules_plugin!(Rogue);
