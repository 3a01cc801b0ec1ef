//! The delivery loop: claim due outbox rows, POST them concurrently over kept-alive connections, record
//! each verdict.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use secrecy::{ExposeSecret as _, SecretString};

use super::classify::{Verdict, backoff, classify};
use crate::store::outbox::{self, Delivery};
use crate::store::{Store, StoreError};

/// Why a sync run failed as a whole (individual delivery failures are recorded, not raised).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The outbox could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("cannot build the CRM HTTP client: {0}")]
    Client(String),
}

pub use crate::config::CrmAuthScheme as AuthScheme;

/// How to reach the CRM and how hard to try.
#[derive(Debug, Clone)]
pub struct SendSettings {
    /// The endpoint days are POSTed to.
    pub url: url::Url,
    /// API token, if the CRM needs one.
    pub token: Option<SecretString>,
    /// `Token` or `Bearer`.
    pub auth_scheme: AuthScheme,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Attempts before a transient failure becomes a dead letter.
    pub max_retries: u32,
    /// Backoff base.
    pub retry_base: Duration,
    /// Backoff cap (also clamps `Retry-After`).
    pub retry_max: Duration,
    /// Rows claimed per round.
    pub batch_size: i64,
}

impl SendSettings {
    /// The settings from configuration; `None` when no `CRM_API_URL` is set (sync disabled).
    pub fn from_config(crm: &crate::config::CrmSettings) -> Option<SendSettings> {
        let url = crm.api_url.as_ref()?;
        Some(SendSettings {
            url: url.0.clone(),
            token: crm.api_token.clone(),
            auth_scheme: crm.auth_scheme,
            timeout: Duration::from_secs(u64::from(crm.timeout_seconds)),
            concurrency: usize::try_from(crm.concurrency).unwrap_or(1),
            max_retries: crm.max_retries,
            retry_base: Duration::from_secs(u64::from(crm.retry_base_seconds)),
            retry_max: Duration::from_secs(u64::from(crm.retry_max_seconds)),
            batch_size: i64::from(crm.sync_batch_size),
        })
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// Acknowledged by the CRM.
    pub delivered: u64,
    /// Deferred for a later attempt.
    pub retried: u64,
    /// Dead-lettered.
    pub failed: u64,
    /// Results not recorded because the lease was lost to another sender.
    pub lease_lost: u64,
}

/// Sends the outbox.
#[derive(Debug, Clone)]
pub struct Sender {
    store: Store,
    client: reqwest::Client,
    settings: SendSettings,
    owner: String,
}

impl Sender {
    /// A sender identified as `owner` in leases.
    ///
    /// TLS is always verified; redirects are not followed (a 3xx is a failure, so a token never goes to
    /// a host it was not configured for).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(store: Store, settings: SendSettings, owner: impl Into<String>) -> Result<Sender, SyncError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .build()
            .map_err(|e| SyncError::Client(e.to_string()))?;
        Ok(Sender { store, client, settings, owner: owner.into() })
    }

    /// Sends everything due now (at most `limit` deliveries when given) and returns.
    ///
    /// # Errors
    /// When the outbox cannot be read or written.
    pub async fn run_once(&self, limit: Option<u64>) -> Result<RunReport, SyncError> {
        let mut report = RunReport::default();
        let mut sent = 0u64;
        loop {
            let room = limit.map_or(self.settings.batch_size, |l| i64::try_from(l.saturating_sub(sent)).unwrap_or(i64::MAX).min(self.settings.batch_size));
            if room <= 0 {
                break;
            }
            let now = Utc::now();
            let lease = now + chrono::TimeDelta::from_std(self.settings.timeout * 2 + Duration::from_secs(5)).unwrap_or(chrono::TimeDelta::minutes(5));
            let batch = outbox::claim_due(&self.store, &self.owner, now, lease, room).await?;
            if batch.is_empty() {
                break;
            }
            sent += batch.len() as u64;
            let results: Vec<Result<(Verdict, bool), StoreError>> = futures_util::stream::iter(batch)
                .map(|d| self.deliver(d))
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
            for r in results {
                let (verdict, kept) = r?;
                if !kept {
                    report.lease_lost += 1;
                    continue;
                }
                match verdict {
                    Verdict::Delivered { .. } => report.delivered += 1,
                    Verdict::Retry { .. } => report.retried += 1,
                    Verdict::Dead { .. } => report.failed += 1,
                }
            }
        }
        Ok(report)
    }

    /// One attempt: POST, classify, record. Returns the verdict and whether it was recorded.
    async fn deliver(&self, d: Delivery) -> Result<(Verdict, bool), StoreError> {
        let verdict = self.post(&d).await;
        let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
        let verdict = match verdict {
            Verdict::Retry { status, error, .. } if attempts >= self.settings.max_retries => {
                Verdict::Dead { status, error: format!("gave up after {attempts} attempts; last: {error}") }
            }
            v => v,
        };
        let kept = match &verdict {
            Verdict::Delivered { status, crm_id } => outbox::mark_delivered(&self.store, d.id, &self.owner, *status, crm_id.as_deref()).await?,
            Verdict::Retry { status, error, retry_after } => {
                let wait = backoff(attempts.saturating_sub(1), self.settings.retry_base, self.settings.retry_max, *retry_after);
                let next = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::zero());
                outbox::mark_retry(&self.store, d.id, &self.owner, next, *status, error).await?
            }
            Verdict::Dead { status, error } => outbox::mark_failed(&self.store, d.id, &self.owner, *status, error).await?,
        };
        Ok((verdict, kept))
    }

    /// The HTTP exchange, mapped to a verdict; network errors are transient.
    async fn post(&self, d: &Delivery) -> Verdict {
        let mut request = self
            .client
            .post(self.settings.url.clone())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &d.idempotency_key)
            .body(d.body.clone());
        if let Some(token) = &self.settings.token {
            let scheme = match self.settings.auth_scheme {
                AuthScheme::Token => "Token",
                AuthScheme::Bearer => "Bearer",
            };
            request = request.header("Authorization", format!("{scheme} {}", token.expose_secret()));
        }
        match request.send().await {
            Err(e) => Verdict::Retry { status: None, error: describe(&e), retry_after: None },
            Ok(response) => {
                let status = response.status().as_u16();
                let replayed = response.headers().get("Idempotent-Replayed").and_then(|v| v.to_str().ok()) == Some("true");
                let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_owned);
                match response.text().await {
                    Ok(body) => classify(status, replayed, retry_after.as_deref(), &body),
                    // A 2xx whose body was cut off still is an acknowledgement only if fully read; retry.
                    Err(e) => Verdict::Retry { status: Some(status), error: describe(&e), retry_after: None },
                }
            }
        }
    }
}

/// A network error in words an operator can act on.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("timed out: {e}")
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        format!("request failed: {e}")
    }
}
