//! Which lease a client gets: ISC's `find_lease` (a host's fixed address; the lease on the
//! requested address; the client's lease by client identifier, then by hardware address,
//! each checked for network, owner and pool permits) and `allocate_lease` (per pool, the
//! free lease that ended longest ago, virgin ones first; abandoned ones last).

use std::net::Ipv4Addr;

use crate::conf::ast::PermitKind;
use crate::lease::{BindingState, Lease};
use crate::model::{HostId, PoolId, SharedId, SubnetId};
use crate::request::msg;

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

impl Ctx<'_> {
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

    /// ISC's `lease_mine_to_reallocate` without failover: free and backup leases.
    fn mine(&self, l: &Lease) -> bool {
        is_free(self.state(l))
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

    /// ISC's `release_lease` on another lease of the client: an active (or abandoned)
    /// lease becomes free now.
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
        let mut n = l.clone();
        n.ends = self.now;
        n.tstp = self.now;
        n.state = BindingState::Free;
        n.next_state = BindingState::Free;
        n.rewind_state = BindingState::Free;
        n.bindings.clear();
        n.client_hostname = None;
        self.change(n, true);
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
                        uid: host.uid.clone(),
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

    /// ISC's `find_lease`.
    pub(super) fn find_lease(&mut self, share: SharedId, ip_lease_in: Option<Cand>) -> Found {
        let mut found = Found::default();
        let req = self.req;
        let ptype = req.msg_type().unwrap_or(0);
        let cip: Option<Ipv4Addr> = if !req.ciaddr.is_unspecified() {
            Some(req.ciaddr)
        } else if let Some(ip) = req.option_ip(50) {
            self.got_requested_address = true;
            Some(ip)
        } else {
            None
        };
        let cid: Option<Vec<u8>> = req.client_id().map(<[u8]>::to_vec);
        let mut fixed: Option<Cand> = None;
        let mut host: Option<HostId> = None;
        let mut uid_list: Vec<Lease> = Vec::new();

        if let Some(c) = &cid {
            let hosts = self.hosts_by_uid();
            if !hosts.is_empty() {
                self.known = true;
                fixed = self.mockup(&hosts, share);
                if fixed.is_none() {
                    host = hosts.first().copied();
                }
            }
            uid_list = self.leases_of(None, Some(c));
        }
        if fixed.is_none() && host.is_none() {
            let hosts = self.hosts_by_hw();
            if !hosts.is_empty() {
                self.known = true;
                host = hosts.first().copied();
                fixed = self.mockup(&hosts, share);
            }
        }
        if fixed.is_none() && host.is_none() {
            let hosts = self.hosts_by_option();
            if !hosts.is_empty() {
                self.known = true;
                host = hosts.first().copied();
                fixed = self.mockup(&hosts, share);
            }
        }
        let _ = host;

        if ptype == msg::REQUEST
            && let Some(f) = &fixed
            && cip != Some(f.lease.ip)
        {
            found.ours = true;
            self.dhcp_message = Some("requested address is incorrect");
            return found;
        }

        // The client's lease by client identifier.
        let mut uid_lease: Option<Cand> = None;
        for l in uid_list {
            let do_release = req.ciaddr.is_unspecified();
            let Some(c) = self.cand(l) else { continue };
            if !self.usable_state(&c.lease) {
                if do_release {
                    self.release(&c.lease);
                }
                continue;
            }
            if self.shared_of(&c) != Some(share) {
                continue;
            }
            if !self.cand_permitted(&c) {
                if do_release {
                    self.release(&c.lease);
                }
                continue;
            }
            uid_lease = Some(c);
            break;
        }

        // By hardware address.
        let mut hw_lease: Option<Cand> = None;
        let hw = req.hardware();
        for l in self.leases_of(Some(&hw), None) {
            let Some(c) = self.cand(l) else { continue };
            if !self.usable_state(&c.lease) {
                continue;
            }
            if !is_free(self.state(&c.lease))
                && c.lease.uid.is_some()
                && cid.as_deref() != c.lease.uid.as_deref()
            {
                continue;
            }
            if self.shared_of(&c) != Some(share) {
                continue;
            }
            if !self.cand_permitted(&c) {
                if req.ciaddr.is_unspecified() {
                    self.release(&c.lease);
                }
                continue;
            }
            hw_lease = Some(c);
            break;
        }

        // The requested address.
        let mut ip_lease: Option<Cand> = ip_lease_in.or_else(|| {
            cip.and_then(|ip| self.lease_at(ip))
                .and_then(|l| self.cand(l))
        });
        if ip_lease.is_some() {
            found.ours = true;
        }
        if let Some(c) = &ip_lease
            && self.shared_of(c) != Some(share)
        {
            found.ours = true;
            self.dhcp_message = Some("requested address on bad subnet");
            ip_lease = None;
        }
        if let Some(c) = &ip_lease {
            let l = &c.lease;
            let other_owner = match &l.uid {
                Some(u) => cid.as_deref() != Some(u.as_slice()),
                None => l.hardware.as_ref() != Some(&hw),
            };
            if other_owner && !is_free(self.state(l)) {
                if self.state(l) != BindingState::Active {
                    found.ours = false;
                }
                ip_lease = None;
            }
        }
        if let Some(c) = &ip_lease
            && (uid_lease.is_some() || hw_lease.is_some())
            && !self.usable_state(&c.lease)
            && ptype == msg::DISCOVER
        {
            ip_lease = None;
        }
        if let Some(c) = ip_lease.clone()
            && self.state(&c.lease) == BindingState::Active
            && c.lease.uid.is_some()
            && uid_lease.as_ref().map(|u| u.lease.ip) != Some(c.lease.ip)
        {
            if cid.is_some() && c.lease.uid == cid {
                if let Some(u) = uid_lease.take()
                    && self.state(&u.lease) == BindingState::Active
                {
                    self.log(format!(
                        "client {} has duplicate leases on {}",
                        hw.colon(),
                        self.cfg.shared.get(share).map_or("", |s| s.name.as_str())
                    ));
                    if req.ciaddr.is_unspecified() && ptype == msg::REQUEST {
                        self.release(&u.lease);
                    }
                }
                uid_lease = Some(c.clone());
            }
            if ptype == msg::REQUEST && fixed.is_some() {
                fixed = None;
                self.dhcp_message = Some("database conflict - call for help!");
            }
            if uid_lease.as_ref().map(|u| u.lease.ip) != Some(c.lease.ip) {
                ip_lease = None;
            }
        }
        if ptype == msg::REQUEST && fixed.is_some() && ip_lease.is_some() {
            fixed = None;
            self.dhcp_message = Some("database conflict - call for help!");
        }
        let same = |a: &Option<Cand>, b: &Option<Cand>| match (a, b) {
            (Some(x), Some(y)) => x.lease.ip == y.lease.ip,
            _ => false,
        };
        if same(&hw_lease, &uid_lease) {
            hw_lease = None;
        }
        if same(&ip_lease, &hw_lease) {
            hw_lease = None;
        }
        if same(&ip_lease, &uid_lease) {
            uid_lease = None;
        }
        if let Some(c) = ip_lease.clone()
            && !self.cand_permitted(&c)
        {
            if req.ciaddr.is_unspecified() && self.state(&c.lease) == BindingState::Active {
                self.release(&c.lease);
            }
            ip_lease = None;
        }
        if let Some(c) = uid_lease.clone()
            && !self.cand_permitted(&c)
        {
            if req.ciaddr.is_unspecified() {
                self.release(&c.lease);
            }
            uid_lease = None;
        }
        if let Some(c) = hw_lease.clone()
            && !self.cand_permitted(&c)
        {
            if req.ciaddr.is_unspecified() {
                self.release(&c.lease);
            }
            hw_lease = None;
        }
        if ip_lease.is_none() {
            self.dhcp_message = Some("requested address not available");
        }
        if ptype == msg::REQUEST && ip_lease.is_none() && fixed.is_none() {
            return found;
        }

        let mut lease: Option<Cand> = fixed;
        if let Some(c) = ip_lease.clone() {
            if lease.is_some() {
                if req.ciaddr.is_unspecified() {
                    self.release(&c.lease);
                }
            } else {
                lease = Some(c);
            }
        }
        if let Some(c) = uid_lease {
            if lease.is_some() {
                if req.ciaddr.is_unspecified()
                    && ptype == msg::REQUEST
                    && self.state(&c.lease) == BindingState::Active
                {
                    self.release(&c.lease);
                }
            } else {
                lease = Some(c);
            }
        }
        if let Some(c) = hw_lease
            && lease.is_none()
        {
            let ok = match (&c.lease.uid, &cid) {
                (None, _) => true,
                (Some(u), Some(id)) => u == id,
                (Some(_), None) => ptype == 0,
            };
            if ok {
                lease = Some(c);
            }
        }
        if let Some(c) = &lease
            && self.state(&c.lease) == BindingState::Abandoned
        {
            let requested = ip_lease.as_ref().map(|i| i.lease.ip) == Some(c.lease.ip);
            if requested && ptype == msg::REQUEST {
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
            if let Some(ip) = self.first_virgin(r.low, r.high) {
                consider((0, ri, u32::from(ip)), Lease::virgin(ip));
                virgin_found = true;
                break;
            }
        }
        // With a virgin lease in hand only a recorded free lease with no end can beat it.
        if !virgin_found || self.leases.has_unended_free() || !self.overlay_empty() {
            for (ri, r) in pool.ranges.iter().enumerate() {
                for l in self.leases_in(r.low, r.high) {
                    if is_free(self.state(&l)) {
                        consider((l.ends, ri, u32::from(l.ip)), l);
                    }
                }
            }
        }
        if let Some((_, l)) = best {
            return Some(l);
        }
        let mut ab: Option<((i64, usize, u32), Lease)> = None;
        for (ri, r) in pool.ranges.iter().enumerate() {
            for l in self.leases_in(r.low, r.high) {
                if self.state(&l) == BindingState::Abandoned {
                    let key = (l.ends, ri, u32::from(l.ip));
                    if ab.as_ref().is_none_or(|(k, _)| key < *k) {
                        ab = Some((key, l));
                    }
                }
            }
        }
        ab.map(|(_, l)| l)
    }
}
