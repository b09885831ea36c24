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
