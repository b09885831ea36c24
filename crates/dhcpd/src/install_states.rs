//! Install states as the core task reads them for boot plans: from a state directory at
//! each packet (a file read), or, for a store reached over the network (the database), from
//! a copy a thread of its own refreshes every [`POLL`], so that no packet waits on a
//! connection (and a database outage only leaves the copy as it was).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use pxe_model::{InstallState, StateStore};

/// How often the copy of a remote store's states is refreshed.
pub(crate) const POLL: Duration = Duration::from_secs(1);

type States = RwLock<Option<BTreeMap<String, InstallState>>>;

/// Where the core task reads install states.
pub(crate) enum InstallStates {
    /// Asked at each packet.
    Direct(Arc<dyn StateStore>),
    /// A copy (none until the first read succeeded), refreshed off the packet path.
    Polled(Arc<States>),
}

impl InstallStates {
    /// Reads from `store`; a remote one through a refreshed copy (its thread starts now
    /// and ends when this is dropped).
    pub(crate) fn new(store: Arc<dyn StateStore>) -> InstallStates {
        if !store.remote() {
            return InstallStates::Direct(store);
        }
        let states: Arc<States> = Arc::new(RwLock::new(None));
        let weak = Arc::downgrade(&states);
        let spawned = std::thread::Builder::new()
            .name("install-states".into())
            .spawn(move || refresh(&store, &weak));
        if let Err(e) = spawned {
            tracing::error!("install states: no refresh thread ({e}): every machine is pending");
        }
        InstallStates::Polled(states)
    }

    /// `machine`'s install state; `None` when it cannot be known (a store that failed, or
    /// a copy not read yet).
    pub(crate) fn of(&self, machine: &str) -> Option<InstallState> {
        match self {
            InstallStates::Direct(store) => store.get(machine).map(|m| m.state).ok(),
            InstallStates::Polled(states) => {
                let guard = states.read().unwrap_or_else(|p| p.into_inner());
                let copy = guard.as_ref()?;
                // A machine without a row never changed: pending.
                Some(copy.get(machine).copied().unwrap_or_default())
            }
        }
    }
}

/// The refresh loop: reads every [`POLL`] while the copy is wanted; a failed read keeps the
/// last copy and is logged once per outage.
fn refresh(store: &Arc<dyn StateStore>, states: &Weak<States>) {
    let mut failing = false;
    loop {
        let Some(target) = states.upgrade() else {
            return;
        };
        match store.install_states() {
            Ok(read) => {
                if failing {
                    tracing::warn!("install states: read again from the database");
                    failing = false;
                }
                *target.write().unwrap_or_else(|p| p.into_inner()) = Some(read);
            }
            Err(e) if !failing => {
                tracing::error!("install states: {e}: boot plans use the last states read");
                failing = true;
            }
            Err(_) => {}
        }
        drop(target);
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use pxe_model::state::StateEvent;

    fn wait_until(what: impl Fn() -> bool) -> bool {
        (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            what()
        })
    }

    #[test]
    fn a_database_is_read_through_a_copy_that_follows_its_changes() {
        let pg = pxe_db::scratch::ScratchServer::start().unwrap();
        let url: pxe_db::DatabaseUrl = pg.url().parse().unwrap();
        pxe_db::migrate(&mut url.connect().unwrap(), "test").unwrap();
        let db = Arc::new(pxe_db::state::PgStateStore::new(url));
        db.apply("web01", StateEvent::AnswerFetched, 1).unwrap();
        let states = InstallStates::new(db.clone());
        assert!(matches!(states, InstallStates::Polled(_)));
        assert!(wait_until(
            || states.of("web01") == Some(InstallState::Installing)
        ));
        assert_eq!(states.of("never-changed"), Some(InstallState::Pending));
        // Another process (httpd-tree's callback) writes; the copy follows.
        db.apply("web01", StateEvent::Installed, 2).unwrap();
        assert!(wait_until(
            || states.of("web01") == Some(InstallState::Installed)
        ));
    }

    #[test]
    fn a_state_directory_is_read_at_each_ask() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(pxe_model::FileStore::open(dir.path()).unwrap());
        let states = InstallStates::new(files.clone());
        assert!(matches!(states, InstallStates::Direct(_)));
        assert_eq!(states.of("web01"), Some(InstallState::Pending));
        files.apply("web01", StateEvent::Installed, 1).unwrap();
        assert_eq!(states.of("web01"), Some(InstallState::Installed));
    }
}
