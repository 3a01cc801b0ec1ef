//! Signing in and out: `GET /login`, `POST /login`, `POST /logout`.
//!
//! - The login form is protected by a double-submit token: `GET /login` sets a random token in a
//!   cookie and in the form; `POST /login` is refused unless both agree.
//! - Failed attempts are limited per client address and per account name
//!   (`LOGIN_MAX_FAILURES` within `LOGIN_WINDOW_MINUTES`, counted in the database); past the limit
//!   the answer is `429` with `Retry-After`. Failures are logged with the name and address, never
//!   the password.
//! - An unknown name and a wrong password give the same message and take the same time: an
//!   unknown name is checked against a dummy argon2 hash.
//! - A successful sign-in always starts a new session (new id, new CSRF token) and ends the
//!   browser's previous one, so an id planted before sign-in is worth nothing after it.

use std::sync::LazyLock;

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::TimeDelta;
use minijinja::context;
use serde::Deserialize;

use super::auth::{Credential, Principal};
use super::cookies::{self, Kind, Secure};
use super::{AppError, AppState, access};
use crate::store::{login_failures, sessions, users};

/// Longest user name looked up or logged.
const MAX_USERNAME: usize = 150;
/// How long the login form's CSRF cookie lives.
const LOGIN_FORM_LIFETIME_SECS: i64 = 2 * 60 * 60;
/// The one message for every failed sign-in.
pub const FAILED_MESSAGE: &str = "Wrong user name or password.";

/// An argon2id hash (same parameters as real ones) of a password nobody has: an unknown user name
/// is verified against it so that it costs as much time as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| crate::auth::hash_password("no account has this password").unwrap_or_default());

pub(super) fn router() -> Router<AppState> {
    // Computing the dummy hash takes tens of milliseconds: do it now, off the async threads, so the
    // first unknown user name does not answer slower than a wrong password.
    std::thread::spawn(|| LazyLock::force(&DUMMY_HASH));
    Router::new().route(access::LOGIN_PATH, get(login_page).post(login)).route("/logout", post(logout))
}

/// `next` when it is a path on this site, else `/`: no open redirect.
///
/// Accepted: one leading `/` followed by anything but a second `/` or `\`, with no control
/// characters or backslashes anywhere (browsers read `\` as `/`).
pub fn safe_next(next: Option<&str>) -> &str {
    let Some(next) = next else { return "/" };
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2048;
    if ok { next } else { "/" }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
}

/// What the page shows besides the form.
#[derive(Default)]
struct PageState<'a> {
    error: Option<String>,
    username: &'a str,
    signed_in_as: Option<&'a str>,
}

async fn login_page(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    secure: Option<Extension<Secure>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let secure = secure.map_or_else(|| Secure::configured(&state.config.web), |Extension(s)| s);
    let form_token = login_form_token(&headers, secure);
    let signed_in_as = principal.as_ref().map(|Extension(p)| p.user.username.as_str());
    page(secure, StatusCode::OK, &form_token, safe_next(query.next.as_deref()), PageState { signed_in_as, ..PageState::default() })
}

/// The request's cookie security as the access layer decided it.
fn secure_of(state: &AppState, parts: &Parts) -> Secure {
    parts.extensions.get::<Secure>().copied().unwrap_or_else(|| Secure::configured(&state.config.web))
}

/// The login form's CSRF token: the browser's current one (so two open tabs both work) or a new one.
fn login_form_token(headers: &HeaderMap, secure: Secure) -> String {
    cookies::read(headers, cookies::name(Kind::LoginCsrf, secure))
        .filter(|t| t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()))
        .map_or_else(cookies::random_secret, str::to_owned)
}

/// The sign-in page with `status`, (re)setting the form's CSRF cookie.
fn page(secure: Secure, status: StatusCode, form_token: &str, next: &str, shown: PageState<'_>) -> Response {
    let ctx = context! {
        csrf_token => form_token, next => next, error => shown.error, username => shown.username,
        signed_in_as => shown.signed_in_as,
    };
    let mut response = match super::view::render("web/auth/login.html", ctx) {
        Ok(html) => (status, html).into_response(),
        Err(e) => return e.into_response(),
    };
    set_cookie(&mut response, &cookies::set(Kind::LoginCsrf, secure, form_token, LOGIN_FORM_LIFETIME_SECS));
    response
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

async fn login(State(state): State<AppState>, parts: Parts, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref()).to_owned();
    let web = &state.config.web;
    let secure = secure_of(&state, &parts);
    let cookie_token = cookies::read(&parts.headers, cookies::name(Kind::LoginCsrf, secure)).map(str::to_owned);
    let form_token = login_form_token(&parts.headers, secure);
    if !cookie_token.as_deref().is_some_and(|expected| cookies::secrets_match(&form.csrf_token, expected)) {
        let error = Some("Your sign-in form had expired. Please try again.".to_owned());
        return page(secure, StatusCode::FORBIDDEN, &form_token, &next, PageState { error, ..PageState::default() });
    }
    let client = access::client_address(&state, &parts).to_string();
    let username: String = form.username.trim().chars().take(MAX_USERNAME).collect();
    let window = TimeDelta::minutes(i64::from(web.login_window_minutes));

    match limited_for(&state, &client, &username, window).await {
        Ok(None) => {}
        Ok(Some(retry_after_secs)) => {
            tracing::warn!(username = %username, client = %client, "sign-in refused: too many failed attempts");
            let minutes = retry_after_secs.div_ceil(60);
            let error = Some(format!(
                "Too many failed sign-in attempts. Please wait {minutes} minute{} and try again.",
                if minutes == 1 { "" } else { "s" }
            ));
            let mut response = page(secure, StatusCode::TOO_MANY_REQUESTS, &form_token, &next, PageState { error, username: &username, ..PageState::default() });
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return response;
        }
        Err(e) => return e.into_response(),
    }

    let account = match users::find_by_username(&state.store, &username).await {
        Ok(account) => account,
        Err(e) => return AppError::from(e).into_response(),
    };
    let stored_hash = account.as_ref().map_or_else(|| DUMMY_HASH.clone(), |user| user.password_hash.clone());
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || crate::auth::verify_password(&password, &stored_hash)).await.unwrap_or(false);
    let user = match account {
        Some(user) if matches && user.is_active && !username.is_empty() => user,
        _ => {
            tracing::warn!(username = %username, client = %client, "failed sign-in");
            if let Err(e) = login_failures::record(&state.store, &client, &username).await {
                return AppError::from(e).into_response();
            }
            let error = Some(FAILED_MESSAGE.to_owned());
            return page(secure, StatusCode::UNAUTHORIZED, &form_token, &next, PageState { error, username: &username, ..PageState::default() });
        }
    };

    housekeeping(&state, &username, window).await;
    let old = cookies::read(&parts.headers, cookies::name(Kind::Session, secure)).map(cookies::hash_session_id);
    let session_id = cookies::random_secret();
    let id_hash = cookies::hash_session_id(&session_id);
    let csrf_token = cookies::random_secret();
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let lifetime = TimeDelta::hours(i64::from(web.session_absolute_hours));
    let new = sessions::NewSession {
        id_hash: &id_hash,
        user: user.id,
        csrf_token: &csrf_token,
        lifetime,
        client_addr: Some(&client),
        user_agent,
    };
    if let Err(e) = sessions::start(&state.store, &new, old.as_deref()).await {
        return AppError::from(e).into_response();
    }
    tracing::info!(username = %user.username, client = %client, "signed in");
    let mut response = see_other(&next);
    set_cookie(&mut response, &cookies::set(Kind::Session, secure, &session_id, lifetime.num_seconds()));
    set_cookie(&mut response, &cookies::clear(Kind::LoginCsrf, secure));
    response
}

/// Seconds until another attempt may be made, when the address or the account is over the limit.
async fn limited_for(state: &AppState, client: &str, username: &str, window: TimeDelta) -> Result<Option<u64>, AppError> {
    let max = i64::from(state.config.web.login_max_failures);
    let mut retry_after: Option<u64> = None;
    for (scope, subject) in [(login_failures::Scope::Address, client), (login_failures::Scope::Account, username)] {
        let failures = login_failures::recent(&state.store, scope, subject, window).await?;
        if failures.count >= max {
            let frees_at = failures.oldest.map_or_else(|| chrono::Utc::now().naive_utc() + window, |oldest| oldest + window);
            let secs = u64::try_from((frees_at - chrono::Utc::now().naive_utc()).num_seconds()).unwrap_or(0).max(1);
            retry_after = Some(retry_after.map_or(secs, |s| s.max(secs)));
        }
    }
    Ok(retry_after)
}

/// After a good sign-in: forget the account's failures, purge expired sessions and stale failures.
/// Failures here are logged, never a reason to refuse the sign-in.
async fn housekeeping(state: &AppState, username: &str, window: TimeDelta) {
    let idle = TimeDelta::minutes(i64::from(state.config.web.session_idle_minutes));
    if let Err(e) = login_failures::clear_account(&state.store, username).await {
        tracing::warn!(error = %e, "cannot clear the account's failed sign-ins");
    }
    if let Err(e) = sessions::purge_expired(&state.store, idle).await {
        tracing::warn!(error = %e, "cannot purge expired sessions");
    }
    if let Err(e) = login_failures::purge_older_than(&state.store, window).await {
        tracing::warn!(error = %e, "cannot purge old failed sign-ins");
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Ends the session (the access layer has checked its CSRF token) and goes to the sign-in page.
async fn logout(State(state): State<AppState>, Extension(principal): Extension<Principal>, secure: Option<Extension<Secure>>) -> Response {
    let secure = secure.map_or_else(|| Secure::configured(&state.config.web), |Extension(s)| s);
    if let Credential::Session { id_hash, .. } = &principal.credential
        && let Err(e) = sessions::end(&state.store, id_hash).await
    {
        return AppError::from(e).into_response();
    }
    tracing::info!(username = %principal.user.username, "signed out");
    let mut response = see_other(access::LOGIN_PATH);
    set_cookie(&mut response, &cookies::clear(Kind::Session, secure));
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for good in ["/", "/reports?month=2026-11", "/api/devices/"] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in ["//evil.example", "/\\evil.example", "https://evil.example/", "evil", "", "/\t/evil", "/a\\b", "javascript:alert(1)"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
