//! Content types for files in install trees, boot loader directories and plain roots.

use std::borrow::Cow;
use std::path::Path;

/// Plain text, for answer files, boot scripts and configs.
pub const TEXT: &str = "text/plain; charset=utf-8";
pub const HTML: &str = "text/html; charset=utf-8";
pub const JSON: &str = "application/json";
/// The OpenMetrics text format that `/metrics` answers in.
pub const PROMETHEUS: &str = pxe_daemon::metrics::CONTENT_TYPE;
pub const OCTETS: &str = "application/octet-stream";

/// The content type of a file, by name. Boot files get what loaders and installers
/// expect; anything else falls back to `mime_guess`, then to octet-stream.
pub fn content_type(path: &Path) -> Cow<'static, str> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if matches!(name, ".treeinfo" | "treeinfo" | "Release" | "InRelease") {
        return Cow::Borrowed(TEXT);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let fixed = match ext.as_str() {
        "ipxe" | "cfg" | "conf" | "ks" | "seed" | "txt" | "md5" | "sha256" | "sum" | "asc"
        | "gpg" | "info" | "lst" | "log" => Some(TEXT),
        "html" | "htm" => Some(HTML),
        "json" => Some(JSON),
        "iso" => Some("application/x-iso9660-image"),
        "rpm" => Some("application/x-rpm"),
        "deb" | "udeb" => Some("application/vnd.debian.binary-package"),
        "efi" | "0" | "kpxe" | "pxe" | "lkrn" | "c32" | "img" | "squashfs" | "mod" => Some(OCTETS),
        "gz" => Some("application/gzip"),
        "xz" => Some("application/x-xz"),
        "zst" => Some("application/zstd"),
        "bz2" => Some("application/x-bzip2"),
        _ => None,
    };
    if let Some(t) = fixed {
        return Cow::Borrowed(t);
    }
    if ext.is_empty() {
        // vmlinuz, linux, initrd: binaries without an extension.
        return Cow::Borrowed(OCTETS);
    }
    match mime_guess::from_ext(&ext).first_raw() {
        Some(t) if t.starts_with("text/") => Cow::Owned(format!("{t}; charset=utf-8")),
        Some(t) => Cow::Borrowed(t),
        None => Cow::Borrowed(OCTETS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_files_and_fallbacks() {
        for (name, want) in [
            ("images/pxeboot/vmlinuz", OCTETS),
            ("boot.ipxe", TEXT),
            ("pxelinux.cfg/default", OCTETS),
            ("EFI/BOOT/grub.cfg", TEXT),
            (".treeinfo", TEXT),
            ("dists/bookworm/Release", TEXT),
            ("grubx64.efi", OCTETS),
            ("Packages/bash-5.1.rpm", "application/x-rpm"),
            ("install.iso", "application/x-iso9660-image"),
            ("initrd.gz", "application/gzip"),
            ("index.HTML", HTML),
            ("style.css", "text/css; charset=utf-8"),
            ("photo.png", "image/png"),
            ("weird.zzzqqq", OCTETS),
        ] {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }
}
