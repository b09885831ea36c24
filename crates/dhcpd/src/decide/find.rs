//! Which lease a client gets: ISC's `find_lease` (a host's fixed address; the lease on the
//! requested address; the client's lease by client identifier, then by hardware address,
//! each checked for network, owner and pool permits) and `allocate_lease` (per pool, the
//! free lease that ended longest ago, virgin ones first; abandoned ones last).

use std::net::Ipv4Addr;

use crate::conf::ast::PermitKind;
use crate::lease::{BindingState, Hardware, Lease, Queue};
use crate::model::{HostId, PoolId, SharedId, SubnetId};
use crate::request::{code, msg};

use super::packet::Ctx;

/// A lease the client may get, with where it lives.
#[derive(Debug, Clone)]
pub(super) struct Cand {
    pub lease: Lease,
    /// A host's fixed address (ISC's mocked-up `STATIC_LEASE`).
    pub fixed: bool,
    /// The host declaration it came from (fixed addresses).
    pub host: Option<HostId>,
    pub subnet: SubnetId,
    pub pool: Option<PoolId>,
}

/// The leases `find_lease` weighs.
struct Leads {
    /// A host's fixed address.
    fixed: Option<Cand>,
    /// The lease on the requested address.
    ip: Option<Cand>,
    /// The client's lease by client identifier.
    uid: Option<Cand>,
    /// The client's lease by hardware address.
    hw: Option<Cand>,
}

/// Who is asking for what, as `find_lease` reads the packet.
struct Asking<'r> {
    /// The message type (0: BOOTP).
    ptype: u8,
    /// The address the client has or asks for: `ciaddr`, else option 50.
    cip: Option<Ipv4Addr>,
    cid: Option<&'r [u8]>,
    hw: Hardware,
}

/// What `find_lease` found.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub lease: Option<Cand>,
    /// The requested address is ours (a DHCPREQUEST for it may be NAKed).
    pub ours: bool,
}

fn is_free(s: BindingState) -> bool {
    matches!(s, BindingState::Free | BindingState::Backup)
}

impl<'a> Ctx<'a> {
    /// A dynamic lease as a candidate: the range (pool, subnet) its address is in.
    pub(super) fn cand(&self, lease: Lease) -> Option<Cand> {
        let (pool, range) = self.cfg.pool_of(lease.ip)?;
        Some(Cand {
            lease,
            fixed: false,
            host: None,
            subnet: range.subnet,
            pool: Some(pool),
        })
    }

    fn shared_of(&self, c: &Cand) -> Option<SharedId> {
        self.cfg.subnets.get(c.subnet).map(|s| s.shared)
    }

    fn state(&self, l: &Lease) -> BindingState {
        l.state_at(self.now)
    }

    /// ISC's `lease_mine_to_reallocate`: free and backup leases, of this server's half of a
    /// failover pool (see [`crate::model::FailoverRole`]).
    fn mine(&self, l: &Lease) -> bool {
        is_free(self.state(l)) && self.cfg.owns(l.ip)
    }

    fn usable_state(&self, l: &Lease) -> bool {
        self.state(l) == BindingState::Active
            || l.rewind_state == BindingState::Active
            || self.mine(l)
    }

    /// Does one entry of a permit list match this packet?
    fn permit_matches(&self, p: &PermitKind) -> bool {
        match p {
            PermitKind::UnknownClients => !self.known,
            PermitKind::KnownClients => self.known,
            PermitKind::Authenticated => false,
            PermitKind::Unauthenticated => true,
            PermitKind::All => true,
            PermitKind::DynamicBootp => {
                !self.req.options_valid || self.req.msg_type().is_none_or(|t| t == 0)
            }
            PermitKind::MembersOf(c) => self.class_names.iter().any(|n| n == c),
            // `allow after DATE`: dates are not parsed; never matches.
            PermitKind::After(_) => false,
        }
    }

    /// May this packet use pool `pool`?
    pub(super) fn pool_allows(&self, pool: PoolId) -> bool {
        let Some(p) = self.cfg.pools.get(pool) else {
            return false;
        };
        if !p.prohibit.is_empty() && p.prohibit.iter().any(|x| self.permit_matches(x)) {
            return false;
        }
        if !p.permit.is_empty() && !p.permit.iter().any(|x| self.permit_matches(x)) {
            return false;
        }
        true
    }

    fn cand_permitted(&self, c: &Cand) -> bool {
        c.pool.is_none_or(|p| self.pool_allows(p))
    }

    /// ISC's `release_lease` (a DHCPRELEASE, or another lease of a client with
    /// `one-lease-per-client`): its `on release` runs, and an active (or abandoned) lease
    /// becomes free now, without handlers.
    pub(super) fn release(&mut self, l: &Lease) {
        if matches!(
            self.state(l),
            BindingState::Free
                | BindingState::Backup
                | BindingState::Released
                | BindingState::Expired
                | BindingState::Reset
        ) {
            return;
        }
        self.run_release(l);
        let mut n = l.clone();
        n.edit_rare(|r| {
            r.on = crate::model::OnStar::default();
            r.bindings.clear();
        });
        n.ends = self.now;
        n.tstp = self.now;
        n.state = BindingState::Free;
        n.next_state = BindingState::Free;
        n.rewind_state = BindingState::Free;
        n.client_hostname = None;
        self.change(n, true);
    }

    /// ISC's `on release` in `release_lease`: the handler runs for the lease, with the
    /// packet and the lease's variables (dropped with the lease's bindings afterwards).
    fn run_release(&mut self, l: &Lease) {
        let Some(handler) = &l.on().release else {
            return;
        };
        let mut st = crate::eval::OptionState::new();
        let mut vars = super::ack::lease_bindings(l);
        let mut on = l.on().clone();
        let env = self.env(Some(l), None, false);
        let run = super::events::run_handler(
            &env,
            handler,
            super::events::LeaseEvent::Release,
            (&mut st, &mut vars),
            &mut on,
        );
        self.out.hooks.extend(run.hooks);
        for line in run.logs {
            self.log(line);
        }
    }

    /// ISC's `mockup_lease`: the first fixed address of these hosts that lies in `share`.
    fn mockup(&self, hosts: &[HostId], share: SharedId) -> Option<Cand> {
        for &h in hosts {
            let Some(host) = self.cfg.hosts.get(h) else {
                continue;
            };
            for ip in &host.fixed {
                if let Some(subnet) = self.cfg.find_grouped_subnet(share, *ip) {
                    let lease = Lease {
                        ip: *ip,
                        uid: host.uid.as_deref().map(crate::lease::Uid::from),
                        hardware: host.hardware.clone(),
                        ..Lease::default()
                    };
                    return Some(Cand {
                        lease,
                        fixed: true,
                        host: Some(h),
                        subnet,
                        pool: None,
                    });
                }
            }
        }
        None
    }

    /// ISC's `find_lease`: the candidates (fixed address, requested address, the client's
    /// lease by client identifier and by hardware address), weeded as ISC does, and the one
    /// it picks.
    pub(super) fn find_lease(&mut self, share: SharedId, ip_lease_in: Option<Cand>) -> Found {
        let mut found = Found::default();
        let ask = self.asking();
        let fixed = self.fixed_lease(share);
        if ask.ptype == msg::REQUEST
            && let Some(f) = &fixed
            && ask.cip != Some(f.lease.ip)
        {
            found.ours = true;
            self.dhcp_message = Some("requested address is incorrect");
            return found;
        }
        let uid = self.lease_by_uid(share, &ask);
        let hw = self.lease_by_hw(share, &ask);
        let client_has_lease = uid.is_some() || hw.is_some();
        let ip = self.lease_by_ip(share, &ask, ip_lease_in, client_has_lease, &mut found.ours);
        let mut leads = Leads { fixed, ip, uid, hw };
        self.settle_requested(share, &ask, &mut leads);
        self.drop_unusable(&mut leads);
        if leads.ip.is_none() {
            self.dhcp_message = Some("requested address not available");
        }
        if ask.ptype == msg::REQUEST && leads.ip.is_none() && leads.fixed.is_none() {
            return found;
        }
        let requested = leads.ip.as_ref().map(|c| c.lease.ip);
        let mut lease = self.pick(&ask, leads);
        if let Some(c) = &lease
            && self.state(&c.lease) == BindingState::Abandoned
        {
            if requested == Some(c.lease.ip) && ask.ptype == msg::REQUEST {
                self.log(format!(
                    "Reclaiming REQUESTed abandoned IP address {}.",
                    c.lease.ip
                ));
            } else {
                found.ours = true;
                lease = None;
            }
        }
        found.lease = lease;
        found
    }

    /// Who is asking for what, as `find_lease` reads the packet.
    fn asking(&mut self) -> Asking<'a> {
        let req = self.req;
        let cip = if !req.ciaddr.is_unspecified() {
            Some(req.ciaddr)
        } else if let Some(ip) = req.option_ip(code::REQUESTED_IP_ADDRESS) {
            self.got_requested_address = true;
            Some(ip)
        } else {
            None
        };
        Asking {
            ptype: req.msg_type().unwrap_or(0),
            cip,
            cid: req.client_id(),
            hw: req.hardware(),
        }
    }

    /// The host lookup of `find_lease`: the first lookup that finds hosts makes the client
    /// known, and gives their fixed address on `share`, if any.
    fn fixed_lease(&mut self, share: SharedId) -> Option<Cand> {
        let hosts = self.host_lookups().find(|h| !h.is_empty())?;
        self.known = true;
        self.mockup(&hosts, share)
    }

    /// ISC releases a lease it passes over, unless the client is renewing (`ciaddr` set).
    fn release_unless_renewing(&mut self, l: &Lease) {
        if self.req.ciaddr.is_unspecified() {
            self.release(l);
        }
    }

    /// The client's lease by client identifier (unusable ones are released on the way).
    fn lease_by_uid(&mut self, share: SharedId, ask: &Asking<'_>) -> Option<Cand> {
        let leases = self.leases_of(None, Some(ask.cid?));
        self.first_usable(share, leases, true, |_, _| true)
    }

    /// The client's lease by hardware address, unless bound to another client identifier.
    fn lease_by_hw(&mut self, share: SharedId, ask: &Asking<'_>) -> Option<Cand> {
        let leases = self.leases_of(Some(&ask.hw), None);
        self.first_usable(share, leases, false, |ctx, l| {
            is_free(ctx.state(l)) || l.uid.is_none() || ask.cid == l.uid.as_deref()
        })
    }

    /// ISC's walk over a client's leases: the first usable one that `owned` accepts, on
    /// `share`, whose pool permits the client. Unpermitted ones (and with `release_unusable`
    /// unusable ones) are released on the way.
    fn first_usable(
        &mut self,
        share: SharedId,
        leases: Vec<Lease>,
        release_unusable: bool,
        owned: impl Fn(&Self, &Lease) -> bool,
    ) -> Option<Cand> {
        for l in leases {
            let Some(c) = self.cand(l) else { continue };
            if !self.usable_state(&c.lease) {
                if release_unusable {
                    self.release_unless_renewing(&c.lease);
                }
                continue;
            }
            if !owned(self, &c.lease) || self.shared_of(&c) != Some(share) {
                continue;
            }
            if !self.cand_permitted(&c) {
                self.release_unless_renewing(&c.lease);
                continue;
            }
            return Some(c);
        }
        None
    }

    /// The lease on the requested address (or `given`), unless it is on another network or
    /// another client's, or (for a DISCOVER from a client with a lease of its own) not
    /// usable. `ours`: the address is one of our leases.
    fn lease_by_ip(
        &mut self,
        share: SharedId,
        ask: &Asking<'_>,
        given: Option<Cand>,
        client_has_lease: bool,
        ours: &mut bool,
    ) -> Option<Cand> {
        let c = given.or_else(|| {
            ask.cip
                .and_then(|ip| self.lease_at(ip))
                .and_then(|l| self.cand(l))
        })?;
        *ours = true;
        if self.shared_of(&c) != Some(share) {
            self.dhcp_message = Some("requested address on bad subnet");
            return None;
        }
        let l = &c.lease;
        let other_owner = match &l.uid {
            Some(u) => ask.cid != Some(u.as_slice()),
            None => l.hardware.as_ref() != Some(&ask.hw),
        };
        if other_owner && !is_free(self.state(l)) {
            if self.state(l) != BindingState::Active {
                *ours = false;
            }
            return None;
        }
        if client_has_lease && !self.usable_state(l) && ask.ptype == msg::DISCOVER {
            return None;
        }
        // A free address of the failover peer's half is the peer's to give.
        if is_free(self.state(l)) && !self.cfg.owns(l.ip) {
            return None;
        }
        Some(c)
    }

    /// An active requested lease with a client identifier other than the client's uid
    /// lease: when the identifier is the client's, it replaces the uid lease (a duplicate,
    /// released on a REQUEST), else it is dropped. A fixed address beside a requested
    /// lease is a database conflict (on a REQUEST).
    fn settle_requested(&mut self, share: SharedId, ask: &Asking<'_>, leads: &mut Leads) {
        let uid_ip = leads.uid.as_ref().map(|u| u.lease.ip);
        let active_other = leads.ip.clone().filter(|c| {
            self.state(&c.lease) == BindingState::Active
                && c.lease.uid.is_some()
                && uid_ip != Some(c.lease.ip)
        });
        if let Some(c) = &active_other {
            if ask.cid.is_some() && c.lease.uid.as_deref() == ask.cid {
                if let Some(u) = leads.uid.take()
                    && self.state(&u.lease) == BindingState::Active
                {
                    self.log(format!(
                        "client {} has duplicate leases on {}",
                        ask.hw.colon(),
                        self.cfg.shared.get(share).map_or("", |s| s.name.as_str())
                    ));
                    if ask.ptype == msg::REQUEST {
                        self.release_unless_renewing(&u.lease);
                    }
                }
                leads.uid = Some(c.clone());
            }
            if leads.uid.as_ref().map(|u| u.lease.ip) != Some(c.lease.ip) {
                leads.ip = None;
            }
        }
        if ask.ptype == msg::REQUEST
            && leads.fixed.is_some()
            && (active_other.is_some() || leads.ip.is_some())
        {
            leads.fixed = None;
            self.dhcp_message = Some("database conflict - call for help!");
        }
    }

    /// One candidate per address (the requested lease first, then the uid lease), and none
    /// from a pool that does not permit the client (those are released, the requested one
    /// only when active).
    fn drop_unusable(&mut self, leads: &mut Leads) {
        let same = |a: &Option<Cand>, b: &Option<Cand>| match (a, b) {
            (Some(x), Some(y)) => x.lease.ip == y.lease.ip,
            _ => false,
        };
        if same(&leads.hw, &leads.uid) {
            leads.hw = None;
        }
        if same(&leads.ip, &leads.hw) {
            leads.hw = None;
        }
        if same(&leads.ip, &leads.uid) {
            leads.uid = None;
        }
        if let Some(c) = leads.ip.take_if(|c| !self.cand_permitted(c))
            && self.state(&c.lease) == BindingState::Active
        {
            self.release_unless_renewing(&c.lease);
        }
        if let Some(c) = leads.uid.take_if(|c| !self.cand_permitted(c)) {
            self.release_unless_renewing(&c.lease);
        }
        if let Some(c) = leads.hw.take_if(|c| !self.cand_permitted(c)) {
            self.release_unless_renewing(&c.lease);
        }
    }

    /// ISC's pick: the fixed address, else the requested lease, else the uid lease, else
    /// the hardware address's (unless another client identifier is on it). The requested
    /// and (on a REQUEST, when active) uid leases passed over are released.
    fn pick(&mut self, ask: &Asking<'_>, leads: Leads) -> Option<Cand> {
        let mut lease = leads.fixed;
        if let Some(c) = leads.ip {
            if lease.is_some() {
                self.release_unless_renewing(&c.lease);
            } else {
                lease = Some(c);
            }
        }
        if let Some(c) = leads.uid {
            if lease.is_some() {
                if ask.ptype == msg::REQUEST && self.state(&c.lease) == BindingState::Active {
                    self.release_unless_renewing(&c.lease);
                }
            } else {
                lease = Some(c);
            }
        }
        if lease.is_none()
            && let Some(c) = leads.hw
        {
            let ok = match (&c.lease.uid, ask.cid) {
                (None, _) => true,
                (Some(u), Some(id)) => u.as_slice() == id,
                (Some(_), None) => ask.ptype == 0,
            };
            if ok {
                lease = Some(c);
            }
        }
        lease
    }

    /// ISC's `allocate_lease` over the pools of `share`.
    pub(super) fn allocate(&mut self, share: SharedId) -> Option<Cand> {
        let pools = self.cfg.shared.get(share)?.pools.clone();
        let mut best: Option<Lease> = None;
        for pid in pools {
            if !self.pool_allows(pid) {
                continue;
            }
            let Some(candl) = self.first_free(pid) else {
                continue;
            };
            if self.state(&candl) != BindingState::Abandoned && candl.ends > self.now {
                continue;
            }
            let Some(cur) = &best else {
                best = Some(candl);
                continue;
            };
            let cur_ab = self.state(cur) == BindingState::Abandoned;
            let cand_ab = self.state(&candl) == BindingState::Abandoned;
            let has_owner = |l: &Lease| l.uid.is_some() || l.hardware.is_some();
            if cur_ab && (!cand_ab || candl.ends < cur.ends) {
                best = Some(candl);
                continue;
            } else if cand_ab {
                continue;
            }
            if has_owner(cur) && (!has_owner(&candl) || candl.ends < cur.ends) {
                best = Some(candl);
                continue;
            } else if has_owner(&candl) {
                continue;
            }
            if candl.ends < cur.ends {
                best = Some(candl);
            }
        }
        let lease = best?;
        if self.state(&lease) == BindingState::Abandoned {
            self.log(format!("Reclaiming abandoned lease {}.", lease.ip));
        }
        self.cand(lease)
    }

    /// The head of a pool's free queue (least `ends`, virgin leases first, in range order),
    /// or failing that of its abandoned queue.
    fn first_free(&self, pid: PoolId) -> Option<Lease> {
        let pool = self.cfg.pools.get(pid)?;
        let mut best: Option<((i64, usize, u32), Lease)> = None;
        let mut consider = |key: (i64, usize, u32), l: Lease| {
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, l));
            }
        };
        let mut virgin_found = false;
        for (ri, r) in pool.ranges.iter().enumerate() {
            if let Some(ip) = self.first_virgin_for_client(r.low, r.high) {
                consider((0, ri, u32::from(ip)), Lease::virgin(ip));
                virgin_found = true;
                break;
            }
        }
        // With a virgin lease in hand only a recorded free lease with no end can beat it.
        if !virgin_found || self.leases.has_unended_free() || !self.overlay_empty() {
            for (ri, l) in self.queue_heads(pool, Queue::Free) {
                consider((l.ends, ri, u32::from(l.ip)), l);
            }
        }
        if let Some((_, l)) = best {
            return Some(l);
        }
        let mut ab: Option<((i64, usize, u32), Lease)> = None;
        for (ri, l) in self.queue_heads(pool, Queue::Abandoned) {
            let key = (l.ends, ri, u32::from(l.ip));
            if ab.as_ref().is_none_or(|(k, _)| key < *k) {
                ab = Some((key, l));
            }
        }
        ab.map(|(_, l)| l)
    }

    /// The virgin address of `[low, high]` to offer this client: the range's first (ISC's
    /// order), or on a contended pool the first from the client's own point of the range,
    /// wrapping round to the range's start.
    fn first_virgin_for_client(&self, low: Ipv4Addr, high: Ipv4Addr) -> Option<Ipv4Addr> {
        if !self.facts.contended {
            return self.first_owned_virgin(low, high);
        }
        let start = spread_point(&self.req.chaddr, low, high);
        self.first_owned_virgin(start, high).or_else(|| {
            let before = u32::from(start).checked_sub(1)?;
            (start > low)
                .then(|| self.first_owned_virgin(low, Ipv4Addr::from(before)))
                .flatten()
        })
    }

    /// The first virgin address of `[low, high]` this server may allocate.
    fn first_owned_virgin(&self, low: Ipv4Addr, high: Ipv4Addr) -> Option<Ipv4Addr> {
        let mut from = low;
        loop {
            let ip = self.first_virgin(from, high)?;
            if self.cfg.owns(ip) {
                return Some(ip);
            }
            if ip >= high {
                return None;
            }
            from = Ipv4Addr::from(u32::from(ip) + 1);
        }
    }

    /// Per range of `pool` (by its index), the leases that may head `queue`: the head of
    /// the table's ordered queue (O(log n)) and those this decision changed, in the queue's
    /// state now.
    fn queue_heads(&self, pool: &crate::model::Pool, queue: Queue) -> Vec<(usize, Lease)> {
        let held = |s| match queue {
            Queue::Free => is_free(s),
            Queue::Abandoned => s == BindingState::Abandoned,
        };
        let mut out = Vec::new();
        for (ri, r) in pool.ranges.iter().enumerate() {
            let skip = |ip| self.overlaid(ip) || !self.cfg.owns(ip);
            if let Some((_, ip)) = self
                .leases
                .queue_head(r.low, r.high, queue, self.now, &skip)
                && let Some(l) = self.leases.get(ip)
            {
                out.push((ri, l.clone()));
            }
            for l in self.overlay_in(r.low, r.high) {
                if held(self.state(&l)) && self.cfg.owns(l.ip) {
                    out.push((ri, l));
                }
            }
        }
        out
    }
}

/// The point of `[low, high]` where a client's search for a free address starts on a
/// contended pool: a hash (FNV-1a) of its hardware address, so that each client has its
/// own point on every server and two clients rarely share one.
pub fn spread_point(chaddr: &[u8], low: Ipv4Addr, high: Ipv4Addr) -> Ipv4Addr {
    let (lo, hi) = (u32::from(low), u32::from(high));
    if hi <= lo {
        return low;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in chaddr {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let size = u64::from(hi - lo) + 1;
    let offset = u32::try_from(hash % size).unwrap_or(0);
    Ipv4Addr::from(lo + offset)
}
