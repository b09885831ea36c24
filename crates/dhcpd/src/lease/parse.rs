//! Reading `dhcpd.leases`: [`parse`] gives every lease declaration in file order plus ISC's
//! error output; [`load`] reads a file from disk. The grammar is in `syntax`, on the lexer and
//! parser helpers of `dhcpd.conf` (ISC reads both with one lexer).

use std::path::Path;

pub use super::syntax::LeaseFile;

use super::LeaseTable;

/// Parse the text of a lease file; `name` is used in error messages.
pub fn parse(name: &str, text: &[u8]) -> LeaseFile {
    super::syntax::parse(name, text)
}

/// Read and parse the lease file at `path`.
pub fn load(path: &Path) -> std::io::Result<LeaseFile> {
    let bytes = std::fs::read(path)?;
    Ok(parse(&path.display().to_string(), &bytes))
}

/// Where an unterminated last record starts, if the file ends in one (a crash in the middle
/// of an append): the offset to cut the file at, after the last whole declaration.
///
/// After the header, the journal holds only whole `lease … { … }` blocks, each closing with a
/// `}` line, and `;`-terminated statements. So whatever follows the last `}` line is torn when
/// it opens a block or does not end in `;`.
pub fn torn_tail(text: &[u8]) -> Option<usize> {
    let mut whole_end = 0;
    let mut line_start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            if text[line_start..i].trim_ascii_end() == b"}" {
                whole_end = i + 1;
            }
            line_start = i + 1;
        }
    }
    if text[line_start..].trim_ascii_end() == b"}" {
        whole_end = text.len();
    }
    let tail = &text[whole_end..];
    let trimmed = tail.trim_ascii();
    // Comments (the header's) are whole by themselves.
    let statements: Vec<&[u8]> = trimmed
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii_start().starts_with(b"#"))
        .collect();
    let body: Vec<u8> = statements.join(&b'\n');
    let body = body.trim_ascii();
    if body.is_empty() || (!body.contains(&b'{') && body.ends_with(b";")) {
        return None;
    }
    // Cut at the start of the line that opens the torn block, or of the torn last line.
    let mut cut = whole_end;
    let mut at = whole_end;
    for line in tail.split_inclusive(|&b| b == b'\n') {
        let l = line.trim_ascii();
        if l.contains(&b'{') {
            return Some(at);
        }
        if !l.is_empty() && !l.starts_with(b"#") && !l.ends_with(b";") {
            return Some(at);
        }
        at += line.len();
        cut = at;
    }
    Some(cut)
}

impl LeaseFile {
    /// The leases as a table (the last declaration of an address wins).
    pub fn table(&self) -> LeaseTable {
        LeaseTable::from_leases(self.leases.iter().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::Output;
    use crate::lease::time::from_civil;
    use crate::lease::{BindingState, BindingValue, Hardware, MAX_TIME};
    use std::net::Ipv4Addr;

    const ISC_WRITTEN: &str = r#"# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3-P1

# authoring-byte-order entry is generated, DO NOT DELETE
authoring-byte-order little-endian;

server-duid "\000\001\000\0012\224\324^\2568\011eZ\257";

lease 10.199.7.10 {
  starts 6 2026/11/21 22:14:58;
  ends 6 2026/11/21 22:24:58;
  cltt 6 2026/11/21 22:14:58;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 06:a4:15:cb:d0:56;
  uid "\001\006\244\025\313\320V";
  set vendor-class-identifier = "PXEClient:Arch:00000:UNDI:002001";
  client-hostname "vm";
}
lease 10.199.7.10 {
  starts 6 2026/11/21 22:14:58;
  ends 6 2026/11/21 22:15:00;
  tstp 6 2026/11/21 22:15:00;
  cltt 6 2026/11/21 22:14:58;
  binding state free;
  hardware ethernet 06:a4:15:cb:d0:56;
}
"#;

    #[test]
    fn reads_an_isc_written_file() {
        let f = parse("dhcpd.leases", ISC_WRITTEN.as_bytes());
        assert!(f.is_clean(), "{:?}", f.output);
        assert_eq!(f.byte_order.as_deref(), Some("little-endian"));
        assert_eq!(
            f.server_duid.as_deref().map(|d| d.len()),
            Some(14),
            "octal escapes decoded"
        );
        assert_eq!(f.leases.len(), 2);
        let first = &f.leases[0];
        assert_eq!(first.ip, Ipv4Addr::new(10, 199, 7, 10));
        assert_eq!(first.starts, from_civil(2026, 11, 21, 22, 14, 58));
        assert_eq!(first.ends, from_civil(2026, 11, 21, 22, 24, 58));
        assert_eq!(first.tstp, first.ends, "no tstp: ISC takes ends");
        assert_eq!(
            (first.state, first.next_state, first.rewind_state),
            (BindingState::Active, BindingState::Free, BindingState::Free)
        );
        assert_eq!(
            first.hardware,
            Some(Hardware::ethernet([6, 0xa4, 0x15, 0xcb, 0xd0, 0x56]))
        );
        assert_eq!(
            first.uid.as_deref(),
            Some(&[1u8, 6, 0xa4, 0x15, 0xcb, 0xd0, b'V'][..])
        );
        assert_eq!(
            first.bindings(),
            vec![(
                "vendor-class-identifier".to_string(),
                BindingValue::Data(b"PXEClient:Arch:00000:UNDI:002001".to_vec())
            )]
        );
        assert_eq!(first.client_hostname.as_deref(), Some(&b"vm"[..]));
        let t = f.table();
        assert_eq!(t.len(), 1);
        let last = t.get(Ipv4Addr::new(10, 199, 7, 10)).expect("lease");
        assert_eq!(last.state, BindingState::Free, "the last entry wins");
        assert_eq!(last.tstp, from_civil(2026, 11, 21, 22, 15, 0));
    }

    #[test]
    fn special_forms() {
        let text = b"lease 10.0.0.1 { starts 1 2024/01/01 00:00:00; ends never; abandoned; uid 01:02:0a; set a = %42; set b = true; set c = 0a:0b; set a = %43; }\n\
            lease 10.0.0.2 { ends epoch 1700000000; dynamic-bootp; reserved; binding state bootp; option agent.circuit-id \"eth0\"; option agent.remote-id 1:2:3; }\n";
        let f = parse("l", text);
        assert!(f.is_clean(), "{:?}", f.output);
        let a = &f.leases[0];
        assert_eq!(a.ends, MAX_TIME);
        assert_eq!(a.state, BindingState::Abandoned);
        assert_eq!(a.uid.as_deref(), Some(&[1u8, 2, 10][..]));
        assert_eq!(
            a.bindings(),
            vec![
                ("c".to_string(), BindingValue::Data(vec![10, 11])),
                ("b".to_string(), BindingValue::Bool(true)),
                ("a".to_string(), BindingValue::Number(43)),
            ]
        );
        let b = &f.leases[1];
        assert_eq!(b.ends, 1_700_000_000);
        assert!(b.bootp && b.reserved);
        assert_eq!(b.state, BindingState::Active);
        assert_eq!(
            b.agent_options(),
            vec![(1, b"eth0".to_vec()), (2, vec![1, 2, 3])]
        );
    }

    #[test]
    fn torn_tails() {
        let whole = "# header\nauthoring-byte-order little-endian;\n\nlease 10.0.0.1 {\n  starts 1 2026/01/01 00:00:00;\n  binding state active;\n}\n";
        assert_eq!(torn_tail(whole.as_bytes()), None);
        assert_eq!(torn_tail(whole.trim_end().as_bytes()), None);
        assert_eq!(torn_tail(b""), None);
        assert_eq!(torn_tail(b"# only a header\nserver-duid \"x\";\n"), None);
        for tail in [
            "lease 10.0.0.2 {\n  starts 1 2026/01/01 00:00:00;\n  binding state act",
            "lease 10.0.0.2 {\n  starts 1 2026/01/01 00:00:00;\n",
            "lease 10.0.0.2 {",
            "lease 10.0",
            "l",
        ] {
            let text = format!("{whole}{tail}");
            assert_eq!(torn_tail(text.as_bytes()), Some(whole.len()), "{tail:?}");
        }
        // A torn first record, right after the header.
        let header = "# header\nauthoring-byte-order little-endian;\n";
        let text = format!("{header}lease 10.0.0.2 {{\n  starts 1");
        assert_eq!(torn_tail(text.as_bytes()), Some(header.len()));
    }

    fn errors(f: &LeaseFile) -> Vec<String> {
        f.output
            .iter()
            .map(|o| match o {
                Output::Error(d) => d.headline(),
                Output::Log(l) => l.clone(),
            })
            .collect()
    }

    #[test]
    fn errors_read_like_iscs() {
        // Each case was run through ISC dhcpd 4.4.3 -T; these are its first lines.
        let f = parse(
            "bad.leases",
            b"lease 10.199.0.10 {\n  starts 3 2024/01/17 10:00:00\n  ends 3 2024/01/17 22:00:00;\n}\n",
        );
        assert_eq!(
            errors(&f),
            vec![
                "bad.leases line 3: Time zone offset or semicolon expected.",
                "bad.leases line 3: semicolon expected.",
            ]
        );
        let f = parse("g1.leases", b"garbage here;\n");
        assert_eq!(errors(&f), vec!["Corrupt lease file - possible data loss!"]);
        assert!(f.leases.is_empty());
        let f = parse(
            "g2.leases",
            b"lease 10.199.0.10 {\n starts 3 2024/01/17 10:00:00;\n ends never;\n binding state bogus;\n}\n",
        );
        assert_eq!(
            errors(&f)[..2],
            [
                "g2.leases line 4: bogus: expecting a binding state.".to_string(),
                "g2.leases line 4: possibly corrupt lease file".to_string(),
            ]
        );
        let f = parse("g3.leases", b"lease 10.199.0.10 {\n");
        assert_eq!(errors(&f), vec!["g3.leases line 1: unexpected end of file"]);
    }
}
