//! `/admin/punches`: the punches as the devices recorded them, newest first; read only.
//!
//! Pages through `store::listing::raw_page` (the `/api/raw-attendance/` query: indexed by time,
//! device and employee, counts bounded), so it stays fast on a large table.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{NaiveDate, TimeDelta};
use minijinja::context;
use serde::Deserialize;

use super::{PAGE_SIZE, Pager, given, page_number, shown};
use crate::domain::WallTime;
use crate::store::devices;
use crate::store::listing::{self, RawFilter};
use crate::web::auth::Principal;
use crate::web::view::{Nav, TakenFlash, frame, render};
use crate::web::{AdminOnly, AppError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/punches", get(list))
}

/// The filters as typed (kept in the form and in the page links).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct PunchQuery {
    user_id: Option<String>,
    device: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<String>,
}

/// What a punch state code means on ZKTeco terminals.
pub(super) fn punch_state(code: i32) -> &'static str {
    match code {
        0 => "check in",
        1 => "check out",
        2 => "break out",
        3 => "break in",
        4 => "overtime in",
        5 => "overtime out",
        _ => "other",
    }
}

/// How the person was recognised.
fn verify(code: i32) -> &'static str {
    match code {
        0 => "password",
        1 => "fingerprint",
        2 => "card",
        15 => "face",
        _ => "other",
    }
}

/// `GET /admin/punches?user_id=&device=&from=&to=&page=` (dates are site dates, inclusive).
async fn list(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Query(q): Query<PunchQuery>, taken: TakenFlash) -> Result<Response, AppError> {
    let site = state.config.time_zone.0;
    let zone = state.config.display_zone();
    let mut errors = HashMap::new();
    let date = |name: &'static str, raw: &Option<String>, errors: &mut HashMap<&'static str, &'static str>| match given(raw) {
        None => None,
        Some(v) => NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| errors.insert(name, "not a date")).ok(),
    };
    let from = date("from", &q.from, &mut errors);
    let to = date("to", &q.to, &mut errors);
    let device = given(&q.device).and_then(|d| d.parse::<i64>().map_err(|_| errors.insert("device", "unknown device")).ok());
    let midnight = |d: NaiveDate| WallTime(d.and_time(chrono::NaiveTime::MIN)).resolve(site).ok().map(|(t, _)| t.naive_utc());
    let filter = RawFilter {
        user_id: given(&q.user_id),
        device,
        from_utc: from.and_then(midnight),
        until_utc: to.and_then(|d| d.checked_add_signed(TimeDelta::days(1))).and_then(midnight),
    };
    let page = page_number(q.page.as_deref());
    let result = listing::raw_page(&state.store, &filter, (page - 1) * PAGE_SIZE, PAGE_SIZE).await?;
    let all_devices = devices::list(&state.store).await?;
    let names: HashMap<i64, String> = all_devices.iter().map(|d| (d.id.0, d.name.clone())).collect();
    let rows: Vec<_> = result
        .rows
        .iter()
        .map(|r| {
            context! {
                id => r.id,
                user_id => r.user_id.clone(),
                employee_link => format!("/admin/punches?{}", url::form_urlencoded::Serializer::new(String::new()).append_pair("user_id", &r.user_id).finish()),
                device => names.get(&r.device_id).cloned().unwrap_or_else(|| format!("#{}", r.device_id)),
                device_time => r.local_time.format("%Y-%m-%d %H:%M:%S").to_string(),
                instant => shown(Some(r.utc_time), zone),
                state => punch_state(r.punch_state),
                verify => verify(r.verify_type),
                received => shown(Some(r.received_at), zone),
            }
        })
        .collect();
    let pager = Pager::new(
        "/admin/punches",
        &[("user_id", given(&q.user_id)), ("device", given(&q.device)), ("from", given(&q.from)), ("to", given(&q.to))],
        page,
        rows.len(),
        result.more,
        result.count,
    );
    let device_options: Vec<_> = all_devices.iter().map(|d| context! { id => d.id.0.to_string(), name => d.name.clone() }).collect();
    let html = render(
        "web/admin/punches.html",
        context! {
            rows, pager => minijinja::value::Serde(&pager), q => minijinja::value::Serde(&q), errors, devices => device_options,
            zone => zone.name(), flash => minijinja::value::Serde(taken.message()),
            ..frame(&state, &principal, Nav::Punches)
        },
    )?;
    Ok((taken, html).into_response())
}
