//! Where a distro's install tree is: a directory served by httpd-tree, or a location on
//! another server (`http://`, `https://`, `ftp://`, `nfs:`), and what each installer
//! family can reach.
//!
//! A tree on an FTP or NFS server cannot give the loaders its kernel and initrd (pxelinux
//! and GRUB fetch over TFTP, iPXE here over HTTP), so for those trees `kernel` and
//! `initrd` are paths under the TFTP root, as in the seed guides' layout
//! (`/var/lib/tftpboot/centos7/vmlinuz` beside a tree exported over NFS).

use crate::inventory::{Distro, Family, Tree};

/// The kind of location a remote tree has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
    Ftp,
    Nfs,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ftp => "ftp",
            Scheme::Nfs => "nfs",
        }
    }
}

/// The forms the `tree` key takes, for messages.
pub const FORMS: &str = "a directory, or http://HOST/PATH, https://HOST/PATH, \
                         ftp://HOST/PATH, nfs:HOST:/PATH (or nfs://HOST/PATH)";

/// Reads a `tree` value: a directory (returned as written, for the caller to place) or a
/// remote location (normalized: no trailing slash, NFS as `nfs:HOST:/PATH`). A value that
/// looks like a location but is none of the known ones is an error, never a relative path.
pub fn parse_tree(value: &str) -> Result<TreeSpec, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("expected {FORMS}, found an empty value"));
    }
    if let Some((scheme, rest)) = v.split_once("://") {
        let known = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ftp" => Scheme::Ftp,
            "nfs" => Scheme::Nfs,
            other => {
                return Err(format!(
                    "unknown scheme \"{other}://\" in tree \"{v}\": expected {FORMS}"
                ));
            }
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(format!("tree \"{v}\" names no server: expected {FORMS}"));
        }
        let path = path.trim_end_matches('/');
        return Ok(TreeSpec::Url(match known {
            Scheme::Nfs => format!("nfs:{host}:/{path}"),
            _ if path.is_empty() => format!("{}://{host}", known.as_str()),
            _ => format!("{}://{host}/{path}", known.as_str()),
        }));
    }
    if let Some(rest) = v.strip_prefix("nfs:") {
        // nfs:[OPTIONS:]HOST:/PATH, as anaconda and dracut write it.
        let Some((host, path)) = rest.rsplit_once(":/") else {
            return Err(format!(
                "tree \"{v}\" is not nfs:HOST:/PATH (the export's path starts with /)"
            ));
        };
        let host_only = host.rsplit(':').next().unwrap_or(host);
        if host_only.is_empty() {
            return Err(format!(
                "tree \"{v}\" names no NFS server: expected nfs:HOST:/PATH"
            ));
        }
        let path = path.trim_end_matches('/');
        return Ok(TreeSpec::Url(format!("nfs:{host}:/{path}")));
    }
    // `word:` before any `/`: a scheme we do not know (smb:, cifs:, hd:) or an NFS export
    // written without `nfs:` (10.0.0.5:/export). Never a directory name made relative.
    if let Some(colon) = v.find(':')
        && !v[..colon].contains('/')
    {
        return Err(format!(
            "tree \"{v}\" is neither a directory nor a known location: expected {FORMS}"
        ));
    }
    Ok(TreeSpec::Dir(v.to_owned()))
}

/// What a `tree` value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeSpec {
    /// A directory, as written (relative to the inventory's directory).
    Dir(String),
    /// A normalized remote location.
    Url(String),
}

/// The scheme of a remote tree (`None` for a directory).
pub fn scheme(tree: &Tree) -> Option<Scheme> {
    let Tree::Url(u) = tree else { return None };
    Some(if u.starts_with("nfs:") {
        Scheme::Nfs
    } else if u.starts_with("ftp://") {
        Scheme::Ftp
    } else if u.starts_with("https://") {
        Scheme::Https
    } else {
        Scheme::Http
    })
}

/// Whether the distro's kernel and initrd are paths under the TFTP root rather than inside
/// its tree: trees on FTP and NFS servers, which no loader here fetches from.
pub fn boot_files_on_tftp_root(distro: &Distro) -> bool {
    matches!(scheme(&distro.tree), Some(Scheme::Ftp | Scheme::Nfs))
}

/// Whether pxelinux and GRUB (over TFTP) can boot the distro's installer: a tree served
/// here, or one elsewhere whose kernel and initrd are on the TFTP root.
pub fn bootable_over_tftp(distro: &Distro) -> bool {
    matches!(distro.tree, Tree::Dir(_)) || boot_files_on_tftp_root(distro)
}

/// Why a family's installer cannot use a tree at this location, if it cannot.
pub fn family_reaches(family: Family, tree: &Tree) -> Result<(), String> {
    match (family, scheme(tree)) {
        // choose-mirror knows http, https and ftp mirrors; there is no NFS mirror.
        (Family::Debian, Some(Scheme::Nfs)) => Err(
            "Debian's installer takes its mirror over http, https or ftp, not NFS: serve the tree over one of those"
                .into(),
        ),
        // Subiquity's netboot fetches an ISO and its apt mirror over HTTP.
        (Family::Ubuntu, Some(Scheme::Ftp | Scheme::Nfs)) => Err(
            "Ubuntu's autoinstall reaches its tree over http or https only".into(),
        ),
        _ => Ok(()),
    }
}

/// Splits a tree location into its scheme, host (with port) and path, as answer files
/// want them: `ftp://h:21/pub/c7` → (`ftp`, `h:21`, `/pub/c7`); `nfs:h:/exp/c7` → (`nfs`,
/// `h`, `/exp/c7`).
pub fn split(url: &str) -> (String, String, String) {
    if let Some(rest) = url.strip_prefix("nfs:")
        && let Some((host, path)) = rest.rsplit_once(":/")
    {
        return ("nfs".into(), host.to_owned(), format!("/{path}"));
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (scheme.to_owned(), host.to_owned(), path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_forms() {
        let url = |s: &str| Ok(TreeSpec::Url(s.to_owned()));
        assert_eq!(
            parse_tree("ftp://10.0.0.5/pub/centos7/"),
            url("ftp://10.0.0.5/pub/centos7")
        );
        assert_eq!(
            parse_tree("nfs:10.0.0.5:/export/c7/"),
            url("nfs:10.0.0.5:/export/c7")
        );
        assert_eq!(
            parse_tree("nfs://10.0.0.5/export/c7"),
            url("nfs:10.0.0.5:/export/c7")
        );
        assert_eq!(
            parse_tree("nfs:nfsvers=3:10.0.0.5:/export/c7"),
            url("nfs:nfsvers=3:10.0.0.5:/export/c7")
        );
        assert_eq!(
            parse_tree("HTTPS://m.example/rocky"),
            url("https://m.example/rocky")
        );
        assert_eq!(parse_tree("trees/c7"), Ok(TreeSpec::Dir("trees/c7".into())));
        assert_eq!(parse_tree("/srv/a:b"), Ok(TreeSpec::Dir("/srv/a:b".into())));
        for bad in [
            "smb://h/x",
            "10.0.0.5:/export/c7",
            "hd:sda1:/c7",
            "nfs:10.0.0.5",
            "ftp:///x",
            "",
        ] {
            assert!(parse_tree(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_each_scheme() {
        assert_eq!(
            split("nfs:10.0.0.5:/export/c7"),
            ("nfs".into(), "10.0.0.5".into(), "/export/c7".into())
        );
        assert_eq!(
            split("ftp://10.0.0.5:2121/pub/c7"),
            ("ftp".into(), "10.0.0.5:2121".into(), "/pub/c7".into())
        );
        assert_eq!(
            split("http://10.0.0.3:8080/trees/debian12"),
            (
                "http".into(),
                "10.0.0.3:8080".into(),
                "/trees/debian12".into()
            )
        );
        assert_eq!(
            split("https://m.example"),
            ("https".into(), "m.example".into(), "/".into())
        );
    }
}
