//! Path policy: from the name a client asked for to a file under one of the roots, or a refusal
//! with the TFTP error tftpd-hpa would send.
//!
//! Two stages. [`normalize`] is lexical (no file system): it refuses NUL, backslash, control
//! characters, bytes that were not UTF-8, over-long names and `..` components anywhere, then
//! applies tftpd-hpa's two modes: with `-s` the name is relative to the one root (a leading `/`
//! is stripped); without `-s` it must be absolute and lie under one of the root directories.
//! [`resolve`] then canonicalizes (following symlinks) and refuses anything whose real path
//! leaves the root, then applies tftpd-hpa's permission rules: reads need a world-readable
//! regular file, writes an existing world-writable one, unless `-p`; new files only with `-c`.
//!
//! We are stricter than tftpd-hpa in three places, on purpose: `..` is refused even under `-s`
//! (tftpd-hpa relies on chroot there), a root matches by whole path components (tftpd-hpa
//! compares string prefixes, so `/srv/tftp` also admits `/srv/tftpfoo`), and a backslash is
//! refused (tftpd-hpa on Unix takes it as an ordinary character; remap rules that turn `\` into
//! `/` still work, since they run before this check).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

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
    secure: bool,
}

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
}

impl Denied {
    /// The TFTP error code to send.
    pub fn code(&self) -> ErrorCode {
        match self {
            Denied::NotFound => ErrorCode::FileNotFound,
            Denied::Access(_) | Denied::Remap(_) => ErrorCode::AccessViolation,
        }
    }

    /// The message to send.
    pub fn message(&self) -> String {
        match self {
            Denied::NotFound => "File not found".into(),
            Denied::Access(why) => (*why).into(),
            Denied::Remap(why) => why.clone(),
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
    /// The canonical path to open (for a new file: canonical parent + name).
    pub path: PathBuf,
    /// The name relative to its root.
    pub relative: String,
    /// Whether the file exists (false only for a write with `-c`).
    pub exists: bool,
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
        for d in dirs {
            let c = d.canonicalize()?;
            if !c.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a directory", d.display()),
                ));
            }
            given.push(clean(d));
            canonical.push(c);
        }
        Ok(Roots {
            given,
            canonical,
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

/// The full check, lexical then on the file system.
pub fn resolve(
    roots: &Roots,
    requested: &str,
    access: Access,
    policy: &Policy,
) -> Result<Resolved, Denied> {
    let n = normalize(roots, requested)?;
    let root = roots
        .canonical
        .get(n.root)
        .ok_or(Denied::Access("No such root"))?;
    let joined = root.join(&n.relative);
    match joined.canonicalize() {
        Ok(real) => {
            if !real.starts_with(root) {
                return Err(Denied::Access("Path leaves the root"));
            }
            let meta = real.metadata().map_err(io_denied)?;
            if !meta.is_file() {
                return Err(Denied::Access("Not a regular file"));
            }
            let mode = meta.permissions().mode();
            match access {
                Access::Read if !policy.permissive && mode & 0o004 == 0 => {
                    Err(Denied::Access("File not world-readable"))
                }
                Access::Write if !policy.permissive && mode & 0o002 == 0 => {
                    Err(Denied::Access("File not world-writable"))
                }
                _ => Ok(Resolved {
                    root: root.clone(),
                    path: real,
                    relative: n.relative,
                    exists: true,
                }),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if access == Access::Read || !policy.create {
                return Err(Denied::NotFound);
            }
            // A dangling symlink also fails canonicalize with NotFound: never write through it.
            if joined.symlink_metadata().is_ok() {
                return Err(Denied::Access("Dangling symlink"));
            }
            let name = joined.file_name().ok_or(Denied::Access("Not a file"))?;
            let parent = joined
                .parent()
                .ok_or(Denied::Access("Not a file"))?
                .canonicalize()
                .map_err(io_denied)?;
            if !parent.starts_with(root) {
                return Err(Denied::Access("Path leaves the root"));
            }
            Ok(Resolved {
                root: root.clone(),
                path: parent.join(name),
                relative: n.relative,
                exists: false,
            })
        }
        Err(e) => Err(io_denied(e)),
    }
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
