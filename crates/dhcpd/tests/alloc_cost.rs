//! What a DISCOVER costs when its pool is exhausted (every address active, or abandoned):
//! the free and abandoned queues are ordered, so the cost must not grow with the pool (ISC
//! keeps such queues too). Timed in-process against the pure core; the numbers are printed
//! (`cargo test -p dhcpd --release --test alloc_cost -- --nocapture`).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::Ipv4Addr;
use std::time::Instant;

use dhcpd::decide::{Facts, Reason, decide};
use dhcpd::lease::{BindingState, Hardware, Lease, LeaseTable, Time};
use dhcpd::model::{Config, compile, no_dns};
use dhcpd::request::{RecvMeta, Request};

const NOW: Time = 1_700_000_000;

fn config(size: u32) -> Config {
    let hi = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 10)) + size - 1);
    let text = format!(
        "subnet 10.0.0.0 netmask 255.0.0.0 {{ range 10.0.0.10 {hi}; }}\n\
         subnet 192.168.0.0 netmask 255.255.255.0 {{ range 192.168.0.10 192.168.0.200; }}\n"
    );
    let loaded = dhcpd::conf::parse_str(
        "cost.conf",
        text.as_bytes(),
        dhcpd::conf::ParseOptions::default(),
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    );
    assert!(loaded.is_ok(), "{:?}", loaded.output);
    compile(&loaded.config, &no_dns).unwrap().0
}

/// Every address of the pool held: active for an hour, by its own client, or (every
/// `abandoned`th) abandoned for a day.
fn table(size: u32, abandoned: u32) -> LeaseTable {
    LeaseTable::from_leases((0..size).map(|i| {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 10)) + i);
        let b = i.to_be_bytes();
        let ab = abandoned != 0 && i % abandoned == 0;
        Lease {
            ip,
            starts: NOW - 100,
            ends: NOW + if ab { 86_400 } else { 3600 },
            cltt: NOW - 100,
            state: if ab {
                BindingState::Abandoned
            } else {
                BindingState::Active
            },
            next_state: if ab {
                BindingState::Abandoned
            } else {
                BindingState::Free
            },
            hardware: (!ab).then(|| Hardware::ethernet([0x52, 0x54, b[0], b[1], b[2], b[3]])),
            ..Lease::default()
        }
    }))
}

fn discover(n: u32) -> Request {
    let mut r = Request {
        op: 1,
        htype: 1,
        hlen: 6,
        xid: n,
        meta: RecvMeta {
            iface: "eth1".into(),
            iface_addrs: vec![Ipv4Addr::new(10, 0, 0, 1)],
            src: Ipv4Addr::UNSPECIFIED,
        },
        ..Request::default()
    };
    r.chaddr[..6].copy_from_slice(&[0x02, 0xee, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    r.options.push((53, vec![1]));
    r
}

/// Nanoseconds per DISCOVER from a new client, and the reason of the last one.
fn per_discover(size: u32, abandoned: u32) -> (f64, Reason) {
    let cfg = config(size);
    let t = table(size, abandoned);
    let n = 300;
    // The first question about a range builds its queues (once per table).
    let mut reason = decide(&cfg, &t, &discover(n), &Facts::default(), NOW).reason;
    let start = Instant::now();
    for i in 0..n {
        reason = decide(&cfg, &t, &discover(i), &Facts::default(), NOW).reason;
    }
    (start.elapsed().as_nanos() as f64 / f64::from(n), reason)
}

#[test]
fn an_exhausted_pool_costs_the_same_whatever_its_size() {
    for (what, abandoned) in [("all active", 0), ("every 4th abandoned", 4)] {
        let (small, r1) = per_discover(1_000, abandoned);
        let (large, r2) = per_discover(64_000, abandoned);
        println!(
            "{what}: {:.1} µs per DISCOVER with 1000 leases, {:.1} µs with 64000 ({:.1}x)",
            small / 1000.0,
            large / 1000.0,
            large / small
        );
        let expect = if abandoned == 0 {
            Reason::Ignored(dhcpd::decide::Ignore::NoFreeLeases)
        } else {
            Reason::Offer
        };
        assert_eq!((r1, r2), (expect, expect));
        // O(n) would be 64 times the cost; O(log n) well under 4.
        assert!(large / small < 4.0, "{what}: {small} ns -> {large} ns");
    }
}
