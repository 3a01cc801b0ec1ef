//! `/api/devices/`: time clocks. Reads for everyone signed in; registering, changing, removing,
//! polling and approving push terminals for admins, each audited.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Map, Value};

use super::jobs::{Accepted, accepted};
use super::openapi::{ApproveIn, DeviceIn, DevicePatch, ErrorBody};
use super::pagination::{ListRequest, Paginated};
use super::processed_attendance::{body_bool, parse_id};
use super::{ApiError, ApiJson, ApiResult, Fields, site_time};
use crate::domain::DeviceId;
use crate::pipeline::on_demand::{self, Action, LiveInfo};
use crate::store::audit::{self, NewAuditEntry};
use crate::store::corrections::{self, DeviceChange, device_json};
use crate::store::devices::{self, Approval, Device, NewDevice, Transport};
use crate::store::StoreError;
use crate::web::{AdminOnly, AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/devices/", get(list).post(create))
        .route("/devices/poll_all/", post(poll_all))
        .route("/devices/pending/", get(pending))
        .route("/devices/{id}/", get(one).put(replace).patch(change).delete(remove))
        .route("/devices/{id}/info/", get(info))
        .route("/devices/{id}/poll/", post(poll))
        .route("/devices/{id}/approve/", post(approve))
}

/// A device as the API shows it: the original's fields, then ours (never the comm key).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceOut {
    id: i64,
    name: String,
    ip_address: Option<String>,
    port: i32,
    enabled: bool,
    last_sync: Option<String>,
    last_error: Option<String>,
    serial_number: Option<String>,
    /// `pull` (the bridge downloads) or `push` (the terminal uploads).
    transport: &'static str,
    approved: bool,
    time_zone: Option<String>,
    live_mode: bool,
    clock_offset_s: Option<i32>,
    last_seen: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

impl DeviceOut {
    fn new(d: Device, site: chrono_tz::Tz) -> Self {
        DeviceOut {
            id: d.id.0,
            last_sync: site_time(d.last_sync_at, site),
            last_seen: site_time(d.last_seen_at, site),
            created_at: site_time(Some(d.created_at), site),
            updated_at: site_time(Some(d.updated_at), site),
            transport: match d.transport {
                Transport::Pull => "pull",
                Transport::Push => "push",
            },
            name: d.name,
            ip_address: d.address,
            port: d.port,
            enabled: d.enabled,
            last_error: d.last_error,
            serial_number: d.serial_number,
            approved: d.approved,
            time_zone: d.time_zone,
            live_mode: d.live_mode,
            clock_offset_s: d.clock_offset_s,
        }
    }
}

#[utoipa::path(
    operation_id = "devices_list",
    get,
    path = "/api/devices/",
    tag = "devices",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
    ),
    responses(
        (status = 200, description = "a page of devices", body = Paginated<DeviceOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/devices/`.
pub(super) async fn list(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<DeviceOut>>> {
    request.fields().finish()?;
    let site = state.config.time_zone.0;
    let all = devices::list(&state.store).await?.into_iter().map(|d| DeviceOut::new(d, site)).collect();
    Ok(Json(request.answer_slice(all)?))
}

#[utoipa::path(
    operation_id = "devices_pending",
    get,
    path = "/api/devices/pending/",
    tag = "devices",
    params(
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "items per page, 1 to 1000 (default 50)"),
    ),
    responses(
        (status = 200, description = "push terminals awaiting approval", body = Paginated<DeviceOut>),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/devices/pending/`: push terminals that announced themselves and wait for approval.
pub(super) async fn pending(_: Authenticated, State(state): State<AppState>, request: ListRequest) -> ApiResult<Json<Paginated<DeviceOut>>> {
    request.fields().finish()?;
    let site = state.config.time_zone.0;
    let all = devices::list(&state.store).await?.into_iter().filter(|d| !d.approved).map(|d| DeviceOut::new(d, site)).collect();
    Ok(Json(request.answer_slice(all)?))
}

async fn device(state: &AppState, raw_id: &str) -> ApiResult<Device> {
    let id = parse_id(raw_id)?;
    devices::get(&state.store, DeviceId(id)).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::Status(StatusCode::NOT_FOUND, format!("no device with id {id}")),
        other => other.into(),
    })
}

#[utoipa::path(
    operation_id = "devices_one",
    get,
    path = "/api/devices/{id}/",
    tag = "devices",
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "the device", body = DeviceOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/devices/{id}/`.
pub(super) async fn one(_: Authenticated, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<DeviceOut>> {
    let device = device(&state, &id).await?;
    Ok(Json(DeviceOut::new(device, state.config.time_zone.0)))
}

/// The writable fields of a device, validated; `full` requires what a new device needs.
fn read_change(body: &Map<String, Value>, full: bool) -> ApiResult<DeviceChange> {
    let mut fields = Fields::default();
    let mut change = DeviceChange::default();
    match body.get("name") {
        None if full => fields.error("name", "required"),
        None => {}
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= 100 => change.name = Some(s.trim().to_owned()),
        Some(_) => fields.error("name", "not a name (1 to 100 characters)"),
    }
    match body.get("ip_address") {
        None if full => fields.error("ip_address", "required"),
        None => {}
        Some(Value::String(s)) if s.trim().parse::<std::net::IpAddr>().is_ok() => change.address = Some(Some(s.trim().to_owned())),
        Some(_) => fields.error("ip_address", "not an IP address"),
    }
    match body.get("port") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
            Some(p) => change.port = Some(p),
            None => fields.error("port", "not a port (1 to 65535)"),
        },
    }
    match body.get("comm_key") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().and_then(|k| u32::try_from(k).ok()).filter(|k| *k <= 999_999) {
            Some(k) => change.comm_key = Some(k),
            None => fields.error("comm_key", "not a comm key (0 to 999999)"),
        },
    }
    change.enabled = body_bool(&mut fields, body, "enabled");
    match body.get("time_zone") {
        None => {}
        Some(Value::Null) => change.time_zone = Some(None),
        Some(Value::String(s)) if s.parse::<chrono_tz::Tz>().is_ok() => change.time_zone = Some(Some(s.clone())),
        Some(_) => fields.error("time_zone", "not an IANA time zone (e.g. Africa/Nairobi)"),
    }
    fields.finish()?;
    Ok(change)
}

/// A name already taken answers 409, naming the field as a 400 would.
fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists(what) => {
            let message = format!("{what} already exists");
            ApiError::Body(StatusCode::CONFLICT, serde_json::json!({ "error": message, "errors": { "name": [message] } }))
        }
        other => other.into(),
    }
}

#[utoipa::path(
    operation_id = "devices_create",
    post,
    path = "/api/devices/",
    tag = "devices",
    request_body(content = DeviceIn, content_type = "application/json"),
    responses(
        (status = 201, description = "registered", body = DeviceOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 409, description = "conflicts with what is stored", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/devices/`: registers a pulled device (push terminals register themselves).
pub(super) async fn create(AdminOnly(user): AdminOnly, State(state): State<AppState>, ApiJson(body): ApiJson) -> ApiResult<(StatusCode, Json<DeviceOut>)> {
    let change = read_change(&body, true)?;
    let mut new = NewDevice::pull(
        change.name.as_deref().unwrap_or_default(),
        change.address.clone().flatten().as_deref().unwrap_or_default(),
        change.port.unwrap_or(state.config.devices.default_port),
        change.comm_key.unwrap_or(0),
    );
    new.time_zone = change.time_zone.clone().flatten();
    let mut created = devices::insert(&state.store, &new).await.map_err(conflict)?;
    if change.enabled == Some(false) {
        devices::set_enabled(&state.store, created.id, false).await?;
        created.enabled = false;
    }
    let mut entry = NewAuditEntry::now(&user.username, "device.create", "device", Some(created.id.0.to_string()));
    entry.new_value = Some(device_json(&created).to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok((StatusCode::CREATED, Json(DeviceOut::new(created, state.config.time_zone.0))))
}

async fn update(state: &AppState, user: &str, id: &str, body: &Map<String, Value>, full: bool) -> ApiResult<Json<DeviceOut>> {
    let id = device(state, id).await?.id;
    let change = read_change(body, full)?;
    let updated = corrections::update_device(&state.store, id, &change, user).await.map_err(conflict)?;
    Ok(Json(DeviceOut::new(updated, state.config.time_zone.0)))
}

#[utoipa::path(
    operation_id = "devices_replace",
    put,
    path = "/api/devices/{id}/",
    tag = "devices",
    request_body(content = DeviceIn, content_type = "application/json"),
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "changed", body = DeviceOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 409, description = "conflicts with what is stored", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `PUT /api/devices/{id}/`: every writable field (`name`, `ip_address` required).
pub(super) async fn replace(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>, ApiJson(body): ApiJson) -> ApiResult<Json<DeviceOut>> {
    update(&state, &user.username, &id, &body, true).await
}

#[utoipa::path(
    operation_id = "devices_change",
    patch,
    path = "/api/devices/{id}/",
    tag = "devices",
    request_body(content = DevicePatch, content_type = "application/json"),
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "changed", body = DeviceOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 409, description = "conflicts with what is stored", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `PATCH /api/devices/{id}/`: the fields given.
pub(super) async fn change(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>, ApiJson(body): ApiJson) -> ApiResult<Json<DeviceOut>> {
    update(&state, &user.username, &id, &body, false).await
}

#[utoipa::path(
    operation_id = "devices_remove",
    delete,
    path = "/api/devices/{id}/",
    tag = "devices",
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 409, description = "conflicts with what is stored", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `DELETE /api/devices/{id}/`: only a device without stored punches (409 otherwise: disable it).
pub(super) async fn remove(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let device = device(&state, &id).await?;
    devices::remove(&state.store, device.id).await?;
    let mut entry = NewAuditEntry::now(&user.username, "device.delete", "device", Some(device.id.0.to_string()));
    entry.old_value = Some(device_json(&device).to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    operation_id = "devices_info",
    get,
    path = "/api/devices/{id}/info/",
    tag = "devices",
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "read from the device", body = LiveInfo),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 502, description = "the device did not answer; the diagnosis", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `GET /api/devices/{id}/info/`: read live from the device; 502 with the diagnosis when it does not answer.
pub(super) async fn info(_: Authenticated, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<LiveInfo>> {
    let device = device(&state, &id).await?;
    match on_demand::device_info(&device, state.config.time_zone.0, Duration::from_secs(5)).await {
        Ok(info) => Ok(Json(info)),
        Err(diagnosis) => Err(ApiError::Status(StatusCode::BAD_GATEWAY, diagnosis)),
    }
}

#[utoipa::path(
    operation_id = "devices_poll",
    post,
    path = "/api/devices/{id}/poll/",
    tag = "devices",
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 202, description = "started (or joined)", body = Accepted),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 409, description = "conflicts with what is stored", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/devices/{id}/poll/`: 202 with the run to follow.
pub(super) async fn poll(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let device = device(&state, &id).await?;
    if device.transport == Transport::Push {
        return Err(ApiError::Status(StatusCode::CONFLICT, "this device pushes its punches; there is nothing to poll".into()));
    }
    accepted(&state, &user, Action::Poll(Some(device.id))).await
}

#[utoipa::path(
    operation_id = "devices_poll_all",
    post,
    path = "/api/devices/poll_all/",
    tag = "devices",
    responses(
        (status = 202, description = "started (or joined)", body = Accepted),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/devices/poll_all/`: 202 with the run to follow.
pub(super) async fn poll_all(AdminOnly(user): AdminOnly, State(state): State<AppState>) -> ApiResult<(StatusCode, Json<Accepted>)> {
    accepted(&state, &user, Action::Poll(None)).await
}

#[utoipa::path(
    operation_id = "devices_approve",
    post,
    path = "/api/devices/{id}/approve/",
    tag = "devices",
    request_body(content = ApproveIn, content_type = "application/json"),
    params(("id" = i64, Path, description = "row id")),
    responses(
        (status = 200, description = "approved", body = DeviceOut),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "viewers read only", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 409, description = "conflicts with what is stored", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
    ),
    security(("token" = [])),
)]
/// `POST /api/devices/{id}/approve/` with an optional `name`: lets a push terminal's data in.
pub(super) async fn approve(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>, ApiJson(body): ApiJson) -> ApiResult<Json<DeviceOut>> {
    let before = device(&state, &id).await?;
    let mut fields = Fields::default();
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= 100 => Some(s.trim().to_owned()),
        Some(_) => {
            fields.error("name", "not a name (1 to 100 characters)");
            None
        }
    };
    fields.finish()?;
    let Some(serial) = before.serial_number.clone().filter(|_| before.transport == Transport::Push) else {
        return Err(ApiError::Status(StatusCode::CONFLICT, "only push terminals are approved".into()));
    };
    let approved = devices::approve_with(&state.store, &serial, &Approval { name, bind: None }).await.map_err(conflict)?;
    let mut entry = NewAuditEntry::now(&user.username, "device.approve", "device", Some(approved.id.0.to_string()));
    entry.old_value = Some(device_json(&before).to_string());
    entry.new_value = Some(device_json(&approved).to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(Json(DeviceOut::new(approved, state.config.time_zone.0)))
}
