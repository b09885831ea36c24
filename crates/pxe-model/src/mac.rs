//! Ethernet hardware addresses, in the spellings boot loaders use.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `52:54:00:12:34:56`, the form iPXE's `${mac}` and GRUB's `${net_default_mac}` give.
    pub fn colon(&self) -> String {
        self.join(':')
    }

    /// `52-54-00-12-34-56`.
    pub fn hyphen(&self) -> String {
        self.join('-')
    }

    /// `01-52-54-00-12-34-56`: the ARP hardware type (Ethernet) and the address, as
    /// pxelinux and GRUB name per-machine files.
    pub fn pxelinux(&self) -> String {
        format!("01-{}", self.hyphen())
    }

    fn join(&self, sep: char) -> String {
        let mut s = String::with_capacity(17);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(sep);
            }
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.colon())
    }
}

/// Why a MAC address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed MAC address \"{0}\" (expected six hex pairs such as 52:54:00:12:34:56)")]
pub struct BadMac(pub String);

impl FromStr for MacAddr {
    type Err = BadMac;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff` and
    /// `aabbccddeeff`, any case; one-digit groups (`0:1b:…`, as ISC prints) too.
    fn from_str(s: &str) -> Result<Self, BadMac> {
        let bad = || BadMac(s.to_owned());
        let t = s.trim();
        let groups: Vec<&str> = if t.contains(':') {
            t.split(':').collect()
        } else if t.contains('-') {
            t.split('-').collect()
        } else if t.contains('.') {
            let joined: String = t.split('.').collect();
            return parse_plain(&joined).ok_or_else(bad);
        } else {
            return parse_plain(t).ok_or_else(bad);
        };
        if groups.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (slot, g) in out.iter_mut().zip(&groups) {
            if g.is_empty() || g.len() > 2 || !g.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *slot = u8::from_str_radix(g, 16).map_err(|_| bad())?;
        }
        Ok(MacAddr(out))
    }
}

fn parse_plain(t: &str) -> Option<MacAddr> {
    if t.len() != 12 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 6];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(MacAddr(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let want = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0xab]);
        for s in [
            "52:54:00:12:34:ab",
            "52:54:0:12:34:AB",
            "52-54-00-12-34-ab",
            "5254.0012.34ab",
            "5254001234AB",
        ] {
            assert_eq!(s.parse::<MacAddr>(), Ok(want), "{s}");
        }
        assert_eq!(want.pxelinux(), "01-52-54-00-12-34-ab");
        assert_eq!(want.to_string(), "52:54:00:12:34:ab");
    }

    #[test]
    fn malformed() {
        for s in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:56:78",
            "52:54:00:12:34:zz",
            "123:4:5:6:7:8",
            "52::00:12:34:56",
        ] {
            assert!(s.parse::<MacAddr>().is_err(), "{s}");
        }
    }
}
