//! Between the SDK's typed model and the host-side generated WIT types of interface 2.
//!
//! Only the shape changes here: the text of interface 1 is read and written by the SDK's
//! `v2::text`, natively, before and after the call.

use attendance_plugin_sdk::v2::{model as typed, wire};

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
            .map(|t| wit::Template {
                code: t.code.clone(),
                start_min: wire::minute_of_day(t.start),
                end_min: wire::minute_of_day(t.end),
                early_in_window_min: t.early_in_window_min,
                late_out_window_min: t.late_out_window_min,
                late_in_outlier_min: t.late_in_outlier_min,
                early_out_outlier_min: t.early_out_outlier_min,
                late_grace_min: t.late_grace_min,
                early_grace_min: t.early_grace_min,
                dedup_window_s: t.dedup_window_s,
                min_span_min: t.min_span_min,
                overtime_min_min: t.overtime_min_min,
                absent_below_min: t.absent_below_min,
                half_day_below_min: t.half_day_below_min,
                rounding: t.rounding.map(|r| wit::Rounding {
                    interval_min: r.interval_min,
                    mode: match r.mode {
                        typed::RoundingMode::NearestHalfUp => wit::RoundingMode::NearestHalfUp,
                        typed::RoundingMode::Up => wit::RoundingMode::Up,
                        typed::RoundingMode::Down => wit::RoundingMode::Down,
                    },
                }),
                settle_min: t.settle_min,
                unscheduled_day_boundary_min: wire::minute_of_day(t.unscheduled_day_boundary),
            })
            .collect(),
        roster: input.roster.iter().map(|r| wit::RosterEntry { date: wire::day_number(r.date), shift: r.shift }).collect(),
        weekly: input.weekly.as_ref().map(|w| wit::Weekly { days: w.days.iter().map(|d| weekday(*d)).collect(), shift: w.shift }),
        default_shift: input.default_shift,
        holidays: input.holidays.iter().map(|d| wire::day_number(*d)).collect(),
        punches: input.punches.iter().map(|p| wit::Punch { device: p.device, seq: p.seq, time: wire::wall_seconds(p.time), state: p.state }).collect(),
        config: attendance_plugin_sdk::model::config_to_text(&input.config),
    }
}

fn weekday(day: chrono::Weekday) -> wit::Weekday {
    match day {
        chrono::Weekday::Mon => wit::Weekday::Mon,
        chrono::Weekday::Tue => wit::Weekday::Tue,
        chrono::Weekday::Wed => wit::Weekday::Wed,
        chrono::Weekday::Thu => wit::Weekday::Thu,
        chrono::Weekday::Fri => wit::Weekday::Fri,
        chrono::Weekday::Sat => wit::Weekday::Sat,
        chrono::Weekday::Sun => wit::Weekday::Sun,
    }
}

fn local_time(t: wit::LocalTime) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    wire::local_time(t.utc, t.offset_s)
}

/// The plugin's output, checked: every time and date must be representable.
pub(super) fn rules_output(output: wit::RulesOutput) -> Result<typed::RulesOutput, String> {
    let records = output
        .records
        .into_iter()
        .map(|r| {
            Ok(typed::AttendanceRecord {
                date: wire::date(r.date)?,
                shift: r.shift,
                status: match r.status {
                    wit::Status::Present => typed::Status::Present,
                    wit::Status::Absent => typed::Status::Absent,
                    wit::Status::Incomplete => typed::Status::Incomplete,
                    wit::Status::HalfDay => typed::Status::HalfDay,
                    wit::Status::OffDayWork => typed::Status::OffDayWork,
                    wit::Status::UnscheduledWork => typed::Status::UnscheduledWork,
                },
                clock_in: r.clock_in.map(local_time).transpose()?,
                clock_out: r.clock_out.map(local_time).transpose()?,
                worked_min: r.worked_min,
                break_min: r.break_min,
                payable_min: r.payable_min,
                scheduled_min: r.scheduled_min,
                overtime_min: r.overtime_min,
                late_min: r.late_min,
                early_min: r.early_min,
                duplicates: r.duplicates,
                // The WIT flags and `Flag` share one bit order (both alphabetical).
                flags: typed::Flags::from_bits(r.flags.as_array()[0]),
                extra_flags: r.extra_flags,
                is_final: r.final_,
                reason: r.reason,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let unassigned = output
        .unassigned
        .into_iter()
        .map(|u| Ok(typed::Unassigned { time: local_time(u.time)?, date: wire::date(u.date)? }))
        .collect::<Result<Vec<_>, String>>()?;
    let review = output
        .review
        .into_iter()
        .map(|r| {
            Ok(typed::Review {
                time: local_time(r.time)?,
                reason: match r.reason {
                    wit::ReviewReason::InvalidTimestamp => typed::ReviewReason::InvalidTimestamp,
                    wit::ReviewReason::FutureTimestamp => typed::ReviewReason::FutureTimestamp,
                },
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(typed::RulesOutput { records, unassigned, review })
}

#[cfg(test)]
mod tests {
    use super::*;

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
