//! ISC's `ack_lease` and `dhcp_reply`: run the scopes (subnet, pool, classes, host), apply
//! the access rules (`unknown-clients`, `bootp`, `booting`), compute the lease time (the
//! client's option 51 clamped to `min-lease-time`/`max-lease-time`), record the new lease
//! (unless ISC's `dhcp-cache-threshold` lets the client keep the one it has), and build the
//! OFFER, ACK or BOOTREPLY.

use crate::eval::{Bindings, Effects, OptionState, Val};
use crate::lease::{BindingState, BindingValue, Lease, MAX_TIME, Time};
use crate::model::{DHCP, GroupId, HostId, SERVER};
use crate::request::msg;

use super::find::Cand;
use super::packet::Ctx;
use super::reply::{Cons, Reply, cons_options, field, lease_dest};
use super::{BootNote, Ignore, Reason};

/// What `ack_lease` is answering with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Offer,
    Ack,
    Bootp,
}

/// ISC's defaults (`DEFAULT_*_LEASE_TIME`).
const DEFAULT_DEFAULT_LEASE_TIME: u32 = 43_200;
const DEFAULT_MAX_LEASE_TIME: u32 = 86_400;
const DEFAULT_MIN_LEASE_TIME: u32 = 300;
const DEFAULT_CACHE_THRESHOLD: u32 = 25;

pub(super) fn to_val(v: &BindingValue) -> Val {
    match v {
        BindingValue::Data(d) => Val::Data(d.clone()),
        BindingValue::Number(n) => Val::Num(*n),
        BindingValue::Bool(b) => Val::Bool(*b),
    }
}

fn from_val(v: &Val) -> Option<BindingValue> {
    Some(match v {
        Val::Data(d) => BindingValue::Data(d.clone()),
        Val::Num(n) => BindingValue::Number(*n),
        Val::Bool(b) => BindingValue::Bool(*b),
        Val::Func(..) => return None,
    })
}

/// `leaseTimeCheck`: an end time that would pass `MAX_TIME` is capped.
fn end_time(now: Time, secs: u32) -> Time {
    if secs == u32::MAX {
        return MAX_TIME;
    }
    let t = now + i64::from(secs);
    if t >= MAX_TIME { MAX_TIME - 1 } else { t }
}

impl Ctx<'_> {
    /// The scope of a candidate's pool, or of its subnet.
    fn lease_group(&self, c: &Cand) -> Option<GroupId> {
        match c.pool {
            Some(p) => self.cfg.pools.get(p).map(|p| p.group),
            None => self.cfg.subnets.get(c.subnet).map(|s| s.group),
        }
    }

    /// Run the class scopes, last matched first (so the first matched wins), each limited
    /// to what the subnet and pool scopes did not run.
    pub(super) fn run_classes(
        &mut self,
        limit: Option<GroupId>,
        lease: Option<&Lease>,
        st: &mut OptionState,
        vars: &mut Bindings,
    ) {
        let mut i = self.classes.len();
        while i > 0 {
            i -= 1;
            let Some(group) = self.classes.get(i).map(|m| m.group) else {
                break;
            };
            let mut fx = Effects::default();
            self.env(lease, None, false)
                .run_scope(group, limit, st, vars, &mut fx);
            self.apply_effects(fx);
        }
    }

    /// ISC's `ack_lease`. `when` is the end time of an offer; `host_hint` a host BOOTP found.
    pub(super) fn ack_lease(
        &mut self,
        cand: Cand,
        kind: Kind,
        when: Option<Time>,
        msg_text: String,
        host_hint: Option<HostId>,
    ) {
        let cfg = self.cfg;
        let req = self.req;
        let now = self.now;
        let lease = cand.lease.clone();
        let mut st = OptionState::new();
        let mut vars = Bindings::new();
        for (n, v) in lease.bindings.iter().rev() {
            vars.set(n, to_val(v));
        }
        let subnet = match cfg.subnets.get(cand.subnet) {
            Some(s) => s.clone(),
            None => return,
        };
        let limit = self.lease_group(&cand);

        // Subnet, pool and class scopes.
        let mut fx = Effects::default();
        self.env(Some(&lease), None, cand.fixed).run_scope(
            subnet.group,
            None,
            &mut st,
            &mut vars,
            &mut fx,
        );
        if let Some(p) = cand.pool.and_then(|p| cfg.pools.get(p)) {
            let share_group = cfg.shared.get(p.shared).map(|s| s.group);
            self.env(Some(&lease), None, cand.fixed).run_scope(
                p.group,
                share_group,
                &mut st,
                &mut vars,
                &mut fx,
            );
        }
        self.apply_effects(fx);
        self.run_classes(limit, Some(&lease), &mut st, &mut vars);

        // one-lease-per-client: on a REQUEST, the client's other leases are released.
        if req.msg_type() == Some(msg::REQUEST) && st.flag(10) == Some(true) {
            let hw = req.hardware();
            let others: Vec<Lease> = match req.client_id() {
                Some(u) => self.leases_of(None, Some(u)),
                None => self.leases_of(Some(&hw), None),
            };
            for o in others {
                if o.ip != lease.ip && o.state_at(now) == BindingState::Active {
                    self.release(&o);
                }
            }
        }

        if kind == Kind::Offer
            && let Some(d) = st.get(SERVER, 14)
            && let Some(min) = d.first()
            && req.secs < u16::from(*min)
        {
            self.log(format!(
                "{msg_text}: configured min-secs value ({min}) is greater than secs field ({}).  message dropped.",
                req.secs
            ));
            self.ignore(Ignore::MinSecs);
            return;
        }

        // A host declaration: the fixed one, or one without fixed address for this client.
        let mut host = host_hint.or(cand.host);
        if host.is_none() {
            let by_uid = self.hosts_by_uid();
            host = self.dynamic_host(&by_uid);
            if host.is_none() {
                let by_hw = self.hosts_by_hw();
                host = self.dynamic_host(&by_hw);
            }
            if host.is_none() {
                let by_opt = self.hosts_by_option();
                host = self.dynamic_host(&by_opt);
            }
        }
        let host_decl = host.and_then(|h| cfg.hosts.get(h));
        if let Some(h) = host_decl {
            let mut fx = Effects::default();
            self.env(Some(&lease), Some(h), cand.fixed)
                .run_scope(h.group, limit, &mut st, &mut vars, &mut fx);
            self.apply_effects(fx);
        }

        // Access rules.
        if host.is_none() && st.flag(6) == Some(false) {
            if st.get(SERVER, 6).and_then(|d| d.first().copied()) != Some(2) {
                self.log(format!("{msg_text}: unknown client"));
            }
            self.ignore(Ignore::UnknownClient);
            return;
        }
        if kind == Kind::Bootp && st.flag(8) == Some(false) {
            if st.get(SERVER, 8).and_then(|d| d.first().copied()) != Some(2) {
                self.log(format!("{msg_text}: bootp disallowed"));
            }
            self.ignore(Ignore::BootpDisallowed);
            return;
        }
        if st.flag(9) == Some(false) {
            if st.get(SERVER, 9).and_then(|d| d.first().copied()) != Some(2) {
                self.log(format!("{msg_text}: booting disallowed"));
            }
            self.ignore(Ignore::BootingDisallowed);
            return;
        }
        let billed = if cand.fixed {
            None
        } else {
            match self.billing(&lease) {
                Ok(b) => b,
                Err(last) => {
                    self.log(format!(
                        "{msg_text}: no available billing: lease limit reached in all matching classes (last: '{last}')"
                    ));
                    self.ignore(Ignore::LeaseLimit);
                    return;
                }
            }
        };

        if let Some(h) = host_decl {
            self.apply_boot_plan(h, lease.ip, &mut st);
        }
        let filename = st.get(SERVER, 15).map(<[u8]>::to_vec);
        let server_name = st.get(SERVER, 16).map(<[u8]>::to_vec);

        // The new lease.
        let mut lt = Lease {
            ip: lease.ip,
            starts: now,
            ..Lease::default()
        };
        let offered_expiry: Time;
        if kind != Kind::Bootp {
            let default_time = st.u32(SERVER, 1).unwrap_or(DEFAULT_DEFAULT_LEASE_TIME);
            let mut lease_time = match req.option(51).and_then(|d| <[u8; 4]>::try_from(d).ok()) {
                Some(b) => u32::from_be_bytes(b),
                None => default_time,
            };
            let max = st.u32(SERVER, 2).unwrap_or(DEFAULT_MAX_LEASE_TIME);
            if lease_time > max {
                lease_time = max;
            }
            let mut min = DEFAULT_MIN_LEASE_TIME.min(max);
            if let Some(m) = st.u32(SERVER, 3) {
                min = m;
            }
            if lease_time < min {
                lease_time = if min != 0 { min } else { default_time };
            }
            offered_expiry = end_time(now, lease_time);
            lt.ends = when.unwrap_or(offered_expiry);
            lt.next_state = if kind == Kind::Ack {
                BindingState::Active
            } else {
                lease.state_at(now)
            };
        } else {
            lt.bootp = true;
            let mut secs = MAX_TIME - now;
            if let Some(len) = st.u32(SERVER, 5) {
                secs = i64::from(len);
            }
            if let Some(cutoff) = st.u32(SERVER, 4) {
                secs = i64::from(cutoff) - now;
            }
            offered_expiry = now.saturating_add(secs).min(MAX_TIME);
            lt.ends = offered_expiry;
            lt.next_state = BindingState::Active;
        }
        lt.cltt = now;
        if st.flag(82) != Some(true) {
            lt.uid = req.client_id().map(<[u8]>::to_vec);
        }
        lt.hardware = Some(req.hardware());
        if let Some(h) = req.option(12) {
            let end = h.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
            lt.client_hostname = Some(h[..end].to_vec());
        }
        if let Some(vci) = req.option(60).filter(|v| !v.is_empty()) {
            vars.set("vendor-class-identifier", Val::Data(vci.to_vec()));
        }
        if kind != Kind::Offer
            && let Some(key) = billed
        {
            vars.set("billing-class", Val::Data(key));
        }
        lt.bindings = vars
            .iter()
            .rev()
            .filter_map(|(n, v)| Some((n.to_string(), from_val(v)?)))
            .collect();
        lt.agent_options = lease.agent_options.clone();
        if !self.agent_stashed && req.option(82).is_some() && st.flag(37) != Some(false) {
            lt.agent_options = req
                .agent_options()
                .into_iter()
                .map(|(c, d)| (c, d.to_vec()))
                .collect();
        }

        // Record it (fixed addresses are not leases ISC keeps).
        let mut offered = offered_expiry;
        if !cand.fixed {
            let reused = self.reusable(&lease, &lt, &st, host, kind);
            if let Some(ends) = reused {
                offered = ends;
                let mut l = lease.clone();
                l.client_hostname = lt.client_hostname.clone();
                l.bindings = lt.bindings.clone();
                l.cltt = now;
                self.change(l, false);
            } else {
                let mut newl = lt.clone();
                if kind == Kind::Offer {
                    newl.state = newl.next_state;
                    newl.rewind_state = lease.rewind_state;
                    newl.next_state = newl.state;
                } else {
                    newl.state = BindingState::Active;
                    newl.next_state = BindingState::Free;
                    newl.rewind_state = BindingState::Free;
                }
                self.change(newl, kind != Kind::Offer);
            }
        }

        // The reply.
        let mut r = Reply::to(req);
        r.ciaddr = req.ciaddr;
        r.yiaddr = lease.ip;
        if st.flag(22) == Some(true) {
            r.flags |= 0x8000;
        }
        let mms = req
            .option(57)
            .and_then(|d| <[u8; 2]>::try_from(d).ok())
            .or_else(|| st.get(DHCP, 57).and_then(|d| <[u8; 2]>::try_from(d).ok()))
            .map(u16::from_be_bytes);
        if let Some(sel) = req.option(118) {
            st.set(DHCP, 118, sel.to_vec());
        }
        if kind != Kind::Bootp {
            let t = if kind == Kind::Ack {
                msg::ACK
            } else {
                msg::OFFER
            };
            st.set(DHCP, 53, vec![t]);
            if st.get(DHCP, 54).is_none_or(|d| d.len() != 4)
                && let Some(a) = self.interface_address()
            {
                st.set(DHCP, 54, a.octets().to_vec());
            }
            let mut offered_time = u32::try_from((offered - now).max(0)).unwrap_or(u32::MAX);
            st.set(DHCP, 51, offered_time.to_be_bytes().to_vec());
            if let Some(rebind) = st.u32(DHCP, 59) {
                if rebind >= offered_time {
                    st.remove(DHCP, 59);
                } else {
                    offered_time = rebind;
                }
            }
            if st.u32(DHCP, 58).is_some_and(|renew| renew >= offered_time) {
                st.remove(DHCP, 58);
            }
        }
        if let Some(ns) = st.get(SERVER, 17).filter(|d| d.len() >= 4) {
            r.siaddr = std::net::Ipv4Addr::new(ns[0], ns[1], ns[2], ns[3]);
        }
        if !st.has(DHCP, 1) {
            st.set(DHCP, 1, subnet.mask.octets().to_vec());
        }
        if st.flag(12) == Some(true)
            && let Some(h) = host_decl
            && !st.has(DHCP, 12)
        {
            st.set(DHCP, 12, h.name.as_bytes().to_vec());
        }
        let echo = st.flag(85) == Some(true);
        if echo && let Some(id) = req.client_id() {
            st.set(DHCP, 61, id.to_vec());
        }
        if st.flag(13) == Some(true) && !st.has(DHCP, 3) {
            st.set(DHCP, 3, lease.ip.octets().to_vec());
        }
        let prl = st
            .get(DHCP, 55)
            .map(<[u8]>::to_vec)
            .or_else(|| req.option(55).map(<[u8]>::to_vec));

        let hostname = lt.client_hostname.clone().or(lease.client_hostname.clone());
        let logged = Lease {
            client_hostname: hostname,
            ..Lease::default()
        };
        self.log(msg_text);

        r.file = field(filename.as_deref(), 128);
        r.sname = field(server_name.as_deref(), 64);
        let agent = self.agent_echo();
        let laid = cons_options(
            cfg,
            req,
            &Cons {
                st: &st,
                prl: prl.as_deref(),
                bootpp: kind == Kind::Bootp,
                mms,
                file_free: filename.is_none(),
                sname_free: server_name.is_none(),
                echo_client_id: echo,
                agent,
            },
        );
        r.options = laid.options;
        if let Some(f) = laid.file {
            r.file = f;
        }
        if let Some(s) = laid.sname {
            r.sname = s;
        }
        let same_network = self.interface_network() == Some(subnet.shared);
        r.dest = lease_dest(req, &r, same_network, kind == Kind::Ack);
        let what = match kind {
            Kind::Offer => "DHCPOFFER",
            Kind::Ack => "DHCPACK",
            Kind::Bootp => "BOOTREPLY",
        };
        self.log(format!(
            "{what} on {} to {} {}via {}",
            lease.ip,
            req.hw_text(),
            super::hostname_part(Some(&logged)),
            super::via(req)
        ));
        if kind != Kind::Offer
            && let Some(machine) = host_decl.and_then(|h| h.machine.clone())
        {
            let file = r.file_text();
            self.out.boot = Some(BootNote {
                machine,
                detail: format!("{what} {} {file}", lease.ip).trim_end().to_string(),
            });
        }
        self.out.reason = match kind {
            Kind::Offer => Reason::Offer,
            Kind::Ack => Reason::Ack,
            Kind::Bootp => Reason::BootReply,
        };
        self.out.reply = Some(r);
    }

    /// ISC's `reuse_lease` (`dhcp-cache-threshold`, 25% by default): a client renewing an
    /// active lease young enough keeps it unchanged; returns its end time then.
    fn reusable(
        &self,
        old: &Lease,
        new: &Lease,
        st: &OptionState,
        host: Option<HostId>,
        kind: Kind,
    ) -> Option<Time> {
        let _ = (host, kind);
        if old.state_at(self.now) != BindingState::Active
            || old.uid != new.uid
            || old.hardware != new.hardware
        {
            return None;
        }
        let thresh = match st.get(SERVER, 78) {
            Some([t]) if *t < 100 => u32::from(*t),
            _ => DEFAULT_CACHE_THRESHOLD,
        };
        if thresh == 0 {
            return None;
        }
        let length = old.ends - old.starts;
        let limit = length * i64::from(thresh) / 100;
        let age = self.now - old.starts;
        (age <= limit).then_some(old.ends)
    }

    /// `lease limit`: the class key to bill this lease to (`None`: no matched class has a
    /// limit), or the name of the last class that was full. Leases are counted by the class
    /// recorded with them (a `billing-class` binding in the lease).
    fn billing(&self, lease: &Lease) -> Result<Option<Vec<u8>>, String> {
        let mut last = None;
        for m in &self.classes {
            let Some(c) = self.cfg.classes.get(m.class) else {
                continue;
            };
            let Some(limit) = c.lease_limit else { continue };
            let key = billing_key(&c.name, m.key.as_deref());
            if lease_billed_to(lease, &key) {
                return Ok(Some(key));
            }
            let in_use = self
                .leases
                .iter()
                .filter(|l| l.ip != lease.ip && l.state_at(self.now) == BindingState::Active)
                .filter(|l| lease_billed_to(l, &key))
                .count();
            if in_use < limit as usize {
                return Ok(Some(key));
            }
            last = Some(c.name.clone());
        }
        match last {
            Some(name) => Err(name),
            None => Ok(None),
        }
    }
}

/// The key a lease is billed under: the class name, or name and subclass key.
pub(super) fn billing_key(class: &str, key: Option<&[u8]>) -> Vec<u8> {
    let mut k = class.as_bytes().to_vec();
    if let Some(sub) = key {
        k.push(0);
        k.extend_from_slice(sub);
    }
    k
}

fn lease_billed_to(l: &Lease, key: &[u8]) -> bool {
    l.bindings
        .iter()
        .any(|(n, v)| n == "billing-class" && *v == BindingValue::Data(key.to_vec()))
}
