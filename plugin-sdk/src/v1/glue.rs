//! Conversions between interface 1's generated WIT records and [`crate::text`] (plumbing for the
//! export macros). Both worlds share one generated `types` module (bindgen's `with:`), so each
//! record is converted in one place.

use crate::shift_rules_bindings::attendance::plugin::types as wit;
use crate::text as model;

impl From<model::PluginInfo> for wit::PluginInfo {
    fn from(info: model::PluginInfo) -> Self {
        wit::PluginInfo { name: info.name, version: info.version }
    }
}

impl From<model::AttendanceRecord> for wit::AttendanceRecord {
    fn from(r: model::AttendanceRecord) -> Self {
        crate::__shared_fields!(v1_record: wit::AttendanceRecord { final_: r.is_final } from r)
    }
}

impl From<wit::AttendanceRecord> for model::AttendanceRecord {
    fn from(r: wit::AttendanceRecord) -> Self {
        crate::__shared_fields!(v1_record: model::AttendanceRecord { is_final: r.final_ } from r)
    }
}

/// The shift-rules world.
pub mod rules {
    use super::{model, wit};

    /// Runs `rules` on a WIT input and converts back.
    ///
    /// # Errors
    /// The rules' error.
    pub fn process(
        input: wit::RulesInput,
        rules: impl FnOnce(model::RulesInput) -> Result<model::RulesOutput, String>,
    ) -> Result<wit::RulesOutput, String> {
        let output = rules(input_from_wit(input)?)?;
        Ok(wit::RulesOutput {
            records: output.records.into_iter().map(Into::into).collect(),
            unassigned: output.unassigned.into_iter().map(|u| wit::UnassignedPunch { time: u.time, date: u.date }).collect(),
            review: output.review.into_iter().map(|r| wit::ReviewPunch { time: r.time, reason: r.reason }).collect(),
        })
    }

    fn input_from_wit(input: wit::RulesInput) -> Result<model::RulesInput, String> {
        let config = model::config_from_text(&input.config)?;
        Ok(model::RulesInput {
            user_id: input.user_id,
            site_tz: input.site_tz,
            now: input.now,
            devices: input
                .devices
                .into_iter()
                .map(|d| model::Device { id: d.id, tz: d.tz, valid_from: d.valid_from, watermark: d.watermark, clock_offset_s: d.clock_offset_s })
                .collect(),
            templates: input
                .templates
                .into_iter()
                .map(|t| {
                    let template = crate::__shared_fields!(template: model::Template {
                        code: t.code.clone(),
                        start: t.start,
                        end: t.end,
                        rounding: t.rounding.map(|r| model::Rounding { interval_min: r.interval_min, mode: r.mode }),
                        unscheduled_day_boundary: t.unscheduled_day_boundary,
                    } from t);
                    (t.code, template)
                })
                .collect(),
            roster: input.roster.into_iter().map(|r| model::RosterEntry { date: r.date, shift: r.shift }).collect(),
            weekly: input.weekly.map(|w| model::Weekly { days: w.days, shift: w.shift }),
            default_shift: input.default_shift,
            holidays: input.holidays,
            punches: input.punches.into_iter().map(|p| model::Punch { device: p.device, seq: p.seq, time: p.time, state: p.state }).collect(),
            config,
        })
    }
}

/// The crm-mapping world.
pub mod crm {
    use super::{model, wit};

    /// Runs `mapping` on a WIT day and converts back.
    ///
    /// # Errors
    /// The mapping's error.
    pub fn map_day(
        day: wit::CrmDay,
        mapping: impl FnOnce(model::CrmDay) -> Result<model::CrmRequest, String>,
    ) -> Result<wit::CrmRequest, String> {
        let config = model::config_from_text(&day.config)?;
        let model_day = model::CrmDay {
            user_id: day.user_id,
            employee_name: day.employee_name,
            day: day.day.into(),
            revision: day.revision,
            rule_plugin: day.rule_plugin,
            rule_version: day.rule_version,
            device_name: day.device_name,
            device_ip: day.device_ip,
            config,
        };
        Ok(match mapping(model_day)? {
            model::CrmRequest::Skip => wit::CrmRequest::Skip,
            model::CrmRequest::Post { body, headers } => wit::CrmRequest::Post(wit::CrmPost { body: body.to_string(), headers }),
        })
    }
}
