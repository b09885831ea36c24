//! The in-memory lease table: every lease by address, with indexes by hardware address and by
//! client identifier. Addresses of a range that have no entry are virgin (free, never used), as
//! ISC's lease structures for a fresh range are.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use super::index::{ClientIndex, ClientKeys};
use super::{BindingState, Hardware, Lease, Time};

/// Leases by address, hardware address and client identifier.
#[derive(Debug, Default)]
pub struct LeaseTable {
    /// Behind a pointer: a B-tree's nodes hold eleven slots and are about half full after
    /// ordered inserts, so inline leases would cost twice their size; shared, so that a
    /// clone of the table (the committer's durable copy, taken at start) shares every lease
    /// until one is replaced (issue 17).
    by_ip: BTreeMap<Ipv4Addr, Arc<Lease>>,
    /// Addresses by a hash of the client's hardware address (see [`ClientKeys`]).
    by_hw: ClientIndex,
    /// Addresses by a hash of the client identifier.
    by_uid: ClientIndex,
    keys: ClientKeys,
    /// How many free leases have no `ends` (they sort before every other free lease).
    unended_free: usize,
    /// Per range, no address below this one is virgin. Leases are only ever added while
    /// serving, so the first virgin address of a range only moves up; a removal resets it.
    virgin_floor: Mutex<HashMap<(Ipv4Addr, Ipv4Addr), u32>>,
    /// When each client (by hardware address and by client identifier) last had a
    /// DHCPDECLINE honoured. Kept in memory only, pruned as it grows.
    declines: HashMap<ClientKey, Time>,
    /// Size of `declines` after its last pruning.
    declines_pruned: usize,
    /// Per range asked about (see [`LeaseTable::queue_head`]): its free and abandoned
    /// leases, ordered. Built on the first question, kept up to date by every insert.
    queues: Mutex<HashMap<(Ipv4Addr, Ipv4Addr), RangeQueues>>,
    /// Requests per client in the current second, and clients being ignored.
    flood: HashMap<Hardware, FloodCount>,
    /// Size of `flood` after its last pruning.
    flood_pruned: usize,
    /// With a shared lease database: the row version of each address this table's lease
    /// stands for (what a write of it must find, compare-and-swap). Absent: no row.
    db_versions: HashMap<Ipv4Addr, i64>,
    /// A copy without client indexes ([`LeaseTable::record_copy`]).
    unindexed: bool,
}

/// The per-client flood limit: a client (by hardware address) that sends more than `rate`
/// requests within one second is ignored for `hold` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    /// Requests a client may send within one second.
    pub rate: u32,
    /// Seconds a client over the limit is ignored.
    pub hold: Time,
}

impl Default for FloodLimit {
    /// 20 requests per second, then a minute of silence: far above what a booting
    /// client sends (a PXE ROM retries after 4 s, then 8, 16, 32), far below a flood.
    fn default() -> Self {
        FloodLimit { rate: 20, hold: 60 }
    }
}

/// One client's requests in the current second.
#[derive(Debug, Clone, Copy, Default)]
struct FloodCount {
    second: Time,
    count: u32,
    ignored_until: Time,
}

/// What to do with a request, by [`LeaseTable::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Decide it.
    Yes,
    /// The client just went over the limit: ignore it, and say so once.
    Flooding,
    /// The client is being ignored.
    Ignored,
}

/// Which of a range's ordered queues (see [`LeaseTable::queue_head`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Leases free (or backup) at the time asked about.
    Free,
    /// Leases abandoned at the time asked about.
    Abandoned,
}

impl Queue {
    fn holds(self, s: BindingState) -> bool {
        match self {
            Queue::Free => matches!(s, BindingState::Free | BindingState::Backup),
            Queue::Abandoned => s == BindingState::Abandoned,
        }
    }
}

/// Leases in a queue's state at some time, by `(ends, address)`. A lease's state is its
/// `state` until `ends`, then its `next_state` ([`Lease::state_at`]), so it is in the
/// queue always, only before `ends`, only from `ends` on, or never.
#[derive(Debug, Default)]
struct Ordered {
    always: BTreeSet<(Time, Ipv4Addr)>,
    until_ends: BTreeSet<(Time, Ipv4Addr)>,
    from_ends: BTreeSet<(Time, Ipv4Addr)>,
}

impl Ordered {
    fn set_for(&mut self, l: &Lease, q: Queue) -> Option<&mut BTreeSet<(Time, Ipv4Addr)>> {
        let moves = l.ends != 0 && l.next_state != l.state;
        match (q.holds(l.state), moves && q.holds(l.next_state)) {
            (true, _) if !moves => Some(&mut self.always),
            (true, true) => Some(&mut self.always),
            (true, false) => Some(&mut self.until_ends),
            (false, true) => Some(&mut self.from_ends),
            (false, false) => None,
        }
    }

    fn add(&mut self, l: &Lease, q: Queue) {
        let key = (l.ends, l.ip);
        if let Some(set) = self.set_for(l, q) {
            set.insert(key);
        }
    }

    fn remove(&mut self, l: &Lease, q: Queue) {
        let key = (l.ends, l.ip);
        if let Some(set) = self.set_for(l, q) {
            set.remove(&key);
        }
    }

    /// The least `(ends, address)` in the queue at `now`, skipping addresses `skip` says.
    fn head(&self, now: Time, skip: &dyn Fn(Ipv4Addr) -> bool) -> Option<(Time, Ipv4Addr)> {
        let always = self.always.iter().find(|(_, ip)| !skip(*ip));
        let until = self
            .until_ends
            .range((now.saturating_add(1), Ipv4Addr::UNSPECIFIED)..)
            .find(|(_, ip)| !skip(*ip));
        let from = self
            .from_ends
            .iter()
            .take_while(|(ends, _)| *ends <= now)
            .find(|(_, ip)| !skip(*ip));
        [always, until, from].into_iter().flatten().min().copied()
    }
}

/// The ordered queues of one range.
#[derive(Debug, Default)]
struct RangeQueues {
    free: Ordered,
    abandoned: Ordered,
}

impl RangeQueues {
    fn add(&mut self, l: &Lease) {
        self.free.add(l, Queue::Free);
        self.abandoned.add(l, Queue::Abandoned);
    }

    fn remove(&mut self, l: &Lease) {
        self.free.remove(l, Queue::Free);
        self.abandoned.remove(l, Queue::Abandoned);
    }
}

/// Keep every range's queues in step with the lease on one address changing from `old` to
/// `new`.
fn requeue(
    queues: &mut HashMap<(Ipv4Addr, Ipv4Addr), RangeQueues>,
    ip: Ipv4Addr,
    old: Option<&Lease>,
    new: Option<&Lease>,
) {
    for ((low, high), q) in queues.iter_mut() {
        if ip < *low || ip > *high {
            continue;
        }
        if let Some(o) = old {
            q.remove(o);
        }
        if let Some(n) = new {
            q.add(n);
        }
    }
}

/// A client as DHCPDECLINE rate limiting knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ClientKey {
    Hardware(Hardware),
    Uid(Vec<u8>),
}

/// A DHCPDECLINE honoured at `at` from the client with this hardware address and client
/// identifier: recorded in the table so the same client is not honoured again within
/// [`DECLINE_INTERVAL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclineMark {
    /// The declining client's hardware address.
    pub hardware: Hardware,
    /// Its client identifier (option 61), if it sent one.
    pub uid: Option<Vec<u8>>,
    /// When.
    pub at: Time,
}

/// At most one DHCPDECLINE per client is honoured in this many seconds.
pub const DECLINE_INTERVAL: Time = 60;

impl Clone for LeaseTable {
    fn clone(&self) -> Self {
        LeaseTable {
            by_ip: self.by_ip.clone(),
            by_hw: self.by_hw.clone(),
            by_uid: self.by_uid.clone(),
            keys: self.keys.clone(),
            unended_free: self.unended_free,
            virgin_floor: Mutex::new(HashMap::new()),
            declines: self.declines.clone(),
            declines_pruned: self.declines_pruned,
            flood: self.flood.clone(),
            flood_pruned: self.flood_pruned,
            queues: Mutex::new(HashMap::new()),
            db_versions: self.db_versions.clone(),
            unindexed: self.unindexed,
        }
    }
}

/// The client identifier of `l` when it needs an entry of its own in the identifier index:
/// not when it is the hardware type and address (`01:52:54:…` with an Ethernet address,
/// what dhclient and most firmware send), which the hardware index already finds
/// ([`LeaseTable::by_uid`] looks there too). That saves most leases an index entry, some
/// 19 bytes each (issue 17).
fn uid_apart(l: &Lease) -> Option<&[u8]> {
    let uid = l.uid.as_deref()?;
    match (&l.hardware, uid.split_first()) {
        (Some(hw), Some((htype, addr))) if *htype == hw.htype && addr == hw.addr() => None,
        _ => Some(uid),
    }
}

fn unended_free(l: &Lease) -> bool {
    l.ends == 0 && matches!(l.state, BindingState::Free | BindingState::Backup)
}

impl LeaseTable {
    /// An empty table.
    pub fn new() -> LeaseTable {
        LeaseTable::default()
    }

    /// A copy of the leases (shared with this table until either replaces one) and their row
    /// versions, without the client indexes: for a holder that reads leases back only by
    /// address or in order (the committer's durable table), so that it costs a few bytes a
    /// lease rather than a second set of indexes (issue 17). Its [`LeaseTable::by_hardware`]
    /// and [`LeaseTable::by_uid`] find nothing.
    pub fn record_copy(&self) -> LeaseTable {
        LeaseTable {
            by_ip: self.by_ip.clone(),
            unended_free: self.unended_free,
            db_versions: self.db_versions.clone(),
            unindexed: true,
            ..LeaseTable::default()
        }
    }

    /// The database row version the lease at `ip` stands for (0: no row known).
    pub fn db_version(&self, ip: Ipv4Addr) -> i64 {
        self.db_versions.get(&ip).copied().unwrap_or(0)
    }

    /// The lease at `ip` now stands for row version `v` (a write of it was stamped, or the
    /// row was read).
    pub fn set_db_version(&mut self, ip: Ipv4Addr, v: i64) {
        self.db_versions.insert(ip, v);
    }

    /// A table holding `leases`; for an address given twice the last one wins, as when ISC
    /// reads its lease file.
    pub fn from_leases(leases: impl IntoIterator<Item = Lease>) -> LeaseTable {
        // Built in one pass from all the addresses (the standard library sorts them stably
        // and keeps the last of equal ones): its B-tree nodes come out full, where inserts
        // one at a time leave them about half full, some 12 bytes a lease in this table and
        // as many in the committer's copy of it (issue 17).
        let by_ip: BTreeMap<Ipv4Addr, Arc<Lease>> =
            leases.into_iter().map(|l| (l.ip, Arc::new(l))).collect();
        let mut t = LeaseTable {
            by_ip,
            ..LeaseTable::default()
        };
        t.unended_free = t.by_ip.values().filter(|l| unended_free(l)).count();
        for (ip, l) in &t.by_ip {
            if let Some(hw) = &l.hardware {
                t.by_hw.insert(t.keys.hardware(hw), *ip);
            }
            if let Some(uid) = uid_apart(l) {
                t.by_uid.insert(t.keys.uid(uid), *ip);
            }
        }
        t
    }

    /// Number of leases held.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// True when no lease is held.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// The lease on `ip`, if one was ever recorded.
    pub fn get(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&ip).map(|l| &**l)
    }

    /// All leases, by address.
    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_ip.values().map(|l| &**l)
    }

    /// Leases with addresses in `[low, high]`, by address.
    pub fn range(&self, low: Ipv4Addr, high: Ipv4Addr) -> impl Iterator<Item = &Lease> {
        let (lo, hi) = if low <= high {
            (low, high)
        } else {
            (high, low)
        };
        self.by_ip.range(lo..=hi).map(|(_, l)| &**l)
    }

    /// The lowest address of `[low, high]` that has no lease entry (a virgin address).
    pub fn first_virgin(&self, low: Ipv4Addr, high: Ipv4Addr) -> Option<Ipv4Addr> {
        let (lo, hi) = (u32::from(low), u32::from(high));
        if lo > hi {
            return None;
        }
        let floor = self
            .virgin_floor
            .lock()
            .ok()
            .and_then(|m| m.get(&(low, high)).copied())
            .unwrap_or(lo)
            .max(lo);
        if floor > hi {
            return None;
        }
        let mut want = floor;
        let mut found = None;
        for ip in self
            .by_ip
            .range(Ipv4Addr::from(floor)..=high)
            .map(|(ip, _)| u32::from(*ip))
        {
            if ip != want {
                found = Some(want);
                break;
            }
            if want == hi {
                break;
            }
            want += 1;
        }
        let result = match found {
            Some(w) => Some(w),
            None if want == hi && self.by_ip.contains_key(&Ipv4Addr::from(hi)) => None,
            None => Some(want),
        };
        if let Ok(mut m) = self.virgin_floor.lock() {
            m.insert((low, high), result.unwrap_or(hi.saturating_add(1)).max(lo));
        }
        result.map(Ipv4Addr::from)
    }

    /// The head of a range's queue at `now`: of the recorded leases in `[low, high]` in the
    /// queue's state at `now`, the least by `(ends, address)`, passing over addresses
    /// `skip` says. O(log n) (plus the skipped ones): the range's queues are built on the
    /// first question about it and kept in step by every change after.
    pub fn queue_head(
        &self,
        low: Ipv4Addr,
        high: Ipv4Addr,
        queue: Queue,
        now: Time,
        skip: &dyn Fn(Ipv4Addr) -> bool,
    ) -> Option<(Time, Ipv4Addr)> {
        let (low, high) = (low.min(high), low.max(high));
        let mut all = self.queues.lock().ok()?;
        let q = all.entry((low, high)).or_insert_with(|| {
            let mut q = RangeQueues::default();
            for l in self.range(low, high) {
                q.add(l);
            }
            q
        });
        match queue {
            Queue::Free => q.free.head(now, skip),
            Queue::Abandoned => q.abandoned.head(now, skip),
        }
    }

    /// Is there a recorded free lease without an `ends` time?
    pub fn has_unended_free(&self) -> bool {
        self.unended_free > 0
    }

    /// Insert or replace the lease for its address.
    pub fn insert(&mut self, lease: Lease) {
        self.insert_shared(Arc::new(lease));
    }

    /// [`LeaseTable::insert`] of a lease another holder shares (the committer's durable
    /// table keeps the core's record instead of a copy of its own).
    pub fn insert_shared(&mut self, lease: Arc<Lease>) {
        let ip = lease.ip;
        if unended_free(&lease) {
            self.unended_free += 1;
        }
        // A replacement keeps the address taken: the virgin floor stays where it is. The
        // indexes only change where the client's hardware address or identifier did.
        let (hw_same, uid_same) = match self.by_ip.get(&ip) {
            _ if self.unindexed => (true, true),
            Some(old) => (
                old.hardware == lease.hardware,
                uid_apart(old) == uid_apart(&lease),
            ),
            None => (false, false),
        };
        let replaced = self.by_ip.insert(ip, lease);
        if let Ok(q) = self.queues.get_mut()
            && !q.is_empty()
        {
            requeue(
                q,
                ip,
                replaced.as_deref(),
                self.by_ip.get(&ip).map(|l| &**l),
            );
        }
        if let Some(old) = replaced {
            if unended_free(&old) {
                self.unended_free -= 1;
            }
            if !hw_same && let Some(hw) = &old.hardware {
                self.by_hw.remove(self.keys.hardware(hw), ip);
            }
            if !uid_same && let Some(uid) = uid_apart(&old) {
                self.by_uid.remove(self.keys.uid(uid), ip);
            }
        }
        let Some(new) = self.by_ip.get(&ip) else {
            return;
        };
        if !hw_same && let Some(hw) = &new.hardware {
            self.by_hw.insert(self.keys.hardware(hw), ip);
        }
        if !uid_same && let Some(uid) = uid_apart(new) {
            self.by_uid.insert(self.keys.uid(uid), ip);
        }
    }

    /// Forget the lease on `ip` (the address becomes virgin again).
    pub fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let old = self.unlink(ip)?;
        if let Ok(mut m) = self.virgin_floor.lock() {
            m.clear();
        }
        Some(old)
    }

    /// Take the lease on `ip` out of the map and the indexes.
    fn unlink(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let old = Arc::unwrap_or_clone(self.by_ip.remove(&ip)?);
        if let Ok(q) = self.queues.get_mut() {
            requeue(q, ip, Some(&old), None);
        }
        if unended_free(&old) {
            self.unended_free -= 1;
        }
        if self.unindexed {
            return Some(old);
        }
        if let Some(hw) = &old.hardware {
            self.by_hw.remove(self.keys.hardware(hw), ip);
        }
        if let Some(uid) = uid_apart(&old) {
            self.by_uid.remove(self.keys.uid(uid), ip);
        }
        Some(old)
    }

    /// Apply changed leases (each replaces the lease on its address).
    pub fn apply<'a>(&mut self, changes: impl IntoIterator<Item = &'a Lease>) {
        for l in changes {
            self.insert(l.clone());
        }
    }

    /// Count a request from `hw` at `now` against `limit` (none: always [`Admit::Yes`]).
    /// O(1); the memory of clients is pruned as it grows.
    pub fn admit(&mut self, hw: &Hardware, limit: Option<FloodLimit>, now: Time) -> Admit {
        let Some(limit) = limit else {
            return Admit::Yes;
        };
        if self.flood.len() >= 2 * self.flood_pruned.max(1024) {
            self.flood
                .retain(|_, c| c.second >= now - 1 || c.ignored_until > now);
            self.flood_pruned = self.flood.len();
        }
        // A client already counted is found without copying its address (one allocation
        // and free a packet saved); only a new one is cloned into the table.
        if !self.flood.contains_key(hw) {
            self.flood.insert(hw.clone(), FloodCount::default());
        }
        let Some(c) = self.flood.get_mut(hw) else {
            return Admit::Yes;
        };
        if c.ignored_until > now {
            return Admit::Ignored;
        }
        if c.second != now {
            c.second = now;
            c.count = 0;
        }
        c.count = c.count.saturating_add(1);
        if c.count > limit.rate {
            c.ignored_until = now + limit.hold.max(1);
            return Admit::Flooding;
        }
        Admit::Yes
    }

    /// Record an honoured DHCPDECLINE (see [`LeaseTable::last_decline`]).
    pub fn note_decline(&mut self, mark: &DeclineMark) {
        if self.declines.len() >= 2 * self.declines_pruned.max(512) {
            let horizon = mark.at - DECLINE_INTERVAL;
            self.declines.retain(|_, t| *t > horizon);
            self.declines_pruned = self.declines.len();
        }
        self.declines
            .insert(ClientKey::Hardware(mark.hardware.clone()), mark.at);
        if let Some(uid) = &mark.uid {
            self.declines.insert(ClientKey::Uid(uid.clone()), mark.at);
        }
    }

    /// When the client with hardware address `hw` or client identifier `uid` last had a
    /// DHCPDECLINE honoured (as far as the table still remembers: at least
    /// [`DECLINE_INTERVAL`] back).
    pub fn last_decline(&self, hw: &Hardware, uid: Option<&[u8]>) -> Option<Time> {
        // Nearly always empty: then no key is built (each is a copy of the client's bytes).
        if self.declines.is_empty() {
            return None;
        }
        let by_hw = self.declines.get(&ClientKey::Hardware(hw.clone())).copied();
        let by_uid = uid.and_then(|u| self.declines.get(&ClientKey::Uid(u.to_vec())).copied());
        by_hw.max(by_uid)
    }

    /// The leases of a hardware address, best first (ISC's `client_lease_preferred` order).
    pub fn by_hardware(&self, hw: &Hardware, now: Time) -> Vec<&Lease> {
        let ips = self.by_hw.get(self.keys.hardware(hw));
        self.sorted(ips, now, |l| l.has_hardware(hw))
    }

    /// The leases of a client identifier, best first.
    pub fn by_uid(&self, uid: &[u8], now: Time) -> Vec<&Lease> {
        let mut ips: Vec<Ipv4Addr> = self.by_uid.get(self.keys.uid(uid)).collect();
        // Leases whose identifier is their hardware address are indexed by that alone
        // (see `uid_apart`).
        if let Some(hw) = uid.split_first().and_then(|(t, a)| Hardware::new(*t, a)) {
            ips.extend(self.by_hw.get(self.keys.hardware(&hw)));
            // A lease can be under both keys only when they collide.
            ips.sort_unstable();
            ips.dedup();
        }
        self.sorted(ips.into_iter(), now, |l| l.uid.as_deref() == Some(uid))
    }

    /// Sort one client's leases best first, the order of [`LeaseTable::by_hardware`].
    pub fn sort_preferred(leases: &mut [Lease], now: Time) {
        leases.sort_by_key(|l| preference_key(l, now));
    }

    /// The leases on `ips` that are the client's (`mine`: another client's bytes may hash
    /// alike), best first.
    fn sorted(
        &self,
        ips: impl Iterator<Item = Ipv4Addr>,
        now: Time,
        mine: impl Fn(&Lease) -> bool,
    ) -> Vec<&Lease> {
        let mut v: Vec<&Lease> = ips
            .filter_map(|ip| self.get(ip))
            .filter(|l| mine(l))
            .collect();
        v.sort_by_key(|l| preference_key(l, now));
        v
    }
}

/// Sort key for ISC's preference among one client's leases: active (longest first), then
/// expired/released, then free and the rest (most recent transaction first), abandoned last.
fn preference_key(l: &Lease, now: Time) -> (u8, std::cmp::Reverse<Time>, Ipv4Addr) {
    match l.state_at(now) {
        BindingState::Active => (0, std::cmp::Reverse(l.ends), l.ip),
        BindingState::Expired | BindingState::Released => (1, std::cmp::Reverse(l.cltt), l.ip),
        BindingState::Abandoned => (3, std::cmp::Reverse(l.cltt), l.ip),
        _ => (2, std::cmp::Reverse(l.cltt), l.ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(d: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, d)
    }

    fn lease(d: u8, state: BindingState, ends: Time, mac: u8) -> Lease {
        Lease {
            ip: ip(d),
            state,
            next_state: BindingState::Free,
            ends,
            cltt: ends - 100,
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0, 0, mac])),
            uid: Some(crate::lease::Uid::from(&[1, mac][..])),
            ..Lease::default()
        }
    }

    /// The committer's copy: the same leases, shared (not copied) until replaced, kept by
    /// address through inserts and removals, with no client indexes of its own.
    #[test]
    fn record_copy_shares_leases_without_indexes() {
        let t = LeaseTable::from_leases([
            lease(10, BindingState::Active, 1000, 1),
            lease(12, BindingState::Free, 0, 2),
        ]);
        let mut c = t.record_copy();
        assert!(
            c.by_ip
                .values()
                .zip(t.by_ip.values())
                .all(|(a, b)| Arc::ptr_eq(a, b))
        );
        assert!(c.by_hw.is_empty() && c.by_uid.is_empty());
        assert_eq!(c.unended_free, 1);
        c.insert(lease(10, BindingState::Active, 3000, 3));
        c.insert(lease(11, BindingState::Active, 3000, 3));
        c.remove(ip(12));
        assert!(c.by_hw.is_empty() && c.by_uid.is_empty());
        assert_eq!(c.unended_free, 0);
        let ends: Vec<(Ipv4Addr, Time)> = c.iter().map(|l| (l.ip, l.ends)).collect();
        assert_eq!(ends, [(ip(10), 3000), (ip(11), 3000)]);
        assert_eq!(
            t.get(ip(10)).map(|l| l.ends),
            Some(1000),
            "the original keeps its own"
        );
    }

    /// A lease committed live is one record in both tables: the core's, with its indexes,
    /// and the committer's copy, which takes the same `Arc` (issue 17: a copy of every
    /// lease committed cost about 370 bytes a lease).
    #[test]
    fn a_shared_insert_keeps_one_record_for_both_tables() {
        let mut core = LeaseTable::new();
        let mut durable = core.record_copy();
        let held = Arc::new(lease(10, BindingState::Active, 1000, 1));
        core.insert_shared(Arc::clone(&held));
        durable.insert_shared(Arc::clone(&held));
        assert_eq!(Arc::strong_count(&held), 3);
        let (a, b) = (core.get(ip(10)), durable.get(ip(10)));
        assert!(a.zip(b).is_some_and(|(a, b)| std::ptr::eq(a, b)));
        let hw = Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1]);
        assert_eq!(core.by_hardware(&hw, 0).len(), 1, "the core indexes it");
        assert!(durable.by_hardware(&hw, 0).is_empty(), "the copy does not");
        core.insert(lease(10, BindingState::Active, 2000, 1));
        assert_eq!(durable.get(ip(10)).map(|l| l.ends), Some(1000));
        assert_eq!(Arc::strong_count(&held), 2, "the core let go of its share");
    }

    /// Two clients whose bytes hash alike share an index entry: each finds only its own.
    #[test]
    fn colliding_clients_find_only_their_own() {
        let mut t = LeaseTable::from_leases([
            lease(10, BindingState::Active, 1000, 1),
            lease(11, BindingState::Active, 1000, 2),
        ]);
        let (hw1, hw2) = (
            Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1]),
            Hardware::ethernet([0x52, 0x54, 0, 0, 0, 2]),
        );
        // Make client 2's addresses sit under client 1's keys too, as a collision would.
        let (k1, u1) = (t.keys.hardware(&hw1), t.keys.uid(&[1, 1]));
        t.by_hw.insert(k1, ip(11));
        t.by_uid.insert(u1, ip(11));
        let ips = |v: Vec<&Lease>| v.iter().map(|l| l.ip).collect::<Vec<_>>();
        assert_eq!(ips(t.by_hardware(&hw1, 0)), [ip(10)]);
        assert_eq!(ips(t.by_uid(&[1, 1], 0)), [ip(10)]);
        assert_eq!(ips(t.by_hardware(&hw2, 0)), [ip(11)]);
    }

    /// A client identifier that is the hardware address (dhclient's `01:` and its MAC) has no
    /// entry of its own, yet is found by identifier; once the two differ it gets one, and it
    /// goes with the lease.
    #[test]
    fn an_identifier_that_is_the_hardware_address_is_found_through_it() {
        let mac = [0x52, 0x54, 0, 0, 0, 7];
        let uid = [1, 0x52, 0x54, 0, 0, 0, 7];
        let dhclient = |ends: Time, hw: [u8; 6]| Lease {
            hardware: Some(Hardware::ethernet(hw)),
            uid: Some(crate::lease::Uid::from(&uid[..])),
            ..lease(10, BindingState::Active, ends, 0)
        };
        let ips = |v: Vec<&Lease>| v.iter().map(|l| l.ip).collect::<Vec<_>>();
        let mut t = LeaseTable::from_leases([dhclient(1000, mac)]);
        assert!(t.by_uid.is_empty(), "no entry of its own");
        assert_eq!(ips(t.by_uid(&uid, 0)), [ip(10)]);
        assert_eq!(ips(t.by_hardware(&Hardware::ethernet(mac), 0)), [ip(10)]);
        // The same identifier from another card: now it needs its own entry.
        t.insert(dhclient(2000, [0x52, 0x54, 0, 0, 0, 8]));
        assert!(!t.by_uid.is_empty());
        assert_eq!(ips(t.by_uid(&uid, 0)), [ip(10)]);
        // Back on the first card: the entry goes again.
        t.insert(dhclient(3000, mac));
        assert!(t.by_uid.is_empty());
        assert_eq!(ips(t.by_uid(&uid, 0)), [ip(10)]);
        t.remove(ip(10));
        assert!(t.by_uid(&uid, 0).is_empty());
        assert!(t.by_hw.is_empty());
    }

    /// A lease under both an identifier's own key and the key of the hardware address it
    /// spells (keys that collide) is found once.
    #[test]
    fn a_lease_under_both_keys_is_found_once() {
        let mut t = LeaseTable::from_leases([lease(10, BindingState::Active, 1000, 1)]);
        // Its identifier is [1, 1]: as a hardware address, type 1 and the one byte 01.
        let spelt = Hardware::new(1, &[1]).expect("a short address");
        t.by_hw.insert(t.keys.hardware(&spelt), ip(10));
        assert_eq!(t.by_uid(&[1, 1], 0).len(), 1);
    }

    /// The one-pass build holds what inserting the same leases one at a time holds: out of
    /// order, an address twice (the later wins), free leases without an end counted.
    #[test]
    fn built_in_one_pass_as_by_inserts() {
        let leases = [
            lease(12, BindingState::Free, 0, 2),
            lease(10, BindingState::Active, 1000, 1),
            lease(12, BindingState::Active, 1500, 3),
            lease(11, BindingState::Free, 0, 1),
            lease(13, BindingState::Backup, 0, 4),
        ];
        let built = LeaseTable::from_leases(leases.clone());
        let mut inserted = LeaseTable::new();
        for l in leases {
            inserted.insert(l);
        }
        let all = |t: &LeaseTable| t.iter().cloned().collect::<Vec<_>>();
        assert_eq!(all(&built), all(&inserted));
        assert_eq!(built.unended_free, 2);
        assert_eq!(built.unended_free, inserted.unended_free);
        for mac in 1..=4 {
            let hw = Hardware::ethernet([0x52, 0x54, 0, 0, 0, mac]);
            let ips = |v: Vec<&Lease>| v.iter().map(|l| l.ip).collect::<Vec<_>>();
            assert_eq!(
                ips(built.by_hardware(&hw, 0)),
                ips(inserted.by_hardware(&hw, 0))
            );
            assert_eq!(
                ips(built.by_uid(&[1, mac], 0)),
                ips(inserted.by_uid(&[1, mac], 0))
            );
        }
        assert!(
            built
                .by_hardware(&Hardware::ethernet([0x52, 0x54, 0, 0, 0, 2]), 0)
                .is_empty()
        );
    }

    #[test]
    fn last_entry_wins_and_indexes_follow() {
        let mut t = LeaseTable::from_leases([
            lease(10, BindingState::Active, 1000, 1),
            lease(10, BindingState::Active, 1000, 2),
        ]);
        assert_eq!(t.len(), 1);
        let hw1 = Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1]);
        let hw2 = Hardware::ethernet([0x52, 0x54, 0, 0, 0, 2]);
        assert!(t.by_hardware(&hw1, 0).is_empty());
        assert_eq!(t.by_hardware(&hw2, 0).len(), 1);
        assert_eq!(t.by_uid(&[1, 2], 0).len(), 1);
        assert!(t.by_uid(&[1, 1], 0).is_empty());
        // The same client renewing: the indexes keep it, with the new lease.
        t.insert(lease(10, BindingState::Active, 2000, 2));
        let renewed = t.by_hardware(&hw2, 0);
        assert_eq!(renewed.iter().map(|l| l.ends).collect::<Vec<_>>(), [2000]);
        assert_eq!(t.by_uid(&[1, 2], 0).len(), 1);
        // Another lease of the same client, then a free one without its identifier.
        t.insert(lease(11, BindingState::Active, 1500, 2));
        assert_eq!(t.by_hardware(&hw2, 0).len(), 2);
        t.insert(Lease {
            uid: None,
            ..lease(11, BindingState::Free, 1500, 2)
        });
        assert_eq!(t.by_hardware(&hw2, 0).len(), 2);
        assert_eq!(t.by_uid(&[1, 2], 0).len(), 1);
        t.remove(ip(11));
        t.remove(ip(10));
        assert!(t.by_hardware(&hw2, 0).is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn preference_order() {
        let t = LeaseTable::from_leases([
            lease(10, BindingState::Abandoned, 5000, 1),
            lease(11, BindingState::Free, 3000, 1),
            lease(12, BindingState::Active, 2000, 1),
            lease(13, BindingState::Active, 4000, 1),
        ]);
        let hw = Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1]);
        let order: Vec<u8> = t
            .by_hardware(&hw, 0)
            .iter()
            .map(|l| l.ip.octets()[3])
            .collect();
        assert_eq!(order, vec![13, 12, 11, 10]);
        // At time 2500 the lease on .12 has expired: it ranks with the free ones.
        let order: Vec<u8> = t
            .by_hardware(&hw, 2500)
            .iter()
            .map(|l| l.ip.octets()[3])
            .collect();
        assert_eq!(order, vec![13, 11, 12, 10]);
    }

    /// The queue's head by brute force: every lease of the range, in the queue's state now.
    fn scan(t: &LeaseTable, q: Queue, now: Time, skip: u8) -> Option<(Time, Ipv4Addr)> {
        t.range(ip(10), ip(40))
            .filter(|l| l.ip != ip(skip) && q.holds(l.state_at(now)))
            .map(|l| (l.ends, l.ip))
            .min()
    }

    fn any_state() -> impl proptest::strategy::Strategy<Value = BindingState> {
        use proptest::prelude::*;
        prop_oneof![
            Just(BindingState::Free),
            Just(BindingState::Active),
            Just(BindingState::Expired),
            Just(BindingState::Abandoned),
            Just(BindingState::Backup),
        ]
    }

    proptest::proptest! {
        #[test]
        fn ordered_queues_agree_with_a_scan(
            changes in proptest::collection::vec(
                (0u8..50, any_state(), any_state(), 0i64..6, proptest::bool::ANY),
                1..60,
            ),
            now in 0i64..6,
            skip in 0u8..50,
        ) {
            let mut t = LeaseTable::new();
            for (k, (d, state, next, ends, remove)) in changes.iter().enumerate() {
                if *remove {
                    t.remove(ip(*d));
                } else {
                    t.insert(Lease {
                        ip: ip(*d),
                        state: *state,
                        next_state: *next,
                        ends: *ends * 100,
                        ..Lease::default()
                    });
                }
                // Ask halfway, so that later changes must keep the built queues in step.
                if k == changes.len() / 2 {
                    let _ = t.queue_head(ip(10), ip(40), Queue::Free, 0, &|_| false);
                }
            }
            for q in [Queue::Free, Queue::Abandoned] {
                let got = t.queue_head(ip(10), ip(40), q, now * 100, &|a| a == ip(skip));
                proptest::prop_assert_eq!(got, scan(&t, q, now * 100, skip));
            }
        }
    }

    #[test]
    fn virgin_addresses() {
        let t = LeaseTable::from_leases([
            lease(10, BindingState::Active, 1, 1),
            lease(11, BindingState::Active, 1, 2),
            lease(13, BindingState::Active, 1, 3),
        ]);
        assert_eq!(t.first_virgin(ip(10), ip(20)), Some(ip(12)));
        assert_eq!(t.first_virgin(ip(10), ip(20)), Some(ip(12)), "cached floor");
        let mut t2 = t.clone();
        t2.insert(lease(12, BindingState::Active, 1, 4));
        assert_eq!(t2.first_virgin(ip(10), ip(20)), Some(ip(14)));
        t2.insert(lease(11, BindingState::Free, 1, 2));
        assert_eq!(
            t2.first_virgin(ip(10), ip(20)),
            Some(ip(14)),
            "a replaced lease keeps its address taken"
        );
        t2.remove(ip(11));
        assert_eq!(
            t2.first_virgin(ip(10), ip(20)),
            Some(ip(11)),
            "a removal resets the floor"
        );
        assert_eq!(t.first_virgin(ip(13), ip(13)), None);
        assert_eq!(t.first_virgin(ip(10), ip(11)), None);
        assert_eq!(t.first_virgin(ip(5), ip(9)), Some(ip(5)));
        assert_eq!(t.first_virgin(ip(9), ip(8)), None);
        let all = LeaseTable::new();
        assert_eq!(
            all.first_virgin(
                Ipv4Addr::new(255, 255, 255, 255),
                Ipv4Addr::new(255, 255, 255, 255)
            ),
            Some(Ipv4Addr::new(255, 255, 255, 255))
        );
    }
}
