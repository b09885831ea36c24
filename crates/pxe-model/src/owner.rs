//! Who may fetch a machine's own files: the rule httpd-tree and tftpd share.
//!
//! Per-machine files (answer files, iPXE scripts, per-MAC pxelinux and GRUB configs) name
//! the machine's answer file and, over HTTP, carry its callback token, password hashes and
//! keys, so they go only to a requester whose address is the machine's: its fixed `address`
//! in the inventory, or the address our dhcpd last acknowledged to one of its MACs (kept in
//! the state directory, [`crate::StateStore::acked_address_for`]: for an IPv6 requester the
//! address `dhcpd -6` last bound to it).
//!
//! How a server learns the requester's address is its own business: httpd-tree believes
//! `X-Forwarded-For` from `servers.trusted_proxies`; tftpd takes the datagram's source, and a
//! source listed in `servers.tftp_nat_gateways` may fetch any machine's TFTP files
//! ([`is_tftp_nat_gateway`]), since nothing in TFTP names the client behind a NAT.

use crate::inventory::{Machine, Servers};
use std::net::IpAddr;

/// An address with IPv4-mapped IPv6 turned into IPv4.
pub fn canonical(a: IpAddr) -> IpAddr {
    a.to_canonical()
}

/// Whether `client` is `machine`: its fixed address or the address dhcpd acknowledged
/// (`acked`: of the client's family, IPv4 from dhcpd, IPv6 from `dhcpd -6`).
pub fn is_machine(machine: &Machine, client: IpAddr, acked: Option<IpAddr>) -> bool {
    let client = canonical(client);
    if acked.map(canonical) == Some(client) {
        return true;
    }
    matches!(client, IpAddr::V4(v4) if machine.address == Some(v4))
}

/// What the refusal says, to an HTTP client and in the log.
pub fn refusal_text(machine: &Machine, client: IpAddr, acked: Option<IpAddr>) -> String {
    let show = |a: Option<IpAddr>| a.map_or_else(|| "none".to_owned(), |a| a.to_string());
    format!(
        "{client} is not the address of machine {}: its files go only to its fixed address \
         ({}) or the address dhcpd last acknowledged to it ({})",
        machine.name,
        show(machine.address.map(IpAddr::V4)),
        show(acked)
    )
}

/// Whether `client` is one of the inventory's `servers.tftp_nat_gateways`, whose TFTP
/// requests may fetch any machine's files.
pub fn is_tftp_nat_gateway(servers: &Servers, client: IpAddr) -> bool {
    let client = canonical(client);
    servers
        .tftp_nat_gateways
        .iter()
        .any(|g| canonical(*g) == client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn web01() -> Machine {
        Machine {
            name: "web01".into(),
            macs: vec!["52:54:00:12:34:56".parse().unwrap()],
            hostname: "web01".into(),
            address: Some("10.0.0.50".parse().unwrap()),
            uuid: None,
            profile: "p".into(),
            power: None,
            netboot: crate::Netboot::Install,
        }
    }

    #[test]
    fn a_machine_is_its_fixed_or_acked_address() {
        let m = web01();
        let acked = Some("10.0.0.77".parse().unwrap());
        assert!(is_machine(&m, ip("10.0.0.50"), None));
        assert!(is_machine(&m, ip("::ffff:10.0.0.50"), None));
        assert!(
            is_machine(&m, ip("10.0.0.50"), acked),
            "fixed, whatever was acked"
        );
        assert!(is_machine(&m, ip("10.0.0.77"), acked));
        assert!(is_machine(&m, ip("::ffff:10.0.0.77"), acked));
        assert!(!is_machine(&m, ip("10.0.0.77"), None));
        assert!(!is_machine(&m, ip("10.0.0.51"), acked));
        assert!(!is_machine(&m, ip("2001:db8::1"), acked));
        assert!(
            !is_machine(&m, ip("::a00:32"), None),
            "IPv4-compatible is not mapped"
        );
        let dynamic = Machine { address: None, ..m };
        assert!(!is_machine(&dynamic, ip("10.0.0.50"), None));
        assert!(!is_machine(&dynamic, ip("10.0.0.77"), None));
        assert!(is_machine(&dynamic, ip("10.0.0.77"), acked));
    }

    #[test]
    fn over_ipv6_only_the_address_dhcpd6_bound_is_the_machine() {
        let m = web01();
        let acked6 = Some(ip("fd00:77::120"));
        assert!(is_machine(&m, ip("fd00:77::120"), acked6));
        assert!(!is_machine(&m, ip("fd00:77::121"), acked6));
        assert!(!is_machine(&m, ip("fd00:77::120"), None));
        assert!(
            !is_machine(&m, ip("10.0.0.77"), acked6),
            "an IPv6 binding says nothing of IPv4"
        );
        assert!(
            !is_machine(&m, ip("fd00:77::120"), Some(ip("10.0.0.50"))),
            "nor the other way"
        );
    }

    #[test]
    fn the_refusal_names_the_machine_the_client_and_what_would_do() {
        let m = web01();
        let text = refusal_text(&m, ip("192.0.2.9"), Some("10.0.0.77".parse().unwrap()));
        assert_eq!(
            text,
            "192.0.2.9 is not the address of machine web01: its files go only to its fixed \
             address (10.0.0.50) or the address dhcpd last acknowledged to it (10.0.0.77)"
        );
        let dynamic = Machine { address: None, ..m };
        let text = refusal_text(&dynamic, ip("192.0.2.9"), None);
        assert!(
            text.contains("fixed address (none)") && text.contains("acknowledged to it (none)"),
            "{text}"
        );
    }

    #[test]
    fn nat_gateways_are_listed_addresses_only() {
        let mut servers = Servers {
            tftp: "10.0.0.2".parse().unwrap(),
            tftp6: None,
            http: "http://10.0.0.3".into(),
            trusted_proxies: vec![ip("10.0.0.4")],
            tftp_nat_gateways: Vec::new(),
        };
        assert!(
            !is_tftp_nat_gateway(&servers, ip("10.0.0.9")),
            "default: none"
        );
        assert!(
            !is_tftp_nat_gateway(&servers, ip("10.0.0.4")),
            "an HTTP proxy is no NAT gateway for TFTP"
        );
        servers.tftp_nat_gateways = vec![ip("10.0.0.9"), ip("2001:db8::9")];
        assert!(is_tftp_nat_gateway(&servers, ip("10.0.0.9")));
        assert!(is_tftp_nat_gateway(&servers, ip("::ffff:10.0.0.9")));
        assert!(is_tftp_nat_gateway(&servers, ip("2001:db8::9")));
        assert!(!is_tftp_nat_gateway(&servers, ip("10.0.0.10")));
    }
}
