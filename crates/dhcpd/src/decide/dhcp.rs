//! The DHCP messages, as ISC's `dhcp.c` handles them: DISCOVER (offer the client's lease or
//! a free one), REQUEST (selecting, init-reboot, renewing, rebinding: ACK, NAK when
//! authoritative, or silence), RELEASE, DECLINE (abandon), INFORM, and the NAK itself.

use std::net::Ipv4Addr;

use crate::eval::{Bindings, Effects, OptionState};
use crate::lease::{BindingState, Lease};
use crate::model::{DHCP, GroupId, SERVER};
use crate::request::msg;

use super::ack::Kind;
use super::packet::Ctx;
use super::reply::{Cons, Dest, Reply, cons_options, field};
use super::{Ignore, NakReason, Reason, hostname_part, via};

/// ISC's `abandon-lease-time` default.
const DEFAULT_ABANDON_LEASE_TIME: i64 = 86_400;

/// ISC's `dhcp()`: locate the network, classify, dispatch.
pub(super) fn dhcp(ctx: &mut Ctx<'_>, t: u8) {
    let located = ctx.locate_network();
    if !located && t != msg::REQUEST && t != msg::INFORM {
        let who = ctx.req.hw_text();
        ctx.log(format!(
            "{} from {} via {}: unknown network segment",
            msg::name(t),
            who,
            via(ctx.req)
        ));
        ctx.ignore(Ignore::UnknownNetwork);
        return;
    }
    ctx.classify();
    match t {
        msg::DISCOVER => discover(ctx),
        msg::REQUEST => request(ctx),
        msg::RELEASE => release(ctx),
        msg::DECLINE => decline(ctx),
        msg::INFORM => inform(ctx),
        msg::OFFER | msg::ACK | msg::NAK | 10..=13 => ctx.ignore(Ignore::ServerMessage),
        _ => {
            ctx.log(format!(
                "{} from {} via {}: unknown packet type",
                msg::name(t),
                ctx.req.hw_text(),
                via(ctx.req)
            ));
            ctx.ignore(Ignore::UnknownMessageType);
        }
    }
}

fn discover(ctx: &mut Ctx<'_>) {
    let Some(share) = ctx.shared else { return };
    let found = ctx.find_lease(share, None);
    let text = format!(
        "DHCPDISCOVER from {} {}via {}",
        ctx.req.hw_text(),
        hostname_part(found.lease.as_ref().map(|c| &c.lease)),
        via(ctx.req)
    );
    let cand = match found.lease {
        Some(c) => c,
        None => match ctx.allocate(share) {
            Some(c) => c,
            None => {
                let name = ctx
                    .cfg
                    .shared
                    .get(share)
                    .map_or("", |s| s.name.as_str())
                    .to_string();
                ctx.log(text.clone());
                ctx.log(format!("{text}: network {name}: no free leases"));
                ctx.ignore(Ignore::NoFreeLeases);
                return;
            }
        },
    };
    let mut cand = cand;
    if cand.lease.ends < ctx.now {
        cand.lease.bindings.clear();
    }
    // An offer holds the address for two minutes, or until the current lease ends.
    let when = (ctx.now + 120).max(cand.lease.ends);
    ctx.ack_lease(cand, Kind::Offer, Some(when), text, None);
}

fn request(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let requested = req.option_ip(50);
    let cip = requested.unwrap_or(req.ciaddr);
    let subnet = ctx.cfg.find_subnet(cip);
    let mut found = super::find::Found::default();
    if let Some(s) = subnet.and_then(|s| ctx.cfg.subnets.get(s)) {
        let share = s.shared;
        found = ctx.find_lease(share, None);
    }
    let sid = req
        .option_ip(54)
        .map(|ip| format!(" ({ip})"))
        .unwrap_or_default();
    let text = format!(
        "DHCPREQUEST for {cip}{sid} from {} {}via {}",
        req.hw_text(),
        hostname_part(found.lease.as_ref().map(|c| &c.lease)),
        via(req)
    );
    let has_ci = !req.ciaddr.is_unspecified();
    let has_gi = !req.giaddr.is_unspecified();
    let mut nak_group: Option<GroupId> =
        subnet.and_then(|s| ctx.cfg.subnets.get(s)).map(|s| s.group);
    if ctx.shared.is_none() || (has_ci && has_gi) || (requested.is_some() && !has_ci) {
        match ctx.shared {
            None => {
                if let Some(s) = subnet.and_then(|s| ctx.cfg.subnets.get(s))
                    && ctx.cfg.groups.get(s.group).is_some_and(|g| g.authoritative)
                {
                    ctx.log(format!("{text}: wrong network."));
                    nak(ctx, cip, None, NakReason::WrongNetwork);
                    return;
                }
                let why = if subnet.is_some() {
                    "not authoritative"
                } else {
                    "unknown subnet"
                };
                ctx.log(format!("{text}: ignored ({why})."));
                ctx.ignore(if subnet.is_some() {
                    Ignore::NotAuthoritative
                } else {
                    Ignore::UnknownSubnet
                });
                return;
            }
            Some(share) => match ctx.cfg.find_grouped_subnet(share, cip) {
                Some(s) => nak_group = ctx.cfg.subnets.get(s).map(|s| s.group),
                None => {
                    let auth = ctx
                        .cfg
                        .shared
                        .get(share)
                        .and_then(|s| ctx.cfg.groups.get(s.group))
                        .is_some_and(|g| g.authoritative);
                    if auth {
                        ctx.log(format!("{text}: wrong network."));
                        nak(ctx, cip, None, NakReason::WrongNetwork);
                    } else {
                        ctx.log(format!("{text}: ignored (not authoritative)."));
                        ctx.ignore(Ignore::NotAuthoritative);
                    }
                    return;
                }
            },
        }
    }
    match found.lease {
        None if found.ours => {
            ctx.log(format!("{text}: lease {cip} unavailable."));
            nak(ctx, cip, nak_group, NakReason::LeaseUnavailable);
        }
        Some(c) => ctx.ack_lease(c, Kind::Ack, None, text, None),
        None => {
            ctx.log(format!("{text}: unknown lease {cip}."));
            ctx.ignore(Ignore::UnknownLease);
        }
    }
}

fn release(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    if req.option(50).is_some() {
        ctx.log(format!(
            "DHCPRELEASE from {} specified requested-address.",
            req.hw_text()
        ));
    }
    let mut lease: Option<Lease> = None;
    if let Some(cid) = req.client_id() {
        lease = ctx
            .leases_of(None, Some(cid))
            .into_iter()
            .find(|l| l.ip == req.ciaddr);
    }
    if lease.is_none() {
        lease = ctx.lease_at(req.ciaddr);
    }
    let hw = req.hardware();
    if lease
        .as_ref()
        .is_some_and(|l| l.hardware.as_ref() != Some(&hw))
    {
        lease = None;
    }
    let text = format!(
        "DHCPRELEASE of {} from {} {}via {} ({}found)",
        req.ciaddr,
        req.hw_text(),
        hostname_part(lease.as_ref()),
        via(req),
        if lease.is_some() { "" } else { "not " }
    );
    if let Some(l) = &lease
        && l.ends > ctx.now
    {
        ctx.release(l);
    }
    ctx.out.reason = Reason::Released {
        found: lease.is_some(),
    };
    ctx.log(text);
}

fn decline(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let Some(cip) = req.option_ip(50) else {
        ctx.ignore(Ignore::DeclineWithoutAddress);
        return;
    };
    let lease = ctx.lease_at(cip);
    let text = format!(
        "DHCPDECLINE of {cip} from {} {}via {}",
        req.hw_text(),
        hostname_part(lease.as_ref()),
        via(req)
    );
    let mut st = OptionState::new();
    let mut vars = Bindings::new();
    let subnet_group = lease
        .as_ref()
        .and_then(|l| ctx.cfg.pool_of(l.ip))
        .and_then(|(_, r)| ctx.cfg.subnets.get(r.subnet))
        .map(|s| s.group);
    if let Some(g) = subnet_group {
        let mut fx = Effects::default();
        ctx.env(None, None, false)
            .run_scope(g, None, &mut st, &mut vars, &mut fx);
        ctx.apply_effects(fx);
    }
    ctx.run_classes(subnet_group, None, &mut st, &mut vars);
    let declines = st.get(SERVER, 29).and_then(|d| d.first().copied());
    let allowed = declines.is_none_or(|v| v != 0 && v != 2);
    let status = if allowed {
        match &lease {
            Some(l) => {
                let mut n = l.clone();
                let abandon = st
                    .u32(SERVER, 89)
                    .map_or(DEFAULT_ABANDON_LEASE_TIME, i64::from);
                n.ends = (ctx.now + abandon).min(crate::lease::MAX_TIME);
                n.state = BindingState::Abandoned;
                n.next_state = BindingState::Abandoned;
                n.rewind_state = BindingState::Abandoned;
                n.hardware = None;
                n.uid = None;
                n.bindings.clear();
                n.client_hostname = None;
                n.tstp = n.ends;
                ctx.log(format!("Abandoning IP address {cip}: declined."));
                ctx.change(n, true);
                ctx.out.reason = Reason::Declined { found: true };
                "abandoned"
            }
            None => {
                ctx.out.reason = Reason::Declined { found: false };
                "not found"
            }
        }
    } else {
        ctx.ignore(Ignore::DeclinesIgnored);
        "ignored"
    };
    if declines != Some(2) {
        ctx.log(format!("{text}: {status}"));
    }
}

fn inform(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let cfg = ctx.cfg;
    let zero_ci = req.ciaddr.is_unspecified();
    let cip = if zero_ci { req.meta.src } else { req.ciaddr };
    let mut sip = cip;
    let has_gi = !req.giaddr.is_unspecified();
    if has_gi && zero_ci {
        sip = req.giaddr;
    }
    let text = format!("DHCPINFORM from {cip} via {}", via(req));
    if cip.is_unspecified() {
        ctx.log(format!("{text}: ignored (null source address)."));
        ctx.ignore(Ignore::InformNullSource);
        return;
    }
    let mut st = OptionState::new();
    let sel = req
        .agent_options()
        .into_iter()
        .find(|(c, _)| *c == 5)
        .map(|(_, d)| d.to_vec())
        .or_else(|| req.option(118).map(<[u8]>::to_vec));
    if let Some(d) = sel {
        match <[u8; 4]>::try_from(d.as_slice()) {
            Ok(b) => sip = Ipv4Addr::from(b),
            Err(_) => {
                ctx.log(format!(
                    "{text}: ignored (invalid subnet selection option)."
                ));
                ctx.ignore(Ignore::InformUnknownSubnet);
                return;
            }
        }
        if let Some(o) = req.option(118) {
            st.set(DHCP, 118, o.to_vec());
        }
    }
    let Some(subnet) = cfg.find_subnet(sip).and_then(|s| cfg.subnets.get(s)) else {
        ctx.log(format!("{text}: unknown subnet for address {sip}"));
        ctx.ignore(Ignore::InformUnknownSubnet);
        return;
    };
    if !cfg
        .groups
        .get(subnet.group)
        .is_some_and(|g| g.authoritative)
    {
        ctx.log(format!(
            "{text}: not authoritative for subnet {}",
            subnet.net
        ));
        ctx.ignore(Ignore::InformNotAuthoritative);
        return;
    }
    let mut vars = Bindings::new();
    let mut fx = Effects::default();
    ctx.env(None, None, false)
        .run_scope(subnet.group, None, &mut st, &mut vars, &mut fx);
    if !zero_ci
        && let Some((pid, _)) = cfg.pool_of(cip)
        && let Some(p) = cfg.pools.get(pid)
    {
        let share_group = cfg.shared.get(p.shared).map(|s| s.group);
        ctx.env(None, None, false)
            .run_scope(p.group, share_group, &mut st, &mut vars, &mut fx);
    }
    ctx.apply_effects(fx);
    ctx.run_classes(Some(subnet.group), None, &mut st, &mut vars);
    // A host: one whose fixed address is the client's, else one without fixed address.
    let mut host = None;
    for list in [ctx.hosts_by_uid(), ctx.hosts_by_hw()] {
        let exact = list
            .iter()
            .copied()
            .find(|h| cfg.hosts.get(*h).is_some_and(|h| h.fixed.contains(&cip)));
        host = exact.or(host).or_else(|| ctx.dynamic_host(&list));
        if exact.is_some() {
            break;
        }
    }
    if let Some(h) = host.and_then(|h| cfg.hosts.get(h)) {
        let mut fx = Effects::default();
        ctx.env(None, Some(h), false).run_scope(
            h.group,
            Some(subnet.group),
            &mut st,
            &mut vars,
            &mut fx,
        );
        ctx.apply_effects(fx);
    }
    let mut r = Reply::to(req);
    r.file = field(st.get(SERVER, 15), 128);
    r.sname = field(st.get(SERVER, 16), 64);
    st.set(DHCP, 53, vec![msg::ACK]);
    if st.get(DHCP, 54).is_none_or(|d| d.len() != 4)
        && let Some(a) = ctx.interface_address()
    {
        st.set(DHCP, 54, a.octets().to_vec());
    }
    if !st.has(DHCP, 1) {
        st.set(DHCP, 1, subnet.mask.octets().to_vec());
    }
    let prl = st
        .get(DHCP, 55)
        .map(<[u8]>::to_vec)
        .or_else(|| req.option(55).map(<[u8]>::to_vec));
    ctx.log(text);
    if let Some(ns) = st.get(SERVER, 17).filter(|d| d.len() >= 4) {
        r.siaddr = Ipv4Addr::new(ns[0], ns[1], ns[2], ns[3]);
    }
    for code in [51, 58, 59] {
        st.remove(DHCP, code);
    }
    // ISC answers an INFORM without overloading `file`/`sname`.
    let laid = cons_options(
        cfg,
        req,
        &Cons {
            st: &st,
            prl: prl.as_deref(),
            bootpp: false,
            mms: None,
            file_free: false,
            sname_free: false,
            echo_client_id: false,
            agent: ctx.agent_echo(),
        },
    );
    r.options = laid.options;
    if let Some(f) = laid.file {
        r.file = f;
    }
    if let Some(s) = laid.sname {
        r.sname = s;
    }
    r.ciaddr = req.ciaddr;
    if zero_ci && has_gi {
        r.flags |= 0x8000;
        r.dest = Dest::Relay(req.giaddr);
        ctx.log(format!(
            "DHCPACK to {cip} ({}) via {}",
            req.hw_text(),
            req.giaddr
        ));
    } else {
        r.dest = Dest::Unicast(cip);
        ctx.log(format!(
            "DHCPACK to {cip} ({}) via {}",
            req.hw_text(),
            req.meta.iface
        ));
    }
    ctx.out.reason = Reason::InformAck;
    ctx.out.reply = Some(r);
}

/// ISC's `nak_lease`.
fn nak(ctx: &mut Ctx<'_>, cip: Ipv4Addr, network_group: Option<GroupId>, why: NakReason) {
    let req = ctx.req;
    let cfg = ctx.cfg;
    let mut opts = OptionState::new();
    opts.set(DHCP, 53, vec![msg::NAK]);
    if let Some(m) = ctx.dhcp_message {
        opts.set(DHCP, 56, m.as_bytes().to_vec());
    }
    // The server identifier and echo-client-id come from the network's scopes.
    let mut eval = OptionState::new();
    let mut vars = Bindings::new();
    let mut fx = Effects::default();
    let env = ctx.env(None, None, false);
    match ctx.shared.and_then(|s| cfg.shared.get(s)) {
        Some(sh) => {
            let first = sh
                .subnets
                .first()
                .and_then(|s| cfg.subnets.get(*s))
                .map_or(sh.group, |s| s.group);
            env.run_scope(first, None, &mut eval, &mut vars, &mut fx);
            if let Some(p) = sh.pools.first().and_then(|p| cfg.pools.get(*p)) {
                env.run_scope(p.group, Some(sh.group), &mut eval, &mut vars, &mut fx);
            }
        }
        None => env.run_scope(
            network_group.unwrap_or(crate::model::ROOT),
            None,
            &mut eval,
            &mut vars,
            &mut fx,
        ),
    }
    let server_id = eval
        .get(DHCP, 54)
        .filter(|d| d.len() == 4)
        .map(<[u8]>::to_vec)
        .or_else(|| ctx.interface_address().map(|a| a.octets().to_vec()));
    if let Some(sid) = server_id {
        opts.set(DHCP, 54, sid);
    }
    ctx.run_classes(None, None, &mut eval, &mut vars);
    if eval.flag(85) == Some(true)
        && let Some(id) = req.client_id()
    {
        opts.set(DHCP, 61, id.to_vec());
    }
    let laid = cons_options(
        cfg,
        req,
        &Cons {
            st: &opts,
            prl: None,
            bootpp: false,
            mms: None,
            file_free: false,
            sname_free: false,
            echo_client_id: false,
            agent: ctx.agent_echo(),
        },
    );
    let mut r = Reply::to(req);
    r.options = laid.options;
    r.flags |= 0x8000;
    r.dest = if req.giaddr.is_unspecified() {
        Dest::Broadcast
    } else {
        Dest::Relay(req.giaddr)
    };
    ctx.log(format!(
        "DHCPNAK on {cip} to {} via {}",
        req.hw_text(),
        via(req)
    ));
    ctx.out.reason = Reason::Nak(why);
    ctx.out.reply = Some(r);
}
