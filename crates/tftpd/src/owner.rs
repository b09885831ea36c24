//! A machine's own boot files over TFTP go only to that machine.
//!
//! The per-MAC pxelinux and GRUB configs and the iPXE script the inventory renders for a
//! machine name its answer file and what it installs. [`pxe_model::owner`] says who may have
//! them, the same rule httpd-tree applies: a requester whose address is the machine's fixed
//! `address`, or the address our dhcpd last acknowledged to one of its MACs (read from the
//! state directory for each such request: one small file). tftpd judges the request's source
//! address; a source listed in the inventory's `servers.tftp_nat_gateways` may fetch any
//! machine's files, since nothing in TFTP names a client behind a NAT. When the acknowledged
//! address cannot be known (no state directory, or one that cannot be read) the request is
//! refused, unless the fixed address already matched.

use std::net::IpAddr;

use pxe_model::owner;
use pxe_model::{Machine, Servers};

/// Whether a requester may have a machine's own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The requester is the machine: its fixed address or the one dhcpd acknowledged.
    Machine,
    /// The requester is one of `servers.tftp_nat_gateways`.
    NatGateway,
    /// Anyone else, with the reason for the log.
    Refused(String),
}

/// Judges `client` for a file of `machine`. `acked` reads the address dhcpd last
/// acknowledged to the machine (`Err`: why it cannot be known); it is asked only when
/// neither the fixed address nor the gateways decide, so the machine itself at its fixed
/// address costs no file read.
pub fn judge(
    servers: &Servers,
    machine: &Machine,
    client: IpAddr,
    acked: impl FnOnce() -> Result<Option<IpAddr>, String>,
) -> Verdict {
    if owner::is_machine(machine, client, None) {
        return Verdict::Machine;
    }
    if owner::is_tftp_nat_gateway(servers, client) {
        return Verdict::NatGateway;
    }
    match acked() {
        Ok(acked) if owner::is_machine(machine, client, acked) => Verdict::Machine,
        Ok(acked) => Verdict::Refused(owner::refusal_text(machine, client, acked)),
        Err(why) => Verdict::Refused(format!(
            "{}; the address dhcpd acknowledged to it cannot be known ({why}), so it is \
             taken as none",
            owner::refusal_text(machine, client, None)
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn servers(gateways: &[&str]) -> Servers {
        Servers {
            tftp: "10.0.0.2".parse().unwrap(),
            tftp6: None,
            http: "http://10.0.0.3".into(),
            trusted_proxies: vec![ip("10.0.0.4")],
            tftp_nat_gateways: gateways.iter().map(|g| ip(g)).collect(),
        }
    }

    fn machine(address: Option<&str>) -> Machine {
        Machine {
            name: "web01".into(),
            macs: vec!["52:54:00:12:34:56".parse().unwrap()],
            hostname: "web01".into(),
            address: address.map(|a| a.parse().unwrap()),
            uuid: None,
            profile: "p".into(),
            power: None,
            netboot: pxe_model::Netboot::Install,
        }
    }

    /// An `acked` that must not be asked.
    fn unasked() -> Result<Option<IpAddr>, String> {
        panic!("the state directory was read although the address already decided")
    }

    #[test]
    fn the_fixed_address_decides_without_reading_the_state() {
        let fixed = machine(Some("10.0.0.50"));
        let none = servers(&[]);
        assert_eq!(
            judge(&none, &fixed, ip("10.0.0.50"), unasked),
            Verdict::Machine
        );
        assert_eq!(
            judge(&none, &fixed, ip("::ffff:10.0.0.50"), unasked),
            Verdict::Machine
        );
    }

    #[test]
    fn the_acked_address_is_the_machine_and_the_last_word() {
        let dynamic = machine(None);
        let none = servers(&[]);
        let acked = || Ok(Some("10.0.0.77".parse().unwrap()));
        assert_eq!(
            judge(&none, &dynamic, ip("10.0.0.77"), acked),
            Verdict::Machine
        );
        let Verdict::Refused(why) = judge(&none, &dynamic, ip("10.0.0.78"), acked) else {
            panic!("another address was served")
        };
        assert!(
            why.contains("10.0.0.78 is not the address of machine web01")
                && why.contains("acknowledged to it (10.0.0.77)"),
            "{why}"
        );
        assert!(matches!(
            judge(&none, &dynamic, ip("10.0.0.77"), || Ok(None)),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn an_unknown_acked_address_refuses() {
        let none = servers(&[]);
        let broken = || Err("state/acked/web01.json: corrupt".to_owned());
        let Verdict::Refused(why) = judge(&none, &machine(None), ip("10.0.0.77"), broken) else {
            panic!("served without knowing the acked address")
        };
        assert!(
            why.contains("web01") && why.contains("10.0.0.77") && why.contains("corrupt"),
            "{why}"
        );
        // The fixed address still works when the state cannot be read.
        let fixed = machine(Some("10.0.0.50"));
        assert_eq!(
            judge(&none, &fixed, ip("10.0.0.50"), broken),
            Verdict::Machine
        );
        assert!(matches!(
            judge(&none, &fixed, ip("10.0.0.51"), broken),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn listed_nat_gateways_get_any_machines_files() {
        let gw = servers(&["10.0.0.9"]);
        let fixed = machine(Some("10.0.0.50"));
        assert_eq!(
            judge(&gw, &fixed, ip("10.0.0.9"), unasked),
            Verdict::NatGateway
        );
        assert_eq!(
            judge(&gw, &machine(None), ip("::ffff:10.0.0.9"), unasked),
            Verdict::NatGateway
        );
        // Only listed addresses; an HTTP trusted proxy is not one.
        for other in ["10.0.0.10", "10.0.0.4"] {
            assert!(
                matches!(
                    judge(&gw, &fixed, ip(other), || Ok(None)),
                    Verdict::Refused(_)
                ),
                "{other}"
            );
        }
    }
}
