//! `machines.NAME.power`: a machine's BMC settings, checked. A password written inline
//! is refused (its place is given, not its value, and never echoed).

use crate::diag::Diagnostics;
use crate::power::{DEFAULT_SYSTEM, Driver, Password, Power};
use crate::schema;
use crate::yaml::{Fields, Node};

pub(crate) fn power(node: &Node, machine: &str, d: &mut Diagnostics) -> Option<Power> {
    let what = format!("the power settings of machine \"{machine}\"");
    let mut known = schema::POWER.names();
    // Known so that it gets its own refusal below rather than "unknown key".
    known.push("password");
    let f = Fields::open(node, node.pos, &what, &known, d);
    if let Some(p) = f.get("password") {
        d.error(
            p.pos,
            format!(
                "{what}: a password is never written in the inventory; give password_file \
                 (a file holding it) or password_env (an environment variable of the daemons)"
            ),
        );
    }
    let driver = f.choice("driver", Driver::NAMES, d);
    if f.get("driver").is_none() {
        d.error(f.pos, format!("{what} needs `driver` (ipmi or redfish)"));
    }
    let driver = driver.map(|c| {
        if c.value == "redfish" {
            Driver::Redfish
        } else {
            Driver::Ipmi
        }
    })?;
    let address = f.required_text("address", &what, d);
    let address = match (driver, address) {
        (_, None) => None,
        (Driver::Redfish, Some(a)) => {
            let ok = (a.value.starts_with("http://") || a.value.starts_with("https://"))
                && !a.value.contains(char::is_whitespace);
            if ok {
                Some(a.value.trim_end_matches('/').to_owned())
            } else {
                d.error(
                    a.pos,
                    format!(
                        "`address`: a Redfish service is a URL such as https://10.0.0.9, found \"{}\"",
                        a.value
                    ),
                );
                None
            }
        }
        (Driver::Ipmi, Some(a)) => {
            let ok = !a.value.is_empty()
                && !a.value.starts_with('-')
                && a.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:_[]".contains(c));
            if ok {
                Some(a.value)
            } else {
                d.error(
                    a.pos,
                    format!(
                        "`address`: expected a BMC host name or address, found \"{}\"",
                        a.value
                    ),
                );
                None
            }
        }
    };
    let port = f.parsed("port", d, |s| {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("expected a port number 1 to 65535, found \"{s}\""))
    });
    let cipher_suite = f.parsed("cipher_suite", d, |s| {
        s.parse::<u8>()
            .ok()
            .filter(|c| *c <= 17)
            .ok_or_else(|| format!("expected an RMCP+ cipher suite 0 to 17, found \"{s}\""))
    });
    if driver == Driver::Redfish
        && let Some(c) = &cipher_suite
    {
        d.error(c.pos, "`cipher_suite`: only the ipmi driver has one");
    }
    let username = f.required_text("username", &what, d);
    if let Some(u) = &username
        && (u.value.is_empty() || u.value.starts_with('-') || u.value.len() > 16)
    {
        d.error(
            u.pos,
            "`username`: expected 1 to 16 characters, not starting with -",
        );
    }
    let file = f.text("password_file", d);
    let env = f.text("password_env", d);
    let password = match (file, env) {
        (Some(file), None) => {
            if file.value.starts_with('/') {
                Some(Password::File(file.value.into()))
            } else {
                d.error(
                    file.pos,
                    format!(
                        "`password_file`: expected an absolute path, found \"{}\"",
                        file.value
                    ),
                );
                None
            }
        }
        (None, Some(env)) => {
            let ok = !env.value.is_empty()
                && !env.value.starts_with(|c: char| c.is_ascii_digit())
                && env
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Some(Password::Env(env.value))
            } else {
                d.error(
                    env.pos,
                    format!(
                        "`password_env`: expected an environment variable name, found \"{}\"",
                        env.value
                    ),
                );
                None
            }
        }
        (Some(_), Some(env)) => {
            d.error(
                env.pos,
                format!("{what}: give password_file or password_env, not both"),
            );
            None
        }
        (None, None) => {
            if f.get("password").is_none() {
                d.error(
                    f.pos,
                    format!("{what} needs `password_file` or `password_env`"),
                );
            }
            None
        }
    };
    let system = match f.text("system", d) {
        None => DEFAULT_SYSTEM.to_owned(),
        Some(s) if s.value.starts_with("/redfish/") && !s.value.contains("..") => {
            s.value.trim_end_matches('/').to_owned()
        }
        Some(s) => {
            d.error(
                s.pos,
                format!(
                    "`system`: expected a path such as {DEFAULT_SYSTEM}, found \"{}\"",
                    s.value
                ),
            );
            return None;
        }
    };
    if driver == Driver::Redfish
        && let Some(p) = &port
    {
        d.error(
            p.pos,
            "`port`: a Redfish service's port goes in its address URL",
        );
    }
    Some(Power {
        driver,
        address: address?,
        port: port.map(|p| p.value),
        username: username?.value,
        password: password?,
        system,
        cipher_suite: cipher_suite.map(|c| c.value),
    })
}

#[cfg(test)]
mod tests {
    use crate::power::{Driver, Password};

    const HEAD: &str = "servers:\n  tftp: 10.0.0.2\n  http: http://10.0.0.3:8080\n\
distros:\n  d:\n    family: redhat\n    tree: /srv/d\n    kernel: k\n    initrd: i\n\
profiles:\n  p:\n    distro: d\nmachines:\n";

    #[test]
    fn power_settings_load() {
        let text = format!(
            "{HEAD}  web01:\n    mac: 52:54:00:00:00:01\n    profile: p\n    power:\n      \
             driver: ipmi\n      address: 127.0.0.1\n      port: 9623\n      cipher_suite: 3\n      username: \
             admin\n      password_file: /etc/pxe/bmc-web01\n  web02:\n    mac: \
             52:54:00:00:00:02\n    profile: p\n    power:\n      driver: redfish\n      \
             address: https://bmc2/\n      username: root\n      password_env: WEB02_BMC\n  \
             web03:\n    mac: 52:54:00:00:00:03\n    profile: p\n"
        );
        let inv = match crate::load_str("inv.yaml", &text, std::path::Path::new("/")) {
            Ok(i) => i,
            Err(d) => panic!("{}", d.render()),
        };
        let p1 = inv.machines["web01"].power.clone().expect("web01 power");
        assert_eq!(p1.driver, Driver::Ipmi);
        assert_eq!(p1.address, "127.0.0.1");
        assert_eq!(p1.port, Some(9623));
        assert_eq!(p1.cipher_suite, Some(3));
        assert_eq!(p1.password, Password::File("/etc/pxe/bmc-web01".into()));
        let p2 = inv.machines["web02"].power.clone().expect("web02 power");
        assert_eq!(p2.driver, Driver::Redfish);
        assert_eq!(p2.address, "https://bmc2");
        assert_eq!(p2.system, "/redfish/v1/Systems/1");
        assert_eq!(p2.password, Password::Env("WEB02_BMC".into()));
        assert_eq!(inv.machines["web03"].power, None);
    }
}
