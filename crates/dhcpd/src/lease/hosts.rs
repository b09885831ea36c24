//! Host records in dhcpd.leases: what ISC appends when a host is made or deleted over OMAPI
//! (`host NAME { dynamic; hardware …; fixed-address …; … }` and `host NAME { dynamic;
//! deleted; }`), kept as text so that statements using options the configuration defines are
//! parsed with that configuration at start.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::Hardware;

/// One host record as read from or written to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    /// The host's name.
    pub name: String,
    /// `dynamic;`: the host was made over OMAPI (not in dhcpd.conf).
    pub dynamic: bool,
    /// `deleted;`: the host of this name is gone.
    pub deleted: bool,
    /// The whole declaration, `host … { … }`, ending with a newline.
    pub text: String,
}

/// What an OMAPI-made host holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewHost {
    /// Its name.
    pub name: String,
    /// Its hardware address.
    pub hardware: Option<Hardware>,
    /// Its client identifier.
    pub uid: Option<Vec<u8>>,
    /// Its fixed addresses.
    pub fixed: Vec<Ipv4Addr>,
    /// Its statements, as OMAPI sent them.
    pub statements: Option<String>,
}

/// A name as ISC writes it after `host`: bare when it is a plain (dotted) name, else quoted.
fn host_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
    if plain {
        name.to_string()
    } else {
        super::write::quote(name.as_bytes())
    }
}

/// ISC's `hardware_types` names.
fn hardware_type(htype: u8) -> Option<&'static str> {
    Some(match htype {
        1 => "ethernet",
        6 => "token-ring",
        8 => "fddi",
        32 => "infiniband",
        _ => return None,
    })
}

impl HostRecord {
    /// The record of a host made over OMAPI, in the layout of ISC's `write_host`.
    pub fn created(h: &NewHost) -> HostRecord {
        let mut s = format!("host {} {{\n  dynamic;", host_name(&h.name));
        if let Some(hw) = &h.hardware
            && let Some(t) = hardware_type(hw.htype)
        {
            let _ = write!(s, "\n  hardware {t} {};", hw.colon());
        }
        if let Some(uid) = &h.uid {
            let printable = uid
                .iter()
                .all(|&b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\');
            if printable {
                let _ = write!(s, "\n  uid {};", super::write::quote(uid));
            } else {
                let hex: Vec<String> = uid.iter().map(|b| format!("{b:02x}")).collect();
                let _ = write!(s, "\n  uid {};", hex.join(":"));
            }
        }
        if !h.fixed.is_empty() {
            let list: Vec<String> = h.fixed.iter().map(Ipv4Addr::to_string).collect();
            let _ = write!(s, "\n  fixed-address {};", list.join(","));
        }
        if let Some(st) = h.statements.as_deref().filter(|s| !s.trim().is_empty()) {
            let _ = write!(s, "\n        {}", st.trim());
        }
        s.push_str("\n}\n");
        HostRecord {
            name: h.name.clone(),
            dynamic: true,
            deleted: false,
            text: s,
        }
    }

    /// The record of a deleted host: `dynamic` when it was made over OMAPI, without it when
    /// it came from dhcpd.conf (the deletion must then outlive every rewrite).
    pub fn deleted(name: &str, dynamic: bool) -> HostRecord {
        let flag = if dynamic { "\n  dynamic;" } else { "" };
        HostRecord {
            name: name.to_string(),
            dynamic,
            deleted: true,
            text: format!("host {} {{{flag}\n  deleted;\n}}\n", host_name(name)),
        }
    }
}

/// The records a rewritten file keeps, as ISC's `write_leases` does: per name the last one,
/// unless it deletes a host that OMAPI made (then the host is simply gone); a deletion of a
/// dhcpd.conf host is kept, even when OMAPI made and deleted that name again since.
pub fn compact(records: &[HostRecord]) -> Vec<HostRecord> {
    let mut out: Vec<HostRecord> = Vec::new();
    let mut conf_deleted: Vec<&str> = Vec::new();
    for r in records {
        if r.deleted && !r.dynamic {
            conf_deleted.push(&r.name);
        }
        out.retain(|o| o.name != r.name);
        if r.deleted && conf_deleted.contains(&r.name.as_str()) {
            out.push(HostRecord::deleted(&r.name, false));
        } else if r.dynamic && r.deleted {
            continue;
        } else {
            out.push(r.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web1() -> NewHost {
        NewHost {
            name: "web1.example.com".into(),
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0x12, 0x34, 0x56])),
            uid: None,
            fixed: vec![Ipv4Addr::new(10, 250, 1, 50)],
            statements: Some("filename = \"pxelinux.0\";".into()),
        }
    }

    /// The layout ISC 4.4.3 wrote for the same host (statements aside: ISC prints its
    /// parsed form, we keep the text as sent).
    #[test]
    fn layout_of_isc() {
        assert_eq!(
            HostRecord::created(&web1()).text,
            "host web1.example.com {\n  dynamic;\n  hardware ethernet 52:54:00:12:34:56;\n  \
             fixed-address 10.250.1.50;\n        filename = \"pxelinux.0\";\n}\n"
        );
        assert_eq!(
            HostRecord::deleted("web1.example.com", true).text,
            "host web1.example.com {\n  dynamic;\n  deleted;\n}\n"
        );
        assert_eq!(
            HostRecord::deleted("a b", false).text,
            "host \"a b\" {\n  deleted;\n}\n"
        );
    }

    #[test]
    fn compaction_keeps_what_isc_keeps() {
        let a = HostRecord::created(&web1());
        let gone = HostRecord::deleted("web1.example.com", true);
        assert_eq!(compact(std::slice::from_ref(&a)), vec![a.clone()]);
        assert_eq!(compact(&[a.clone(), gone.clone()]), vec![]);
        assert_eq!(
            compact(&[a.clone(), gone.clone(), a.clone()]),
            vec![a.clone()]
        );
        let conf_gone = HostRecord::deleted("web1.example.com", false);
        assert_eq!(
            compact(&[conf_gone.clone(), a.clone(), gone]),
            vec![conf_gone]
        );
    }

    /// What ISC 4.4.3 wrote after an OMAPI create and delete, read back: both records, with
    /// their flags and whole text, around a lease.
    #[test]
    fn read_from_isc_file() {
        let isc = "authoring-byte-order little-endian;\n\n\
host web1.example.com {\n  dynamic;\n  hardware ethernet 52:54:00:12:34:56;\n  fixed-address 10.250.1.50;\n        supersede server.filename = \"pxelinux.0\";\n        supersede host-name = \"web1\";\n}\n\
lease 10.250.1.100 {\n  starts 4 2026/12/03 10:00:00;\n  ends 4 2026/12/03 11:00:00;\n  binding state active;\n}\n\
host web1.example.com {\n  dynamic;\n  deleted;\n}\n";
        let f = crate::lease::parse::parse("dhcpd.leases", isc.as_bytes());
        assert!(f.is_clean(), "{:?}", f.output);
        assert_eq!(f.leases.len(), 1);
        assert_eq!(f.hosts.len(), 2);
        assert_eq!(f.hosts[0].name, "web1.example.com");
        assert!(f.hosts[0].dynamic && !f.hosts[0].deleted);
        assert!(
            f.hosts[0]
                .text
                .starts_with("host web1.example.com {\n  dynamic;")
        );
        assert!(
            f.hosts[0]
                .text
                .ends_with("supersede host-name = \"web1\";\n}\n")
        );
        assert_eq!(f.hosts[1], HostRecord::deleted("web1.example.com", true));
        assert_eq!(compact(&f.hosts), vec![]);
    }
}
