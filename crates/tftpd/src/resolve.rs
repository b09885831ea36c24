//! Path policy: from the name a client asked for to a file under one of the roots, or a refusal
//! with the TFTP error tftpd-hpa would send.
//!
//! Two stages. [`normalize`] is lexical (no file system): it refuses NUL, backslash, control
//! characters, bytes that were not UTF-8, over-long names and `..` components anywhere, then
//! applies tftpd-hpa's two modes: with `-s` the name is relative to the one root (a leading `/`
//! is stripped); without `-s` it must be absolute and lie under one of the root directories.
//! [`resolve`] then finds the real path (following symlinks) beneath the root's descriptor,
//! opened once at start before privileges are dropped, and refuses anything whose real path
//! leaves the root, then applies tftpd-hpa's permission rules: reads need a world-readable
//! regular file, writes an existing world-writable one, unless `-p`; new files only with `-c`.
//!
//! We are stricter than tftpd-hpa in three places, on purpose: `..` is refused even under `-s`
//! (tftpd-hpa relies on chroot there), a root matches by whole path components (tftpd-hpa
//! compares string prefixes, so `/srv/tftp` also admits `/srv/tftpfoo`), and a backslash is
//! refused (tftpd-hpa on Unix takes it as an ordinary character; remap rules that turn `\` into
//! `/` still work, since they run before this check).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::AtFlags;
use nix::sys::stat::SFlag;

use crate::packet::ErrorCode;

/// Longest accepted name, in bytes (Linux `PATH_MAX`).
pub const MAX_NAME_LEN: usize = 4096;
/// Longest accepted path component, in bytes (Linux `NAME_MAX`).
pub const MAX_COMPONENT_LEN: usize = 255;

/// The directories given on the command line.
#[derive(Debug, Clone)]
pub struct Roots {
    /// As given, lexically cleaned (what client names are matched against without `-s`).
    given: Vec<PathBuf>,
    /// Canonical forms, in the same order (what real paths must stay under).
    canonical: Vec<PathBuf>,
    /// Each root opened (`O_PATH`) when the roots were made: names are resolved and files
    /// opened beneath these descriptors, so a root opened before privileges were dropped
    /// is served even if the user dropped to cannot reach it by path (a 0700 parent).
    dirs: Vec<RootDir>,
    secure: bool,
}

/// An open root directory, shared by every [`Resolved`] beneath it.
#[derive(Debug, Clone)]
pub struct RootDir(Arc<File>);

impl RootDir {
    /// Opens `path` (`O_PATH | O_DIRECTORY`).
    pub fn open(path: &Path) -> io::Result<RootDir> {
        pxe_daemon::beneath::open_root(path).map(|f| RootDir(Arc::new(f)))
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl PartialEq for RootDir {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RootDir {}

/// Whether the client reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// RRQ.
    Read,
    /// WRQ.
    Write,
}

impl Access {
    /// The request's opcode name, as logs show it.
    pub fn op(self) -> &'static str {
        match self {
            Access::Read => "RRQ",
            Access::Write => "WRQ",
        }
    }
}

/// The permission switches of tftpd-hpa.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// `-p`: no world-readable / world-writable checks.
    pub permissive: bool,
    /// `-c`: writes may create files.
    pub create: bool,
}

/// Why a request is refused; each maps to the TFTP error tftpd-hpa sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// No such file (TFTP error 1).
    #[error("file not found")]
    NotFound,
    /// Refused by policy (TFTP error 2); the reason is logged, the client sees it too.
    #[error("access violation: {0}")]
    Access(&'static str),
    /// A remap rule refused the request (TFTP error 2), with the rule's message.
    #[error("access violation: {0}")]
    Remap(String),
    /// A machine's own generated file asked for from an address that is not the machine's
    /// (TFTP error 2, [`NOT_THE_MACHINE`]); the generator has logged why.
    #[error("access violation: {NOT_THE_MACHINE}")]
    NotTheMachine {
        /// The inventory machine the file is for.
        machine: String,
    },
}

/// The ERROR message to a requester that is not the machine a generated file is for.
pub const NOT_THE_MACHINE: &str = "File is only for its machine's address";

impl Denied {
    /// The TFTP error code to send.
    pub fn code(&self) -> ErrorCode {
        match self {
            Denied::NotFound => ErrorCode::FileNotFound,
            Denied::Access(_) | Denied::Remap(_) | Denied::NotTheMachine { .. } => {
                ErrorCode::AccessViolation
            }
        }
    }

    /// The message to send.
    pub fn message(&self) -> String {
        match self {
            Denied::NotFound => "File not found".into(),
            Denied::Access(why) => (*why).into(),
            Denied::Remap(why) => why.clone(),
            Denied::NotTheMachine { .. } => NOT_THE_MACHINE.into(),
        }
    }
}

/// A name after the lexical stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Index of the root it falls under.
    pub root: usize,
    /// The path relative to that root, `/`-separated, without `.` or empty components.
    pub relative: String,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical root the path lies under.
    pub root: PathBuf,
    /// That root, open: open [`Resolved::beneath`] relative to it.
    pub dir: RootDir,
    /// The canonical path to open (for a new file: canonical parent + name).
    pub path: PathBuf,
    /// The name relative to its root.
    pub relative: String,
    /// Whether the file exists (false only for a write with `-c`).
    pub exists: bool,
}

impl Resolved {
    /// The path relative to the root (`path` without `root`).
    pub fn beneath(&self) -> &Path {
        self.path.strip_prefix(&self.root).unwrap_or(Path::new("."))
    }
}

impl Roots {
    /// Roots from the command line. With `secure`, exactly one directory is expected (the
    /// first is used, as tftpd-hpa does).
    pub fn new(dirs: &[PathBuf], secure: bool) -> io::Result<Roots> {
        if dirs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no root directory given",
            ));
        }
        let dirs = if secure { &dirs[..1] } else { dirs };
        let mut given = Vec::new();
        let mut canonical = Vec::new();
        let mut opened = Vec::new();
        for d in dirs {
            let c = d.canonicalize()?;
            if !c.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a directory", d.display()),
                ));
            }
            opened.push(RootDir::open(&c)?);
            given.push(clean(d));
            canonical.push(c);
        }
        Ok(Roots {
            given,
            canonical,
            dirs: opened,
            secure,
        })
    }

    /// The canonical root directories.
    pub fn canonical(&self) -> &[PathBuf] {
        &self.canonical
    }
}

/// Lexical cleanup of a root as given: drops `.` and repeated slashes.
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The lexical stage: no file system access.
pub fn normalize(roots: &Roots, requested: &str) -> Result<Normalized, Denied> {
    if requested.is_empty() {
        return Err(Denied::Access("Empty file name"));
    }
    if requested.len() > MAX_NAME_LEN {
        return Err(Denied::Access("File name too long"));
    }
    if requested.contains('\\') {
        return Err(Denied::Access("Backslash not permitted"));
    }
    if requested.contains('\u{fffd}') {
        return Err(Denied::Access("File name is not valid UTF-8"));
    }
    if requested.chars().any(|c| c.is_control()) {
        return Err(Denied::Access("Control character in file name"));
    }
    let absolute = requested.starts_with('/');
    if !roots.secure && !absolute {
        return Err(Denied::Access("Only absolute filenames allowed"));
    }
    let mut parts = Vec::new();
    for part in requested.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(Denied::Access("Reverse path not permitted")),
            p if p.len() > MAX_COMPONENT_LEN => {
                return Err(Denied::Access("File name too long"));
            }
            p => parts.push(p),
        }
    }
    if roots.secure {
        if parts.is_empty() {
            return Err(Denied::Access("Not a file"));
        }
        return Ok(Normalized {
            root: 0,
            relative: parts.join("/"),
        });
    }
    for (i, root) in roots.given.iter().enumerate() {
        let root_parts: Vec<&str> = root
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        if parts.len() > root_parts.len() && parts.get(..root_parts.len()) == Some(&root_parts[..])
        {
            let rest = parts.get(root_parts.len()..).unwrap_or_default();
            return Ok(Normalized {
                root: i,
                relative: rest.join("/"),
            });
        }
    }
    Err(Denied::Access("Forbidden directory"))
}

/// The full check, lexical then on the file system (beneath the root's descriptor).
pub fn resolve(
    roots: &Roots,
    requested: &str,
    access: Access,
    policy: &Policy,
) -> Result<Resolved, Denied> {
    let n = normalize(roots, requested)?;
    let (root, dir) = match (roots.canonical.get(n.root), roots.dirs.get(n.root)) {
        (Some(r), Some(d)) => (r, d),
        _ => return Err(Denied::Access("No such root")),
    };
    let parts: Vec<&str> = n.relative.split('/').filter(|p| !p.is_empty()).collect();
    match real_beneath(dir.fd(), root, &parts) {
        Ok(real) => {
            let st = stat_at(dir.fd(), &real, false).map_err(io_denied)?;
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
                return Err(Denied::Access("Not a regular file"));
            }
            let mode = st.st_mode;
            match access {
                Access::Read if !policy.permissive && mode & 0o004 == 0 => {
                    Err(Denied::Access("File not world-readable"))
                }
                Access::Write if !policy.permissive && mode & 0o002 == 0 => {
                    Err(Denied::Access("File not world-writable"))
                }
                _ => Ok(Resolved {
                    root: root.clone(),
                    dir: dir.clone(),
                    path: root.join(real),
                    relative: n.relative,
                    exists: true,
                }),
            }
        }
        Err(Walk::Escapes) => Err(Denied::Access("Path leaves the root")),
        Err(Walk::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            if access == Access::Read || !policy.create {
                return Err(Denied::NotFound);
            }
            let (name, parent) = parts.split_last().ok_or(Denied::Access("Not a file"))?;
            let parent = match real_beneath(dir.fd(), root, parent) {
                Ok(p) => p,
                Err(Walk::Escapes) => return Err(Denied::Access("Path leaves the root")),
                Err(Walk::Io(e)) => return Err(io_denied(e)),
            };
            // A dangling symlink also ends the walk with NotFound: never write through it.
            if stat_at(dir.fd(), &parent.join(name), false).is_ok() {
                return Err(Denied::Access("Dangling symlink"));
            }
            Ok(Resolved {
                root: root.clone(),
                dir: dir.clone(),
                path: root.join(parent).join(name),
                relative: n.relative,
                exists: false,
            })
        }
        Err(Walk::Io(e)) => Err(io_denied(e)),
    }
}

/// Why [`real_beneath`] stopped.
enum Walk {
    /// The real path leaves the root (a `..` above it, or a symlink to outside).
    Escapes,
    /// A component is missing, not searchable, or too many symlinks.
    Io(io::Error),
}

/// Most symlinks followed while resolving one name (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: u32 = 40;

/// The real path of `parts` beneath the directory `dir` (whose canonical path is `root`),
/// relative to it: what `canonicalize` would give, stripped of `root`, but resolved
/// relative to the descriptor, so no component of `root` itself is looked up again.
/// Symlinks are followed while they stay beneath the root: a relative target from the
/// link's directory, an absolute one only when it lies under `root`.
fn real_beneath(dir: BorrowedFd<'_>, root: &Path, parts: &[&str]) -> Result<PathBuf, Walk> {
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: std::collections::VecDeque<std::ffi::OsString> =
        parts.iter().map(std::ffi::OsString::from).collect();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        match part.to_str() {
            Some("" | ".") => continue,
            Some("..") => {
                done.pop().ok_or(Walk::Escapes)?;
                continue;
            }
            _ => {}
        }
        let candidate: PathBuf = done.iter().chain(std::iter::once(&part)).collect();
        let st = stat_at(dir, &candidate, false).map_err(Walk::Io)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFLNK {
            done.push(part);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(Walk::Io(io::Error::from_raw_os_error(nix::libc::ELOOP)));
        }
        let target =
            nix::fcntl::readlinkat(dir, &candidate).map_err(|e| Walk::Io(io::Error::from(e)))?;
        let target = PathBuf::from(target);
        let rest = if target.is_absolute() {
            done.clear();
            match target.strip_prefix(root) {
                Ok(inside) => inside.to_owned(),
                // As `canonicalize` sees it: a missing target is missing, not an escape.
                Err(_) if target.symlink_metadata().is_err() => {
                    return Err(Walk::Io(io::Error::from(io::ErrorKind::NotFound)));
                }
                Err(_) => return Err(Walk::Escapes),
            }
        } else {
            target
        };
        for c in rest.components().rev() {
            match c {
                Component::Normal(s) => todo.push_front(s.to_owned()),
                Component::ParentDir => todo.push_front("..".into()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
    }
    Ok(done.iter().collect())
}

/// `fstatat` of `rel` beneath `dir` (`.` for an empty path), following a final symlink
/// only with `follow`. `rel` is a real path from [`real_beneath`]: no symlink on the way.
fn stat_at(dir: BorrowedFd<'_>, rel: &Path, follow: bool) -> io::Result<nix::sys::stat::FileStat> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::AT_SYMLINK_NOFOLLOW
    };
    nix::sys::stat::fstatat(dir, rel, flags).map_err(io::Error::from)
}

fn io_denied(e: io::Error) -> Denied {
    match e.kind() {
        io::ErrorKind::NotFound => Denied::NotFound,
        _ => Denied::Access("Permission denied"),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
