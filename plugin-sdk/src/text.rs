//! The plugin data model in plain Rust, with serde names that match the golden fixture format
//! (`shift-rules.md`), so a fixture file is exactly "this input must give this output".
//!
//! Plugins implement their logic on these types; the SDK converts to and from the WIT records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One punch as the device stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Punch {
    /// Device id.
    pub device: String,
    /// Position in the device log.
    #[serde(default)]
    pub seq: i64,
    /// Device wall time, `YYYY-MM-DDTHH:MM:SS`.
    pub time: String,
    /// Punch state.
    #[serde(default = "unknown_state")]
    pub state: u8,
}

fn unknown_state() -> u8 {
    255
}

/// A time clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// IANA zone.
    pub tz: String,
    /// Punches before this wall time are invalid.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// Latest instant fully delivered.
    #[serde(default)]
    pub watermark: Option<String>,
    /// Device clock minus reference, seconds.
    #[serde(default)]
    pub clock_offset_s: i64,
}

/// Rounding of worked time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rounding {
    /// Interval in minutes.
    pub interval_min: u32,
    /// `nearest_half_up`, `up` or `down`.
    pub mode: String,
}

/// A shift template; parameters left out of a fixture take the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Template {
    /// Code (filled from the map key when read from a fixture).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`; overnight when end ≤ start.
    pub end: String,
    pub early_in_window_min: u32,
    pub late_out_window_min: u32,
    pub late_in_outlier_min: u32,
    pub early_out_outlier_min: u32,
    pub late_grace_min: u32,
    pub early_grace_min: u32,
    pub dedup_window_s: u32,
    pub min_span_min: u32,
    pub overtime_min_min: u32,
    pub absent_below_min: u32,
    pub half_day_below_min: u32,
    pub rounding: Option<Rounding>,
    pub settle_min: u32,
    pub unscheduled_day_boundary: String,
}

impl Default for Template {
    fn default() -> Self {
        Self {
            code: String::new(),
            start: "09:00".into(),
            end: "17:00".into(),
            early_in_window_min: 120,
            late_out_window_min: 180,
            late_in_outlier_min: 120,
            early_out_outlier_min: 120,
            late_grace_min: 0,
            early_grace_min: 0,
            dedup_window_s: 60,
            min_span_min: 10,
            overtime_min_min: 30,
            absent_below_min: 0,
            half_day_below_min: 0,
            rounding: None,
            settle_min: 30,
            unscheduled_day_boundary: "04:00".into(),
        }
    }
}

/// The roster for one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Template code; `None` = off.
    #[serde(default)]
    pub shift: Option<String>,
}

/// A weekly pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weekly {
    /// `mon` … `sun`.
    #[serde(alias = "weekly")]
    pub days: Vec<String>,
    /// Template code.
    pub shift: String,
}

/// The rules' input: one employee, one period, with context.
///
/// In a fixture, `roster` is either a list of `{date, shift}` or a weekly pattern object
/// `{"weekly": ["mon", …], "shift": CODE}`; the latter lands in [`RulesInput::weekly`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawRulesInput")]
pub struct RulesInput {
    pub user_id: String,
    pub site_tz: String,
    pub now: String,
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Templates by code.
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    #[serde(default)]
    pub roster: Vec<RosterEntry>,
    #[serde(default)]
    pub weekly: Option<Weekly>,
    #[serde(default)]
    pub default_shift: Option<String>,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub punches: Vec<Punch>,
    /// The plugin's own configuration.
    #[serde(default)]
    pub config: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RosterSpec {
    List(Vec<RosterEntry>),
    Weekly(Weekly),
}

#[derive(Deserialize)]
struct RawRulesInput {
    user_id: String,
    site_tz: String,
    now: String,
    #[serde(default)]
    devices: Vec<Device>,
    #[serde(default)]
    templates: BTreeMap<String, Template>,
    #[serde(default)]
    roster: Option<RosterSpec>,
    #[serde(default)]
    weekly: Option<Weekly>,
    #[serde(default)]
    default_shift: Option<String>,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    punches: Vec<Punch>,
    #[serde(default)]
    config: serde_json::Value,
}

impl From<RawRulesInput> for RulesInput {
    fn from(raw: RawRulesInput) -> Self {
        let (roster, weekly) = match raw.roster {
            Some(RosterSpec::List(list)) => (list, raw.weekly),
            Some(RosterSpec::Weekly(weekly)) => (Vec::new(), Some(weekly)),
            None => (Vec::new(), raw.weekly),
        };
        Self {
            user_id: raw.user_id,
            site_tz: raw.site_tz,
            now: raw.now,
            devices: raw.devices,
            templates: raw.templates,
            roster,
            weekly,
            default_shift: raw.default_shift,
            holidays: raw.holidays,
            punches: raw.punches,
            config: raw.config,
        }
    }
}

impl RulesInput {
    /// The template for `code`, with its code filled in.
    pub fn template(&self, code: &str) -> Option<Template> {
        self.templates.get(code).map(|t| Template { code: code.to_owned(), ..t.clone() })
    }
}

/// One attendance day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendanceRecord {
    pub date: String,
    pub shift: Option<String>,
    pub status: String,
    pub clock_in: Option<String>,
    pub clock_out: Option<String>,
    pub worked_min: Option<i32>,
    pub break_min: Option<i32>,
    pub payable_min: Option<i32>,
    pub scheduled_min: Option<i32>,
    pub overtime_min: Option<i32>,
    pub late_min: Option<i32>,
    pub early_min: Option<i32>,
    #[serde(default)]
    pub duplicates: u32,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(rename = "final", default)]
    pub is_final: bool,
    #[serde(default)]
    pub reason: String,
}

/// A punch outside every window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unassigned {
    pub time: String,
    pub date: String,
}

/// A punch set aside for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub time: String,
    pub reason: String,
}

/// The rules' output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesOutput {
    #[serde(default)]
    pub records: Vec<AttendanceRecord>,
    #[serde(default)]
    pub unassigned: Vec<Unassigned>,
    #[serde(default)]
    pub review: Vec<Review>,
}

/// One processed day for the CRM mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmDay {
    pub user_id: String,
    pub employee_name: Option<String>,
    pub day: AttendanceRecord,
    pub revision: u32,
    pub rule_plugin: String,
    pub rule_version: String,
    pub device_name: Option<String>,
    pub device_ip: Option<String>,
    #[serde(default)]
    pub config: serde_json::Value,
}

/// What the CRM receives for a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrmRequest {
    /// Nothing.
    Skip,
    /// A POST with this JSON body and extra headers.
    Post {
        /// JSON body.
        body: serde_json::Value,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
}

/// A plugin's name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
}

/// A plugin's own configuration as it crosses the sandbox: JSON text, empty for none. The host
/// writes it with this and the SDK reads it with [`config_from_text`], for every world.
pub fn config_to_text(config: &serde_json::Value) -> String {
    if config.is_null() { String::new() } else { config.to_string() }
}

/// The configuration back from [`config_to_text`]'s text; blank text is no configuration (`null`).
///
/// # Errors
/// When the text is not JSON.
pub fn config_from_text(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(text).map_err(|e| format!("plugin config is not JSON: {e}"))
}
