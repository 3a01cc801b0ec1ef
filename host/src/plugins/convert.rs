//! Conversions between the SDK's model and the host-side generated WIT types (interface v1).

use attendance_plugin_sdk::text as model;

// One generated module for both version-1 worlds (see `bindings`): `crm` and `rules` name the
// same types, grouped by the world that uses them.
use super::bindings::v1::shift_rules::attendance::plugin::types as crm;
use super::bindings::v1::shift_rules::attendance::plugin::types as rules;

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
        config: model::config_to_text(&day.config),
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

/// Borrowed twins of bindgen's input records (see [`RulesInputRef`]); `pub` only because the
/// derives' generated items must not be more public than the types they name. The module is private.
// The derives implement wasmtime's `unsafe` marker traits (`ComponentType`, `Lower`); their
// layout is computed by the derive from the field types, and the WIT shape is type-checked
// against the component at every call.
#[allow(unsafe_code)]
mod borrowed {
    /// The WIT `rules-input` borrowing the host's strings (the other `*Ref` types are its parts).
    ///
    /// Why not bindgen's `RulesInput`: it owns its strings, so building one copied every punch's device
    /// and time and every roster date (hundreds of allocations per employee) only for wasmtime to copy
    /// them again into the plugin's memory. Lowering from borrowed `&str` copies once. The field names
    /// and types must match `plugin-sdk/wit/v1/plugin.wit`; wasmtime type-checks them against the
    /// component before each call, so a mismatch is an error, never a wrong value.
    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct RulesInputRef<'a> {
        #[component(name = "user-id")]
        pub user_id: &'a str,
        #[component(name = "site-tz")]
        pub site_tz: &'a str,
        #[component(name = "now")]
        pub now: &'a str,
        #[component(name = "devices")]
        pub devices: Vec<DeviceRef<'a>>,
        #[component(name = "templates")]
        pub templates: Vec<TemplateRef<'a>>,
        #[component(name = "roster")]
        pub roster: Vec<RosterEntryRef<'a>>,
        #[component(name = "weekly")]
        pub weekly: Option<WeeklyRef<'a>>,
        #[component(name = "default-shift")]
        pub default_shift: Option<&'a str>,
        #[component(name = "holidays")]
        pub holidays: &'a [String],
        #[component(name = "punches")]
        pub punches: Vec<PunchRef<'a>>,
        #[component(name = "config")]
        pub config: String,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct PunchRef<'a> {
        #[component(name = "device")]
        pub device: &'a str,
        #[component(name = "seq")]
        pub seq: i64,
        #[component(name = "time")]
        pub time: &'a str,
        #[component(name = "state")]
        pub state: u8,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct DeviceRef<'a> {
        #[component(name = "id")]
        pub id: &'a str,
        #[component(name = "tz")]
        pub tz: &'a str,
        #[component(name = "valid-from")]
        pub valid_from: Option<&'a str>,
        #[component(name = "watermark")]
        pub watermark: Option<&'a str>,
        #[component(name = "clock-offset-s")]
        pub clock_offset_s: i64,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct RoundingRef<'a> {
        #[component(name = "interval-min")]
        pub interval_min: u32,
        #[component(name = "mode")]
        pub mode: &'a str,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct TemplateRef<'a> {
        #[component(name = "code")]
        pub code: &'a str,
        #[component(name = "start")]
        pub start: &'a str,
        #[component(name = "end")]
        pub end: &'a str,
        #[component(name = "early-in-window-min")]
        pub early_in_window_min: u32,
        #[component(name = "late-out-window-min")]
        pub late_out_window_min: u32,
        #[component(name = "late-in-outlier-min")]
        pub late_in_outlier_min: u32,
        #[component(name = "early-out-outlier-min")]
        pub early_out_outlier_min: u32,
        #[component(name = "late-grace-min")]
        pub late_grace_min: u32,
        #[component(name = "early-grace-min")]
        pub early_grace_min: u32,
        #[component(name = "dedup-window-s")]
        pub dedup_window_s: u32,
        #[component(name = "min-span-min")]
        pub min_span_min: u32,
        #[component(name = "overtime-min-min")]
        pub overtime_min_min: u32,
        #[component(name = "absent-below-min")]
        pub absent_below_min: u32,
        #[component(name = "half-day-below-min")]
        pub half_day_below_min: u32,
        #[component(name = "rounding")]
        pub rounding: Option<RoundingRef<'a>>,
        #[component(name = "settle-min")]
        pub settle_min: u32,
        #[component(name = "unscheduled-day-boundary")]
        pub unscheduled_day_boundary: &'a str,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct RosterEntryRef<'a> {
        #[component(name = "date")]
        pub date: &'a str,
        #[component(name = "shift")]
        pub shift: Option<&'a str>,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct WeeklyRef<'a> {
        #[component(name = "days")]
        pub days: &'a [String],
        #[component(name = "shift")]
        pub shift: &'a str,
    }
}

pub(super) use borrowed::RulesInputRef;
use borrowed::{DeviceRef, PunchRef, RosterEntryRef, RoundingRef, TemplateRef, WeeklyRef};

/// Borrows `input` as the WIT `rules-input` (see [`RulesInputRef`]); only the JSON config is built.
pub(super) fn rules_input_ref(input: &model::RulesInput) -> RulesInputRef<'_> {
    RulesInputRef {
        user_id: &input.user_id,
        site_tz: &input.site_tz,
        now: &input.now,
        devices: input
            .devices
            .iter()
            .map(|d| DeviceRef {
                id: &d.id,
                tz: &d.tz,
                valid_from: d.valid_from.as_deref(),
                watermark: d.watermark.as_deref(),
                clock_offset_s: d.clock_offset_s,
            })
            .collect(),
        templates: input
            .templates
            .iter()
            .map(|(code, t)| TemplateRef {
                code,
                start: &t.start,
                end: &t.end,
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
                rounding: t.rounding.as_ref().map(|r| RoundingRef { interval_min: r.interval_min, mode: &r.mode }),
                settle_min: t.settle_min,
                unscheduled_day_boundary: &t.unscheduled_day_boundary,
            })
            .collect(),
        roster: input.roster.iter().map(|r| RosterEntryRef { date: &r.date, shift: r.shift.as_deref() }).collect(),
        weekly: input.weekly.as_ref().map(|w| WeeklyRef { days: &w.days, shift: &w.shift }),
        default_shift: input.default_shift.as_deref(),
        holidays: &input.holidays,
        punches: input.punches.iter().map(|p| PunchRef { device: &p.device, seq: p.seq, time: &p.time, state: p.state }).collect(),
        config: model::config_to_text(&input.config),
    }
}
