//! The body sent to the CRM for one processed day.
//!
//! [`PayloadMapper`] is the seam for the `crm-mapping` WASM plugin (issue 4): it turns a day into a body
//! plus extra headers, or skips it. [`DefaultJson`] is the native default, keeping the original bridge's
//! field names. The body is computed once at enqueue and stored, so retries send identical bytes.

use crate::store::attendance::DayContent;

/// A day as the mapper sees it.
#[derive(Debug, Clone)]
pub struct DayForCrm<'a> {
    /// Row id of the processed day.
    pub attendance_id: i64,
    /// Its revision.
    pub revision: i32,
    /// Its content.
    pub day: &'a DayContent,
    /// Device the day's punches came from, if known.
    pub device_name: Option<&'a str>,
    /// That device's address, if known.
    pub device_ip: Option<&'a str>,
}

/// What to send for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Send this body with these extra headers.
    Send { body: String, headers: Vec<(String, String)> },
    /// This day is not for the CRM.
    Skip,
}

/// Turns a day into a CRM request body.
pub trait PayloadMapper: Send + Sync {
    /// Maps one day; errors are reported as text and dead-letter the delivery.
    ///
    /// # Errors
    /// When the mapping cannot produce a body.
    fn map(&self, day: &DayForCrm<'_>) -> Result<Mapped, String>;
}

/// The default JSON body.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultJson;

impl PayloadMapper for DefaultJson {
    fn map(&self, d: &DayForCrm<'_>) -> Result<Mapped, String> {
        let flags: serde_json::Value = serde_json::from_str(&d.day.flags).unwrap_or(serde_json::Value::Array(vec![]));
        let body = serde_json::json!({
            "user_id": d.day.user_id,
            "date": d.day.work_date.to_string(),
            "clock_in": d.day.clock_in_local.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            "clock_out": d.day.clock_out_local.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            "is_outlier": d.day.reason.is_some(),
            "outlier_reason": d.day.reason,
            "device_name": d.device_name,
            "device_ip": d.device_ip,
            "worked_minutes": d.day.worked_min,
            "status": d.day.status,
            "flags": flags,
            "shift_code": d.day.shift_code,
            "rule_plugin": d.day.rule_plugin,
            "rule_version": d.day.rule_version,
            "revision": d.revision,
        });
        Ok(Mapped::Send { body: body.to_string(), headers: Vec::new() })
    }
}
