//! Table tests of the decision core, data-driven: a `dhcpd.conf`, a few lines of packets in a
//! compact notation, and the rendered replies (message, addresses, file, destination, then
//! every option in order). The expected behaviour is ISC 4.4.3's, as observed side by side
//! (see `tests/isc_side_by_side.rs` for the live comparison).
//!
//! Packet lines: `TYPE key=value …` with TYPE one of DISCOVER REQUEST RELEASE DECLINE INFORM
//! BOOTP; keys `mac`, `ci`, `gi`, `req` (50), `sid` (54), `lt` (51), `prl` (55), `vci` (60),
//! `cid` (61, hex), `uc` (77), `arch` (93), `mms` (57), `host` (12), `o82` (hex), `o118`,
//! `o175` (hex), `o97` (hex), `src`, `secs`, and the flag `bcast`. A line `+N` moves the clock N seconds.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use expect_test::{Expect, expect};

use super::{Dest, Facts, Outcome, decide, spread_point};
use crate::lease::{LeaseTable, Time};
use crate::model::{Config, compile};
use crate::request::{RecvMeta, Request};

const T0: Time = 1_700_000_000;

pub(super) fn config(text: &str) -> Config {
    let loaded = crate::conf::parse_str(
        "test.conf",
        text.as_bytes(),
        crate::conf::ParseOptions::default(),
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    );
    assert!(loaded.is_ok(), "config does not parse: {:?}", loaded.output);
    compile(&loaded.config, &crate::model::no_dns).unwrap().0
}

fn hex(s: &str) -> Vec<u8> {
    s.split(':')
        .filter(|x| !x.is_empty())
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect()
}

/// Parse one packet line.
pub(crate) fn packet(line: &str) -> Request {
    let mut words = line.split_whitespace();
    let kind = words.next().unwrap();
    let mut r = Request {
        meta: RecvMeta {
            iface: "eth1".into(),
            iface_addrs: vec![Ipv4Addr::new(10, 0, 0, 1)],
            src: Ipv4Addr::UNSPECIFIED,
        },
        ..Request::default()
    };
    r.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
    r.xid = 0x1234;
    let t = match kind {
        "DISCOVER" => Some(1),
        "REQUEST" => Some(3),
        "DECLINE" => Some(4),
        "RELEASE" => Some(7),
        "INFORM" => Some(8),
        "BOOTP" => None,
        other => panic!("unknown packet type {other}"),
    };
    if let Some(t) = t {
        r.options.push((53, vec![t]));
    }
    for w in words {
        let (k, v) = w.split_once('=').unwrap_or((w, ""));
        let ip = || v.parse::<Ipv4Addr>().unwrap();
        match k {
            "mac" => r.chaddr[..6].copy_from_slice(&hex(v)),
            "ci" => r.ciaddr = ip(),
            "gi" => r.giaddr = ip(),
            "src" => r.meta.src = ip(),
            "iface" => r.meta.iface_addrs = vec![ip()],
            "req" => r.options.push((50, ip().octets().to_vec())),
            "sid" => r.options.push((54, ip().octets().to_vec())),
            "lt" => r
                .options
                .push((51, v.parse::<u32>().unwrap().to_be_bytes().to_vec())),
            "prl" => r
                .options
                .push((55, v.split(',').map(|x| x.parse::<u8>().unwrap()).collect())),
            "vci" => r.options.push((60, v.as_bytes().to_vec())),
            "cid" => r.options.push((61, hex(v))),
            "uc" => r.options.push((77, v.as_bytes().to_vec())),
            "arch" => r
                .options
                .push((93, v.parse::<u16>().unwrap().to_be_bytes().to_vec())),
            "mms" => r
                .options
                .push((57, v.parse::<u16>().unwrap().to_be_bytes().to_vec())),
            "host" => r.options.push((12, v.as_bytes().to_vec())),
            "o82" => r.options.push((82, hex(v))),
            "o118" => r.options.push((118, ip().octets().to_vec())),
            "o175" => r.options.push((175, hex(v))),
            "o97" => r.options.push((97, hex(v))),
            "secs" => r.secs = v.parse().unwrap(),
            "bcast" => r.flags |= 0x8000,
            other => panic!("unknown key {other}"),
        }
    }
    r
}

fn ip4(d: &[u8]) -> String {
    d.chunks(4)
        .map(|c| {
            if c.len() == 4 {
                Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string()
            } else {
                format!("{c:02x?}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn render_option(code: u8, d: &[u8]) -> String {
    let text = |d: &[u8]| format!("{:?}", String::from_utf8_lossy(d));
    let hexs = |d: &[u8]| {
        d.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    match code {
        53 => match d.first() {
            Some(2) => "OFFER".into(),
            Some(5) => "ACK".into(),
            Some(6) => "NAK".into(),
            _ => hexs(d),
        },
        1 | 3 | 6 | 28 | 42 | 44 | 50 | 54 | 118 if d.len().is_multiple_of(4) => ip4(d),
        51 | 58 | 59 if d.len() == 4 => u32::from_be_bytes([d[0], d[1], d[2], d[3]]).to_string(),
        12 | 15 | 56 | 60 | 66 | 67 => text(d),
        _ => hexs(d),
    }
}

pub(super) fn render(o: &Outcome) -> String {
    let Some(r) = &o.reply else {
        return format!("no reply: {:?}", o.reason);
    };
    let mut s = String::new();
    let name = super::reply_name(r).trim_start_matches("DHCP");
    let _ = write!(s, "{name} yi={} si={}", r.yiaddr, r.siaddr);
    if !r.ciaddr.is_unspecified() {
        let _ = write!(s, " ci={}", r.ciaddr);
    }
    if !r.giaddr.is_unspecified() {
        let _ = write!(s, " gi={}", r.giaddr);
    }
    if r.flags != 0 {
        let _ = write!(s, " flags={:04x}", r.flags);
    }
    let f = r.file_text();
    if !f.is_empty() {
        let _ = write!(s, " file={f:?}");
    }
    let end = r
        .sname
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(r.sname.len());
    if end > 0 {
        let _ = write!(s, " sname={:?}", String::from_utf8_lossy(&r.sname[..end]));
    }
    let to = match &r.dest {
        Dest::Relay(ip) => format!("relay {ip}"),
        Dest::Unicast(ip) => format!("unicast {ip}"),
        Dest::Broadcast => "broadcast".into(),
        Dest::Peer(a) => format!("peer {a}"),
        Dest::Link { ip, hw } => format!("link {ip} {}", hw.colon()),
    };
    let _ = write!(s, " to={to}\n   ");
    for (c, d) in &r.options {
        let _ = write!(s, " {c}={}", render_option(*c, d));
    }
    s
}

/// Run the packets of `scenario` against `conf`, applying lease changes as the server would,
/// and compare the rendered replies with `expect`.
#[track_caller]
fn check(conf: &str, scenario: &str, expect: Expect) {
    let cfg = config(conf);
    let mut table = LeaseTable::new();
    let mut now = T0;
    let mut out = String::new();
    for line in scenario.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(n) = line.strip_prefix('+') {
            now += n.trim().parse::<Time>().unwrap();
            continue;
        }
        let req = packet(line);
        let o = decide(&cfg, &table, &req, &Facts::default(), now);
        for c in o.changes.clone() {
            c.apply_to(&mut table);
        }
        let _ = writeln!(out, "{}", render(&o));
    }
    expect.assert_eq(&out);
}

const BASIC: &str = "
default-lease-time 600;
max-lease-time 7200;
subnet 10.0.0.0 netmask 255.255.255.0 {
  range 10.0.0.10 10.0.0.20;
  option routers 10.0.0.1;
  option domain-name-servers 10.0.0.1;
  option domain-name \"example.test\";
}";

#[test]
fn dora_with_a_parameter_request_list() {
    check(
        BASIC,
        "DISCOVER prl=1,3,6,15,28
         REQUEST req=10.0.0.10 sid=10.0.0.1 prl=1,3,6,15,28",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            ACK yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=ACK 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        "#]],
    );
}

#[test]
fn without_a_request_list_iscs_default_order() {
    check(
        BASIC,
        "DISCOVER",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        "#]],
    );
}

#[test]
fn only_requested_options_mask_before_routers() {
    check(
        BASIC,
        "DISCOVER prl=3,1\nDISCOVER prl=3,6",
        expect![[r#"
        OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
            53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1
        OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
            53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 6=10.0.0.1 3=10.0.0.1
    "#]],
    );
}

#[test]
fn lease_time_request_is_clamped() {
    check(
        BASIC,
        "DISCOVER lt=120 prl=51\nDISCOVER mac=52:54:00:00:00:02 lt=100000\nDISCOVER mac=52:54:00:00:00:03 lt=1000",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=300 1=255.255.255.0
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=7200 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            OFFER yi=10.0.0.12 si=0.0.0.0 to=link 10.0.0.12 52:54:00:00:00:03
                53=OFFER 54=10.0.0.1 51=1000 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        "#]],
    );
}

const PXE: &str = r#"
option space PXE;
option PXE.mtftp-ip code 1 = ip-address;
option PXE.discovery-control code 6 = unsigned integer 8;
option arch code 93 = unsigned integer 16;
option space ipxe;
option ipxe-encap-opts code 175 = encapsulate ipxe;
option ipxe.no-pxedhcp code 176 = unsigned integer 8;
option ipxe.no-pxedhcp 1;
authoritative;
default-lease-time 600;
max-lease-time 7200;
class "pxeclients" {
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  next-server 10.0.0.5;
  option vendor-class-identifier "PXEClient";
  vendor-option-space PXE;
  option PXE.discovery-control 3;
  if exists user-class and option user-class = "iPXE" {
    filename "http://10.0.0.5/boot.ipxe";
  } elsif option arch = 00:07 or option arch = 00:09 {
    filename "grubx64.efi";
  } else {
    filename "pxelinux.0";
  }
}
class "httpclients" {
  match if substring (option vendor-class-identifier, 0, 10) = "HTTPClient";
  option vendor-class-identifier "HTTPClient";
  filename "http://10.0.0.5/EFI/BOOT/bootx64.efi";
}
subnet 10.0.0.0 netmask 255.255.255.0 {
  range 10.0.0.10 10.0.0.20;
  option routers 10.0.0.1;
  next-server 10.0.0.9;
}"#;

#[test]
fn pxe_bios_uefi_ipxe_http() {
    check(
        PXE,
        "DISCOVER vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,43,60,66,67,128
         DISCOVER mac=52:54:00:00:00:07 vci=PXEClient:Arch:00007:UNDI:003016 arch=7 prl=1,3,43,60,66,67
         DISCOVER mac=52:54:00:00:00:09 vci=PXEClient:Arch:00009:UNDI:003016 arch=9 prl=1,3,43,60,66,67
         DISCOVER mac=52:54:00:00:00:0a vci=PXEClient:Arch:00000:UNDI:002001 arch=0 uc=iPXE prl=1,3,43,60,66,67,175
         DISCOVER mac=52:54:00:00:00:0b vci=HTTPClient:Arch:00016:UNDI:003001 arch=16 prl=1,3,43,60,66,67
         DISCOVER mac=52:54:00:00:00:0c prl=1,3,6,15",
        expect![[r#"
            OFFER yi=10.0.0.10 si=10.0.0.5 file="pxelinux.0" to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 43=06:01:03 60="PXEClient"
            OFFER yi=10.0.0.11 si=10.0.0.5 file="grubx64.efi" to=link 10.0.0.11 52:54:00:00:00:07
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 43=06:01:03 60="PXEClient"
            OFFER yi=10.0.0.12 si=10.0.0.5 file="grubx64.efi" to=link 10.0.0.12 52:54:00:00:00:09
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 43=06:01:03 60="PXEClient"
            OFFER yi=10.0.0.13 si=10.0.0.5 file="http://10.0.0.5/boot.ipxe" to=link 10.0.0.13 52:54:00:00:00:0a
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 43=06:01:03 60="PXEClient" 175=b0:01:01
            OFFER yi=10.0.0.14 si=10.0.0.9 file="http://10.0.0.5/EFI/BOOT/bootx64.efi" to=link 10.0.0.14 52:54:00:00:00:0b
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 60="HTTPClient"
            OFFER yi=10.0.0.15 si=10.0.0.9 to=link 10.0.0.15 52:54:00:00:00:0c
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1
        "#]],
    );
}

#[test]
fn unknown_clients_denied_in_the_only_pool() {
    check(
        "subnet 10.0.0.0 netmask 255.255.255.0 {
           pool { deny unknown-clients; range 10.0.0.10 10.0.0.20; }
         }
         host known { hardware ethernet 52:54:00:00:00:02; }",
        "DISCOVER\nDISCOVER mac=52:54:00:00:00:02",
        expect![[r#"
            no reply: Ignored(NoFreeLeases)
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
        "#]],
    );
}

#[test]
fn fixed_address_host() {
    check(
        "authoritative;
         subnet 10.0.0.0 netmask 255.255.255.0 {
           range 10.0.0.10 10.0.0.20;
           option domain-name \"subnet.test\";
           host pc1 { hardware ethernet 52:54:00:00:00:42; fixed-address 10.0.0.42; option domain-name \"host.test\"; filename \"host.0\"; }
         }",
        "DISCOVER mac=52:54:00:00:00:42 prl=1,15
         REQUEST mac=52:54:00:00:00:42 req=10.0.0.42 prl=1,15
         REQUEST mac=52:54:00:00:00:42 req=10.0.0.10 prl=1,15",
        expect![[r#"
            OFFER yi=10.0.0.42 si=0.0.0.0 file="host.0" to=link 10.0.0.42 52:54:00:00:00:42
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="host.test"
            ACK yi=10.0.0.42 si=0.0.0.0 file="host.0" to=link 10.0.0.42 52:54:00:00:00:42
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0 15="host.test"
            NAK yi=0.0.0.0 si=0.0.0.0 flags=8000 to=broadcast
                53=NAK 54=10.0.0.1 56="requested address is incorrect"
        "#]],
    );
}

#[test]
fn relayed_requests_go_back_to_the_relay_with_option_82() {
    check(
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
         subnet 10.9.0.0 netmask 255.255.255.0 { range 10.9.0.10 10.9.0.20; option routers 10.9.0.1; }",
        "DISCOVER gi=10.9.0.1 prl=1,3 o82=01:04:65:74:68:31:02:02:ab:cd
         REQUEST gi=10.9.0.1 req=10.9.0.10 prl=1,3 o82=01:04:65:74:68:31",
        expect![[r#"
            OFFER yi=10.9.0.10 si=0.0.0.0 gi=10.9.0.1 to=relay 10.9.0.1
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.9.0.1 82=01:04:65:74:68:31:02:02:ab:cd
            ACK yi=10.9.0.10 si=0.0.0.0 gi=10.9.0.1 to=relay 10.9.0.1
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.9.0.1 82=01:04:65:74:68:31
        "#]],
    );
}

#[test]
fn bootp_needs_dynamic_bootp_or_a_fixed_host() {
    check(
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; option routers 10.0.0.1; filename \"boot.0\"; }",
        "BOOTP",
        expect![[r#"
            no reply: Ignored(NoBootpLease)
        "#]],
    );
    check(
        "subnet 10.0.0.0 netmask 255.255.255.0 {
           range dynamic-bootp 10.0.0.100 10.0.0.110;
           option routers 10.0.0.1; option domain-name-servers 10.0.0.1; filename \"boot.0\"; next-server 10.0.0.5;
         }
         host fixed { hardware ethernet 52:54:00:00:00:42; fixed-address 10.0.0.42; }",
        "BOOTP
         BOOTP mac=52:54:00:00:00:42",
        expect![[r#"
            BOOTREPLY yi=10.0.0.100 si=10.0.0.5 file="boot.0" to=link 10.0.0.100 52:54:00:00:00:01
                1=255.255.255.0 3=10.0.0.1 6=10.0.0.1
            BOOTREPLY yi=10.0.0.42 si=10.0.0.5 file="boot.0" to=link 10.0.0.42 52:54:00:00:00:42
                1=255.255.255.0 3=10.0.0.1 6=10.0.0.1
        "#]],
    );
}

#[test]
fn inform_needs_authority() {
    check(
        "authoritative; subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; option routers 10.0.0.1; option domain-name \"example.test\"; }",
        "INFORM ci=10.0.0.50 prl=1,3,15,51",
        expect![[r#"
            ACK yi=0.0.0.0 si=0.0.0.0 ci=10.0.0.50 to=unicast 10.0.0.50
                53=ACK 54=10.0.0.1 1=255.255.255.0 3=10.0.0.1 15="example.test"
        "#]],
    );
    check(
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }",
        "INFORM ci=10.0.0.50 prl=1,3",
        expect![[r#"
            no reply: Ignored(InformNotAuthoritative)
        "#]],
    );
}

#[test]
fn request_for_a_wrong_address() {
    let conf = "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }";
    check(
        conf,
        "REQUEST req=10.99.0.5\nREQUEST req=10.0.0.15",
        expect![[r#"
        no reply: Ignored(NotAuthoritative)
        ACK yi=10.0.0.15 si=0.0.0.0 to=link 10.0.0.15 52:54:00:00:00:01
            53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0
    "#]],
    );
    let auth = format!("authoritative; {conf}");
    check(
        &auth,
        "REQUEST req=10.99.0.5
         REQUEST req=10.0.0.15
         REQUEST req=10.99.0.5 gi=10.0.0.1",
        expect![[r#"
            NAK yi=0.0.0.0 si=0.0.0.0 flags=8000 to=broadcast
                53=NAK 54=10.0.0.1
            ACK yi=10.0.0.15 si=0.0.0.0 to=link 10.0.0.15 52:54:00:00:00:01
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0
            NAK yi=0.0.0.0 si=0.0.0.0 gi=10.0.0.1 flags=8000 to=relay 10.0.0.1
                53=NAK 54=10.0.0.1
        "#]],
    );
}

#[test]
fn selecting_with_another_servers_id_is_acked() {
    check(
        BASIC,
        "DISCOVER\nREQUEST req=10.0.0.10 sid=10.0.0.99",
        expect![[r#"
        OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
            53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        ACK yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
            53=ACK 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
    "#]],
    );
}

#[test]
fn release_then_discover_gets_the_same_address() {
    check(
        BASIC,
        "DISCOVER
         REQUEST req=10.0.0.10
         +10
         RELEASE ci=10.0.0.10
         DISCOVER mac=52:54:00:00:00:02
         DISCOVER",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            ACK yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=ACK 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            no reply: Released { found: true }
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        "#]],
    );
}

#[test]
fn decline_abandons_the_address() {
    check(
        BASIC,
        "DISCOVER
         REQUEST req=10.0.0.10
         DECLINE req=10.0.0.10
         DISCOVER",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            ACK yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=ACK 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            no reply: Declined { found: true }
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        "#]],
    );
}

/// Run `scenario` and return, per packet, the outcome's reason and its log lines.
fn logs(conf: &str, scenario: &str) -> String {
    let cfg = config(conf);
    let mut table = LeaseTable::new();
    let mut now = T0;
    let mut out = String::new();
    for line in scenario.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(n) = line.strip_prefix('+') {
            now += n.trim().parse::<Time>().unwrap();
            continue;
        }
        let o = decide(&cfg, &table, &packet(line), &Facts::default(), now);
        for c in o.changes.clone() {
            c.apply_to(&mut table);
        }
        let _ = writeln!(out, "{:?}", o.reason);
        for l in &o.log {
            let _ = writeln!(out, "    {l}");
        }
    }
    out
}

#[test]
fn decline_from_a_stranger_is_ignored() {
    // .10 is bound to :01; :02 declines it (with and without a client identifier, then
    // claiming :01's identifier while :01 sent none): nothing changes, :01 renews.
    let text = logs(
        BASIC,
        "DISCOVER
         REQUEST req=10.0.0.10
         DECLINE req=10.0.0.10 mac=52:54:00:00:00:02
         DECLINE req=10.0.0.10 mac=52:54:00:00:00:02 cid=01:52:54:00:00:00:01
         REQUEST ci=10.0.0.10 src=10.0.0.10",
    );
    expect![[r#"
        Offer
            DHCPDISCOVER from 52:54:00:00:00:01 via eth1
            DHCPOFFER on 10.0.0.10 to 52:54:00:00:00:01 via eth1
        Ack
            DHCPREQUEST for 10.0.0.10 from 52:54:00:00:00:01 via eth1
            DHCPACK on 10.0.0.10 to 52:54:00:00:00:01 via eth1
        Ignored(DeclineNotOwner)
            DHCPDECLINE of 10.0.0.10 from 52:54:00:00:00:02 via eth1: ignored (not the lease's client)
        Ignored(DeclineNotOwner)
            DHCPDECLINE of 10.0.0.10 from 52:54:00:00:00:02 via eth1: ignored (not the lease's client)
        Ack
            DHCPREQUEST for 10.0.0.10 from 52:54:00:00:00:01 via eth1
            DHCPACK on 10.0.0.10 to 52:54:00:00:00:01 via eth1
    "#]]
    .assert_eq(&text);
}

#[test]
fn decline_by_client_identifier() {
    // A lease taken with a client identifier is the identifier's: another MAC sending it
    // may decline (the client moved its identifier), the same MAC without it may not.
    let text = logs(
        BASIC,
        "DISCOVER cid=ff:00:01
         REQUEST req=10.0.0.10 cid=ff:00:01
         DECLINE req=10.0.0.10 cid=ff:00:02
         DECLINE req=10.0.0.10 mac=52:54:00:00:00:09 cid=ff:00:01",
    );
    expect![[r#"
        Offer
            DHCPDISCOVER from 52:54:00:00:00:01 via eth1
            DHCPOFFER on 10.0.0.10 to 52:54:00:00:00:01 via eth1
        Ack
            DHCPREQUEST for 10.0.0.10 from 52:54:00:00:00:01 via eth1
            DHCPACK on 10.0.0.10 to 52:54:00:00:00:01 via eth1
        Ignored(DeclineNotOwner)
            DHCPDECLINE of 10.0.0.10 from 52:54:00:00:00:01 via eth1: ignored (not the lease's client)
        Declined { found: true }
            Abandoning IP address 10.0.0.10: declined.
            DHCPDECLINE of 10.0.0.10 from 52:54:00:00:00:09 via eth1: abandoned
    "#]]
    .assert_eq(&text);
}

#[test]
fn decline_of_an_offer_then_at_most_once_a_minute() {
    // The owner declines its offer (honoured), declines the next offer within the minute
    // (ignored), and again after a minute (honoured). A lease it no longer holds (the
    // abandoned one, an expired one) it cannot decline.
    let text = logs(
        BASIC,
        "DISCOVER
         DECLINE req=10.0.0.10
         DISCOVER
         +30
         DECLINE req=10.0.0.11
         +31
         DECLINE req=10.0.0.11
         DECLINE req=10.0.0.10
         DISCOVER
         +200
         DECLINE req=10.0.0.12",
    );
    expect![[r#"
        Offer
            DHCPDISCOVER from 52:54:00:00:00:01 via eth1
            DHCPOFFER on 10.0.0.10 to 52:54:00:00:00:01 via eth1
        Declined { found: true }
            Abandoning IP address 10.0.0.10: declined.
            DHCPDECLINE of 10.0.0.10 from 52:54:00:00:00:01 via eth1: abandoned
        Offer
            DHCPDISCOVER from 52:54:00:00:00:01 via eth1
            DHCPOFFER on 10.0.0.11 to 52:54:00:00:00:01 via eth1
        Ignored(DeclineTooSoon)
            DHCPDECLINE of 10.0.0.11 from 52:54:00:00:00:01 via eth1: ignored (client declined less than a minute ago)
        Declined { found: true }
            Abandoning IP address 10.0.0.11: declined.
            DHCPDECLINE of 10.0.0.11 from 52:54:00:00:00:01 via eth1: abandoned
        Ignored(DeclineNotOwner)
            DHCPDECLINE of 10.0.0.10 from 52:54:00:00:00:01 via eth1: ignored (not the lease's client)
        Offer
            DHCPDISCOVER from 52:54:00:00:00:01 via eth1
            DHCPOFFER on 10.0.0.12 to 52:54:00:00:00:01 via eth1
        Ignored(DeclineNotOwner)
            DHCPDECLINE of 10.0.0.12 from 52:54:00:00:00:01 via eth1: ignored (address neither held nor offered)
    "#]]
    .assert_eq(&text);
}

const FLOOD_OPTIONS: &str = "
option space pxe-suite;
option pxe-suite.flood-limit code 1 = unsigned integer 32;
option pxe-suite.flood-hold code 2 = unsigned integer 32;
";

#[test]
fn execute_limits_from_the_configuration() {
    use crate::model::ExecuteLimits;
    assert_eq!(config(BASIC).execute, ExecuteLimits::default());
    let set = format!(
        "option space pxe-suite;
option pxe-suite.execute-timeout code 3 = unsigned integer 32;
option pxe-suite.execute-output code 4 = unsigned integer 32;
option pxe-suite.execute-timeout 5;
option pxe-suite.execute-output 100;
{BASIC}"
    );
    assert_eq!(
        config(&set).execute,
        ExecuteLimits {
            timeout_secs: 5,
            output_bytes: 100
        }
    );
}

#[test]
fn flood_limit_from_the_configuration() {
    use crate::lease::FloodLimit;
    assert_eq!(
        config(BASIC).flood,
        Some(FloodLimit { rate: 20, hold: 60 }),
        "on by default"
    );
    let set = format!(
        "{FLOOD_OPTIONS}option pxe-suite.flood-limit 3;\noption pxe-suite.flood-hold 10;\n{BASIC}"
    );
    assert_eq!(config(&set).flood, Some(FloodLimit { rate: 3, hold: 10 }));
    let off = format!("{FLOOD_OPTIONS}option pxe-suite.flood-limit 0;\n{BASIC}");
    assert_eq!(config(&off).flood, None);
}

#[test]
fn a_flooding_client_is_ignored_for_a_while_and_logged_once() {
    let cfg = config(&format!(
        "{FLOOD_OPTIONS}option pxe-suite.flood-limit 3;\noption pxe-suite.flood-hold 10;\n{BASIC}"
    ));
    let mut table = LeaseTable::new();
    let one = packet("DISCOVER");
    let other = packet("DISCOVER mac=52:54:00:00:00:02");
    let mut seen = Vec::new();
    let mut run = |req: &Request, now: Time, table: &mut LeaseTable| {
        let r = super::admit(table, &cfg, req, now);
        seen.push(match r {
            Ok(()) => "yes".to_string(),
            Err(None) => "ignored".to_string(),
            Err(Some(line)) => line,
        });
    };
    for _ in 0..5 {
        run(&one, T0, &mut table);
    }
    run(&other, T0, &mut table);
    run(&one, T0 + 9, &mut table);
    run(&one, T0 + 10, &mut table);
    // A new second: three more, not a fourth.
    for _ in 0..4 {
        run(&one, T0 + 11, &mut table);
    }
    expect![[r#"
        yes
        yes
        yes
        52:54:00:00:00:01 via eth1: more than 3 requests in one second, ignored for 10 seconds
        ignored
        yes
        ignored
        yes
        yes
        yes
        yes
        52:54:00:00:00:01 via eth1: more than 3 requests in one second, ignored for 10 seconds
    "#]]
    .assert_eq(&(seen.join("\n") + "\n"));
}

#[test]
fn renewal_is_unicast_and_young_leases_are_reused() {
    check(
        BASIC,
        "DISCOVER
         REQUEST req=10.0.0.10
         +60
         REQUEST ci=10.0.0.10
         +300
         REQUEST ci=10.0.0.10 bcast",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            ACK yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=ACK 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            ACK yi=10.0.0.10 si=0.0.0.0 ci=10.0.0.10 to=unicast 10.0.0.10
                53=ACK 54=10.0.0.1 51=540 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
            ACK yi=10.0.0.10 si=0.0.0.0 ci=10.0.0.10 flags=8000 to=broadcast
                53=ACK 54=10.0.0.1 51=600 1=255.255.255.0 3=10.0.0.1 6=10.0.0.1 15="example.test"
        "#]],
    );
}

#[test]
fn classes_subclasses_spawning_and_lease_limits() {
    check(
        r#"
        class "vendor" { match option vendor-class-identifier; }
        subclass "vendor" "d-i" { option domain-name "installer.test"; }
        subclass "vendor" "PXEClient" { filename "pxelinux.0"; }
        class "limited" { spawn with option user-class; lease limit 1; option domain-name "limited.test"; }
        subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
        "#,
        "DISCOVER vci=d-i prl=1,15
         DISCOVER mac=52:54:00:00:00:02 vci=PXEClient prl=1,15
         DISCOVER mac=52:54:00:00:00:03 vci=other prl=1,15
         DISCOVER mac=52:54:00:00:00:04 uc=lab prl=1,15
         REQUEST mac=52:54:00:00:00:04 uc=lab req=10.0.0.13 prl=1,15
         DISCOVER mac=52:54:00:00:00:05 uc=lab prl=1,15
         DISCOVER mac=52:54:00:00:00:06 uc=other prl=1,15
         DISCOVER mac=52:54:00:00:00:04 uc=lab prl=1,15",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="installer.test"
            OFFER yi=10.0.0.11 si=0.0.0.0 file="pxelinux.0" to=link 10.0.0.11 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            OFFER yi=10.0.0.12 si=0.0.0.0 to=link 10.0.0.12 52:54:00:00:00:03
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            OFFER yi=10.0.0.13 si=0.0.0.0 to=link 10.0.0.13 52:54:00:00:00:04
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="limited.test"
            ACK yi=10.0.0.13 si=0.0.0.0 to=link 10.0.0.13 52:54:00:00:00:04
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0 15="limited.test"
            no reply: Ignored(LeaseLimit)
            OFFER yi=10.0.0.14 si=0.0.0.0 to=link 10.0.0.14 52:54:00:00:00:06
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="limited.test"
            OFFER yi=10.0.0.13 si=0.0.0.0 to=link 10.0.0.13 52:54:00:00:00:04
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="limited.test"
        "#]],
    );
}

#[test]
fn switch_and_option_combining() {
    check(
        r#"
        option domain-search "a.test";
        subnet 10.0.0.0 netmask 255.255.255.0 {
          range 10.0.0.10 10.0.0.20;
          switch (option vendor-class-identifier) {
            case "one": option domain-name "one.test";
            case "two": option host-name "falls-through"; break;
            default: option domain-name "default.test";
          }
          append domain-search "b.test";
          default routers 10.0.0.254;
          option routers 10.0.0.1;
          default routers 10.0.0.253;
        }"#,
        "DISCOVER vci=one prl=3,12,15,119
         DISCOVER mac=52:54:00:00:00:02 vci=two prl=3,12,15
         DISCOVER mac=52:54:00:00:00:03 vci=zzz prl=3,12,15",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="falls-through" 15="one.test" 119=01:61:04:74:65:73:74:00:01:62:04:74:65:73:74:00 3=10.0.0.1
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="falls-through" 3=10.0.0.1
            OFFER yi=10.0.0.12 si=0.0.0.0 to=link 10.0.0.12 52:54:00:00:00:03
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="default.test" 3=10.0.0.1
        "#]],
    );
}

#[test]
fn renewal_times_echo_and_broadcast() {
    check(
        "default-lease-time 600;
         echo-client-id true;
         always-broadcast on;
         subnet 10.0.0.0 netmask 255.255.255.0 {
           range 10.0.0.10 10.0.0.20;
           option dhcp-renewal-time 100;
           option dhcp-rebinding-time 900;
         }",
        "DISCOVER cid=01:52:54:00:00:00:01 prl=1,58,59",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 flags=8000 to=broadcast
                53=OFFER 54=10.0.0.1 51=600 58=100 61=01:52:54:00:00:00:01 1=255.255.255.0
        "#]],
    );
}

#[test]
fn hosts_without_fixed_address_and_host_names() {
    check(
        r#"
        use-host-decl-names on;
        subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
        host dyn { hardware ethernet 52:54:00:00:00:01; option domain-name "dyn.test"; }
        host fix { hardware ethernet 52:54:00:00:00:02; fixed-address 10.0.0.50; }
        "#,
        "DISCOVER prl=1,12,15
         DISCOVER mac=52:54:00:00:00:02 prl=1,12,15
         DISCOVER mac=52:54:00:00:00:03 prl=1,12,15",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="dyn" 15="dyn.test"
            OFFER yi=10.0.0.50 si=0.0.0.0 to=link 10.0.0.50 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="fix"
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:03
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
        "#]],
    );
}

#[test]
fn shared_networks_and_members_of() {
    check(
        r#"
        class "pxe" { match if substring (option vendor-class-identifier, 0, 9) = "PXEClient"; }
        shared-network lab {
          option domain-name "lab.test";
          subnet 10.0.0.0 netmask 255.255.255.0 {
            option routers 10.0.0.1;
            pool { allow members of "pxe"; range 10.0.0.10 10.0.0.11; }
          }
          subnet 10.0.1.0 netmask 255.255.255.0 {
            option routers 10.0.1.1;
            pool { deny members of "pxe"; range 10.0.1.10 10.0.1.11; }
          }
        }"#,
        "DISCOVER vci=PXEClient prl=1,3,15
         DISCOVER mac=52:54:00:00:00:02 prl=1,3,15",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1 15="lab.test"
            OFFER yi=10.0.1.10 si=0.0.0.0 to=link 10.0.1.10 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.1.1 15="lab.test"
        "#]],
    );
}

#[test]
fn exhausted_pool_and_unknown_network() {
    check(
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.10; }",
        "DISCOVER
         REQUEST req=10.0.0.10
         DISCOVER mac=52:54:00:00:00:02
         DISCOVER gi=10.9.0.1
         DISCOVER iface=192.168.1.1",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            ACK yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0
            no reply: Ignored(NoFreeLeases)
            no reply: Ignored(UnknownNetwork)
            no reply: Ignored(NoSubnetOnInterface)
        "#]],
    );
}

const TWO_SUBNETS: &str = "
authoritative;
subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
subnet 10.1.0.0 netmask 255.255.255.0 { range 10.1.0.10 10.1.0.20; option routers 10.1.0.1; }";

#[test]
fn selection_options_only_through_a_relay() {
    // A client on 10.0.0.0/24 asking for 10.1.0.0/24 itself (option 118, or a forged
    // option 82 with link-selection) stays on its own segment, and its option 118 is not
    // echoed; through a relay both select the subnet.
    check(
        TWO_SUBNETS,
        "DISCOVER o118=10.1.0.0 prl=1,3
         DISCOVER mac=52:54:00:00:00:02 o82=05:04:0a:01:00:00 prl=1,3
         DISCOVER mac=52:54:00:00:00:03 gi=10.0.0.5 o118=10.1.0.0 prl=1,3
         DISCOVER mac=52:54:00:00:00:04 gi=10.0.0.5 o82=05:04:0a:01:00:00 prl=1,3",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 82=05:04:0a:01:00:00
            OFFER yi=10.1.0.10 si=0.0.0.0 gi=10.0.0.5 to=relay 10.0.0.5
                53=OFFER 54=10.0.0.1 51=43200 118=10.1.0.0 1=255.255.255.0 3=10.1.0.1
            OFFER yi=10.1.0.11 si=0.0.0.0 gi=10.0.0.5 to=relay 10.0.0.5
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.1.0.1 82=05:04:0a:01:00:00
        "#]],
    );
}

#[test]
fn nothing_answered_on_an_interface_without_a_subnet() {
    // Arriving on 192.168.1.1 (no subnet declared): neither a REQUEST for an address of an
    // authoritative subnet (NAKed by the code before), nor an INFORM, nor a relayed
    // DISCOVER for a known subnet is answered.
    check(
        TWO_SUBNETS,
        "REQUEST req=10.0.0.10 iface=192.168.1.1
         INFORM ci=10.0.0.50 src=10.0.0.50 iface=192.168.1.1
         DISCOVER gi=10.1.0.1 iface=192.168.1.1
         DISCOVER gi=10.1.0.1",
        expect![[r#"
            no reply: Ignored(NoSubnetOnInterface)
            no reply: Ignored(NoSubnetOnInterface)
            no reply: Ignored(NoSubnetOnInterface)
            OFFER yi=10.1.0.10 si=0.0.0.0 gi=10.1.0.1 to=relay 10.1.0.1
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.1.0.1
        "#]],
    );
}

#[test]
fn expressions_in_conditions() {
    check(
        r#"
        subnet 10.0.0.0 netmask 255.255.255.0 {
          range 10.0.0.10 10.0.0.20;
          if binary-to-ascii (16, 8, ":", substring (hardware, 1, 6)) = "52:54:0:0:0:1" {
            option domain-name "by-mac.test";
          } elsif suffix (option host-name, 4) = "-pxe" and not exists user-class {
            option domain-name = concat ("pxe-", option host-name);
          } elsif lcase (option host-name) ~= "^web[0-9]+$" {
            option domain-name = pick-first-value (option domain-name, config-option domain-search, "fallback.test");
          }
          option host-name = concat ("h-", binary-to-ascii (10, 8, ".", leased-address));
        }"#,
        "DISCOVER prl=12,15
         DISCOVER mac=52:54:00:00:00:02 host=node-pxe prl=12,15
         DISCOVER mac=52:54:00:00:00:03 host=WEB12 prl=12,15",
        expect![[r#"
            OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
                53=OFFER 54=10.0.0.1 51=43200 12="h-10.0.0.10" 15="by-mac.test" 1=255.255.255.0
            OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
                53=OFFER 54=10.0.0.1 51=43200 12="h-10.0.0.11" 15="pxe-node-pxe" 1=255.255.255.0
            OFFER yi=10.0.0.12 si=0.0.0.0 to=link 10.0.0.12 52:54:00:00:00:03
                53=OFFER 54=10.0.0.1 51=43200 12="h-10.0.0.12" 15="fallback.test" 1=255.255.255.0
        "#]],
    );
}

pub(super) const INVENTORY: &str = r#"
servers:
  tftp: 10.0.0.2
  http: http://10.0.0.3:8080
unknown_machines: menu
loaders:
  bios: pxelinux.0
  uefi_x64: grubnetx64.efi
  ipxe_bios: undionly.kpxe
  ipxe_uefi: ipxe.efi
distros:
  deb:
    arch: x86_64
    family: debian
    tree: trees/deb
    kernel: linux
    initrd: initrd.gz
  signed:
    arch: x86_64
    family: debian
    tree: trees/signed
    kernel: debian-installer/amd64/linux
    initrd: debian-installer/amd64/initrd.gz
    loaders:  # the tree's shim, as import writes it
      uefi_x64: trees/signed/debian-installer/amd64/bootnetx64.efi
profiles:
  classic:
    distro: deb
    chain: classic
  viaipxe:
    distro: deb
    chain: ipxe
  secureboot:
    distro: signed
    chain: classic
machines:
  bios-vm:
    mac: 52:54:00:77:00:10
    hostname: bios-vm.lab.test
    profile: classic
  fixed-vm:
    mac: 52:54:00:77:00:11
    address: 10.0.0.77
    profile: classic
  ipxe-vm:
    mac: 52:54:00:77:00:12
    profile: viaipxe
  sb-vm:
    mac: 52:54:00:77:00:50
    profile: secureboot
"#;

#[track_caller]
fn check_inventory(
    conf: &str,
    states: &[(&str, pxe_model::InstallState)],
    scenario: &str,
    expect: Expect,
) {
    let mut cfg = config(conf);
    let inv = pxe_model::load_str(
        "inventory.yaml",
        INVENTORY,
        std::path::Path::new("/nonexistent"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let inv = std::sync::Arc::new(inv);
    crate::model::add_inventory(&mut cfg, inv.clone());
    let mut table = LeaseTable::new();
    let mut out = String::new();
    for line in scenario.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let req = packet(line);
        let mac = pxe_model::MacAddr(req.chaddr[..6].try_into().unwrap());
        let facts = Facts {
            install_state: inv.machine_by_mac(&mac).map(|m| {
                states
                    .iter()
                    .find(|(n, _)| *n == m.name)
                    .map_or(pxe_model::InstallState::Pending, |(_, s)| *s)
            }),
            ..Facts::default()
        };
        let o = decide(&cfg, &table, &req, &facts, T0);
        for c in o.changes.clone() {
            c.apply_to(&mut table);
        }
        let _ = writeln!(out, "{}", render(&o));
        if let Some(b) = &o.boot {
            let _ = writeln!(out, "    boot event: {} {}", b.machine, b.detail);
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn inventory_machines_boot_from_their_plans() {
    let conf = "authoritative;
        subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.100 10.0.0.110; option routers 10.0.0.1; filename \"from-conf.0\"; next-server 10.0.0.9; }";
    check_inventory(
        conf,
        &[],
        "DISCOVER mac=52:54:00:77:00:10 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,12,43,60,66,67
         REQUEST mac=52:54:00:77:00:10 req=10.0.0.100 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,12,43,60,66,67
         DISCOVER mac=52:54:00:77:00:11 vci=PXEClient:Arch:00007:UNDI:003016 arch=7 prl=1,3,60
         DISCOVER mac=52:54:00:77:00:11 vci=HTTPClient:Arch:00016:UNDI:003001 arch=16 prl=1,3,60
         DISCOVER mac=52:54:00:77:00:12 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,60
         DISCOVER mac=52:54:00:77:00:12 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 uc=iPXE prl=1,3,60,175
         DISCOVER mac=52:54:00:77:00:10 vci=d-i prl=1,3,6
         DISCOVER mac=52:54:00:00:00:99 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,60",
        expect![[r#"
            OFFER yi=10.0.0.100 si=10.0.0.2 file="pxelinux.0" to=link 10.0.0.100 52:54:00:77:00:10
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1 12="bios-vm"
            ACK yi=10.0.0.100 si=10.0.0.2 file="pxelinux.0" to=link 10.0.0.100 52:54:00:77:00:10
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1 12="bios-vm"
                boot event: bios-vm DHCPACK 10.0.0.100 pxelinux.0
            OFFER yi=10.0.0.77 si=10.0.0.2 file="grubnetx64.efi" to=link 10.0.0.77 52:54:00:77:00:11
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1
            OFFER yi=10.0.0.77 si=0.0.0.0 file="http://10.0.0.3:8080/loaders/grubnetx64.efi" to=link 10.0.0.77 52:54:00:77:00:11
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1 60="HTTPClient"
            OFFER yi=10.0.0.101 si=10.0.0.2 file="undionly.kpxe" to=link 10.0.0.101 52:54:00:77:00:12
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1
            OFFER yi=10.0.0.101 si=0.0.0.0 file="http://10.0.0.3:8080/boot/52:54:00:77:00:12.ipxe" to=link 10.0.0.101 52:54:00:77:00:12
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1
            OFFER yi=10.0.0.100 si=10.0.0.9 file="from-conf.0" to=link 10.0.0.100 52:54:00:77:00:10
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1
            OFFER yi=10.0.0.102 si=10.0.0.9 file="from-conf.0" to=link 10.0.0.102 52:54:00:00:00:99
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 3=10.0.0.1
        "#]],
    );
}

/// A machine whose distro ships shim: UEFI x64 PXE clients get the tree's shim from the
/// TFTP server (DHCP cannot tell whether Secure Boot is on; shim boots either way), BIOS
/// clients keep pxelinux.
#[test]
fn uefi_clients_of_a_distro_with_shim_get_its_shim() {
    check_inventory(
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.100 10.0.0.110; }",
        &[],
        "DISCOVER mac=52:54:00:77:00:50 vci=PXEClient:Arch:00007:UNDI:003016 arch=7 prl=1,3,60,66,67
         DISCOVER mac=52:54:00:77:00:50 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3,60,66,67
         DISCOVER mac=52:54:00:77:00:50 vci=HTTPClient:Arch:00016:UNDI:003001 arch=16 prl=1,3,60",
        expect![[r#"
            OFFER yi=10.0.0.100 si=10.0.0.2 file="trees/signed/debian-installer/amd64/bootnetx64.efi" to=link 10.0.0.100 52:54:00:77:00:50
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            OFFER yi=10.0.0.100 si=10.0.0.2 file="pxelinux.0" to=link 10.0.0.100 52:54:00:77:00:50
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            OFFER yi=10.0.0.100 si=0.0.0.0 file="http://10.0.0.3:8080/trees/signed/debian-installer/amd64/bootnetx64.efi" to=link 10.0.0.100 52:54:00:77:00:50
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 60="HTTPClient"
        "#]],
    );
}

#[test]
fn installed_inventory_machines_boot_from_disk() {
    check_inventory(
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.100 10.0.0.110; }",
        &[("bios-vm", pxe_model::InstallState::Installed)],
        "DISCOVER mac=52:54:00:77:00:10 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl=1,3",
        expect![[r#"
            OFFER yi=10.0.0.100 si=10.0.0.2 file="pxelinux.0" to=link 10.0.0.100 52:54:00:77:00:10
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
        "#]],
    );
}

#[test]
fn renewals_use_the_stashed_relay_agent_options() {
    check(
        r#"
        class "port7" { match if option agent.circuit-id = "port7"; option domain-name "port7.test"; }
        subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
        subnet 10.9.0.0 netmask 255.255.255.0 { range 10.9.0.10 10.9.0.20; }
        "#,
        "DISCOVER gi=10.9.0.1 prl=1,15 o82=01:05:70:6f:72:74:37
         REQUEST gi=10.9.0.1 req=10.9.0.10 prl=1,15 o82=01:05:70:6f:72:74:37
         +60
         REQUEST ci=10.9.0.10 prl=1,15",
        expect![[r#"
            OFFER yi=10.9.0.10 si=0.0.0.0 gi=10.9.0.1 to=relay 10.9.0.1
                53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 15="port7.test" 82=01:05:70:6f:72:74:37
            ACK yi=10.9.0.10 si=0.0.0.0 gi=10.9.0.1 to=relay 10.9.0.1
                53=ACK 54=10.0.0.1 51=43200 1=255.255.255.0 15="port7.test" 82=01:05:70:6f:72:74:37
            ACK yi=10.9.0.10 si=0.0.0.0 ci=10.9.0.10 to=unicast 10.9.0.10
                53=ACK 54=10.0.0.1 51=43140 1=255.255.255.0 15="port7.test"
        "#]],
    );
}

/// The hooks of an outcome, one line each: event, lease, argv (or the bad argument).
fn render_hooks(hooks: &[super::Hook]) -> String {
    let mut out = String::new();
    for h in hooks {
        let event = h.event.map_or("-", super::LeaseEvent::name);
        let lease = h.lease.map_or_else(|| "-".to_string(), |ip| ip.to_string());
        let argv = match h.call.argv() {
            Some(argv) => argv
                .iter()
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect::<Vec<_>>()
                .join(" "),
            None => format!(
                "{:?} bad arg {:?}",
                String::from_utf8_lossy(&h.call.program),
                h.call.args
            ),
        };
        let _ = writeln!(out, "    {event} {lease}: {argv}");
    }
    out
}

/// Run `scenario` and return, per packet, the reason and the hooks. A line `EXPIRE` runs
/// the expiry of every lease of the table at the current time.
fn hooks(conf: &str, scenario: &str) -> String {
    let cfg = config(conf);
    let mut table = LeaseTable::new();
    let mut now = T0;
    let mut out = String::new();
    for line in scenario.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(n) = line.strip_prefix('+') {
            now += n.trim().parse::<Time>().unwrap();
            continue;
        }
        if line == "EXPIRE" {
            let expired: Vec<_> = table
                .iter()
                .filter_map(|l| super::expire(&cfg, l, now))
                .collect();
            for e in expired {
                let _ = writeln!(out, "expired {}", e.lease.ip);
                out.push_str(&render_hooks(&e.hooks));
                table.insert(e.lease);
            }
            continue;
        }
        let o = decide(&cfg, &table, &packet(line), &Facts::default(), now);
        for c in o.changes.clone() {
            c.apply_to(&mut table);
        }
        let _ = writeln!(out, "{:?}", o.reason);
        out.push_str(&render_hooks(&o.hooks));
    }
    out
}

const MAAS_EVENTS: &str = "
default-lease-time 600;
max-lease-time 600;
subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
on commit {
    set clhw = binary-to-ascii(16, 8, \":\", substring(hardware, 1, 6));
    set clip = binary-to-ascii(10, 8, \".\", leased-address);
    set cllt = binary-to-ascii(10, 32, \"\", encode-int(lease-time, 32));
    set clht = pick-first-value(option agent.remote-id, option host-name, \"\");
    execute(\"/usr/sbin/maas-dhcp-helper\", \"notify\", \"--action\", \"commit\", \"--mac\", clhw,
            \"--ip-family\", \"ipv4\", \"--ip\", clip, \"--lease-time\", cllt, \"--hostname\", clht);
}
on expiry {
    set clhw = binary-to-ascii(16, 8, \":\", substring(hardware, 1, 6));
    set clip = binary-to-ascii(10, 8, \".\", leased-address);
    execute(\"/usr/sbin/maas-dhcp-helper\", \"notify\", \"--action\", \"expiry\", \"--mac\", clhw,
            \"--ip-family\", \"ipv4\", \"--ip\", clip);
}
on release {
    set clhw = binary-to-ascii(16, 8, \":\", substring(hardware, 1, 6));
    set clip = binary-to-ascii(10, 8, \".\", leased-address);
    execute(\"/usr/sbin/maas-dhcp-helper\", \"notify\", \"--action\", \"release\", \"--mac\", clhw,
            \"--ip-family\", \"ipv4\", \"--ip\", clip);
}";

#[test]
fn maas_notifications_on_commit_release_and_expiry() {
    expect![[r#"
        Offer
        Ack
            commit 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "commit" "--mac" "52:54:0:0:0:1" "--ip-family" "ipv4" "--ip" "10.0.0.10" "--lease-time" "600" "--hostname" "node1"
        Released { found: true }
            release 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "release" "--mac" "52:54:0:0:0:1" "--ip-family" "ipv4" "--ip" "10.0.0.10"
        Offer
        Ack
            commit 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "commit" "--mac" "52:54:0:0:0:1" "--ip-family" "ipv4" "--ip" "10.0.0.10" "--lease-time" "600" "--hostname" ""
        Ack
            commit 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "commit" "--mac" "52:54:0:0:0:1" "--ip-family" "ipv4" "--ip" "10.0.0.10" "--lease-time" "600" "--hostname" ""
        expired 10.0.0.10
            expiry 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "expiry" "--mac" "52:54:0:0:0:1" "--ip-family" "ipv4" "--ip" "10.0.0.10"
        Released { found: true }
    "#]]
    .assert_eq(&hooks(
        MAAS_EVENTS,
        "DISCOVER host=node1
         REQUEST req=10.0.0.10 host=node1
         +10
         RELEASE ci=10.0.0.10
         DISCOVER
         REQUEST req=10.0.0.10
         +400
         REQUEST ci=10.0.0.10
         +599
         EXPIRE
         +1
         EXPIRE
         EXPIRE
         RELEASE ci=10.0.0.10",
    ));
}

#[test]
fn a_declined_lease_runs_its_expiry_handler() {
    // ISC's abandon_lease moves the lease out of `active`: its on-expiry statements run.
    expect![[r#"
        Ack
            commit 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "commit" "--mac" "52:54:0:0:0:1" "--ip-family" "ipv4" "--ip" "10.0.0.10" "--lease-time" "600" "--hostname" ""
        Declined { found: true }
            expiry 10.0.0.10: "/usr/sbin/maas-dhcp-helper" "notify" "--action" "expiry" "--mac" "" "--ip-family" "ipv4" "--ip" "10.0.0.10"
    "#]].assert_eq(&hooks(
        MAAS_EVENTS,
        "REQUEST req=10.0.0.10
         DECLINE req=10.0.0.10
         +700
         EXPIRE",
    ));
}

#[test]
fn commit_variables_stay_with_the_lease() {
    let cfg = config(MAAS_EVENTS);
    let table = LeaseTable::new();
    let o = decide(
        &cfg,
        &table,
        &packet("REQUEST req=10.0.0.10 host=node1"),
        &Facts::default(),
        T0,
    );
    let lease = &o.changes[0].lease;
    let names: Vec<&str> = lease.bindings().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["clht", "cllt", "clip", "clhw"],
        "latest first, as ISC writes them"
    );
    assert!(
        lease.on().commit.is_none(),
        "the commit handler is dropped once run"
    );
    assert!(lease.on().release.is_some() && lease.on().expiry.is_some());
}

#[test]
fn bodiless_on_clears_and_inner_scopes_replace() {
    let conf = "
        subnet 10.0.0.0 netmask 255.255.255.0 {
          range 10.0.0.10 10.0.0.20;
          on commit { execute (\"/bin/subnet\"); }
        }
        on commit { execute (\"/bin/global\"); }
        on release { execute (\"/bin/release\"); }
        class \"quiet\" { match if option host-name = \"quiet\"; on commit or release; }";
    expect![[r#"
        Ack
            commit 10.0.0.10: "/bin/subnet"
        Ack
        Released { found: true }
        Released { found: true }
            release 10.0.0.10: "/bin/release"
    "#]]
    .assert_eq(&hooks(
        conf,
        "REQUEST req=10.0.0.10
         REQUEST req=10.0.0.11 mac=52:54:00:00:00:02 host=quiet
         RELEASE ci=10.0.0.11 mac=52:54:00:00:00:02
         RELEASE ci=10.0.0.10",
    ));
}

#[test]
fn execute_arguments_as_isc_builds_them() {
    let conf = "
        subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
        on commit {
          execute (\"/bin/nul\", 61:62:00:63, \"\", concat (\"host=\", option host-name));
          execute (\"/bin/missing\", \"a\", option host-name, \"c\");
          log (info, \"committed\");
        }";
    expect![[r#"
        Offer
        Ack
            commit 10.0.0.10: "/bin/nul" "ab" "" "host=n1"
            commit 10.0.0.10: "/bin/missing" "a" "n1" "c"
        Ack
            commit 10.0.0.10: "/bin/nul" bad arg Err(3)
            commit 10.0.0.10: "/bin/missing" bad arg Err(2)
    "#]]
    .assert_eq(&hooks(
        conf,
        "DISCOVER host=n1
         REQUEST req=10.0.0.10 host=n1
         REQUEST ci=10.0.0.10",
    ));
}

/// Run `scenario` and return, per packet, its reason and the ping asked for before it.
fn pings(conf: &str, scenario: &str) -> String {
    let cfg = config(conf);
    let mut table = LeaseTable::new();
    let mut now = T0;
    let mut out = String::new();
    for line in scenario.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(n) = line.strip_prefix('+') {
            now += n.trim().parse::<Time>().unwrap();
            continue;
        }
        let o = decide(&cfg, &table, &packet(line), &Facts::default(), now);
        for c in o.changes.clone() {
            c.apply_to(&mut table);
        }
        let ping = o.ping.map_or("no ping".to_owned(), |p| {
            format!(
                "ping {} for {} ms, else abandon {} s",
                p.ip, p.timeout_ms, p.abandon_secs
            )
        });
        let _ = writeln!(out, "{:?}: {ping}", o.reason);
    }
    out
}

#[test]
fn offers_of_new_or_reclaimed_addresses_are_pinged_first() {
    let text = pings(
        BASIC,
        "DISCOVER
         REQUEST req=10.0.0.10
         +10
         RELEASE ci=10.0.0.10
         DISCOVER
         DISCOVER mac=52:54:00:00:00:02
         +120
         DISCOVER",
    );
    // The first offer of .10, and of .11 to :02: pinged; .10 back to its owner 10 s after
    // it released it: not; to that owner again more than 60 s (ping-cltt-secs) later: pinged.
    expect![[r#"
        Offer: ping 10.0.0.10 for 1000 ms, else abandon 86400 s
        Ack: no ping
        Released { found: true }: no ping
        Offer: no ping
        Offer: ping 10.0.0.11 for 1000 ms, else abandon 86400 s
        Offer: ping 10.0.0.10 for 1000 ms, else abandon 86400 s
    "#]]
    .assert_eq(&text);
}

#[test]
fn ping_check_settings_and_fixed_addresses() {
    let conf = |extra: &str| {
        format!(
            "{extra}\nsubnet 10.0.0.0 netmask 255.255.255.0 {{ range 10.0.0.10 10.0.0.20; }}\nhost fixed {{ hardware ethernet 52:54:00:00:00:09; fixed-address 10.0.0.50; }}"
        )
    };
    let scenario = "DISCOVER\nDISCOVER mac=52:54:00:00:00:09";
    let text = [
        "",
        "ping-check false;",
        "ping-timeout 3; abandon-lease-time 600;",
        "ping-timeout 3; ping-timeout-ms 250;",
    ]
    .map(|extra| format!("{extra}\n{}", pings(&conf(extra), scenario)))
    .concat();
    expect![[r#"

        Offer: ping 10.0.0.10 for 1000 ms, else abandon 86400 s
        Offer: no ping
        ping-check false;
        Offer: no ping
        Offer: no ping
        ping-timeout 3; abandon-lease-time 600;
        Offer: ping 10.0.0.10 for 3000 ms, else abandon 600 s
        Offer: no ping
        ping-timeout 3; ping-timeout-ms 250;
        Offer: ping 10.0.0.10 for 250 ms, else abandon 86400 s
        Offer: no ping
    "#]]
    .assert_eq(&text);
}

#[test]
fn get_lease_hostnames_names_the_lease_from_the_shells_lookups() {
    let conf = |extra: &str| {
        format!(
            "get-lease-hostnames true;\nsubnet 10.0.0.0 netmask 255.255.255.0 {{ range 10.0.0.10 10.0.0.20; {extra} }}"
        )
    };
    let mut names = crate::decide::LeaseHostnames::new();
    names.insert(
        Ipv4Addr::new(10, 0, 0, 10),
        Some("alpha.example.test".into()),
    );
    names.insert(Ipv4Addr::new(10, 0, 0, 11), None);
    let facts = Facts {
        lease_hostnames: Some(&names),
        ..Facts::default()
    };
    let mut out = String::new();
    for extra in ["", "option host-name \"configured\";"] {
        let cfg = config(&conf(extra));
        let mut table = LeaseTable::new();
        let _ = writeln!(out, "[{extra}]");
        // .10 has a name, .11 none, .12 is not looked up yet.
        for mac in [
            "52:54:00:00:00:01",
            "52:54:00:00:00:02",
            "52:54:00:00:00:03",
        ] {
            let o = decide(
                &cfg,
                &table,
                &packet(&format!("DISCOVER mac={mac} prl=1,12")),
                &facts,
                T0,
            );
            for c in o.changes.clone() {
                c.apply_to(&mut table);
            }
            let _ = writeln!(out, "{}", render(&o));
            for l in o.log.iter().filter(|l| l.starts_with("No hostname")) {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    expect![[r#"
        []
        OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
            53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="alpha.example.test\0"
        OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
            53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
            No hostname for 10.0.0.11
        OFFER yi=10.0.0.12 si=0.0.0.0 to=link 10.0.0.12 52:54:00:00:00:03
            53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0
        [option host-name "configured";]
        OFFER yi=10.0.0.10 si=0.0.0.0 to=link 10.0.0.10 52:54:00:00:00:01
            53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="configured"
        OFFER yi=10.0.0.11 si=0.0.0.0 to=link 10.0.0.11 52:54:00:00:00:02
            53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="configured"
        OFFER yi=10.0.0.12 si=0.0.0.0 to=link 10.0.0.12 52:54:00:00:00:03
            53=OFFER 54=10.0.0.1 51=43200 1=255.255.255.0 12="configured"
    "#]]
    .assert_eq(&out);
}

/// A failover pair's configuration for one side (`primary` or `secondary`).
fn failover_conf(role: &str) -> String {
    format!(
        "failover peer \"pair\" {{
  {role};
  address 10.0.0.1; port 647; peer address 10.0.0.2; peer port 647;
  max-response-delay 60; max-unacked-updates 10; load balance max seconds 3;
  mclt 3600; split 128;
}}
subnet 10.0.0.0 netmask 255.255.255.0 {{
  pool {{ failover peer \"pair\"; range 10.0.0.10 10.0.0.20; }}
}}"
    )
}

/// The addresses four new clients are offered, one after another (each takes its offer).
fn offers(cfg: &Config) -> Vec<String> {
    let mut table = LeaseTable::new();
    let mut out = Vec::new();
    for n in 1..=4 {
        let mac = format!("52:54:00:00:00:{n:02x}");
        let offer = decide(
            cfg,
            &table,
            &packet(&format!("DISCOVER mac={mac}")),
            &Facts::default(),
            T0,
        );
        let yi = offer
            .reply
            .map(|r| r.yiaddr.to_string())
            .unwrap_or_default();
        let request = packet(&format!("REQUEST mac={mac} req={yi}"));
        let ack = decide(cfg, &table, &request, &Facts::default(), T0);
        for c in ack.changes {
            c.apply_to(&mut table);
        }
        out.push(yi);
    }
    out
}

#[test]
fn failover_peers_with_their_own_files_allocate_their_halves_and_share_a_database_whole() {
    let primary = config(&failover_conf("primary"));
    let secondary = config(&failover_conf("secondary"));
    assert_eq!(
        offers(&primary),
        ["10.0.0.10", "10.0.0.12", "10.0.0.14", "10.0.0.16"]
    );
    assert_eq!(
        offers(&secondary),
        ["10.0.0.11", "10.0.0.13", "10.0.0.15", "10.0.0.17"]
    );
    // A client asking the secondary for one of the primary's free addresses is not given it.
    let asked = decide(
        &secondary,
        &LeaseTable::new(),
        &packet("DISCOVER req=10.0.0.12"),
        &Facts::default(),
        T0,
    );
    assert_eq!(
        asked.reply.map(|r| r.yiaddr.to_string()).as_deref(),
        Some("10.0.0.11")
    );
    // Sharing a lease database, the peers share the pool.
    let mut shared = config(&failover_conf("secondary"));
    shared.shared_leases = true;
    assert_eq!(
        offers(&shared),
        ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"]
    );
}

/// The address a DISCOVER from `mac` is offered, with the pool contended or not, the offered
/// lease then entered into `table`.
fn offered(cfg: &Config, table: &mut LeaseTable, mac: &str, contended: bool) -> Ipv4Addr {
    let facts = Facts {
        contended,
        ..Facts::default()
    };
    let o = decide(
        cfg,
        table,
        &packet(&format!("DISCOVER mac={mac}")),
        &facts,
        T0,
    );
    for c in o.changes.clone() {
        c.apply_to(table);
    }
    o.reply.expect("an offer").yiaddr
}

#[test]
fn a_contended_pool_spreads_new_clients_from_their_own_points_and_an_uncontended_one_does_not() {
    let cfg = config("subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.250; }");
    let (low, high) = (Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 250));
    let macs: Vec<String> = (1..=8).map(|i| format!("52:54:00:00:00:{i:02x}")).collect();
    let chaddr = |mac: &str| packet(&format!("DISCOVER mac={mac}")).chaddr;
    // Alone on the pool: ISC's order, first free address first.
    let mut table = LeaseTable::new();
    let alone: Vec<Ipv4Addr> = macs
        .iter()
        .map(|m| offered(&cfg, &mut table, m, false))
        .collect();
    let in_order: Vec<Ipv4Addr> = (10..18).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    assert_eq!(alone, in_order);
    // Contended: each client at its own point of the range.
    let mut table = LeaseTable::new();
    for m in &macs {
        let got = offered(&cfg, &mut table, m, true);
        assert_eq!(got, spread_point(&chaddr(m), low, high), "{m}");
    }
    let points: std::collections::BTreeSet<Ipv4Addr> = macs
        .iter()
        .map(|m| spread_point(&chaddr(m), low, high))
        .collect();
    assert!(points.len() >= 7, "8 clients share points: {points:?}");
    assert!(points.iter().all(|p| (low..=high).contains(p)));
}

#[test]
fn on_a_contended_pool_a_taken_point_moves_on_and_wraps_to_the_range_start() {
    let cfg = config("subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.12; }");
    let (low, high) = (Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 12));
    // Two clients whose point is the range's last address.
    let at_the_end: Vec<String> = (0..=255)
        .map(|i| format!("52:54:00:00:01:{i:02x}"))
        .filter(|m| spread_point(&packet(&format!("DISCOVER mac={m}")).chaddr, low, high) == high)
        .take(2)
        .collect();
    let [first, second] = at_the_end.as_slice() else {
        panic!("no two clients with the last point: {at_the_end:?}");
    };
    let mut table = LeaseTable::new();
    assert_eq!(offered(&cfg, &mut table, first, true), high);
    assert_eq!(offered(&cfg, &mut table, second, true), low, "wraps round");
}
