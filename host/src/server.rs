//! The server process as a library call: [`serve`] wires storage, the scheduled jobs and the HTTP
//! application together according to the configured role, and runs until told to stop.

use std::fs::File;
use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DatabaseUrl};
use crate::pipeline::{self, Scheduler};
use crate::store::{self, Store};
use crate::web::{self, App, AppState};

/// Opens the database, applies migrations, starts the jobs (roles `all`, `worker`) and serves HTTP on
/// `listener` until `shutdown` completes; then lets jobs in progress finish.
///
/// The binary passes its configured address and a signal future; tests pass `127.0.0.1:0` and a channel.
///
/// # Errors
/// When the database cannot be opened or migrated, another instance already serves the same SQLite
/// file, or the listener fails.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let url = config.database();
    let _instance_lock = lock_sqlite_instance(&url)?;
    let store = Store::open(&url, config.database_pool_size).await?;
    let report = store::run_migrations(&url).await?;
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, "database migrated");
    }

    pipeline::apply_configured_intervals(&store, &config).await?;
    match config.crm.api_url.as_ref().map(|url| url.0.scheme()) {
        None => tracing::info!("CRM_API_URL is not set: processed days wait in the outbox until a CRM is configured"),
        Some("http") => tracing::warn!("CRM_API_URL uses plain http://: the token and attendance data travel unencrypted"),
        Some(_) => {}
    }
    let registry = pipeline::plugin_registry(&config)?;
    let stop_jobs = CancellationToken::new();
    let mut heartbeat = None;
    let jobs = config.role.runs_jobs().then(|| {
        let instance = instance_name();
        let scheduler = pipeline::standard_jobs(&store, &config, &instance, &registry)
            .into_iter()
            .fold(Scheduler::new(store.clone(), instance.clone(), config.time_zone.0), Scheduler::with_job);
        // A healthy loop looks every few seconds; a minute of silence means it is stuck or gone.
        heartbeat = Some((scheduler.heartbeat(), scheduler.look_every_period() * 3 + std::time::Duration::from_secs(60)));
        let live = pipeline::live::LiveSupervisor::new(store.clone(), &config, &instance);
        let stop = stop_jobs.clone();
        tokio::spawn(async move {
            tokio::join!(scheduler.run(stop.clone()), live.run(stop.clone()));
        })
    });

    let address = listener.local_addr()?;
    tracing::info!(%address, database = store.backend_name(), role = ?config.role, "attendance bridge listening on http://{address}");
    let runs_web = config.role.runs_web();
    let push_listen = config.push.listen;
    let limits = web::listener::HttpLimits::from_settings(&config.http);
    let mut app = App::new(config, store);
    if let Some((beat, stale)) = heartbeat {
        app = app.with_scheduler(beat, stale);
    }
    let state = AppState(Arc::new(app));

    // One shutdown signal for every listener.
    let stop_http = CancellationToken::new();
    let push_server = match push_listen.filter(|_| runs_web) {
        Some(address) => {
            let push_listener = TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
            tracing::info!(address = %push_listener.local_addr()?, "push endpoints also listening on http://{}", push_listener.local_addr()?);
            let router = web::push_only(state.clone());
            let stop = stop_http.clone();
            Some(tokio::spawn(web::listener::serve(push_listener, router, limits, stop.cancelled_owned())))
        }
        None => None,
    };
    let router = if runs_web { web::app(state) } else { web::probes_only(state) };
    let stop = stop_http.clone();
    let served = web::listener::serve(listener, router, limits, async move {
        shutdown.await;
        stop.cancel();
    })
    .await;
    stop_http.cancel();
    if let Some(push_server) = push_server {
        let _ = push_server.await;
    }

    stop_jobs.cancel();
    if let Some(jobs) = jobs {
        let _ = jobs.await;
    }
    served?;
    tracing::info!("attendance bridge stopped");
    Ok(())
}

/// A name for this process among the instances sharing a database: host, process id, random suffix.
fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{:04x}", std::process::id(), rand::random::<u16>())
}

/// On SQLite only one `serve` may run per database file: the scheduler's leases would work, but two
/// processes writing one file over a network share is how SQLite files get corrupted, and PostgreSQL
/// is the supported way to run several instances. The lock is held until the returned file drops.
fn lock_sqlite_instance(url: &DatabaseUrl) -> anyhow::Result<Option<File>> {
    let DatabaseUrl::Sqlite(path) = url else { return Ok(None) };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let lock_path = path.with_extension("db.serve-lock");
    let file = File::options().create(true).truncate(false).write(true).open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another attendance-bridge instance is already serving {} (SQLite runs a single instance; use PostgreSQL to run several)",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}
