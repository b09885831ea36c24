//! Open files shared between transfers: one descriptor per hot file, read with `pread`.
//!
//! A boot storm asks for the same `pxelinux.0`, kernel and initrd hundreds of times at once.
//! Each transfer gets an `Arc` of the same [`FileSource`] as long as one is alive and the file
//! on disk is still the same (device, inode, size, modification time); the kernel page cache
//! then serves every client from one copy, with no per-client buffer of the file.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{AtFlags, OFlag};
use pxe_daemon::beneath::open_beneath;
use std::path::PathBuf;

use crate::resolve::Resolved;
use std::sync::{Arc, Mutex, Weak};

use crate::source::FileSource;

type Identity = (u64, u64, u64, i64, i64);

fn identity(m: &std::fs::Metadata) -> Identity {
    (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
}

/// A cache of open files, keyed by canonical path.
#[derive(Default)]
pub struct FileCache {
    open: Mutex<HashMap<PathBuf, (Identity, Weak<FileSource>)>>,
}

impl FileCache {
    /// The shared source for a resolved file, opening it if no live one matches the file on
    /// disk. The file is looked at and opened beneath its root's descriptor: its real path
    /// was resolved just before, so it contains no symlink, and a symlink swapped in since
    /// then (anywhere in the path) makes the open fail instead of leaving the root (see
    /// [`pxe_daemon::beneath`]).
    pub fn open(&self, r: &Resolved) -> io::Result<Arc<FileSource>> {
        let path = r.path.as_path();
        let rel = r.beneath();
        let now = nix::sys::stat::fstatat(r.dir.fd(), rel, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let id = (
            now.st_dev,
            now.st_ino,
            u64::try_from(now.st_size).unwrap_or(0),
            now.st_mtime,
            now.st_mtime_nsec,
        );
        let mut map = self
            .open
            .lock()
            .map_err(|_| io::Error::other("file cache lock poisoned"))?;
        if let Some((cached_id, weak)) = map.get(path)
            && *cached_id == id
            && let Some(src) = weak.upgrade()
        {
            return Ok(src);
        }
        let file = open_beneath(r.dir.fd(), rel, OFlag::O_RDONLY, 0)?;
        let id = identity(&file.metadata()?);
        let src = Arc::new(FileSource::new(file)?);
        if map.len() >= 4096 {
            map.retain(|_, (_, w)| w.strong_count() > 0);
        }
        map.insert(path.to_path_buf(), (id, Arc::downgrade(&src)));
        Ok(src)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::source::DataSource;

    #[test]
    fn same_file_shares_one_source_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"one").unwrap();
        let cache = FileCache::default();
        let root = dir.path().canonicalize().unwrap();
        let p = root.join("f");
        let roots = crate::resolve::Roots::new(&[root], true).unwrap();
        let policy = crate::resolve::Policy::default();
        let r =
            crate::resolve::resolve(&roots, "f", crate::resolve::Access::Read, &policy).unwrap();
        let a = cache.open(&r).unwrap();
        let b = cache.open(&r).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // Replace the file (new inode): a new source, the old one keeps its content.
        let tmp = dir.path().join("f.new");
        std::fs::write(&tmp, b"three").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let c = cache.open(&r).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((a.size(), c.size()), (3, 5));
    }
}
