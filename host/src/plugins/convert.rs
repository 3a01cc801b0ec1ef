//! Conversions between the SDK's model and the host-side generated WIT types (interface v1).

use attendance_plugin_sdk::__shared_fields as shared_fields;
use attendance_plugin_sdk::text as model;

// One generated module for both version-1 worlds (see `bindings`): `crm` and `rules` name the
// same types, grouped by the world that uses them.
use super::bindings::v1::shift_rules::attendance::plugin::types as crm;
use super::bindings::v1::shift_rules::attendance::plugin::types as rules;

impl From<rules::AttendanceRecord> for model::AttendanceRecord {
    fn from(r: rules::AttendanceRecord) -> Self {
        shared_fields!(v1_record: model::AttendanceRecord { is_final: r.final_ } from r)
    }
}

impl From<model::AttendanceRecord> for crm::AttendanceRecord {
    fn from(r: model::AttendanceRecord) -> Self {
        shared_fields!(v1_record: crm::AttendanceRecord { final_: r.is_final } from r)
    }
}

pub(super) fn rules_output(output: rules::RulesOutput) -> model::RulesOutput {
    model::RulesOutput {
        records: output.records.into_iter().map(Into::into).collect(),
        unassigned: output.unassigned.into_iter().map(|u| model::Unassigned { time: u.time, date: u.date }).collect(),
        review: output.review.into_iter().map(|r| model::Review { time: r.time, reason: r.reason }).collect(),
    }
}

pub(super) fn crm_day(day: &model::CrmDay) -> crm::CrmDay {
    crm::CrmDay {
        user_id: day.user_id.clone(),
        employee_name: day.employee_name.clone(),
        day: day.day.clone().into(),
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
    /// and types must match `plugin-sdk/wit/v1/plugin.wit` (a field without `#[component(name)]` is
    /// named as in Rust); wasmtime type-checks them against the
    /// component before each call, so a mismatch is an error, never a wrong value.
    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct RulesInputRef<'a> {
        #[component(name = "user-id")]
        pub user_id: &'a str,
        #[component(name = "site-tz")]
        pub site_tz: &'a str,
        pub now: &'a str,
        pub devices: Vec<DeviceRef<'a>>,
        pub templates: Vec<TemplateRef<'a>>,
        pub roster: Vec<RosterEntryRef<'a>>,
        pub weekly: Option<WeeklyRef<'a>>,
        #[component(name = "default-shift")]
        pub default_shift: Option<&'a str>,
        pub holidays: &'a [String],
        pub punches: Vec<PunchRef<'a>>,
        pub config: String,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct PunchRef<'a> {
        pub device: &'a str,
        pub seq: i64,
        pub time: &'a str,
        pub state: u8,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct DeviceRef<'a> {
        pub id: &'a str,
        pub tz: &'a str,
        #[component(name = "valid-from")]
        pub valid_from: Option<&'a str>,
        pub watermark: Option<&'a str>,
        #[component(name = "clock-offset-s")]
        pub clock_offset_s: i64,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct RoundingRef<'a> {
        #[component(name = "interval-min")]
        pub interval_min: u32,
        pub mode: &'a str,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct TemplateRef<'a> {
        pub code: &'a str,
        pub start: &'a str,
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
        pub rounding: Option<RoundingRef<'a>>,
        #[component(name = "settle-min")]
        pub settle_min: u32,
        #[component(name = "unscheduled-day-boundary")]
        pub unscheduled_day_boundary: &'a str,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct RosterEntryRef<'a> {
        pub date: &'a str,
        pub shift: Option<&'a str>,
    }

    #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
    #[component(record)]
    pub struct WeeklyRef<'a> {
        pub days: &'a [String],
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
            .map(|(code, t)| {
                shared_fields!(template: TemplateRef {
                    code,
                    start: &t.start,
                    end: &t.end,
                    rounding: t.rounding.as_ref().map(|r| RoundingRef { interval_min: r.interval_min, mode: &r.mode }),
                    unscheduled_day_boundary: &t.unscheduled_day_boundary,
                } from t)
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
