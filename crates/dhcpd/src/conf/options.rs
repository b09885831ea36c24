//! The option registry a parse works against: option spaces (ISC "universes") with their options
//! by name (case-insensitive) and by code, seeded from the built-in tables, extended by
//! `option space` and `option NAME code N = TYPE` as the file is read.

use std::collections::HashMap;

use super::std_options::{AGENT, DHCP, FQDN, NWIP, SERVER, StdOption};

/// One option definition in a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionInfo {
    /// Name as defined.
    pub name: String,
    /// Code.
    pub code: u32,
    /// ISC format string.
    pub format: String,
}

/// An option space.
#[derive(Debug, Clone, Default)]
pub struct Space {
    /// Name as declared.
    pub name: String,
    by_name: HashMap<String, OptionInfo>,
    by_code: HashMap<u32, OptionInfo>,
    /// Code width in bytes.
    pub code_width: u8,
    /// Length width in bytes.
    pub length_width: u8,
}

impl Space {
    fn new(name: &str, table: &[StdOption]) -> Self {
        let mut s = Space {
            name: name.to_string(),
            code_width: 1,
            length_width: 1,
            ..Space::default()
        };
        for o in table {
            s.define(OptionInfo {
                name: o.name.to_string(),
                code: o.code,
                format: o.format.to_string(),
            });
        }
        s
    }

    /// Add or replace a definition (name and code both point to it afterwards).
    pub fn define(&mut self, info: OptionInfo) {
        self.by_code.insert(info.code, info.clone());
        self.by_name.insert(info.name.to_ascii_lowercase(), info);
    }

    /// Forget a name (ISC drops a known option's name and code before redefining it).
    pub fn remove(&mut self, name: &str) {
        if let Some(old) = self.by_name.remove(&name.to_ascii_lowercase()) {
            self.by_code.remove(&old.code);
        }
    }

    /// Look up by name, case-insensitively.
    pub fn by_name(&self, name: &str) -> Option<&OptionInfo> {
        self.by_name.get(&name.to_ascii_lowercase())
    }

    /// Look up by code.
    pub fn by_code(&self, code: u32) -> Option<&OptionInfo> {
        self.by_code.get(&code)
    }

    /// Every definition, in no particular order.
    pub fn options(&self) -> impl Iterator<Item = &OptionInfo> {
        self.by_code.values()
    }
}

/// All spaces known to a parse.
#[derive(Debug, Clone)]
pub struct Registry {
    spaces: Vec<Space>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The built-in spaces of ISC dhcpd (DHCPv4 server).
    pub fn new() -> Self {
        let mut vendor = Space::new("vendor-class", &[]);
        vendor.code_width = 4;
        Registry {
            spaces: vec![
                Space::new("dhcp", DHCP),
                Space::new("server", SERVER),
                Space::new("agent", AGENT),
                Space::new("fqdn", FQDN),
                Space::new("nwip", NWIP),
                vendor,
                Space::new("vendor", &[]),
                Space::new("isc", &[]),
            ],
        }
    }

    /// A space by name, case-insensitively.
    pub fn space(&self, name: &str) -> Option<&Space> {
        self.spaces
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Every space, built-in ones first, then in declaration order.
    pub fn spaces(&self) -> &[Space] {
        &self.spaces
    }

    /// A mutable space by name.
    pub fn space_mut(&mut self, name: &str) -> Option<&mut Space> {
        self.spaces
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Declare a new space (a redeclaration replaces the old one, as ISC's hash add does).
    pub fn add_space(&mut self, name: &str, code_width: u8, length_width: u8) {
        self.spaces.retain(|s| !s.name.eq_ignore_ascii_case(name));
        let mut s = Space::new(name, &[]);
        s.code_width = code_width;
        s.length_width = length_width;
        self.spaces.push(s);
    }
}

/// Values of ISC's enumerations used by `N` formats.
pub fn enumeration(name: &str, value: &str) -> Option<u8> {
    let v = value.to_ascii_lowercase();
    let table: &[(&str, u8)] = match name {
        "ddns-styles" => &[("none", 0), ("ad-hoc", 1), ("interim", 2), ("standard", 3)],
        "syslog-facilities" => &[
            ("kern", 0),
            ("user", 8),
            ("mail", 16),
            ("daemon", 24),
            ("auth", 32),
            ("syslog", 40),
            ("lpr", 48),
            ("news", 56),
            ("uucp", 64),
            ("cron", 72),
            ("authpriv", 80),
            ("ftp", 88),
            ("local0", 128),
            ("local1", 136),
            ("local2", 144),
            ("local3", 152),
            ("local4", 160),
            ("local5", 168),
            ("local6", 176),
            ("local7", 184),
        ],
        "prefix_length_modes" => &[
            ("ignore", 0),
            ("prefer", 1),
            ("exact", 2),
            ("minimum", 3),
            ("maximum", 4),
        ],
        _ => &[],
    };
    table.iter().find(|(n, _)| *n == v).map(|(_, x)| *x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_names_and_codes() {
        let r = Registry::new();
        let dhcp = r.space("DHCP").expect("dhcp space");
        assert_eq!(dhcp.by_name("Routers").map(|o| o.code), Some(3));
        assert_eq!(dhcp.by_name("pxe-system-type").map(|o| o.code), Some(93));
        assert_eq!(dhcp.by_name("pxe-interface-id").map(|o| o.code), Some(94));
        assert_eq!(dhcp.by_name("pxe-client-id").map(|o| o.code), Some(97));
        assert_eq!(
            dhcp.by_code(77).map(|o| o.name.as_str()),
            Some("user-class")
        );
        assert!(dhcp.by_name("arch").is_none());
        let server = r.space("server").expect("server space");
        assert_eq!(
            server.by_name("next-server").map(|o| o.format.as_str()),
            Some("I")
        );
        assert_eq!(enumeration("syslog-facilities", "LOCAL7"), Some(184));
    }

    #[test]
    fn redefining_moves_the_code() {
        let mut r = Registry::new();
        let dhcp = r.space_mut("dhcp").expect("dhcp");
        dhcp.define(OptionInfo {
            name: "arch".into(),
            code: 93,
            format: "S".into(),
        });
        assert_eq!(dhcp.by_code(93).map(|o| o.name.as_str()), Some("arch"));
        assert!(dhcp.by_name("pxe-system-type").is_some());
    }
}
