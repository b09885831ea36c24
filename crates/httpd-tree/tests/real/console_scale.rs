//! The console with 5,000 machines, 1,000 of them with a state and a timeline: the
//! real binary's list page, whole and searched, timed over HTTP.

use crate::support::{Server, lab, raw_get};
use pxe_model::state::{BootEvent, Phase, StateEvent, StateStore};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const MACHINES: usize = 5_000;

/// The slowest of `rounds` GETs of `target` (which must answer 200 with `expect`).
fn slowest(port: u16, target: &str, rounds: usize, expect: &str) -> Duration {
    let mut worst = Duration::ZERO;
    for _ in 0..rounds {
        let started = Instant::now();
        let r = raw_get(port, target);
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.head);
        let body = String::from_utf8_lossy(&r.body);
        assert!(body.contains(expect), "{expect} not in {target}");
        worst = worst.max(took);
    }
    worst
}

#[test]
fn the_console_lists_five_thousand_machines_quickly() {
    let lab = lab();
    let mut more = String::new();
    for i in 0..MACHINES {
        let _ = writeln!(
            more,
            "  node{i:05}:\n    mac: 52:54:01:00:{:02x}:{:02x}\n    profile: centos7-ks",
            i / 256,
            i % 256
        );
    }
    let mut text = std::fs::read_to_string(&lab.inventory).expect("inventory");
    text.push_str(&more);
    std::fs::write(&lab.inventory, text).expect("inventory");
    let store = pxe_model::state::FileStore::open(&lab.state_dir).expect("state dir");
    for i in (0..MACHINES).step_by(5) {
        let name = format!("node{i:05}");
        store
            .apply(&name, StateEvent::AnswerFetched, 1_700_000_000_000)
            .expect("apply");
        let e = BootEvent {
            at: 1_700_000_000_000 + i as u64,
            phase: Phase::AnswerFile,
            detail: format!("/ks/{name}"),
        };
        store.record(&name, &e).expect("record");
    }
    let server = Server::for_lab(&lab, &["--public-status"]);
    let started = Instant::now();
    let first = raw_get(server.port, "/");
    let cold = started.elapsed();
    assert_eq!(first.status, 200);
    assert!(
        String::from_utf8_lossy(&first.body)
            .contains("5004 machines: <span id=\"count-pending\">4004</span>"),
        "{}",
        String::from_utf8_lossy(&first.body)
            .lines()
            .filter(|l| l.contains("count-"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let whole = slowest(server.port, "/", 10, "page 1 of 51");
    let searched = slowest(
        server.port,
        "/?q=node04&state=installing",
        10,
        "200 of 5004 machines match",
    );
    let machine = slowest(server.port, "/console/machines/node04995", 10, "installing");
    eprintln!(
        "console, {MACHINES} machines (debug build): first page {cold:?} (reads every state \
         file once), then a page at most {whole:?}, a search at most {searched:?}, a \
         machine's page at most {machine:?}"
    );
    for (what, took) in [("page", whole), ("search", searched), ("machine", machine)] {
        assert!(took < Duration::from_millis(500), "{what}: {took:?}");
    }
}
