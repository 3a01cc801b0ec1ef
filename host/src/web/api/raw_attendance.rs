//! `/api/raw-attendance/`: punches as the devices recorded them, newest first.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::TimeDelta;
use serde::Serialize;

use super::openapi::ErrorBody;
use super::pagination::{ListRequest, Paginated};
use super::{ApiResult, site_time, with_offset};
use crate::domain::WallTime;
use crate::store::listing::{self, RawFilter, RawRow};
use crate::web::{AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/raw-attendance/", get(list))
}

/// A punch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RawOut {
    id: i64,
    /// The device's id.
    device: i64,
    user_id: String,
    /// The punch time: the device's wall time with the offset it had then.
    timestamp: Option<String>,
    status: i32,
    punch_state: i32,
    verify_type: i32,
    received_at: Option<String>,
}

impl RawOut {
    fn new(row: RawRow, site: chrono_tz::Tz) -> Self {
        RawOut {
            id: row.id,
            device: row.device_id,
            timestamp: with_offset(Some(row.local_time), Some(row.utc_time)),
            status: row.status,
            punch_state: row.punch_state,
            verify_type: row.verify_type,
            received_at: site_time(Some(row.received_at), site),
            user_id: row.user_id,
        }
    }
}

#[utoipa::path(
    operation_id = "raw_attendance_list",
    get,
    path = "/api/raw-attendance/",
    tag = "raw-attendance",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
        ("user_id" = Option<String>, Query, description = "one employee"),
        ("device" = Option<i64>, Query, description = "one device's id"),
        ("start_date" = Option<chrono::NaiveDate>, Query, description = "first site date"),
        ("end_date" = Option<chrono::NaiveDate>, Query, description = "last site date"),
    ),
    responses(
        (status = 200, description = "a page of punches, newest first", body = Paginated<RawOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/raw-attendance/?user_id=&device=&start_date=&end_date=` (dates are site dates, inclusive).
pub(super) async fn list(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<RawOut>>> {
    let site = state.config.time_zone.0;
    let mut fields = request.fields();
    let start = fields.date("start_date", request.param("start_date"));
    let end = fields.date("end_date", request.param("end_date"));
    let device = fields.number("device", request.param("device"), 1..=i64::MAX);
    fields.finish()?;
    // A site date runs from its local midnight to the next; the instants bound the index scan.
    let midnight = |date: chrono::NaiveDate| WallTime(date.and_time(chrono::NaiveTime::MIN)).resolve(site).ok().map(|(t, _)| t.naive_utc());
    let filter = RawFilter {
        user_id: request.param("user_id").filter(|v| !v.is_empty()).map(str::to_owned),
        device,
        from_utc: start.and_then(midnight),
        until_utc: end.and_then(|d| d.checked_add_signed(TimeDelta::days(1))).and_then(midnight),
    };
    let page = listing::raw_page(&state.store, &filter, request.offset(), request.page_size).await?;
    let results = page.rows.into_iter().map(|r| RawOut::new(r, site)).collect();
    Ok(Json(request.answer(results, page.more, page.count)?))
}
