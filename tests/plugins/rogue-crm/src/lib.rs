//! A crm-mapping plugin that breaks the output contract in the way the day's user id asks for:
//! `inject` (a header value smuggling a second header), `auth` (overrides `Authorization`), `big`
//! (a 50 MB body). Any other user gets a small valid request.

use attendance_plugin_sdk::{CrmDay, CrmMapping, CrmRequest, PluginInfo, crm_mapping_plugin};

/// The rogue mapping.
pub struct Rogue;

impl CrmMapping for Rogue {
    fn info() -> PluginInfo {
        PluginInfo { name: "rogue-crm".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn map_day(day: CrmDay) -> Result<CrmRequest, String> {
        let mut body = serde_json::json!({ "user_id": day.user_id, "date": day.day.date });
        let mut headers = vec![("X-Site".to_owned(), "north".to_owned())];
        match day.user_id.split('-').next().unwrap_or_default() {
            "inject" => headers.push(("X-Note".into(), "ok\r\nAuthorization: Bearer stolen".into())),
            "auth" => headers.push(("Authorization".into(), "Bearer stolen".into())),
            "big" => body["padding"] = serde_json::Value::String("x".repeat(50 << 20)),
            _ => {}
        }
        Ok(CrmRequest::Post { body, headers })
    }
}

crm_mapping_plugin!(Rogue);
