//! Which leases of the core task's table are on disk as the table holds them.
//!
//! The core task applies a lease to its table at once and hands the write to the committer;
//! until the committer has synced it, the table is ahead of the disk. A reply that states a
//! lease may be answered from the table (ISC's `dhcp-cache-threshold` reuse, which writes
//! nothing) only when the lease's last change is durable: otherwise a crash could lose a
//! lease that was acknowledged. So every job that writes leases gets a sequence number; the
//! committer reports, batch by batch and in order, up to which number the writes are on disk
//! or failed; jobs dropped on a full queue are known to the core task itself. A lease is
//! durable when no write of it is queued and none was lost since its last durable one.
//!
//! Never blocks: the committer's reports are drained with `try_recv`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::mpsc;

/// What the committer says of one batch: every job numbered up to `upto` that reached it is
/// on disk (`ok`) or was not written (a failed commit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Committed {
    /// The highest sequence number of the batch.
    pub upto: u64,
    /// The batch is on disk.
    pub ok: bool,
    /// Leases another server wrote first (a shared database's lost race), as they are
    /// stored now, with their row versions: the table takes them, so that the client's
    /// retransmission is decided against them.
    pub fresh: Vec<crate::lease::RowNow>,
    /// Rows other servers wrote, heard of as they were written: the table takes those of
    /// addresses with no write of ours on its way (that write's compare-and-swap decides).
    pub observed: Vec<crate::lease::RowNow>,
    /// In a batch on disk (`ok`), the jobs left out of it (they lost a race on a shared
    /// database): their leases are not on disk.
    pub lost_jobs: Vec<u64>,
}

/// Why a lease of the table is not (yet) on disk as the table holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Its write is on its way to the disk, in the job with this number.
    Queued(u64),
    /// Its last write was dropped or failed: only a new write makes it durable.
    Lost,
}

/// The core task's view of what is on disk.
#[derive(Debug)]
pub(crate) struct Durability {
    /// The number of the last job handed out.
    last: u64,
    pending: HashMap<Ipv4Addr, Pending>,
    reports: mpsc::Receiver<Committed>,
}

impl Durability {
    /// A tracker with every lease durable (as read from the file), and the committer's end
    /// of its reports.
    pub(crate) fn new() -> (Durability, mpsc::Sender<Committed>) {
        let (tx, reports) = mpsc::channel();
        let d = Durability {
            last: 0,
            pending: HashMap::new(),
            reports,
        };
        (d, tx)
    }

    /// A job writing the leases at `ips` is made: returns its sequence number.
    pub(crate) fn queue(&mut self, ips: impl IntoIterator<Item = Ipv4Addr>) -> u64 {
        self.last += 1;
        for ip in ips {
            self.pending.insert(ip, Pending::Queued(self.last));
        }
        self.last
    }

    /// The jobs writing the leases at `ips` were dropped (the committer's queue was full).
    pub(crate) fn dropped(&mut self, ips: impl IntoIterator<Item = Ipv4Addr>) {
        for ip in ips {
            self.pending.insert(ip, Pending::Lost);
        }
    }

    /// Take in what the committer reported since the last call (never waits). Returns the
    /// database rows that were not as the table expected, for the table (their leases are
    /// durable as they are), and whether a write of ours lost a race among them.
    pub(crate) fn settle(&mut self) -> (Vec<crate::lease::RowNow>, bool) {
        let mut fresh = Vec::new();
        let mut lost_race = false;
        while let Ok(c) = self.reports.try_recv() {
            self.apply(&c);
            lost_race |= !c.fresh.is_empty();
            for row in c.fresh {
                if row.lease.is_some() {
                    self.pending.remove(&row.ip);
                }
                fresh.push(row);
            }
            fresh.extend(
                c.observed
                    .into_iter()
                    .filter(|row| !matches!(self.pending.get(&row.ip), Some(Pending::Queued(_)))),
            );
        }
        (fresh, lost_race)
    }

    fn apply(&mut self, c: &Committed) {
        if c.ok {
            for p in self.pending.values_mut() {
                if matches!(p, Pending::Queued(s) if c.lost_jobs.contains(s)) {
                    *p = Pending::Lost;
                }
            }
            self.pending
                .retain(|_, p| !matches!(p, Pending::Queued(s) if *s <= c.upto));
        } else {
            for p in self.pending.values_mut() {
                if matches!(p, Pending::Queued(s) if *s <= c.upto) {
                    *p = Pending::Lost;
                }
            }
        }
    }

    /// Is the lease at `ip` on disk as the table holds it (its last write synced)?
    pub(crate) fn is_durable(&self, ip: Ipv4Addr) -> bool {
        !self.pending.contains_key(&ip)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);

    #[test]
    fn the_jobs_left_out_of_a_batch_on_disk_are_not_durable() {
        let (mut d, tx) = Durability::new();
        let kept = d.queue([A]);
        let left_out = d.queue([B]);
        tx.send(Committed {
            upto: left_out,
            ok: true,
            lost_jobs: vec![left_out],
            ..Committed::default()
        })
        .unwrap();
        d.settle();
        assert!(d.is_durable(A), "job {kept} is on disk");
        assert!(!d.is_durable(B), "job {left_out} lost its race");
    }

    #[test]
    fn a_lease_is_durable_once_its_last_write_is_synced() {
        let (mut d, tx) = Durability::new();
        assert!(d.is_durable(A), "read from the file");
        let first = d.queue([A]);
        let second = d.queue([A, B]);
        assert!(!d.is_durable(A));
        tx.send(Committed {
            upto: first,
            ok: true,
            ..Committed::default()
        })
        .unwrap();
        d.settle();
        assert!(!d.is_durable(A), "its later write is still queued");
        tx.send(Committed {
            upto: second,
            ok: true,
            ..Committed::default()
        })
        .unwrap();
        d.settle();
        assert!(d.is_durable(A) && d.is_durable(B));
    }

    #[test]
    fn a_failed_or_dropped_write_stays_undurable_until_written_again() {
        let (mut d, tx) = Durability::new();
        let failed = d.queue([A]);
        d.dropped([B]);
        tx.send(Committed {
            upto: failed,
            ok: false,
            ..Committed::default()
        })
        .unwrap();
        d.settle();
        let later = d.queue([]);
        tx.send(Committed {
            upto: later,
            ok: true,
            ..Committed::default()
        })
        .unwrap();
        d.settle();
        assert!(
            !d.is_durable(A),
            "a later batch does not make up for a failed one"
        );
        assert!(!d.is_durable(B), "nor for a dropped one");
        let again = d.queue([A, B]);
        tx.send(Committed {
            upto: again,
            ok: true,
            ..Committed::default()
        })
        .unwrap();
        d.settle();
        assert!(d.is_durable(A) && d.is_durable(B));
    }
}
