//! The client's address, for rate limits and logs.
//!
//! The TCP peer is the client unless it is one of the configured `TRUSTED_PROXIES`; only then is
//! `X-Forwarded-For` believed, read right to left (each proxy appends the address it saw), skipping
//! trusted proxies: the first address not in the list is the client. Anyone else can write any
//! `X-Forwarded-For` they like, so from an untrusted peer the header is ignored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use axum::http::HeaderMap;

use crate::config::Networks;

/// The TCP peer as the listener recorded it (unspecified when the request did not come over TCP,
/// as in tests driving the router directly).
pub fn peer(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip().to_canonical())
}

/// The client address of a request from `peer` with `headers`.
pub fn address(peer: IpAddr, headers: &HeaderMap, trusted: &Networks) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.0.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            // Garbage in the chain: stop at the last address we could vouch for.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().expect("header"));
        headers
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.2".parse().expect("ip");
        let none = Networks::default();
        let trusted = Networks(vec!["127.0.0.2/32".parse().expect("net"), "127.0.1.0/24".parse().expect("net")]);
        assert_eq!(address(proxy, &headers("127.0.0.9"), &none), proxy, "nobody trusted: the peer");
        let stranger: IpAddr = "127.0.0.7".parse().expect("ip");
        assert_eq!(address(stranger, &headers("127.0.0.9"), &trusted), stranger, "untrusted peer: header ignored");
        let client: IpAddr = "127.0.0.9".parse().expect("ip");
        assert_eq!(address(proxy, &headers("127.0.0.9"), &trusted), client);
        // A client-written first entry is not believed past the address the trusted proxies saw.
        assert_eq!(address(proxy, &headers("127.0.0.66, 127.0.0.9, 127.0.1.5"), &trusted), client);
        assert_eq!(address(proxy, &headers("not-an-ip"), &trusted), proxy);
        assert_eq!(address(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
