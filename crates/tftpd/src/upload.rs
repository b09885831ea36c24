//! Uploads (WRQ) land in a temporary file beside their target and are renamed into place
//! only once the last block is written and synced, so a failed or abandoned upload leaves
//! nothing behind, and a client never sees half a file under the final name.
//!
//! The temporary file is `.<name>.upload-<random>`, created `O_CREAT | O_EXCL | O_NOFOLLOW`
//! beneath the target's directory (opened beneath the root, see [`pxe_daemon::beneath`]);
//! the rename is relative to that directory's descriptor. A new file is renamed with
//! `RENAME_NOREPLACE`, keeping tftpd-hpa's `O_EXCL`: a name that appeared meanwhile is not
//! overwritten. An existing file is replaced (the new file takes its permission bits), or,
//! when the directory is not writable (tftpd-hpa needs only the file to be writable),
//! written in place as tftpd-hpa does.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag, RenameFlags, renameat2};
use nix::sys::stat::fstatat;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::source::DataSink;

/// Bytes of an upload buffered before a write.
const BUFFER: usize = 64 * 1024;

/// Where an upload's bytes go.
pub struct Upload {
    file: BufWriter<File>,
    /// The target's directory, and the temporary name in it while uncommitted.
    pending: Option<(File, OsString)>,
    /// The target's name in that directory.
    name: OsString,
    /// Replace an existing file (or keep tftpd-hpa's `O_EXCL` for a new one).
    replace: bool,
}

impl Upload {
    /// Opens an upload to `rel` (a real path, no symlink in it) beneath the root directory
    /// `root`, with `mode` (before the umask) for a new file; `exists` says whether the
    /// target exists.
    pub fn open(root: BorrowedFd<'_>, rel: &Path, exists: bool, mode: u32) -> io::Result<Upload> {
        let (parent, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p, n.to_owned()),
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        };
        // (`openat2` takes no `O_PATH` with the flags `open_beneath` adds.)
        let dir = pxe_daemon::beneath::open_beneath(
            root,
            parent,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            0,
        )?;
        let old_mode = if exists {
            let st = fstatat(&dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(io::Error::from)?;
            Some(st.st_mode & 0o7777)
        } else {
            None
        };
        match create_temp(&dir, &name, old_mode.unwrap_or(mode)) {
            Ok((file, tmp)) => {
                if let Some(m) = old_mode {
                    file.set_permissions(std::fs::Permissions::from_mode(m))?;
                }
                Ok(Upload {
                    file: BufWriter::with_capacity(BUFFER, file),
                    pending: Some((dir, tmp)),
                    name,
                    replace: exists,
                })
            }
            // A directory we may not write to: an existing file is written in place.
            Err(e) if exists && e.kind() == io::ErrorKind::PermissionDenied => {
                let file = pxe_daemon::beneath::open_beneath(
                    &dir,
                    Path::new(&name),
                    OFlag::O_WRONLY | OFlag::O_TRUNC,
                    0,
                )?;
                Ok(Upload {
                    file: BufWriter::with_capacity(BUFFER, file),
                    pending: None,
                    name,
                    replace: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the upload goes to a temporary file (false: in place).
    pub fn is_staged(&self) -> bool {
        self.pending.is_some()
    }
}

/// Creates `.<name>.upload-<random>` beneath `dir`, trying new names on a collision.
fn create_temp(dir: &File, name: &OsStr, mode: u32) -> io::Result<(File, OsString)> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..16 {
        let mut tmp = OsString::from(".");
        // Keep the whole temporary name within NAME_MAX.
        let short = &name.as_bytes()[..name.len().min(200)];
        tmp.push(OsStr::from_bytes(short));
        tmp.push(format!(".upload-{:016x}", random()));
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
        match pxe_daemon::beneath::open_beneath(dir, Path::new(&tmp), flags, mode) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// 64 random bits (the standard library's per-process hash keys, with a counter and time).
fn random() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl DataSink for Upload {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        if let Some((dir, tmp)) = &self.pending {
            let flags = if self.replace {
                RenameFlags::empty()
            } else {
                RenameFlags::RENAME_NOREPLACE
            };
            renameat2(dir, tmp.as_os_str(), dir, self.name.as_os_str(), flags)
                .map_err(io::Error::from)?;
            self.pending = None;
        }
        Ok(())
    }
}

impl Drop for Upload {
    /// An upload that did not finish leaves nothing: its temporary file is removed.
    fn drop(&mut self) {
        if let Some((dir, tmp)) = self.pending.take() {
            let _ = unlinkat(&dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use std::os::fd::AsFd;

    /// `Upload::open` beneath `root` opened as a directory.
    fn upload(root: &Path, rel: &str, exists: bool, mode: u32) -> io::Result<Upload> {
        let dir = pxe_daemon::beneath::open_root(root).unwrap();
        Upload::open(dir.as_fd(), Path::new(rel), exists, mode)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_finished_upload_appears_under_its_name_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let mut u = upload(&root, "new", false, 0o640).unwrap();
        assert!(u.is_staged());
        u.write(b"hello").unwrap();
        let during = names(&root);
        assert_eq!(during.len(), 1);
        assert!(during[0].starts_with(".new.upload-"), "{during:?}");
        u.finish().unwrap();
        drop(u);
        assert_eq!(names(&root), ["new"]);
        assert_eq!(std::fs::read(root.join("new")).unwrap(), b"hello");
    }

    #[test]
    fn an_unfinished_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("old"), b"keep me").unwrap();
        let mut u = upload(&root, "new", false, 0o644).unwrap();
        u.write(b"half").unwrap();
        drop(u);
        let mut u = upload(&root, "old", true, 0o644).unwrap();
        u.write(b"half").unwrap();
        drop(u);
        assert_eq!(names(&root), ["old"]);
        assert_eq!(std::fs::read(root.join("old")).unwrap(), b"keep me");
    }

    #[test]
    fn replacing_keeps_the_mode_and_a_new_name_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("old"), b"old").unwrap();
        std::fs::set_permissions(root.join("old"), std::fs::Permissions::from_mode(0o606)).unwrap();
        let mut u = upload(&root, "old", true, 0o644).unwrap();
        u.write(b"new").unwrap();
        u.finish().unwrap();
        let meta = std::fs::metadata(root.join("old")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o606);
        assert_eq!(std::fs::read(root.join("old")).unwrap(), b"new");

        // A file that appears under the name during a new upload wins.
        let mut u = upload(&root, "race", false, 0o644).unwrap();
        u.write(b"mine").unwrap();
        std::fs::write(root.join("race"), b"theirs").unwrap();
        assert!(u.finish().is_err());
        drop(u);
        assert_eq!(std::fs::read(root.join("race")).unwrap(), b"theirs");
        assert_eq!(names(&root), ["old", "race"]);
    }

    #[test]
    fn the_temporary_file_is_not_created_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        // The parent must be reached without a symlink.
        assert!(upload(&root, "link/x", false, 0o644).is_err());
        assert!(names(outside.path()).is_empty());
        let mut u = upload(&root, "sub/x", false, 0o644).unwrap();
        u.write(b"x").unwrap();
        u.finish().unwrap();
        assert_eq!(names(&root.join("sub")), ["x"]);
    }
}
