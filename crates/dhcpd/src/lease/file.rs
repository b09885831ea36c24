//! The `dhcpd.leases` file as a journal, the way ISC uses it: every changed lease is appended
//! and the file is `fdatasync`ed before the replies that depend on it leave; a batch of many
//! leases shares one sync (group commit). Now and then the file is rewritten from the live
//! table: the new file is written as `dhcpd.leases.<time>`, synced, the old file is kept as
//! `dhcpd.leases~` (a hard link, as ISC does) and the new one renamed over it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::LeaseFile;
use super::store::{LeaseStore, StoreError};
use super::{Lease, LeaseTable, Time, write};

/// When the file is rewritten.
#[derive(Debug, Clone, Copy)]
pub struct FileStoreOptions {
    /// Rewrite after this many seconds (ISC: one hour).
    pub rewrite_interval: Time,
    /// Rewrite once the appended journal is larger than this many bytes…
    pub min_growth: u64,
    /// …and larger than this many times the size of the last rewrite.
    pub growth_factor: u64,
    /// Call `fdatasync` on commit (tests of durability need it; `false` only for benchmarks
    /// of everything else, like ISC's `dont-use-fsync`).
    pub sync: bool,
    /// Give rewritten files to this user and group (`-user`/`-group`, as ISC does).
    pub owner: Option<(u32, u32)>,
}

impl Default for FileStoreOptions {
    fn default() -> Self {
        FileStoreOptions {
            rewrite_interval: 3600,
            min_growth: 1 << 20,
            growth_factor: 4,
            sync: true,
            owner: None,
        }
    }
}

/// The lease file.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    opts: FileStoreOptions,
    file: Option<File>,
    server_duid: Option<Vec<u8>>,
    /// Bytes appended since the last rewrite.
    appended: u64,
    /// Size of the file right after the last rewrite.
    base_size: u64,
    /// When the file was last rewritten (0: never, so the first `compaction_due` says yes).
    last_rewrite: Time,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

impl FileStore {
    /// A store for the file at `path` (nothing is opened until [`LeaseStore::load`]).
    pub fn new(path: impl Into<PathBuf>, opts: FileStoreOptions) -> FileStore {
        FileStore {
            path: path.into(),
            opts,
            file: None,
            server_duid: None,
            appended: 0,
            base_size: 0,
            last_rewrite: 0,
        }
    }

    /// The lease file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `dhcpd.leases~`.
    pub fn backup_path(&self) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push("~");
        PathBuf::from(s)
    }

    fn append_handle(&mut self) -> Result<&mut File, StoreError> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(io("opening", &self.path))?;
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| StoreError::Missing(self.path.clone()))
    }

    fn sync_dir(&self) {
        // A rename is durable once the directory is synced. Best effort: some file systems
        // refuse to open directories for syncing.
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

impl LeaseStore for FileStore {
    fn load(&mut self) -> Result<LeaseFile, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(self.path.clone()));
            }
            Err(e) => return Err(io("reading", &self.path)(e)),
        };
        let parsed = super::parse::parse(&self.path.display().to_string(), &bytes);
        self.server_duid = parsed.server_duid.clone();
        self.base_size = bytes.len() as u64;
        self.appended = 0;
        self.file = None;
        Ok(parsed)
    }

    fn commit(&mut self, leases: &[Lease]) -> Result<(), StoreError> {
        if leases.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for l in leases {
            text.push_str(&write::lease(l));
        }
        let sync = self.opts.sync;
        let path = self.path.clone();
        let f = self.append_handle()?;
        f.write_all(text.as_bytes()).map_err(io("writing", &path))?;
        if sync {
            f.sync_data().map_err(io("syncing", &path))?;
        }
        self.appended += text.len() as u64;
        Ok(())
    }

    fn compact(&mut self, live: &LeaseTable, now: Time) -> Result<(), StoreError> {
        let mut text = write::header();
        if let Some(d) = &self.server_duid {
            text.push_str(&write::server_duid(d));
        }
        for l in live
            .iter()
            .map(|l| l.settled(now))
            .filter(Lease::worth_writing)
        {
            text.push_str(&write::lease(&l));
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{now}"));
        let tmp = PathBuf::from(tmp);
        {
            let mut f = File::create(&tmp).map_err(io("creating", &tmp))?;
            f.write_all(text.as_bytes()).map_err(io("writing", &tmp))?;
            f.sync_all().map_err(io("syncing", &tmp))?;
            if let Some((uid, gid)) = self.opts.owner {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
                    .map_err(io("chowning", &tmp))?;
            }
        }
        let backup = self.backup_path();
        match std::fs::remove_file(&backup) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing", &backup)(e)),
        }
        if self.path.exists() {
            std::fs::hard_link(&self.path, &backup).map_err(io("linking", &backup))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io("renaming", &tmp))?;
        self.sync_dir();
        self.file = None;
        self.appended = 0;
        self.base_size = text.len() as u64;
        self.last_rewrite = now;
        Ok(())
    }

    fn compaction_due(&self, now: Time) -> bool {
        if now - self.last_rewrite >= self.opts.rewrite_interval {
            return true;
        }
        self.appended > self.opts.min_growth
            && self.appended > self.base_size.saturating_mul(self.opts.growth_factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{BindingState, Hardware};
    use std::net::Ipv4Addr;

    fn active(d: u8, ends: Time) -> Lease {
        Lease {
            ip: Ipv4Addr::new(10, 0, 0, d),
            starts: ends - 600,
            ends,
            cltt: ends - 600,
            state: BindingState::Active,
            next_state: BindingState::Free,
            rewind_state: BindingState::Free,
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0, 0, d])),
            ..Lease::default()
        }
    }

    #[test]
    fn missing_file_is_refused_like_isc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = FileStore::new(dir.path().join("dhcpd.leases"), FileStoreOptions::default());
        assert!(matches!(s.load(), Err(StoreError::Missing(_))));
    }

    #[test]
    fn append_then_rewrite_keeps_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dhcpd.leases");
        std::fs::write(&path, "").expect("create");
        let mut s = FileStore::new(&path, FileStoreOptions::default());
        assert!(s.load().expect("load").leases.is_empty());
        s.commit(&[active(10, 1_700_000_600)]).expect("commit");
        s.commit(&[active(11, 1_700_000_600), active(10, 1_700_001_200)])
            .expect("commit");
        let back = crate::lease::parse::load(&path).expect("read");
        assert!(back.is_clean(), "{:?}", back.output);
        assert_eq!(back.leases.len(), 3);
        let table = back.table();
        assert_eq!(table.len(), 2);
        assert_eq!(
            table.get(Ipv4Addr::new(10, 0, 0, 10)).map(|l| l.ends),
            Some(1_700_001_200)
        );
        assert!(s.compaction_due(1_700_000_000), "never rewritten yet");

        s.compact(&table, 1_700_000_000).expect("compact");
        assert!(!s.compaction_due(1_700_000_001));
        assert!(s.compaction_due(1_700_003_600));
        let rewritten = crate::lease::parse::load(&path).expect("read");
        assert_eq!(rewritten.leases.len(), 2);
        let backup = crate::lease::parse::load(&s.backup_path()).expect("backup");
        assert_eq!(
            backup.leases.len(),
            3,
            "the backup is the file before the rewrite"
        );
        // Appending continues on the new file.
        s.commit(&[active(12, 1_700_000_600)]).expect("commit");
        assert_eq!(
            crate::lease::parse::load(&path).expect("read").leases.len(),
            3
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "dhcpd.leases" && n != "dhcpd.leases~")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn rewrite_by_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dhcpd.leases");
        std::fs::write(&path, "").expect("create");
        let opts = FileStoreOptions {
            rewrite_interval: Time::MAX,
            min_growth: 1000,
            growth_factor: 2,
            sync: true,
            owner: None,
        };
        let mut s = FileStore::new(&path, opts);
        s.load().expect("load");
        s.compact(&LeaseTable::new(), 1).expect("compact");
        assert!(!s.compaction_due(2));
        let mut n = 0;
        while !s.compaction_due(2) {
            s.commit(&[active(10, 1_700_000_000 + n)]).expect("commit");
            n += 1;
            assert!(n < 100, "size trigger never fired");
        }
        assert!(n > 3);
    }
}
