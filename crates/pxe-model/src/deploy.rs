//! A profile's `deploy` section, validated: what the deploy agent writes to a machine.
//!
//! The YAML is read by `build_deploy`; what the agent gets is the
//! [`crate::deploy_plan::DeployPlan`] rendered from this for one machine.

use serde::{Deserialize, Serialize};

/// A profile installed by the deploy agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub source: Source,
    pub disk: Disk,
    pub users: Vec<User>,
    /// A shell script run in the installed system last; empty: none.
    pub post: String,
}

/// Where the system comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A disk image streamed to the disk.
    Image(Image),
    /// A Debian system built by debootstrap.
    Packages(Packages),
}

/// A disk image and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Absolute URL (a `/path` in the inventory is made absolute on `servers.http`).
    pub url: String,
    pub format: ImageFormat,
    /// Lower-case hex SHA-256 of the bytes as fetched.
    pub sha256: String,
}

/// How an image is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImageFormat {
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "raw.zst")]
    RawZstd,
    #[serde(rename = "raw.xz")]
    RawXz,
    #[serde(rename = "raw.gz")]
    RawGzip,
    #[serde(rename = "qcow2")]
    Qcow2,
}

impl ImageFormat {
    pub const NAMES: &'static [&'static str] = &["raw", "raw.zst", "raw.xz", "raw.gz", "qcow2"];

    pub fn parse(s: &str) -> Option<ImageFormat> {
        Some(match s {
            "raw" | "img" => ImageFormat::Raw,
            "raw.zst" | "zst" | "zstd" => ImageFormat::RawZstd,
            "raw.xz" | "xz" => ImageFormat::RawXz,
            "raw.gz" | "gz" | "gzip" => ImageFormat::RawGzip,
            "qcow2" => ImageFormat::Qcow2,
            _ => return None,
        })
    }

    /// The format a URL's file name suggests (`.zst`, `.xz`, `.gz`, `.qcow2`), else raw.
    pub fn from_url(url: &str) -> ImageFormat {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        [
            (".zst", ImageFormat::RawZstd),
            (".xz", ImageFormat::RawXz),
            (".gz", ImageFormat::RawGzip),
            (".qcow2", ImageFormat::Qcow2),
        ]
        .into_iter()
        .find(|(end, _)| path.ends_with(end))
        .map_or(ImageFormat::Raw, |(_, f)| f)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::RawZstd => "raw.zst",
            ImageFormat::RawXz => "raw.xz",
            ImageFormat::RawGzip => "raw.gz",
            ImageFormat::Qcow2 => "qcow2",
        }
    }
}

/// A Debian system from a mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Absolute URL of the mirror.
    pub mirror: String,
    pub suite: String,
    /// Extra packages; the agent adds the kernel, GRUB and openssh-server.
    pub packages: Vec<String>,
    /// Absolute URL of the keyring the mirror's Release is signed with; `None`: Debian's
    /// own archive keyring (in the deploy initramfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
}

/// The target disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// `/dev/...`; `None`: the first non-removable disk the agent finds.
    pub device: Option<String>,
    pub firmware: BootFirmware,
    pub filesystem: Filesystem,
}

impl Default for Disk {
    fn default() -> Self {
        Disk {
            device: None,
            firmware: BootFirmware::Both,
            filesystem: Filesystem::Ext4,
        }
    }
}

/// Which firmware the installed disk must boot with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootFirmware {
    Bios,
    Uefi,
    Both,
}

impl BootFirmware {
    pub const NAMES: &'static [&'static str] = &["bios", "uefi", "both"];

    pub fn parse(s: &str) -> Option<BootFirmware> {
        Some(match s {
            "bios" => BootFirmware::Bios,
            "uefi" => BootFirmware::Uefi,
            "both" => BootFirmware::Both,
            _ => return None,
        })
    }
}

/// The root file system in packages mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    Ext4,
    Xfs,
}

impl Filesystem {
    pub const NAMES: &'static [&'static str] = &["ext4", "xfs"];

    pub fn parse(s: &str) -> Option<Filesystem> {
        Some(match s {
            "ext4" => Filesystem::Ext4,
            "xfs" => Filesystem::Xfs,
            _ => return None,
        })
    }
}

/// A user of the installed system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub ssh_keys: Vec<String>,
    pub sudo: bool,
    pub password_hash: Option<String>,
}

/// A login name useradd takes: a lower-case letter or `_`, then letters, digits, `-`, `_`.
pub fn valid_user_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && s.len() <= 32
}

/// An OpenSSH public key line: a known key type, then base64.
pub fn valid_ssh_key(s: &str) -> bool {
    let mut words = s.split_whitespace();
    let kind = words.next().unwrap_or("");
    let body = words.next().unwrap_or("");
    let known = kind.starts_with("ssh-")
        || kind.starts_with("ecdsa-sha2-")
        || kind.starts_with("sk-ssh-")
        || kind.starts_with("sk-ecdsa-");
    known
        && body.len() >= 16
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        && !s.contains(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_urls() {
        for (url, want) in [
            ("http://h/a.img", ImageFormat::Raw),
            ("http://h/a.raw.zst", ImageFormat::RawZstd),
            ("http://h/a.img.xz?x=1", ImageFormat::RawXz),
            ("http://h/a.gz", ImageFormat::RawGzip),
            ("http://h/a.qcow2", ImageFormat::Qcow2),
        ] {
            assert_eq!(ImageFormat::from_url(url), want, "{url}");
        }
        for name in ImageFormat::NAMES {
            let f = ImageFormat::parse(name).expect("each name parses");
            assert_eq!(f.as_str(), *name);
        }
    }

    #[test]
    fn user_names_and_keys() {
        assert!(valid_user_name("ops"));
        assert!(valid_user_name("_svc-1"));
        assert!(!valid_user_name("Ops"));
        assert!(!valid_user_name("1ops"));
        assert!(!valid_user_name("op s"));
        assert!(!valid_user_name(""));
        assert!(valid_ssh_key(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0f ops@lab"
        ));
        assert!(!valid_ssh_key("ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0f"));
        assert!(!valid_ssh_key("ssh-ed25519"));
        assert!(!valid_ssh_key("ssh-ed25519 not*base64*at*all*here"));
    }
}
