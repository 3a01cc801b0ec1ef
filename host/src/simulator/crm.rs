//! A local mock CRM for tests, demos and the benchmark (`attendance-bridge mock-crm`).
//!
//! It accepts the default payload, applies each `Idempotency-Key` once (a repeat gets the stored answer,
//! like a real idempotent API), counts everything (`GET /_stats`), and misbehaves on request through
//! [`Faults`] (`POST /_control`): 500s, slow answers, dropped connections, 429 with `Retry-After`, 400s,
//! and Stripe-style replay of a stored 500 per key. It also takes batch requests (a JSON array whose
//! elements carry their own `idempotency_key`) and, given a secret, checks Standard Webhooks signatures.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::config::CrmAuthScheme;
use crate::sync::signing::SigningKey;

/// Misbehaviour to apply to the next requests (each counter is consumed one request at a time).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Answer 500 (without applying) to this many requests.
    pub fail_500: u64,
    /// Apply, then wait this long before answering…
    pub slow_ms: u64,
    /// …for this many requests.
    pub slow_count: u64,
    /// Apply, then cut the connection mid-answer, for this many requests.
    pub drop_count: u64,
    /// Answer 429 to this many requests…
    pub rate_limit: u64,
    /// …with this `Retry-After`, seconds.
    pub retry_after_secs: u64,
    /// Answer 400 with `reject_message` to this many requests.
    pub reject_400: u64,
    /// The 400's message.
    pub reject_message: String,
    /// Store a 500 as the answer of the next this-many new keys and replay it for them
    /// (`Idempotent-Replayed: true`), as Stripe does.
    pub replay_500_keys: u64,
    /// Answer `307 Temporary Redirect` to `redirect_to` for this many requests.
    pub redirect_count: u64,
    /// Where those redirects point.
    pub redirect_to: String,
    /// Apply, then answer with a body that never ends (the real answer followed by whitespace
    /// forever), for this many requests: a broken or hostile CRM.
    pub endless_body: u64,
}

/// What the mock CRM has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Requests received, all kinds.
    pub requests: u64,
    /// Distinct keys applied (the CRM's record count).
    pub applied: u64,
    /// Requests whose key was already applied (answered from the stored result, not applied again).
    pub duplicates: u64,
    /// Requests without an `Idempotency-Key`.
    pub missing_key: u64,
    /// Requests with a wrong or missing `Authorization`, when a token is required.
    pub unauthorized: u64,
    /// Faults injected.
    pub faults: u64,
    /// Batch requests (JSON arrays) received.
    pub batches: u64,
    /// Requests refused for a missing or wrong signature, when a signing secret is set.
    pub bad_signatures: u64,
}

#[derive(Debug, Default)]
struct Inner {
    faults: Faults,
    stats: Stats,
    /// Key → stored answer (status, body).
    answers: HashMap<String, (u16, String)>,
    /// Key → the body applied for it (what the CRM "has").
    records: HashMap<String, serde_json::Value>,
    /// When set, every request must be signed with it.
    signing: Option<SigningKey>,
    /// Keys in the order they were applied.
    applied_order: Vec<String>,
    /// `(webhook-id, webhook-timestamp)` of every signed request, in arrival order.
    signed: Vec<(String, i64)>,
}

/// A handle on a running mock CRM.
#[derive(Debug, Clone)]
pub struct MockCrm {
    inner: Arc<Mutex<Inner>>,
    token: Option<String>,
    addr: SocketAddr,
}

impl MockCrm {
    /// Starts on `listener` in the background; `token` (if any) is required as `Token` or `Bearer`.
    ///
    /// # Errors
    /// When the listener has no local address.
    pub fn spawn(listener: tokio::net::TcpListener, token: Option<String>, faults: Faults) -> std::io::Result<MockCrm> {
        let addr = listener.local_addr()?;
        let crm = MockCrm { inner: Arc::new(Mutex::new(Inner { faults, ..Inner::default() })), token, addr };
        let app = crm.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "mock CRM stopped");
            }
        });
        Ok(crm)
    }

    /// Requires every request to carry a valid Standard Webhooks signature made with `key`.
    #[must_use]
    pub fn with_signing(self, key: SigningKey) -> Self {
        self.lock().signing = Some(key);
        self
    }

    /// The bodies applied, by idempotency key (batch elements by their own key).
    pub fn records(&self) -> HashMap<String, serde_json::Value> {
        self.lock().records.clone()
    }

    /// Keys in the order they were applied (batch elements by their own key).
    pub fn applied_order(&self) -> Vec<String> {
        self.lock().applied_order.clone()
    }

    /// `(webhook-id, webhook-timestamp)` of every correctly signed request, in arrival order.
    pub fn signed_requests(&self) -> Vec<(String, i64)> {
        self.lock().signed.clone()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint to configure as `CRM_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}/api/attendance/", self.addr)
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent enough to matter here.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/api/attendance/", post(receive).get(probe))
            .route("/_stats", get(stats))
            .route("/_control", post(control))
            .with_state(self.clone())
    }
}

/// Whether the request carries the required token (as `Token` or `Bearer`), or none is required.
fn authorized(crm: &MockCrm, headers: &HeaderMap) -> bool {
    crm.token.as_ref().is_none_or(|token| {
        let auth = headers.get("Authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        [CrmAuthScheme::Token, CrmAuthScheme::Bearer].iter().any(|scheme| auth == scheme.header_value(token))
    })
}

/// `GET` on the endpoint, as `test-crm` probes it: checks the token only.
async fn probe(State(crm): State<MockCrm>, headers: HeaderMap) -> Response {
    if authorized(&crm, &headers) { respond(200, r#"{"ok":true}"#.into(), &[]) } else { respond(401, r#"{"detail":"Invalid token."}"#.into(), &[]) }
}

async fn stats(State(crm): State<MockCrm>) -> axum::Json<Stats> {
    axum::Json(crm.stats())
}

async fn control(State(crm): State<MockCrm>, axum::Json(faults): axum::Json<Faults>) -> StatusCode {
    crm.set_faults(faults);
    StatusCode::NO_CONTENT
}

/// What to do after the bookkeeping (done under the lock, acted on without it).
enum Plan {
    Answer(u16, String, Vec<(&'static str, String)>),
    Slow(u16, String),
    Drop,
    Endless(u16, String),
}

async fn receive(State(crm): State<MockCrm>, headers: HeaderMap, body: String) -> Response {
    let plan = decide(&crm, &headers, &body);
    match plan {
        Plan::Answer(status, body, extra) => respond(status, body, &extra),
        Plan::Slow(status, body) => {
            let wait = crm.lock().faults.slow_ms;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            respond(status, body, &[])
        }
        Plan::Endless(status, body) => {
            let padding = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
            let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(axum::body::Bytes::from(body)) });
            let stream = futures_util::StreamExt::chain(first, futures_util::stream::repeat_with(move || Ok(padding.clone())));
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .header("Content-Type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Plan::Drop => {
            // Headers go out, then the body stream fails: the connection is cut mid-answer.
            let stream = futures_util::stream::iter([Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("dropped"))]);
            Response::builder().status(StatusCode::OK).body(Body::from_stream(stream)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

fn respond(status: u16, body: String, extra: &[(&'static str, String)]) -> Response {
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)).header("Content-Type", "application/json");
    for (k, v) in extra {
        builder = builder.header(*k, v);
    }
    builder.body(Body::from(body)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn decide(crm: &MockCrm, headers: &HeaderMap, body: &str) -> Plan {
    let mut g = crm.lock();
    let inner = &mut *g;
    inner.stats.requests += 1;
    if !authorized(crm, headers) {
        inner.stats.unauthorized += 1;
        return Plan::Answer(401, r#"{"detail":"Invalid token."}"#.into(), vec![]);
    }
    if let Some(signing) = &inner.signing {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let timestamp = header("webhook-timestamp").parse::<i64>().unwrap_or(0);
        if !signing.verify(header("webhook-id"), timestamp, body, header("webhook-signature")) {
            inner.stats.bad_signatures += 1;
            return Plan::Answer(401, r#"{"detail":"bad signature"}"#.into(), vec![]);
        }
        inner.signed.push((header("webhook-id").to_owned(), timestamp));
    }
    let Some(key) = headers.get("Idempotency-Key").and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        inner.stats.missing_key += 1;
        return Plan::Answer(400, r#"{"detail":"Idempotency-Key header required"}"#.into(), vec![]);
    };
    if let Some((status, stored)) = inner.answers.get(&key) {
        if (200..300).contains(status) {
            inner.stats.duplicates += 1;
        }
        return Plan::Answer(*status, stored.clone(), vec![("Idempotent-Replayed", "true".into())]);
    }
    let f = &mut inner.faults;
    if f.fail_500 > 0 {
        f.fail_500 -= 1;
        inner.stats.faults += 1;
        return Plan::Answer(500, r#"{"detail":"injected failure"}"#.into(), vec![]);
    }
    if f.redirect_count > 0 {
        f.redirect_count -= 1;
        inner.stats.faults += 1;
        return Plan::Answer(307, String::new(), vec![("Location", f.redirect_to.clone())]);
    }
    if f.rate_limit > 0 {
        f.rate_limit -= 1;
        inner.stats.faults += 1;
        return Plan::Answer(429, r#"{"detail":"slow down"}"#.into(), vec![("Retry-After", f.retry_after_secs.to_string())]);
    }
    if f.reject_400 > 0 {
        f.reject_400 -= 1;
        inner.stats.faults += 1;
        return Plan::Answer(400, serde_json::json!({ "detail": f.reject_message }).to_string(), vec![]);
    }
    if f.replay_500_keys > 0 {
        f.replay_500_keys -= 1;
        inner.stats.faults += 1;
        let answer = r#"{"detail":"stored failure"}"#.to_string();
        inner.answers.insert(key, (500, answer.clone()));
        return Plan::Answer(500, answer, vec![]);
    }
    let answer = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(elements)) => {
            inner.stats.batches += 1;
            let mut results = Vec::with_capacity(elements.len());
            for element in elements {
                let Some(element_key) = element.get("idempotency_key").and_then(|k| k.as_str()).map(str::to_owned) else {
                    return Plan::Answer(400, r#"{"detail":"every batch element needs an idempotency_key"}"#.into(), vec![]);
                };
                if inner.records.contains_key(&element_key) {
                    inner.stats.duplicates += 1;
                    results.push(serde_json::json!({ "idempotency_key": element_key, "status": "duplicate" }));
                } else {
                    inner.stats.applied += 1;
                    results.push(serde_json::json!({ "idempotency_key": element_key, "id": inner.stats.applied, "status": "created" }));
                    inner.applied_order.push(element_key.clone());
                    inner.records.insert(element_key, element);
                }
            }
            serde_json::json!({ "results": results }).to_string()
        }
        Ok(record @ serde_json::Value::Object(_)) => {
            inner.stats.applied += 1;
            inner.applied_order.push(key.clone());
            inner.records.insert(key.clone(), record);
            serde_json::json!({ "id": inner.stats.applied, "status": "created" }).to_string()
        }
        _ => return Plan::Answer(400, r#"{"detail":"body must be a JSON object or array"}"#.into(), vec![]),
    };
    inner.answers.insert(key, (201, answer.clone()));
    let f = &mut inner.faults;
    if f.drop_count > 0 {
        f.drop_count -= 1;
        inner.stats.faults += 1;
        return Plan::Drop;
    }
    if f.slow_count > 0 {
        f.slow_count -= 1;
        inner.stats.faults += 1;
        return Plan::Slow(201, answer);
    }
    if f.endless_body > 0 {
        f.endless_body -= 1;
        inner.stats.faults += 1;
        return Plan::Endless(201, answer);
    }
    Plan::Answer(201, answer, vec![])
}
