//! The delivery loop: claim due outbox rows, render each once through the mapping plugin, POST them
//! concurrently over kept-alive connections (or as JSON arrays when the CRM takes batches), and record
//! the verdicts. Database work is done a batch at a time, outside the HTTP exchanges.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Digest as _;

use super::classify::{Verdict, backoff, classify};
use super::payload::{Rendered, Renderer};
use super::signing::{self, SigningKey};
use crate::store::attendance::DaySelection;
use crate::store::outbox::{self, Delivery, Mark};
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
    /// The signing secret is malformed.
    #[error(transparent)]
    Secret(#[from] signing::BadSecret),
    /// `CRM_CA_FILE` cannot be read or holds no PEM certificate.
    #[error("CRM_CA_FILE: {0}")]
    CaFile(String),
}

pub use crate::config::CrmAuthScheme as AuthScheme;

/// Headers a mapping plugin may not set: the bridge owns authentication, idempotency and signing.
const RESERVED_HEADERS: [&str; 8] =
    ["authorization", "idempotency-key", "content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"];

/// How to reach the CRM and how hard to try.
///
/// `Debug` is written by hand: the URL may carry a password, and the token and signing key are
/// secrets, so it shows the redacted URL and only whether the others are set.
#[derive(Clone)]
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
    /// Rows claimed per round (and the most days in one batch request).
    pub batch_size: i64,
    /// Send JSON arrays, one request per round, instead of one request per day.
    pub batch_requests: bool,
    /// Standard Webhooks signing key, when the CRM verifies senders.
    pub signing: Option<SigningKey>,
    /// Extra CA certificates to trust (besides the system's).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for SendSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendSettings")
            .field("url", &crate::config::redact_url(&self.url))
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("auth_scheme", &self.auth_scheme)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("max_retries", &self.max_retries)
            .field("retry_base", &self.retry_base)
            .field("retry_max", &self.retry_max)
            .field("batch_size", &self.batch_size)
            .field("batch_requests", &self.batch_requests)
            .field("signing", &self.signing.is_some())
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl SendSettings {
    /// The endpoint in a form safe to print (password and secret query values redacted).
    pub fn redacted_url(&self) -> String {
        crate::config::redact_url(&self.url)
    }

    /// The settings from configuration; `None` when no `CRM_API_URL` is set (sync disabled).
    ///
    /// # Errors
    /// When `CRM_SIGNING_SECRET` is not a `whsec_…` secret.
    pub fn from_config(crm: &crate::config::CrmSettings) -> Result<Option<SendSettings>, SyncError> {
        let Some(url) = crm.api_url.as_ref() else { return Ok(None) };
        let signing = crm.signing_secret.as_ref().map(|s| SigningKey::parse(s.expose_secret())).transpose()?;
        let extra_roots = match &crm.ca_file {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| SyncError::CaFile(format!("{}: {e}", path.display())))?;
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| SyncError::CaFile(format!("{}: {e}", path.display())))?
            }
        };
        Ok(Some(SendSettings {
            url: url.0.clone(),
            token: crm.api_token.clone(),
            auth_scheme: crm.auth_scheme,
            timeout: Duration::from_secs(u64::from(crm.timeout_seconds)),
            concurrency: usize::try_from(crm.concurrency).unwrap_or(1),
            max_retries: crm.max_retries,
            retry_base: Duration::from_secs(u64::from(crm.retry_base_seconds)),
            retry_max: Duration::from_secs(u64::from(crm.retry_max_seconds)),
            batch_size: i64::from(crm.sync_batch_size.max(1)),
            batch_requests: crm.batch_requests,
            signing,
            extra_roots,
        }))
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
    /// Not for the CRM (the mapping plugin skipped them) or replaced by a newer revision.
    pub skipped: u64,
    /// Results not recorded because the lease was lost to another sender.
    pub lease_lost: u64,
}

/// What became of one delivery in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retried,
    Failed,
    Skipped,
    LeaseLost,
}

impl RunReport {
    fn add(&mut self, outcome: Outcome) {
        let label = match outcome {
            Outcome::Delivered => {
                self.delivered += 1;
                "delivered"
            }
            Outcome::Retried => {
                self.retried += 1;
                "retry"
            }
            Outcome::Failed => {
                self.failed += 1;
                "failed"
            }
            Outcome::Skipped => {
                self.skipped += 1;
                "skipped"
            }
            Outcome::LeaseLost => {
                self.lease_lost += 1;
                "lease_lost"
            }
        };
        crate::metrics::DELIVERIES.inc(&[label]);
    }
}

/// A delivery with its frozen body, ready to go out.
struct Ready {
    delivery: Delivery,
    body: String,
    headers: Vec<(String, String)>,
}

/// Sends the outbox.
#[derive(Debug, Clone)]
pub struct Sender {
    store: Store,
    client: reqwest::Client,
    settings: SendSettings,
    renderer: Renderer,
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
    pub fn new(store: Store, settings: SendSettings, renderer: Renderer, owner: impl Into<String>) -> Result<Sender, SyncError> {
        let mut builder = reqwest::Client::builder();
        for root in &settings.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .build()
            .map_err(|e| SyncError::Client(e.to_string()))?;
        Ok(Sender { store, client, settings, renderer, owner: owner.into() })
    }

    /// Sends everything due now (at most `limit` deliveries when given) and returns.
    ///
    /// # Errors
    /// When the outbox cannot be read or written.
    pub async fn run_once(&self, limit: Option<u64>) -> Result<RunReport, SyncError> {
        self.run_selected(limit, &DaySelection::default()).await
    }

    /// As [`Sender::run_once`], for the deliveries of the selected days only.
    ///
    /// Each round: claim a batch, render and freeze the bodies it lacks, send (HTTP only, no database
    /// work while requests are in flight), record every outcome in one transaction.
    ///
    /// # Errors
    /// When the outbox cannot be read or written.
    pub async fn run_selected(&self, limit: Option<u64>, selection: &DaySelection) -> Result<RunReport, SyncError> {
        self.run_selected_reporting(limit, selection, &|_| {}).await
    }

    /// [`Self::run_selected`], calling `done` with the deliveries each round settled (the CLI's
    /// progress bar).
    ///
    /// # Errors
    /// When the outbox cannot be read or written.
    pub async fn run_selected_reporting(&self, limit: Option<u64>, selection: &DaySelection, done: &(dyn Fn(u64) + Sync)) -> Result<RunReport, SyncError> {
        let mut report = RunReport::default();
        let mut taken = 0u64;
        // Only what is due at the start: a delivery deferred during this run waits for the next run,
        // so one run makes at most one attempt per delivery and always ends.
        let started = Utc::now();
        loop {
            let room = limit.map_or(self.settings.batch_size, |l| i64::try_from(l.saturating_sub(taken)).unwrap_or(i64::MAX).min(self.settings.batch_size));
            if room <= 0 {
                break;
            }
            // The lease outlives the round's requests, so a live sender keeps it.
            let lease = Utc::now() + chrono::TimeDelta::from_std(self.settings.timeout * 2 + Duration::from_secs(5)).unwrap_or(chrono::TimeDelta::minutes(5));
            let batch = outbox::claim_due(&self.store, &self.owner, started, lease, room, selection).await?;
            if batch.is_empty() {
                break;
            }
            taken += batch.len() as u64;
            let (ready, mut marks) = self.prepare(batch, &mut report).await?;
            let verdicts: Vec<(Delivery, Verdict)> = if self.settings.batch_requests {
                self.send_as_batch(ready).await
            } else {
                futures_util::stream::iter(ready)
                    .map(|r| async move {
                        let verdict = self.post(&r.delivery.idempotency_key, r.body, &r.headers).await;
                        (r.delivery, verdict)
                    })
                    .buffer_unordered(self.settings.concurrency.max(1))
                    .collect()
                    .await
            };
            marks.extend(verdicts.into_iter().map(|(delivery, verdict)| self.mark(&delivery, verdict)));
            let kept = outbox::mark_all(&self.store, &self.owner, &marks.iter().map(|(id, _, mark)| (*id, mark.clone())).collect::<Vec<_>>()).await?;
            for ((_, outcome, _), kept) in marks.iter().zip(kept) {
                report.add(if kept { *outcome } else { Outcome::LeaseLost });
            }
            done(marks.len() as u64);
        }
        Ok(report)
    }

    /// Every ready delivery in one JSON array; each element carries its own `idempotency_key` so the CRM
    /// can deduplicate per day even when a retried batch is grouped differently.
    async fn send_as_batch(&self, ready: Vec<Ready>) -> Vec<(Delivery, Verdict)> {
        if ready.is_empty() {
            return Vec::new();
        }
        let elements: Vec<String> = ready.iter().map(|r| with_key(&r.body, &r.delivery.idempotency_key)).collect();
        let body = format!("[{}]", elements.join(","));
        let mut digest = sha2::Sha256::new();
        for r in &ready {
            digest.update(r.delivery.idempotency_key.as_bytes());
            digest.update(b"\n");
        }
        let key = format!("batch-{}", &hex::encode(digest.finalize())[..32]);
        let verdict = match self.post(&key, body, &[]).await {
            Verdict::Delivered { status, .. } => Verdict::Delivered { status, crm_id: None },
            other => other,
        };
        ready.into_iter().map(|r| (r.delivery, verdict.clone())).collect()
    }

    /// The claimed deliveries with their frozen bodies, rendering and freezing (in one transaction) those
    /// on their first attempt; plus the outcomes of those that cannot go out (skipped, superseded, the
    /// plugin failed), to record with the rest. Bodies another sender froze first win.
    async fn prepare(&self, batch: Vec<Delivery>, report: &mut RunReport) -> Result<(Vec<Ready>, Vec<(i64, Outcome, Mark)>), StoreError> {
        let (frozen, fresh): (Vec<Delivery>, Vec<Delivery>) = batch.into_iter().partition(|d| d.body.is_some());
        let mut ready: Vec<Ready> = frozen
            .into_iter()
            .filter_map(|delivery| {
                let body = delivery.body.clone()?;
                let headers = parse_headers(delivery.headers.as_deref());
                Some(Ready { delivery, body, headers })
            })
            .collect();
        let mut marks = Vec::new();
        let mut to_freeze = Vec::new();
        let rendered = self.renderer.render_all(&fresh).await?;
        for (delivery, result) in fresh.into_iter().zip(rendered) {
            match result {
                Ok(Rendered::Send { body, headers }) => {
                    let headers: Vec<(String, String)> =
                        headers.into_iter().filter(|(name, _)| !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())).collect();
                    to_freeze.push((delivery, body, serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into())));
                }
                Ok(Rendered::Skip) => marks.push((delivery.id, Outcome::Skipped, Mark::Closed(outbox::OutboxStatus::Skipped))),
                Ok(Rendered::Superseded) => marks.push((delivery.id, Outcome::Skipped, Mark::Closed(outbox::OutboxStatus::Superseded))),
                Err(e) => {
                    tracing::warn!(key = %delivery.idempotency_key, error = %e, "the mapping plugin failed; the delivery stays queued");
                    let verdict = Verdict::Retry { status: None, error: format!("mapping plugin {}: {e}", self.renderer.plugin()), retry_after: None };
                    marks.push(self.mark(&delivery, verdict));
                }
            }
        }
        let bodies: Vec<(i64, String, String)> = to_freeze.iter().map(|(d, body, headers)| (d.id, body.clone(), headers.clone())).collect();
        let mut stored = outbox::set_bodies(&self.store, &self.owner, &bodies).await?;
        for (delivery, _, _) in to_freeze {
            match stored.remove(&delivery.id) {
                Some((body, headers)) => ready.push(Ready { delivery, body, headers: parse_headers(headers.as_deref()) }),
                None => report.add(Outcome::LeaseLost),
            }
        }
        Ok((ready, marks))
    }

    /// What to record for a verdict; a transient failure past the retry budget becomes a dead letter.
    fn mark(&self, d: &Delivery, verdict: Verdict) -> (i64, Outcome, Mark) {
        let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
        let (outcome, mark) = match verdict {
            Verdict::Delivered { status, crm_id } => (Outcome::Delivered, Mark::Delivered { status, crm_id }),
            Verdict::Retry { status, error, .. } if attempts >= self.settings.max_retries => {
                (Outcome::Failed, Mark::Failed { status, error: format!("{}{attempts} attempts; last: {error}", outbox::GAVE_UP) })
            }
            Verdict::Retry { status, error, retry_after } => {
                let wait = backoff(attempts.saturating_sub(1), self.settings.retry_base, self.settings.retry_max, retry_after);
                let next_attempt_at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::zero());
                (Outcome::Retried, Mark::Retry { next_attempt_at, status, error })
            }
            Verdict::Dead { status, error } => (Outcome::Failed, Mark::Failed { status, error }),
        };
        (d.id, outcome, mark)
    }

    /// The settings it sends with.
    pub fn settings(&self) -> &SendSettings {
        &self.settings
    }

    /// The renderer it uses (`test-crm` shows a dry-run payload with it).
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// One authenticated `GET` on the endpoint with the same client (TLS roots, no redirects, timeout)
    /// the deliveries use; `test-crm` diagnoses the answer.
    ///
    /// # Errors
    /// When no answer came back; [`describe`] words the error.
    pub async fn probe(&self) -> Result<u16, reqwest::Error> {
        Ok(self.authorize(self.client.get(self.settings.url.clone())).send().await?.status().as_u16())
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.settings.token {
            Some(token) => request.header("Authorization", self.settings.auth_scheme.header_value(token.expose_secret())),
            None => request,
        }
    }

    /// The HTTP exchange, mapped to a verdict; network errors are transient.
    async fn post(&self, key: &str, body: String, extra: &[(String, String)]) -> Verdict {
        let mut request = self.client.post(self.settings.url.clone()).header("Content-Type", "application/json").header("Idempotency-Key", key);
        for (name, value) in extra {
            request = request.header(name, value);
        }
        request = self.authorize(request);
        if let Some(signing_key) = &self.settings.signing {
            for (name, value) in signing::headers(signing_key, key, &body) {
                request = request.header(name, value);
            }
        }
        match request.body(body).send().await {
            Err(e) => Verdict::Retry { status: None, error: describe(&e), retry_after: None },
            Ok(response) => {
                let status = response.status().as_u16();
                let replayed = response.headers().get("Idempotent-Replayed").and_then(|v| v.to_str().ok()) == Some("true");
                let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_owned);
                match read_bounded(response, MAX_ANSWER_BYTES).await {
                    Ok(body) => classify(status, replayed, retry_after.as_deref(), &body),
                    // A 2xx whose body was cut off is not a reliable acknowledgement: retry with the same key.
                    Err(e) => Verdict::Retry { status: Some(status), error: describe(&e), retry_after: None },
                }
            }
        }
    }
}

/// The most of a CRM answer read: 1 MiB. An acknowledgement or an error message is far smaller;
/// a CRM answering more (broken, or hostile) cannot make the bridge hold its whole answer, or wait
/// for an answer that never ends.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The answer's body up to `limit` bytes (the rest is left unread and the connection dropped), as
/// text (invalid UTF-8 replaced).
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn parse_headers(stored: Option<&str>) -> Vec<(String, String)> {
    stored.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

/// A batch element: the day's body with its idempotency key added (a non-object body is wrapped).
fn with_key(body: &str, key: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("idempotency_key".into(), key.into());
            serde_json::Value::Object(map).to_string()
        }
        Ok(other) => serde_json::json!({ "idempotency_key": key, "record": other }).to_string(),
        Err(_) => serde_json::json!({ "idempotency_key": key, "record": body }).to_string(),
    }
}

/// A network error in words an operator can act on, with its causes; the URL reqwest names in it
/// is redacted, since this text is logged and stored with the delivery.
pub fn describe(e: &reqwest::Error) -> String {
    let text = if e.is_timeout() {
        format!("timed out: {e}")
    } else if e.is_connect() {
        format!("cannot connect: {}", chain(e))
    } else {
        format!("request failed: {}", chain(e))
    };
    match e.url() {
        Some(url) => text.replace(url.as_str(), &crate::config::redact_url(url)),
        None => text,
    }
}

/// The error with its causes: reqwest's own message hides the useful part ("invalid peer certificate:
/// UnknownIssuer") in its sources.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
