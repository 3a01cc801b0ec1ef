//! The HTTP edge: the axum application, its shared state, and [`serve`].
//!
//! Handlers stay thin: they parse, call into the layers below, and map errors through [`AppError`].
//! Each area has its own module with a `router()`; [`app`] merges them. [`crate::serve`] runs it.

pub mod access;
mod admin;
mod api;
pub mod auth;
mod client;
mod cookies;
mod dashboard;
mod error;
mod health;
mod hosts;
mod iclock;
pub mod listener;
mod login;
mod reports;
mod multipart;
mod settings;
pub mod view;

use std::sync::Arc;

use axum::Router;
use crate::config::Config;
use crate::store::Store;
pub use auth::{AdminOnly, Authenticated, Principal, Role};
pub use login::safe_next;
pub use error::AppError;

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<App>);

/// The application's shared parts.
#[derive(Debug)]
pub struct App {
    /// The validated configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Ingestion from push terminals.
    pub push: crate::pipeline::push::PushIngest,
    /// The scheduler's heartbeat and how stale it may get, when this process runs jobs (`/readyz`).
    pub scheduler: Option<(crate::pipeline::Heartbeat, std::time::Duration)>,
}

impl App {
    /// The shared parts, built from configuration and an open store.
    pub fn new(config: Config, store: Store) -> Self {
        let push = crate::pipeline::push::PushIngest::new(store.clone(), &config);
        Self { config, store, push, scheduler: None }
    }

    /// Lets `/readyz` watch the scheduler loop: not ready when its last look is older than `stale`.
    #[must_use]
    pub fn with_scheduler(mut self, heartbeat: crate::pipeline::Heartbeat, stale: std::time::Duration) -> Self {
        self.scheduler = Some((heartbeat, stale));
        self
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// Only the probes and `/metrics`: what a `worker` process answers so supervisors can watch it.
pub fn probes_only(state: AppState) -> Router {
    Router::new().merge(health::router()).layer(axum::middleware::from_fn(crate::metrics::http::track)).with_state(state)
}

/// Only the push endpoints (and probes), for a listener exposed to devices alone (`PUSH_LISTEN`).
pub fn push_only(state: AppState) -> Router {
    Router::new()
        .merge(health::probes())
        .merge(iclock::router(&state))
        .layer(axum::middleware::from_fn(crate::metrics::http::track))
        .with_state(state)
}

/// The whole HTTP application, without a socket (tests may drive it with `tower::ServiceExt::oneshot`).
///
/// Deny by default: [`access::guard`] wraps every route, so a route added here needs a session or
/// an API token unless its path is one of the few [`access::is_open`] or `/login` paths. Add routes
/// above the `.layer` calls (axum layers wrap only the routes added before them).
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(iclock::router(&state))
        .merge(view::router())
        .merge(dashboard::router())
        .merge(reports::router())
        .merge(admin::router())
        .merge(login::router())
        .merge(settings::router())
        .nest("/api", api::router())
        .nest("/api/v1", api::router())
        // Inside the guard, so error pages know who is signed in.
        .layer(axum::middleware::from_fn_with_state(state.clone(), view::html_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), access::guard))
        // Terminals address the bridge by IP: probes and push endpoints skip the ALLOWED_HOSTS check,
        // which runs before the sign-in check (a wrong host name gets 400, not a redirect).
        .layer(axum::middleware::from_fn_with_state(state.clone(), hosts::check_host))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // Outermost: counts every answer, refusals by the layers above included.
        .layer(axum::middleware::from_fn(crate::metrics::http::track))
        .with_state(state)
}
