//! Mapping a request path into a tree without ever leaving it.
//!
//! The URL path is percent-decoded once; an encoded slash, a NUL, a backslash or a
//! `..` segment is refused before the file system is touched; then the file is opened
//! beneath the tree's root with [`pxe_daemon::beneath`], which refuses `..`, absolute
//! paths and every symlink on the way.
//!
//! The common case costs one `stat` and one `openat2`: the file is opened beneath the
//! (kept open) root, and the open file rides along to be served. Only a path with a
//! symlink in it takes the canonicalizing way ([`beneath::canonical_beneath`]: symlinks
//! are followed while they stay inside the tree), and is opened beneath the root when
//! served.

use nix::fcntl::OFlag;
use pxe_daemon::beneath;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

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
    /// The file, when resolving already opened it safely (no symlink on the way), so
    /// that serving it does not open it again.
    pub handle: Option<Box<Handle>>,
}

impl Resolved {
    /// Whether the path names a directory (from the open handle when there is one).
    pub fn is_dir(&self) -> bool {
        match &self.handle {
            Some(h) => h.meta.is_dir(),
            None => self.path.is_dir(),
        }
    }
}

/// A file opened beneath its root, with its metadata at the time of the open.
#[derive(Debug, Clone)]
pub struct Handle {
    pub file: Arc<File>,
    pub meta: std::fs::Metadata,
}

/// A handle is a by-product of resolving: two resolutions of the same path are equal
/// whether or not they kept one.
impl PartialEq for Handle {
    fn eq(&self, _: &Handle) -> bool {
        true
    }
}

impl Eq for Handle {}

/// The flags every file in a tree is opened with (on top of those [`beneath`] adds).
/// `O_NONBLOCK` keeps a FIFO from blocking the open; only regular files are served.
fn read_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_NONBLOCK
}

/// The segments as a path relative to the root (`.` when there are none).
fn relative(segs: &[&str]) -> PathBuf {
    let mut rel = PathBuf::from(".");
    for s in segs {
        rel.push(s);
    }
    rel
}

/// The canonical path of an open directory, from `/proc/self/fd` (one system call,
/// however deep the directory is), else `None`.
fn fd_path(dir: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let p = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()?;
    // A directory removed meanwhile reads as "... (deleted)": let the slow path decide.
    let plain = p.is_absolute() && !p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)");
    plain.then_some(p)
}

/// A tree root, open: its canonical path and a directory handle to open files beneath.
#[derive(Debug, Clone)]
struct OpenRoot {
    canonical: PathBuf,
    dir: Arc<File>,
    /// The directory's identity, to notice that the root path now leads elsewhere.
    dev: u64,
    ino: u64,
}

/// Open roots by configured path: opening and canonicalizing a root on every request
/// would cost three system calls where one `stat` checks it is still the same. The
/// `stat` notices a new mount or a changed symlink at once; [`close_roots`], which
/// the server calls every second, bounds the rest (the same directory renamed) and
/// keeps an idle server from holding trees open.
static ROOTS: LazyLock<Mutex<HashMap<PathBuf, OpenRoot>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The root at `root` (symlinks in the root's own path are followed), open.
fn open_root(root: &Path) -> Option<OpenRoot> {
    let meta = std::fs::metadata(root).ok()?;
    let roots = ROOTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = roots.get(root)
        && r.dev == meta.dev()
        && r.ino == meta.ino()
    {
        return Some(r.clone());
    }
    drop(roots);
    let dir = beneath::open_root(root).ok()?;
    let meta = dir.metadata().ok()?;
    let r = OpenRoot {
        canonical: fd_path(&dir)?,
        dir: Arc::new(dir),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    let mut roots = ROOTS.lock().unwrap_or_else(|p| p.into_inner());
    // Trees come from the configuration: a handful. Bound it anyway.
    if roots.len() >= 256 {
        roots.clear();
    }
    roots.insert(root.to_path_buf(), r.clone());
    Some(r)
}

/// Closes the open roots; the next request for each opens it again (and finds its
/// canonical path again). A mounted ISO can then be unmounted.
pub fn close_roots() {
    ROOTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The common case in one open: when no component under the root is a symlink, the
/// canonical path is the canonical root joined with the segments, and the file is
/// opened right away. `None` means "take the slow path" (a symlink on the way, or
/// anything unexpected); only a plain "not there" is final.
fn resolve_direct(root: &Path, segs: &[&str]) -> Option<Result<Resolved, Refused>> {
    use nix::errno::Errno;
    let open_root = open_root(root)?;
    let file = match beneath::open_beneath(&*open_root.dir, &relative(segs), read_flags(), 0) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.raw_os_error().map(Errno::from_raw),
                Some(Errno::ENOENT | Errno::ENOTDIR)
            ) =>
        {
            return Some(Err(Refused::NotFound));
        }
        Err(_) => return None,
    };
    let meta = file.metadata().ok()?;
    let root = open_root.canonical;
    let mut path = root.clone();
    for s in segs {
        path.push(s);
    }
    Some(Ok(Resolved {
        root,
        path,
        handle: Some(Box::new(Handle {
            file: Arc::new(file),
            meta,
        })),
    }))
}

/// Resolves `rel` (already-split segments) under `root`, following symlinks only
/// while they stay inside the tree.
pub fn resolve(root: &Path, segs: &[&str]) -> Result<Resolved, Refused> {
    if let Some(direct) = resolve_direct(root, segs) {
        return direct;
    }
    match beneath::canonical_beneath(root, &relative(segs)) {
        Ok(c) => Ok(Resolved {
            root: c.root,
            path: c.path,
            handle: None,
        }),
        Err(e) if beneath::is_escape(&e) => Err(Refused::Escapes),
        Err(_) => Err(Refused::NotFound),
    }
}

/// `decode`, `segments` and `resolve` in one step.
pub fn map(root: &Path, url_path: &str) -> Result<Resolved, Refused> {
    let decoded = decode(url_path)?;
    let segs = segments(&decoded)?;
    resolve(root, &segs)
}

/// Opens a resolved file for reading beneath its root without following any symlink on
/// the way ([`beneath::open_under`]), so a symlink swapped in after `resolve` makes the
/// open fail instead of leaving the tree.
pub fn open(r: &Resolved) -> std::io::Result<File> {
    beneath::open_under(&r.root, &r.path, read_flags(), 0)
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
    fn plain_paths_come_open_and_a_repointed_root_is_noticed_at_once() {
        let t = tree();
        let root = t.path().join("root");
        let canon = root.canonicalize().expect("canonical root");
        let r = map(&root, "/images/pxeboot/vmlinuz").expect("resolves");
        let h = r
            .handle
            .as_ref()
            .expect("no symlink on the way: opened while resolving");
        assert!(h.meta.is_file() && h.meta.len() == 1);
        assert_eq!(r.path, canon.join("images/pxeboot/vmlinuz"));
        assert_eq!(r.root, canon);
        // A symlink inside the tree takes the slow way, to the same canonical answer.
        let r = map(&root, "/inside").expect("resolves");
        assert!(r.handle.is_none());
        assert_eq!(r.path, canon.join("images/pxeboot/vmlinuz"));
        assert!(map(&root, "/images").expect("a directory").is_dir());
        assert!(!map(&root, "/a%20b.txt").expect("a file").is_dir());
        // The configured root is a symlink, then pointed at another tree: the very next
        // request sees the new tree, though the old root is kept open.
        let other = t.path().join("other");
        std::fs::create_dir(&other).expect("mkdir");
        std::fs::write(other.join("only-here"), "new").expect("write");
        let link = t.path().join("current");
        std::os::unix::fs::symlink(&root, &link).expect("symlink");
        assert_eq!(map(&link, "/a%20b.txt").expect("old tree").root, canon);
        assert_eq!(map(&link, "/only-here"), Err(Refused::NotFound));
        std::fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink(&other, &link).expect("symlink");
        let r = map(&link, "/only-here").expect("the new tree at once");
        assert_eq!(r.root, other.canonicalize().expect("canonical"));
        assert_eq!(map(&link, "/a%20b.txt"), Err(Refused::NotFound));
        // The server's housekeeping closes roots; they open again when asked for.
        let held = |p: &Path| ROOTS.lock().expect("roots").contains_key(p);
        assert!(held(&link));
        close_roots();
        assert!(!held(&link) && !held(&root), "closed");
        assert!(map(&link, "/only-here").is_ok());
        assert!(held(&link), "open again");
    }
}
