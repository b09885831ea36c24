//! The schema against a real PostgreSQL (a throwaway server per test): migrations applied
//! once even by racing daemons, a newer database refused, and the `pxe-db` command's output
//! and exit codes.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::Command;

use pxe_db::scratch::ScratchServer;
use pxe_db::{DatabaseUrl, DbError, migrate, status};

fn connect(pg: &ScratchServer) -> postgres::Client {
    pg.url().parse::<DatabaseUrl>().unwrap().connect().unwrap()
}

#[test]
fn racing_daemons_apply_each_step_once() {
    let pg = ScratchServer::start().unwrap();
    let url = pg.url();
    let racers: Vec<_> = (0..4)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = url.parse::<DatabaseUrl>().unwrap().connect().unwrap();
                migrate(&mut c, &format!("racer {i}")).unwrap()
            })
        })
        .collect();
    let applied: Vec<Vec<i32>> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    // One racer applied everything; the others found it current.
    let everything: Vec<i32> = pxe_db::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(
        applied.iter().filter(|a| **a == everything).count(),
        1,
        "{applied:?}"
    );
    assert_eq!(
        applied.iter().filter(|a| a.is_empty()).count(),
        3,
        "{applied:?}"
    );
    let mut c = connect(&pg);
    let s = status(&mut c).unwrap();
    assert_eq!(s.version(), pxe_db::migrate::newest());
    assert!(s.pending().is_empty());
    let rows: i64 = c
        .query_one("SELECT count(*) FROM pxe_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, everything.len() as i64);
    // The tables are there.
    c.execute("SELECT address, version, lease FROM dhcp_leases", &[])
        .unwrap();
}

#[test]
fn a_database_newer_than_the_binary_is_refused_and_left_alone() {
    let pg = ScratchServer::start().unwrap();
    let mut c = connect(&pg);
    migrate(&mut c, "test").unwrap();
    c.execute(
        "INSERT INTO pxe_schema (version, name, applied_by) VALUES (99, 'future', 'test')",
        &[],
    )
    .unwrap();
    match migrate(&mut c, "test") {
        Err(DbError::TooNew { database, binary }) => {
            assert_eq!(database, 99);
            assert_eq!(binary, pxe_db::migrate::newest());
        }
        other => panic!("not refused: {other:?}"),
    }
    let out = Command::new(env!("CARGO_BIN_EXE_pxe-db"))
        .args(["--database", &pg.url(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("newer than this binary"),
        "{out:?}"
    );
}

#[test]
fn pxe_db_status_and_migrate_for_operators() {
    let pg = ScratchServer::start().unwrap();
    let pxe_db = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pxe-db"))
            .env(pxe_db::ENV, pg.url())
            .args(args)
            .output()
            .unwrap()
    };
    let before = pxe_db(&["status"]);
    assert_eq!(before.status.code(), Some(3), "{before:?}");
    let text = String::from_utf8_lossy(&before.stdout);
    assert!(text.starts_with("schema version 0"), "{text}");
    assert!(text.contains("pending 1: dhcp leases"), "{text}");
    let m = pxe_db(&["migrate"]);
    assert!(m.status.success(), "{m:?}");
    assert!(String::from_utf8_lossy(&m.stdout).contains("applied 1"));
    let after = pxe_db(&["status"]);
    assert_eq!(after.status.code(), Some(0), "{after:?}");
    assert!(String::from_utf8_lossy(&after.stdout).contains("applied 1: dhcp leases"));
    let again = pxe_db(&["migrate"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("schema already current"));
    // No database named: a clear refusal.
    let none = Command::new(env!("CARGO_BIN_EXE_pxe-db"))
        .env_remove(pxe_db::ENV)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("give --database URL or set PXE_DATABASE_URL"),
        "{none:?}"
    );
}
