//! Administration pages, part A: devices, raw punches, processed days, CRM sync and jobs
//! (`/admin/devices…`, `/admin/punches…`, `/admin/days…`, `/admin/sync…`, `/admin/jobs…`).
//!
//! Every handler takes [`AdminOnly`](super::AdminOnly): a viewer gets the site's 403 page. Every
//! change is a form post carrying the session's `csrf_token` (checked by the access layer before a
//! handler runs), goes through the library function the CLI and API use, and is audited as the API
//! audits it. Lists read through `store::listing` (indexed, limited pages, bounded counts).

mod days;
mod devices;
mod jobs;
mod punches;
mod sync;

use axum::Router;
use chrono::NaiveDateTime;

use super::{AppError, AppState};
use crate::pipeline::on_demand::{self, Action, Triggered};
use crate::store::audit::{self, NewAuditEntry};
use crate::store::users::User;

/// The pages' routes.
pub(super) fn router() -> Router<AppState> {
    Router::new().merge(devices::router()).merge(punches::router()).merge(days::router()).merge(sync::router()).merge(jobs::router())
}

/// The pages' templates (see [`super::view`]).
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("web/admin/macros.html", include_str!("../../../../templates/web/admin/macros.html")),
    ("web/admin/devices.html", include_str!("../../../../templates/web/admin/devices.html")),
    ("web/admin/device_form.html", include_str!("../../../../templates/web/admin/device_form.html")),
    ("web/admin/device.html", include_str!("../../../../templates/web/admin/device.html")),
    ("web/admin/punches.html", include_str!("../../../../templates/web/admin/punches.html")),
    ("web/admin/days.html", include_str!("../../../../templates/web/admin/days.html")),
    ("web/admin/day.html", include_str!("../../../../templates/web/admin/day.html")),
    ("web/admin/sync.html", include_str!("../../../../templates/web/admin/sync.html")),
    ("web/admin/jobs.html", include_str!("../../../../templates/web/admin/jobs.html")),
];

/// Rows per list page.
const PAGE_SIZE: i64 = 50;
/// The deepest page a list offers: offset pagination costs grow with depth, and nobody reads page
/// 2,000 of a punch list (narrowing the filters is the way there).
const MAX_PAGE: i64 = 200;

/// A stored UTC instant as `YYYY-MM-DD HH:MM` in the display zone.
fn shown(utc: Option<NaiveDateTime>, zone: chrono_tz::Tz) -> Option<String> {
    utc.map(|t| t.and_utc().with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
}

/// The same with seconds and the UTC offset, where the exact instant matters.
fn shown_exact(utc: Option<NaiveDateTime>, zone: chrono_tz::Tz) -> Option<String> {
    utc.map(|t| t.and_utc().with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %:z").to_string())
}

/// A 1-based page number from the query (bad or missing: 1; capped at [`MAX_PAGE`]).
fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.trim().parse::<i64>().ok()).filter(|p| *p >= 1).unwrap_or(1).min(MAX_PAGE)
}

/// A filter value: trimmed, empty means none.
fn given(raw: &Option<String>) -> Option<String> {
    raw.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// Starts `action` in the background (or joins the same one running), as the API's 202 answers
/// do, and records who asked.
async fn start(state: &AppState, user: &User, action: Action) -> Result<Triggered, AppError> {
    let job = action.run_name();
    let triggered = on_demand::trigger(&state.store, &state.config, action).await?;
    let mut entry = NewAuditEntry::now(&user.username, "job.trigger", "job", Some(job));
    entry.new_value = Some(serde_json::json!({ "job_run_id": triggered.run_id, "joined": triggered.joined }).to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(triggered)
}

/// Links to the neighbouring pages of a list, keeping its filters.
#[derive(Debug, serde::Serialize)]
struct Pager {
    page: i64,
    previous: Option<String>,
    next: Option<String>,
    /// "about" when the count is an estimate or capped.
    count: i64,
    first_row: i64,
    last_row: i64,
}

impl Pager {
    fn new(base: &str, query: &[(&str, Option<String>)], page: i64, rows: usize, more: bool, count: i64) -> Self {
        let link = |p: i64| {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                if let Some(v) = v {
                    serializer.append_pair(k, v);
                }
            }
            serializer.append_pair("page", &p.to_string());
            format!("{base}?{}", serializer.finish())
        };
        let first_row = (page - 1) * PAGE_SIZE + 1;
        Pager {
            page,
            previous: (page > 1).then(|| link(page - 1)),
            next: (more && page < MAX_PAGE).then(|| link(page + 1)),
            count,
            first_row: if rows == 0 { 0 } else { first_row },
            last_row: first_row + rows as i64 - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_bounded() {
        assert_eq!(page_number(None), 1);
        assert_eq!(page_number(Some("0")), 1);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("3")), 3);
        assert_eq!(page_number(Some("999999")), MAX_PAGE);
    }

    #[test]
    fn pager_links_keep_filters() {
        let p = Pager::new("/admin/punches", &[("user_id", Some("7".into())), ("device", None)], 2, 50, true, 500);
        assert_eq!(p.previous.as_deref(), Some("/admin/punches?user_id=7&page=1"));
        assert_eq!(p.next.as_deref(), Some("/admin/punches?user_id=7&page=3"));
        assert_eq!((p.first_row, p.last_row), (51, 100));
    }

    /// Templates are checked only when rendered (an unknown filter is a 500): render the list
    /// pages with rows in them.
    #[test]
    fn list_pages_render_with_rows() {
        use minijinja::context;
        let pager = Pager::new("/admin/punches", &[("device", Some("1".into()))], 1, 50, true, 120);
        let frame = context! { user => context! { username => "a", role => "admin", is_admin => true }, csrf_token => "t" };
        let punch = context! { id => 1, user_id => "7", employee_link => "/admin/punches?user_id=7", device => "Gate", device_time => "x", instant => "y", state => "check in", verify => "card", received => "z" };
        let page = crate::web::view::render(
            "web/admin/punches.html",
            context! { rows => vec![punch], pager => minijinja::value::Serde(&pager), q => context! { device => "1" }, errors => context! {}, devices => vec![context! { id => "1", name => "Gate" }], zone => "UTC", ..frame.clone() },
        );
        let page = page.unwrap_or_else(|e| panic!("{e}")).0;
        assert!(page.contains("punches?user_id=7") && page.contains("selected"));
        let day = context! { id => 3, user_id => "7", date => "2025-06-02", weekday => "Mon", status => "half_day", clock_in => "08:00", flags => vec!["outlier_late"], manual => true, sync => "failed", sync_tone => "bad", sync_error => "HTTP 422" };
        let page = crate::web::view::render(
            "web/admin/days.html",
            context! { rows => vec![day], pager => minijinja::value::Serde(&pager), q => context! { outliers => "on" }, errors => context! {}, statuses => ["present", "half_day"], ..frame },
        );
        let page = page.unwrap_or_else(|e| panic!("{e}")).0;
        assert!(page.contains("outlier late") && page.contains("manual"));
    }
}
