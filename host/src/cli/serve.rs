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
    if let Some(warning) = open_push_warning(&config, address) {
        tracing::warn!("{warning}");
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
    crate::serve(config, listener, shutdown_signal()).await
}

/// The warning `serve` logs when `/iclock` (which has no authentication: a terminal is known by the
/// serial it claims) is reachable from other machines with no `PUSH_ALLOWED_NETWORKS` to limit who.
pub(crate) fn open_push_warning(config: &Config, main: SocketAddr) -> Option<String> {
    if !config.role.runs_web() || !config.push.allowed_networks.0.is_empty() {
        return None;
    }
    let exposed: Vec<String> =
        [Some(main), config.push.listen].into_iter().flatten().filter(|a| !a.ip().is_loopback()).map(|a| a.to_string()).collect();
    (!exposed.is_empty()).then(|| {
        format!(
            "the push endpoints /iclock/… are served on {} with PUSH_ALLOWED_NETWORKS unset: anyone who can reach them can \
             register terminals; set PUSH_ALLOWED_NETWORKS to the terminals' network (see Security notes in the README)",
            exposed.join(", ")
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_warns_when_iclock_is_open_beyond_loopback() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 8000));
        let everywhere = SocketAddr::from(([0, 0, 0, 0], 8000));
        let config = Config::default();
        assert_eq!(open_push_warning(&config, loopback), None);
        let warning = open_push_warning(&config, everywhere).expect("a warning");
        assert!(warning.contains("0.0.0.0:8000") && warning.contains("PUSH_ALLOWED_NETWORKS"), "{warning}");

        let push_port = Config {
            push: crate::config::PushSettings { listen: Some(SocketAddr::from(([0, 0, 0, 0], 8081))), ..Default::default() },
            ..Config::default()
        };
        assert!(open_push_warning(&push_port, loopback).is_some_and(|w| w.contains("0.0.0.0:8081")));

        let mut limited = push_port.clone();
        limited.push.allowed_networks = crate::config::Networks(vec!["127.0.0.0/8".parse().expect("cidr")]);
        assert_eq!(open_push_warning(&limited, everywhere), None);

        let worker = Config { role: Role::Worker, ..Config::default() };
        assert_eq!(open_push_warning(&worker, everywhere), None, "a worker serves no /iclock");
    }
}
