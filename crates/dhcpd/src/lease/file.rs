//! The `dhcpd.leases` file as a journal, the way ISC uses it: every changed lease is appended
//! and the file is `fdatasync`ed before the replies that depend on it leave; a batch of many
//! leases shares one sync (group commit). Now and then the file is rewritten from the live
//! table: the new file is written as `dhcpd.leases.<time>.<random>`, synced, the old file is
//! kept as `dhcpd.leases~` (a hard link, as ISC does) and the new one renamed over it.
//!
//! Unlike ISC, a bad disk never leaves a half-written record behind a later ACK: a failed
//! `write` truncates the file back to the end of the last durable record, a failed sync (or
//! a failed truncation) marks the store as needing a rewrite from the durable table before it
//! accepts another commit, and an unterminated last record (a crash in the middle of an
//! append) is cut off at start instead of being read as a lease. Rewrites go to a temporary
//! file created with `O_EXCL|O_NOFOLLOW` under a random name; the temporaries a crash left
//! in the middle of a rewrite are removed at start ([`super::temporary`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::LeaseFile;
use super::records::ObjectRecord;
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
    /// Length of the file up to the end of its last durable record: a failed append is
    /// truncated back to it.
    good_len: u64,
    /// A failed sync or truncation left the file in doubt: it must be rewritten from the
    /// durable table ([`LeaseStore::compact`]) before another commit.
    poisoned: bool,
    /// The host and group records of the file (read at load, appended since): a rewrite keeps what
    /// [`super::records::compact`] keeps of them.
    records: Vec<ObjectRecord>,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

impl FileStore {
    /// Writes the rewritten file into `f` through a buffer, a record at a time (the text of
    /// 65,000 leases is about 20 MB, which start-up held beside the table before, issue 17):
    /// the header, the server DUID, the host and group `records`, then every lease of `live`
    /// worth writing as it stands at `now`. Returns the file and the bytes written.
    fn write_compacted(
        &self,
        f: File,
        records: &[ObjectRecord],
        live: &LeaseTable,
        now: Time,
    ) -> std::io::Result<(File, u64)> {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, f);
        let mut len = 0u64;
        let mut put = |out: &mut std::io::BufWriter<File>, text: &str| {
            len += text.len() as u64;
            out.write_all(text.as_bytes())
        };
        put(&mut out, &write::header())?;
        if let Some(d) = &self.server_duid {
            put(&mut out, &write::server_duid(d))?;
        }
        for h in records {
            put(&mut out, &h.text)?;
        }
        for l in live
            .iter()
            .map(|l| l.settled(now))
            .filter(Lease::worth_writing)
        {
            put(&mut out, &write::lease(&l))?;
        }
        let f = out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        Ok((f, len))
    }

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
            good_len: 0,
            poisoned: false,
            records: Vec::new(),
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

    /// Undo a failed append: cut the file back to the end of the last durable record and
    /// sync that. When even this fails, the file is in doubt until the next rewrite.
    fn roll_back(&mut self) {
        let good = self.good_len;
        let ok = match self.file.as_ref() {
            Some(f) => f.set_len(good).and_then(|()| f.sync_data()).is_ok(),
            None => false,
        };
        if ok {
            tracing::warn!(
                "{}: failed append cut back to {good} bytes",
                self.path.display()
            );
        } else {
            self.poisoned = true;
            self.file = None;
        }
    }

    /// Append `text` and make it durable (a failed write is cut back; a failed sync leaves
    /// the file to be rewritten from the durable table).
    fn append(&mut self, text: String) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::NeedsRewrite(self.path.clone()));
        }
        let sync = self.opts.sync;
        let path = self.path.clone();
        let f = self.append_handle()?;
        if let Err(e) = f.write_all(text.as_bytes()) {
            self.roll_back();
            return Err(io("writing", &path)(e));
        }
        if sync && let Err(e) = f.sync_data() {
            // After a failed sync the kernel may have dropped the dirty pages: nothing
            // written since the last good sync can be trusted, not even after a truncation.
            self.roll_back();
            self.poisoned = true;
            self.file = None;
            return Err(io("syncing", &path)(e));
        }
        self.appended += text.len() as u64;
        self.good_len += text.len() as u64;
        Ok(())
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

/// Hand the pages of freed memory back to the system. A rewrite (and, at start, reading the
/// file) frees as much as the file's size in small blocks among the table's; glibc keeps
/// such pages resident until asked (issue 17: a third of the daemon's memory after start).
#[allow(unsafe_code)]
fn release_freed_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own free lists, under its
    // locks; it may be called from any thread at any time.
    unsafe {
        nix::libc::malloc_trim(0);
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
        let name = self.path.display().to_string();
        let torn = super::parse::torn_tail(&bytes);
        let whole = match torn {
            Some(cut) => {
                // A crash in the middle of an append: the record never reached the disk
                // whole, so its ACK never left. Cut it off (appends continue after the last
                // whole record) rather than read it as a lease, as ISC would.
                OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .and_then(|f| f.set_len(cut as u64).and_then(|()| f.sync_data()))
                    .map_err(io("truncating", &self.path))?;
                bytes.get(..cut).unwrap_or_default()
            }
            None => &bytes[..],
        };
        let mut parsed = super::parse::parse(&name, whole);
        // Only once the file was read: with the file missing, a temporary is evidence.
        let removed = super::temporary::remove_stale(&self.path);
        parsed
            .output
            .splice(0..0, removed.into_iter().map(crate::conf::Output::Log));
        if let Some(cut) = torn {
            parsed.output.insert(
                0,
                crate::conf::Output::Log(format!(
                    "{name}: dropped an unterminated last record ({} bytes at offset {cut}): \
                     a crash while it was written, so it was never acknowledged.",
                    bytes.len() - cut
                )),
            );
        }
        self.server_duid = parsed.server_duid.clone();
        self.records = parsed.records.clone();
        self.base_size = whole.len() as u64;
        self.good_len = whole.len() as u64;
        self.poisoned = false;
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
        self.append(text)
    }

    fn commit_records(&mut self, records: &[ObjectRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let text: String = records.iter().map(|h| h.text.as_str()).collect();
        self.append(text)?;
        self.records.extend_from_slice(records);
        Ok(())
    }

    fn compact(&mut self, live: &LeaseTable, now: Time) -> Result<(), StoreError> {
        let records = super::records::compact(&self.records);
        let tmp = super::temporary::name(&self.path, now, random_u64());
        let written = (|| {
            let f = create_fresh(&tmp)?;
            let (f, len) = self
                .write_compacted(f, &records, live, now)
                .map_err(io("writing", &tmp))?;
            f.sync_all().map_err(io("syncing", &tmp))?;
            if let Some((uid, gid)) = self.opts.owner {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
                    .map_err(io("chowning", &tmp))?;
            }
            Ok(len)
        })();
        let len = match written {
            Ok(len) => len,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
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
        self.base_size = len;
        self.good_len = len;
        self.poisoned = false;
        self.last_rewrite = now;
        self.records = records;
        release_freed_pages();
        Ok(())
    }

    fn needs_rewrite(&self) -> bool {
        self.poisoned
    }

    fn compaction_due(&self, now: Time) -> bool {
        if now - self.last_rewrite >= self.opts.rewrite_interval {
            return true;
        }
        self.appended > self.opts.min_growth
            && self.appended > self.base_size.saturating_mul(self.opts.growth_factor)
    }
}

/// 64 random bits for a temporary file's name (the kernel's, or the hasher's seed).
fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_ne_bytes(b);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Creates `path` for a rewrite: a fresh name, never a file or a link someone put there
/// (`O_EXCL|O_NOFOLLOW`), so a planted symlink cannot make dhcpd write through it.
fn create_fresh(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .mode(0o644)
        .open(path)
        .map_err(io("creating", path))
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
        let on_disk = std::fs::metadata(&path).expect("stat").len();
        assert_eq!(
            (s.base_size, s.good_len),
            (on_disk, on_disk),
            "the rewrite counts what it wrote"
        );
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
    fn a_rewrite_never_writes_through_a_planted_link_or_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("passwd");
        std::fs::write(&target, "root:x:0:0\n").expect("target");
        let link = dir.path().join("dhcpd.leases.planted");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(create_fresh(&link).is_err(), "a symlink is not followed");
        let dangling = dir.path().join("dhcpd.leases.dangling");
        std::os::unix::fs::symlink(dir.path().join("absent"), &dangling).expect("symlink");
        assert!(create_fresh(&dangling).is_err(), "nor a dangling one");
        assert!(!dir.path().join("absent").exists());
        let existing = dir.path().join("dhcpd.leases.existing");
        std::fs::write(&existing, "kept").expect("existing");
        assert!(
            create_fresh(&existing).is_err(),
            "an existing file is not reused"
        );
        assert_eq!(
            std::fs::read_to_string(&target).expect("read"),
            "root:x:0:0\n"
        );
        assert_eq!(std::fs::read_to_string(&existing).expect("read"), "kept");
        assert!(create_fresh(&dir.path().join("dhcpd.leases.fresh")).is_ok());
    }

    #[test]
    fn a_load_removes_what_an_interrupted_rewrite_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dhcpd.leases");
        let stale = super::super::temporary::name(&path, 1_700_000_000, random_u64());
        std::fs::write(&stale, write::header()).expect("stale temporary");
        let mut s = FileStore::new(&path, FileStoreOptions::default());
        assert!(matches!(s.load(), Err(StoreError::Missing(_))));
        assert!(stale.exists(), "kept while the lease file is missing");
        std::fs::write(&path, write::lease(&active(10, 1_700_000_600))).expect("lease file");
        let f = s.load().expect("load");
        assert!(!stale.exists());
        assert_eq!(f.leases.len(), 1);
        assert!(
            matches!(&f.output[..], [crate::conf::Output::Log(l)] if l.contains("removed")),
            "{:?}",
            f.output
        );
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dhcpd.leases");
        let whole = format!(
            "{}{}",
            write::header(),
            write::lease(&active(10, 1_700_000_600))
        );
        // The same address, half-written: read whole, it would be a free lease.
        let torn = "lease 10.0.0.10 {\n  starts 4 2023/11/14 22:13:20;\n  ends 4 2023/11/";
        std::fs::write(&path, format!("{whole}{torn}")).expect("write");
        let mut s = FileStore::new(&path, FileStoreOptions::default());
        let f = s.load().expect("load");
        assert_eq!(f.leases.len(), 1, "{:?}", f.output);
        assert_eq!(f.leases[0].state, BindingState::Active);
        assert_eq!(f.output.len(), 1, "only the line saying what was dropped");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            whole,
            "the file is cut back"
        );
        s.commit(&[active(11, 1_700_000_600)]).expect("commit");
        let back = crate::lease::parse::load(&path).expect("read");
        assert!(back.is_clean(), "{:?}", back.output);
        assert_eq!(back.leases.len(), 2);
    }

    /// A lease file on a 64 KiB tmpfs that fills up: every failed append is cut back, the
    /// file stays parseable and holds exactly the commits that returned `Ok`. Needs root
    /// (mount); skipped with a note otherwise.
    #[test]
    fn a_full_disk_cuts_failed_appends_back() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root to mount a tmpfs");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mnt = dir.path().join("small");
        std::fs::create_dir(&mnt).expect("mkdir");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt)
            .status()
            .expect("mount");
        assert!(st.success());
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
        let _guard = Unmount(mnt.clone());
        let path = mnt.join("dhcpd.leases");
        std::fs::write(&path, "").expect("create");
        let mut s = FileStore::new(&path, FileStoreOptions::default());
        s.load().expect("load");
        let mut ok = Vec::new();
        let mut failures = 0;
        for n in 0..2000u32 {
            let len = std::fs::metadata(&path).expect("stat").len();
            // Batches of growing size, so some fail in the middle of a write.
            let batch: Vec<Lease> = (0..=(n % 7))
                .map(|k| {
                    let mut l = active((n % 250) as u8, 1_700_000_000 + i64::from(n));
                    l.client_hostname = Some(vec![b'x'; (k as usize + 1) * 37].into_boxed_slice());
                    l
                })
                .collect();
            match s.commit(&batch) {
                Ok(()) => ok.extend(batch),
                Err(_) => {
                    failures += 1;
                    assert_eq!(
                        std::fs::metadata(&path).expect("stat").len(),
                        len,
                        "a failed append is cut back"
                    );
                    if failures > 20 {
                        break;
                    }
                }
            }
        }
        assert!(failures > 0, "the file system never filled up");
        let back = crate::lease::parse::load(&path).expect("read");
        assert!(back.is_clean(), "{:?}", back.output);
        let key = |l: &Lease| (l.ip, l.ends, l.client_hostname.clone());
        let got: Vec<_> = back.leases.iter().map(key).collect();
        let want: Vec<_> = ok.iter().map(key).collect();
        assert_eq!(got.len(), want.len(), "exactly the committed leases");
        assert!(got == want, "the file holds what was committed, in order");
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
