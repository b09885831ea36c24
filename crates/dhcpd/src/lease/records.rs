//! Host and group records in dhcpd.leases: what ISC appends when a host or a named group is
//! made or deleted over OMAPI (`host NAME { dynamic; hardware …; fixed-address …; group
//! "G"; … }`, `group NAME { dynamic; … }` and `… { dynamic; deleted; }`), kept as text so
//! that statements using options the configuration defines are parsed with that
//! configuration at start.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::Hardware;

/// What a record declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// `host NAME { … }`.
    Host,
    /// `group NAME { … }`.
    Group,
}

impl RecordKind {
    /// The keyword that starts the declaration.
    pub fn word(self) -> &'static str {
        match self {
            RecordKind::Host => "host",
            RecordKind::Group => "group",
        }
    }
}

/// One host or group record as read from or written to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// A host or a group.
    pub kind: RecordKind,
    /// The object's name.
    pub name: String,
    /// `dynamic;`: the object was made over OMAPI (not in dhcpd.conf).
    pub dynamic: bool,
    /// `deleted;`: the object of this name is gone.
    pub deleted: bool,
    /// The whole declaration, `host … { … }` or `group … { … }`, ending with a newline.
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
    /// The named group it is in.
    pub group: Option<String>,
    /// Its statements, as OMAPI sent them.
    pub statements: Option<String>,
}

/// A name as ISC writes it after `host` or `group`: bare when it is a plain (dotted) name,
/// else quoted.
fn object_name(name: &str) -> String {
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

impl ObjectRecord {
    /// The record of a host made over OMAPI, in the layout of ISC's `write_host`.
    pub fn created(h: &NewHost) -> ObjectRecord {
        let mut s = format!("host {} {{\n  dynamic;", object_name(&h.name));
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
        if let Some(g) = &h.group {
            let _ = write!(s, "\n  group {};", super::write::quote(g.as_bytes()));
        }
        push_statements(&mut s, h.statements.as_deref());
        ObjectRecord {
            kind: RecordKind::Host,
            name: h.name.clone(),
            dynamic: true,
            deleted: false,
            text: s,
        }
    }

    /// The record of a deleted host: `dynamic` when it was made over OMAPI, without it when
    /// it came from dhcpd.conf (the deletion must then outlive every rewrite).
    pub fn deleted(name: &str, dynamic: bool) -> ObjectRecord {
        ObjectRecord::deletion(RecordKind::Host, name, dynamic)
    }

    /// The record of a named group made over OMAPI, in the layout of ISC's `write_group`.
    pub fn group_created(name: &str, statements: &str) -> ObjectRecord {
        let mut s = format!("group {} {{\n  dynamic;", object_name(name));
        push_statements(&mut s, Some(statements));
        ObjectRecord {
            kind: RecordKind::Group,
            name: name.to_string(),
            dynamic: true,
            deleted: false,
            text: s,
        }
    }

    /// The record of a removed group (`dynamic` as for hosts).
    pub fn group_deleted(name: &str, dynamic: bool) -> ObjectRecord {
        ObjectRecord::deletion(RecordKind::Group, name, dynamic)
    }

    fn deletion(kind: RecordKind, name: &str, dynamic: bool) -> ObjectRecord {
        let flag = if dynamic { "\n  dynamic;" } else { "" };
        let word = kind.word();
        ObjectRecord {
            kind,
            name: name.to_string(),
            dynamic,
            deleted: true,
            text: format!("{word} {} {{{flag}\n  deleted;\n}}\n", object_name(name)),
        }
    }
}

/// The statements of a record (indented by eight spaces, as ISC's `write_statements` does
/// at that depth) and its closing brace.
fn push_statements(s: &mut String, statements: Option<&str>) {
    if let Some(st) = statements.filter(|s| !s.trim().is_empty()) {
        let _ = write!(s, "\n        {}", st.trim());
    }
    s.push_str("\n}\n");
}

/// The records a rewritten file keeps, as ISC's `write_leases` does: per kind and name the
/// last one, unless it deletes an object that OMAPI made (then the object is simply gone);
/// a deletion of a dhcpd.conf host or group is kept, even when OMAPI made and deleted that
/// name again since (ISC forgets a removed dhcpd.conf group at its next rewrite; keeping it
/// keeps the removal). Groups come first, as ISC writes them, so that hosts find them.
pub fn compact(records: &[ObjectRecord]) -> Vec<ObjectRecord> {
    let mut out: Vec<ObjectRecord> = Vec::new();
    let mut conf_deleted: Vec<(RecordKind, &str)> = Vec::new();
    for r in records {
        let key = (r.kind, r.name.as_str());
        if r.deleted && !r.dynamic {
            conf_deleted.push(key);
        }
        out.retain(|o| (o.kind, o.name.as_str()) != key);
        if r.deleted && conf_deleted.contains(&key) {
            out.push(ObjectRecord::deletion(r.kind, &r.name, false));
        } else if r.dynamic && r.deleted {
            continue;
        } else {
            out.push(r.clone());
        }
    }
    out.sort_by_key(|r| r.kind != RecordKind::Group);
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
            group: None,
            statements: Some("filename = \"pxelinux.0\";".into()),
        }
    }

    /// The layout ISC 4.4.3 wrote for the same host (statements aside: ISC prints its
    /// parsed form, we keep the text as sent).
    #[test]
    fn layout_of_isc() {
        assert_eq!(
            ObjectRecord::created(&web1()).text,
            "host web1.example.com {\n  dynamic;\n  hardware ethernet 52:54:00:12:34:56;\n  \
             fixed-address 10.250.1.50;\n        filename = \"pxelinux.0\";\n}\n"
        );
        assert_eq!(
            ObjectRecord::deleted("web1.example.com", true).text,
            "host web1.example.com {\n  dynamic;\n  deleted;\n}\n"
        );
        assert_eq!(
            ObjectRecord::deleted("a b", false).text,
            "host \"a b\" {\n  deleted;\n}\n"
        );
    }

    #[test]
    fn compaction_keeps_what_isc_keeps() {
        let a = ObjectRecord::created(&web1());
        let gone = ObjectRecord::deleted("web1.example.com", true);
        assert_eq!(compact(std::slice::from_ref(&a)), vec![a.clone()]);
        assert_eq!(compact(&[a.clone(), gone.clone()]), vec![]);
        assert_eq!(
            compact(&[a.clone(), gone.clone(), a.clone()]),
            vec![a.clone()]
        );
        let conf_gone = ObjectRecord::deleted("web1.example.com", false);
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
        assert_eq!(f.records.len(), 2);
        assert_eq!(f.records[0].name, "web1.example.com");
        assert!(f.records[0].dynamic && !f.records[0].deleted);
        assert!(
            f.records[0]
                .text
                .starts_with("host web1.example.com {\n  dynamic;")
        );
        assert!(
            f.records[0]
                .text
                .ends_with("supersede host-name = \"web1\";\n}\n")
        );
        assert_eq!(
            f.records[1],
            ObjectRecord::deleted("web1.example.com", true)
        );
        assert_eq!(compact(&f.records), vec![]);
    }

    /// The layouts ISC 4.4.3 wrote for an OMAPI-made group, a host in it and a removed
    /// group of dhcpd.conf (observed with omshell; statements as sent, see above).
    #[test]
    fn group_layouts_of_isc() {
        assert_eq!(
            ObjectRecord::group_created("pxe", "filename \"group.0\";").text,
            "group pxe {\n  dynamic;\n        filename \"group.0\";\n}\n"
        );
        assert_eq!(
            ObjectRecord::group_deleted("conf-grp", false).text,
            "group conf-grp {\n  deleted;\n}\n"
        );
        let in_pxe = NewHost {
            name: "in-pxe".into(),
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0x15, 0, 0x31])),
            group: Some("pxe".into()),
            ..NewHost::default()
        };
        assert_eq!(
            ObjectRecord::created(&in_pxe).text,
            "host in-pxe {\n  dynamic;\n  hardware ethernet 52:54:00:15:00:31;\n  group \"pxe\";\n}\n"
        );
    }

    /// Groups and hosts of one name are different objects; a rewrite puts groups first so
    /// that the hosts read after them find them.
    #[test]
    fn compaction_keeps_groups_apart_and_first() {
        let host = ObjectRecord::created(&NewHost {
            name: "pxe".into(),
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1])),
            ..NewHost::default()
        });
        let group = ObjectRecord::group_created("pxe", "filename \"g.0\";");
        assert_eq!(
            compact(&[host.clone(), group.clone()]),
            vec![group.clone(), host.clone()]
        );
        let gone = ObjectRecord::group_deleted("pxe", true);
        assert_eq!(compact(&[group.clone(), host.clone(), gone]), vec![host]);
        let conf_gone = ObjectRecord::group_deleted("conf-grp", false);
        assert_eq!(compact(std::slice::from_ref(&conf_gone)), vec![conf_gone]);
    }

    /// What ISC 4.4.3 wrote after making a group, a host in it and removing a dhcpd.conf
    /// group, read back with each record's kind and flags.
    #[test]
    fn groups_read_from_isc_file() {
        let isc = "group pxe {\n  dynamic;\n        supersede server.filename = \"group.0\";\n}\n\
host in-pxe {\n  dynamic;\n  hardware ethernet 52:54:00:15:00:31;\n  group \"pxe\";\n}\n\
group conf-grp {\n  deleted;\n}\n";
        let f = crate::lease::parse::parse("dhcpd.leases", isc.as_bytes());
        assert!(f.is_clean(), "{:?}", f.output);
        let seen: Vec<(RecordKind, &str, bool, bool)> = f
            .records
            .iter()
            .map(|r| (r.kind, r.name.as_str(), r.dynamic, r.deleted))
            .collect();
        assert_eq!(
            seen,
            vec![
                (RecordKind::Group, "pxe", true, false),
                (RecordKind::Host, "in-pxe", true, false),
                (RecordKind::Group, "conf-grp", false, true),
            ]
        );
        assert_eq!(f.records[2], ObjectRecord::group_deleted("conf-grp", false));
    }
}
