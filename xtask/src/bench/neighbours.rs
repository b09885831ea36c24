//! Room in the kernel's ARP table for a storm's machines, for the length of a benchmark.
//!
//! A server answers each simulated machine at its own leased address, so its namespace
//! needs an ARP entry per machine. Linux keeps one ARP table for every namespace, capped at
//! `net.ipv4.neigh.default.gc_thresh3` entries (1024 by default, and settable only from
//! the host's namespace). Past the cap, a send to a new address fails with ENOBUFS, which
//! the kernel swallows for UDP (counted as `UdpSndbufErrors`, "neighbor table overflow"
//! in the kernel log): TFTP answers vanish for every stack alike, and the storm measures
//! the table instead of the servers. [`NeighbourRoom`] raises the three thresholds for the
//! run and puts the host's values back when dropped.

use anyhow::{Context, Result};
use std::path::PathBuf;

const THRESHOLDS: [&str; 3] = ["gc_thresh1", "gc_thresh2", "gc_thresh3"];

fn path(name: &str) -> PathBuf {
    PathBuf::from("/proc/sys/net/ipv4/neigh/default").join(name)
}

fn read(name: &str) -> Result<u64> {
    let p = path(name);
    std::fs::read_to_string(&p)
        .with_context(|| format!("reading {}", p.display()))?
        .trim()
        .parse()
        .with_context(|| format!("{} is not a number", p.display()))
}

fn write(name: &str, value: u64) -> Result<()> {
    let p = path(name);
    std::fs::write(&p, format!("{value}\n")).with_context(|| format!("writing {}", p.display()))
}

/// The host's ARP thresholds as they were, restored on drop.
pub(super) struct NeighbourRoom {
    saved: Vec<(&'static str, u64)>,
}

/// What each threshold becomes for `neighbours` entries: never lower than the host's
/// value; the table is not even garbage-collected below the first (so entries are not
/// dropped mid-storm), the third is a hard cap with room to spare.
pub(super) fn wanted(current: [u64; 3], neighbours: u64) -> [u64; 3] {
    let n = neighbours.saturating_add(1024);
    [
        current[0].max(n),
        current[1].max(n.saturating_mul(2)),
        current[2].max(n.saturating_mul(4)),
    ]
}

impl NeighbourRoom {
    /// Makes room for `neighbours` ARP entries; says in the log what it changed.
    pub(super) fn make(neighbours: u64) -> Result<NeighbourRoom> {
        let mut current = [0u64; 3];
        for (c, name) in current.iter_mut().zip(THRESHOLDS) {
            *c = read(name)?;
        }
        let target = wanted(current, neighbours);
        let mut room = NeighbourRoom { saved: Vec::new() };
        // Raised from the third down, so that thresh1 <= thresh2 <= thresh3 holds at each step.
        for i in (0..3).rev() {
            if target[i] != current[i] {
                write(THRESHOLDS[i], target[i])?;
                room.saved.push((THRESHOLDS[i], current[i]));
            }
        }
        if !room.saved.is_empty() {
            eprintln!(
                "bench: ARP table thresholds (net.ipv4.neigh.default.gc_thresh1..3) raised from {current:?} to {target:?} for {neighbours} machines; restored afterwards"
            );
        }
        Ok(room)
    }
}

impl Drop for NeighbourRoom {
    fn drop(&mut self) {
        // Lowered from the first up, the reverse of raising.
        for (name, value) in self.saved.iter().rev() {
            if let Err(e) = write(name, *value) {
                eprintln!("bench: could not restore {name} to {value}: {e:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wanted;

    #[test]
    fn thresholds_grow_with_the_machines_and_never_shrink() {
        let host = [128, 512, 1024];
        let w = wanted(host, 5000);
        assert!(w[0] >= 5000, "{w:?}");
        assert!(w[0] <= w[1] && w[1] <= w[2], "{w:?}");
        let big = [100_000, 200_000, 400_000];
        assert_eq!(wanted(big, 5000), big);
    }
}
