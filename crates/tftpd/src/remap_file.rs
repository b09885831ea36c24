//! The `-m` remap file in use, re-read on SIGHUP as tftpd-hpa does in standalone mode.
//!
//! Each request takes the rules current when it arrives; a reload swaps them in whole, so a
//! request never sees half of an old file and half of a new one. A file that no longer reads
//! or parses is refused and the rules in use stay.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::remap::Rules;

/// Why a remap file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum RemapFileError {
    /// Not readable.
    #[error("cannot read map file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not a valid remap file.
    #[error("map file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: crate::remap::ParseError,
    },
}

/// A remap file and the rules last read from it.
#[derive(Debug)]
pub struct RemapFile {
    path: PathBuf,
    rules: RwLock<Arc<Rules>>,
}

impl RemapFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<RemapFile, RemapFileError> {
        Ok(RemapFile {
            path: path.to_owned(),
            rules: RwLock::new(Arc::new(read(path)?)),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rules in use now.
    pub fn current(&self) -> Arc<Rules> {
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the file again; on success its rules are used from the next request on and
    /// their number is returned, on failure the rules in use stay.
    pub fn reload(&self) -> Result<usize, RemapFileError> {
        let rules = read(&self.path)?;
        let n = rules.len();
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
        Ok(n)
    }
}

fn read(path: &Path) -> Result<Rules, RemapFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| RemapFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    Rules::parse(&text).map_err(|source| RemapFileError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::resolve::Access;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn map(rules: &Rules, name: &str) -> String {
        rules.apply(name, Access::Read, CLIENT).unwrap()
    }

    #[test]
    fn a_reload_takes_the_new_rules_and_a_bad_file_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tftpd.map");
        std::fs::write(&path, "r ^old new-a\n").unwrap();
        let file = RemapFile::load(&path).unwrap();
        let before = file.current();
        assert_eq!(map(&before, "old"), "new-a");

        std::fs::write(&path, "r ^old new-b\nr ^x y\n").unwrap();
        assert_eq!(file.reload().unwrap(), 2);
        assert_eq!(map(&file.current(), "old"), "new-b");
        assert_eq!(
            map(&before, "old"),
            "new-a",
            "a request in flight keeps its rules"
        );

        std::fs::write(&path, "rz ^old new-c\n").unwrap();
        let err = file.reload().unwrap_err().to_string();
        assert!(err.contains("tftpd.map") && err.contains("line 1"), "{err}");
        assert_eq!(
            map(&file.current(), "old"),
            "new-b",
            "the rules in use stay"
        );

        std::fs::remove_file(&path).unwrap();
        let err = file.reload().unwrap_err().to_string();
        assert!(err.contains("cannot read map file"), "{err}");
        assert_eq!(map(&file.current(), "old"), "new-b");
    }

    #[test]
    fn a_missing_file_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let err = RemapFile::load(&dir.path().join("none")).unwrap_err();
        assert!(matches!(err, RemapFileError::Read { .. }), "{err}");
    }
}
