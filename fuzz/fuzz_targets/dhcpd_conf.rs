//! dhcpd's ISC `dhcpd.conf` parser on arbitrary bytes (read-only use of the dhcpd crate).
//!
//! The whole input is the file, parsed in DHCPv4 mode, and in v6 mode too when it starts with
//! `6` (so the dhcpd test fixtures work as seeds unchanged). `include` statements read a
//! small fixed file or fail as a missing one, so includes (and include loops) are exercised
//! without touching the disk. Whatever the input, parsing ends with a result, never a panic,
//! and every error it reports can be printed.

#![no_main]

use dhcpd::conf::{self, ParseOptions};
use libfuzzer_sys::fuzz_target;

fn loader(path: &str) -> std::io::Result<Vec<u8>> {
    match path {
        "hosts.conf" => Ok(b"host h1 { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.9; }\n".to_vec()),
        "self.conf" => Ok(b"include \"self.conf\";\n".to_vec()),
        _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    }
}

fuzz_target!(|data: &[u8]| {
    let modes: &[bool] = if data.first() == Some(&b'6') {
        &[false, true]
    } else {
        &[false]
    };
    for &v6 in modes {
        let loaded = conf::parse_str("fuzz.conf", data, ParseOptions { v6 }, &loader);
        let _ = loaded.is_ok();
        let _ = loaded.first_error_line();
        let _ = loaded.unsupported_warnings();
        for e in loaded.errors() {
            let _ = e.headline();
            let _ = e.render(true);
        }
    }
});
