//! What the lease file owes the clients: every DHCPACK captured on the wire is a promise that
//! the lease is on disk, active, for the client the ACK named, until at least the end the
//! ACK gave it. The ledger keeps the promises whose lease has not run out yet and checks a
//! lease file against all of them; it also reads the file the way dhcpd reads it at start
//! (an unterminated last record cut off, see `dhcpd::lease::parse::torn_tail`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use dhcpd::lease::{BindingState, LeaseFile, LeaseTable, Time};

/// Promises closer than this to their end are dropped before a check: the server may have
/// rewritten them as expired by then.
const MARGIN: Time = 5;

/// One ACKed lease: for `mac`, ending no earlier than `ends_at_least`, seen in round `round`.
#[derive(Debug, Clone, Copy)]
struct Promise {
    mac: [u8; 6],
    ends_at_least: Time,
    round: u32,
}

/// The promises the lease file must keep, by address (a later ACK of an address replaces an
/// earlier one).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    promises: HashMap<Ipv4Addr, Promise>,
}

/// The lease file as dhcpd reads it at start.
pub(crate) struct FileAsRead {
    pub(crate) file: LeaseFile,
    /// The file ended in an unterminated record (a kill in the middle of an append).
    pub(crate) torn: bool,
    pub(crate) bytes: u64,
}

/// Read `path` as dhcpd does at start: a torn last record is cut off, the rest parsed.
pub(crate) fn read_as_server(path: &Path) -> FileAsRead {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cut = dhcpd::lease::parse::torn_tail(&bytes);
    let whole = cut.map_or(&bytes[..], |c| &bytes[..c]);
    FileAsRead {
        file: dhcpd::lease::parse::parse(&path.display().to_string(), whole),
        torn: cut.is_some(),
        bytes: bytes.len() as u64,
    }
}

/// Seconds since 1970, the lease file's clock.
pub(crate) fn unix_now() -> Time {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as Time)
}

impl Ledger {
    /// The ACKs of round `round`, which started at `started` (before the server did, so every
    /// lease it ACKed ends at `started + lease_secs` or later); `now` is after the round's
    /// kill. Returns a line for each address ACKed to another client than the one whose
    /// promise still runs at `now` (a lease given twice).
    pub(crate) fn record(
        &mut self,
        round: u32,
        (started, now): (Time, Time),
        lease_secs: Time,
        acks: &[(Ipv4Addr, [u8; 6])],
    ) -> Vec<String> {
        let mut twice = Vec::new();
        for (ip, mac) in acks {
            let new = Promise {
                mac: *mac,
                ends_at_least: started + lease_secs,
                round,
            };
            if let Some(old) = self.promises.insert(*ip, new)
                && old.mac != *mac
                && old.ends_at_least > now
            {
                twice.push(format!(
                    "{ip} ACKed to {} in round {round} while its lease to {} (round {}) ran",
                    mac_text(mac),
                    mac_text(&old.mac),
                    old.round
                ));
            }
        }
        twice
    }

    /// Check `table` against every promise still running at `now`; returns how many were
    /// checked and a line for each one broken (broken promises are dropped: each is reported
    /// once).
    pub(crate) fn check(&mut self, table: &LeaseTable, now: Time) -> (usize, Vec<String>) {
        self.promises.retain(|_, p| p.ends_at_least > now + MARGIN);
        let checked = self.promises.len();
        let mut broken: Vec<(Ipv4Addr, String)> = self
            .promises
            .iter()
            .filter_map(|(ip, p)| {
                breach(table, *ip, p).map(|why| {
                    let line = format!(
                        "{ip} ACKed to {} in round {}: {why}",
                        mac_text(&p.mac),
                        p.round
                    );
                    (*ip, line)
                })
            })
            .collect();
        broken.sort();
        for (ip, _) in &broken {
            self.promises.remove(ip);
        }
        (checked, broken.into_iter().map(|(_, line)| line).collect())
    }
}

/// Why the lease of `ip` in `table` does not keep promise `p`, if it does not.
fn breach(table: &LeaseTable, ip: Ipv4Addr, p: &Promise) -> Option<String> {
    let Some(l) = table.get(ip) else {
        return Some("no lease for it in the file".into());
    };
    let mac = l.hardware.as_ref().map(|h| h.addr());
    if l.state != BindingState::Active || mac != Some(&p.mac[..]) {
        return Some(format!(
            "the file has it {:?} for {}",
            l.state,
            mac.map_or_else(|| "no client".into(), mac_text)
        ));
    }
    if l.ends < p.ends_at_least {
        return Some(format!(
            "the file has it ending at {}, before {} (an older record)",
            l.ends, p.ends_at_least
        ));
    }
    None
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn mac_text(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
