//! Conversions between the SDK's model and the host-side generated WIT types (interface v1).

use attendance_plugin_sdk::model;

use super::bindings::v1::crm_mapping::attendance::plugin::types as crm;
use super::bindings::v1::shift_rules::attendance::plugin::types as rules;

pub(super) fn rules_input(input: &model::RulesInput) -> rules::RulesInput {
    rules::RulesInput {
        user_id: input.user_id.clone(),
        site_tz: input.site_tz.clone(),
        now: input.now.clone(),
        devices: input
            .devices
            .iter()
            .map(|d| rules::Device {
                id: d.id.clone(),
                tz: d.tz.clone(),
                valid_from: d.valid_from.clone(),
                watermark: d.watermark.clone(),
                clock_offset_s: d.clock_offset_s,
            })
            .collect(),
        templates: input
            .templates
            .iter()
            .map(|(code, t)| rules::Template {
                code: code.clone(),
                start: t.start.clone(),
                end: t.end.clone(),
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
                rounding: t.rounding.as_ref().map(|r| rules::Rounding { interval_min: r.interval_min, mode: r.mode.clone() }),
                settle_min: t.settle_min,
                unscheduled_day_boundary: t.unscheduled_day_boundary.clone(),
            })
            .collect(),
        roster: input.roster.iter().map(|r| rules::RosterEntry { date: r.date.clone(), shift: r.shift.clone() }).collect(),
        weekly: input.weekly.as_ref().map(|w| rules::Weekly { days: w.days.clone(), shift: w.shift.clone() }),
        default_shift: input.default_shift.clone(),
        holidays: input.holidays.clone(),
        punches: input
            .punches
            .iter()
            .map(|p| rules::Punch { device: p.device.clone(), seq: p.seq, time: p.time.clone(), state: p.state })
            .collect(),
        config: if input.config.is_null() { String::new() } else { input.config.to_string() },
    }
}

pub(super) fn rules_output(output: rules::RulesOutput) -> model::RulesOutput {
    model::RulesOutput {
        records: output
            .records
            .into_iter()
            .map(|r| model::AttendanceRecord {
                date: r.date,
                shift: r.shift,
                status: r.status,
                clock_in: r.clock_in,
                clock_out: r.clock_out,
                worked_min: r.worked_min,
                break_min: r.break_min,
                payable_min: r.payable_min,
                scheduled_min: r.scheduled_min,
                overtime_min: r.overtime_min,
                late_min: r.late_min,
                early_min: r.early_min,
                duplicates: r.duplicates,
                flags: r.flags,
                is_final: r.final_,
                reason: r.reason,
            })
            .collect(),
        unassigned: output.unassigned.into_iter().map(|u| model::Unassigned { time: u.time, date: u.date }).collect(),
        review: output.review.into_iter().map(|r| model::Review { time: r.time, reason: r.reason }).collect(),
    }
}

pub(super) fn crm_day(day: &model::CrmDay) -> crm::CrmDay {
    let r = &day.day;
    crm::CrmDay {
        user_id: day.user_id.clone(),
        employee_name: day.employee_name.clone(),
        day: crm::AttendanceRecord {
            date: r.date.clone(),
            shift: r.shift.clone(),
            status: r.status.clone(),
            clock_in: r.clock_in.clone(),
            clock_out: r.clock_out.clone(),
            worked_min: r.worked_min,
            break_min: r.break_min,
            payable_min: r.payable_min,
            scheduled_min: r.scheduled_min,
            overtime_min: r.overtime_min,
            late_min: r.late_min,
            early_min: r.early_min,
            duplicates: r.duplicates,
            flags: r.flags.clone(),
            final_: r.is_final,
            reason: r.reason.clone(),
        },
        revision: day.revision,
        rule_plugin: day.rule_plugin.clone(),
        rule_version: day.rule_version.clone(),
        device_name: day.device_name.clone(),
        device_ip: day.device_ip.clone(),
        config: if day.config.is_null() { String::new() } else { day.config.to_string() },
    }
}

/// A plugin's request, with its body checked to be JSON.
pub(super) fn crm_request(request: crm::CrmRequest) -> Result<model::CrmRequest, String> {
    Ok(match request {
        crm::CrmRequest::Skip => model::CrmRequest::Skip,
        crm::CrmRequest::Post(post) => model::CrmRequest::Post {
            body: serde_json::from_str(&post.body).map_err(|e| format!("the payload is not JSON: {e}"))?,
            headers: post.headers,
        },
    })
}
