//! `/admin/sync…`: the CRM outbox (pending, in flight, failed with the CRM's last answer), retrying
//! failed deliveries, re-sending a period (the `--force` of `attendance-bridge sync`, after a
//! confirmation), and the connection test of `test-crm`.
//!
//! Retries and re-sends are `on_demand` sync runs with the options `POST
//! /api/processed-attendance/sync/` takes, so they never run twice at once and are audited alike.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::NaiveDate;
use minijinja::context;
use serde::Deserialize;

use super::{given, shown, start};
use crate::domain::EmployeeId;
use crate::pipeline::on_demand::{self, Action, SyncOptions};
use crate::store::listing::{self, ProcessedFilter};
use crate::store::outbox::{self, Delivery, OutboxStatus};
use crate::store::{StoreError, attendance, employees};
use crate::sync::payload::Rendered;
use crate::web::auth::Principal;
use crate::web::view::{Flash, Nav, TakenFlash, frame, render};
use crate::web::{AdminOnly, AppError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/sync", get(overview))
        .route("/admin/sync/test", post(test))
        .route("/admin/sync/retry-failed", post(retry_failed))
        .route("/admin/sync/retry/{day}", post(retry_one))
        .route("/admin/sync/resend", get(resend_confirm).post(resend))
}

/// Rows shown per queue section (the figures above count all of them).
const SHOWN: i64 = 50;

async fn deliveries(state: &AppState, rows: Vec<Delivery>) -> Result<Vec<minijinja::Value>, AppError> {
    let zone = state.config.display_zone();
    let ids: Vec<i64> = rows.iter().map(|d| d.attendance_id).collect();
    let days = attendance::get_many(&state.store, &ids).await?;
    let days: HashMap<i64, _> = days.into_iter().map(|d| (d.id, d)).collect();
    let codes: Vec<EmployeeId> = days.values().map(|d| EmployeeId(d.user_id.clone())).collect();
    let names = employees::names(&state.store, &codes).await?;
    Ok(rows
        .into_iter()
        .map(|d| {
            let day = days.get(&d.attendance_id);
            context! {
                day_id => d.attendance_id,
                user_id => day.map(|x| x.user_id.clone()),
                name => day.and_then(|x| names.get(&EmployeeId(x.user_id.clone())).cloned()),
                date => day.map(|x| x.work_date.to_string()),
                revision => d.revision,
                attempts => d.attempts,
                last_status => d.last_status,
                last_error => d.last_error,
                next_attempt => shown(Some(d.next_attempt_at), zone),
                queued => shown(Some(d.created_at), zone),
                lease => d.lease_owner,
            }
        })
        .collect())
}

/// Counted exactly up to this many per state; beyond it the page says "more than".
const COUNT_CAP: i64 = 1_000;

/// The queue's figures, each a bounded count (a full count of a large outbox per page view would
/// be slow).
#[derive(Debug, serde::Serialize)]
struct Figures {
    pending: i64,
    in_flight: i64,
    failed: i64,
    skipped: i64,
    cap: i64,
}

async fn page(state: &AppState, principal: &Principal, test: Option<minijinja::Value>, flash: Option<Flash>) -> Result<Html<String>, AppError> {
    let count = |s| outbox::count_capped(&state.store, s, COUNT_CAP);
    let stats = Figures {
        pending: count(OutboxStatus::Pending).await?,
        in_flight: count(OutboxStatus::InFlight).await?,
        failed: count(OutboxStatus::Failed).await?,
        skipped: count(OutboxStatus::Skipped).await?,
        cap: COUNT_CAP,
    };
    let failed = deliveries(state, outbox::by_status(&state.store, OutboxStatus::Failed, true, SHOWN).await?).await?;
    let pending = deliveries(state, outbox::by_status(&state.store, OutboxStatus::Pending, false, SHOWN).await?).await?;
    let in_flight = deliveries(state, outbox::by_status(&state.store, OutboxStatus::InFlight, false, SHOWN).await?).await?;
    let endpoint = state.config.crm.api_url.as_ref().map(crate::config::HttpUrl::redacted);
    render(
        "web/admin/sync.html",
        context! {
            stats => minijinja::value::Serde(&stats),
            failed, pending, in_flight, shown => SHOWN,
            endpoint, test, flash => minijinja::value::Serde(flash),
            ..frame(state, principal, Nav::Sync)
        },
    )
}

/// `GET /admin/sync`.
async fn overview(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, taken: TakenFlash) -> Result<Response, AppError> {
    let html = page(&state, &principal, None, taken.message()).await?;
    Ok((taken, html).into_response())
}

/// What `test-crm` checks, as a page section: the payload the latest day would send (nothing is
/// sent), then one harmless request for reachability, TLS and the token.
async fn connection_test(state: &AppState) -> minijinja::Value {
    let registry = match crate::pipeline::plugin_registry(&state.config) {
        Ok(r) => r,
        Err(e) => return context! { ok => false, verdict => format!("the plugins cannot be loaded: {e}") },
    };
    let owner = format!("web-{}", std::process::id());
    let sender = match crate::pipeline::crm_sync::configured_sender(&state.store, &registry, &state.config, &owner) {
        Ok(Some(s)) => s,
        Ok(None) => return context! { ok => false, verdict => "CRM_API_URL is not set: CRM sync is disabled." },
        Err(e) => return context! { ok => false, verdict => format!("the CRM settings are not usable: {e}") },
    };
    let renderer = sender.renderer();
    let dry_run = match attendance::latest(&state.store).await {
        Ok(None) => "No processed day yet, so no payload to show.".to_owned(),
        Ok(Some(day)) => match renderer.render_day(&day).await {
            Ok(Rendered::Send { body, .. }) => {
                let pretty = serde_json::from_str::<serde_json::Value>(&body).and_then(|v| serde_json::to_string_pretty(&v)).unwrap_or(body);
                format!("{} {} through {} (not sent):\n{pretty}", day.user_id, day.work_date, renderer.plugin())
            }
            Ok(_) => format!("{} skips {} {}.", renderer.plugin(), day.user_id, day.work_date),
            Err(e) => format!("The mapping plugin cannot render a payload: {e}"),
        },
        Err(e) => format!("The latest day cannot be read: {e}"),
    };
    let settings = sender.settings();
    let (ok, verdict) = match sender.probe().await {
        Err(e) if e.is_timeout() => (false, format!("The CRM did not answer within {:?}.", settings.timeout)),
        Err(e) if e.is_connect() => {
            (false, format!("Cannot connect to the CRM (DNS, refused, or TLS certificate not trusted): {}", crate::sync::sender::describe(&e)))
        }
        Err(e) => (false, format!("The request to the CRM failed: {}", crate::sync::sender::describe(&e))),
        Ok(status @ (401 | 403)) => (false, format!("The CRM is reachable but refused the token (HTTP {status}): check CRM_API_TOKEN and CRM_AUTH_SCHEME.")),
        Ok(status @ 300..=399) => (false, format!("The CRM answered with a redirect (HTTP {status}); redirects are not followed: fix CRM_API_URL.")),
        Ok(status @ 500..=599) => (false, format!("The CRM is reachable but failing (HTTP {status}).")),
        Ok(status) => (true, format!("The CRM is reachable; TLS and token accepted (HTTP {status} to a GET).")),
    };
    context! { ok, verdict, endpoint => settings.redacted_url(), dry_run }
}

/// `POST /admin/sync/test`: the connection test's result on the page. Sends no attendance.
async fn test(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>) -> Result<Html<String>, AppError> {
    let result = connection_test(&state).await;
    page(&state, &principal, Some(result), None).await
}

fn not_configured() -> Response {
    Flash::error("No CRM is configured (CRM_API_URL), so there is nothing to send.").redirect("/admin/sync")
}

fn started(run: on_demand::Triggered, what: &str) -> Response {
    let text = if run.joined { format!("{what}: a sync was already running and takes it along; see Jobs for its figures.") } else { format!("{what}: the sync has started; see Jobs for its figures.") };
    Flash::ok(text).redirect("/admin/sync")
}

/// `POST /admin/sync/retry-failed`: every dead letter back in the queue, then a sync.
async fn retry_failed(AdminOnly(user): AdminOnly, State(state): State<AppState>) -> Result<Response, AppError> {
    if state.config.crm.api_url.is_none() {
        return Ok(not_configured());
    }
    let run = start(&state, &user, Action::Sync(SyncOptions { retry_failed: true, ..SyncOptions::default() })).await?;
    Ok(started(run, "Retrying every failed delivery"))
}

/// `POST /admin/sync/retry/{day}`: one day's dead letter back in the queue, then a sync of that day.
async fn retry_one(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(day): Path<String>) -> Result<Response, AppError> {
    if state.config.crm.api_url.is_none() {
        return Ok(not_configured());
    }
    let id = day.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::NotFound(format!("day {day:?}")))?;
    let (day, _) = listing::processed_one(&state.store, id).await.map_err(|e| match e {
        StoreError::NotFound(_) => AppError::NotFound(format!("processed day {id}")),
        other => other.into(),
    })?;
    let selection = on_demand::selection(Some(day.work_date), Some(day.work_date), Some(day.user_id.clone()));
    let run = start(&state, &user, Action::Sync(SyncOptions { retry_failed: true, selection, ..SyncOptions::default() })).await?;
    Ok(started(run, &format!("Retrying {} {}", day.user_id, day.work_date)))
}

/// A period to re-send, as typed.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct ResendForm {
    from: String,
    to: String,
    user_id: String,
    confirm: String,
}

/// The checked period, or why not.
fn period(form: &ResendForm) -> Result<(NaiveDate, NaiveDate, Option<String>), String> {
    let date = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    let (Some(from), Some(to)) = (date(&form.from), date(&form.to)) else {
        return Err("Give the first and last date of the period (YYYY-MM-DD).".into());
    };
    if to < from {
        return Err("The last date is before the first.".into());
    }
    Ok((from, to, given(&Some(form.user_id.clone()))))
}

/// `GET /admin/sync/resend?from=&to=&user_id=`: what would be re-sent, and the button that does it.
async fn resend_confirm(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Query(form): Query<ResendForm>) -> Result<Response, AppError> {
    let (from, to, user_id) = match period(&form) {
        Ok(p) => p,
        Err(why) => return Ok(Flash::error(why).redirect("/admin/sync")),
    };
    let filter = ProcessedFilter { user_id: user_id.clone(), start: Some(from), end: Some(to), ..ProcessedFilter::default() };
    let days = listing::processed_page(&state.store, &filter, 0, 1).await?.count;
    let html = render(
        "web/admin/sync.html",
        context! {
            confirm => context! { from => from.to_string(), to => to.to_string(), user_id, days },
            endpoint => state.config.crm.api_url.as_ref().map(crate::config::HttpUrl::redacted),
            ..frame(&state, &principal, Nav::Sync)
        },
    )?;
    Ok(html.into_response())
}

/// `POST /admin/sync/resend` (with `confirm=yes`): the period's days go to the CRM again as a new
/// revision each (the CRM replaces what it has; nothing is sent twice under one revision).
async fn resend(AdminOnly(user): AdminOnly, State(state): State<AppState>, Form(form): Form<ResendForm>) -> Result<Response, AppError> {
    if state.config.crm.api_url.is_none() {
        return Ok(not_configured());
    }
    let (from, to, user_id) = match period(&form) {
        Ok(p) => p,
        Err(why) => return Ok(Flash::error(why).redirect("/admin/sync")),
    };
    if form.confirm != "yes" {
        return Ok(Flash::info("Nothing re-sent: the re-send was not confirmed.").redirect("/admin/sync"));
    }
    let selection = on_demand::selection(Some(from), Some(to), user_id);
    let run = start(&state, &user, Action::Sync(SyncOptions { force: true, selection, ..SyncOptions::default() })).await?;
    Ok(started(run, &format!("Re-sending {from} to {to}")))
}
