//! The HTTP middleware counting requests by route pattern and status, with latency.
//!
//! The route is axum's [`MatchedPath`] (`/api/v1/devices/{id}`), never the raw path: raw paths
//! would make one series per device id or scanner probe and let any client grow the registry.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::{HTTP_REQUESTS, HTTP_SECONDS};

/// The label for requests no route matched (404s, scanners).
const UNMATCHED: &str = "unmatched";

/// Counts and times every request.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    HTTP_REQUESTS.inc(&[&route, &method, &status]);
    HTTP_SECONDS.observe(&[&route], started.elapsed().as_secs_f64());
    response
}
