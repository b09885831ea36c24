//! What the server keeps for OMAPI between requests: the handle table and every host and
//! group record (read from dhcpd.leases at start, made since), which a reload of dhcpd.conf replays on
//! the new configuration, as the records are replayed at start.

use super::objects::{Handles, Outcome, Request, World, process};
use crate::conf::ast::Decl;
use crate::lease::records::ObjectRecord;
use crate::lease::{LeaseTable, Time};
use crate::model::Config;

/// The server's OMAPI state.
#[derive(Debug, Default)]
pub struct OmapiState {
    handles: Handles,
    records: Vec<ObjectRecord>,
    /// How many records there were after the last compaction.
    compacted: usize,
}

impl OmapiState {
    /// The state at start, with the host and group records of the lease file.
    pub fn new(records: Vec<ObjectRecord>) -> OmapiState {
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
            self.records = crate::lease::records::compact(&self.records);
            self.compacted = self.records.len();
        }
        out
    }

    /// The host and group records kept (what a reload replays).
    pub fn records(&self) -> &[ObjectRecord] {
        &self.records
    }

    /// Enter every host and group record into a configuration just read (a reload).
    pub fn replay(&self, cfg: &mut Config) -> Vec<String> {
        replay(cfg, &self.records)
    }
}

/// Enter host and group records into a configuration, in order (a host made, then deleted,
/// then made again ends made). Returns a line for each record that does not parse with it.
pub fn replay(cfg: &mut Config, records: &[ObjectRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in records {
        match enter_record(cfg, "dhcpd.leases", r) {
            Ok(warnings) => problems.extend(warnings),
            Err(e) => problems.push(format!("{} record {}: {e}", r.kind.word(), r.name)),
        }
    }
    problems
}

/// Parse one record with the configuration's option spaces and enter what it declares.
/// `Ok`: warnings (names that did not resolve); `Err`: why it does not parse.
pub(super) fn enter_record(
    cfg: &mut Config,
    source: &str,
    r: &ObjectRecord,
) -> Result<Vec<String>, String> {
    match crate::conf::parse_record(&cfg.registry, source, r.text.as_bytes())? {
        Decl::Host(h) => Ok(crate::model::enter_host(cfg, &h, &crate::model::no_dns)),
        Decl::Group(g) => {
            crate::model::enter_group(cfg, &g);
            Ok(Vec::new())
        }
        _ => Err(format!("{source}: not a host or group declaration")),
    }
}

/// Enter a record OMAPI just made (parsed as dhcpd.conf text, so that what runs now and
/// what is read at the next start are the same) and keep it for the lease file. Names are
/// not looked up in the DNS over OMAPI (addresses come as addresses).
pub(super) fn enter_new_record(
    record: ObjectRecord,
    w: &mut World<'_>,
) -> Result<ObjectRecord, super::status::Status> {
    enter_record(w.cfg, "OMAPI", &record).map_err(|_| super::status::Status::BAD_PARSE)?;
    w.records.push(record.clone());
    Ok(record)
}
