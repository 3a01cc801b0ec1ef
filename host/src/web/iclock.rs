//! The `/iclock/…` endpoints push terminals call (ADMS protocol). Thin: parse the query, check the
//! source network, hand over to [`crate::pipeline::push`], answer in the plain-text dialect terminals
//! expect. A terminal that gets anything but `OK` (or a 5xx) sends again later, so every failure
//! leaves the data to be re-sent rather than lost.

use std::net::SocketAddr;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::AppState;
use crate::pipeline::push::PushError;

/// The routes, with the configured body limit and source-network check.
pub(super) fn router(state: &AppState) -> Router<AppState> {
    let limit = usize::try_from(state.config.push.max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/iclock/cdata", get(handshake).post(upload))
        .route("/iclock/getrequest", get(get_request))
        .route("/iclock/devicecmd", post(device_cmd))
        .route("/iclock/registry", post(registry))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), check_network))
}

#[derive(Debug, Deserialize)]
struct DeviceQuery {
    #[serde(rename = "SN")]
    serial: Option<String>,
    table: Option<String>,
    #[serde(rename = "Stamp")]
    stamp: Option<String>,
}

impl DeviceQuery {
    fn serial(&self) -> Result<&str, Response> {
        self.serial
            .as_deref()
            .map(str::trim)
            .filter(|sn| !sn.is_empty() && sn.len() <= 64 && sn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .ok_or_else(|| text(StatusCode::BAD_REQUEST, "missing or invalid SN".into()))
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn refused(e: &PushError) -> Response {
    match e {
        PushError::UnknownDevice(_) | PushError::Disabled(_) => text(StatusCode::FORBIDDEN, format!("{e}\n")),
        PushError::Store(store) => {
            tracing::error!(error = %store, "push request failed; the terminal will send again");
            text(StatusCode::SERVICE_UNAVAILABLE, "try again later\n".into())
        }
    }
}

/// `GET /iclock/cdata?SN=…&options=all`: the options block.
async fn handshake(State(state): State<AppState>, Query(query): Query<DeviceQuery>) -> Response {
    let serial = match query.serial() {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.push.handshake(serial).await {
        Ok(options) => text(StatusCode::OK, options),
        Err(e) => refused(&e),
    }
}

/// `POST /iclock/cdata?SN=…&table=ATTLOG&Stamp=…`: a table upload.
async fn upload(State(state): State<AppState>, Query(query): Query<DeviceQuery>, body: String) -> Response {
    let serial = match query.serial() {
        Ok(s) => s,
        Err(r) => return r,
    };
    let table = query.table.as_deref().unwrap_or("ATTLOG");
    match state.push.upload(serial, table, query.stamp.as_deref(), &body).await {
        Ok(upload) => text(StatusCode::OK, format!("OK: {}\n", upload.accepted)),
        Err(e) => refused(&e),
    }
}

/// `GET /iclock/getrequest?SN=…`: queued commands, or `OK` when there are none.
async fn get_request(State(state): State<AppState>, Query(query): Query<DeviceQuery>) -> Response {
    let serial = match query.serial() {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.push.poll_commands(serial).await {
        Ok(lines) if lines.is_empty() => text(StatusCode::OK, "OK\n".into()),
        Ok(lines) => text(StatusCode::OK, lines.join("\n") + "\n"),
        Err(e) => refused(&e),
    }
}

/// `POST /iclock/devicecmd?SN=…`: results of commands.
async fn device_cmd(State(state): State<AppState>, Query(query): Query<DeviceQuery>, body: String) -> Response {
    let serial = match query.serial() {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.push.command_results(serial, &body).await {
        Ok(_) => text(StatusCode::OK, "OK\n".into()),
        Err(e) => refused(&e),
    }
}

/// `POST /iclock/registry?SN=…`: some firmwares announce themselves here first.
async fn registry(State(state): State<AppState>, Query(query): Query<DeviceQuery>) -> Response {
    let serial = match query.serial() {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.push.handshake(serial).await {
        Ok(_) => text(StatusCode::OK, "OK\n".into()),
        Err(e) => refused(&e),
    }
}

/// Refuses sources outside `PUSH_ALLOWED_NETWORKS`.
async fn check_network(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let networks = &state.config.push.allowed_networks;
    if networks.0.is_empty() {
        return next.run(request).await;
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    match peer {
        Some(ip) if networks.allows(ip) => next.run(request).await,
        _ => text(StatusCode::FORBIDDEN, "source network not allowed\n".into()),
    }
}
