//! Helpers shared by the integration tests: fixture paths, EXPECTED.tsv, our verdicts.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::path::PathBuf;

/// `tests/fixtures/conf`.
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conf")
}

/// file -> (accepts, first error line or "").
pub(crate) fn expected() -> BTreeMap<String, (bool, String)> {
    let text = std::fs::read_to_string(fixtures_dir().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let file = f.next().unwrap_or_default().to_string();
            let verdict = f.next().unwrap_or_default();
            assert!(
                verdict == "accepts" || verdict == "rejects",
                "bad verdict in line {l:?}"
            );
            let first = f.next().unwrap_or_default().to_string();
            (file, (verdict == "accepts", first))
        })
        .collect()
}

/// Parse a fixture in-process, includes relative to the fixtures directory (as ISC run there).
pub(crate) fn ours(file: &str) -> (bool, String) {
    let dir = fixtures_dir();
    let bytes = std::fs::read(dir.join(file)).expect("fixture readable");
    let loader = |p: &str| std::fs::read(dir.join(p));
    let loaded =
        dhcpd::conf::parse_str(file, &bytes, dhcpd::conf::ParseOptions::default(), &loader);
    (
        loaded.is_ok(),
        loaded.first_error_line().unwrap_or_default(),
    )
}

/// ISC's dhcpd binary, or a failure naming the package.
pub(crate) fn isc_dhcpd() -> PathBuf {
    for p in ["/usr/sbin/dhcpd", "/sbin/dhcpd"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "ISC dhcpd not found: install the Debian package isc-dhcp-server (listed in xtask/packages.txt)"
    );
}

/// The error block of a `-t` run: lines after the 4 banner lines up to the closing line,
/// with our ` column N` caret suffix removed.
pub(crate) fn error_block(stderr: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in stderr.split(|b| *b == b'\n').skip(4) {
        if line.starts_with(b"Configuration file errors encountered")
            || line.starts_with(b"Config file:")
        {
            break;
        }
        let mut l = line.to_vec();
        if let Some(pos) = l.windows(8).position(|w| w == b"^ column") {
            l.truncate(pos + 1);
        }
        out.push(l);
    }
    out
}
