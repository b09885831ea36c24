//! Reading a profile's `deploy` section: every error located and collected.

use crate::deploy::{
    BootFirmware, Deploy, Disk, Filesystem, Image, ImageFormat, Packages, Source, User,
    valid_ssh_key, valid_user_name,
};
use crate::diag::{At, Diagnostics};
use crate::schema;
use crate::yaml::{Fields, Node};

/// The `deploy` mapping of `profile`; `None` after reporting its errors.
pub(crate) fn deploy(node: &Node, profile: &str, d: &mut Diagnostics) -> Option<Deploy> {
    let what = format!("the deploy section of profile \"{profile}\"");
    let f = Fields::open(node, node.pos, &what, &schema::DEPLOY.names(), d);
    let errors_before = d.len();
    let source = match (f.get("image"), f.get("packages")) {
        (Some(n), None) => image(n, &what, d).map(Source::Image),
        (None, Some(n)) => packages(n, &what, d).map(Source::Packages),
        (Some(_), Some(p)) => {
            d.error(
                p.pos,
                format!("{what} has both `image` and `packages`; give one"),
            );
            None
        }
        (None, None) => {
            d.error(
                f.pos,
                format!("{what} needs `image` (a disk image) or `packages` (debootstrap)"),
            );
            None
        }
    };
    let disk = f
        .get("disk")
        .map_or_else(Disk::default, |n| disk(n, &what, d));
    let users = f
        .get("users")
        .map(|n| users(n, &what, d))
        .unwrap_or_default();
    let post = f.text("post", d).map(|t| t.value).unwrap_or_default();
    if d.len() > errors_before {
        return None;
    }
    Some(Deploy {
        source: source?,
        disk,
        users,
        post,
    })
}

/// An `http://` URL with a host, or a `/path` on httpd-tree. Not `https://`: the deploy
/// agent's initramfs has no TLS (the image's sha256 in the plan is what vouches for it).
fn parse_fetch_url(s: &str) -> Result<String, String> {
    if s.contains(char::is_whitespace) {
        return Err(format!("a URL has no spaces, found \"{s}\""));
    }
    if s.starts_with('/') && !s.starts_with("//") {
        return Ok(s.to_owned());
    }
    if s.starts_with("https://") {
        return Err(format!(
            "the deploy agent fetches plain http:// only (its initramfs has no TLS; the \
             sha256 checks the image), found \"{s}\": serve it from httpd-tree (a /path) or \
             an http:// mirror"
        ));
    }
    let rest = s.strip_prefix("http://").ok_or_else(|| {
        format!("expected an http:// URL or a /path on httpd-tree, found \"{s}\"")
    })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("expected a URL with a host, found \"{s}\""));
    }
    Ok(s.to_owned())
}

fn parse_sha256(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!(
            "expected a SHA-256 of 64 hex digits (sha256sum prints it), found \"{s}\" ({} characters)",
            hex.len()
        ))
    }
}

fn image(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Image> {
    let what = format!("the image of {what}");
    let f = Fields::open(node, node.pos, &what, &schema::DEPLOY_IMAGE.names(), d);
    let url = if f.get("url").is_some() {
        f.parsed("url", d, parse_fetch_url)
    } else {
        d.error(f.pos, format!("{what} needs `url`"));
        None
    };
    let sha256 = if f.get("sha256").is_some() {
        f.parsed("sha256", d, parse_sha256)
    } else {
        d.error(
            f.pos,
            format!("{what} needs `sha256` (every image is verified while it is written)"),
        );
        None
    };
    let format = f.parsed("format", d, |s| {
        ImageFormat::parse(s).ok_or_else(|| {
            format!(
                "expected one of {}, found \"{s}\"",
                ImageFormat::NAMES.join(", ")
            )
        })
    });
    let url = url?.value;
    Some(Image {
        format: format.map_or_else(|| ImageFormat::from_url(&url), |f| f.value),
        url,
        sha256: sha256?.value,
    })
}

fn packages(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Packages> {
    let what = format!("the packages of {what}");
    let f = Fields::open(node, node.pos, &what, &schema::DEPLOY_PACKAGES.names(), d);
    let mirror = if f.get("mirror").is_some() {
        f.parsed("mirror", d, parse_fetch_url)
    } else {
        d.error(
            f.pos,
            format!("{what} needs `mirror` (a Debian mirror's URL)"),
        );
        None
    };
    let suite = f.required_text("suite", &what, d);
    if let Some(s) = &suite
        && !s
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        d.error(s.pos, format!("suite \"{}\" is not a suite name", s.value));
    }
    let list = f
        .get("packages")
        .map(|n| n.text_list("a package name", d))
        .unwrap_or_default();
    for p in &list {
        check_package_name(p, d);
    }
    let keyring = match f.get("keyring") {
        Some(_) => Some(f.parsed("keyring", d, parse_fetch_url)?.value),
        None => None,
    };
    Some(Packages {
        keyring,
        mirror: mirror?.value.trim_end_matches('/').to_owned(),
        suite: suite?.value,
        packages: list.into_iter().map(|p| p.value).collect(),
    })
}

/// Debian package names: lower-case letters, digits, `+ - .`, at least two characters.
fn check_package_name(p: &At<String>, d: &mut Diagnostics) {
    let ok = p.value.len() >= 2
        && p.value
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && p.value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if !ok {
        d.error(
            p.pos,
            format!("\"{}\" is not a Debian package name", p.value),
        );
    }
}

fn disk(node: &Node, what: &str, d: &mut Diagnostics) -> Disk {
    let what = format!("the disk of {what}");
    let f = Fields::open(node, node.pos, &what, &schema::DEPLOY_DISK.names(), d);
    let mut disk = Disk::default();
    if let Some(dev) = f.parsed("device", d, |s| {
        if s.starts_with("/dev/")
            && s.len() > 5
            && !s.contains(char::is_whitespace)
            && !s.contains("..")
        {
            Ok(s.to_owned())
        } else {
            Err(format!("expected a device such as /dev/sda, found \"{s}\""))
        }
    }) {
        disk.device = Some(dev.value);
    }
    if let Some(fw) = f.parsed("firmware", d, |s| {
        BootFirmware::parse(s).ok_or_else(|| {
            format!(
                "expected one of {}, found \"{s}\"",
                BootFirmware::NAMES.join(", ")
            )
        })
    }) {
        disk.firmware = fw.value;
    }
    if let Some(fs) = f.parsed("filesystem", d, |s| {
        Filesystem::parse(s).ok_or_else(|| {
            format!(
                "expected one of {}, found \"{s}\"",
                Filesystem::NAMES.join(", ")
            )
        })
    }) {
        disk.filesystem = fs.value;
    }
    disk
}

fn users(node: &Node, what: &str, d: &mut Diagnostics) -> Vec<User> {
    let items = match &node.kind {
        crate::yaml::Kind::Seq(items) => items.iter().collect::<Vec<_>>(),
        _ => {
            d.error(
                node.pos,
                format!(
                    "expected the users of {what} as a list, found {}",
                    node.describe()
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<At<User>> = Vec::new();
    for n in items {
        let Some(u) = user(n, what, d) else { continue };
        if let Some(first) = out.iter().find(|o| o.value.name == u.value.name) {
            d.error(
                u.pos,
                format!(
                    "duplicate user \"{}\": already at line {}",
                    u.value.name, first.pos.line
                ),
            );
            continue;
        }
        out.push(u);
    }
    out.into_iter().map(|u| u.value).collect()
}

fn user(node: &Node, what: &str, d: &mut Diagnostics) -> Option<At<User>> {
    let what = format!("a user of {what}");
    let f = Fields::open(node, node.pos, &what, &schema::DEPLOY_USER.names(), d);
    let name = f.required_text("name", &what, d);
    if let Some(n) = &name
        && !valid_user_name(&n.value)
    {
        d.error(
            n.pos,
            format!(
                "user name \"{}\" must start with a lower-case letter or _, then letters, digits, - or _ (at most 32)",
                n.value
            ),
        );
    }
    let mut keys = Vec::new();
    for k in f
        .get("ssh_keys")
        .map(|n| n.text_list("an SSH public key", d))
        .unwrap_or_default()
    {
        if valid_ssh_key(&k.value) {
            keys.push(k.value);
        } else {
            let shown: String = k.value.chars().take(40).collect();
            d.error(
                k.pos,
                format!(
                    "expected an OpenSSH public key (ssh-ed25519 AAAA... comment), found \"{shown}\""
                ),
            );
        }
    }
    let sudo = f.choice("sudo", &["true", "false"], d);
    let password_hash = f.parsed("password_hash", d, |s| {
        if s.starts_with('$') && !s.contains([':', '\n']) {
            Ok(s.to_owned())
        } else {
            Err("expected a crypt(3) hash such as $6$salt$... (mkpasswd prints one)".to_owned())
        }
    });
    let name = name?;
    Some(At::new(
        User {
            name: name.value,
            ssh_keys: keys,
            sudo: sudo.is_some_and(|s| s.value == "true"),
            password_hash: password_hash.map(|p| p.value),
        },
        name.pos,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_fetches_plain_http_or_httpd_tree_paths() {
        assert_eq!(
            parse_fetch_url("/trees/images/debian-12.raw.zst").as_deref(),
            Ok("/trees/images/debian-12.raw.zst")
        );
        assert!(parse_fetch_url("http://mirror.lab/debian/").is_ok());
        let e = parse_fetch_url("https://cloud.debian.org/images/x.qcow2").expect_err("https");
        assert!(e.contains("plain http:// only"), "{e}");
        assert!(parse_fetch_url("ftp://mirror/x.img").is_err());
        assert!(parse_fetch_url("http:///x").is_err());
        assert!(parse_fetch_url("//host/x").is_err());
        assert!(parse_fetch_url("http://h/a b").is_err());
    }
}
