//! Properties of the decision core over arbitrary requests: it never panics; after every ACK
//! and BOOTREPLY the leases marked for the disk hold that client's active lease (a lease
//! re-used under `dhcp-cache-threshold` was put on disk by an earlier ACK); every address
//! handed out lies in a range or is a host's fixed address; a server message is never
//! answered.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::Ipv4Addr;

use dhcpd::decide::{Facts, Reason, decide};
use dhcpd::lease::{LeaseTable, Time};
use dhcpd::model::{Config, compile, no_dns};
use dhcpd::request::{RecvMeta, Request};
use proptest::prelude::*;

const CONF: &str = r#"
option space PXE;
option PXE.discovery-control code 6 = unsigned integer 8;
option space ipxe;
option ipxe-encap-opts code 175 = encapsulate ipxe;
option ipxe.no-pxedhcp code 176 = unsigned integer 8;
option ipxe.no-pxedhcp 1;
authoritative;
class "pxe" {
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  next-server 10.0.0.5; vendor-option-space PXE; option PXE.discovery-control 3;
  if exists user-class and option user-class = "iPXE" { filename "http://x/boot.ipxe"; } else { filename "pxelinux.0"; }
}
class "spawned" { spawn with option dhcp-client-identifier; lease limit 2; }
class "vendor" { match option vendor-class-identifier; }
subclass "vendor" "d-i" { option domain-name-servers 10.0.0.1; }
shared-network lab {
  subnet 10.0.0.0 netmask 255.255.255.0 {
    option routers 10.0.0.1;
    range 10.0.0.10 10.0.0.14;
    range dynamic-bootp 10.0.0.100 10.0.0.101;
    option dhcp-renewal-time 100;
  }
  subnet 10.0.1.0 netmask 255.255.255.0 {
    pool { deny unknown-clients; range 10.0.1.10 10.0.1.12; }
  }
}
subnet 10.9.0.0 netmask 255.255.255.0 { range 10.9.0.10 10.9.0.11; echo-client-id true; }
host fixed { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.50, 10.9.0.50; }
host dyn { hardware ethernet 52:54:00:00:00:02; option host-name "dyn"; }
"#;

fn config() -> Config {
    let loaded = dhcpd::conf::parse_str(
        "p.conf",
        CONF.as_bytes(),
        dhcpd::conf::ParseOptions::default(),
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    );
    assert!(loaded.is_ok(), "{:?}", loaded.output);
    compile(&loaded.config, &no_dns).unwrap().0
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        Just(Ipv4Addr::UNSPECIFIED),
        (0u8..3, 0u8..2, 0u8..120).prop_map(|(a, b, c)| Ipv4Addr::new(
            10,
            [0, 9, 7][a as usize],
            b,
            c
        )),
        any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

fn option() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        (Just(50u8), addr().prop_map(|a| a.octets().to_vec())),
        (Just(54u8), addr().prop_map(|a| a.octets().to_vec())),
        (
            Just(51u8),
            any::<u32>().prop_map(|t| t.to_be_bytes().to_vec())
        ),
        (Just(55u8), proptest::collection::vec(any::<u8>(), 0..20)),
        (
            Just(57u8),
            any::<u16>().prop_map(|t| t.to_be_bytes().to_vec())
        ),
        (
            Just(60u8),
            prop_oneof![
                Just(b"PXEClient:Arch:00007".to_vec()),
                Just(b"d-i".to_vec()),
                Just(b"HTTPClient".to_vec())
            ]
        ),
        (Just(61u8), proptest::collection::vec(any::<u8>(), 0..4)),
        (
            Just(77u8),
            prop_oneof![Just(b"iPXE".to_vec()), Just(vec![])]
        ),
        (Just(82u8), proptest::collection::vec(any::<u8>(), 0..12)),
        (Just(118u8), proptest::collection::vec(any::<u8>(), 0..6)),
        (Just(175u8), proptest::collection::vec(any::<u8>(), 0..6)),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..8)),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        (0u8..12, 0u8..4, any::<u16>(), addr(), addr()),
        proptest::collection::vec(option(), 0..8),
        (any::<bool>(), 0u8..3, any::<u8>()),
    )
        .prop_map(|((t, mac, flags, ci, gi), opts, (valid, hlen, op))| {
            let mut r = Request {
                op: if op < 250 { 1 } else { op },
                hlen: [6, 16, 17][hlen as usize],
                flags,
                ciaddr: ci,
                giaddr: gi,
                options_valid: valid,
                meta: RecvMeta {
                    iface: "eth1".into(),
                    iface_addrs: vec![Ipv4Addr::new(10, 0, 0, 1)],
                    src: ci,
                },
                ..Request::default()
            };
            r.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, mac]);
            if t > 0 {
                r.options.push((53, vec![t]));
            }
            for (c, d) in opts {
                if c != 53 && !r.options.iter().any(|(x, _)| *x == c) {
                    r.options.push((c, d));
                }
            }
            r
        })
}

fn handed_out_ok(cfg: &Config, ip: Ipv4Addr) -> bool {
    ip.is_unspecified()
        || cfg.pool_of(ip).is_some()
        || cfg.hosts.iter().any(|h| h.fixed.contains(&ip))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sequences_of_requests(reqs in proptest::collection::vec(request(), 1..25), step in 0i64..400) {
        let cfg = config();
        let mut table = LeaseTable::new();
        let mut durable = LeaseTable::new();
        let mut now: Time = 1_700_000_000;
        for req in &reqs {
            let o = decide(&cfg, &table, req, &Facts::default(), now);
            durable.apply(o.changes.iter().filter(|c| c.persist).map(|c| &c.lease));
            if let Some(r) = &o.reply {
                prop_assert!(handed_out_ok(&cfg, r.yiaddr), "{:?} handed out {}", o.reason, r.yiaddr);
                if matches!(o.reason, Reason::Ack | Reason::BootReply) && cfg.pool_of(r.yiaddr).is_some() {
                    let on_disk = durable.get(r.yiaddr);
                    prop_assert!(
                        on_disk.is_some_and(|l| l.state_at(now) == dhcpd::lease::BindingState::Active
                            && l.hardware.as_ref() == Some(&req.hardware())),
                        "ACK of {} not on disk: {:?}", r.yiaddr, on_disk
                    );
                }
                prop_assert!(r.options.len() < 64);
            }
            if matches!(req.msg_type(), Some(2 | 5 | 6)) {
                prop_assert!(o.reply.is_none());
            }
            for c in o.changes {
                c.apply_to(&mut table);
            }
            now += step;
        }
    }
}

fn bytes_with_header() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(any::<u8>(), 236..237),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        1u8..9,
    )
        .prop_map(|(mut head, cookie, tail, t)| {
            head[0] = 1;
            head[2] %= 20;
            if cookie {
                head.extend_from_slice(&dhcpd::wire::MAGIC);
                head.extend_from_slice(&[53, 1, t]);
            }
            head.extend_from_slice(&tail);
            head
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let cfg = config();
        let _ = dhcpd::wire::handle_bytes(&cfg, &LeaseTable::new(), &bytes, RecvMeta::default(), 1_700_000_000);
    }

    #[test]
    fn packets_with_a_header_never_panic_and_replies_read_back(bytes in bytes_with_header()) {
        let cfg = config();
        let meta = RecvMeta { iface: "eth1".into(), iface_addrs: vec![Ipv4Addr::new(10, 0, 0, 1)], src: Ipv4Addr::UNSPECIFIED };
        if let Ok(o) = dhcpd::wire::handle_bytes(&cfg, &LeaseTable::new(), &bytes, meta, 1_700_000_000)
            && let Some(r) = &o.reply
        {
            let out = dhcpd::wire::encode(r);
            prop_assert!(out.len() >= dhcpd::wire::BOOTP_MIN_LEN);
            let back = dhcpd::wire::parse(&out, RecvMeta::default());
            prop_assert!(back.is_ok(), "our reply does not parse: {back:?}");
            let back = back.unwrap();
            prop_assert_eq!(back.op, 2);
            prop_assert_eq!(back.yiaddr, r.yiaddr);
            prop_assert_eq!(back.msg_type(), r.msg_type());
        }
    }
}
