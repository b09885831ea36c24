//! Install state in PostgreSQL (issue 14 part 4) against a real, throwaway server: the
//! same rules as the file store, checked by one suite run on both, and no transition lost
//! when several processes (several connections, as several httpd-tree) change one machine
//! at once.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::Ipv4Addr;
use std::sync::Arc;

use pxe_db::scratch::ScratchServer;
use pxe_db::state::{PgStateStore, TRIM_EVERY};
use pxe_db::{DatabaseUrl, migrate};
use pxe_model::state::{
    BootEvent, EVENTS_KEEP, FileStore, InstallState, Phase, StateEvent, StateStore,
};

fn migrated(pg: &ScratchServer) -> DatabaseUrl {
    let url: DatabaseUrl = pg.url().parse().unwrap();
    migrate(&mut url.connect().unwrap(), "test").unwrap();
    url
}

fn event(at: u64, detail: &str) -> BootEvent {
    BootEvent {
        at,
        phase: Phase::Tftp,
        detail: detail.to_owned(),
    }
}

/// What every store must do, whatever keeps it.
fn same_rules(store: &dyn StateStore) {
    // Never changed: pending, version 0, not listed.
    let s = store.get("web01").unwrap();
    assert_eq!((s.state, s.version), (InstallState::Pending, 0));
    assert!(store.all().unwrap().is_empty());
    // Refused: nothing written.
    assert!(
        store
            .apply_if("web01", StateEvent::AnswerFetched, 1, &|_| false)
            .unwrap()
            .is_none()
    );
    assert!(store.all().unwrap().is_empty());
    // pending → installing → installed, with history and versions.
    let (s, t) = store.apply("web01", StateEvent::AnswerFetched, 10).unwrap();
    assert_eq!(
        (s.state, s.version, s.since),
        (InstallState::Installing, 1, 10)
    );
    assert_eq!(t.map(|t| t.to), Some(InstallState::Installing));
    let (s, _) = store.apply("web01", StateEvent::Installed, 20).unwrap();
    assert_eq!(s.state, InstallState::Installed);
    // An event that changes nothing still counts a version.
    let (s, t) = store.apply("web01", StateEvent::Installed, 30).unwrap();
    assert_eq!((s.version, t), (3, None));
    // Reinstall: a new generation; first boot only in the installed state.
    let (s, _) = store.apply("web01", StateEvent::Reinstall, 40).unwrap();
    assert_eq!((s.state, s.generation), (InstallState::Pending, 1));
    assert_eq!(store.get("web01").unwrap(), s, "read back as written");
    assert_eq!(store.all().unwrap().keys().collect::<Vec<_>>(), ["web01"]);
    // Timelines: oldest first, the last `limit`.
    for i in 0..5 {
        store.record("web01", &event(i, &format!("f{i}"))).unwrap();
    }
    let last: Vec<String> = store
        .events("web01", 3)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(last, ["f2", "f3", "f4"]);
    assert!(store.events("db01", 3).unwrap().is_empty());
    // Acknowledged addresses, and the way back (only the machine's current address).
    let (a, b): (Ipv4Addr, Ipv4Addr) = ("10.0.0.50".parse().unwrap(), "10.0.0.51".parse().unwrap());
    assert_eq!(store.acked_address("web01").unwrap(), None);
    store.record_ack("web01", a, 1).unwrap();
    assert_eq!(store.acked_address("web01").unwrap(), Some(a));
    assert_eq!(store.machine_acked_at(a).unwrap().as_deref(), Some("web01"));
    store.record_ack("web01", b, 2).unwrap();
    assert_eq!(store.machine_acked_at(a).unwrap(), None);
    assert_eq!(store.machine_acked_at(b).unwrap().as_deref(), Some("web01"));
    store.record_ack("db01", a, 3).unwrap();
    assert_eq!(store.machine_acked_at(a).unwrap().as_deref(), Some("db01"));
    // dhcpd -6's bindings sit beside the IPv4 ones; the owner rule reads the requester's family.
    let v6: std::net::Ipv6Addr = "fd00:77::120".parse().unwrap();
    assert_eq!(store.acked_address6("web01").unwrap(), None);
    store.record_ack6("web01", v6, 4).unwrap();
    assert_eq!(store.acked_address6("web01").unwrap(), Some(v6));
    assert_eq!(store.acked_address("web01").unwrap(), Some(b), "IPv4 kept");
    let client: std::net::IpAddr = "fd00:77::9".parse().unwrap();
    assert_eq!(
        store.acked_address_for("web01", client).unwrap(),
        Some(v6.into())
    );
    let client: std::net::IpAddr = "10.0.0.9".parse().unwrap();
    assert_eq!(
        store.acked_address_for("web01", client).unwrap(),
        Some(b.into())
    );
}

#[test]
fn the_database_keeps_the_file_stores_rules() {
    let dir = tempfile::tempdir().unwrap();
    same_rules(&FileStore::open(dir.path()).unwrap());
    let pg = ScratchServer::start().unwrap();
    same_rules(&PgStateStore::new(migrated(&pg)));
}

#[test]
fn several_writers_at_once_lose_no_transition() {
    let pg = ScratchServer::start().unwrap();
    let url = migrated(&pg);
    // Four stores, each its own connection, as four httpd-tree; 25 events each on one
    // machine. Every event is counted in the version: none is lost to a race.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::new(PgStateStore::new(url.clone()));
            std::thread::spawn(move || {
                for i in 0..25 {
                    let event = if (w + i) % 2 == 0 {
                        StateEvent::AnswerFetched
                    } else {
                        StateEvent::Reinstall
                    };
                    store.apply("web01", event, 1_000 + i).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let s = PgStateStore::new(url).get("web01").unwrap();
    assert_eq!(s.version, 100, "lost events: {s:?}");
    let reinstalls = s
        .history
        .iter()
        .filter(|t| t.event == StateEvent::Reinstall)
        .count() as u64;
    assert_eq!(
        s.generation, reinstalls,
        "one generation per reinstall that changed state"
    );
}

#[test]
fn a_timeline_is_cut_back_to_its_last_entries() {
    let pg = ScratchServer::start().unwrap();
    let store = PgStateStore::new(migrated(&pg));
    let n = EVENTS_KEEP as u64 + 2 * TRIM_EVERY;
    for i in 0..n {
        store.record("web01", &event(i, &format!("f{i}"))).unwrap();
    }
    let mut c = pg.url().parse::<DatabaseUrl>().unwrap().connect().unwrap();
    let rows: i64 = c
        .query_one(
            "SELECT count(*) FROM pxe_boot_events WHERE machine = 'web01'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        rows <= (EVENTS_KEEP as u64 + TRIM_EVERY) as i64,
        "{rows} rows kept of {n}"
    );
    let last = store.events("web01", 1).unwrap();
    assert_eq!(last[0].detail, format!("f{}", n - 1));
}

/// The token a secret gives one machine: how two secrets are compared (a `Secret` shows
/// nothing of itself).
fn token_of(secret: &pxe_model::state::Secret) -> String {
    pxe_model::state::machine_token(secret, "web01", 1)
}

#[test]
fn every_store_on_one_database_gets_one_token_key_and_the_first_one_stays() {
    let pg = ScratchServer::start().unwrap();
    let url = migrated(&pg);
    let (a, b) = (PgStateStore::new(url.clone()), PgStateStore::new(url));
    let first = token_of(&a.secret().unwrap());
    assert_eq!(first.len(), 32, "{first}");
    assert_eq!(
        token_of(&b.secret().unwrap()),
        first,
        "two keys on one database"
    );
    assert_eq!(token_of(&a.secret().unwrap()), first, "the key changed");
    // A key offered later (an imported state directory's) does not replace it.
    assert_eq!(token_of(&b.adopt_secret(&[7u8; 32]).unwrap()), first);
    // A short key is refused before it reaches the database.
    assert!(b.adopt_secret(&[7u8; 8]).is_err());
}

#[test]
fn an_imported_key_is_adopted_by_an_empty_database() {
    let pg = ScratchServer::start().unwrap();
    let store = PgStateStore::new(migrated(&pg));
    let key = [9u8; 32];
    let adopted = store.adopt_secret(&key).unwrap();
    let expected = pxe_model::state::Secret::from_bytes(&key);
    assert_eq!(token_of(&adopted), token_of(&expected));
    assert_eq!(token_of(&store.secret().unwrap()), token_of(&expected));
}

#[test]
fn install_states_are_read_without_histories_and_agree_with_the_file_store() {
    let pg = ScratchServer::start().unwrap();
    let db = PgStateStore::new(migrated(&pg));
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::open(dir.path()).unwrap();
    for store in [&db as &dyn StateStore, &files] {
        store.apply("web01", StateEvent::AnswerFetched, 1).unwrap();
        store.apply("web01", StateEvent::Installed, 2).unwrap();
        store.apply("db01", StateEvent::AnswerFetched, 3).unwrap();
    }
    let states = db.install_states().unwrap();
    assert_eq!(states, files.install_states().unwrap());
    assert_eq!(states.get("web01"), Some(&InstallState::Installed));
    assert_eq!(states.get("db01"), Some(&InstallState::Installing));
    assert!(db.remote() && !files.remote());
}

#[test]
fn a_change_written_by_one_process_is_heard_by_another_listener() {
    use pxe_db::state_watch::{Heard, StateWatch};
    let pg = ScratchServer::start().unwrap();
    let url = migrated(&pg);
    let (tx, rx) = std::sync::mpsc::channel();
    let _watch = StateWatch::start(url.clone(), move |h| {
        let _ = tx.send(h);
    });
    let wait = std::time::Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(wait).unwrap(), Heard::Resync, "listening");
    let writer = PgStateStore::new(url);
    writer.apply("web01", StateEvent::AnswerFetched, 1).unwrap();
    writer.apply("db01", StateEvent::AnswerFetched, 2).unwrap();
    let heard: Vec<Heard> = (0..2).map(|_| rx.recv_timeout(wait).unwrap()).collect();
    assert_eq!(
        heard,
        [
            Heard::Machine("web01".into()),
            Heard::Machine("db01".into())
        ]
    );
    // A timeline entry is announced too (the console's "last seen").
    writer.record("gw01", &event(3, "pxelinux.0")).unwrap();
    assert_eq!(
        rx.recv_timeout(wait).unwrap(),
        Heard::Machine("gw01".into())
    );
    // Reading announces nothing.
    writer.events("gw01", 10).unwrap();
    assert!(rx.recv_timeout(std::time::Duration::from_secs(1)).is_err());
}
