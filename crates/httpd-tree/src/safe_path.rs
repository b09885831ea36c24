//! Mapping a request path into a tree without ever leaving it.
//!
//! The URL path is percent-decoded once; an encoded slash, a NUL, a backslash or a
//! `..` segment is refused before the file system is touched; then the joined path is
//! canonicalized and must still be under the canonical root (symlinks leading out are
//! refused too).

use std::path::{Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Bad percent-encoding, an encoded `/`, a NUL or a backslash.
    Malformed,
    /// A `..` segment, or a path that resolves outside the tree.
    Escapes,
    /// Longer than `MAX_PATH` bytes.
    TooLong,
    /// Not there (or not readable).
    NotFound,
}

pub const MAX_PATH: usize = 4096;

/// Percent-decodes a URL path, refusing encodings that change its structure.
pub fn decode(path: &str) -> Result<String, Refused> {
    if path.len() > MAX_PATH {
        return Err(Refused::TooLong);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Refused::Malformed)?;
            let s = std::str::from_utf8(hex).map_err(|_| Refused::Malformed)?;
            let b = u8::from_str_radix(s, 16).map_err(|_| Refused::Malformed)?;
            // An encoded slash would turn one segment into two after decoding.
            if b == b'/' {
                return Err(Refused::Malformed);
            }
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| Refused::Malformed)?;
    if s.contains(['\0', '\\']) {
        return Err(Refused::Malformed);
    }
    Ok(s)
}

/// The relative segments of a decoded path: no `..`, no empty or `.` segments.
pub fn segments(decoded: &str) -> Result<Vec<&str>, Refused> {
    let mut v = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(Refused::Escapes),
            s => v.push(s),
        }
    }
    Ok(v)
}

/// A path inside a tree: the canonical root and the canonical file under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub root: PathBuf,
    pub path: PathBuf,
}

/// Resolves `rel` (already-split segments) under `root`, following symlinks only
/// while they stay inside the tree.
pub fn resolve(root: &Path, segs: &[&str]) -> Result<Resolved, Refused> {
    let root = root.canonicalize().map_err(|_| Refused::NotFound)?;
    let mut p = root.clone();
    for s in segs {
        p.push(s);
    }
    let real = p.canonicalize().map_err(|_| Refused::NotFound)?;
    if real.starts_with(&root) {
        Ok(Resolved { root, path: real })
    } else {
        Err(Refused::Escapes)
    }
}

/// `decode`, `segments` and `resolve` in one step.
pub fn map(root: &Path, url_path: &str) -> Result<Resolved, Refused> {
    let decoded = decode(url_path)?;
    let segs = segments(&decoded)?;
    resolve(root, &segs)
}

/// Opens a resolved file for reading without following any symlink on the way:
/// `openat2` beneath the root with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so a
/// symlink swapped in after `resolve` makes the open fail instead of leaving the tree.
/// Kernels without `openat2` get `O_NOFOLLOW` (the last component only). `O_NONBLOCK`
/// keeps a FIFO from blocking the open; the caller serves regular files only.
pub fn open(r: &Resolved) -> std::io::Result<std::fs::File> {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let rel = r.path.strip_prefix(&r.root).unwrap_or(Path::new(""));
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let dir = std::fs::File::open(&r.root)?;
    let how = OpenHow::new().flags(flags).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    let fd = match openat2(&dir, rel, how) {
        Ok(fd) => fd,
        Err(Errno::ENOSYS) => open(&r.path, flags | OFlag::O_NOFOLLOW, Mode::empty())?,
        Err(e) => return Err(e.into()),
    };
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("images/pxeboot")).expect("mkdir");
        std::fs::write(root.join("images/pxeboot/vmlinuz"), "k").expect("write");
        std::fs::write(root.join("a b.txt"), "space").expect("write");
        std::fs::write(t.path().join("secret"), "outside").expect("write");
        std::os::unix::fs::symlink(t.path().join("secret"), root.join("leak")).expect("symlink");
        std::os::unix::fs::symlink("/etc", root.join("etc")).expect("symlink");
        std::os::unix::fs::symlink("images/pxeboot/vmlinuz", root.join("inside")).expect("symlink");
        t
    }

    #[test]
    fn ordinary_paths_resolve() {
        let t = tree();
        let root = t.path().join("root");
        for p in [
            "/images/pxeboot/vmlinuz",
            "images//pxeboot/./vmlinuz",
            "/a%20b.txt",
            "/inside",
            "/images/%70xeboot/vmlinuz",
        ] {
            let r = map(&root, p).unwrap_or_else(|e| panic!("{p}: {e:?}"));
            assert!(open(&r).is_ok(), "{p}");
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        let t = tree();
        let root = t.path().join("root");
        let cases = [
            ("/../secret", Refused::Escapes),
            ("/images/../../secret", Refused::Escapes),
            ("/%2e%2e/secret", Refused::Escapes),
            ("/%2E%2E/secret", Refused::Escapes),
            ("/images/%2e%2e/%2e%2e/secret", Refused::Escapes),
            ("/..%2fsecret", Refused::Malformed),
            ("/images%2f..%2f..%2fsecret", Refused::Malformed),
            ("/%2Fetc/passwd", Refused::Malformed),
            ("/leak", Refused::Escapes),
            ("/etc/passwd", Refused::Escapes),
            ("/images/pxeboot/vmlinuz%00.txt", Refused::Malformed),
            ("/..\\secret", Refused::Malformed),
            ("/%5c..%5csecret", Refused::Malformed),
            ("/%", Refused::Malformed),
            ("/%zz", Refused::Malformed),
            ("/%c0%ae%c0%ae/secret", Refused::Malformed),
            ("/missing", Refused::NotFound),
        ];
        for (p, want) in cases {
            assert_eq!(map(&root, p), Err(want), "{p}");
        }
        assert_eq!(
            map(&root, &format!("/{}", "a".repeat(5000))),
            Err(Refused::TooLong)
        );
    }

    #[test]
    fn a_symlink_swapped_in_after_resolve_is_not_followed() {
        let t = tree();
        let root = t.path().join("root");
        let r = map(&root, "/a%20b.txt").expect("resolves");
        std::fs::remove_file(root.join("a b.txt")).expect("rm");
        std::os::unix::fs::symlink(t.path().join("secret"), root.join("a b.txt")).expect("symlink");
        assert!(open(&r).is_err());
    }
}
