//! The access layer: deny by default.
//!
//! One middleware wraps the whole application ([`super::app`]), so a route added anywhere is
//! protected without anyone remembering an extractor:
//!
//! - **open paths** ([`is_open`]): the health probes and the push endpoints terminals call
//!   (`/iclock/…`, which have their own network and serial checks) pass untouched;
//! - **sign-in paths** (`/login`) are served to anyone; the login form has its own CSRF check;
//! - **everything else** needs an API token (`Authorization: Bearer|Token …`) or a session cookie.
//!   Without one, pages answer `303` to `/login?next=…` and `/api/…` answers `401` JSON.
//!
//! For a signed-in request the layer also enforces, before any handler runs:
//! - **CSRF**: a state-changing request (anything but GET, HEAD, OPTIONS) authenticated by a session
//!   cookie must carry the session's CSRF token, in the `X-CSRF-Token` header or the `csrf_token`
//!   field of a urlencoded or multipart form, else `403`. Token-authenticated calls need none: a browser never
//!   attaches an `Authorization` header to a cross-site request on its own.
//! - **read-only viewers**: a viewer's state-changing request is refused with `403` (except signing
//!   out), so a handler that forgets [`super::AdminOnly`] still cannot let a viewer change anything.
//!
//! The [`Principal`] found is put in the request's extensions for the handlers and extractors.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{self, Credential, Principal};
use super::{AppError, AppState, Role, client, cookies};
use crate::store::sessions;

/// Where the sign-in form lives.
pub const LOGIN_PATH: &str = "/login";
/// Largest urlencoded form body read to find a `csrf_token` field.
const MAX_FORM_BYTES: usize = 1 << 20;
/// State-changing paths a viewer may call: signing out, and changing their own password.
const VIEWER_MAY_CHANGE: &[&str] = &["/logout", "/account/password"];
/// Largest `multipart/form-data` body read to find its `csrf_token` field (a plugin upload).
pub const MAX_MULTIPART_BYTES: usize = 16 << 20;

/// Paths served without any sign-in and without a database look-up: health probes, the push
/// endpoints terminals call, and `/metrics` (which checks its own loopback-or-token rule).
pub fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/livez" | "/metrics") || path.starts_with("/iclock/") || path.starts_with("/static/")
}

/// Paths anyone may reach to sign in.
fn is_sign_in(path: &str) -> bool {
    path == LOGIN_PATH
}

/// Whether a path belongs to the JSON API (401 instead of a redirect).
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware (see the module documentation).
pub(super) async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if is_open(&path) {
        return next.run(request).await;
    }
    let secure = cookies::Secure::of(&state.config.web, request.headers(), client::peer(request.extensions()));
    request.extensions_mut().insert(secure);
    let principal = match identify(&state, request.headers(), secure).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    let Some(principal) = principal else {
        if is_sign_in(&path) {
            return next.run(request).await;
        }
        return unauthenticated(&request);
    };
    if changes_state(request.method()) && !is_sign_in(&path) {
        if let Credential::Session { csrf_token, .. } = &principal.credential {
            request = match check_csrf(request, csrf_token).await {
                Ok(request) => request,
                Err(response) => return response,
            };
        }
        if Role::of(&principal.user) == Role::Viewer && !VIEWER_MAY_CHANGE.contains(&path.as_str()) {
            return forbidden(&path, "this needs an admin account; viewers read only");
        }
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The account behind the request's token or session cookie, if any. A request that presents a
/// token is judged by the token alone.
async fn identify(state: &AppState, headers: &axum::http::HeaderMap, secure: cookies::Secure) -> Result<Option<Principal>, AppError> {
    if let Some(token) = auth::bearer_token(headers) {
        return Ok(auth::user_for_token(state, token).await?.map(|user| Principal { user, credential: Credential::Token }));
    }
    let Some(id) = cookies::read(headers, cookies::name(cookies::Kind::Session, secure)) else {
        return Ok(None);
    };
    let id_hash = cookies::hash_session_id(id);
    let idle = chrono::TimeDelta::minutes(i64::from(state.config.web.session_idle_minutes));
    Ok(sessions::find_live(&state.store, &id_hash, idle).await?.map(|(session, user)| Principal {
        user,
        credential: Credential::Session { csrf_token: session.csrf_token, id_hash },
    }))
}

/// `401` JSON for the API; `303` to the sign-in page for everything else.
fn unauthenticated(request: &Request) -> Response {
    let path = request.uri().path();
    if is_api(path) {
        return AppError::Unauthorized.into_response();
    }
    let mut location = LOGIN_PATH.to_owned();
    if matches!(*request.method(), Method::GET | Method::HEAD) && path != "/" {
        let target = request.uri().path_and_query().map_or(path, |pq| pq.as_str());
        location.push_str("?next=");
        location.extend(url::form_urlencoded::byte_serialize(target.as_bytes()));
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn forbidden(path: &str, message: &str) -> Response {
    if is_api(path) {
        AppError::Forbidden(message.to_owned()).into_response()
    } else {
        let page = format!(
            "<!doctype html><title>Forbidden</title><p>{message}.</p><p><a href=\"/\">Back to the overview</a></p>"
        );
        (StatusCode::FORBIDDEN, axum::response::Html(page)).into_response()
    }
}

/// Passes the request on when it carries the session's CSRF token (header, or urlencoded form
/// field; the form body is read and put back), else answers `403`.
async fn check_csrf(request: Request, expected: &str) -> Result<Request, Response> {
    let path = request.uri().path().to_owned();
    let refuse = || {
        tracing::info!(path = %path, "state-changing request without a valid CSRF token refused");
        forbidden(&path, "missing or invalid CSRF token; reload the page and try again")
    };
    if let Some(sent) = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return if cookies::secrets_match(sent.trim(), expected) { Ok(request) } else { Err(refuse()) };
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if let Some(boundary) = super::multipart::boundary(&content_type) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_MULTIPART_BYTES).await else {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "upload too large\n").into_response());
        };
        let sent = super::multipart::parse(&bytes, &boundary)
            .ok()
            .and_then(|fields| fields.into_iter().find(|f| f.name == "csrf_token").map(|f| String::from_utf8_lossy(f.data).into_owned()));
        return match sent {
            Some(sent) if cookies::secrets_match(&sent, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
            _ => Err(refuse()),
        };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refuse());
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response());
    };
    let sent = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf_token").map(|(_, v)| v.into_owned());
    match sent {
        Some(sent) if cookies::secrets_match(&sent, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err(refuse()),
    }
}

/// The client address of a request, for the sign-in limits and logs.
pub(super) fn client_address(state: &AppState, request_parts: &axum::http::request::Parts) -> std::net::IpAddr {
    client::address(client::peer(&request_parts.extensions), &request_parts.headers, &state.config.web.trusted_proxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_api_paths() {
        for open in ["/healthz", "/readyz", "/livez", "/metrics", "/iclock/cdata", "/iclock/getrequest"] {
            assert!(is_open(open), "{open}");
        }
        for closed in ["/", "/login", "/api/v1/me", "/iclock", "/healthz/", "/readyz/x", "/iclockx/cdata"] {
            assert!(!is_open(closed), "{closed}");
        }
        assert!(is_api("/api/devices/") && is_api("/api") && !is_api("/apis") && !is_api("/"));
    }
}
