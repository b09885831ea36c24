//! ISC's `ping-check` in the shell: an ICMP echo to an address before it is offered, the
//! offers held meanwhile, and the echo replies that make the core abandon an address.
//!
//! The core decides whether an offer wants a ping ([`crate::decide::PingCheck`]); this module
//! builds and reads the ICMP messages (pure functions), opens the raw socket (before
//! privileges are dropped; without one, offers go out unpinged, as with `ping-check false`),
//! and keeps the held offers by address with their deadlines. The table is bounded: past
//! [`MAX_HELD`] offers, further ones go out at once, so a flood of DISCOVERs cannot grow it.
//!
//! The echo is 8 bytes of header and 8 of payload, written here rather than with a packet
//! crate: the whole format is the RFC 792 header and the RFC 1071 checksum.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// At most this many offers wait for their ping at once.
pub const MAX_HELD: usize = 4096;

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;

/// The RFC 1071 Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request with `ident` and `seq`, and a payload naming the sender.
pub fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"pxe-dhcp");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The sender of `packet` (an IPv4 datagram as a raw ICMP socket reads it) when it is an
/// echo reply to one of ours (`ident`) with a valid checksum.
pub fn echo_reply_from(packet: &[u8], ident: u16) -> Option<Ipv4Addr> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header = usize::from(first & 0x0f) * 4;
    let source: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    let icmp = packet.get(header..)?;
    if icmp.len() < 8 || icmp[0] != ECHO_REPLY || icmp[1] != 0 || checksum(icmp) != 0 {
        return None;
    }
    (u16::from_be_bytes([icmp[4], icmp[5]]) == ident).then_some(Ipv4Addr::from(source))
}

/// A raw ICMP socket (needs CAP_NET_RAW), non-blocking.
pub fn open() -> io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The offers waiting for their ping, by address, of type `T` (what the shell sends when
/// the time is up).
#[derive(Debug)]
pub struct Held<T> {
    offers: HashMap<Ipv4Addr, (Instant, T)>,
    deadlines: BTreeSet<(Instant, Ipv4Addr)>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held {
            offers: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }
}

/// What [`Held::hold`] did with an offer.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// Held: ping the address now.
    Ping,
    /// An offer of the address was already held (the client asked again): the newer one
    /// replaces it and keeps its deadline; no second ping.
    Replaced,
    /// The table is full: send it at once.
    Full,
}

impl<T> Held<T> {
    /// Hold `offer` of `ip` until `wait` has passed.
    pub fn hold(
        &mut self,
        ip: Ipv4Addr,
        offer: T,
        now: Instant,
        wait: Duration,
    ) -> (Hold, Option<T>) {
        if let Some((_, held)) = self.offers.get_mut(&ip) {
            *held = offer;
            return (Hold::Replaced, None);
        }
        if self.offers.len() >= MAX_HELD {
            return (Hold::Full, Some(offer));
        }
        let deadline = now + wait;
        self.offers.insert(ip, (deadline, offer));
        self.deadlines.insert((deadline, ip));
        (Hold::Ping, None)
    }

    /// The held offer of `ip`, taken (its address answered the ping).
    pub fn answered(&mut self, ip: Ipv4Addr) -> Option<T> {
        let (deadline, offer) = self.offers.remove(&ip)?;
        self.deadlines.remove(&(deadline, ip));
        Some(offer)
    }

    /// The offers whose wait is over at `now`, taken, oldest first.
    pub fn due(&mut self, now: Instant) -> Vec<(Ipv4Addr, T)> {
        let mut out = Vec::new();
        while let Some(&(deadline, ip)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some((_, offer)) = self.offers.remove(&ip) {
                out.push((ip, offer));
            }
        }
        out
    }

    /// When the next wait ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// How many offers are held.
    pub fn len(&self) -> usize {
        self.offers.len()
    }

    /// No offer is held.
    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    /// An IPv4 header (20 bytes, from `src`) in front of `icmp`.
    fn datagram(src: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&[10, 0, 0, 1]);
        p.extend_from_slice(icmp);
        p
    }

    /// The reply a host sends to `request`: type 0, checksum redone.
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = ECHO_REPLY;
        r[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&r);
        r[2..4].copy_from_slice(&sum.to_be_bytes());
        r
    }

    #[test]
    fn a_request_checks_out_and_its_reply_is_recognised() {
        let req = echo_request(0x1234, 7);
        assert_eq!(checksum(&req), 0, "a valid message sums to zero");
        let host = Ipv4Addr::new(10, 0, 0, 10);
        let reply = datagram(host, &reply_to(&req));
        assert_eq!(echo_reply_from(&reply, 0x1234), Some(host));
        // Another program's echo, our own request looped back, a corrupt reply.
        assert_eq!(echo_reply_from(&reply, 0x4321), None);
        assert_eq!(echo_reply_from(&datagram(host, &req), 0x1234), None);
        let mut bad = reply.clone();
        bad[30] ^= 1;
        assert_eq!(echo_reply_from(&bad, 0x1234), None);
        assert_eq!(echo_reply_from(&reply[..25], 0x1234), None);
        assert_eq!(echo_reply_from(&[], 0x1234), None);
    }

    #[test]
    fn checksum_of_an_odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0x01]), !0x0100);
        assert_eq!(checksum(&[0xff, 0xff, 0xff, 0xff]), 0);
    }

    #[test]
    fn held_offers_leave_when_due_or_answered_and_never_twice() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 11));
        let mut held = Held::default();
        assert_eq!(held.hold(a, "a1", t0, second), (Hold::Ping, None));
        assert_eq!(
            held.hold(b, "b", t0 + second / 2, second),
            (Hold::Ping, None)
        );
        // The client asks again: the newer offer waits out the first one's time.
        assert_eq!(
            held.hold(a, "a2", t0 + second / 4, second),
            (Hold::Replaced, None)
        );
        assert_eq!(held.next_deadline(), Some(t0 + second));
        assert!(held.due(t0 + second / 2).is_empty());
        assert_eq!(held.due(t0 + second), vec![(a, "a2")]);
        assert_eq!(held.answered(b), Some("b"));
        assert_eq!(held.answered(b), None);
        assert!(held.due(t0 + second * 5).is_empty());
        assert!(held.is_empty());
    }

    #[test]
    fn a_full_table_hands_the_offer_back() {
        let t0 = Instant::now();
        let mut held = Held::default();
        for n in 0..MAX_HELD as u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 + n);
            assert_eq!(held.hold(ip, n, t0, Duration::from_secs(1)).0, Hold::Ping);
        }
        let extra = Ipv4Addr::new(10, 255, 0, 1);
        assert_eq!(
            held.hold(extra, 0, t0, Duration::from_secs(1)),
            (Hold::Full, Some(0))
        );
        assert_eq!(held.len(), MAX_HELD);
    }
}
