//! Property test: the lexer and parser never panic, whatever the bytes.

use proptest::prelude::*;

fn parse(bytes: &[u8]) -> bool {
    let loader = |_: &str| Err(std::io::ErrorKind::NotFound.into());
    let loaded = dhcpd::conf::parse_str(
        "p.conf",
        bytes,
        dhcpd::conf::ParseOptions::default(),
        &loader,
    );
    loaded.is_ok() || loaded.first_error_line().is_some()
}

proptest! {
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(parse(&bytes));
    }

    #[test]
    fn config_like_tokens(words in proptest::collection::vec(prop::sample::select(vec![
        "subnet", "10.0.0.0", "netmask", "255.255.255.0", "{", "}", ";", "option", "routers", "if", "else",
        "elsif", "=", "00:07", "\"x\"", "class", "match", "substring", "(", ")", ",", "host", "pool", "range",
        "code", "93", "unsigned", "integer", "16", "switch", "case", ":", "default", "include", "not", "and",
        "or", "exists", "array", "of", "encapsulate", "space", "#", "\n", "\u{201c}", "\u{ff1b}",
    ]), 0..80)) {
        let text = words.join(" ");
        prop_assert!(parse(text.as_bytes()));
    }
}

fn parse_leases(bytes: &[u8]) -> bool {
    let f = dhcpd::lease::parse::parse("p.leases", bytes);
    // Whatever it kept can be written and read back.
    let mut text = dhcpd::lease::write::header();
    for l in f.table().iter() {
        text.push_str(&dhcpd::lease::write::lease(l));
    }
    let again = dhcpd::lease::parse::parse("again", text.as_bytes());
    again.is_clean() && again.table().len() == f.table().len()
}

proptest! {
    #[test]
    fn lease_file_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(parse_leases(&bytes));
    }

    #[test]
    fn lease_file_like_tokens(words in proptest::collection::vec(prop::sample::select(vec![
        "lease", "10.0.0.1", "10.0.0.2", "{", "}", ";", "starts", "ends", "cltt", "tstp", "never",
        "epoch", "1700000000", "3", "2024/01/17", "10:00:00", "2038/01/01", "binding", "state",
        "next", "rewind", "active", "free", "abandoned", "backup", "bootp", "hardware", "ethernet",
        "52:54:00:12:34:56", "uid", "\"\\001RT\"", "01:02", "set", "x", "=", "%3", "true", "\"v\"",
        "client-hostname", "option", "agent.circuit-id", "agent.remote-id", "server-duid",
        "authoring-byte-order", "little-endian", "host", "class", "failover", "on", "expiry", "#", "\n",
    ]), 0..80)) {
        let text = words.join(" ");
        prop_assert!(parse_leases(text.as_bytes()));
    }
}
