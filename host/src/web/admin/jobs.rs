//! `/admin/jobs…`: the scheduled jobs (pause, resume, interval), their last runs with duration,
//! figures and errors, and "run now".
//!
//! Schedules change through `store::jobs::update_schedule` (the scheduler picks the change up at its
//! next look); "run now" is the API's job trigger (`on_demand`), which joins a run in progress
//! rather than starting a second one. Each change is audited.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::Utc;
use minijinja::context;
use serde::Deserialize;

use super::{shown, start};
use crate::pipeline::on_demand::{self, Action};
use crate::store::StoreError;
use crate::store::audit::{self, NewAuditEntry};
use crate::store::jobs::{self as job_store, JobName, JobOutcome, JobRun, ScheduleChange};
use crate::web::auth::Principal;
use crate::web::view::{Flash, Nav, TakenFlash, frame, render};
use crate::web::{AdminOnly, AppError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/jobs", get(list))
        .route("/admin/jobs/{name}/pause", post(pause))
        .route("/admin/jobs/{name}/resume", post(resume))
        .route("/admin/jobs/{name}/interval", post(interval))
        .route("/admin/jobs/{name}/run", post(run_now))
}

/// Runs shown under the schedules.
const RECENT_RUNS: i64 = 30;
/// Shortest interval an admin may set: the scheduler looks every few seconds, and devices and the
/// CRM should not be hammered.
const MIN_INTERVAL_S: u32 = 30;
/// Longest: a week.
const MAX_INTERVAL_S: u32 = 7 * 24 * 3600;

/// What each job does, in a sentence for the page.
fn purpose(name: &str) -> &'static str {
    match JobName::from_name(name) {
        Some(JobName::PollDevices) => "Downloads new punches from every enabled polled device.",
        Some(JobName::ProcessAttendance) => "Turns pending punches into attendance days with the active rules.",
        Some(JobName::SyncToCrm) => "Sends new and changed days to the CRM.",
        Some(JobName::RetryFailedSyncs) => "Puts deliveries that ran out of retries back in the queue.",
        Some(JobName::DailyCleanup) => "Removes punches, runs and sessions past their retention.",
        Some(JobName::CheckAlerts | JobName::SendReports) | None => "",
    }
}

/// `1 h 5 min`, `45 s`.
fn span(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 && s % 60 == 0 => format!("{} min", s / 60),
        s if s < 7200 => format!("{} min {} s", s / 60, s % 60),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn run_row(run: &JobRun, zone: chrono_tz::Tz) -> minijinja::Value {
    let duration = run.finished_at.map(|f| (f - run.started_at).num_milliseconds());
    let figures: Vec<String> = serde_json::from_str::<serde_json::Value>(&run.counts)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| format!("{}: {}", k.replace('_', " "), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect())
        .unwrap_or_default();
    context! {
        id => run.id,
        job => run.job_name.clone(),
        instance => run.instance.clone(),
        started => shown(Some(run.started_at), zone),
        duration => duration.map(|ms| if ms < 10_000 { format!("{:.1} s", ms as f64 / 1000.0) } else { span(ms / 1000) }),
        outcome => run.outcome.as_str(),
        tone => match run.outcome { JobOutcome::Ok => "ok", JobOutcome::Failed => "bad", JobOutcome::Running => "info" },
        figures,
        error => run.error.clone(),
    }
}

/// `GET /admin/jobs`.
async fn list(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, taken: TakenFlash) -> Result<Response, AppError> {
    let zone = state.config.display_zone();
    let now = Utc::now().naive_utc();
    let mut jobs = Vec::new();
    for s in job_store::list(&state.store).await? {
        let last = job_store::recent_runs(&state.store, Some(&s.name), 1).await?.into_iter().next();
        let running = s.lease_until.is_some_and(|u| u > now).then(|| s.lease_owner.clone()).flatten();
        jobs.push(context! {
            name => s.name.clone(),
            purpose => purpose(&s.name),
            every => s.interval_seconds.map(|i| span(i64::from(i))),
            interval_minutes => s.interval_seconds.map(|i| {
                let minutes = f64::from(i) / 60.0;
                if minutes.fract() == 0.0 { format!("{minutes:.0}") } else { format!("{minutes:.1}") }
            }),
            daily_at => s.daily_at.clone(),
            paused => s.paused,
            next => if s.paused { None } else { shown(s.next_run_at, zone).or_else(|| Some("now".into())) },
            running,
            runnable => on_demand::runnable_job(&s.name).is_some(),
            last => last.map(|r| run_row(&r, zone)),
        });
    }
    let runs: Vec<_> = job_store::recent_runs(&state.store, None, RECENT_RUNS).await?.iter().map(|r| run_row(r, zone)).collect();
    let html = render(
        "web/admin/jobs.html",
        context! {
            jobs, runs, zone => zone.name(), min_interval => MIN_INTERVAL_S, max_interval => MAX_INTERVAL_S,
            flash => minijinja::value::Serde(taken.message()),
            ..frame(&state, &principal, Nav::Jobs)
        },
    )?;
    Ok((taken, html).into_response())
}

/// Applies a schedule change with its audit entry.
async fn change(state: &AppState, user: &str, name: &str, change: &ScheduleChange, what: serde_json::Value) -> Result<Option<()>, AppError> {
    match job_store::update_schedule(&state.store, name, change).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut entry = NewAuditEntry::now(user, "job.schedule", "job", Some(name.to_owned()));
    entry.new_value = Some(what.to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(Some(()))
}

fn no_such_job(name: &str) -> Response {
    Flash::error(format!("There is no job named “{name}”.")).redirect("/admin/jobs")
}

/// `POST /admin/jobs/{name}/pause`.
async fn pause(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, AppError> {
    let c = ScheduleChange { paused: Some(true), ..ScheduleChange::default() };
    Ok(match change(&state, &user.username, &name, &c, serde_json::json!({ "paused": true })).await? {
        Some(()) => Flash::ok(format!("“{name}” paused: it does not run until resumed.")).redirect("/admin/jobs"),
        None => no_such_job(&name),
    })
}

/// `POST /admin/jobs/{name}/resume`.
async fn resume(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, AppError> {
    let c = ScheduleChange { paused: Some(false), ..ScheduleChange::default() };
    Ok(match change(&state, &user.username, &name, &c, serde_json::json!({ "paused": false })).await? {
        Some(()) => Flash::ok(format!("“{name}” resumed.")).redirect("/admin/jobs"),
        None => no_such_job(&name),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IntervalForm {
    minutes: String,
}

/// Minutes as typed (decimals allowed: `0.5` is 30 s) to seconds within the bounds.
fn interval_seconds(raw: &str) -> Result<u32, String> {
    let minutes: f64 = raw.trim().replace(',', ".").parse().map_err(|_| "The interval is not a number of minutes.".to_owned())?;
    let seconds = (minutes * 60.0).round();
    if !seconds.is_finite() || seconds < f64::from(MIN_INTERVAL_S) || seconds > f64::from(MAX_INTERVAL_S) {
        return Err(format!("The interval must be between {} s and {} days.", MIN_INTERVAL_S, MAX_INTERVAL_S / 86_400));
    }
    // In range, so the cast is exact.
    Ok(seconds as u32)
}

/// `POST /admin/jobs/{name}/interval` with `minutes`.
async fn interval(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(name): Path<String>, Form(form): Form<IntervalForm>) -> Result<Response, AppError> {
    let seconds = match interval_seconds(&form.minutes) {
        Ok(s) => s,
        Err(why) => return Ok(Flash::error(why).redirect("/admin/jobs")),
    };
    let c = ScheduleChange { interval_seconds: Some(seconds), ..ScheduleChange::default() };
    Ok(match change(&state, &user.username, &name, &c, serde_json::json!({ "interval_seconds": seconds })).await? {
        Some(()) => Flash::ok(format!("“{name}” now runs every {}.", span(i64::from(seconds)))).redirect("/admin/jobs"),
        None => no_such_job(&name),
    })
}

/// `POST /admin/jobs/{name}/run`: as `POST /api/jobs/{name}/run/` (joins a run in progress).
async fn run_now(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, AppError> {
    let Some(job) = on_demand::runnable_job(&name) else {
        return Ok(no_such_job(&name));
    };
    let run = start(&state, &user, Action::Job(job)).await?;
    let text = if run.joined { format!("“{name}” was already running; that run is shown below.") } else { format!("“{name}” started (run {}).", run.run_id) };
    Ok(Flash::ok(text).redirect("/admin/jobs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_bounded_minutes() {
        assert_eq!(interval_seconds("15"), Ok(900));
        assert_eq!(interval_seconds("0,5"), Ok(30));
        assert!(interval_seconds("0.1").is_err());
        assert!(interval_seconds("abc").is_err());
        assert!(interval_seconds("1e12").is_err());
        assert!(interval_seconds("NaN").is_err());
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(900), "15 min");
        assert_eq!(span(86_400), "24 h");
        assert_eq!(span(7200 + 31 * 60), "2 h 31 min");
    }
}
