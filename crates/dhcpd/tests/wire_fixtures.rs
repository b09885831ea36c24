//! Requests captured from real clients (`tests/fixtures/packets/`) go through the whole pure
//! path: bytes in, decision, reply bytes out, and the reply reads back.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::Ipv4Addr;
use std::path::PathBuf;

use dhcpd::decide::Reason;
use dhcpd::lease::LeaseTable;
use dhcpd::request::RecvMeta;

fn packet(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/packets")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let hex: String = text.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn config() -> dhcpd::model::Config {
    let text = r#"
authoritative;
class "pxe" { match if substring (option vendor-class-identifier, 0, 9) = "PXEClient"; next-server 10.199.7.5; filename "pxelinux.0"; }
subnet 10.199.7.0 netmask 255.255.255.0 { range 10.199.7.200 10.199.7.220; option routers 10.199.7.1; option domain-name "lab.test"; }
subnet 10.199.8.0 netmask 255.255.255.0 { range 10.199.8.10 10.199.8.20; }
"#;
    let loaded = dhcpd::conf::parse_str(
        "f.conf",
        text.as_bytes(),
        dhcpd::conf::ParseOptions::default(),
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    );
    assert!(loaded.is_ok(), "{:?}", loaded.output);
    dhcpd::model::compile(&loaded.config, &dhcpd::model::no_dns)
        .unwrap()
        .0
}

fn meta() -> RecvMeta {
    RecvMeta {
        iface: "eth1".into(),
        iface_addrs: vec![Ipv4Addr::new(10, 199, 7, 1)],
        src: Ipv4Addr::UNSPECIFIED,
    }
}

/// Run a captured DISCOVER and REQUEST; return the OFFER's and the ACK's rendered summary.
fn dora(discover: &str, request: &str) -> (String, String) {
    let cfg = config();
    let mut table = LeaseTable::new();
    let now = 1_700_000_000;
    let mut out = Vec::new();
    for name in [discover, request] {
        let bytes = packet(name);
        let o = dhcpd::wire::handle_bytes(&cfg, &table, &bytes, meta(), now).unwrap();
        table.apply(o.changes.iter().map(|c| &c.lease));
        let r = o
            .reply
            .unwrap_or_else(|| panic!("{name}: no reply ({:?})", o.reason));
        let bytes = dhcpd::wire::encode(&r);
        let back = dhcpd::wire::parse(&bytes, RecvMeta::default()).unwrap();
        assert_eq!(back.op, 2);
        assert_eq!(back.xid, r.xid);
        out.push(format!(
            "{:?} {} si={} gi={} file={:?}",
            o.reason,
            back.yiaddr,
            back.siaddr,
            back.giaddr,
            r.file_text()
        ));
    }
    (out[0].clone(), out[1].clone())
}

#[test]
fn dhclient() {
    // The captured REQUEST asks for the address the capture's server offered (.210): free
    // and in range, so it is ACKed, as ISC does.
    let (offer, ack) = dora("dhclient-discover.hex", "dhclient-request.hex");
    assert_eq!(offer, "Offer 10.199.7.200 si=0.0.0.0 gi=0.0.0.0 file=\"\"");
    assert_eq!(ack, "Ack 10.199.7.210 si=0.0.0.0 gi=0.0.0.0 file=\"\"");
}

#[test]
fn udhcpc_as_a_pxe_client() {
    let req = dhcpd::wire::parse(&packet("udhcpc-pxe-discover.hex"), meta()).unwrap();
    assert_eq!(
        req.option(60),
        Some(&b"PXEClient:Arch:00000:UNDI:002001"[..])
    );
    let (offer, ack) = dora("udhcpc-pxe-discover.hex", "udhcpc-pxe-request.hex");
    assert_eq!(
        offer,
        "Offer 10.199.7.200 si=10.199.7.5 gi=0.0.0.0 file=\"pxelinux.0\""
    );
    assert_eq!(
        ack,
        "Ack 10.199.7.210 si=10.199.7.5 gi=0.0.0.0 file=\"pxelinux.0\""
    );
}

#[test]
fn perfdhcp_through_a_relay() {
    let (offer, ack) = dora(
        "perfdhcp-relayed-discover.hex",
        "perfdhcp-relayed-request.hex",
    );
    assert_eq!(
        offer,
        "Offer 10.199.8.10 si=0.0.0.0 gi=10.199.8.1 file=\"\""
    );
    assert_eq!(ack, "Ack 10.199.8.10 si=0.0.0.0 gi=10.199.8.1 file=\"\"");
}

#[test]
fn every_fixture_parses() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packets");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "hex") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let req = dhcpd::wire::parse(&packet(&name), meta()).unwrap();
            assert!(matches!(req.msg_type(), Some(1 | 3)), "{name}");
            assert!(!matches!(
                dhcpd::decide::decide(
                    &config(),
                    &LeaseTable::new(),
                    &req,
                    &dhcpd::decide::Facts::default(),
                    1_700_000_000
                )
                .reason,
                Reason::Ignored(dhcpd::decide::Ignore::UnknownNetwork)
            ));
            n += 1;
        }
    }
    assert_eq!(n, 6);
}
