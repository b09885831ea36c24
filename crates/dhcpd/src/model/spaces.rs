//! Option spaces at run time: names to small ids, code and length widths, and which DHCP
//! option encapsulates which space (`vendor-encapsulated-options` takes the space named by
//! `vendor-option-space`; `option X code N = encapsulate SPACE` names its own).

use std::collections::HashMap;

use crate::conf::options::Registry;

/// Index of a space in [`Spaces`].
pub type SpaceId = usize;

/// One space.
#[derive(Debug, Clone)]
pub struct SpaceInfo {
    /// Name, as declared.
    pub name: String,
    /// Code width in bytes.
    pub code_width: u8,
    /// Length width in bytes.
    pub length_width: u8,
}

/// Every space of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Spaces {
    list: Vec<SpaceInfo>,
    by_name: HashMap<String, SpaceId>,
    /// DHCP option code → the space it encapsulates (`None`: the vendor-option-space).
    encapsulating: HashMap<u32, Option<SpaceId>>,
    /// Option (space, lower-case name) → code.
    codes: HashMap<(SpaceId, String), u32>,
    /// Option (space, code) → ISC format string.
    formats: HashMap<(SpaceId, u32), String>,
}

/// The `dhcp` space's id.
pub const DHCP: SpaceId = 0;
/// The `server` space's id (server parameters).
pub const SERVER: SpaceId = 1;
/// The `agent` space's id (relay agent sub-options).
pub const AGENT: SpaceId = 2;

impl Spaces {
    /// Build from the parse's registry; `dhcp`, `server` and `agent` get the fixed ids.
    pub fn from_registry(reg: &Registry) -> Spaces {
        let mut s = Spaces::default();
        for fixed in ["dhcp", "server", "agent"] {
            s.intern(fixed, 1, 1);
        }
        for sp in reg.spaces() {
            let id = s.intern(&sp.name, sp.code_width, sp.length_width);
            for o in sp.options() {
                s.codes.insert((id, o.name.to_ascii_lowercase()), o.code);
                s.formats.insert((id, o.code), o.format.clone());
                if id == DHCP
                    && let Some(rest) = o.format.strip_prefix('E')
                {
                    let name = rest.split('.').next().unwrap_or("");
                    let target = if name.is_empty() {
                        None
                    } else {
                        reg.space(name).map(|t| t.name.clone())
                    };
                    let target = target.map(|n| s.intern(&n, 1, 1));
                    s.encapsulating.insert(o.code, target);
                }
            }
        }
        // Widths of spaces interned early (through an encapsulation) come from the registry.
        for sp in reg.spaces() {
            if let Some(&id) = s.by_name.get(&sp.name.to_ascii_lowercase())
                && let Some(info) = s.list.get_mut(id)
            {
                info.code_width = sp.code_width;
                info.length_width = sp.length_width;
                info.name = sp.name.clone();
            }
        }
        s
    }

    fn intern(&mut self, name: &str, code_width: u8, length_width: u8) -> SpaceId {
        let key = name.to_ascii_lowercase();
        if let Some(&id) = self.by_name.get(&key) {
            return id;
        }
        self.list.push(SpaceInfo {
            name: name.to_string(),
            code_width,
            length_width,
        });
        let id = self.list.len() - 1;
        self.by_name.insert(key, id);
        id
    }

    /// A space by name (case-insensitive).
    pub fn id(&self, name: &str) -> Option<SpaceId> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// A space's description.
    pub fn get(&self, id: SpaceId) -> Option<&SpaceInfo> {
        self.list.get(id)
    }

    /// The code of option `name` in space `space`.
    pub fn code(&self, space: SpaceId, name: &str) -> Option<u32> {
        if let Some(c) = self.codes.get(&(space, name.to_ascii_lowercase())) {
            return Some(*c);
        }
        let n = name.to_ascii_lowercase();
        n.strip_prefix("unknown-").and_then(|c| c.parse().ok())
    }

    /// The ISC format of an option.
    pub fn format(&self, space: SpaceId, code: u32) -> Option<&str> {
        self.formats.get(&(space, code)).map(String::as_str)
    }

    /// Does DHCP option `code` encapsulate a space? `Some(None)`: the vendor-option-space.
    pub fn encapsulated_by(&self, code: u32) -> Option<Option<SpaceId>> {
        self.encapsulating.get(&code).copied()
    }

    /// The DHCP options that encapsulate a named space, with that space.
    pub fn encapsulations(&self) -> impl Iterator<Item = (u32, SpaceId)> + '_ {
        self.encapsulating
            .iter()
            .filter_map(|(code, sp)| sp.map(|s| (*code, s)))
    }

    /// The first site-local code of `space` as `site-option-space` uses it: 224 (RFC 3942),
    /// or the space's lowest declared code when that is lower, as ISC takes it (codes from
    /// there up are looked up in the site space instead of the DHCP space).
    pub fn site_code_min(&self, space: SpaceId) -> u32 {
        self.formats
            .keys()
            .filter(|(s, code)| *s == space && *code > 0)
            .map(|(_, code)| *code)
            .fold(224, u32::min)
    }

    /// Does a format hold text (ISC NUL-terminates those for broken clients)?
    pub fn is_text(&self, space: SpaceId, code: u32) -> bool {
        self.format(space, code)
            .is_some_and(|f| f.contains('t') || f.contains('d') || f.contains('D'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ids_and_encapsulations() {
        let loaded = crate::conf::parse_str(
            "t",
            b"option space ipxe; option ipxe-encap-opts code 175 = encapsulate ipxe; option ipxe.no-pxedhcp code 176 = unsigned integer 8; option space PXE; option PXE.mtftp-ip code 1 = ip-address;",
            crate::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        assert!(loaded.is_ok(), "{:?}", loaded.output);
        let s = Spaces::from_registry(&loaded.config.registry);
        assert_eq!(s.id("DHCP"), Some(DHCP));
        assert_eq!(s.id("server"), Some(SERVER));
        assert_eq!(s.id("agent"), Some(AGENT));
        let ipxe = s.id("ipxe").expect("ipxe space");
        assert_eq!(s.encapsulated_by(175), Some(Some(ipxe)));
        assert_eq!(s.encapsulated_by(43), Some(None));
        assert_eq!(s.code(ipxe, "no-pxedhcp"), Some(176));
        let pxe = s.id("pxe").expect("PXE space");
        assert_eq!(s.code(pxe, "MTFTP-IP"), Some(1));
        assert_eq!(s.code(DHCP, "routers"), Some(3));
        assert_eq!(s.code(DHCP, "unknown-200"), Some(200));
        assert!(s.is_text(DHCP, 15));
    }
}
