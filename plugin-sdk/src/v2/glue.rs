//! Between the generated WIT records of interface 2 and [`super::model`] (plumbing for
//! [`crate::shift_rules_plugin!`]). Only numbers change shape here; no text is parsed.

use chrono::{DateTime, FixedOffset};

use super::model as typed;
use super::wire::{self, date, day_number as day, time_of_day as minute_of_day, utc_time as utc, wall_time as wall};
use crate::shift_rules_v2_bindings::attendance::plugin::types as wit;

impl From<crate::text::PluginInfo> for wit::PluginInfo {
    fn from(info: crate::text::PluginInfo) -> Self {
        wit::PluginInfo { name: info.name, version: info.version }
    }
}

/// Runs `rules` on a WIT input and converts back.
///
/// # Errors
/// The rules' error, or a time the host sent that chrono cannot represent.
pub fn process(
    input: wit::RulesInput,
    rules: impl FnOnce(typed::RulesInput) -> Result<typed::RulesOutput, String>,
) -> Result<wit::RulesOutput, String> {
    let output = rules(input_from_wit(input)?)?;
    let mut extra_flags = Vec::new();
    let mut records = Vec::with_capacity(output.records.len());
    for (position, mut record) in output.records.into_iter().enumerate() {
        let position = u32::try_from(position).map_err(|_| "more records than the interface can number".to_owned())?;
        extra_flags.extend(std::mem::take(&mut record.extra_flags).into_iter().map(|name| wit::ExtraFlag { record: position, name }));
        records.push(record_to_wit(record));
    }
    Ok(wit::RulesOutput {
        records,
        extra_flags,
        unassigned: output.unassigned.into_iter().map(|u| wit::UnassignedPunch { time: local_time(u.time), date: day(u.date) }).collect(),
        review: output
            .review
            .into_iter()
            .map(|r| wit::ReviewPunch {
                time: local_time(r.time),
                reason: crate::__same_variants!(review_reason: r.reason, typed::ReviewReason => wit::ReviewReason),
            })
            .collect(),
    })
}

fn local_time(at: DateTime<FixedOffset>) -> wit::LocalTime {
    let (utc, offset_s) = wire::local_time_parts(at);
    wit::LocalTime { utc, offset_s }
}

fn input_from_wit(input: wit::RulesInput) -> Result<typed::RulesInput, String> {
    let config = crate::text::config_from_text(&input.config)?;
    let devices = input
        .devices
        .into_iter()
        .map(|d| {
            Ok(typed::Device {
                id: d.id,
                tz: d.tz,
                valid_from: d.valid_from.map(wall).transpose()?,
                watermark: d.watermark.map(utc).transpose()?,
                clock_offset_s: d.clock_offset_s,
                listed: d.listed,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let templates = input
        .templates
        .into_iter()
        .map(|t| {
            Ok(crate::__shared_fields!(template: typed::Template {
                code: t.code,
                start: minute_of_day(t.start_min)?,
                end: minute_of_day(t.end_min)?,
                rounding: t.rounding.map(|r| typed::Rounding {
                    interval_min: r.interval_min,
                    mode: crate::__same_variants!(rounding_mode: r.mode, wit::RoundingMode => typed::RoundingMode),
                }),
                unscheduled_day_boundary: minute_of_day(t.unscheduled_day_boundary_min)?,
            } from t))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let weekday = |d: wit::Weekday| crate::__same_variants!(weekday: d, wit::Weekday => chrono::Weekday);
    let wit::Punches { device, seq, time, state } = input.punches;
    if seq.len() != device.len() || time.len() != device.len() || state.len() != device.len() {
        return Err(format!("the punch columns differ in length (device {}, seq {}, time {}, state {})", device.len(), seq.len(), time.len(), state.len()));
    }
    // Punches of one day share their date: `Days` works it out once per day, not once per punch.
    let mut days = wire::Days::default();
    let mut punches = Vec::with_capacity(device.len());
    for (((device, seq), time), state) in device.into_iter().zip(seq).zip(time).zip(state) {
        punches.push(typed::Punch { device, seq, time: days.wall_time(time)?, state });
    }
    Ok(typed::RulesInput {
        user_id: input.user_id,
        site_tz: input.site_tz,
        now: utc(input.now)?,
        devices,
        templates,
        roster: input.roster.into_iter().map(|r| Ok(typed::RosterEntry { date: date(r.date)?, shift: r.shift })).collect::<Result<_, String>>()?,
        weekly: input.weekly.map(|w| typed::Weekly { days: w.days.into_iter().map(weekday).collect(), shift: w.shift }),
        default_shift: input.default_shift,
        holidays: input.holidays.into_iter().map(date).collect::<Result<_, _>>()?,
        punches,
        config,
    })
}

fn record_to_wit(r: typed::AttendanceRecord) -> wit::AttendanceRecord {
    crate::__shared_fields!(record: wit::AttendanceRecord {
        date: day(r.date),
        shift: r.shift,
        status: crate::__same_variants!(status: r.status, typed::Status => wit::Status),
        clock_in: r.clock_in.map(local_time),
        clock_out: r.clock_out.map(local_time),
        flags: wit::DayFlags::from_bits_retain(r.flags.bits()),
        final_: r.is_final,
        reason: r.reason,
    } from r)
}
