//! proxyDHCP decisions: a PXE client's DHCPDISCOVER on port 67 gets an offer with no
//! address and the boot file; its DHCPREQUEST on port 4011 gets the boot file in an ACK
//! back to where it came from; everyone else gets nothing, and no lease ever changes.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::fmt::Write as _;
use std::net::SocketAddrV4;

use expect_test::{Expect, expect};

use super::tests::{config, packet, render};
use super::{Arrival, Facts, Ignore, Reason, decide_proxy};
use crate::lease::LeaseTable;

const T0: crate::lease::Time = 1_700_000_000;

/// A site's boot settings as a proxy reads them: no range (the site server has the
/// addresses), lease times and routers that a proxy must not hand out.
const PROXY: &str = r#"
default-lease-time 600;
option arch code 93 = unsigned integer 16;
class "pxeclients" {
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  next-server 10.0.0.5;
  if option arch = 00:07 {
    filename "grubx64.efi";
  } else {
    filename "pxelinux.0";
  }
}
subnet 10.0.0.0 netmask 255.255.255.0 {
  option routers 10.0.0.1;
  option subnet-mask 255.255.255.0;
  option dhcp-renewal-time 300;
  option domain-name-servers 10.0.0.1;
}
subnet 10.0.1.0 netmask 255.255.255.0 {
  option routers 10.0.1.1;
}
host special {
  hardware ethernet 52:54:00:00:00:33;
  fixed-address 10.0.0.99;
  filename "special.0";
}"#;

/// Each line: `67 <packet>` or `4011 <packet>` (from `src`, port 68 unless `src` is
/// unset: the client's `ci`).
#[track_caller]
fn check(conf: &str, scenario: &str, expect: Expect) {
    let cfg = config(conf);
    let table = LeaseTable::new();
    let mut out = String::new();
    for line in scenario.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (port, rest) = line.split_once(' ').unwrap();
        let req = packet(rest);
        let arrival = match port {
            "67" => Arrival::Dhcp,
            "4011" => Arrival::BootServer(SocketAddrV4::new(req.ciaddr, 4011)),
            other => panic!("port {other}"),
        };
        let o = decide_proxy(&cfg, &table, &req, &Facts::default(), T0, arrival);
        assert!(
            o.changes.is_empty(),
            "a proxy changed a lease: {:?}",
            o.changes
        );
        let _ = writeln!(out, "{}", render(&o));
        for l in &o.log {
            let _ = writeln!(out, "    log: {l}");
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn a_pxe_discover_gets_an_offer_without_an_address() {
    check(
        PROXY,
        "67 DISCOVER vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,6,43,51,60,66,67 o97=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00
         67 DISCOVER mac=52:54:00:00:00:07 vci=PXEClient:Arch:00007:UNDI:003016 arch=7",
        expect![[r#"
            OFFER yi=0.0.0.0 si=10.0.0.5 file="pxelinux.0" to=broadcast
                53=OFFER 54=10.0.0.1 60="PXEClient" 97=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00
                log: DHCPDISCOVER from 52:54:00:00:00:01 via eth1 (PXE)
                log: DHCPOFFER (proxy) to 52:54:00:00:00:01 via eth1: pxelinux.0 from 10.0.0.5
            OFFER yi=0.0.0.0 si=10.0.0.5 file="grubx64.efi" to=broadcast
                53=OFFER 54=10.0.0.1 60="PXEClient"
                log: DHCPDISCOVER from 52:54:00:00:00:07 via eth1 (PXE)
                log: DHCPOFFER (proxy) to 52:54:00:00:00:07 via eth1: grubx64.efi from 10.0.0.5
        "#]],
    );
}

#[test]
fn a_boot_server_request_gets_an_ack_back_to_its_port() {
    check(
        PROXY,
        "4011 REQUEST ci=10.0.0.77 vci=PXEClient:Arch:00007:UNDI:003016 arch=7
         4011 REQUEST mac=52:54:00:00:00:33 ci=10.0.0.78 vci=PXEClient:Arch:00000:UNDI:002001",
        expect![[r#"
            ACK yi=0.0.0.0 si=10.0.0.5 ci=10.0.0.77 file="grubx64.efi" to=peer 10.0.0.77:4011
                53=ACK 54=10.0.0.1 60="PXEClient"
                log: DHCPREQUEST from 52:54:00:00:00:01 via eth1 (PXE)
                log: DHCPACK (proxy) to 52:54:00:00:00:01 via 10.0.0.77:4011: grubx64.efi from 10.0.0.5
            ACK yi=0.0.0.0 si=10.0.0.5 ci=10.0.0.78 file="special.0" to=peer 10.0.0.78:4011
                53=ACK 54=10.0.0.1 60="PXEClient"
                log: DHCPREQUEST from 52:54:00:00:00:33 via eth1 (PXE)
                log: DHCPACK (proxy) to 52:54:00:00:00:33 via 10.0.0.78:4011: special.0 from 10.0.0.5
        "#]],
    );
}

#[test]
fn a_relayed_discover_goes_back_to_the_relay() {
    check(
        PROXY,
        "67 DISCOVER gi=10.0.1.1 vci=PXEClient:Arch:00000:UNDI:002001",
        expect![[r#"
            OFFER yi=0.0.0.0 si=10.0.0.5 gi=10.0.1.1 file="pxelinux.0" to=relay 10.0.1.1
                53=OFFER 54=10.0.0.1 60="PXEClient"
                log: DHCPDISCOVER from 52:54:00:00:00:01 via 10.0.1.1 (PXE)
                log: DHCPOFFER (proxy) to 52:54:00:00:00:01 via 10.0.1.1: pxelinux.0 from 10.0.0.5
        "#]],
    );
}

#[test]
fn the_site_servers_messages_are_ignored_without_a_line() {
    check(
        PROXY,
        "67 DISCOVER prl=1,3,6
         67 DISCOVER vci=MSFT:5.0
         67 REQUEST req=10.0.0.50 sid=10.0.0.2 vci=PXEClient:Arch:00000:UNDI:002001
         67 INFORM ci=10.0.0.50
         4011 REQUEST ci=10.0.0.50 vci=d-i",
        expect![[r#"
            no reply: Ignored(NotPxeClient)
            no reply: Ignored(NotPxeClient)
            no reply: Ignored(NotForProxy)
            no reply: Ignored(NotPxeClient)
            no reply: Ignored(NotPxeClient)
        "#]],
    );
}

#[test]
fn an_interface_without_a_subnet_is_not_answered_and_not_logged() {
    let cfg = config(PROXY);
    let mut req = packet("DISCOVER vci=PXEClient:Arch:00000:UNDI:002001 iface=192.168.5.1");
    req.meta.iface = "eth9".into();
    let o = decide_proxy(
        &cfg,
        &LeaseTable::new(),
        &req,
        &Facts::default(),
        T0,
        Arrival::Dhcp,
    );
    assert_eq!(o.reason, Reason::Ignored(Ignore::NoSubnetOnInterface));
    assert!(o.reply.is_none() && o.log.is_empty(), "{o:?}");
}

#[test]
fn no_boot_file_no_offer() {
    let conf = "subnet 10.0.0.0 netmask 255.255.255.0 { }";
    let cfg = config(conf);
    let req = packet("DISCOVER vci=PXEClient:Arch:00000:UNDI:002001");
    let o = decide_proxy(
        &cfg,
        &LeaseTable::new(),
        &req,
        &Facts::default(),
        T0,
        Arrival::Dhcp,
    );
    assert!(o.reply.is_none());
    assert_eq!(o.reason, Reason::Ignored(Ignore::NoBootFile));
}

#[test]
fn configured_pxe_vendor_options_are_sent() {
    let conf = r#"
option space PXE;
option PXE.discovery-control code 6 = unsigned integer 8;
class "pxe" {
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  vendor-option-space PXE;
  option PXE.discovery-control 8;
  filename "pxelinux.0";
}
subnet 10.0.0.0 netmask 255.255.255.0 { }"#;
    check(
        conf,
        "67 DISCOVER vci=PXEClient:Arch:00000:UNDI:002001",
        expect![[r#"
            OFFER yi=0.0.0.0 si=10.0.0.1 file="pxelinux.0" to=broadcast
                53=OFFER 54=10.0.0.1 60="PXEClient" 43=06:01:08
                log: DHCPDISCOVER from 52:54:00:00:00:01 via eth1 (PXE)
                log: DHCPOFFER (proxy) to 52:54:00:00:00:01 via eth1: pxelinux.0 from 10.0.0.1
        "#]],
    );
}

/// Inventory machines get their boot plans' files; the ACK on the boot server port is
/// their boot event, with the address the site server gave (`ciaddr`).
#[test]
fn inventory_machines_get_their_plans_through_the_proxy() {
    let mut cfg = config("subnet 10.0.0.0 netmask 255.255.255.0 { }");
    let inv = pxe_model::load_str(
        "inventory.yaml",
        super::tests::INVENTORY,
        std::path::Path::new("/nonexistent"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    crate::model::add_inventory(&mut cfg, std::sync::Arc::new(inv));
    let facts = Facts {
        install_state: Some(pxe_model::InstallState::Pending),
        ..Facts::default()
    };
    let mut out = String::new();
    for (port, line) in [
        (
            67,
            "DISCOVER mac=52:54:00:77:00:10 vci=PXEClient:Arch:00000:UNDI:002001 arch=0",
        ),
        (
            4011,
            "REQUEST mac=52:54:00:77:00:10 ci=10.0.0.150 vci=PXEClient:Arch:00000:UNDI:002001 arch=0",
        ),
        (
            67,
            "DISCOVER mac=52:54:00:77:00:12 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 uc=iPXE",
        ),
    ] {
        let req = packet(line);
        let arrival = if port == 67 {
            Arrival::Dhcp
        } else {
            Arrival::BootServer(SocketAddrV4::new(req.ciaddr, 4011))
        };
        let o = decide_proxy(&cfg, &LeaseTable::new(), &req, &facts, T0, arrival);
        let _ = writeln!(out, "{}", render(&o));
        if let Some(b) = &o.boot {
            let _ = writeln!(out, "    boot event: {} {}", b.machine, b.detail);
        }
    }
    expect![[r#"
        OFFER yi=0.0.0.0 si=10.0.0.2 file="pxelinux.0" to=broadcast
            53=OFFER 54=10.0.0.1 60="PXEClient"
            boot event: bios-vm DHCPOFFER 0.0.0.0 pxelinux.0 (proxy)
        ACK yi=0.0.0.0 si=10.0.0.2 ci=10.0.0.150 file="pxelinux.0" to=peer 10.0.0.150:4011
            53=ACK 54=10.0.0.1 60="PXEClient"
            boot event: bios-vm DHCPACK 10.0.0.150 pxelinux.0 (proxy)
        OFFER yi=0.0.0.0 si=10.0.0.1 file="http://10.0.0.3:8080/boot/52:54:00:77:00:12.ipxe" to=broadcast
            53=OFFER 54=10.0.0.1 60="PXEClient"
            boot event: ipxe-vm DHCPOFFER 0.0.0.0 http://10.0.0.3:8080/boot/52:54:00:77:00:12.ipxe (proxy)
    "#]].assert_eq(&out);
}
