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

/// The longest hardware address ISC keeps (`HARDWARE_ADDR_LEN`): a `hardware` statement
/// takes up to 20 bytes (InfiniBand's); a DHCP packet's `chaddr` holds 16.
pub const MAX_HW_LEN: usize = 20;

/// A hardware address's bytes, held inline (no heap block per lease, issue 17).
pub type HwAddr = tinyvec::ArrayVec<[u8; MAX_HW_LEN]>;

/// A hardware address as ISC keeps it: the ARP type and the address bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hardware {
    /// ARP hardware type (1 = Ethernet).
    pub htype: u8,
    /// The address (at most [`MAX_HW_LEN`] bytes).
    addr: HwAddr,
}

impl Hardware {
    /// A hardware address of type `htype`; `None` if `addr` is longer than [`MAX_HW_LEN`]
    /// (no lease or host can have it).
    pub fn new(htype: u8, addr: &[u8]) -> Option<Hardware> {
        let addr = HwAddr::try_from(addr).ok()?;
        Some(Hardware { htype, addr })
    }

    /// The address in a packet's `chaddr`: its first `hlen` bytes (at most 16).
    pub fn from_chaddr(htype: u8, chaddr: &[u8; 16], hlen: u8) -> Hardware {
        let n = usize::from(hlen.min(16));
        Hardware {
            htype,
            addr: chaddr.iter().take(n).copied().collect(),
        }
    }

    /// An Ethernet address.
    pub fn ethernet(addr: [u8; 6]) -> Hardware {
        Hardware {
            htype: 1,
            addr: addr.into_iter().collect(),
        }
    }

    /// The address bytes.
    pub fn addr(&self) -> &[u8] {
        &self.addr
    }

    /// `52:54:00:12:34:56`, as ISC's `print_hw_addr` prints it.
    pub fn colon(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.addr.len() * 3);
        for (i, b) in self.addr().iter().enumerate() {
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

/// A client identifier (`uid`), inline up to 14 bytes (0x01 and an Ethernet address is 7),
/// on the heap beyond; `Option<Uid>` is 24 bytes.
pub type Uid = tinyvec::TinyVec<[u8; 14]>;

/// One lease, with every field ISC keeps in `dhcpd.leases`.
///
/// Every byte here is 65 kB in a table of 65,000 leases (issue 17): the hardware address and
/// a short uid are inline, and the fields few leases have are behind one pointer
/// ([`Lease::rare`], [`LeaseRare`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// `starts`.
    pub starts: Time,
    /// `ends` ([`MAX_TIME`] = never).
    pub ends: Time,
    /// `tstp` (time sent to peer; ISC also sets it on release, and to `ends` when a lease
    /// file has none: so nearly every lease read from a file has one, and it stays here).
    pub tstp: Time,
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
    pub uid: Option<Uid>,
    /// `client-hostname`.
    pub client_hostname: Option<Box<[u8]>>,
    /// `dynamic-bootp;`: a BOOTP lease.
    pub bootp: bool,
    /// `reserved;`.
    pub reserved: bool,
    /// The fields few leases have (`tsfp`, `atsfp`, bindings, agent options, `on`
    /// handlers): read them with [`Lease::rare`] and the accessors named after them, change
    /// them with [`Lease::edit_rare`] or [`Lease::rare_mut`].
    pub rare: Rare,
}

/// The fields of a [`Lease`] that few leases have, kept behind one pointer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRare {
    /// `tsfp`.
    pub tsfp: Time,
    /// `atsfp`.
    pub atsfp: Time,
    /// `set NAME = VALUE;` bindings, in the order ISC writes them.
    pub bindings: Vec<(String, BindingValue)>,
    /// Relay agent sub-options stashed from option 82 (`option agent.NAME …;`): code, data.
    pub agent_options: Vec<(u8, Vec<u8>)>,
    /// Statements to run on its events (`on commit`/`release`/`expiry`); `on expiry` and
    /// `on release` are written to the lease file with it.
    pub on: crate::model::OnStar,
    /// `on EVENTS { … }` blocks read from a lease file, as text (`conf::print`), until
    /// they are matched with the configuration's ([`Lease::attach_handlers`]).
    pub stored_on: Vec<(crate::model::Events, String)>,
}

/// A [`LeaseRare`] with every field empty: what a lease without one reads.
static NO_RARE: LeaseRare = LeaseRare {
    tsfp: 0,
    atsfp: 0,
    bindings: Vec::new(),
    agent_options: Vec::new(),
    on: crate::model::OnStar {
        commit: None,
        release: None,
        expiry: None,
    },
    stored_on: Vec::new(),
};

impl LeaseRare {
    /// Every field is empty (0, no element, no handler).
    pub fn is_empty(&self) -> bool {
        self.tsfp == 0
            && self.atsfp == 0
            && self.bindings.is_empty()
            && self.agent_options.is_empty()
            && self.on.is_empty()
            && self.stored_on.is_empty()
    }
}

/// The slot of a lease's [`LeaseRare`]: no block while it would be empty. Two slots are
/// equal when their fields are, whether or not either has a block.
#[derive(Debug, Clone, Default)]
pub struct Rare(Option<Box<LeaseRare>>);

impl Rare {
    /// The fields (all empty without a block).
    pub fn get(&self) -> &LeaseRare {
        self.0.as_deref().unwrap_or(&NO_RARE)
    }

    /// The fields to change, with a block made for them if there was none.
    pub fn get_mut(&mut self) -> &mut LeaseRare {
        self.0.get_or_insert_with(Box::default)
    }

    /// Change the fields with `f`; the block is made only if they end up not all empty,
    /// and given back if they do.
    pub fn edit(&mut self, f: impl FnOnce(&mut LeaseRare)) {
        match &mut self.0 {
            Some(b) => {
                f(b);
                if b.is_empty() {
                    self.0 = None;
                }
            }
            None => {
                let mut r = LeaseRare::default();
                f(&mut r);
                if !r.is_empty() {
                    self.0 = Some(Box::new(r));
                }
            }
        }
    }

    /// Whether a block is held (for tests of the memory layout).
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl From<LeaseRare> for Rare {
    /// The fields in a block, or no block if they are all empty.
    fn from(r: LeaseRare) -> Rare {
        Rare((!r.is_empty()).then(|| Box::new(r)))
    }
}

impl PartialEq for Rare {
    fn eq(&self, other: &Rare) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Rare {}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            ip: Ipv4Addr::UNSPECIFIED,
            starts: 0,
            ends: 0,
            tstp: 0,
            cltt: 0,
            state: BindingState::Free,
            next_state: BindingState::Free,
            rewind_state: BindingState::Free,
            hardware: None,
            uid: None,
            client_hostname: None,
            bootp: false,
            reserved: false,
            rare: Rare::default(),
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

    /// The fields few leases have (all empty for most).
    pub fn rare(&self) -> &LeaseRare {
        self.rare.get()
    }

    /// The fields few leases have, to change; makes their block if there was none (prefer
    /// [`Lease::edit_rare`] where the change may leave them empty).
    pub fn rare_mut(&mut self) -> &mut LeaseRare {
        self.rare.get_mut()
    }

    /// Change the fields few leases have with `f`, holding a block for them only while
    /// one is not empty.
    pub fn edit_rare(&mut self, f: impl FnOnce(&mut LeaseRare)) {
        self.rare.edit(f);
    }

    /// `tsfp` (0 if not set).
    pub fn tsfp(&self) -> Time {
        self.rare().tsfp
    }

    /// `atsfp` (0 if not set).
    pub fn atsfp(&self) -> Time {
        self.rare().atsfp
    }

    /// `set NAME = VALUE;` bindings, in the order ISC writes them.
    pub fn bindings(&self) -> &[(String, BindingValue)] {
        &self.rare().bindings
    }

    /// Relay agent sub-options stashed from option 82: code, data.
    pub fn agent_options(&self) -> &[(u8, Vec<u8>)] {
        &self.rare().agent_options
    }

    /// The handlers of its events.
    pub fn on(&self) -> &crate::model::OnStar {
        &self.rare().on
    }

    /// `on EVENTS { … }` blocks read from a lease file and not yet matched.
    pub fn stored_on(&self) -> &[(crate::model::Events, String)] {
        &self.rare().stored_on
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
        l.client_hostname = None;
        l.edit_rare(|r| {
            r.bindings.clear();
            r.on = crate::model::OnStar::default();
            r.stored_on.clear();
        });
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
        self.edit_rare(|r| {
            for (events, text) in std::mem::take(&mut r.stored_on) {
                match handlers.get(&text) {
                    Some(h) => r.on.set(events, Some(h)),
                    None => missing.push(events),
                }
            }
        });
        missing
    }

    /// ISC writes a lease at a rewrite when it has a client or is not free.
    pub fn worth_writing(&self) -> bool {
        self.hardware.is_some()
            || self.uid.is_some()
            || self.tsfp() != 0
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
    /// the committer's copy shares them: every byte here is 65 kB there (issue 17). 312
    /// bytes with three `on` handler slots of 32 bytes, 240 with one pointer each, 120 with
    /// the hardware address and a short uid inline and the rare fields behind one pointer;
    /// a new field belongs in [`LeaseRare`] unless nearly every lease has it.
    #[test]
    fn lease_record_stays_compact() {
        assert!(size_of::<Lease>() <= 120, "{} bytes", size_of::<Lease>());
        assert!(
            size_of::<Option<Uid>>() <= 24,
            "{}",
            size_of::<Option<Uid>>()
        );
    }

    #[test]
    fn hardware_text() {
        let h = Hardware::ethernet([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(h.colon(), "52:54:00:12:34:56");
        assert_eq!(h.type_name(), "ethernet");
        assert_eq!(h.addr(), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    }

    #[test]
    fn hardware_addresses_up_to_isc_s_length() {
        let ib = Hardware::new(32, &[7; MAX_HW_LEN]).expect("20 bytes fit");
        assert_eq!((ib.htype, ib.addr().len()), (32, MAX_HW_LEN));
        assert_eq!(Hardware::new(1, &[7; MAX_HW_LEN + 1]), None);
        assert_eq!(
            Hardware::new(1, &[]).map(|h| h.colon()),
            Some(String::new())
        );
        let chaddr = [9; 16];
        assert_eq!(Hardware::from_chaddr(1, &chaddr, 200).addr(), chaddr);
        assert_eq!(Hardware::from_chaddr(1, &chaddr, 6).addr(), [9; 6]);
        // Ordered and equal as the bytes are, whatever their storage.
        let a = Hardware::new(1, &[1, 2]).expect("fits");
        let b = Hardware::new(1, &[1, 2, 0]).expect("fits");
        assert!(a < b && a != b);
    }

    #[test]
    fn uids_short_inline_long_on_the_heap_equal_by_bytes() {
        let short = Uid::from(&[1, 0x52, 0x54, 0, 1, 2, 3][..]);
        assert!(short.is_inline());
        let long = Uid::from(&[0xff; 19][..]);
        assert!(!long.is_inline());
        assert_eq!(&long[..], [0xff; 19]);
        let mut moved = Uid::from(&[0xff; 3][..]);
        moved.move_to_the_heap();
        assert_eq!(moved, Uid::from(&[0xff; 3][..]));
    }

    /// The rare fields take a block only while one is set, and a lease reads and compares
    /// the same with an empty block as without one.
    #[test]
    fn rare_fields_have_a_block_only_while_set() {
        let mut l = Lease::virgin(Ipv4Addr::new(10, 0, 0, 7));
        let plain = l.clone();
        assert!(!l.rare.is_allocated());
        assert_eq!((l.tsfp(), l.atsfp(), l.bindings().len()), (0, 0, 0));
        l.edit_rare(|r| r.bindings.clear());
        assert!(!l.rare.is_allocated(), "clearing makes no block");
        l.edit_rare(|r| r.tsfp = 5);
        assert!(l.rare.is_allocated());
        assert_eq!(l.tsfp(), 5);
        assert_ne!(l, plain);
        l.edit_rare(|r| r.tsfp = 0);
        assert!(!l.rare.is_allocated(), "an emptied block is given back");
        l.rare_mut();
        assert!(l.rare.is_allocated());
        assert_eq!(l, plain, "an empty block equals none");
        assert_eq!(Rare::from(LeaseRare::default()), Rare::default());
        assert!(!Rare::from(LeaseRare::default()).is_allocated());
    }
}
