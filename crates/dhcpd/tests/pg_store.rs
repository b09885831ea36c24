//! The PostgreSQL lease store's compare-and-swap against a real server (a throwaway one):
//! two stores stand for two dhcpd sharing one database. A write lands only on the row
//! version its decision saw; a loser learns the row as it is now; a stale view never
//! overwrites a newer write, even when both servers wrote once.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::Ipv4Addr;

use dhcpd::lease::{BindingState, Cas, Hardware, Lease, LeaseStore, PgStore, RowNow, StoreError};
use pxe_db::scratch::ScratchServer;

const TEN: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
const ELEVEN: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);

fn store(pg: &ScratchServer) -> PgStore {
    let mut s = PgStore::new(pg.url().parse().unwrap());
    s.load().unwrap();
    s
}

fn active(ip: Ipv4Addr, mac_last: u8, ends: i64) -> Lease {
    Lease {
        ip,
        starts: 1_800_000_000,
        ends,
        state: BindingState::Active,
        next_state: BindingState::Free,
        hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0, 0, mac_last])),
        ..Lease::virgin(ip)
    }
}

fn cas(expected: i64, written: i64) -> Cas {
    Cas { expected, written }
}

/// The conflict's rows: address, hardware address' last byte, version.
fn lost(r: Result<(), StoreError>) -> Vec<(Ipv4Addr, Option<u8>, i64)> {
    match r {
        Err(StoreError::Conflict(rows)) => rows
            .into_iter()
            .map(|RowNow { ip, lease, version }| {
                let mac = lease
                    .and_then(|l| l.hardware)
                    .and_then(|h| h.addr().last().copied());
                (ip, mac, version)
            })
            .collect(),
        other => panic!("no conflict: {other:?}"),
    }
}

#[test]
fn writes_land_only_on_the_version_their_decision_saw() {
    let pg = ScratchServer::start().unwrap();
    let (mut a, mut b) = (store(&pg), store(&pg));
    a.commit_cas(&[active(TEN, 1, 1_800_000_600)], &[cas(0, 111)])
        .unwrap();
    // B never saw A's lease: its insert loses, and it learns the row.
    assert_eq!(
        lost(b.commit_cas(&[active(TEN, 2, 1_800_000_600)], &[cas(0, 222)])),
        vec![(TEN, Some(1), 111)]
    );
    // Decided against the row it learnt, B's write lands.
    b.commit_cas(&[active(TEN, 1, 1_800_000_900)], &[cas(111, 333)])
        .unwrap();
    // A's view is now stale: its renewal loses rather than overwrite B's newer write.
    assert_eq!(
        lost(a.commit_cas(&[active(TEN, 1, 1_800_001_200)], &[cas(111, 444)])),
        vec![(TEN, Some(1), 333)]
    );
    // Nothing of a losing batch is written, its other leases included.
    assert_eq!(
        lost(a.commit_cas(
            &[active(ELEVEN, 3, 1_800_000_600), active(TEN, 1, 1)],
            &[cas(0, 5), cas(111, 6)],
        )),
        vec![(TEN, Some(1), 333)]
    );
    let file = store(&pg).load().unwrap();
    assert_eq!(file.leases.len(), 1, "{:?}", file.leases);
    assert_eq!(file.leases[0].ends, 1_800_000_900);
    assert_eq!(file.db_versions.get(&TEN), Some(&333));
}

#[test]
fn one_batch_writes_an_address_once_and_a_missing_row_is_reported_as_missing() {
    let pg = ScratchServer::start().unwrap();
    let mut a = store(&pg);
    // Two writes of one address in a batch: from the first's expected version to the
    // last's written one, with the last lease.
    a.commit_cas(
        &[
            active(ELEVEN, 4, 1_800_000_600),
            active(ELEVEN, 4, 1_800_000_700),
        ],
        &[cas(0, 5), cas(5, 6)],
    )
    .unwrap();
    let file = store(&pg).load().unwrap();
    assert_eq!(file.db_versions.get(&ELEVEN), Some(&6));
    assert_eq!(file.leases[0].ends, 1_800_000_700);
    // A write expecting a row that is not there (an earlier write of ours never
    // committed): the conflict says there is no row.
    assert_eq!(
        lost(a.commit_cas(&[active(TEN, 1, 1_800_000_600)], &[cas(77, 78)])),
        vec![(TEN, None, 0)]
    );
    // A write without versions is refused, never written blindly.
    assert!(matches!(
        a.commit(&[active(TEN, 1, 1)]),
        Err(StoreError::Database(_))
    ));
}
