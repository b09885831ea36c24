//! Where leases are kept between runs. A [`LeaseStore`] loads the leases at start, makes each
//! batch of changed leases durable before the replies that depend on them leave
//! ([`LeaseStore::commit`]), and rewrites itself from the live table now and then
//! ([`LeaseStore::compact`]). The file backend is [`super::FileStore`]; [`MemStore`] keeps
//! everything in memory for tests; a database backend fits the same trait.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::LeaseFile;
use super::records::ObjectRecord;
use super::{Lease, LeaseTable, Time};

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `renaming`, …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The lease database does not exist (ISC refuses to start then, too).
    #[error(
        "Can't open lease database {0}: No such file or directory -- check for failed database rewrite attempt!"
    )]
    Missing(PathBuf),
    /// An earlier failure left the file in doubt; it takes a rewrite from the durable table
    /// before another commit.
    #[error("{0} needs a rewrite after a failed write or sync")]
    NeedsRewrite(PathBuf),
    /// The lease database failed a request or could not be reached.
    #[error("lease database: {0}")]
    Database(String),
    /// Rows that did not have the versions the writes expected (another server wrote them
    /// first, or an earlier write of ours never committed): nothing of the batch was written.
    #[error("{} lease(s) not as expected in the database", .0.len())]
    Conflict(Vec<RowNow>),
}

/// The compare-and-swap of one lease write on a shared database: the row version the
/// decision was made against (0: no row) and the one the write gives the row (a random
/// number, so that two servers never write the same version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cas {
    /// The version the row must have.
    pub expected: i64,
    /// The version the write gives it.
    pub written: i64,
}

/// A database row as it is now, after a lost compare-and-swap: its lease (none: no row) and
/// version (0: no row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowNow {
    /// The address.
    pub ip: std::net::Ipv4Addr,
    /// The row's lease.
    pub lease: Option<Lease>,
    /// The row's version.
    pub version: i64,
}

/// A place that keeps leases durably. Owned by one committer thread, hence `&mut self`.
pub trait LeaseStore: Send + 'static {
    /// Read every lease (at start-up, before serving).
    fn load(&mut self) -> Result<LeaseFile, StoreError>;
    /// Make `leases` durable: when this returns `Ok`, they survive a crash. Many ACKs share
    /// one call (group commit).
    fn commit(&mut self, leases: &[Lease]) -> Result<(), StoreError>;
    /// [`LeaseStore::commit`] with each lease's compare-and-swap (`cas[i]` for `leases[i]`):
    /// a store shared by several servers writes a lease only when its row still has the
    /// expected version ([`StoreError::Conflict`] otherwise). Stores of one server ignore
    /// the versions.
    fn commit_cas(&mut self, leases: &[Lease], cas: &[Cas]) -> Result<(), StoreError> {
        let _ = cas;
        self.commit(leases)
    }
    /// Make host and group records (of objects made or deleted over OMAPI) durable, after the leases
    /// committed before them; a rewrite keeps what [`super::records::compact`] keeps.
    fn commit_records(&mut self, records: &[ObjectRecord]) -> Result<(), StoreError>;
    /// Leases other servers sharing the store wrote since the last call, as their rows are
    /// now (never waits; a store of one server has none).
    fn observed(&mut self) -> Vec<RowNow> {
        Vec::new()
    }
    /// Replace the stored history by the live table as it stands at `now`.
    fn compact(&mut self, live: &LeaseTable, now: Time) -> Result<(), StoreError>;
    /// Whether an earlier failure must be repaired by [`LeaseStore::compact`] (from the
    /// durable table) before the next commit.
    fn needs_rewrite(&self) -> bool {
        false
    }
    /// Whether a rewrite is due (by size or by age).
    fn compaction_due(&self, _now: Time) -> bool {
        false
    }
}

impl<S: LeaseStore + ?Sized> LeaseStore for Box<S> {
    fn load(&mut self) -> Result<LeaseFile, StoreError> {
        (**self).load()
    }
    fn commit(&mut self, leases: &[Lease]) -> Result<(), StoreError> {
        (**self).commit(leases)
    }
    fn commit_cas(&mut self, leases: &[Lease], cas: &[Cas]) -> Result<(), StoreError> {
        (**self).commit_cas(leases, cas)
    }
    fn commit_records(&mut self, records: &[ObjectRecord]) -> Result<(), StoreError> {
        (**self).commit_records(records)
    }
    fn observed(&mut self) -> Vec<RowNow> {
        (**self).observed()
    }
    fn compact(&mut self, live: &LeaseTable, now: Time) -> Result<(), StoreError> {
        (**self).compact(live, now)
    }
    fn needs_rewrite(&self) -> bool {
        (**self).needs_rewrite()
    }
    fn compaction_due(&self, now: Time) -> bool {
        (**self).compaction_due(now)
    }
}

/// What a [`MemStore`] has been asked to keep.
#[derive(Debug, Default)]
pub struct MemState {
    /// Leases loaded at start.
    pub initial: Vec<Lease>,
    /// Every committed lease, in commit order, since the last compaction.
    pub log: Vec<Lease>,
    /// Host and group records read at start and committed since, in order.
    pub records: Vec<ObjectRecord>,
    /// Number of `commit` calls (one per batch).
    pub commits: usize,
    /// Number of compactions.
    pub compactions: usize,
    /// When set, `commit` fails (to test the shell's handling).
    pub fail_commits: bool,
}

/// An in-memory store; clones share the same state, so a test keeps a handle to look inside.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    state: Arc<Mutex<MemState>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store that starts with `leases`.
    pub fn with_leases(leases: Vec<Lease>) -> MemStore {
        let s = MemStore::default();
        s.state().initial = leases;
        s
    }

    /// The shared state.
    pub fn state(&self) -> MutexGuard<'_, MemState> {
        // A panic while holding the lock only happens in a failing test; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every lease that would be read back at the next start (last one per address wins).
    pub fn durable(&self) -> LeaseTable {
        let s = self.state();
        LeaseTable::from_leases(s.initial.iter().chain(s.log.iter()).cloned())
    }
}

impl LeaseStore for MemStore {
    fn load(&mut self) -> Result<LeaseFile, StoreError> {
        let s = self.state();
        Ok(LeaseFile {
            leases: s.initial.clone(),
            records: s.records.clone(),
            ..LeaseFile::default()
        })
    }

    fn commit_records(&mut self, records: &[ObjectRecord]) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.fail_commits {
            return Err(StoreError::Io {
                what: "writing",
                path: PathBuf::from("<memory>"),
                source: std::io::Error::other("commit failure injected by a test"),
            });
        }
        s.records.extend_from_slice(records);
        Ok(())
    }

    fn commit(&mut self, leases: &[Lease]) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.fail_commits {
            return Err(StoreError::Io {
                what: "writing",
                path: PathBuf::from("<memory>"),
                source: std::io::Error::other("commit failure injected by a test"),
            });
        }
        s.log.extend_from_slice(leases);
        s.commits += 1;
        Ok(())
    }

    fn compact(&mut self, live: &LeaseTable, now: Time) -> Result<(), StoreError> {
        let mut s = self.state();
        s.initial = live
            .iter()
            .map(|l| l.settled(now))
            .filter(Lease::worth_writing)
            .collect();
        s.log.clear();
        s.records = super::records::compact(&s.records);
        s.compactions += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::BindingState;
    use std::net::Ipv4Addr;

    #[test]
    fn mem_store_keeps_what_was_committed() {
        let mut s = MemStore::new();
        let handle = s.clone();
        let mut l = Lease::virgin(Ipv4Addr::new(10, 0, 0, 1));
        l.state = BindingState::Active;
        l.ends = 100;
        s.commit(std::slice::from_ref(&l)).expect("commit");
        assert_eq!(handle.durable().len(), 1);
        assert_eq!(handle.state().commits, 1);
        let live = handle.durable();
        s.compact(&live, 50).expect("compact");
        assert_eq!(handle.state().initial, vec![l]);
        assert!(handle.state().log.is_empty());
        handle.state().fail_commits = true;
        assert!(s.commit(&[]).is_err());
    }
}
