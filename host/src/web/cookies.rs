//! The two cookies the bridge sets, and reading cookies from a request.
//!
//! - the **session** cookie carries a random 256-bit session id (only its SHA-256 is stored);
//! - the **flash** cookie carries a one-shot message to the page a form redirects to;
//! - the **login CSRF** cookie carries a random token the sign-in form must repeat (double submit),
//!   so a foreign page cannot sign a browser into an account of the attacker's choosing.
//!
//! All are `HttpOnly; SameSite=Lax; Path=/`. When the request came over HTTPS (a trusted proxy's
//! `X-Forwarded-Proto: https`; the bridge itself serves plain HTTP behind one) or
//! `SESSION_COOKIE_SECURE` says so, they are also `Secure` and named with the `__Host-` prefix,
//! which browsers accept only from HTTPS, without `Domain` and with `Path=/`, so a sibling
//! subdomain cannot plant or overwrite them ([`Secure`]).

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::config::WebSettings;

/// Which cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The sign-in session.
    Session,
    /// The pre-sign-in CSRF token of the login form.
    LoginCsrf,
    /// A one-shot message for the next page ("Device added"), set with a redirect after a form post.
    Flash,
}

/// Whether a request's cookies are `Secure` and `__Host-` named. Decided per request by the access
/// layer (which stores it in the request's extensions), so one install behind an HTTPS proxy that
/// is also reached over plain HTTP on the LAN works both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secure(pub bool);

impl Secure {
    /// `SESSION_COOKIE_SECURE`, or HTTPS as a trusted proxy (`TRUSTED_PROXIES`) reports it in
    /// `X-Forwarded-Proto` (its first value); from any other peer the header is ignored.
    pub fn of(settings: &WebSettings, headers: &HeaderMap, peer: IpAddr) -> Self {
        let trusted = settings.trusted_proxies.0.iter().any(|net| net.contains(&peer));
        let https = trusted
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        Secure(settings.session_cookie_secure || https)
    }

    /// The configured setting alone (a request the access layer did not see).
    pub fn configured(settings: &WebSettings) -> Self {
        Secure(settings.session_cookie_secure)
    }
}

/// The name of a cookie under the request's security.
pub fn name(kind: Kind, secure: Secure) -> &'static str {
    match (kind, secure.0) {
        (Kind::Session, false) => "bridge_session",
        (Kind::Session, true) => "__Host-bridge_session",
        (Kind::LoginCsrf, false) => "bridge_login_csrf",
        (Kind::LoginCsrf, true) => "__Host-bridge_login_csrf",
        (Kind::Flash, false) => "bridge_flash",
        (Kind::Flash, true) => "__Host-bridge_flash",
    }
}

/// The value of the named cookie in the request (the first one, if a browser sent several).
pub fn read<'a>(headers: &'a HeaderMap, cookie: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == cookie)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value giving the cookie `value` for `max_age_secs`.
pub fn set(kind: Kind, secure: Secure, value: &str, max_age_secs: i64) -> String {
    format!("{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{}", name(kind, secure), if secure.0 { "; Secure" } else { "" })
}

/// A `Set-Cookie` value deleting the cookie.
pub fn clear(kind: Kind, secure: Secure) -> String {
    set(kind, secure, "", 0)
}

/// 256 random bits, URL-safe: a session id, a CSRF token.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores for a session id.
pub fn hash_session_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn secrets_match(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_and_written_with_their_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; bridge_session=abc ; other=x".parse().expect("header"));
        assert_eq!(read(&headers, "bridge_session"), Some("abc"));
        assert_eq!(read(&headers, "missing"), None);
        let plain = WebSettings::default();
        assert_eq!(set(Kind::Session, Secure::configured(&plain), "v", 60), "bridge_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
        let secure = WebSettings { session_cookie_secure: true, ..WebSettings::default() };
        let cookie = set(Kind::Session, Secure::configured(&secure), "v", 60);
        assert!(cookie.starts_with("__Host-bridge_session=v;") && cookie.ends_with("; Secure"), "{cookie}");
        assert!(secrets_match("abc", "abc") && !secrets_match("abc", "abd") && !secrets_match("abc", "ab"));
        assert_ne!(random_secret(), random_secret());
    }

    #[test]
    fn https_counts_only_when_a_trusted_proxy_reports_it() {
        let proxy: IpAddr = "127.0.0.9".parse().expect("ip");
        let stranger: IpAddr = "127.0.0.7".parse().expect("ip");
        let settings = WebSettings { trusted_proxies: crate::config::Networks(vec!["127.0.0.9/32".parse().expect("net")]), ..WebSettings::default() };
        let mut https = HeaderMap::new();
        https.insert("x-forwarded-proto", "https".parse().expect("header"));
        assert_eq!(Secure::of(&settings, &https, proxy), Secure(true));
        assert_eq!(Secure::of(&settings, &https, stranger), Secure(false), "anyone can write the header");
        assert_eq!(Secure::of(&settings, &HeaderMap::new(), proxy), Secure(false));
        let forced = WebSettings { session_cookie_secure: true, ..settings };
        assert_eq!(Secure::of(&forced, &HeaderMap::new(), stranger), Secure(true));
    }
}
