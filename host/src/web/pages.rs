//! Server-rendered pages. Templates live in the workspace's `templates/` folder and are compiled into
//! the binary, so a deployed bridge needs no files beside it.

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Extension, Router};
use minijinja::context;

use super::auth::Principal;
use super::view::{Nav, frame, render};
use super::{AppError, AppState};
use crate::store::{devices, stats};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(overview))
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
            ..frame(&state, &principal, Nav::Today)
        },
    )
}
