//! `sync-to-crm`, `test-crm`, `mock-crm` and `stats`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::config::Config;
use crate::store::{self, Store, attendance, outbox, punches};
use crate::sync::mock_crm::{Faults, MockCrm};
use crate::sync::{SendSettings, Sender};

#[derive(Debug, Args)]
pub(super) struct SyncArgs {
    /// Send at most this many deliveries in this run
    #[arg(long)]
    limit: Option<u64>,
    /// Put dead-lettered deliveries back in the queue first (same idempotency keys)
    #[arg(long)]
    retry_failed: bool,
}

#[derive(Debug, Args)]
pub(super) struct TestCrmArgs {
    /// Print the outbox figures instead of contacting the CRM
    #[arg(long)]
    stats: bool,
}

#[derive(Debug, Args)]
pub(super) struct MockCrmArgs {
    /// Address to listen on (loopback only is sensible)
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: std::net::SocketAddr,
    /// Token the mock requires (`Token` or `Bearer`); none = any request accepted
    #[arg(long)]
    token: Option<String>,
    /// Answer 500 to the first N requests
    #[arg(long, default_value_t = 0)]
    fail_500: u64,
    /// Answer the first N applied requests slowly
    #[arg(long, default_value_t = 0)]
    slow_count: u64,
    /// How slowly, milliseconds
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Apply then cut the connection for the first N requests
    #[arg(long, default_value_t = 0)]
    drop_count: u64,
    /// Answer 429 to the first N requests
    #[arg(long, default_value_t = 0)]
    rate_limit: u64,
    /// `Retry-After` of those 429s, seconds
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
    /// Store and replay a 500 for the first N new keys
    #[arg(long, default_value_t = 0)]
    replay_500_keys: u64,
}

#[derive(Debug, Args)]
pub(super) struct StatsArgs {
    /// One JSON object on standard output
    #[arg(long)]
    json: bool,
}

async fn open(config: &Config) -> anyhow::Result<Store> {
    let url = config.database();
    let store = Store::open(&url, 4).await?;
    store::run_migrations(&url).await?;
    Ok(store)
}

fn settings(config: &Config) -> anyhow::Result<SendSettings> {
    let Some(settings) = SendSettings::from_config(&config.crm) else { bail!("CRM_API_URL is not set: CRM sync is disabled") };
    if settings.url.scheme() == "http" {
        tracing::warn!("CRM_API_URL uses plain http://: the token and attendance data travel unencrypted");
    }
    Ok(settings)
}

/// Sends what is due and returns; deferred deliveries are not an error (exit 0).
pub(super) async fn sync_to_crm(config: &Config, args: SyncArgs) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let store = open(config).await?;
    if args.retry_failed {
        let n = outbox::requeue_failed(&store).await?;
        println!("re-queued {n} failed deliveries");
    }
    let owner = format!("cli-{}", std::process::id());
    let report = Sender::new(store.clone(), settings, owner)?.run_once(args.limit).await?;
    let stats = outbox::stats(&store).await?;
    println!(
        "delivered {}, deferred {}, failed {}; outbox: {} pending, {} failed, {} days synced",
        report.delivered, report.retried, report.failed, stats.pending, stats.failed, stats.synced
    );
    Ok(())
}

/// Checks reachability, TLS and authentication with one harmless request, and explains the outcome.
pub(super) async fn test_crm(config: &Config, args: TestCrmArgs) -> anyhow::Result<()> {
    if args.stats {
        let store = open(config).await?;
        println!("{}", serde_json::to_string_pretty(&outbox::stats(&store).await?)?);
        return Ok(());
    }
    let settings = settings(config)?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .build()
        .context("building the HTTP client")?;
    let mut request = client.get(settings.url.clone());
    if let Some(token) = &settings.token {
        let scheme = match settings.auth_scheme {
            crate::config::CrmAuthScheme::Token => "Token",
            crate::config::CrmAuthScheme::Bearer => "Bearer",
        };
        request = request.header("Authorization", format!("{scheme} {}", secrecy::ExposeSecret::expose_secret(token)));
    }
    match request.send().await {
        Err(e) if e.is_timeout() => bail!("CRM did not answer within {:?}", settings.timeout),
        Err(e) if e.is_connect() => bail!("cannot connect to the CRM (DNS, refused, or TLS certificate not trusted): {e}"),
        Err(e) => bail!("request to the CRM failed: {e}"),
        Ok(r) => {
            let status = r.status();
            match status.as_u16() {
                401 | 403 => bail!("CRM reachable but refused the token (HTTP {status}): check CRM_API_TOKEN and CRM_AUTH_SCHEME"),
                300..=399 => bail!("CRM answered with a redirect (HTTP {status}); redirects are not followed: fix CRM_API_URL"),
                500..=599 => bail!("CRM reachable but failing (HTTP {status})"),
                _ => println!("CRM reachable, TLS and token accepted (HTTP {status} to a GET)"),
            }
        }
    }
    Ok(())
}

/// Runs the mock CRM until interrupted.
pub(super) async fn mock_crm(args: MockCrmArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let faults = Faults {
        fail_500: args.fail_500,
        slow_ms: args.slow_ms,
        slow_count: args.slow_count,
        drop_count: args.drop_count,
        rate_limit: args.rate_limit,
        retry_after_secs: args.retry_after_secs,
        replay_500_keys: args.replay_500_keys,
        ..Faults::default()
    };
    let crm = MockCrm::spawn(listener, args.token, faults)?;
    println!("mock CRM listening on {} (POST {}, GET /_stats, POST /_control)", crm.addr(), crm.url());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

/// Counts, as text or one JSON object (`--json`); other issues add their figures to the same object.
pub(super) async fn stats(config: &Config, args: StatsArgs) -> anyhow::Result<()> {
    let store = open(config).await?;
    let o = outbox::stats(&store).await?;
    let figures = serde_json::json!({
        "raw_punches": punches::count(&store).await?,
        "processed_days": attendance::count(&store).await?,
        "sync_pending": o.pending + o.in_flight,
        "sync_failed": o.failed,
        "synced": o.synced,
        "sync_oldest_pending_seconds": o.oldest_pending_seconds,
    });
    if args.json {
        println!("{figures}");
    } else if let Some(map) = figures.as_object() {
        for (k, v) in map {
            println!("{k:<28} {v}");
        }
    }
    Ok(())
}
