//! Who a request comes from, for the rule of who may fetch a machine's own files.
//!
//! The rule itself (fixed address or the address dhcpd last acknowledged, and what a
//! refusal says) is [`pxe_model::owner`], shared with tftpd. What is HTTP's own is the
//! requester's address: the connection's peer, unless the peer is one of the inventory's
//! `servers.trusted_proxies`: then it is the right-most `X-Forwarded-For` entry that is not
//! itself a trusted proxy. Nobody else's `X-Forwarded-For` is read.

use http::HeaderMap;
use pxe_model::owner::canonical;
use std::net::{IpAddr, SocketAddr};

/// The client's address as decided by [`client_address`], attached to requests by the
/// service as an extension (the router reads it to classify pxelinux's hex-IP names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub IpAddr);

/// The header a trusted proxy names the client in.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// One `X-Forwarded-For` entry (`10.0.0.5`, `[2001:db8::1]:80`, `10.0.0.5:1234`).
fn parse_entry(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            t.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(canonical)
}

/// The address a request is judged by (see the module's doc). An entry that does not
/// parse ends the walk: the last trusted hop is then the client, which owns no machine.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |a: IpAddr| trusted.iter().any(|t| canonical(*t) == a);
    if !is_trusted(peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        match parse_entry(entry) {
            Some(a) => {
                client = a;
                if !is_trusted(a) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [ip("10.0.0.4"), ip("10.0.0.5")];
        let cases: &[(&str, &[&str], &str)] = &[
            // Not a proxy: its header is ignored, whatever it says.
            ("192.0.2.9", &["10.0.0.50"], "192.0.2.9"),
            ("192.0.2.9", &[], "192.0.2.9"),
            // A trusted proxy names the client.
            ("10.0.0.4", &["10.0.0.50"], "10.0.0.50"),
            // The right-most untrusted entry: what a client prepends is not believed.
            ("10.0.0.4", &["10.0.0.50, 192.0.2.9"], "192.0.2.9"),
            ("10.0.0.4", &["10.0.0.50", "192.0.2.9"], "192.0.2.9"),
            // Chains of trusted proxies are walked.
            ("10.0.0.4", &["10.0.0.50, 10.0.0.5"], "10.0.0.50"),
            // Ports and brackets.
            ("10.0.0.4", &["10.0.0.50:3456"], "10.0.0.50"),
            ("10.0.0.4", &["[2001:db8::1]"], "2001:db8::1"),
            // Garbage stops the walk at the proxy, which owns no machine.
            ("10.0.0.4", &["10.0.0.50, nonsense"], "10.0.0.4"),
            ("10.0.0.4", &[], "10.0.0.4"),
            // IPv4-mapped peers count as their IPv4 address.
            ("::ffff:10.0.0.4", &["10.0.0.50"], "10.0.0.50"),
            ("::ffff:192.0.2.9", &["10.0.0.50"], "192.0.2.9"),
        ];
        for (peer, header, want) in cases {
            assert_eq!(
                client_address(ip(peer), &xff(header), &trusted),
                ip(want),
                "{peer} {header:?}"
            );
        }
        assert_eq!(
            client_address(ip("10.0.0.4"), &xff(&["10.0.0.50"]), &[]),
            ip("10.0.0.4"),
            "no trusted proxies: never believed"
        );
    }
}
