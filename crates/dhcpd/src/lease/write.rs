//! Writing `dhcpd.leases` as ISC 4.4.3 does (`write_lease`, `new_lease_file`): the same
//! header, the same statements in the same order, the same quoting (`\ooo` octal escapes for
//! unprintable bytes), so tools that read ISC's file read ours.

use std::fmt::Write as _;

use super::{BindingValue, Lease, time};

/// The comment and `authoring-byte-order` lines ISC puts at the top of a new lease file.
pub fn header() -> String {
    let order = if cfg!(target_endian = "little") {
        "little-endian"
    } else {
        "big-endian"
    };
    format!(
        "# The format of this file is documented in the dhcpd.leases(5) manual page.\n\
         # This lease file was written by pxe-suite dhcpd {} (isc-dhcp-4.4.3 format)\n\n\
         # authoring-byte-order entry is generated, DO NOT DELETE\n\
         authoring-byte-order {order};\n\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `server-duid "…";` (kept when rewriting a file that had one).
pub fn server_duid(duid: &[u8]) -> String {
    format!("server-duid {};\n\n", quote(duid))
}

/// ISC's `quotify_buf` with `"` around: printable ASCII as is, `"` and `\` escaped,
/// anything else as a three-digit octal escape.
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\{b:03o}");
            }
        }
    }
    s.push('"');
    s
}

/// ISC's `db_printable`: printable ASCII without `"` or `\`.
fn printable(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// Colon-separated lower-case hex without zero padding, as ISC's `print_hex` family.
fn hex_list(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:x}")).collect();
    parts.join(":")
}

/// One `lease … { … }` block, ending with a newline.
pub fn lease(l: &Lease) -> String {
    let mut s = format!("lease {} {{", l.ip);
    for (word, t) in [
        ("starts", l.starts),
        ("ends", l.ends),
        ("tstp", l.tstp),
        ("tsfp", l.tsfp()),
        ("atsfp", l.atsfp()),
        ("cltt", l.cltt),
    ] {
        if t != 0 {
            let _ = write!(s, "\n  {word} {}", time::format(t));
        }
    }
    let _ = write!(s, "\n  binding state {};", l.state.name());
    if l.next_state != l.state {
        let _ = write!(s, "\n  next binding state {};", l.next_state.name());
    }
    if l.rewind_state != l.state {
        let _ = write!(s, "\n  rewind binding state {};", l.rewind_state.name());
    }
    if l.reserved {
        s.push_str("\n  reserved;");
    }
    if l.bootp {
        s.push_str("\n  dynamic-bootp;");
    }
    if let Some(hw) = &l.hardware {
        let _ = write!(s, "\n  hardware {} {};", hw.type_name(), hw.colon());
    }
    if let Some(uid) = &l.uid
        && !uid.is_empty()
    {
        let _ = write!(s, "\n  uid {};", quote(uid));
    }
    for (name, v) in l.bindings() {
        let value = match v {
            BindingValue::Data(d) => quote(d),
            BindingValue::Number(n) => format!("%{n}"),
            BindingValue::Bool(b) => b.to_string(),
        };
        let _ = write!(s, "\n  set {name} = {value};");
    }
    for (code, data) in l.agent_options() {
        let _ = write!(
            s,
            "\n  option agent.{} {};",
            agent_name(*code),
            agent_value(*code, data)
        );
    }
    if let Some(h) = &l.client_hostname
        && printable(h)
    {
        let _ = write!(s, "\n  client-hostname {};", quote(h));
    }
    write_handlers(&mut s, l);
    s.push_str("\n}\n");
    s
}

/// `on expiry { … }` and `on release { … }` (one `on expiry or release` block when they
/// are the same), as ISC's `write_lease` adds them after the client hostname.
fn write_handlers(s: &mut String, l: &Lease) {
    let (expiry, release) = (&l.on().expiry, &l.on().release);
    let same = expiry.is_some() && expiry == release;
    if let Some(text) = expiry.as_ref().and_then(|h| h.text()) {
        let events = if same { "expiry or release" } else { "expiry" };
        let _ = write!(s, "\n  on {events} {{{text}\n  }}");
    }
    if !same && let Some(text) = release.as_ref().and_then(|h| h.text()) {
        let _ = write!(s, "\n  on release {{{text}\n  }}");
    }
}

fn agent_name(code: u8) -> String {
    match code {
        1 => "circuit-id".into(),
        2 => "remote-id".into(),
        3 => "agent-id".into(),
        4 => "DOCSIS-device-class".into(),
        5 => "link-selection".into(),
        19 => "relay-port".into(),
        n => format!("unknown-{n}"),
    }
}

/// ISC's `pretty_print_option` for the agent sub-options it stashes.
fn agent_value(code: u8, data: &[u8]) -> String {
    match code {
        3 | 5 if data.len() == 4 => {
            format!("{}.{}.{}.{}", data[0], data[1], data[2], data[3])
        }
        _ if !data.is_empty() && printable(data) => quote(data),
        _ if data.is_empty() => "\"\"".into(),
        _ => hex_list(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::time::from_civil;
    use crate::lease::{BindingState, Hardware, LeaseRare, MAX_TIME, Uid};
    use std::net::Ipv4Addr;

    #[test]
    fn active_lease_as_isc_writes_it() {
        let l = Lease {
            ip: Ipv4Addr::new(10, 199, 7, 10),
            starts: from_civil(2026, 11, 21, 22, 14, 58),
            ends: from_civil(2026, 11, 21, 22, 24, 58),
            cltt: from_civil(2026, 11, 21, 22, 14, 58),
            state: BindingState::Active,
            next_state: BindingState::Free,
            rewind_state: BindingState::Free,
            hardware: Some(Hardware::ethernet([6, 0xa4, 0x15, 0xcb, 0xd0, 0x56])),
            client_hostname: Some(Box::from(&b"vm"[..])),
            ..Lease::default()
        };
        // Byte for byte what ISC 4.4.3 wrote for this lease.
        assert_eq!(
            lease(&l),
            "lease 10.199.7.10 {\n  starts 6 2026/11/21 22:14:58;\n  ends 6 2026/11/21 22:24:58;\n  cltt 6 2026/11/21 22:14:58;\n  binding state active;\n  next binding state free;\n  rewind binding state free;\n  hardware ethernet 06:a4:15:cb:d0:56;\n  client-hostname \"vm\";\n}\n"
        );
    }

    #[test]
    fn quoting_and_special_values() {
        assert_eq!(quote(b"\x01RT\x00\x124V"), "\"\\001RT\\000\\0224V\"");
        assert_eq!(quote(b"a\"b\\c d"), "\"a\\\"b\\\\c d\"");
        let l = Lease {
            ip: Ipv4Addr::new(10, 0, 0, 1),
            ends: MAX_TIME,
            state: BindingState::Abandoned,
            next_state: BindingState::Abandoned,
            rewind_state: BindingState::Abandoned,
            bootp: true,
            uid: Some(Uid::from(&[1, 2][..])),
            rare: LeaseRare {
                bindings: vec![
                    ("n".into(), BindingValue::Number(-3)),
                    ("b".into(), BindingValue::Bool(false)),
                ],
                agent_options: vec![(1, b"eth0".to_vec()), (2, vec![0, 1, 0xab])],
                ..LeaseRare::default()
            }
            .into(),
            client_hostname: Some(Box::from(&b"bad\"name"[..])),
            ..Lease::default()
        };
        assert_eq!(
            lease(&l),
            "lease 10.0.0.1 {\n  ends never;\n  binding state abandoned;\n  dynamic-bootp;\n  uid \"\\001\\002\";\n  set n = %-3;\n  set b = false;\n  option agent.circuit-id \"eth0\";\n  option agent.remote-id 0:1:ab;\n}\n"
        );
    }

    #[test]
    fn written_leases_read_back() {
        let l = Lease {
            ip: Ipv4Addr::new(10, 0, 0, 9),
            starts: from_civil(2025, 2, 28, 23, 59, 59),
            ends: from_civil(2025, 3, 1, 0, 0, 1),
            tstp: from_civil(2025, 3, 1, 0, 0, 1),
            cltt: from_civil(2025, 2, 28, 23, 59, 59),
            state: BindingState::Active,
            next_state: BindingState::Free,
            rewind_state: BindingState::Free,
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0x12, 0x34, 0x56])),
            uid: Some(Uid::from(&b"\x01RT\x00\x124V\"\\"[..])),
            client_hostname: Some(Box::from(&b"pxe-01"[..])),
            rare: LeaseRare {
                bindings: vec![(
                    "vendor-class-identifier".into(),
                    BindingValue::Data(b"d-i".to_vec()),
                )],
                agent_options: vec![(1, b"port 7".to_vec()), (2, vec![0xde, 0xad])],
                ..LeaseRare::default()
            }
            .into(),
            ..Lease::default()
        };
        let text = format!("{}{}", header(), lease(&l));
        let f = crate::lease::parse::parse("x", text.as_bytes());
        assert!(f.is_clean(), "{:?}", f.output);
        assert_eq!(f.leases, vec![l]);
    }

    /// A configuration with MAAS's kind of `on` blocks, compiled.
    fn on_events_config() -> crate::model::Config {
        let conf = "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
            on expiry {
              set clhw = binary-to-ascii(16, 8, \":\", substring(hardware, 1, 6));
              execute(\"/bin/notify\", \"expiry\", clhw, 61:62:00:63, 5);
              if option host-name = \"x\" { log (info, concat(\"x\", \"y\")); } else { unset clip; }
            }
            on release { execute(\"/bin/notify\", \"release\"); }";
        let loaded = crate::conf::parse_str(
            "t.conf",
            conf.as_bytes(),
            crate::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        assert!(loaded.is_ok(), "{:?}", loaded.output);
        crate::model::compile(&loaded.config, &crate::model::no_dns)
            .expect("compiles")
            .0
    }

    #[test]
    fn on_expiry_and_release_are_written_and_find_their_block_again() {
        let cfg = on_events_config();
        let mut handlers: Vec<&crate::model::Handler> = cfg.handlers.values().collect();
        handlers.sort_by_key(|h| h.text().map(str::len));
        let (release, expiry) = (handlers[0].clone(), handlers[1].clone());
        let mut l = Lease {
            ip: Ipv4Addr::new(10, 0, 0, 10),
            state: BindingState::Active,
            ..Lease::default()
        };
        l.rare_mut().on.expiry = Some(expiry.clone());
        l.rare_mut().on.release = Some(release.clone());
        let text = lease(&l);
        assert!(
            text.ends_with(
                "\n  on release {\n    execute (\"/bin/notify\", \"release\");\n  }\n}\n"
            ),
            "{text}"
        );
        let f = crate::lease::parse::parse("x", text.as_bytes());
        assert!(f.is_clean(), "{:?}", f.output);
        let mut read = f.leases[0].clone();
        assert!(read.attach_handlers(&cfg.handlers).is_empty());
        assert_eq!(read, l, "the same blocks of the same configuration");
        l.rare_mut().on.release = Some(expiry);
        assert!(
            lease(&l).contains("\n  on expiry or release {"),
            "one block for both"
        );
    }

    #[test]
    fn on_blocks_isc_wrote_find_the_configuration_s() {
        // What ISC 4.4.3 wrote for a lease of this configuration (an on-expiry block in its
        // own layout), then a block the configuration no longer has, then one that does not
        // parse without the configuration (skipped as before).
        let isc = "lease 10.0.0.10 {
  binding state active;
  on expiry {
    set clhw = 
       binary-to-ascii (16, 8, \":\", 
                        substring (hardware, 1, 6)) ;
    execute (\"/bin/notify\", \"expiry\", clhw, 61:62:00:63, 05);
    if option host-name = \"x\" {
      log (info, 
          concat (\"x\", \"y\"));
    } else {
      unset clip ;
    }
  }
  on release {
    execute (\"/bin/other\");
  }
  on commit {
    if option no-such-option = 1 { log (\"x\"); }
  }
}
";
        let cfg = on_events_config();
        let f = crate::lease::parse::parse("x", isc.as_bytes());
        assert!(f.is_clean(), "{:?}", f.output);
        let mut l = f.leases[0].clone();
        let missing = l.attach_handlers(&cfg.handlers);
        assert_eq!(missing, vec![crate::model::Events::from_names(["release"])]);
        let on = l.on();
        assert!(on.expiry.is_some() && on.release.is_none() && on.commit.is_none());
    }
}
