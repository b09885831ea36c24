//! Opening a file beneath a root directory without ever leaving it: the one way tftpd and
//! httpd-tree open what they serve (and what tftpd writes).
//!
//! What [`open_beneath`] (root given as an open directory) and [`open_under`] (root given
//! by path) guarantee:
//!
//! - no `..`: a `..` component anywhere is refused, even one that would stay inside;
//! - no absolute path outside: [`open_beneath`] refuses every absolute path; [`open_under`]
//!   takes an absolute path only when it lies under the root as given, whole component by
//!   whole component (`/srv/tftp` does not admit `/srv/tftpfoo/x`), and opens the rest
//!   relative to the root;
//! - no symlink out of the root, because no symlink is followed at all on the way: neither a
//!   directory on the way nor the last component, magic links (`/proc/self/fd/N`) included.
//!   Symlinks in the root's own path are followed: the root comes from the configuration,
//!   not from a client;
//! - every file is opened `O_CLOEXEC | O_NOFOLLOW` (and `O_NOCTTY` unless `O_PATH`) on top of
//!   the caller's flags.
//!
//! Mount points under the root are crossed (an ISO mounted under a tree is served).
//!
//! The order of the checks:
//!
//! 1. lexical, before the file system is touched: [`open_under`] strips the root from an
//!    absolute path (not under it: refused); then a root or `..` component is refused;
//!    `.` and empty components are ignored;
//! 2. [`open_under`] opens the root (`O_PATH | O_DIRECTORY`);
//! 3. `openat2` relative to the root with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//!    RESOLVE_NO_MAGICLINKS` (Linux 5.6 and later): the kernel enforces all of the above in
//!    one call, with no race;
//! 4. only when the kernel has no `openat2` (`ENOSYS`, remembered for the life of the
//!    process): a walk from the root one component at a time, each directory opened
//!    `O_PATH | O_NOFOLLOW` relative to the one before and checked with `fstat` (a symlink
//!    fails with `ELOOP`, anything else but a directory with `ENOTDIR`, as with `openat2`),
//!    then the last component with the caller's flags and `O_NOFOLLOW`. Each step is relative
//!    to the descriptor of the step before, so a symlink swapped in meanwhile is seen, never
//!    followed.
//!
//! A refusal of step 1 is an [`io::Error`] of kind `PermissionDenied` around [`Escapes`]
//! (see [`is_escape`]); a symlink on the way is `ELOOP`; a missing file is `ENOENT`.
//!
//! Symlinks that stay inside the root are still served (tftpd-hpa and web servers follow
//! them): the daemon resolves the name first with [`canonical_beneath`], which follows
//! symlinks and refuses a real path outside the canonical root, then opens the canonical
//! path, which has no symlink left in it, with [`open_under`]. A symlink swapped in between
//! makes the open fail instead of leaving the root.

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, SFlag, fstat};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The error inside an [`io::Error`] (of kind `PermissionDenied`) when a path would leave
/// its root: a `..` component, an absolute path, or a real path outside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escapes;

impl fmt::Display for Escapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("path escapes the root")
    }
}

impl std::error::Error for Escapes {}

/// Whether `e` is a refusal because the path would leave its root.
pub fn is_escape(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Escapes>())
}

fn escapes() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, Escapes)
}

/// Step 1: `rel` if it is relative and has no `..` component (`.` for an empty path).
fn relative(rel: &Path) -> io::Result<&Path> {
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(escapes());
    }
    Ok(if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    })
}

/// Opens the directory `root` to open files beneath (`O_PATH | O_DIRECTORY`); symlinks in
/// `root` itself are followed.
pub fn open_root(root: &Path) -> io::Result<File> {
    let fd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Opens `rel` beneath the directory `root` with `flags` (and `mode` when creating), without
/// `..`, absolute paths or symlinks: see the [module documentation](self).
pub fn open_beneath(root: impl AsFd, rel: &Path, flags: OFlag, mode: u32) -> io::Result<File> {
    static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);
    if !OPENAT2_MISSING.load(Ordering::Relaxed) {
        match open_by(by_openat2, root.as_fd(), rel, flags, mode) {
            Err(e) if e.raw_os_error() == Some(Errno::ENOSYS as i32) => {
                OPENAT2_MISSING.store(true, Ordering::Relaxed);
            }
            done => return done,
        }
    }
    open_by(walk, root.as_fd(), rel, flags, mode)
}

/// Opens `path` beneath the directory `root` (both given by path): `path` is either relative
/// to `root` or absolute and under `root` as given. See the [module documentation](self).
pub fn open_under(root: &Path, path: &Path, flags: OFlag, mode: u32) -> io::Result<File> {
    let rel = if path.is_absolute() {
        path.strip_prefix(root).map_err(|_| escapes())?
    } else {
        path
    };
    let rel = relative(rel)?;
    open_beneath(open_root(root)?, rel, flags, mode)
}

/// One way of opening a checked relative path beneath a directory.
type Way = fn(BorrowedFd<'_>, &Path, OFlag, Mode) -> nix::Result<OwnedFd>;

/// Steps 1 and 3 or 4: the lexical check, the flags every file gets, then `way`.
fn open_by(
    way: Way,
    root: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlag,
    mode: u32,
) -> io::Result<File> {
    let rel = relative(rel)?;
    let mut flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    // `O_PATH` takes no other open flags but these (openat2 refuses `O_NOCTTY` with EINVAL).
    if !flags.contains(OFlag::O_PATH) {
        flags |= OFlag::O_NOCTTY;
    }
    // `openat2` refuses a mode without a file to create (EINVAL); `openat` ignores it.
    let mode = if flags.intersects(OFlag::O_CREAT | OFlag::O_TMPFILE) {
        Mode::from_bits_truncate(mode as nix::libc::mode_t)
    } else {
        Mode::empty()
    };
    way(root, rel, flags, mode)
        .map(File::from)
        .map_err(io::Error::from)
}

/// Step 3: the kernel resolves beneath `root`, following no symlink.
fn by_openat2(root: BorrowedFd<'_>, rel: &Path, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    let how = OpenHow::new().flags(flags).mode(mode).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    openat2(root, rel, how)
}

/// Step 4: component by component from `root`, following no symlink. A `..` or absolute
/// `rel` fails with `EXDEV`, as with `RESOLVE_BENEATH` (step 1 refuses them before).
fn walk(root: BorrowedFd<'_>, rel: &Path, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            _ => return Err(Errno::EXDEV),
        }
    }
    let Some((last, dirs)) = names.split_last() else {
        return openat(root, ".", flags, mode);
    };
    let mut held: Option<OwnedFd> = None;
    for name in dirs {
        let at = held.as_ref().map_or(root, |d| d.as_fd());
        let next = openat(
            at,
            *name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let kind = SFlag::from_bits_truncate(fstat(&next)?.st_mode) & SFlag::S_IFMT;
        // Anything else but a directory fails the next `openat` with `ENOTDIR`.
        if kind == SFlag::S_IFLNK {
            return Err(Errno::ELOOP);
        }
        held = Some(next);
    }
    openat(
        held.as_ref().map_or(root, |d| d.as_fd()),
        *last,
        flags,
        mode,
    )
}

/// A name resolved by [`canonical_beneath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// The canonical root.
    pub root: PathBuf,
    /// The canonical path, under `root`.
    pub path: PathBuf,
}

/// Resolves `rel` under `root`, following symlinks only while the real path stays under the
/// canonical root: a `..` or absolute `rel`, or a real path outside, is refused with
/// [`Escapes`]; a missing file is the error of `canonicalize`. Open the result with
/// [`open_under`], so that a symlink swapped in since is not followed.
pub fn canonical_beneath(root: &Path, rel: &Path) -> io::Result<Canonical> {
    let rel = relative(rel)?;
    let root = root.canonicalize()?;
    let path = root.join(rel).canonicalize()?;
    if path.starts_with(&root) {
        Ok(Canonical { root, path })
    } else {
        Err(escapes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    const WAYS: [(&str, Way); 2] = [("openat2", by_openat2), ("walk", walk)];

    /// `<t>/root` with `sub/t` ("x") and `a b.txt`, `<t>/secret` outside, and symlinks in
    /// the root: `leak` to the secret, `etc` to `/etc`, `inside` to `sub/t`, `dl` to `sub`,
    /// `proc` to `/proc/self/root` (a magic link on the way), `dangling` to `<t>/new`.
    struct Tree {
        t: tempfile::TempDir,
        root: PathBuf,
    }

    fn tree() -> Tree {
        let t = tempfile::tempdir().expect("tempdir");
        let base = t.path().canonicalize().expect("canonical");
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/t"), "x").expect("write");
        std::fs::write(root.join("a b.txt"), "space").expect("write");
        std::fs::write(base.join("secret"), "outside").expect("write");
        symlink(base.join("secret"), root.join("leak")).expect("symlink");
        symlink("/etc", root.join("etc")).expect("symlink");
        symlink("sub/t", root.join("inside")).expect("symlink");
        symlink("sub", root.join("dl")).expect("symlink");
        symlink("/proc/self/root", root.join("proc")).expect("symlink");
        symlink(base.join("new"), root.join("dangling")).expect("symlink");
        Tree { t, root }
    }

    impl Tree {
        fn open(&self, way: Way, rel: &str, flags: OFlag, mode: u32) -> io::Result<File> {
            let dir = open_root(&self.root).expect("root");
            open_by(way, dir.as_fd(), Path::new(rel), flags, mode)
        }

        fn read(&self, way: Way, rel: &str) -> io::Result<File> {
            self.open(way, rel, OFlag::O_RDONLY, 0)
        }

        fn outside(&self, name: &str) -> PathBuf {
            self.t.path().join(name)
        }
    }

    fn content(mut f: File) -> String {
        let mut s = String::new();
        f.read_to_string(&mut s).expect("read");
        s
    }

    #[test]
    fn plain_names_open_either_way() {
        let t = tree();
        for (how, way) in WAYS {
            for rel in ["sub/t", "./sub//t", "sub/./t"] {
                let f = t
                    .read(way, rel)
                    .unwrap_or_else(|e| panic!("{how} {rel}: {e}"));
                assert_eq!(content(f), "x", "{how} {rel}");
            }
            assert_eq!(content(t.read(way, "a b.txt").expect("space")), "space");
            for rel in ["", ".", "sub", "sub/"] {
                let f = t
                    .read(way, rel)
                    .unwrap_or_else(|e| panic!("{how} {rel:?}: {e}"));
                assert!(f.metadata().expect("stat").is_dir(), "{how} {rel:?}");
            }
        }
    }

    #[test]
    fn dotdot_and_absolute_names_are_refused_before_the_file_system() {
        let t = tree();
        let inside = t.root.join("sub/t");
        let inside = inside.to_str().expect("utf-8");
        for (how, way) in WAYS {
            // `missing/..` would be "not found" if the file system were asked first.
            for rel in [
                "..",
                "../secret",
                "sub/../../secret",
                "sub/..",
                "sub/../sub/t",
                "missing/../sub/t",
                "/etc/passwd",
                inside,
            ] {
                let e = t.read(way, rel).expect_err(rel);
                assert!(is_escape(&e), "{how} {rel}: {e}");
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{how} {rel}");
            }
        }
    }

    #[test]
    fn either_way_refuses_dotdot_and_absolute_names_by_itself() {
        let t = tree();
        let dir = open_root(&t.root).expect("root");
        for (how, way) in WAYS {
            for rel in ["..", "../secret", "sub/../../secret", "/etc/passwd"] {
                let e = way(dir.as_fd(), Path::new(rel), OFlag::O_RDONLY, Mode::empty());
                assert_eq!(e.err(), Some(Errno::EXDEV), "{how} {rel}");
            }
        }
    }

    #[test]
    fn no_symlink_is_followed_either_way() {
        let t = tree();
        for (how, way) in WAYS {
            for rel in [
                "leak",
                "etc",
                "etc/passwd",
                "inside",
                "dl/t",
                "proc",
                "proc/etc/passwd",
            ] {
                let e = t.read(way, rel).expect_err(rel);
                assert_eq!(
                    e.raw_os_error(),
                    Some(Errno::ELOOP as i32),
                    "{how} {rel}: {e}"
                );
            }
        }
    }

    #[test]
    fn other_failures_are_the_same_errors_either_way() {
        let t = tree();
        for (how, way) in WAYS {
            for (rel, want) in [
                ("missing", Errno::ENOENT),
                ("missing/t", Errno::ENOENT),
                ("sub/missing", Errno::ENOENT),
                ("sub/t/x", Errno::ENOTDIR),
                ("a b.txt/x", Errno::ENOTDIR),
            ] {
                let e = t.read(way, rel).expect_err(rel);
                assert_eq!(e.raw_os_error(), Some(want as i32), "{how} {rel}: {e}");
            }
        }
    }

    #[test]
    fn writes_create_and_truncate_inside_and_never_through_a_symlink() {
        let t = tree();
        let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
        let truncate = OFlag::O_WRONLY | OFlag::O_TRUNC;
        for (how, way) in WAYS {
            let name = format!("sub/new-{how}");
            let mut f = t.open(way, &name, create, 0o600).expect("create");
            f.write_all(b"new").expect("write");
            let meta = std::fs::metadata(t.root.join(&name)).expect("created");
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
            assert_eq!(mode & 0o777, 0o600, "{how}: the mode is passed on");
            // An existing file, with the mode a creating caller passes anyway.
            let mut f = t.open(way, &name, truncate, 0o666).expect("truncate");
            f.write_all(b"2").expect("write");
            assert_eq!(std::fs::read(t.root.join(&name)).expect("read"), b"2");
            for rel in ["dangling", "dl/new"] {
                assert!(t.open(way, rel, create, 0o666).is_err(), "{how} {rel}");
            }
            assert!(t.open(way, "leak", truncate, 0).is_err(), "{how}");
        }
        assert!(!t.outside("new").exists());
        assert!(!t.root.join("sub/new").exists());
        assert_eq!(
            std::fs::read(t.outside("secret")).expect("secret"),
            b"outside"
        );
    }

    #[test]
    fn open_under_takes_absolute_paths_under_the_root_only() {
        let t = tree();
        let (root, rd) = (t.root.as_path(), OFlag::O_RDONLY);
        assert!(open_under(root, &root.join("sub/t"), rd, 0).is_ok());
        assert!(open_under(root, Path::new("sub/t"), rd, 0).is_ok());
        assert!(open_under(root, root, rd, 0).is_ok());
        // A sibling whose name starts with the root's is not under it.
        let sibling = t.outside("rootfoo");
        std::fs::create_dir(&sibling).expect("mkdir");
        std::fs::write(sibling.join("t"), "sibling").expect("write");
        for path in [
            sibling.join("t"),
            t.outside("secret"),
            PathBuf::from("/etc/passwd"),
            root.join("../secret"),
            root.join("sub/../../secret"),
        ] {
            let e = open_under(root, &path, rd, 0).expect_err("outside");
            assert!(is_escape(&e), "{}: {e}", path.display());
        }
        assert!(open_under(root, &root.join("leak"), rd, 0).is_err());
        // Symlinks in the root's own path are the configuration's: followed.
        let link = t.outside("current");
        symlink(root, &link).expect("symlink");
        let f = open_under(&link, &link.join("sub/t"), rd, 0).expect("through the root link");
        assert_eq!(content(f), "x");
        let f = open_beneath(open_root(&link).expect("root"), Path::new("sub/t"), rd, 0);
        assert_eq!(content(f.expect("beneath the root link")), "x");
    }

    #[test]
    fn symlinks_within_resolve_and_symlinks_out_do_not() {
        let t = tree();
        let root = t.root.as_path();
        for rel in ["inside", "dl/t", "sub/t"] {
            let c = canonical_beneath(root, Path::new(rel)).expect(rel);
            assert_eq!(c.root, root);
            assert_eq!(c.path, root.join("sub/t"));
            let f = open_under(&c.root, &c.path, OFlag::O_RDONLY, 0).expect(rel);
            assert_eq!(content(f), "x");
        }
        for rel in [
            "leak",
            "etc/passwd",
            "proc/etc/passwd",
            "../secret",
            "/etc/passwd",
            "sub/../sub/t",
        ] {
            let e = canonical_beneath(root, Path::new(rel)).expect_err(rel);
            assert!(is_escape(&e), "{rel}: {e}");
        }
        let e = canonical_beneath(root, Path::new("missing")).expect_err("missing");
        assert!(!is_escape(&e) && e.kind() == io::ErrorKind::NotFound, "{e}");
    }

    #[test]
    fn a_symlink_swapped_in_after_resolving_is_not_followed() {
        let t = tree();
        let root = t.root.as_path();
        // The file itself.
        let c = canonical_beneath(root, Path::new("a b.txt")).expect("resolves");
        std::fs::remove_file(&c.path).expect("rm");
        symlink(t.outside("secret"), &c.path).expect("symlink");
        let e = open_under(&c.root, &c.path, OFlag::O_RDONLY, 0).expect_err("swapped file");
        assert_eq!(e.raw_os_error(), Some(Errno::ELOOP as i32), "{e}");
        // A directory on the way.
        let c = canonical_beneath(root, Path::new("sub/t")).expect("resolves");
        let elsewhere = t.outside("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir");
        std::fs::write(elsewhere.join("t"), "outside").expect("write");
        std::fs::rename(root.join("sub"), root.join("sub.old")).expect("mv");
        symlink(&elsewhere, root.join("sub")).expect("symlink");
        let e = open_under(&c.root, &c.path, OFlag::O_RDONLY, 0).expect_err("swapped dir");
        assert_eq!(e.raw_os_error(), Some(Errno::ELOOP as i32), "{e}");
    }

    #[test]
    fn a_directory_opens_as_a_path_handle_beneath_the_root() {
        for (how, way) in WAYS {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
            let root = open_root(dir.path()).expect("open root");
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
            let sub = open_by(way, root.as_fd(), Path::new("sub"), flags, 0);
            assert!(sub.is_ok(), "{how}: {sub:?}");
        }
    }
}
