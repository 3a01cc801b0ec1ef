//! Liveness and readiness probes for process supervisors and load balancers, and `/metrics`.
//!
//! - `/livez` (and its older alias `/healthz`): the process answers. No dependency is consulted, so
//!   a database outage never gets the process restarted by a supervisor.
//! - `/readyz`: the database answers, every migration is applied, and, when this process runs the
//!   jobs, the scheduler loop looked at its schedules recently (its heartbeat).
//! - `/metrics`: the Prometheus exposition (see [`crate::metrics`]). It is an open path of the
//!   access layer with its own check ([`metrics_allowed`]): scrapers do not sign in.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use super::{AppState, client, cookies};

/// The probes alone (the device-facing `PUSH_LISTEN` listener serves these, not `/metrics`).
pub(super) fn probes() -> Router<AppState> {
    Router::new().route("/livez", get(livez)).route("/healthz", get(livez)).route("/readyz", get(readyz))
}

/// The probes and `/metrics`.
pub(super) fn router() -> Router<AppState> {
    probes().route("/metrics", get(metrics))
}

/// The process is up and answering.
async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database is reachable, every migration this binary knows is applied, and the scheduler (when
/// this process runs it) is alive.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.store.backend_name();
    let scheduler = state.scheduler.as_ref().map(|(beat, stale)| match beat.age() {
        Some(age) if age <= *stale => Ok(age.as_secs()),
        Some(age) => Err(format!("no look at the schedules for {} s", age.as_secs())),
        None => Err("not started".to_owned()),
    });
    match state.store.ready().await {
        Ok(ready) if !ready.pending.is_empty() => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "migrations pending", "database": database, "pending": ready.pending })),
        ),
        Ok(_) => match scheduler {
            Some(Err(why)) => {
                tracing::warn!(%why, "readiness: the scheduler is not alive");
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "scheduler not alive", "database": database, "scheduler": why })))
            }
            Some(Ok(age)) => (StatusCode::OK, Json(json!({ "status": "ready", "database": database, "scheduler_seconds_since_look": age }))),
            None => (StatusCode::OK, Json(json!({ "status": "ready", "database": database }))),
        },
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable", "database": database })))
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, PartialEq, Eq)]
enum MetricsAccess {
    Allowed,
    /// No or a wrong token (401).
    BadToken,
    /// Not from this machine and no token configured (403).
    Remote,
}

/// A request from this machine (a loopback peer, not relayed by a proxy: a proxy on this machine
/// would make every remote client look local) may read the metrics; anyone else needs
/// `METRICS_TOKEN` as a bearer token.
fn metrics_allowed(state: &AppState, request: &Request) -> MetricsAccess {
    let local = client::peer(request.extensions()).is_loopback()
        && !request.headers().contains_key("x-forwarded-for")
        && !request.headers().contains_key(header::FORWARDED);
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match (&state.config.metrics.token, sent) {
        (Some(token), Some(sent)) if cookies::secrets_match(sent, token.expose_secret()) => MetricsAccess::Allowed,
        _ if local => MetricsAccess::Allowed,
        (Some(_), _) => MetricsAccess::BadToken,
        (None, _) => MetricsAccess::Remote,
    }
}

/// The Prometheus text exposition.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    match metrics_allowed(&state, &request) {
        MetricsAccess::Allowed => {}
        MetricsAccess::BadToken => {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "metrics need the METRICS_TOKEN bearer token\n").into_response();
        }
        MetricsAccess::Remote => {
            return (StatusCode::FORBIDDEN, "metrics are served to this machine only; set METRICS_TOKEN to scrape from elsewhere\n").into_response();
        }
    }
    match crate::metrics::render(&state.store).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database cannot be read");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}
