//! `pxe-db import-state DIR` (issue 14 part 5): a file state directory moved into a real,
//! throwaway PostgreSQL, through the binary an operator runs.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::Ipv4Addr;
use std::process::Command;

use pxe_db::scratch::ScratchServer;
use pxe_db::state::PgStateStore;
use pxe_model::state::{
    BootEvent, FileStore, InstallState, Phase, StateEvent, StateStore, machine_token, token_matches,
};

fn tftp(at: u64) -> BootEvent {
    BootEvent {
        at,
        phase: Phase::Tftp,
        detail: format!("pxelinux.0 at {at}"),
    }
}

#[test]
fn a_state_directory_moves_into_the_database_and_its_tokens_stay_valid() {
    let pg = ScratchServer::start().unwrap();
    let db = PgStateStore::open(pg.url().parse().unwrap(), "test").unwrap();
    // The database already knows web03 (installed); the directory says otherwise.
    db.apply("web03", StateEvent::AnswerFetched, 5).unwrap();
    db.apply("web03", StateEvent::Installed, 6).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::open(dir.path()).unwrap();
    files.apply("web01", StateEvent::AnswerFetched, 10).unwrap();
    files.apply("web01", StateEvent::Installed, 20).unwrap();
    files.record("web01", &tftp(9)).unwrap();
    files.record("web01", &tftp(11)).unwrap();
    files
        .record_ack("web01", Ipv4Addr::new(10, 77, 0, 51), 8)
        .unwrap();
    files.record("web02", &tftp(30)).unwrap(); // a timeline only: still pending
    files.apply("web03", StateEvent::AnswerFetched, 40).unwrap();
    let key = files.secret().unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_pxe-db"))
        .args(["--database", &pg.url(), "import-state"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("imported 1 machine states, 3 timeline entries, 1 acknowledged addresses"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kept the database's state of web03"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the directory's (its tokens stay valid)"),
        "{stdout}"
    );

    let web01 = db.get("web01").unwrap();
    assert_eq!((web01.state, web01.since), (InstallState::Installed, 20));
    let details: Vec<String> = db
        .events("web01", 10)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(details, ["pxelinux.0 at 9", "pxelinux.0 at 11"]);
    assert_eq!(
        db.acked_address("web01").unwrap(),
        Some(Ipv4Addr::new(10, 77, 0, 51))
    );
    assert_eq!(
        db.machine_acked_at(Ipv4Addr::new(10, 77, 0, 51))
            .unwrap()
            .as_deref(),
        Some("web01")
    );
    assert_eq!(db.events("web02", 10).unwrap().len(), 1);
    assert_eq!(db.get("web02").unwrap().state, InstallState::Pending);
    assert_eq!(
        db.get("web03").unwrap().state,
        InstallState::Installed,
        "the database's kept"
    );
    // A token rendered from the directory is accepted against the database's key.
    let token = machine_token(&key, "web01", web01.generation);
    assert!(token_matches(
        &db.secret().unwrap(),
        "web01",
        web01.generation,
        &token
    ));
}

#[test]
fn a_database_with_its_own_key_keeps_it_and_says_the_old_tokens_end() {
    let pg = ScratchServer::start().unwrap();
    let db = PgStateStore::open(pg.url().parse().unwrap(), "test").unwrap();
    let theirs = machine_token(&db.secret().unwrap(), "web01", 0);
    let dir = tempfile::tempdir().unwrap();
    FileStore::open(dir.path()).unwrap().secret().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pxe-db"))
        .args(["--database", &pg.url(), "import-state"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("no longer accepted"), "{stdout}");
    assert_eq!(machine_token(&db.secret().unwrap(), "web01", 0), theirs);
}

#[test]
fn a_directory_that_is_not_there_is_a_clear_error() {
    let pg = ScratchServer::start().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pxe-db"))
        .args([
            "--database",
            &pg.url(),
            "import-state",
            "/nonexistent/state",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/state"), "{stderr}");
}
