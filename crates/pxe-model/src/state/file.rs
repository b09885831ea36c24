//! The embedded state store: a directory, one JSON file per machine.
//!
//! Layout: `machines/<name>.json` (state and history, replaced by write, fsync, rename
//! under an exclusive `flock` of `machines/<name>.lock`, so several processes can share
//! it), `events/<name>.jsonl` (the boot timeline, appended one line per event), and
//! `secret` (the key of the callback tokens, mode 0600).

use super::{BootEvent, MachineState, StateError, StateEvent, StateStore, Transition};
use crate::state::Secret;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
        for sub in ["machines", "events"] {
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

    /// The token key: read, or created once with 32 random bytes.
    pub fn secret(&self) -> Result<Secret, StateError> {
        let path = self.dir.join("secret");
        match fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => return Ok(Secret(bytes)),
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
        Ok(Secret(bytes))
    }

    fn machine_path(&self, name: &str, ext: &str) -> Result<PathBuf, StateError> {
        if !valid_name(name) {
            return Err(StateError::BadName(name.to_owned()));
        }
        let sub = if ext == "jsonl" { "events" } else { "machines" };
        Ok(self.dir.join(sub).join(format!("{name}.{ext}")))
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

impl StateStore for FileStore {
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
        let transition = state.apply(event, at);
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::write_atomic(&path, &bytes)?;
        drop(lock);
        Ok((state, transition))
    }

    fn record(&self, machine: &str, event: &BootEvent) -> Result<(), StateError> {
        let path = self.machine_path(machine, "jsonl")?;
        let mut line = serde_json::to_vec(event).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        // One write of one line on an O_APPEND file: lines from several processes
        // never interleave. The timeline is informational, so it is not fsynced.
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(&line).map_err(io(&path))
    }

    fn events(&self, machine: &str, limit: usize) -> Result<Vec<BootEvent>, StateError> {
        let path = self.machine_path(machine, "jsonl")?;
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        // A line cut short by a crash is skipped, not fatal.
        let all: Vec<BootEvent> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let skip = all.len().saturating_sub(limit);
        Ok(all.into_iter().skip(skip).collect())
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
}
