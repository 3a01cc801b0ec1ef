//! `/api/audit/`: corrections and admin actions, newest first.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use super::openapi::ErrorBody;
use super::pagination::{ListRequest, Paginated};
use super::{ApiResult, site_time};
use crate::store::audit;
use crate::web::{AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/audit/", get(list))
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditOut {
    id: i64,
    at: Option<String>,
    /// Who (user name).
    actor: String,
    action: String,
    target_type: String,
    target_id: Option<String>,
    old_value: Value,
    new_value: Value,
    reason: Option<String>,
}

#[utoipa::path(
    operation_id = "audit_list",
    get,
    path = "/api/audit/",
    tag = "audit",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
    ),
    responses(
        (status = 200, description = "a page of entries", body = Paginated<AuditOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/audit/`.
pub(super) async fn list(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<AuditOut>>> {
    request.fields().finish()?;
    let (rows, count) = audit::page(&state.store, request.offset(), request.page_size + 1).await?;
    let more = rows.len() as i64 > request.page_size;
    let site = state.config.time_zone.0;
    let json = |v: Option<String>| v.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or(Value::Null);
    let results = rows
        .into_iter()
        .take(usize::try_from(request.page_size).unwrap_or(0))
        .map(|e| AuditOut {
            id: e.id,
            at: site_time(Some(e.at), site),
            actor: e.actor,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            old_value: json(e.old_value),
            new_value: json(e.new_value),
            reason: e.reason,
        })
        .collect();
    Ok(Json(request.answer(results, more, count)?))
}
