//! `serve`: the long-running server.

use std::net::SocketAddr;

use clap::Args;

use crate::config::{Config, Role};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on [default: BRIDGE_LISTEN or 127.0.0.1:8000]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// What to run: all, web (HTTP only) or worker (jobs only) [default: BRIDGE_ROLE or all]
    #[arg(long, value_enum)]
    role: Option<Role>,
}

pub(super) async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(role) = args.role {
        config.role = role;
    }
    if config.secret_key.is_none() {
        tracing::warn!("SECRET_KEY is not set: a random one is used, sessions end at restart");
    }
    let address = args.listen.unwrap_or(config.listen);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
    crate::serve(config, listener, shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (service managers), letting requests in flight finish.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
