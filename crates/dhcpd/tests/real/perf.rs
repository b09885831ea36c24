//! Kea's perfdhcp: many clients completing DORA, on the link and through a relay address.

use std::time::Duration;

use crate::support::{Lab, need};

/// Two networks for perfdhcp. Without `ping-check false` each new offer would wait its
/// second for the ping, and perfdhcp, which stops waiting soon after its last DISCOVER, counts
/// the late ones as drops (`cargo xtask bench` sets it for ISC and for ours alike).
pub(crate) fn two_networks(lab: &Lab) -> String {
    format!(
        "authoritative;
ping-check false;
default-lease-time 600;
max-lease-time 7200;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; option routers {gw}; }}
subnet 10.200.{n}.0 netmask 255.255.255.0 {{ range {c} {d}; option routers {rgw}; }}
",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(250),
        gw = lab.ip(1),
        c = lab.relay_ip(10),
        d = lab.relay_ip(250),
        rgw = lab.relay_ip(1),
    )
}

/// perfdhcp's counts for one exchange: (sent, received, drops).
pub(crate) fn stats(out: &str, exchange: &str) -> (u64, u64, u64) {
    let Some(start) = out.find(&format!("***Statistics for: {exchange}***")) else {
        return (0, 0, u64::MAX);
    };
    let section = &out[start..];
    let num = |key: &str| -> u64 {
        section
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(u64::MAX)
    };
    (
        num("sent packets:"),
        num("received packets:"),
        num("drops:"),
    )
}

fn perfdhcp(lab: &Lab, args: &[&str]) -> String {
    let bin = need("perfdhcp", "kea-admin");
    let out = lab.cmd(&lab.cli, &bin).args(args).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn active_in(lab: &Lab, lo: std::net::Ipv4Addr, hi: std::net::Ipv4Addr) -> usize {
    lab.leases()
        .range(lo, hi)
        .filter(|l| l.state == dhcpd::lease::BindingState::Active)
        .count()
}

#[test]
fn perfdhcp_dora_on_the_link() {
    let lab = Lab::new();
    lab.client_addresses();
    let server = lab.start_ours(&two_networks(&lab), &[]);
    let out = perfdhcp(
        &lab,
        &[
            "-4", "-l", "c0", "-r", "100", "-n", "150", "-R", "150", "-d", "10", "-W", "11000000",
        ],
    );
    assert_eq!(
        stats(&out, "DISCOVER-OFFER"),
        (150, 150, 0),
        "{out}\n{}",
        server.log()
    );
    assert_eq!(
        stats(&out, "REQUEST-ACK"),
        (150, 150, 0),
        "{out}\n{}",
        server.log()
    );
    assert_eq!(active_in(&lab, lab.ip(10), lab.ip(250)), 150);
    assert!(
        server.log().contains(&format!("via {}", lab.ip(2))),
        "{}",
        server.log()
    );
}

#[test]
fn perfdhcp_dora_through_a_relay_address() {
    let lab = Lab::new();
    lab.client_addresses();
    let server = lab.start_ours(&two_networks(&lab), &[]);
    let relay = lab.relay_ip(1).to_string();
    let to = lab.ip(1).to_string();
    let out = perfdhcp(
        &lab,
        &[
            "-4", "-l", &relay, "-r", "100", "-n", "100", "-R", "100", "-d", "10", "-W",
            "11000000", &to,
        ],
    );
    assert_eq!(
        stats(&out, "DISCOVER-OFFER"),
        (100, 100, 0),
        "{out}\n{}",
        server.log()
    );
    assert_eq!(
        stats(&out, "REQUEST-ACK"),
        (100, 100, 0),
        "{out}\n{}",
        server.log()
    );
    assert_eq!(active_in(&lab, lab.relay_ip(10), lab.relay_ip(250)), 100);
    assert_eq!(active_in(&lab, lab.ip(10), lab.ip(250)), 0);
    assert!(
        server.wait_log(&format!("via {relay}"), Duration::from_secs(5)),
        "{}",
        server.log()
    );
}
