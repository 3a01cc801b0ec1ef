//! The HTTP edge: the axum application, its shared state, and [`serve`].
//!
//! Handlers stay thin: they parse, call into the layers below, and map errors through [`AppError`].
//! Each area has its own module with a `router()`; [`app`] merges them.

mod api;
mod auth;
mod error;
mod health;
mod hosts;
mod pages;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::store::{self, Store};
pub use auth::Authenticated;
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
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// The whole HTTP application, without a socket (tests may drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(pages::router())
        .nest("/api/v1", api::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), hosts::check_host))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Opens the database, applies migrations, and serves HTTP on `listener` until `shutdown` completes.
///
/// This is the server as a library call: the binary passes its configured address and a signal
/// future; tests pass `127.0.0.1:0` and a channel.
///
/// # Errors
/// When the database cannot be opened or migrated, or the listener fails.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let url = config.database();
    let store = Store::open(&url, config.database_pool_size).await?;
    let report = store::run_migrations(&url).await?;
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, "database migrated");
    }
    let address = listener.local_addr()?;
    tracing::info!(%address, database = store.backend_name(), "attendance bridge listening on http://{address}");
    let state = AppState(Arc::new(App { config, store }));
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await?;
    tracing::info!("attendance bridge stopped");
    Ok(())
}
