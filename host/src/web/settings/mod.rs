//! Administration pages, part B: employees, shifts and rosters, plugins, users and tokens, and the
//! signed-in user's own account page.
//!
//! Admins only on `/admin/*` (every handler takes [`super::AdminOnly`]; the access layer also refuses
//! a viewer's posts). Every change goes through the storage and pipeline functions the CLI and the API
//! use, is CSRF-protected by the access layer (each form carries the hidden `csrf_token`), and is
//! written to the audit log with who did it.

mod account;
mod employees;
mod plugins;
mod shifts;
mod users;

use axum::Router;

use super::{AppError, AppState};
use crate::store::audit::{self, NewAuditEntry};

/// This area's templates (see [`super::view`]).
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("web/settings/employees.html", include_str!("../../../../templates/web/settings/employees.html")),
    ("web/settings/employee.html", include_str!("../../../../templates/web/settings/employee.html")),
    ("web/settings/shifts.html", include_str!("../../../../templates/web/settings/shifts.html")),
    ("web/settings/shift_form.html", include_str!("../../../../templates/web/settings/shift_form.html")),
    ("web/settings/plugins.html", include_str!("../../../../templates/web/settings/plugins.html")),
    ("web/settings/plugin_preview.html", include_str!("../../../../templates/web/settings/plugin_preview.html")),
    ("web/settings/plugin_config.html", include_str!("../../../../templates/web/settings/plugin_config.html")),
    ("web/settings/users.html", include_str!("../../../../templates/web/settings/users.html")),
    ("web/settings/account.html", include_str!("../../../../templates/web/settings/account.html")),
];

/// The routes of every page here.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .merge(employees::router())
        .merge(shifts::router())
        .merge(plugins::router())
        .merge(users::router())
        .merge(account::router())
}

/// Writes one audit entry for a change made on these pages.
async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    target: (&str, Option<String>),
    old: Option<serde_json::Value>,
    new: Option<serde_json::Value>,
) -> Result<(), AppError> {
    let mut entry = NewAuditEntry::now(actor, action, target.0, target.1);
    entry.old_value = old.map(|v| v.to_string());
    entry.new_value = new.map(|v| v.to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(())
}

/// A UTC time as the pages show it: in the display zone, with its offset.
fn local(state: &AppState, at: chrono::NaiveDateTime) -> String {
    at.and_utc().with_timezone(&state.config.display_zone()).format("%Y-%m-%d %H:%M %:z").to_string()
}

/// `"1 day"`, `"3 days"`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// A one-shot message for a template's `flash` (the frame shows it).
fn shown(flash: Option<super::view::Flash>) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(flash))
}
