//! Two real processes hammer one machine's state in one state directory; no event
//! is lost and the history is one unbroken chain.
//!
//! The test re-runs its own binary as the child processes (`PXE_HAMMER_DIR` set).

use pxe_model::state::{FileStore, StateEvent, StateStore};
use std::process::Command;

const ROUNDS: u64 = 150;
const EVENTS: [StateEvent; 3] = [
    StateEvent::AnswerFetched,
    StateEvent::Installed,
    StateEvent::Reinstall,
];

/// The child's work; a no-op when run as an ordinary test.
#[test]
fn hammer_child() {
    let Some(dir) = std::env::var_os("PXE_HAMMER_DIR") else {
        return;
    };
    let store = FileStore::open(std::path::Path::new(&dir)).expect("open store");
    for i in 0..ROUNDS {
        for (k, ev) in EVENTS.iter().enumerate() {
            store.apply("web01", *ev, i * 10 + k as u64).expect("apply");
        }
    }
}

#[test]
fn two_processes_lose_no_transition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "hammer_child", "--test-threads=1"])
                .env("PXE_HAMMER_DIR", dir.path())
                // The child's own test summary would read as this run's.
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a child failed");
    }
    let store = FileStore::open(dir.path()).expect("open");
    let s = store.get("web01").expect("state");
    // Every applied event counts, changing or not: a lost read-modify-write shows here.
    assert_eq!(s.version, 2 * ROUNDS * EVENTS.len() as u64);
    assert!(
        s.history.len() as u64 >= ROUNDS,
        "history too short: {}",
        s.history.len()
    );
    for pair in s.history.windows(2) {
        assert_eq!(
            pair[0].to, pair[1].from,
            "history is not one chain: {pair:?}"
        );
    }
    assert_eq!(s.history.last().map(|t| t.to), Some(s.state));
}
