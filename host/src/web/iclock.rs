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
use crate::device::push::{self, Stamp};
use crate::pipeline::push::{Caller, PushError};

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
        .layer(axum::middleware::map_response(close_after_refusal))
}

/// A refusal may leave the request body unread (too large, a network not allowed), and then the
/// connection cannot carry another request. Saying `Connection: close` lets the client know before it
/// sends the next request on it, instead of finding it closed halfway; a terminal simply reconnects.
async fn close_after_refusal(mut response: Response) -> Response {
    if response.status().is_client_error() || response.status().is_server_error() {
        response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

#[derive(Debug, Deserialize)]
struct DeviceQuery {
    #[serde(rename = "SN")]
    serial: Option<String>,
    table: Option<String>,
    #[serde(rename = "Stamp")]
    stamp: Option<String>,
    /// The terminal's own secret, for terminals an admin gave one (`devices add --push --secret`).
    pushcommkey: Option<String>,
}

impl DeviceQuery {
    /// The caller: the serial (1–64 letters, digits, `-`, `_`), the peer, the key; `None` (logged)
    /// for a missing or unusable serial.
    fn caller(&self, peer: SocketAddr) -> Option<Caller<'_>> {
        let serial = self
            .serial
            .as_deref()
            .map(str::trim)
            .filter(|sn| !sn.is_empty() && sn.len() <= 64 && sn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        if serial.is_none() {
            tracing::info!(peer = %peer.ip(), "push request refused: missing or invalid SN");
        }
        Some(Caller { serial: serial?, peer: peer.ip().to_canonical(), key: self.pushcommkey.as_deref() })
    }

    /// The table named, cut to what a log line or message may quote.
    fn table(&self) -> &str {
        push::truncate_chars(self.table.as_deref().unwrap_or("ATTLOG"), 16)
    }
}

fn bad_serial() -> Response {
    text(StatusCode::BAD_REQUEST, "missing or invalid SN\n".into())
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn refused(caller: &Caller<'_>, what: &str, e: &PushError) -> Response {
    match e {
        PushError::Store(store) => {
            tracing::error!(error = %store, serial = caller.serial, "push request failed; the terminal will send again");
            text(StatusCode::SERVICE_UNAVAILABLE, "try again later\n".into())
        }
        PushError::WrongAddress { .. } | PushError::BadKey(_) | PushError::NotPushDevice(_) => {
            tracing::warn!(peer = %caller.peer, serial = caller.serial, request = what, reason = %e, "push request refused");
            text(StatusCode::FORBIDDEN, format!("{e}\n"))
        }
        PushError::UnknownDevice(_) | PushError::Disabled(_) | PushError::TooManyPending(_) => {
            tracing::info!(peer = %caller.peer, serial = caller.serial, request = what, reason = %e, "push request refused");
            text(StatusCode::FORBIDDEN, format!("{e}\n"))
        }
    }
}

/// `GET /iclock/cdata?SN=…&options=all`: the options block.
async fn handshake(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Query(query): Query<DeviceQuery>) -> Response {
    let Some(caller) = query.caller(peer) else { return bad_serial() };
    match state.push.handshake(&caller).await {
        Ok(options) => {
            tracing::info!(peer = %caller.peer, serial = caller.serial, "push handshake");
            text(StatusCode::OK, options)
        }
        Err(e) => refused(&caller, "handshake", &e),
    }
}

/// `POST /iclock/cdata?SN=…&table=ATTLOG&Stamp=…`: a table upload.
async fn upload(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Query(query): Query<DeviceQuery>, body: String) -> Response {
    let Some(caller) = query.caller(peer) else { return bad_serial() };
    let table = query.table();
    // A stamp is repeated to the terminal in its options answer: only digits are taken.
    let stamp = match query.stamp.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match Stamp::parse(raw) {
            Some(stamp) => Some(stamp),
            None => {
                tracing::warn!(peer = %caller.peer, serial = caller.serial, table, stamp = %push::shown(raw), "push upload refused: Stamp is not a number");
                return text(StatusCode::BAD_REQUEST, "invalid Stamp: digits only\n".into());
            }
        },
    };
    match state.push.upload(&caller, table, stamp.as_ref(), &body).await {
        Ok(upload) => {
            tracing::info!(
                peer = %caller.peer,
                serial = caller.serial,
                table,
                accepted = upload.accepted,
                stored = upload.stored,
                rejected = upload.rejected.total,
                "push upload"
            );
            text(StatusCode::OK, format!("OK: {}\n", upload.accepted))
        }
        Err(e) => refused(&caller, "upload", &e),
    }
}

/// `GET /iclock/getrequest?SN=…`: queued commands, or `OK` when there are none.
async fn get_request(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Query(query): Query<DeviceQuery>) -> Response {
    let Some(caller) = query.caller(peer) else { return bad_serial() };
    match state.push.poll_commands(&caller).await {
        Ok(lines) => {
            tracing::info!(peer = %caller.peer, serial = caller.serial, commands = lines.len(), "push command poll");
            if lines.is_empty() { text(StatusCode::OK, "OK\n".into()) } else { text(StatusCode::OK, lines.join("\n") + "\n") }
        }
        Err(e) => refused(&caller, "getrequest", &e),
    }
}

/// `POST /iclock/devicecmd?SN=…`: results of commands.
async fn device_cmd(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Query(query): Query<DeviceQuery>, body: String) -> Response {
    let Some(caller) = query.caller(peer) else { return bad_serial() };
    match state.push.command_results(&caller, &body).await {
        Ok(matched) => {
            tracing::info!(peer = %caller.peer, serial = caller.serial, matched, "push command results");
            text(StatusCode::OK, "OK\n".into())
        }
        Err(e) => refused(&caller, "devicecmd", &e),
    }
}

/// `POST /iclock/registry?SN=…`: some firmwares announce themselves here first.
///
/// The announcement (device name, firmware, capacities) is read and set aside: a body left unread
/// makes the server close the connection after the answer, and a terminal or client that sends its
/// next request on that connection finds it closed halfway (`push_fuzz` saw exactly that).
async fn registry(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<DeviceQuery>,
    _announcement: axum::body::Bytes,
) -> Response {
    let Some(caller) = query.caller(peer) else { return bad_serial() };
    match state.push.handshake(&caller).await {
        Ok(_) => {
            tracing::info!(peer = %caller.peer, serial = caller.serial, "push registry");
            text(StatusCode::OK, "OK\n".into())
        }
        Err(e) => refused(&caller, "registry", &e),
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
        _ => {
            tracing::info!(peer = ?peer, path = %request.uri().path(), "push request refused: source outside PUSH_ALLOWED_NETWORKS");
            text(StatusCode::FORBIDDEN, "source network not allowed\n".into())
        }
    }
}
