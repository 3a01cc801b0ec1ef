//! `crm-json`: the default CRM payload.
//!
//! One JSON object per processed day. It keeps every field of the original bridge's payload
//! (`user_id`, `date`, `clock_in`, `clock_out`, `is_outlier`, `outlier_reason`, `device_name`,
//! `device_ip`) so an existing CRM endpoint keeps working, and adds the figures and the rule version.
//!
//! Config (optional): `{"skip_statuses": ["absent"]}` sends nothing for days with those statuses.

use attendance_plugin_sdk::{CrmDay, CrmMapping, CrmRequest, PluginInfo, crm_mapping_plugin};
use serde_json::json;

/// Flags that make a day an outlier in the original bridge's sense.
const OUTLIER_FLAGS: [&str; 3] = ["in_outlier", "out_outlier", "outlier_punches"];

/// The default mapping.
pub struct CrmJson;

impl CrmMapping for CrmJson {
    fn info() -> PluginInfo {
        PluginInfo { name: "crm-json".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn map_day(day: CrmDay) -> Result<CrmRequest, String> {
        let skip: Vec<String> = day
            .config
            .get("skip_statuses")
            .and_then(|v| v.as_array())
            .map(|list| list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if skip.contains(&day.day.status) {
            return Ok(CrmRequest::Skip);
        }
        let outliers: Vec<&str> = day.day.flags.iter().map(String::as_str).filter(|f| OUTLIER_FLAGS.contains(f)).collect();
        let r = &day.day;
        let body = json!({
            "user_id": day.user_id,
            "date": r.date,
            "clock_in": r.clock_in,
            "clock_out": r.clock_out,
            "is_outlier": !outliers.is_empty(),
            "outlier_reason": if outliers.is_empty() { None } else { Some(if r.reason.is_empty() { outliers.join(", ") } else { r.reason.clone() }) },
            "device_name": day.device_name,
            "device_ip": day.device_ip,
            "employee_name": day.employee_name,
            "shift": r.shift,
            "status": r.status,
            "worked_minutes": r.worked_min,
            "break_minutes": r.break_min,
            "payable_minutes": r.payable_min,
            "overtime_minutes": r.overtime_min,
            "late_minutes": r.late_min,
            "early_minutes": r.early_min,
            "flags": r.flags,
            "final": r.is_final,
            "revision": day.revision,
            "rule_plugin": day.rule_plugin,
            "rule_version": day.rule_version,
        });
        Ok(CrmRequest::Post { body, headers: Vec::new() })
    }
}

crm_mapping_plugin!(CrmJson);
