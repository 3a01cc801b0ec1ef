//! `ALLOWED_HOSTS`: answer only to the host names the site configured (Django semantics).
//!
//! An empty list or `*` allows any host; `.example.com` allows the domain and its subdomains.
//! This blocks DNS-rebinding pages from talking to a bridge on the LAN through a victim's browser.
//! Only browser-facing routes go through it: the probes and the push endpoints
//! ([`super::access::is_open`]) are called by IP.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

pub(super) async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let allowed = &state.config.allowed_hosts.0;
    if allowed.is_empty() || allowed.iter().any(|h| h == "*") || super::access::is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or_default();
    if host_allowed(host, allowed) {
        next.run(request).await
    } else {
        (StatusCode::BAD_REQUEST, "host not allowed (see ALLOWED_HOSTS)").into_response()
    }
}

fn host_allowed(host_header: &str, allowed: &[String]) -> bool {
    let host = strip_port(host_header).to_ascii_lowercase();
    allowed.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix('.') {
            Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
            None => host == pattern,
        }
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8000
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn django_host_patterns() {
        let allowed = vec!["localhost".to_owned(), ".example.com".to_owned(), "127.0.0.1".to_owned()];
        for ok in ["localhost:8000", "example.com", "a.example.com", "127.0.0.1:9"] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in ["evil.com", "example.com.evil.com", "", "badexample.com"] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }
}
