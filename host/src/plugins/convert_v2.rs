//! Between the SDK's typed model and the host-side generated WIT types of interface 2.
//!
//! Only the shape changes here: the text of interface 1 is read and written by the SDK's
//! `v2::text`, natively, before and after the call.

use attendance_plugin_sdk::v2::{model as typed, wire};
use attendance_plugin_sdk::{__same_variants as same_variants, __shared_fields as shared_fields};

use super::bindings::v2::typed_shift_rules::attendance::plugin::types as wit;

pub(super) fn rules_input(input: &typed::RulesInput) -> wit::RulesInput {
    wit::RulesInput {
        user_id: input.user_id.clone(),
        site_tz: input.site_tz.clone(),
        now: input.now.timestamp(),
        devices: input
            .devices
            .iter()
            .map(|d| wit::Device {
                id: d.id.clone(),
                tz: d.tz.clone(),
                valid_from: d.valid_from.map(wire::wall_seconds),
                watermark: d.watermark.map(|w| w.timestamp()),
                clock_offset_s: d.clock_offset_s,
                listed: d.listed,
            })
            .collect(),
        templates: input
            .templates
            .iter()
            .map(|t| {
                shared_fields!(template: wit::Template {
                    code: t.code.clone(),
                    start_min: wire::minute_of_day(t.start),
                    end_min: wire::minute_of_day(t.end),
                    rounding: t.rounding.map(|r| wit::Rounding {
                        interval_min: r.interval_min,
                        mode: same_variants!(rounding_mode: r.mode, typed::RoundingMode => wit::RoundingMode),
                    }),
                    unscheduled_day_boundary_min: wire::minute_of_day(t.unscheduled_day_boundary),
                } from t)
            })
            .collect(),
        roster: input.roster.iter().map(|r| wit::RosterEntry { date: wire::day_number(r.date), shift: r.shift }).collect(),
        weekly: input.weekly.as_ref().map(|w| wit::Weekly { days: w.days.iter().map(|d| weekday(*d)).collect(), shift: w.shift }),
        default_shift: input.default_shift,
        holidays: input.holidays.iter().map(|d| wire::day_number(*d)).collect(),
        punches: wit::Punches {
            device: input.punches.iter().map(|p| p.device).collect(),
            seq: input.punches.iter().map(|p| p.seq).collect(),
            time: input.punches.iter().map(|p| wire::wall_seconds(p.time)).collect(),
            state: input.punches.iter().map(|p| p.state).collect(),
        },
        config: attendance_plugin_sdk::text::config_to_text(&input.config),
    }
}

fn weekday(day: chrono::Weekday) -> wit::Weekday {
    same_variants!(weekday: day, chrono::Weekday => wit::Weekday)
}

/// The plugin's output, checked: every time and date must be representable.
pub(super) fn rules_output(output: wit::RulesOutput) -> Result<typed::RulesOutput, String> {
    // Days, clock-ins and clock-outs come in date order: `Days` works out each date once.
    let mut days = wire::Days::default();
    let mut local_time = |t: Option<wit::LocalTime>| t.map(|t| days.local_time(t.utc, t.offset_s)).transpose();
    let mut records = output
        .records
        .into_iter()
        .map(|r| {
            Ok(shared_fields!(record: typed::AttendanceRecord {
                date: wire::date(r.date)?,
                shift: r.shift,
                status: same_variants!(status: r.status, wit::Status => typed::Status),
                clock_in: local_time(r.clock_in)?,
                clock_out: local_time(r.clock_out)?,
                // The WIT flags and `Flag` share one bit order (both alphabetical).
                flags: typed::Flags::from_bits(r.flags.as_array()[0]),
                extra_flags: Vec::new(),
                is_final: r.final_,
                reason: r.reason,
            } from r))
        })
        .collect::<Result<Vec<_>, String>>()?;
    for flag in output.extra_flags {
        let count = records.len();
        let record = usize::try_from(flag.record).ok().and_then(|i| records.get_mut(i));
        let record = record.ok_or_else(|| format!("extra flag {} names record {}, but the plugin returned {count}", flag.name, flag.record))?;
        record.extra_flags.push(flag.name);
    }
    let unassigned = output
        .unassigned
        .into_iter()
        .map(|u| Ok(typed::Unassigned { time: wire::local_time(u.time.utc, u.time.offset_s)?, date: wire::date(u.date)? }))
        .collect::<Result<Vec<_>, String>>()?;
    let review = output
        .review
        .into_iter()
        .map(|r| {
            Ok(typed::Review {
                time: wire::local_time(r.time.utc, r.time.offset_s)?,
                reason: same_variants!(review_reason: r.reason, wit::ReviewReason => typed::ReviewReason),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(typed::RulesOutput { records, unassigned, review })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(date: i32) -> wit::AttendanceRecord {
        wit::AttendanceRecord {
            date,
            shift: None,
            status: wit::Status::Present,
            clock_in: Some(wit::LocalTime { utc: i64::from(date) * 86_400 + 8 * 3600, offset_s: 3600 }),
            clock_out: None,
            worked_min: None,
            break_min: None,
            payable_min: None,
            scheduled_min: None,
            overtime_min: None,
            late_min: None,
            early_min: None,
            duplicates: 0,
            flags: wit::DayFlags::empty(),
            final_: true,
            reason: "r".into(),
        }
    }

    /// A plugin's own flags travel apart from the records and land on the record they name, in
    /// order; a flag naming a record that does not exist is the plugin's error.
    #[test]
    fn extra_flags_land_on_their_records() {
        let flag = |record, name: &str| wit::ExtraFlag { record, name: name.into() };
        let output = |extra_flags| wit::RulesOutput { records: vec![record(20_000), record(20_001)], extra_flags, unassigned: vec![], review: vec![] };
        let typed = rules_output(output(vec![flag(1, "night_bonus"), flag(0, "remote"), flag(1, "split")])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed.records[0].extra_flags, ["remote"]);
        assert_eq!(typed.records[1].extra_flags, ["night_bonus", "split"]);
        assert_eq!(typed.records[1].clock_in.map(|t| t.to_rfc3339()).as_deref(), Some("2024-10-05T09:00:00+01:00"));
        let error = rules_output(output(vec![flag(2, "night_bonus")])).err();
        assert_eq!(error.as_deref(), Some("extra flag night_bonus names record 2, but the plugin returned 2"));
    }

    /// Each WIT flag carries the bit of the `Flag` with the same name.
    #[test]
    fn flag_bits_line_up() {
        let pairs = [
            (wit::DayFlags::BELOW_ABSENT_THRESHOLD, typed::Flag::BelowAbsentThreshold),
            (wit::DayFlags::CLOCK_SUSPECT, typed::Flag::ClockSuspect),
            (wit::DayFlags::DST_AMBIGUOUS, typed::Flag::DstAmbiguous),
            (wit::DayFlags::DST_GAP, typed::Flag::DstGap),
            (wit::DayFlags::DST_TRANSITION, typed::Flag::DstTransition),
            (wit::DayFlags::DUPLICATE, typed::Flag::Duplicate),
            (wit::DayFlags::EARLY_EXIT, typed::Flag::EarlyExit),
            (wit::DayFlags::HOLIDAY, typed::Flag::Holiday),
            (wit::DayFlags::IN_OUTLIER, typed::Flag::InOutlier),
            (wit::DayFlags::LATE, typed::Flag::Late),
            (wit::DayFlags::MISSING_IN, typed::Flag::MissingIn),
            (wit::DayFlags::MISSING_OUT, typed::Flag::MissingOut),
            (wit::DayFlags::OFF_DAY, typed::Flag::OffDay),
            (wit::DayFlags::OUT_OUTLIER, typed::Flag::OutOutlier),
            (wit::DayFlags::OUTLIER_PUNCHES, typed::Flag::OutlierPunches),
            (wit::DayFlags::OVERTIME, typed::Flag::Overtime),
            (wit::DayFlags::SHORT_SPAN, typed::Flag::ShortSpan),
            (wit::DayFlags::STATE_MISMATCH, typed::Flag::StateMismatch),
            (wit::DayFlags::UNPAIRED_BREAK, typed::Flag::UnpairedBreak),
        ];
        assert_eq!(pairs.len(), typed::Flag::ALL.len());
        for (wit_flag, flag) in pairs {
            let set: typed::Flags = [flag].into_iter().collect();
            assert_eq!(wit_flag.as_array()[0], set.bits(), "{}", flag.name());
        }
    }
}
