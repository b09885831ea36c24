//! dhcpd's packet path on arbitrary bytes: decode, then the pure decision, then the
//! reply's encoding (read-only use of the dhcpd crate, through `wire::handle_bytes`).
//!
//! The configuration is a PXE network with classes, an iPXE branch, a BOOTP range, a pool
//! denying unknown clients, a relayed subnet and a fixed host, so that decoded packets
//! reach most of `decide`. Whatever the bytes, the result is a `Malformed` error or an
//! outcome, never a panic, and a reply encodes to a full BOOTP message.

#![no_main]

use dhcpd::lease::LeaseTable;
use dhcpd::model::{Config, compile, no_dns};
use dhcpd::request::RecvMeta;
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

const CONF: &str = r#"
option space ipxe;
option ipxe-encap-opts code 175 = encapsulate ipxe;
option ipxe.no-pxedhcp code 176 = unsigned integer 8;
option arch code 93 = unsigned integer 16;
authoritative;
option domain-name-servers 10.0.0.1;
class "pxe" {
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  next-server 10.0.0.5;
  if exists user-class and option user-class = "iPXE" {
    filename "http://10.0.0.6/boot.ipxe";
  } elsif option arch = 00:07 {
    filename "grubx64.efi";
  } else {
    filename "pxelinux.0";
  }
}
subnet 10.0.0.0 netmask 255.255.255.0 {
  option routers 10.0.0.1;
  range 10.0.0.10 10.0.0.20;
  range dynamic-bootp 10.0.0.100 10.0.0.101;
}
subnet 10.5.0.0 netmask 255.255.255.0 {
  pool { deny unknown-clients; range 10.5.0.10 10.5.0.12; }
}
host fixed { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.50; }
"#;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let loaded = dhcpd::conf::parse_str(
            "fuzz.conf",
            CONF.as_bytes(),
            dhcpd::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        assert!(loaded.is_ok(), "the fuzz target's own configuration must load");
        match compile(&loaded.config, &no_dns) {
            Ok((config, _)) => config,
            Err(_) => panic!("the fuzz target's own configuration must compile"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let meta = RecvMeta {
        iface: "eth1".into(),
        iface_addrs: vec![Ipv4Addr::new(10, 0, 0, 1)],
        src: Ipv4Addr::UNSPECIFIED,
    };
    let table = LeaseTable::new();
    if let Ok(outcome) = dhcpd::wire::handle_bytes(config(), &table, data, meta, 1_700_000_000) {
        if let Some(reply) = &outcome.reply {
            let bytes = dhcpd::wire::encode(reply);
            assert!(bytes.len() >= 240, "a reply shorter than a BOOTP header");
            assert_eq!(bytes[0], 2, "a reply that is not a BOOTREPLY");
        }
    }
});
