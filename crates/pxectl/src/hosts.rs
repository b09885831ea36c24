//! ISC `host` blocks of a dhcpd.conf, read with dhcpd's own parser (includes, groups,
//! subnets and shared networks followed), as machines to add.

use dhcpd::conf::ast::{Decl, HostAddr, Item, Scope};
use std::net::Ipv4Addr;

/// One `host` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The name after `host`.
    pub name: String,
    /// Where it is written (`file line N`).
    pub at: String,
    /// `hardware ethernet`, colon-separated.
    pub mac: Option<String>,
    /// The first `fixed-address` that is an address.
    pub address: Option<Ipv4Addr>,
}

/// Reads every host block of `path`, or the parser's first error.
pub fn read(path: &str) -> Result<Vec<Host>, String> {
    let loaded = dhcpd::conf::parse_file(path, dhcpd::conf::ParseOptions::default());
    if !loaded.is_ok() {
        return Err(loaded
            .first_error_line()
            .unwrap_or_else(|| format!("{path}: cannot be read")));
    }
    let mut out = Vec::new();
    collect(&loaded.config.root, &mut out);
    Ok(out)
}

fn collect(scope: &Scope, out: &mut Vec<Host>) {
    for item in &scope.items {
        let Item::Decl(loc, decl) = item else {
            continue;
        };
        match decl {
            Decl::Host(h) if !h.deleted => out.push(Host {
                name: h.name.clone(),
                at: format!("{} line {}", loc.file, loc.line),
                mac: h
                    .hardware
                    .as_ref()
                    .filter(|(kind, bytes)| *kind == 1 && bytes.len() == 6)
                    .map(|(_, bytes)| {
                        bytes
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":")
                    }),
                address: h.fixed_addresses.iter().find_map(|a| match a {
                    HostAddr::Ip(ip) => Some(*ip),
                    HostAddr::Name(_) => None,
                }),
            }),
            Decl::SharedNetwork { body, .. }
            | Decl::Subnet { body, .. }
            | Decl::Pool { body, .. }
            | Decl::Group(dhcpd::conf::ast::GroupDecl { body, .. }) => collect(body, out),
            _ => {}
        }
    }
}

/// A host name made a machine name: letters, digits, `.`, `_`, `-` kept, anything else
/// becomes `-`.
pub fn machine_name(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_start_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_in_groups_and_subnets_are_found() {
        let dir = tempfile::tempdir().expect("tmp");
        let conf = dir.path().join("dhcpd.conf");
        std::fs::write(
            &conf,
            "subnet 10.0.0.0 netmask 255.255.255.0 {\n  range 10.0.0.100 10.0.0.200;\n  \
             host web01 { hardware ethernet 52:54:00:12:34:56; fixed-address 10.0.0.50; }\n}\n\
             group {\n  host db01.lab { hardware ethernet 52:54:00:AB:CD:01; }\n}\n\
             host nomac { fixed-address 10.0.0.9; }\n",
        )
        .expect("write");
        let hosts = read(conf.to_str().expect("utf-8")).expect("parses");
        let got: Vec<(&str, Option<&str>, Option<Ipv4Addr>)> = hosts
            .iter()
            .map(|h| (h.name.as_str(), h.mac.as_deref(), h.address))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "web01",
                    Some("52:54:00:12:34:56"),
                    Some(Ipv4Addr::new(10, 0, 0, 50))
                ),
                ("db01.lab", Some("52:54:00:ab:cd:01"), None),
                ("nomac", None, Some(Ipv4Addr::new(10, 0, 0, 9))),
            ]
        );
        assert!(
            hosts[0].at.ends_with("dhcpd.conf line 3"),
            "{}",
            hosts[0].at
        );
        assert_eq!(machine_name("db 01"), "db-01");
    }
}
