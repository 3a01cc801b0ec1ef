//! What a plugin needs, in one import: `use attendance_plugin_sdk::prelude::*;`.

pub use crate::model::{AttendanceRecord, Flag, Flags, RulesInput, RulesOutput, Status};
pub use crate::{CrmDay, CrmMapping, CrmRequest, Level, PluginInfo, Result, ShiftRules, crm_mapping_plugin, log, shift_rules_plugin};
