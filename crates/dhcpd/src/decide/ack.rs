//! ISC's `ack_lease` and `dhcp_reply`: run the scopes (subnet, pool, classes, host), apply
//! the access rules (`unknown-clients`, `bootp`, `booting`), compute the lease time (the
//! client's option 51 clamped to `min-lease-time`/`max-lease-time`), record the new lease
//! (unless ISC's `dhcp-cache-threshold` lets the client keep the one it has), and build the
//! OFFER, ACK or BOOTREPLY.

use std::net::Ipv4Addr;

use crate::eval::{Bindings, OptionState, Sv, Val};
use crate::lease::{BindingState, BindingValue, Lease, MAX_TIME, Time, Uid};
use crate::model::{DHCP, GroupId, HostDecl, HostId, OnStar, SERVER, Subnet};
use crate::request::{BROADCAST_FLAG, Request, code, msg};

use super::events::{LeaseEvent, run_handler};
use super::find::Cand;
use super::packet::{Ctx, Scoped};
use super::reply::{
    Cons, Reply, boot_fields, cons_options, default_mask_and_name, lease_dest, next_server,
    request_list,
};
use super::{BootNote, Ignore, Reason, hostname_part, via};

/// `ping-cltt-secs` when the configuration does not set it.
const DEFAULT_PING_CLTT_SECS: i64 = 60;

/// What `ack_lease` is answering with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Offer,
    Ack,
    Bootp,
}

impl Kind {
    /// The reply's name in ISC's log lines.
    fn name(self) -> &'static str {
        match self {
            Kind::Offer => "DHCPOFFER",
            Kind::Ack => "DHCPACK",
            Kind::Bootp => "BOOTREPLY",
        }
    }

    fn reason(self) -> Reason {
        match self {
            Kind::Offer => Reason::Offer,
            Kind::Ack => Reason::Ack,
            Kind::Bootp => Reason::BootReply,
        }
    }
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

/// Variables as a lease keeps them (functions are not kept).
fn bindings_of(vars: &Bindings) -> Vec<(String, BindingValue)> {
    vars.iter()
        .rev()
        .filter_map(|(n, v)| Some((n.to_string(), from_val(v)?)))
        .collect()
}

fn from_val(v: &Val) -> Option<BindingValue> {
    Some(match v {
        Val::Data(d) => BindingValue::Data(d.clone()),
        Val::Num(n) => BindingValue::Number(*n),
        Val::Bool(b) => BindingValue::Bool(*b),
        Val::Func(..) => return None,
    })
}

/// A lease's variables as its scopes see them.
pub(super) fn lease_bindings(l: &Lease) -> Bindings {
    let mut vars = Bindings::new();
    for (n, v) in l.bindings().iter().rev() {
        vars.set(n, to_val(v));
    }
    vars
}

/// `leaseTimeCheck`: an end time that would pass `MAX_TIME` is capped.
fn end_time(now: Time, secs: u32) -> Time {
    if secs == u32::MAX {
        return MAX_TIME;
    }
    let t = now + i64::from(secs);
    if t >= MAX_TIME { MAX_TIME - 1 } else { t }
}

/// The lease time of an OFFER or ACK: the client's option 51, else `default-lease-time`,
/// clamped to `max-lease-time` and `min-lease-time` (a zero minimum: the default time).
fn lease_time(st: &OptionState, req: &Request) -> u32 {
    let default_time = st
        .u32(SERVER, Sv::DefaultLeaseTime)
        .unwrap_or(DEFAULT_DEFAULT_LEASE_TIME);
    let mut lease_time = req
        .option(code::LEASE_TIME)
        .and_then(|d| <[u8; 4]>::try_from(d).ok())
        .map_or(default_time, u32::from_be_bytes);
    let max = st
        .u32(SERVER, Sv::MaxLeaseTime)
        .unwrap_or(DEFAULT_MAX_LEASE_TIME);
    if lease_time > max {
        lease_time = max;
    }
    let min = st
        .u32(SERVER, Sv::MinLeaseTime)
        .unwrap_or(DEFAULT_MIN_LEASE_TIME.min(max));
    if lease_time < min {
        lease_time = if min != 0 { min } else { default_time };
    }
    lease_time
}

/// A BOOTP lease's end: never, unless `dynamic-bootp-lease-length` or
/// `dynamic-bootp-lease-cutoff` (which wins) says otherwise.
fn bootp_lease_end(st: &OptionState, now: Time) -> Time {
    let mut secs = MAX_TIME - now;
    if let Some(len) = st.u32(SERVER, Sv::DynamicBootpLeaseLength) {
        secs = i64::from(len);
    }
    if let Some(cutoff) = st.u32(SERVER, Sv::DynamicBootpLeaseCutoff) {
        secs = i64::from(cutoff) - now;
    }
    now.saturating_add(secs).min(MAX_TIME)
}

/// Option 51 for `offered` seconds; the rebinding (T2) and renewal (T1) times stay only when
/// shorter than the lease (T1 also than T2).
fn set_lease_times(st: &mut OptionState, offered: u32) {
    let mut limit = offered;
    st.set(DHCP, code::LEASE_TIME, offered.to_be_bytes().to_vec());
    if let Some(rebind) = st.u32(DHCP, code::REBINDING_TIME) {
        if rebind >= limit {
            st.remove(DHCP, code::REBINDING_TIME);
        } else {
            limit = rebind;
        }
    }
    if st
        .u32(DHCP, code::RENEWAL_TIME)
        .is_some_and(|renew| renew >= limit)
    {
        st.remove(DHCP, code::RENEWAL_TIME);
    }
}

/// The lease `ack_lease` answers with, and how: what its steps share.
struct Answer<'c> {
    cand: &'c Cand,
    kind: Kind,
    subnet: &'c Subnet,
    /// The host declaration that applies: the fixed address's, or one without a fixed
    /// address for this client.
    host: Option<&'c HostDecl>,
}

impl Ctx<'_> {
    /// The scope of a candidate's pool, or of its subnet.
    fn lease_group(&self, c: &Cand) -> Option<GroupId> {
        match c.pool {
            Some(p) => self.cfg.pools.get(p).map(|p| p.group),
            None => self.cfg.subnets.get(c.subnet).map(|s| s.group),
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
        let Some(subnet) = cfg.subnets.get(cand.subnet) else {
            return;
        };
        let limit = self.lease_group(&cand);
        let mut sc = Scoped {
            st: OptionState::new(),
            vars: lease_bindings(&cand.lease),
            on: self.inherited_handlers(&cand.lease, kind),
        };
        let mut scopes = vec![(subnet.group, None)];
        scopes.extend(cand.pool.and_then(|p| self.pool_scope(p)));
        self.run_scopes(&scopes, Some(&cand), None, &mut sc);
        self.run_classes(limit, Some(&cand.lease), &mut sc);
        if self.req.msg_type() == Some(msg::REQUEST)
            && sc.st.flag(Sv::OneLeasePerClient) == Some(true)
        {
            self.release_other_leases(cand.lease.ip);
        }
        if kind == Kind::Offer && self.below_min_secs(&sc.st, &msg_text) {
            return;
        }
        let host = host_hint
            .or(cand.host)
            .or_else(|| self.client_dynamic_host());
        let ans = Answer {
            cand: &cand,
            kind,
            subnet,
            host: host.and_then(|h| cfg.hosts.get(h)),
        };
        if let Some(h) = ans.host {
            self.run_scopes(&[(h.group, limit)], Some(&cand), Some(h), &mut sc);
        }
        if self.access_denied(&sc.st, &msg_text, host.is_none(), kind == Kind::Bootp) {
            return;
        }
        let billed = if cand.fixed {
            None
        } else {
            match self.billing(&cand.lease) {
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
        if let Some(h) = ans.host {
            self.apply_boot_plan(h, cand.lease.ip, &mut sc.st);
        }
        let (mut new, offered_expiry) = self.new_lease(&ans, when, &mut sc, billed);
        if kind != Kind::Offer {
            self.run_commit(&ans, &mut new, &mut sc);
        }
        new.edit_rare(|r| r.on = sc.on.clone());
        // Fixed addresses are not leases ISC keeps.
        let offered = if cand.fixed {
            offered_expiry
        } else {
            self.record_lease(&ans, &new, &sc.st, offered_expiry)
        };
        self.lease_options(&ans, offered, &mut sc.st);
        self.log(msg_text);
        let reply = self.lease_reply(&ans, &sc.st);
        if kind == Kind::Offer {
            self.out.ping = self.ping_check(&cand, &sc.st);
        }
        let hostname = new
            .client_hostname
            .or_else(|| cand.lease.client_hostname.clone());
        self.send_lease_reply(&ans, reply, hostname);
    }

    /// Whether ISC would ping the address before this offer (`dhcpd.conf(5)`,
    /// `ping-cltt-secs`): ping-check on (the default), not a fixed address, the lease not
    /// active, and this its first offer, or to another client than its last, or to that
    /// client more than `ping-cltt-secs` (60) after its last transaction, or a reclaim of
    /// an abandoned address.
    fn ping_check(&self, cand: &Cand, st: &OptionState) -> Option<super::PingCheck> {
        if cand.fixed || st.flag(Sv::PingCheck) == Some(false) {
            return None;
        }
        let old = &cand.lease;
        if old.state_at(self.now) == BindingState::Active {
            return None;
        }
        let cltt_secs = st
            .u32(SERVER, Sv::PingClttSecs)
            .map_or(DEFAULT_PING_CLTT_SECS, i64::from);
        let wanted = old.cltt == 0
            || !self.was_last_owner(old)
            || self.now - old.cltt > cltt_secs
            || old.state == BindingState::Abandoned;
        if !wanted {
            return None;
        }
        let timeout_ms = match st.u32(SERVER, Sv::PingTimeoutMs).filter(|ms| *ms > 0) {
            Some(ms) => ms,
            None => st
                .u32(SERVER, Sv::PingTimeout)
                .unwrap_or(1)
                .saturating_mul(1000),
        };
        let abandon_secs = st
            .u32(SERVER, Sv::AbandonLeaseTime)
            .map_or(super::dhcp::DEFAULT_ABANDON_LEASE_TIME, i64::from);
        Some(super::PingCheck {
            ip: old.ip,
            timeout_ms,
            abandon_secs,
        })
    }

    /// Did this client hold `old` last (by client identifier, else hardware address)?
    fn was_last_owner(&self, old: &Lease) -> bool {
        match (&old.uid, self.req.client_id()) {
            (Some(had), Some(has)) => had.as_slice() == has,
            _ => old.hardware.as_ref() == Some(&self.req.hardware()),
        }
    }

    /// The handlers a lease keeps while its scopes run again: an ACK (or BOOTREPLY) of a
    /// lease that has ended starts from none, as ISC's `ack_lease` drops them; an offer, or
    /// a lease still running, keeps its own (the scopes' `on` statements replace them).
    fn inherited_handlers(&self, old: &Lease, kind: Kind) -> OnStar {
        if old.ends <= self.now && kind != Kind::Offer {
            OnStar::default()
        } else {
            old.on().clone()
        }
    }

    /// ISC's `on commit` in `ack_lease`: the handler runs for the new lease (its times,
    /// address and variables), with the packet and the reply's options, and is dropped;
    /// what it sets stays in the lease's variables.
    fn run_commit(&mut self, ans: &Answer<'_>, new: &mut Lease, sc: &mut Scoped) {
        let Some(handler) = sc.on.commit.take() else {
            return;
        };
        let env = self.env(Some(new), ans.host, ans.cand.fixed);
        let run = run_handler(
            &env,
            &handler,
            LeaseEvent::Commit,
            (&mut sc.st, &mut sc.vars),
            &mut sc.on,
        );
        let bindings = bindings_of(&sc.vars);
        new.edit_rare(|r| r.bindings = bindings);
        self.out.hooks.extend(run.hooks);
        for line in run.logs {
            self.log(line);
        }
    }

    /// `one-lease-per-client`: the client's other active leases are released.
    fn release_other_leases(&mut self, keep: Ipv4Addr) {
        let req = self.req;
        let others = match req.client_id() {
            Some(u) => self.leases_of(None, Some(u)),
            None => self.leases_of(Some(&req.hardware()), None),
        };
        for o in others {
            if o.ip != keep && o.state_at(self.now) == BindingState::Active {
                self.release(&o);
            }
        }
    }

    /// `min-secs`: an offer to a client that has not been trying that long is dropped.
    fn below_min_secs(&mut self, st: &OptionState, text: &str) -> bool {
        let Some(&min) = st.get(SERVER, Sv::MinSecs).and_then(<[u8]>::first) else {
            return false;
        };
        let secs = self.req.secs;
        if secs >= u16::from(min) {
            return false;
        }
        self.log(format!(
            "{text}: configured min-secs value ({min}) is greater than secs field ({secs}).  message dropped."
        ));
        self.ignore(Ignore::MinSecs);
        true
    }

    /// ISC's access rules: `unknown-clients` (for a client without a host declaration),
    /// `bootp` (for a BOOTP request), `booting`. A denied client is logged, unless the rule
    /// says `ignore`.
    pub(super) fn access_denied(
        &mut self,
        st: &OptionState,
        text: &str,
        unknown_client: bool,
        bootp: bool,
    ) -> bool {
        let rules = [
            (
                unknown_client,
                Sv::BootUnknownClients,
                Ignore::UnknownClient,
                "unknown client",
            ),
            (
                bootp,
                Sv::AllowBootp,
                Ignore::BootpDisallowed,
                "bootp disallowed",
            ),
            (
                true,
                Sv::AllowBooting,
                Ignore::BootingDisallowed,
                "booting disallowed",
            ),
        ];
        for (applies, param, why, what) in rules {
            if applies && st.flag(param) == Some(false) {
                if !st.ignored(param) {
                    self.log(format!("{text}: {what}"));
                }
                self.ignore(why);
                return true;
            }
        }
        false
    }

    /// The lease ISC's `ack_lease` writes (times, owner, client hostname, variables, relay
    /// agent options), and the end time the client is offered.
    fn new_lease(
        &self,
        ans: &Answer<'_>,
        when: Option<Time>,
        sc: &mut Scoped,
        billed: Option<Vec<u8>>,
    ) -> (Lease, Time) {
        let (req, now, old) = (self.req, self.now, &ans.cand.lease);
        let mut lt = Lease {
            ip: old.ip,
            starts: now,
            cltt: now,
            hardware: Some(req.hardware()),
            ..Lease::default()
        };
        let offered_expiry = if ans.kind == Kind::Bootp {
            lt.bootp = true;
            lt.ends = bootp_lease_end(&sc.st, now);
            lt.next_state = BindingState::Active;
            lt.ends
        } else {
            let offered_expiry = end_time(now, lease_time(&sc.st, req));
            lt.ends = when.unwrap_or(offered_expiry);
            lt.next_state = if ans.kind == Kind::Ack {
                BindingState::Active
            } else {
                old.state_at(now)
            };
            offered_expiry
        };
        if sc.st.flag(Sv::IgnoreClientUids) != Some(true) {
            lt.uid = req.client_id().map(Uid::from);
        }
        lt.client_hostname = req.option(code::HOST_NAME).map(|h| {
            let end = h.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
            Box::from(&h[..end])
        });
        if let Some(vci) = req
            .option(code::VENDOR_CLASS_IDENTIFIER)
            .filter(|v| !v.is_empty())
        {
            sc.vars
                .set("vendor-class-identifier", Val::Data(vci.to_vec()));
        }
        if ans.kind != Kind::Offer
            && let Some(key) = billed
        {
            sc.vars.set("billing-class", Val::Data(key));
        }
        let agent_options = if !self.agent_stashed
            && req.option(code::RELAY_AGENT_INFORMATION).is_some()
            && sc.st.flag(Sv::StashAgentOptions) != Some(false)
        {
            req.agent_options()
                .into_iter()
                .map(|(c, d)| (c, d.to_vec()))
                .collect()
        } else {
            old.agent_options().to_vec()
        };
        let bindings = bindings_of(&sc.vars);
        lt.edit_rare(|r| {
            r.bindings = bindings;
            r.agent_options = agent_options;
        });
        (lt, offered_expiry)
    }

    /// Record the new lease, or with ISC's `dhcp-cache-threshold` keep the client's young
    /// lease (its hostname and variables updated); returns the end time the client is told.
    fn record_lease(
        &mut self,
        ans: &Answer<'_>,
        new: &Lease,
        st: &OptionState,
        offered_expiry: Time,
    ) -> Time {
        let old = &ans.cand.lease;
        if let Some(ends) = self.reusable(old, new, st) {
            let mut l = old.clone();
            l.client_hostname = new.client_hostname.clone();
            l.edit_rare(|r| {
                r.bindings = new.bindings().to_vec();
                r.on = new.on().clone();
            });
            l.cltt = self.now;
            self.change(l, false);
            return ends;
        }
        let mut l = new.clone();
        if ans.kind == Kind::Offer {
            l.state = l.next_state;
            l.rewind_state = old.rewind_state;
            l.next_state = l.state;
        } else {
            l.state = BindingState::Active;
            l.next_state = BindingState::Free;
            l.rewind_state = BindingState::Free;
        }
        self.change(l, ans.kind != Kind::Offer);
        offered_expiry
    }

    /// The protocol options of an OFFER or ACK (message type, server identifier, lease
    /// times) and ISC's defaults, set in ISC's order (which decides the option order of a
    /// reply without a request list).
    fn lease_options(&mut self, ans: &Answer<'_>, offered: Time, st: &mut OptionState) {
        let req = self.req;
        // Echoed only when it was honoured (RFC 3011): on relayed packets.
        if let Some(sel) = req.option(code::SUBNET_SELECTION)
            && !req.giaddr.is_unspecified()
        {
            st.set(DHCP, code::SUBNET_SELECTION, sel.to_vec());
        }
        if ans.kind != Kind::Bootp {
            let t = if ans.kind == Kind::Ack {
                msg::ACK
            } else {
                msg::OFFER
            };
            st.set(DHCP, code::MESSAGE_TYPE, vec![t]);
            self.default_server_id(st);
            set_lease_times(
                st,
                u32::try_from((offered - self.now).max(0)).unwrap_or(u32::MAX),
            );
        }
        default_mask_and_name(st, ans.subnet.mask, ans.host);
        if st.flag(Sv::EchoClientId) == Some(true)
            && let Some(id) = req.client_id()
        {
            st.set(DHCP, code::CLIENT_IDENTIFIER, id.to_vec());
        }
        self.lease_hostname(ans.cand.lease.ip, st);
        if st.flag(Sv::UseLeaseAddrForDefaultRoute) == Some(true) && !st.has(DHCP, code::ROUTER) {
            st.set(DHCP, code::ROUTER, ans.cand.lease.ip.octets().to_vec());
        }
    }

    /// `get-lease-hostnames`: a reply without a host name (configured, or a host's with
    /// `use-host-decl-names`) gets the lease address's name by reverse lookup, with a NUL
    /// at its end as ISC sends it, or ISC's `No hostname for …` line when the lookup found
    /// none (both seen in ISC 4.4.3's replies). The lookups are the shell's, made ahead of
    /// time; an address not looked up yet gets no name.
    fn lease_hostname(&mut self, ip: Ipv4Addr, st: &mut OptionState) {
        if st.has(DHCP, code::HOST_NAME) || st.flag(Sv::GetLeaseHostnames) != Some(true) {
            return;
        }
        match self.facts.lease_hostnames.and_then(|names| names.get(&ip)) {
            Some(Some(name)) => {
                let mut value = name.as_bytes().to_vec();
                value.push(0);
                st.set(DHCP, code::HOST_NAME, value);
            }
            Some(None) => self.log(format!("No hostname for {ip}")),
            None => {}
        }
    }

    /// The OFFER, ACK or BOOTREPLY: header fields, boot fields, options laid out as ISC's
    /// `cons_options` does, destination.
    fn lease_reply(&self, ans: &Answer<'_>, st: &OptionState) -> Reply {
        let req = self.req;
        let mut r = Reply::to(req);
        r.ciaddr = req.ciaddr;
        r.yiaddr = ans.cand.lease.ip;
        if st.flag(Sv::AlwaysBroadcast) == Some(true) {
            r.flags |= BROADCAST_FLAG;
        }
        if let Some(ns) = next_server(st) {
            r.siaddr = ns;
        }
        (r.file, r.sname) = boot_fields(st);
        let size = |d: &[u8]| <[u8; 2]>::try_from(d).ok();
        let mms = req
            .option(code::MAX_MESSAGE_SIZE)
            .and_then(size)
            .or_else(|| st.get(DHCP, code::MAX_MESSAGE_SIZE).and_then(size))
            .map(u16::from_be_bytes);
        let prl = request_list(st, req);
        let laid = cons_options(
            self.cfg,
            req,
            &Cons {
                st,
                prl: prl.as_deref(),
                bootpp: ans.kind == Kind::Bootp,
                mms,
                file_free: !st.has(SERVER, Sv::Filename),
                sname_free: !st.has(SERVER, Sv::ServerName),
                echo_client_id: st.flag(Sv::EchoClientId) == Some(true),
                agent: self.agent_echo(),
            },
        );
        r.lay_out(laid);
        let same_network = self.interface_network() == Some(ans.subnet.shared);
        r.dest = lease_dest(req, &r, same_network, ans.kind == Kind::Ack);
        r
    }

    /// Log the reply as ISC does, note an inventory machine's boot, and send it.
    fn send_lease_reply(&mut self, ans: &Answer<'_>, reply: Reply, hostname: Option<Box<[u8]>>) {
        let req = self.req;
        let logged = Lease {
            client_hostname: hostname,
            ..Lease::default()
        };
        self.log(format!(
            "{} on {} to {} {}via {}",
            ans.kind.name(),
            ans.cand.lease.ip,
            req.hw_text(),
            hostname_part(Some(&logged)),
            via(req)
        ));
        if ans.kind != Kind::Offer {
            self.out.boot = BootNote::of(ans.host, ans.kind.name(), &reply);
        }
        self.out.reason = ans.kind.reason();
        self.out.reply = Some(reply);
    }

    /// ISC's `reuse_lease` (`dhcp-cache-threshold`, 25% by default): a client renewing an
    /// active lease young enough keeps it unchanged; returns its end time then.
    fn reusable(&self, old: &Lease, new: &Lease, st: &OptionState) -> Option<Time> {
        if old.state_at(self.now) != BindingState::Active
            || old.uid != new.uid
            || old.hardware != new.hardware
        {
            return None;
        }
        let thresh = match st.get(SERVER, Sv::CacheThreshold) {
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
    l.bindings()
        .iter()
        .any(|(n, v)| n == "billing-class" && *v == BindingValue::Data(key.to_vec()))
}
