//! What the server keeps for OMAPI between requests: the handle table and every host record
//! (read from dhcpd.leases at start, made since), which a reload of dhcpd.conf replays on
//! the new configuration, as the records are replayed at start.

use super::objects::{Handles, Outcome, Request, World, process};
use crate::lease::hosts::HostRecord;
use crate::lease::{LeaseTable, Time};
use crate::model::Config;

/// The server's OMAPI state.
#[derive(Debug, Default)]
pub struct OmapiState {
    handles: Handles,
    records: Vec<HostRecord>,
    /// How many records there were after the last compaction.
    compacted: usize,
}

impl OmapiState {
    /// The state at start, with the host records of the lease file.
    pub fn new(records: Vec<HostRecord>) -> OmapiState {
        OmapiState {
            handles: Handles::default(),
            records,
            compacted: 0,
        }
    }

    /// Carry out one request on the live configuration.
    pub fn handle(
        &mut self,
        cfg: &mut Config,
        table: &LeaseTable,
        req: &Request,
        now: Time,
    ) -> Outcome {
        let mut w = World {
            cfg,
            table,
            handles: &mut self.handles,
            records: &mut self.records,
            now,
            changed_lease: None,
            shutdown: false,
        };
        let mut out = process(req, &mut w);
        out.shutdown |= w.shutdown;
        if out.lease.is_none() {
            out.lease = w.changed_lease.take();
        }
        // Hosts made and deleted again need no record: keep the list to what a rewritten
        // lease file would hold once it has doubled (a reload replays it).
        if self.records.len() > 2 * self.compacted + 64 {
            self.records = crate::lease::hosts::compact(&self.records);
            self.compacted = self.records.len();
        }
        out
    }

    /// The host records kept (what a reload replays).
    pub fn records(&self) -> &[HostRecord] {
        &self.records
    }

    /// Enter every host record into a configuration just read (a reload).
    pub fn replay(&self, cfg: &mut Config) -> Vec<String> {
        replay(cfg, &self.records)
    }
}

/// Enter host records into a configuration, in order (a host made, then deleted, then made
/// again ends made). Returns a line for each record that does not parse with it.
pub fn replay(cfg: &mut Config, records: &[HostRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in records {
        match crate::conf::parse_host(&cfg.registry, "dhcpd.leases", r.text.as_bytes()) {
            Ok(h) => {
                problems.extend(crate::model::enter_host(cfg, &h, &crate::model::no_dns));
            }
            Err(e) => problems.push(format!("host record {}: {e}", r.name)),
        }
    }
    problems
}
