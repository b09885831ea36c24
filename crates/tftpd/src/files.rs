//! Open files shared between transfers: one descriptor per hot file, read with `pread`.
//!
//! A boot storm asks for the same `pxelinux.0`, kernel and initrd hundreds of times at once.
//! Each transfer gets an `Arc` of the same [`FileSource`] as long as one is alive and the file
//! on disk is still the same (device, inode, size, modification time); the kernel page cache
//! then serves every client from one copy, with no per-client buffer of the file.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::fcntl::OFlag;
use std::path::{Path, PathBuf};
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

/// Opens `path` (canonical, under the canonical `root`) beneath `root`: the path was
/// canonicalized just before, so it contains no symlink, and a symlink swapped in since then
/// (anywhere in the path) makes the open fail instead of leaving the root. See
/// [`pxe_daemon::beneath`].
pub use pxe_daemon::beneath::open_under as open_beneath;

impl FileCache {
    /// The shared source for `path` (canonical, under `root`), opening it if no live one
    /// matches the file on disk.
    pub fn open(&self, root: &Path, path: &Path) -> io::Result<Arc<FileSource>> {
        let now = std::fs::symlink_metadata(path)?;
        let id = identity(&now);
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
        let file = open_beneath(root, path, OFlag::O_RDONLY, 0)?;
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
        let a = cache.open(&root, &p).unwrap();
        let b = cache.open(&root, &p).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // Replace the file (new inode): a new source, the old one keeps its content.
        let tmp = dir.path().join("f.new");
        std::fs::write(&tmp, b"three").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let c = cache.open(&root, &p).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((a.size(), c.size()), (3, 5));
    }
}
