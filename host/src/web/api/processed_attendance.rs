//! `/api/processed-attendance/`: processed days, their lists by state, counts, the process and sync
//! actions, and the manual correction (`PATCH …/{id}/`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::{Value, json};

use super::jobs::{Accepted, accepted};
use super::openapi::{CorrectionIn, ErrorBody, ProcessIn, StatsOut, SyncIn};
use super::pagination::{ListRequest, Paginated};
use super::{ApiError, ApiJson, ApiResult, Fields, site_time, with_offset};
use crate::domain::AttendanceStatus;
use crate::pipeline::on_demand::{self, Action, SyncOptions};
use crate::store::attendance::ProcessedDay;
use crate::store::corrections::{self, Correction, Stamp};
use crate::store::listing::{self, ProcessedFilter, SyncState};
use crate::store::{devices, stats};
use crate::web::{AdminOnly, AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/processed-attendance/", get(list))
        .route("/processed-attendance/unsynced/", get(unsynced))
        .route("/processed-attendance/outliers/", get(outliers))
        .route("/processed-attendance/stats/", get(stats_view))
        .route("/processed-attendance/process/", post(process))
        .route("/processed-attendance/sync/", post(sync))
        .route("/processed-attendance/{id}/", get(one).patch(correct))
}

/// A processed day as the API shows it: the original's field names, then ours.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProcessedOut {
    id: i64,
    user_id: String,
    date: chrono::NaiveDate,
    /// The original linked a day to one device; days here come from every device the employee used.
    device: Option<i64>,
    clock_in: Option<String>,
    clock_out: Option<String>,
    is_outlier: bool,
    outlier_reason: Option<String>,
    synced_to_crm: bool,
    sync_attempts: i32,
    last_sync_attempt: Option<String>,
    status: String,
    shift_code: String,
    worked_minutes: Option<i32>,
    break_minutes: Option<i32>,
    payable_minutes: Option<i32>,
    scheduled_minutes: Option<i32>,
    overtime_minutes: Option<i32>,
    late_minutes: Option<i32>,
    early_minutes: Option<i32>,
    duplicates: i32,
    flags: Vec<String>,
    reason: Option<String>,
    #[serde(rename = "final")]
    is_final: bool,
    revision: i32,
    rule_plugin: String,
    rule_version: String,
    manual_override: bool,
    sync_status: Option<String>,
    sync_error: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

impl ProcessedOut {
    fn new(day: ProcessedDay, sync: SyncState, site: chrono_tz::Tz) -> Self {
        let flags: Vec<String> = serde_json::from_str(&day.flags).unwrap_or_default();
        let is_outlier = flags.iter().any(|f| f.contains("outlier"));
        ProcessedOut {
            id: day.id,
            date: day.work_date,
            device: None,
            clock_in: with_offset(day.clock_in_local, day.clock_in_utc),
            clock_out: with_offset(day.clock_out_local, day.clock_out_utc),
            is_outlier,
            outlier_reason: if is_outlier { day.reason.clone() } else { None },
            synced_to_crm: sync.synced,
            sync_attempts: sync.attempts,
            last_sync_attempt: site_time(sync.delivered_at, site),
            status: day.status,
            shift_code: day.shift_code,
            worked_minutes: day.worked_min,
            break_minutes: day.break_min,
            payable_minutes: day.payable_min,
            scheduled_minutes: day.scheduled_min,
            overtime_minutes: day.overtime_min,
            late_minutes: day.late_min,
            early_minutes: day.early_min,
            duplicates: day.duplicates,
            flags,
            reason: day.reason,
            is_final: day.is_final,
            revision: day.revision,
            rule_plugin: day.rule_plugin,
            rule_version: day.rule_version,
            manual_override: day.manual_override,
            sync_status: sync.status,
            sync_error: sync.last_error,
            created_at: site_time(Some(day.created_at), site),
            updated_at: site_time(Some(day.updated_at), site),
            user_id: day.user_id,
        }
    }
}

fn filter_from(request: &ListRequest) -> ApiResult<ProcessedFilter> {
    let mut fields = request.fields();
    let filter = ProcessedFilter {
        user_id: request.param("user_id").filter(|v| !v.is_empty()).map(str::to_owned),
        start: fields.date("start_date", request.param("start_date")),
        end: fields.date("end_date", request.param("end_date")),
        is_outlier: fields.flag("is_outlier", request.param("is_outlier")),
        synced: fields.flag("synced", request.param("synced")),
        status: request.param("status").filter(|v| !v.is_empty()).map(str::to_owned),
    };
    fields.finish()?;
    Ok(filter)
}

async fn page(state: &AppState, request: &ListRequest, filter: &ProcessedFilter) -> ApiResult<Json<Paginated<ProcessedOut>>> {
    let page = listing::processed_page(&state.store, filter, request.offset(), request.page_size).await?;
    let site = state.config.time_zone.0;
    let results = page.rows.into_iter().map(|(day, sync)| ProcessedOut::new(day, sync, site)).collect();
    Ok(Json(request.answer(results, page.more, page.count)?))
}

#[utoipa::path(
    operation_id = "processed_attendance_list",
    get,
    path = "/api/processed-attendance/",
    tag = "processed-attendance",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
        ("user_id" = Option<String>, Query, description = "one employee"),
        ("start_date" = Option<chrono::NaiveDate>, Query, description = "first work date"),
        ("end_date" = Option<chrono::NaiveDate>, Query, description = "last work date"),
        ("is_outlier" = Option<bool>, Query, description = "outliers only (or none)"),
        ("synced" = Option<bool>, Query, description = "acknowledged by the CRM (or not)"),
        ("status" = Option<String>, Query, description = "present, absent, …"),
    ),
    responses(
        (status = 200, description = "a page of days", body = Paginated<ProcessedOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/processed-attendance/?user_id=&start_date=&end_date=&is_outlier=&synced=&status=`
pub(super) async fn list(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<ProcessedOut>>> {
    let filter = filter_from(&request)?;
    page(&state, &request, &filter).await
}

#[utoipa::path(
    operation_id = "processed_attendance_unsynced",
    get,
    path = "/api/processed-attendance/unsynced/",
    tag = "processed-attendance",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
        ("user_id" = Option<String>, Query, description = "one employee"),
        ("start_date" = Option<chrono::NaiveDate>, Query, description = "first work date"),
        ("end_date" = Option<chrono::NaiveDate>, Query, description = "last work date"),
        ("is_outlier" = Option<bool>, Query, description = "outliers only (or none)"),
        ("synced" = Option<bool>, Query, description = "acknowledged by the CRM (or not)"),
        ("status" = Option<String>, Query, description = "present, absent, …"),
    ),
    responses(
        (status = 200, description = "a page of days", body = Paginated<ProcessedOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/processed-attendance/unsynced/`: days whose current revision the CRM has not acknowledged.
pub(super) async fn unsynced(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<ProcessedOut>>> {
    let filter = ProcessedFilter { synced: Some(false), ..filter_from(&request)? };
    page(&state, &request, &filter).await
}

#[utoipa::path(
    operation_id = "processed_attendance_outliers",
    get,
    path = "/api/processed-attendance/outliers/",
    tag = "processed-attendance",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
        ("user_id" = Option<String>, Query, description = "one employee"),
        ("start_date" = Option<chrono::NaiveDate>, Query, description = "first work date"),
        ("end_date" = Option<chrono::NaiveDate>, Query, description = "last work date"),
        ("is_outlier" = Option<bool>, Query, description = "outliers only (or none)"),
        ("synced" = Option<bool>, Query, description = "acknowledged by the CRM (or not)"),
        ("status" = Option<String>, Query, description = "present, absent, …"),
    ),
    responses(
        (status = 200, description = "a page of days", body = Paginated<ProcessedOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/processed-attendance/outliers/`.
pub(super) async fn outliers(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<ProcessedOut>>> {
    let filter = ProcessedFilter { is_outlier: Some(true), ..filter_from(&request)? };
    page(&state, &request, &filter).await
}

#[utoipa::path(
    operation_id = "processed_attendance_one",
    get,
    path = "/api/processed-attendance/{id}/",
    tag = "processed-attendance",
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "the day", body = ProcessedOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/processed-attendance/{id}/`.
pub(super) async fn one(_: Authenticated, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ProcessedOut>> {
    let id = parse_id(&id)?;
    let (day, sync) = listing::processed_one(&state.store, id).await?;
    Ok(Json(ProcessedOut::new(day, sync, state.config.time_zone.0)))
}

/// A path id, or 404 (a malformed id names nothing).
pub(super) fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::Status(StatusCode::NOT_FOUND, format!("no item with id {raw:?}")))
}

#[utoipa::path(
    operation_id = "processed_attendance_stats_view",
    get,
    path = "/api/processed-attendance/stats/",
    tag = "processed-attendance",
    responses(
        (status = 200, description = "counts", body = StatsOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/processed-attendance/stats/`: the counts of `stats --json`, plus each device's last sync
/// and last error.
pub(super) async fn stats_view(_: Authenticated, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let counts = stats::counts(&state.store).await?;
    let site = state.config.time_zone.0;
    let devices: Vec<Value> = devices::list(&state.store)
        .await?
        .into_iter()
        .map(|d| json!({ "id": d.id.0, "name": d.name, "last_sync": site_time(d.last_sync_at, site), "last_error": d.last_error }))
        .collect();
    let mut body = serde_json::to_value(counts).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        map.insert("device_status".into(), Value::Array(devices));
    }
    Ok(Json(body))
}

#[utoipa::path(
    operation_id = "processed_attendance_process",
    post,
    path = "/api/processed-attendance/process/",
    tag = "processed-attendance",
    request_body(content = ProcessIn, content_type = "application/json"),
    responses(
        (status = 202, description = "started (or joined)", body = Accepted),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/processed-attendance/process/` with an optional `start_date` and `end_date` (both or
/// neither) to reprocess: 202 with the run to follow.
pub(super) async fn process(AdminOnly(user): AdminOnly, State(state): State<AppState>, ApiJson(body): ApiJson) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let mut fields = Fields::default();
    reject_unknown(&mut fields, &body, &["start_date", "end_date"]);
    let start = body_date(&mut fields, &body, "start_date");
    let end = body_date(&mut fields, &body, "end_date");
    let range = match (start, end) {
        (Some(s), Some(e)) if e < s => {
            fields.error("end_date", "before start_date");
            None
        }
        (Some(s), Some(e)) => Some((s, e)),
        (Some(_), None) => {
            fields.error("end_date", "required with start_date");
            None
        }
        (None, Some(_)) => {
            fields.error("start_date", "required with end_date");
            None
        }
        (None, None) => None,
    };
    fields.finish()?;
    accepted(&state, &user, Action::Process(range)).await
}

#[utoipa::path(
    operation_id = "processed_attendance_sync",
    post,
    path = "/api/processed-attendance/sync/",
    tag = "processed-attendance",
    request_body(content = SyncIn, content_type = "application/json"),
    responses(
        (status = 202, description = "started (or joined)", body = Accepted),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/processed-attendance/sync/` with optional `limit`, `retry_failed`, `force`,
/// `start_date`, `end_date`, `user_id`: 202 with the run to follow.
pub(super) async fn sync(AdminOnly(user): AdminOnly, State(state): State<AppState>, ApiJson(body): ApiJson) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let mut fields = Fields::default();
    reject_unknown(&mut fields, &body, &["limit", "retry_failed", "force", "start_date", "end_date", "user_id"]);
    let limit = match body.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|n| (1..=10_000_000).contains(n)) {
            Some(n) => Some(n),
            None => {
                fields.error("limit", "not a whole number from 1 to 10000000");
                None
            }
        },
    };
    let retry_failed = body_bool(&mut fields, &body, "retry_failed").unwrap_or(false);
    let force = body_bool(&mut fields, &body, "force").unwrap_or(false);
    let start = body_date(&mut fields, &body, "start_date");
    let end = body_date(&mut fields, &body, "end_date");
    let user_id = match body.get("user_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        Some(_) => {
            fields.error("user_id", "not a user id (a string of 1 to 64 characters)");
            None
        }
    };
    fields.finish()?;
    let options = SyncOptions { limit, retry_failed, force, selection: on_demand::selection(start, end, user_id) };
    accepted(&state, &user, Action::Sync(options)).await
}

#[utoipa::path(
    operation_id = "processed_attendance_correct",
    patch,
    path = "/api/processed-attendance/{id}/",
    tag = "processed-attendance",
    request_body(content = CorrectionIn, content_type = "application/json"),
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "the corrected day", body = ProcessedOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `PATCH /api/processed-attendance/{id}/`: a manual correction (`clock_in`, `clock_out`, `status`,
/// and a required `reason`). The day keeps the correction from then on, goes to the CRM as a new
/// revision, and the audit trail records who changed what and why.
pub(super) async fn correct(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>, ApiJson(body): ApiJson) -> ApiResult<Json<ProcessedOut>> {
    let id = parse_id(&id)?;
    let site = state.config.time_zone.0;
    let mut fields = Fields::default();
    reject_unknown(&mut fields, &body, &["clock_in", "clock_out", "status", "reason"]);
    let clock_in = body_stamp(&mut fields, &body, "clock_in", site);
    let clock_out = body_stamp(&mut fields, &body, "clock_out", site);
    let status = match body.get("status") {
        None => None,
        // Only a status the rules know: a day is read back through the closed set, so any other word
        // would make it unreadable.
        Some(Value::String(s)) if AttendanceStatus::parse(s).is_some() => AttendanceStatus::parse(s),
        Some(_) => {
            fields.error("status", format!("not a status (one of {})", AttendanceStatus::WORDS.join(", ")));
            None
        }
    };
    let reason = match body.get("reason") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 2000 => Some(s.trim().to_owned()),
        Some(Value::String(s)) if s.len() > 2000 => {
            fields.error("reason", "longer than 2000 characters");
            None
        }
        _ => {
            fields.error("reason", "required: say why the day is corrected");
            None
        }
    };
    if !body.contains_key("clock_in") && !body.contains_key("clock_out") && !body.contains_key("status") {
        fields.error("body", "nothing to correct: give clock_in, clock_out or status");
    }
    if let (Some(Some(i)), Some(Some(o))) = (clock_in, clock_out)
        && o.utc < i.utc
    {
        fields.error("clock_out", "before clock_in");
    }
    fields.finish()?;
    let correction = Correction { clock_in, clock_out, status, reason: reason.unwrap_or_default(), actor: user.username.clone() };
    let day = corrections::correct_day(&state.store, id, &correction).await.map_err(|e| match e {
        crate::store::StoreError::Invalid(message) => ApiError::field("clock_out", message),
        other => other.into(),
    })?;
    let (day, sync) = listing::processed_one(&state.store, day.id).await?;
    Ok(Json(ProcessedOut::new(day, sync, site)))
}

/// Names every field of `body` that `known` does not list.
pub(super) fn reject_unknown(fields: &mut Fields, body: &serde_json::Map<String, Value>, known: &[&str]) {
    for key in body.keys().filter(|k| !known.contains(&k.as_str())) {
        fields.error(key, "unknown field");
    }
}

fn body_date(fields: &mut Fields, body: &serde_json::Map<String, Value>, name: &str) -> Option<chrono::NaiveDate> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => fields.date(name, Some(s)).or_else(|| {
            if s.is_empty() {
                fields.error(name, "not a date (YYYY-MM-DD)");
            }
            None
        }),
        Some(_) => {
            fields.error(name, "not a date (YYYY-MM-DD)");
            None
        }
    }
}

pub(super) fn body_bool(fields: &mut Fields, body: &serde_json::Map<String, Value>, name: &str) -> Option<bool> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            fields.error(name, "not a boolean (true or false)");
            None
        }
    }
}

/// `Some(None)` for an explicit null (clears the time), `Some(Some(..))` for an RFC 3339 time with
/// offset, `None` when absent or invalid (invalid is recorded).
fn body_stamp(fields: &mut Fields, body: &serde_json::Map<String, Value>, name: &str, site: chrono_tz::Tz) -> Option<Option<Stamp>> {
    match body.get(name)? {
        Value::Null => Some(None),
        Value::String(s) => match DateTime::<FixedOffset>::parse_from_rfc3339(s) {
            Ok(t) => Some(Some(Stamp { local: t.with_timezone(&site).naive_local(), utc: t.naive_utc() })),
            Err(_) => {
                fields.error(name, "not a time in RFC 3339 with offset (2025-06-02T08:00:00+03:00)");
                None
            }
        },
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            fields.error(name, "not a time in RFC 3339 with offset (2025-06-02T08:00:00+03:00)");
            None
        }
    }
}
