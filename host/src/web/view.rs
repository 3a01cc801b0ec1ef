//! What every server-rendered page shares: the compiled-in templates, the site frame (who is signed
//! in, the navigation, the CSRF token for forms), the stylesheet, and error pages in HTML.
//!
//! Each page area (`dashboard`, `reports`, `admin`, ...) lists its own templates in a
//! `TEMPLATES: &[(&str, &str)]` slice; [`AREAS`] gathers them, so adding an area is one line here and
//! areas never edit each other's lists. Templates are `include_str!`ed: a deployed bridge needs no
//! files beside the binary, and a template that does not compile fails the `templates_compile` test.

use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{Environment, context};

use super::auth::Principal;
use super::cookies::{self, Secure};
use super::{AppError, AppState, Role};

/// Templates every area uses: the frame, the sign-in page, error pages.
const SHARED: &[(&str, &str)] = &[
    ("web/base.html", include_str!("../../../templates/web/base.html")),
    ("web/errors/error.html", include_str!("../../../templates/web/errors/error.html")),
    ("web/auth/login.html", include_str!("../../../templates/web/auth/login.html")),
];

/// Every area's templates. Add an area's slice here.
const AREAS: &[&[(&str, &str)]] = &[SHARED, super::api::openapi::TEMPLATES, super::reports::TEMPLATES, super::dashboard::TEMPLATES, super::admin::TEMPLATES, super::settings::TEMPLATES];

/// The page templates, parsed once.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in AREAS.iter().flat_map(|area| area.iter()) {
        // Covered by `templates_compile`: a syntax error cannot ship.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

/// The stylesheet every page links (`/static/app.css`), compiled in.
const APP_CSS: &str = include_str!("../../../static/app.css");

/// Static assets. Open without sign-in (see [`super::access::is_open`]): the sign-in page needs them
/// and they hold no data.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/static/app.css", get(app_css))
}

async fn app_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        APP_CSS,
    )
        .into_response()
}

/// Renders a page template.
///
/// # Errors
/// [`AppError::Internal`] when the template is missing or fails (a bug, logged in full).
pub fn render(name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(Html)
        .map_err(|e| AppError::Internal(format!("template {name}: {e:#}")))
}

/// Which navigation entry a page belongs to (highlighted in the side navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Today,
    Reports,
    Devices,
    Punches,
    Days,
    Employees,
    Shifts,
    Plugins,
    Sync,
    Jobs,
    Users,
    Api,
    Account,
}

impl Nav {
    fn key(self) -> &'static str {
        match self {
            Nav::Today => "today",
            Nav::Reports => "reports",
            Nav::Devices => "devices",
            Nav::Punches => "punches",
            Nav::Days => "days",
            Nav::Employees => "employees",
            Nav::Shifts => "shifts",
            Nav::Plugins => "plugins",
            Nav::Sync => "sync",
            Nav::Jobs => "jobs",
            Nav::Users => "users",
            Nav::Api => "api",
            Nav::Account => "account",
        }
    }
}

/// The context every signed-in page's frame needs: who is signed in (and whether to show the
/// administration menu), the CSRF token for forms, the company name and the active navigation entry.
/// Merge it into a page's own context: `context! { rows, ..frame(&state, &principal, Nav::Days) }`.
pub fn frame(state: &AppState, principal: &Principal, nav: Nav) -> minijinja::Value {
    let role = Role::of(&principal.user);
    context! {
        user => context! {
            username => principal.user.username.clone(),
            role => role.as_str(),
            is_admin => role == Role::Admin,
        },
        csrf_token => principal.csrf_token().unwrap_or_default(),
        company_name => state.config.company_name.clone(),
        nav => nav.key(),
    }
}

/// Turns the JSON error bodies of [`AppError`] into the site's HTML error page for browser paths
/// (everything but `/api/*`, the push endpoints and probes), so a viewer opening an admin page sees
/// "403 · This needs an admin account" in the site's frame rather than a JSON object. Successful
/// responses and redirects pass untouched.
pub(super) async fn html_errors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let principal = request.extensions().get::<Principal>().cloned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || !is_json
        || super::access::is_api(&path)
        || super::access::is_open(&path)
        || status == StatusCode::UNAUTHORIZED
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Something in the request is not right",
        StatusCode::CONFLICT => "That conflicts with what is stored",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "The request could not be completed",
    };
    let frame = match &principal {
        Some(principal) => frame(&state, principal, Nav::Today),
        None => context! {},
    };
    let ctx = context! { status => status.as_u16(), title, message => message.clone(), ..frame };
    match render("web/errors/error.html", ctx) {
        Ok(Html(page)) => {
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(page))
        }
        Err(e) => {
            tracing::error!(error = %e, "error page failed");
            Response::from_parts(parts, axum::body::Body::from(format!("{} {title}: {message}", status.as_u16())))
        }
    }
}

/// How a one-shot message looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    /// Something was done ("Device added").
    Ok,
    /// Something was refused; the text says why.
    Error,
    /// Neither ("Nothing to retry").
    Info,
}

/// A one-shot message shown at the top of the next page after a form post redirects (post,
/// redirect, get: reloading the page does not post again). Carried in a short-lived cookie, never in
/// the URL, so a link cannot make the site say something it did not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    /// How it looks (`ok`, `error`, `info`; the CSS class of `.flash`).
    pub kind: FlashKind,
    /// What it says.
    pub text: String,
}

impl Flash {
    /// A success message.
    pub fn ok(text: impl Into<String>) -> Self {
        Flash { kind: FlashKind::Ok, text: text.into() }
    }

    /// A refusal.
    pub fn error(text: impl Into<String>) -> Self {
        Flash { kind: FlashKind::Error, text: text.into() }
    }

    /// A neutral note.
    pub fn info(text: impl Into<String>) -> Self {
        Flash { kind: FlashKind::Info, text: text.into() }
    }

    /// A `303 See Other` to `location` carrying this message to the page there. (The flash cookie
    /// is never `__Host-` named: a planted one could only show escaped text once.)
    pub fn redirect(self, location: &str) -> Response {
        use base64::Engine as _;
        let secure = Secure(false);
        let json = serde_json::to_vec(&self).unwrap_or_default();
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let mut response = Redirect::to(location).into_response();
        if let Ok(cookie) = HeaderValue::from_str(&cookies::set(cookies::Kind::Flash, secure, &value, 60)) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// The message a previous redirect left for this page, if any. Put it in the page's context as
/// `flash` (the frame shows it) and return [`TakenFlash`] with the page so it is shown once:
/// `Ok((taken, render("…", context! { flash => taken.message(), ..frame(…) })?))`.
#[derive(Debug, Clone, Default)]
pub struct TakenFlash(Option<Flash>);

impl TakenFlash {
    /// The message, for the template.
    pub fn message(&self) -> Option<Flash> {
        self.0.clone()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TakenFlash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        use base64::Engine as _;
        let flash = cookies::read(&parts.headers, cookies::name(cookies::Kind::Flash, Secure(false)))
            .and_then(|v| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v).ok())
            .and_then(|bytes| serde_json::from_slice::<Flash>(&bytes).ok());
        Ok(TakenFlash(flash))
    }
}

impl axum::response::IntoResponseParts for TakenFlash {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: axum::response::ResponseParts) -> Result<axum::response::ResponseParts, Self::Error> {
        if self.0.is_some()
            && let Ok(cookie) = HeaderValue::from_str(&cookies::clear(cookies::Kind::Flash, Secure(false)))
        {
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile() {
        for (name, source) in AREAS.iter().flat_map(|area| area.iter()) {
            let mut env = Environment::new();
            for (n, s) in AREAS.iter().flat_map(|area| area.iter()) {
                env.add_template(n, s).unwrap_or_else(|e| panic!("{n}: {e}"));
            }
            assert!(env.get_template(name).is_ok(), "{name} ({} bytes) is registered", source.len());
        }
    }
}
