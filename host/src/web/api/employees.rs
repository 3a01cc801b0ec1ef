//! `/api/employees/`: who punches, how many processed days each has, and their last punch.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::openapi::ErrorBody;
use super::pagination::{ListRequest, Paginated};
use super::{ApiResult, site_time};
use crate::store::listing;
use crate::web::{AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/employees/", get(list))
}

/// An employee.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmployeeOut {
    id: i64,
    user_id: String,
    name: Option<String>,
    active: bool,
    /// Processed days stored.
    days: i64,
    last_punch: Option<String>,
}

#[utoipa::path(
    operation_id = "employees_list",
    get,
    path = "/api/employees/",
    tag = "employees",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
    ),
    responses(
        (status = 200, description = "a page of employees", body = Paginated<EmployeeOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/employees/`.
pub(super) async fn list(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<EmployeeOut>>> {
    request.fields().finish()?;
    let page = listing::employees_page(&state.store, request.offset(), request.page_size).await?;
    let site = state.config.time_zone.0;
    let results = page
        .rows
        .into_iter()
        .map(|e| EmployeeOut { id: e.id, user_id: e.user_id, name: e.name, active: e.active, days: e.days, last_punch: site_time(e.last_punch_utc, site) })
        .collect();
    Ok(Json(request.answer(results, page.more, page.count)?))
}
