//! Leases: the ISC `dhcpd.leases` format (read in [`parse`], written in [`write`](mod@write)), the
//! in-memory [`LeaseTable`] the protocol core decides against, and the stores that keep it on
//! disk ([`store`]: the [`LeaseStore`] trait and [`MemStore`]; [`file`](mod@file): the journal file).
//!
//! Times are Unix seconds, as ISC's `TIME`; `0` means "not set" (ISC writes no line for it) and
//! [`MAX_TIME`] is ISC's `never`.

pub mod file;
mod index;
pub mod parse;
pub mod pg;
mod pg_watch;
pub mod records;
pub mod store;
pub mod syntax;
mod table;
mod temporary;
pub mod time;
pub mod write;

pub use file::{FileStore, FileStoreOptions};
pub use parse::LeaseFile;
pub use pg::PgStore;
pub use store::{Cas, LeaseStore, MemStore, RowNow, StoreError};
pub use table::{Admit, DECLINE_INTERVAL, DeclineMark, FloodLimit, LeaseTable, Queue};

use std::net::Ipv4Addr;

/// Unix seconds.
pub type Time = i64;

/// ISC's `MAX_TIME` (`0x7fffffff`): written as `never`.
pub const MAX_TIME: Time = 0x7fff_ffff;

/// ISC's binding states (`binding state …;`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum BindingState {
    /// Available for allocation.
    #[default]
    Free,
    /// Bound to a client.
    Active,
    /// Expired (failover transitional state).
    Expired,
    /// Released (failover transitional state).
    Released,
    /// Declined or otherwise unusable; allocated last.
    Abandoned,
    /// Reset by an operator (failover).
    Reset,
    /// Owned by the failover peer.
    Backup,
}

impl BindingState {
    /// The word ISC writes.
    pub fn name(self) -> &'static str {
        match self {
            BindingState::Free => "free",
            BindingState::Active => "active",
            BindingState::Expired => "expired",
            BindingState::Released => "released",
            BindingState::Abandoned => "abandoned",
            BindingState::Reset => "reset",
            BindingState::Backup => "backup",
        }
    }
}

/// A hardware address as ISC keeps it: the ARP type and the address bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hardware {
    /// ARP hardware type (1 = Ethernet).
    pub htype: u8,
    /// The address (at most 16 bytes).
    pub addr: Vec<u8>,
}

impl Hardware {
    /// An Ethernet address.
    pub fn ethernet(addr: [u8; 6]) -> Hardware {
        Hardware {
            htype: 1,
            addr: addr.to_vec(),
        }
    }

    /// `52:54:00:12:34:56`, as ISC's `print_hw_addr` prints it.
    pub fn colon(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.addr.len() * 3);
        for (i, b) in self.addr.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s
    }

    /// ISC's name of the hardware type in lease files and `hardware` statements.
    pub fn type_name(&self) -> String {
        match self.htype {
            1 => "ethernet".into(),
            6 => "token-ring".into(),
            8 => "fddi".into(),
            32 => "infiniband".into(),
            n => format!("unknown-{n}"),
        }
    }
}

/// A value bound with `set NAME = VALUE;` in a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingValue {
    /// A string or colon-separated hex.
    Data(Vec<u8>),
    /// `%N`.
    Number(i64),
    /// `true` / `false`.
    Bool(bool),
}

/// One lease, with every field ISC keeps in `dhcpd.leases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// `starts`.
    pub starts: Time,
    /// `ends` ([`MAX_TIME`] = never).
    pub ends: Time,
    /// `tstp` (time sent to peer; ISC also sets it on release).
    pub tstp: Time,
    /// `tsfp`.
    pub tsfp: Time,
    /// `atsfp`.
    pub atsfp: Time,
    /// `cltt`: client's last transaction time.
    pub cltt: Time,
    /// `binding state`.
    pub state: BindingState,
    /// `next binding state`: the state once `ends` passes.
    pub next_state: BindingState,
    /// `rewind binding state`.
    pub rewind_state: BindingState,
    /// `hardware TYPE ADDR`.
    pub hardware: Option<Hardware>,
    /// `uid`: the client identifier (option 61).
    pub uid: Option<Vec<u8>>,
    /// `client-hostname`.
    pub client_hostname: Option<Vec<u8>>,
    /// `set NAME = VALUE;` bindings, in the order ISC writes them.
    pub bindings: Vec<(String, BindingValue)>,
    /// Relay agent sub-options stashed from option 82 (`option agent.NAME …;`): code, data.
    pub agent_options: Vec<(u8, Vec<u8>)>,
    /// `dynamic-bootp;`: a BOOTP lease.
    pub bootp: bool,
    /// `reserved;`.
    pub reserved: bool,
    /// Statements to run on its events (`on commit`/`release`/`expiry`); `on expiry` and
    /// `on release` are written to the lease file with it.
    pub on: crate::model::OnStar,
    /// `on EVENTS { … }` blocks read from a lease file, as text (`conf::print`), until
    /// they are matched with the configuration's ([`Lease::attach_handlers`]).
    pub stored_on: Vec<(crate::model::Events, String)>,
}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            ip: Ipv4Addr::UNSPECIFIED,
            starts: 0,
            ends: 0,
            tstp: 0,
            tsfp: 0,
            atsfp: 0,
            cltt: 0,
            state: BindingState::Free,
            next_state: BindingState::Free,
            rewind_state: BindingState::Free,
            hardware: None,
            uid: None,
            client_hostname: None,
            bindings: Vec::new(),
            agent_options: Vec::new(),
            bootp: false,
            reserved: false,
            on: crate::model::OnStar::default(),
            stored_on: Vec::new(),
        }
    }
}

impl Lease {
    /// A lease that has never been used (what ISC builds for every address of a range).
    pub fn virgin(ip: Ipv4Addr) -> Lease {
        Lease {
            ip,
            ..Lease::default()
        }
    }

    /// The binding state at `now`: once `ends` has passed, a lease has moved to its next
    /// binding state, as ISC's expiry timer (and its lease-file loader) would have done by then.
    pub fn state_at(&self, now: Time) -> BindingState {
        if self.ends != 0 && self.ends <= now && self.next_state != self.state {
            self.next_state
        } else {
            self.state
        }
    }

    /// The lease as it stands at `now` (expired leases moved to their next state), for
    /// rewriting the file.
    pub fn settled(&self, now: Time) -> Lease {
        let state = self.state_at(now);
        if state == self.state {
            return self.clone();
        }
        let mut l = self.clone();
        l.state = state;
        l.next_state = state;
        l.rewind_state = state;
        l.bindings.clear();
        l.client_hostname = None;
        l.on = crate::model::OnStar::default();
        l.stored_on.clear();
        if l.tstp == 0 {
            l.tstp = l.ends;
        }
        l
    }

    /// Give the lease the configuration's handlers for the `on` blocks read with it from a
    /// lease file (matched by their text); returns the events of blocks the configuration no
    /// longer has (their statements are dropped).
    pub fn attach_handlers(
        &mut self,
        handlers: &std::collections::HashMap<String, crate::model::Handler>,
    ) -> Vec<crate::model::Events> {
        let mut missing = Vec::new();
        for (events, text) in std::mem::take(&mut self.stored_on) {
            match handlers.get(&text) {
                Some(h) => self.on.set(events, Some(h)),
                None => missing.push(events),
            }
        }
        missing
    }

    /// ISC writes a lease at a rewrite when it has a client or is not free.
    pub fn worth_writing(&self) -> bool {
        self.hardware.is_some()
            || self.uid.is_some()
            || self.tsfp != 0
            || self.state != BindingState::Free
    }

    /// Does this lease belong to the client with hardware address `hw`?
    pub fn has_hardware(&self, hw: &Hardware) -> bool {
        self.hardware.as_ref() == Some(hw)
    }
}

/// Does `ip` fall in `[low, high]`?
pub fn in_range(ip: Ipv4Addr, low: Ipv4Addr, high: Ipv4Addr) -> bool {
    let v = u32::from(ip);
    u32::from(low) <= v && v <= u32::from(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_moves_to_next_state() {
        let mut l = Lease::virgin(Ipv4Addr::new(10, 0, 0, 5));
        l.state = BindingState::Active;
        l.next_state = BindingState::Free;
        l.ends = 100;
        assert_eq!(l.state_at(99), BindingState::Active);
        assert_eq!(l.state_at(100), BindingState::Free);
        let s = l.settled(200);
        assert_eq!(
            (s.state, s.next_state, s.tstp),
            (BindingState::Free, BindingState::Free, 100)
        );
        l.ends = MAX_TIME;
        assert_eq!(l.state_at(i64::from(u32::MAX)), BindingState::Free);
        let mut a = Lease::virgin(Ipv4Addr::new(10, 0, 0, 6));
        a.state = BindingState::Abandoned;
        a.next_state = BindingState::Abandoned;
        a.ends = 5;
        assert_eq!(a.state_at(10), BindingState::Abandoned);
        a.next_state = BindingState::Free;
        assert_eq!(a.state_at(10), BindingState::Free);
    }

    /// The lease table holds one record per address ever used (65,000 in a busy /16) and
    /// the committer's copy shares them: every byte here is 65 kB there (issue 17). 240
    /// bytes since an `on` handler became one pointer (three of them were 96 of 312 bytes);
    /// a new field belongs behind a pointer unless nearly every lease has it.
    #[test]
    fn lease_record_stays_compact() {
        assert!(size_of::<Lease>() <= 240, "{} bytes", size_of::<Lease>());
    }

    #[test]
    fn hardware_text() {
        let h = Hardware::ethernet([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(h.colon(), "52:54:00:12:34:56");
        assert_eq!(h.type_name(), "ethernet");
    }
}
