//! `/api/jobs/`: schedules and their last runs, "run now", and one run's progress
//! (`/api/jobs/runs/{id}/`), which is what every long action's 202 points to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use super::openapi::ErrorBody;
use super::pagination::{ListRequest, Paginated};
use super::processed_attendance::parse_id;
use super::{ApiError, ApiResult, site_time};
use crate::pipeline::on_demand::{self, Action};
use crate::store::audit::{self, NewAuditEntry};
use crate::store::jobs::{self as job_store, JobRun};
use crate::store::listing;
use crate::store::users::User;
use crate::web::{AdminOnly, AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs/", get(list))
        .route("/jobs/runs/{id}/", get(run))
        .route("/jobs/{name}/run/", post(run_now))
}

/// The answer to a long action: the run to follow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The `job_runs` id.
    job_run_id: i64,
    /// The run's name (`poll_devices`, `process_attendance`, …).
    job: String,
    /// Always `running` at this point.
    status: &'static str,
    /// The same action was already running: this is that run.
    joined: bool,
    /// Where to follow it.
    url: String,
}

/// Starts `action` (or joins the same one in progress), records who asked, and answers 202.
pub(super) async fn accepted(state: &AppState, user: &User, action: Action) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let job = action.run_name();
    let triggered = on_demand::trigger(&state.store, &state.config, action).await?;
    let mut entry = NewAuditEntry::now(&user.username, "job.trigger", "job", Some(job.clone()));
    entry.new_value = Some(serde_json::json!({ "job_run_id": triggered.run_id, "joined": triggered.joined }).to_string());
    audit::record_alone(&state.store, &entry).await?;
    let run_id = triggered.run_id;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted { job_run_id: run_id, job, status: "running", joined: triggered.joined, url: format!("/api/jobs/runs/{run_id}/") }),
    ))
}

/// A recorded run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunOut {
    id: i64,
    job: String,
    instance: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    /// `running`, `ok` or `failed`.
    status: String,
    /// The figures the run reported.
    counts: Value,
    error: Option<String>,
}

impl RunOut {
    fn new(run: JobRun, site: chrono_tz::Tz) -> Self {
        RunOut {
            id: run.id,
            started_at: site_time(Some(run.started_at), site),
            finished_at: site_time(run.finished_at, site),
            counts: serde_json::from_str(&run.counts).unwrap_or(Value::Null),
            job: run.job_name,
            instance: run.instance,
            status: run.outcome.to_string(),
            error: run.error,
        }
    }
}

/// A schedule and its last run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobOut {
    name: String,
    interval_seconds: Option<i32>,
    daily_at: Option<String>,
    paused: bool,
    next_run_at: Option<String>,
    running_on: Option<String>,
    last_run: Option<RunOut>,
}

#[utoipa::path(
    operation_id = "jobs_list",
    get,
    path = "/api/jobs/",
    tag = "jobs",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
    ),
    responses(
        (status = 200, description = "schedules and last runs", body = Paginated<JobOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/jobs/`.
pub(super) async fn list(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<JobOut>>> {
    request.fields().finish()?;
    let site = state.config.time_zone.0;
    let mut jobs = Vec::new();
    for schedule in job_store::list(&state.store).await? {
        let last = job_store::recent_runs(&state.store, Some(&schedule.name), 1).await?.into_iter().next();
        jobs.push(JobOut {
            interval_seconds: schedule.interval_seconds,
            daily_at: schedule.daily_at,
            paused: schedule.paused,
            next_run_at: site_time(schedule.next_run_at, site),
            running_on: schedule.lease_owner,
            last_run: last.map(|r| RunOut::new(r, site)),
            name: schedule.name,
        });
    }
    Ok(Json(request.answer_slice(jobs)?))
}

#[utoipa::path(
    operation_id = "jobs_run",
    get,
    path = "/api/jobs/runs/{id}/",
    tag = "jobs",
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "the run", body = RunOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/jobs/runs/{id}/`.
pub(super) async fn run(_: Authenticated, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<RunOut>> {
    let id = parse_id(&id)?;
    Ok(Json(RunOut::new(listing::job_run(&state.store, id).await?, state.config.time_zone.0)))
}

#[utoipa::path(
    operation_id = "jobs_run_now",
    post,
    path = "/api/jobs/{name}/run/",
    tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses(
        (status = 202, description = "started (or joined)", body = Accepted),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/jobs/{name}/run/`: 202 with the run to follow.
pub(super) async fn run_now(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Some(job) = on_demand::runnable_job(&name) else {
        return Err(ApiError::Status(StatusCode::NOT_FOUND, format!("no job named {name:?}")));
    };
    accepted(&state, &user, Action::Job(job)).await
}
