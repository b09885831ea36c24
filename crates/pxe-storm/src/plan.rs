//! What each machine fetches after DHCP, from templates on the command line:
//! `pxelinux.cfg/01-{mac_dashes}` (TFTP from the boot server DHCP named),
//! `tftp://10.0.0.2/vmlinuz`, `http://10.0.0.3/answers/{mac}`. Placeholders: `{mac}`,
//! `{mac_dashes}`, `{ip}`, `{ip_hex}`, `{index}`, `{firmware}`, `{boot_server}`.

use crate::firmware::Firmware;
use std::net::Ipv4Addr;

/// Where one fetch goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A TFTP read: server (`None`: the boot server DHCP named), file name.
    Tftp {
        server: Option<String>,
        file: String,
    },
    /// An HTTP GET of this URL.
    Http(String),
}

/// A fetch with placeholders still in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(String);

/// The facts a template is filled with.
pub struct Facts<'a> {
    pub mac: &'a [u8; 6],
    pub ip: Ipv4Addr,
    pub index: u32,
    pub firmware: Firmware,
    pub boot_server: Ipv4Addr,
}

const PLACEHOLDERS: [&str; 7] = [
    "mac",
    "mac_dashes",
    "ip",
    "ip_hex",
    "index",
    "firmware",
    "boot_server",
];

impl Template {
    /// Checks the placeholders now, so that a typo is an error before the storm starts.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("`{text}`: a `{{` without its `}}`"));
            };
            let name = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "`{text}`: unknown placeholder {{{name}}} (known: {})",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ));
            }
            rest = &rest[open + close + 1..];
        }
        if text.contains("://") && !text.starts_with("http://") && !text.starts_with("tftp://") {
            return Err(format!(
                "`{text}`: only http:// and tftp:// URLs (or a TFTP path)"
            ));
        }
        Ok(Template(text.to_string()))
    }

    pub fn fill(&self, f: &Facts<'_>) -> Target {
        let mac: Vec<String> = f.mac.iter().map(|b| format!("{b:02x}")).collect();
        let ip_hex: String = f.ip.octets().iter().map(|b| format!("{b:02X}")).collect();
        let text = self
            .0
            .replace("{mac_dashes}", &format!("01-{}", mac.join("-")))
            .replace("{mac}", &mac.join(":"))
            .replace("{ip_hex}", &ip_hex)
            .replace("{ip}", &f.ip.to_string())
            .replace("{index}", &f.index.to_string())
            .replace("{firmware}", f.firmware.name())
            .replace("{boot_server}", &f.boot_server.to_string());
        target_of(&text)
    }
}

/// A boot file or filled template as a fetch.
pub fn target_of(text: &str) -> Target {
    if text.starts_with("http://") {
        return Target::Http(text.to_string());
    }
    if let Some(rest) = text.strip_prefix("tftp://") {
        let (server, file) = rest.split_once('/').unwrap_or((rest, ""));
        return Target::Tftp {
            server: Some(server.to_string()),
            file: file.to_string(),
        };
    }
    Target::Tftp {
        server: None,
        file: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            mac: &[0x02, 0x50, 0, 0, 0x01, 0xff],
            ip: Ipv4Addr::new(10, 77, 0, 9),
            index: 511,
            firmware: Firmware::Uefi,
            boot_server: Ipv4Addr::new(10, 77, 0, 2),
        }
    }

    #[test]
    fn placeholders_fill_in() {
        let t = Template::parse("pxelinux.cfg/{mac_dashes}").expect("template");
        assert_eq!(
            t.fill(&facts()),
            Target::Tftp {
                server: None,
                file: "pxelinux.cfg/01-02-50-00-00-01-ff".into()
            }
        );
        let t = Template::parse(
            "http://{boot_server}:8080/a/{mac}/{ip_hex}?n={index}&f={firmware}&ip={ip}",
        )
        .expect("template");
        assert_eq!(
            t.fill(&facts()),
            Target::Http(
                "http://10.77.0.2:8080/a/02:50:00:00:01:ff/0A4D0009?n=511&f=uefi&ip=10.77.0.9"
                    .into()
            )
        );
        let t = Template::parse("tftp://10.0.0.5/boot/vmlinuz").expect("template");
        assert_eq!(
            t.fill(&facts()),
            Target::Tftp {
                server: Some("10.0.0.5".into()),
                file: "boot/vmlinuz".into()
            }
        );
    }

    #[test]
    fn typos_are_refused() {
        assert!(Template::parse("a/{mca}").is_err());
        assert!(Template::parse("a/{mac").is_err());
        assert!(Template::parse("ftp://x/y").is_err());
    }
}
