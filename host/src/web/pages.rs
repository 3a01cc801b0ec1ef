//! Server-rendered pages. Templates live in the workspace's `templates/` folder and are compiled into
//! the binary, so a deployed bridge needs no files beside it.

use std::sync::LazyLock;

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Extension, Router};
use minijinja::{Environment, context};

use super::auth::Principal;
use super::{AppError, AppState, Role};
use crate::store::{devices, stats};

/// The page templates, parsed once.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("web/base.html", include_str!("../../../templates/web/base.html")),
        ("web/index.html", include_str!("../../../templates/web/index.html")),
        ("web/auth/login.html", include_str!("../../../templates/web/auth/login.html")),
    ] {
        // The templates are part of the binary and covered by tests; a syntax error cannot ship.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(overview))
}

/// Renders a page template.
pub(super) fn render(name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(Html)
        .map_err(|e| AppError::Internal(format!("template {name}: {e}")))
}

/// The context every signed-in page's frame needs: who is signed in and the CSRF token for forms
/// (the sign-out button).
fn frame(principal: &Principal) -> minijinja::Value {
    context! {
        user => context! { username => principal.user.username.clone(), role => Role::of(&principal.user).as_str() },
        csrf_token => principal.csrf_token().unwrap_or_default(),
    }
}

/// The landing page: devices and how much has been collected (signed-in accounts only, like every
/// page; see [`super::access`]). It still names approved devices only and shows no addresses,
/// serials or error texts: terminals awaiting approval are only counted here.
async fn overview(State(state): State<AppState>, Extension(principal): Extension<Principal>) -> Result<Html<String>, AppError> {
    let devices = devices::list(&state.store).await?;
    let counts = stats::counts(&state.store).await?;
    let punches = counts.raw_punches;
    let awaiting_approval = devices.iter().filter(|d| !d.approved).count();
    let devices: Vec<_> = devices
        .into_iter()
        .filter(|d| d.approved)
        .map(|d| {
            context! {
                name => d.name, kind => if d.address.is_some() { "polled" } else { "push" }, enabled => d.enabled,
                last_sync_at => d.last_sync_at.or(d.last_seen_at).map(|t| t.format("%Y-%m-%d %H:%M").to_string()),
                has_error => d.last_error.is_some(),
            }
        })
        .collect();
    render(
        "web/index.html",
        context! {
            devices, awaiting_approval, punches, counts => minijinja::value::Serde(&counts), database => state.store.backend_name(),
            ..frame(&principal)
        },
    )
}
