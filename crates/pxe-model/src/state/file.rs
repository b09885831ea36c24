//! The embedded state store: a directory, one JSON file per machine.
//!
//! Layout: `machines/<name>.json` (state and history, replaced by write, fsync, rename
//! under an exclusive `flock` of `machines/<name>.lock`, so several processes can share
//! it), `events/<name>.jsonl` (the boot timeline, appended one line per event under a
//! shared `flock` of `events/<name>.lock`; past [`EVENTS_COMPACT_BYTES`] it is cut to its
//! last [`EVENTS_KEEP`] entries under the exclusive lock, so no append is lost),
//! `acked/<name>.json` (the address dhcpd last acknowledged to the machine, replaced by
//! rename; `acked/by-address/<address>` names the machine back) and `secret` (the key of the callback tokens, mode 0600).
//!
//! dhcpd, tftpd and httpd-tree may run as three users sharing the directory's group: the
//! timelines and their locks, which all three append to, are made [`SHARED_MODE`]
//! whatever the umask; every other file follows the writer's umask.

use super::{
    Acked, Acked6, BootEvent, MachineState, StateError, StateEvent, StateStore, Transition,
};
use crate::state::Secret;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The mode of the files every daemon writes: the timelines and their locks.
pub(crate) const SHARED_MODE: u32 = 0o660;

/// The shortest token key accepted, in bytes.
pub const MIN_SECRET: usize = 32;

fn checked_secret(path: &Path, bytes: Vec<u8>) -> Result<Secret, StateError> {
    if bytes.len() < MIN_SECRET {
        return Err(StateError::WeakSecret {
            path: path.to_owned(),
            len: bytes.len(),
        });
    }
    Ok(Secret(bytes))
}

/// A state directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Whether a machine name can safely name a file.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl FileStore {
    /// Opens (and creates) a state directory.
    pub fn open(dir: &Path) -> Result<FileStore, StateError> {
        for sub in ["machines", "events", "acked", "acked6"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(FileStore {
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The token key: read, or created once with 32 random bytes. A secret file shorter
    /// than [`MIN_SECRET`] bytes is refused (a guessable key forges every token).
    pub fn secret(&self) -> Result<Secret, StateError> {
        let path = self.dir.join("secret");
        match fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => return checked_secret(&path, bytes),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let mut key = [0u8; 32];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .map_err(io(Path::new("/dev/urandom")))?;
        let tmp = self.dir.join(format!("secret.tmp.{}", std::process::id()));
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io(&tmp))?;
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .map_err(io(&tmp))?;
        }
        // Another process may have won the race: keep whichever secret landed first.
        match fs::hard_link(&tmp, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let _ = fs::remove_file(&tmp);
        let bytes = fs::read(&path).map_err(io(&path))?;
        checked_secret(&path, bytes)
    }

    fn machine_path(&self, name: &str, ext: &str) -> Result<PathBuf, StateError> {
        if !valid_name(name) {
            return Err(StateError::BadName(name.to_owned()));
        }
        let (sub, ext) = match ext {
            "jsonl" => ("events", "jsonl"),
            // The lock that keeps appends out while a timeline is compacted.
            "events-lock" => ("events", "lock"),
            "acked" => ("acked", "json"),
            "acked6" => ("acked6", "json"),
            _ => ("machines", ext),
        };
        Ok(self.dir.join(sub).join(format!("{name}.{ext}")))
    }

    /// `acked/by-address/<address>`: the machine dhcpd last acknowledged that address to.
    fn acked_at_path(&self, address: std::net::Ipv4Addr) -> PathBuf {
        self.dir
            .join("acked")
            .join("by-address")
            .join(address.to_string())
    }

    fn read_state(path: &Path) -> Result<MachineState, StateError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                path: path.to_owned(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MachineState::default()),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Replaces a file so that a crash leaves either the old or the new contents.
    fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .map_err(io(&tmp))?;
        }
        fs::rename(&tmp, path).map_err(io(path))?;
        if let Some(parent) = path.parent() {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io(parent))?;
        }
        Ok(())
    }
}

/// A timeline grown past this many bytes is compacted…
pub const EVENTS_COMPACT_BYTES: u64 = 256 * 1024;
/// …to its most recent this many entries, so a machine's timeline (and what a page
/// reads of it) stays bounded however many events arrive.
pub const EVENTS_KEEP: usize = 1000;

/// Replaces a small file by rename (a reader sees the old content or the new), creating
/// its directory when missing: `acked/by-address/` is made by its writer, dhcpd, on its
/// first write, since the other daemons may only read `acked/`.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = match fs::write(&tmp, bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir).map_err(io(dir))?;
            fs::write(&tmp, bytes)
        }
        other => other,
    };
    written.map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn open_lock(path: &Path) -> Result<File, StateError> {
    open_shared(path, OpenOptions::new().write(true))
}

/// Opens `path` with `options` (which must not create it), first creating it with
/// [`SHARED_MODE`] if it is missing.
fn open_shared(path: &Path, options: &OpenOptions) -> Result<File, StateError> {
    match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_shared(path)?;
            options.open(path).map_err(io(path))
        }
        other => other.map_err(io(path)),
    }
}

/// Tells apart the temporary names one process makes at once (httpd-tree's threads).
static TEMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A new empty file at `tmp` with [`SHARED_MODE`]: the mode is set by its owner after
/// creation, so the umask does not take the group's write bit away.
fn new_shared(tmp: &Path) -> Result<File, StateError> {
    use std::os::unix::fs::PermissionsExt;
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SHARED_MODE)
        .open(tmp)
        .map_err(io(tmp))?;
    f.set_permissions(fs::Permissions::from_mode(SHARED_MODE))
        .map_err(io(tmp))?;
    Ok(f)
}

/// A temporary name beside `path`, unique to this process and call.
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let seq = TEMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.{what}.{}.{seq}", std::process::id()))
}

/// Creates `path`, empty and with [`SHARED_MODE`], unless it exists: made under a
/// temporary name and linked into place, so no other daemon sees it with a narrower mode.
fn create_shared(path: &Path) -> Result<(), StateError> {
    let tmp = temp_beside(path, "new");
    drop(new_shared(&tmp)?);
    let linked = match fs::hard_link(&tmp, path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(io(path)(e)),
        _ => Ok(()),
    };
    let _ = fs::remove_file(&tmp);
    linked
}

/// The end of a file holding at least `lines` complete lines (or the whole file), read
/// backwards in blocks: a page showing a timeline's last entries reads only those.
fn tail_lines(path: &Path, lines: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    const BLOCK: u64 = 64 * 1024;
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut start = len;
    let mut out: Vec<u8> = Vec::new();
    while start > 0 {
        let from = start.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(start - from).unwrap_or(0)];
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut block)?;
        block.extend_from_slice(&out);
        out = block;
        start = from;
        // One more newline than lines: the first, possibly partial, line is dropped.
        if out.iter().filter(|b| **b == b'\n').count() > lines {
            break;
        }
    }
    if start > 0 {
        // Drop the partial first line.
        let cut = out.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        out.drain(..cut);
    }
    Ok(out)
}

impl FileStore {
    /// Keeps the most recent [`EVENTS_KEEP`] entries of a machine's timeline (replaced by
    /// rename, under the timeline's exclusive lock, so no append is lost).
    fn compact_events(&self, machine: &str) -> Result<(), StateError> {
        let path = self.machine_path(machine, "jsonl")?;
        let lock_path = self.machine_path(machine, "events-lock")?;
        let lock = open_lock(&lock_path)?;
        lock.lock().map_err(io(&lock_path))?;
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&path)(e)),
        };
        if (text.len() as u64) <= EVENTS_COMPACT_BYTES {
            // Another process compacted it meanwhile.
            return Ok(());
        }
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| serde_json::from_slice::<BootEvent>(l).is_ok())
            .collect();
        let skip = lines.len().saturating_sub(EVENTS_KEEP);
        let mut out = Vec::with_capacity(text.len() / 2);
        for l in lines.iter().skip(skip) {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        let tmp = temp_beside(&path, "tmp");
        let written = new_shared(&tmp).and_then(|mut f| f.write_all(&out).map_err(io(&tmp)));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &path).map_err(io(&path))?;
        drop(lock);
        Ok(())
    }
}

impl StateStore for FileStore {
    fn secret(&self) -> Result<Secret, StateError> {
        FileStore::secret(self)
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn get(&self, machine: &str) -> Result<MachineState, StateError> {
        Self::read_state(&self.machine_path(machine, "json")?)
    }

    fn all(&self) -> Result<BTreeMap<String, MachineState>, StateError> {
        let dir = self.dir.join("machines");
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            out.insert(name.to_owned(), Self::read_state(&path)?);
        }
        Ok(out)
    }

    fn apply(
        &self,
        machine: &str,
        event: StateEvent,
        at: u64,
    ) -> Result<(MachineState, Option<Transition>), StateError> {
        // `allowed` always says yes, so `None` cannot come back; it would read as a bad name.
        self.apply_if(machine, event, at, &|_| true)?
            .ok_or_else(|| StateError::BadName(machine.to_owned()))
    }

    fn apply_if(
        &self,
        machine: &str,
        event: StateEvent,
        at: u64,
        allowed: &dyn Fn(&MachineState) -> bool,
    ) -> Result<Option<(MachineState, Option<Transition>)>, StateError> {
        let path = self.machine_path(machine, "json")?;
        let lock_path = self.machine_path(machine, "lock")?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let mut state = Self::read_state(&path)?;
        if !allowed(&state) {
            return Ok(None);
        }
        let transition = state.apply(event, at);
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::write_atomic(&path, &bytes)?;
        drop(lock);
        Ok(Some((state, transition)))
    }

    fn record(&self, machine: &str, event: &BootEvent) -> Result<(), StateError> {
        let path = self.machine_path(machine, "jsonl")?;
        let mut line = serde_json::to_vec(event).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        let lock_path = self.machine_path(machine, "events-lock")?;
        let lock = open_lock(&lock_path)?;
        // Shared: appenders run side by side; only a compaction holds it exclusively.
        lock.lock_shared().map_err(io(&lock_path))?;
        // One write of one line on an O_APPEND file: lines from several processes
        // never interleave. The timeline is informational, so it is not fsynced.
        let mut f = open_shared(&path, OpenOptions::new().append(true))?;
        f.write_all(&line).map_err(io(&path))?;
        let len = f.metadata().map_err(io(&path))?.len();
        drop(f);
        drop(lock);
        if len > EVENTS_COMPACT_BYTES {
            self.compact_events(machine)?;
        }
        Ok(())
    }

    fn events(&self, machine: &str, limit: usize) -> Result<Vec<BootEvent>, StateError> {
        let path = self.machine_path(machine, "jsonl")?;
        let text = match tail_lines(&path, limit) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        // A line cut short by a crash is skipped, not fatal.
        let all: Vec<BootEvent> = text
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let skip = all.len().saturating_sub(limit);
        Ok(all.into_iter().skip(skip).collect())
    }

    fn record_ack(
        &self,
        machine: &str,
        address: std::net::Ipv4Addr,
        at: u64,
    ) -> Result<(), StateError> {
        let path = self.machine_path(machine, "acked")?;
        let bytes =
            serde_json::to_vec(&Acked { address, at }).map_err(|e| StateError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        // Replaced by rename, so a reader sees the old address or the new one. Not
        // fsynced: dhcpd writes it on every ACK of an inventory machine, and after a crash
        // the machine's next ACK writes it again.
        replace(&path, &bytes)?;
        // The way back, address to machine: checked against the machine's own file when
        // read, so an entry left by an address the machine has since given up is ignored.
        replace(&self.acked_at_path(address), machine.as_bytes())
    }

    fn machine_acked_at(&self, address: std::net::Ipv4Addr) -> Result<Option<String>, StateError> {
        let path = self.acked_at_path(address);
        let name = match fs::read_to_string(&path) {
            Ok(name) => name,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        if !valid_name(&name) {
            return Ok(None);
        }
        Ok((self.acked_address(&name)? == Some(address)).then_some(name))
    }

    fn record_ack6(
        &self,
        machine: &str,
        address: std::net::Ipv6Addr,
        at: u64,
    ) -> Result<(), StateError> {
        let path = self.machine_path(machine, "acked6")?;
        let bytes =
            serde_json::to_vec(&Acked6 { address, at }).map_err(|e| StateError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        // As the IPv4 one: replaced by rename, written again at the next binding.
        replace(&path, &bytes)
    }

    fn acked_address6(&self, machine: &str) -> Result<Option<std::net::Ipv6Addr>, StateError> {
        let path = self.machine_path(machine, "acked6")?;
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Acked6>(&bytes)
                .map(|a| Some(a.address))
                .map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn acked_address(&self, machine: &str) -> Result<Option<std::net::Ipv4Addr>, StateError> {
        let path = self.machine_path(machine, "acked")?;
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Acked>(&bytes)
                .map(|a| Some(a.address))
                .map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{InstallState, Phase};

    #[test]
    fn round_trip_and_timeline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        assert_eq!(
            store.get("web01").expect("get").state,
            InstallState::Pending
        );
        let (s, t) = store
            .apply("web01", StateEvent::AnswerFetched, 5)
            .expect("apply");
        assert_eq!(s.state, InstallState::Installing);
        assert!(t.is_some());
        let again = FileStore::open(dir.path()).expect("reopen");
        assert_eq!(
            again.get("web01").expect("get").state,
            InstallState::Installing
        );
        for i in 0..3 {
            let ev = BootEvent {
                at: i,
                phase: Phase::Tftp,
                detail: format!("file {i}"),
            };
            again.record("web01", &ev).expect("record");
        }
        let evs = again.events("web01", 2).expect("events");
        assert_eq!(evs.iter().map(|e| e.at).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(again.all().expect("all").len(), 1);
    }

    #[test]
    fn a_timeline_stays_bounded_and_keeps_its_latest_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        let path = dir.path().join("events/web01.jsonl");
        let n = 5000u64;
        for i in 0..n {
            let ev = BootEvent {
                at: i,
                phase: Phase::Http,
                detail: format!("/trees/centos7/some/file/{i:08}"),
            };
            store.record("web01", &ev).expect("record");
            let len = fs::metadata(&path).expect("meta").len();
            assert!(len <= EVENTS_COMPACT_BYTES + 200, "{len} bytes after {i}");
        }
        let all = store.events("web01", usize::MAX).expect("events");
        assert!(
            all.len() >= EVENTS_KEEP && all.len() < n as usize,
            "{}",
            all.len()
        );
        // The latest entries, in order, none lost at the end.
        let ats: Vec<u64> = all.iter().map(|e| e.at).collect();
        assert_eq!(ats.last(), Some(&(n - 1)));
        assert!(ats.windows(2).all(|w| w[1] == w[0] + 1), "contiguous");
        // Other machines' timelines are untouched.
        assert!(store.events("web02", 10).expect("events").is_empty());
        // The compacted timeline is as writable by the other daemons as before.
        assert_eq!(mode_of(&path), SHARED_MODE);
        let names: Vec<String> = fs::read_dir(dir.path().join("events"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).expect("meta").permissions().mode() & 0o7777
    }

    #[test]
    fn timelines_and_their_locks_are_group_writable_whatever_the_umask() {
        // The test process's umask (022 or 002) takes the group's write bit away from a
        // plain create; the timeline and its lock must keep it, since the other daemons
        // append to them under their own users.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        let ev = BootEvent {
            at: 1,
            phase: Phase::Dhcp,
            detail: "DHCPACK 10.0.0.50 pxelinux.0".into(),
        };
        store.record("web01", &ev).expect("record");
        store.record("web01", &ev).expect("record again");
        assert_eq!(mode_of(&dir.path().join("events/web01.jsonl")), SHARED_MODE);
        assert_eq!(mode_of(&dir.path().join("events/web01.lock")), SHARED_MODE);
        assert_eq!(store.events("web01", 10).expect("events").len(), 2);
        let names: Vec<String> = fs::read_dir(dir.path().join("events"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        // A machine's own state follows the umask: only httpd-tree writes it.
        store
            .apply("web01", StateEvent::AnswerFetched, 2)
            .expect("apply");
        assert_eq!(
            mode_of(&dir.path().join("machines/web01.json")) & 0o020,
            0,
            "not group-writable"
        );
    }

    #[test]
    fn the_last_entries_are_read_from_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        // Long lines, so the last few span several 64 KiB blocks.
        let detail = "x".repeat(30_000);
        for i in 0..8 {
            let ev = BootEvent {
                at: i,
                phase: Phase::Http,
                detail: format!("{i}{detail}"),
            };
            store.record("web01", &ev).expect("record");
        }
        for (limit, want) in [
            (0, vec![]),
            (1, vec![7]),
            (3, vec![5, 6, 7]),
            (100, (0..8).collect()),
        ] {
            let got: Vec<u64> = store
                .events("web01", limit)
                .expect("events")
                .iter()
                .map(|e| e.at)
                .collect();
            assert_eq!(got, want, "limit {limit}");
        }
        let path = dir.path().join("events/web01.jsonl");
        let tail = tail_lines(&path, 2).expect("tail");
        assert!(
            tail.len() < 3 * 30_100,
            "read {} bytes for 2 lines",
            tail.len()
        );
    }

    #[test]
    fn apply_if_writes_nothing_when_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        let path = dir.path().join("machines/web01.json");
        let refused = store
            .apply_if("web01", StateEvent::AnswerFetched, 1, &|_| false)
            .expect("apply_if");
        assert!(refused.is_none());
        assert!(!path.exists(), "nothing written");
        let (s, t) = store
            .apply_if("web01", StateEvent::AnswerFetched, 2, &|st| {
                st.state == InstallState::Pending
            })
            .expect("apply_if")
            .expect("allowed");
        assert_eq!((s.state, t.is_some()), (InstallState::Installing, true));
        let before = fs::read(&path).expect("written");
        let again = store
            .apply_if("web01", StateEvent::AnswerFetched, 3, &|st| {
                st.state == InstallState::Pending
            })
            .expect("apply_if");
        assert!(again.is_none());
        assert_eq!(fs::read(&path).expect("read"), before, "unchanged on disk");
    }

    #[test]
    fn an_address_names_the_machine_it_was_last_acked_to_and_no_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        let a: std::net::Ipv4Addr = "10.0.0.50".parse().expect("addr");
        let b: std::net::Ipv4Addr = "10.0.0.51".parse().expect("addr");
        assert_eq!(store.machine_acked_at(a).expect("read"), None);
        store.record_ack("web01", a, 1).expect("ack");
        assert_eq!(
            store.machine_acked_at(a).expect("read").as_deref(),
            Some("web01")
        );
        // web01 moves to b: a names nobody, though its file still says web01.
        store.record_ack("web01", b, 2).expect("ack");
        assert_eq!(store.machine_acked_at(a).expect("read"), None);
        assert_eq!(
            store.machine_acked_at(b).expect("read").as_deref(),
            Some("web01")
        );
        // a goes to db01: the newest acknowledgement of an address wins.
        store.record_ack("db01", a, 3).expect("ack");
        assert_eq!(
            store.machine_acked_at(a).expect("read").as_deref(),
            Some("db01")
        );
    }

    #[test]
    fn an_ipv6_binding_is_kept_beside_the_ipv4_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        let v4: std::net::Ipv4Addr = "10.77.0.120".parse().expect("v4");
        let v6: std::net::Ipv6Addr = "fd00:77::120".parse().expect("v6");
        assert_eq!(store.acked_address6("web01").expect("read"), None);
        store.record_ack("web01", v4, 1).expect("ack");
        store.record_ack6("web01", v6, 2).expect("ack6");
        assert_eq!(store.acked_address("web01").expect("read"), Some(v4));
        assert_eq!(store.acked_address6("web01").expect("read"), Some(v6));
        let for_v6 = store
            .acked_address_for("web01", "fd00:77::9".parse().expect("ip"))
            .expect("read");
        assert_eq!(for_v6, Some(v6.into()));
        let for_v4 = store
            .acked_address_for("web01", "::ffff:10.0.0.9".parse().expect("ip"))
            .expect("read");
        assert_eq!(for_v4, Some(v4.into()), "a mapped address is IPv4");
        assert!(store.record_ack6("../x", v6, 3).is_err());
    }

    #[test]
    fn the_last_acked_address_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        assert_eq!(store.acked_address("web01").expect("read"), None);
        let a: std::net::Ipv4Addr = "10.0.0.50".parse().expect("addr");
        let b: std::net::Ipv4Addr = "10.0.0.51".parse().expect("addr");
        store.record_ack("web01", a, 1).expect("ack");
        assert_eq!(store.acked_address("web01").expect("read"), Some(a));
        let again = FileStore::open(dir.path()).expect("reopen");
        again.record_ack("web01", b, 2).expect("ack");
        assert_eq!(store.acked_address("web01").expect("read"), Some(b));
        assert_eq!(store.acked_address("web02").expect("read"), None);
        assert!(matches!(
            store.record_ack("../x", a, 3),
            Err(StateError::BadName(_))
        ));
        // The acked file is no machine state: `all` does not list it.
        assert!(store.all().expect("all").is_empty());
    }

    #[test]
    fn names_that_would_escape_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        for bad in ["../x", "a/b", ".hidden", "", "x\0y"] {
            assert!(
                matches!(store.get(bad), Err(StateError::BadName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secret_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        let a = store.secret().expect("secret");
        let b = store.secret().expect("secret");
        assert_eq!(a.0, b.0);
        assert_eq!(a.0.len(), 32);
        let mode = fs::metadata(dir.path().join("secret"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_short_secret_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("open");
        fs::write(dir.path().join("secret"), [7u8; 31]).expect("write");
        let e = store.secret().expect_err("31 bytes are refused");
        let text = e.to_string();
        assert!(
            text.contains(&dir.path().join("secret").display().to_string()),
            "{text}"
        );
        assert!(text.contains("31 bytes") && text.contains("32"), "{text}");
        fs::write(dir.path().join("secret"), [7u8; 32]).expect("write");
        assert_eq!(store.secret().expect("32 bytes are enough").0.len(), 32);
    }
}
