//! `sync-to-crm`, `test-crm` and `mock-crm`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use chrono::NaiveDate;

use crate::config::Config;
use crate::domain::EmployeeId;
use crate::pipeline;
use crate::simulator::crm::{Faults, MockCrm};
use crate::store::attendance::{self, DaySelection};
use crate::store::{Store, outbox};
use crate::sync::Sender;
use crate::sync::payload::Rendered;
use crate::sync::sender::describe;
use crate::sync::signing::SigningKey;

#[derive(Debug, Args)]
pub(super) struct SyncArgs {
    /// Send at most this many deliveries in this run
    #[arg(long)]
    limit: Option<u64>,
    /// Only days on or after this date (YYYY-MM-DD)
    #[arg(long)]
    start_date: Option<NaiveDate>,
    /// Only days on or before this date (YYYY-MM-DD)
    #[arg(long)]
    end_date: Option<NaiveDate>,
    /// Only this employee's days (the user id on the devices)
    #[arg(long)]
    user_id: Option<String>,
    /// Put dead-lettered deliveries of the selected days back in the queue first (same keys and bodies)
    #[arg(long)]
    retry_failed: bool,
    /// Re-send the selected days, synced or not, as a new version (new idempotency keys)
    #[arg(long)]
    force: bool,
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
    /// Require Standard Webhooks signatures made with this `whsec_…` secret
    #[arg(long)]
    signing_secret: Option<String>,
}

/// The sender the configuration describes; an error when no CRM is configured.
fn sender(config: &Config, store: &Store) -> anyhow::Result<Sender> {
    let registry = pipeline::plugin_registry(config)?;
    let owner = format!("cli-{}", std::process::id());
    let Some(sender) = pipeline::crm_sync::configured_sender(store, &registry, config, &owner)? else {
        bail!("CRM_API_URL is not set: CRM sync is disabled")
    };
    if sender.settings().url.scheme() == "http" {
        tracing::warn!("CRM_API_URL uses plain http://: the token and attendance data travel unencrypted");
    }
    Ok(sender)
}

/// Sends what is due and returns; deferred deliveries are not an error (exit 0).
pub(super) async fn sync_to_crm(config: &Config, args: SyncArgs) -> anyhow::Result<()> {
    let store = super::open_store(config).await?;
    let sender = sender(config, &store)?;
    let selection = DaySelection { start: args.start_date, end: args.end_date, employee: args.user_id.map(EmployeeId) };
    if args.retry_failed {
        let n = outbox::requeue_failed(&store, &selection).await?;
        println!("re-queued {n} failed deliveries");
    }
    if args.force {
        let ids = attendance::select_ids(&store, &selection).await?;
        let n = attendance::bump_revisions(&store, &ids).await?;
        println!("re-sending {n} days as a new version");
    }
    let due = u64::try_from(outbox::stats(&store).await?.pending).unwrap_or(0);
    let bar = super::progress::bar(args.limit.map_or(due, |l| l.min(due)), "deliveries");
    let report = sender.run_selected_reporting(args.limit, &selection, &|n| bar.inc(n)).await;
    bar.finish_and_clear();
    let report = report?;
    let stats = outbox::stats(&store).await?;
    println!(
        "delivered {}, deferred {}, failed {}, skipped {}; outbox: {} pending, {} failed, {} days synced",
        report.delivered, report.retried, report.failed, report.skipped, stats.pending + stats.in_flight, stats.failed, stats.synced
    );
    Ok(())
}

/// Shows the payload the CRM would get for the latest processed day (a dry run: nothing is sent), then
/// checks reachability, TLS and authentication with one harmless request, and explains the outcome.
pub(super) async fn test_crm(config: &Config, args: TestCrmArgs) -> anyhow::Result<()> {
    let store = super::open_store_for(config, super::Access::Read).await?;
    if args.stats {
        let stats = outbox::stats(&store).await?;
        println!("{}", serde_json::to_string_pretty(&stats)?);
        for failure in outbox::failures(&store, 10).await? {
            println!("failed {} (HTTP {}): {}", failure.idempotency_key, failure.last_status.map_or_else(|| "-".into(), |s| s.to_string()), failure.last_error.unwrap_or_default());
        }
        return Ok(());
    }
    let sender = sender(config, &store)?;
    let settings = sender.settings();
    println!("CRM endpoint: {} (auth {:?}{}{})", settings.redacted_url(), settings.auth_scheme, if settings.token.is_some() { " with token" } else { ", no token" }, if settings.signing.is_some() { ", signed" } else { "" });

    let renderer = sender.renderer();
    match attendance::latest(&store).await? {
        None => println!("dry run: no processed day yet, so no payload to show"),
        Some(day) => match renderer.render_day(&day).await {
            Ok(Rendered::Send { body, headers }) => {
                println!("dry run ({} {} through {}; not sent):", day.user_id, day.work_date, renderer.plugin());
                for (name, value) in headers {
                    println!("  {name}: {value}");
                }
                let pretty = serde_json::from_str::<serde_json::Value>(&body).and_then(|v| serde_json::to_string_pretty(&v)).unwrap_or(body);
                println!("{pretty}");
            }
            Ok(_) => println!("dry run: {} skips {} {}", renderer.plugin(), day.user_id, day.work_date),
            Err(e) => bail!("the mapping plugin cannot render a payload: {e}"),
        },
    }

    match sender.probe().await {
        Err(e) if e.is_timeout() => bail!("CRM did not answer within {:?}", settings.timeout),
        Err(e) if e.is_connect() => bail!("cannot connect to the CRM (DNS, refused, or TLS certificate not trusted): {}", describe(&e)),
        Err(e) => bail!("request to the CRM failed: {}", describe(&e)),
        Ok(status) => {
            match status {
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
    let mut crm = MockCrm::spawn(listener, args.token, faults)?;
    if let Some(secret) = &args.signing_secret {
        crm = crm.with_signing(SigningKey::parse(secret)?);
    }
    println!("mock CRM listening on {} (POST {}, GET /_stats, POST /_control)", crm.addr(), crm.url());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
