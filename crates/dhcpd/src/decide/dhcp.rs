//! The DHCP messages, as ISC's `dhcp.c` handles them: DISCOVER (offer the client's lease or
//! a free one), REQUEST (selecting, init-reboot, renewing, rebinding: ACK, NAK when
//! authoritative, or silence), RELEASE, DECLINE (abandon), INFORM, and the NAK itself.

use std::net::Ipv4Addr;

use crate::eval::state::IGNORE;
use crate::eval::{Effects, OptionState, Sv};
use crate::lease::{BindingState, DECLINE_INTERVAL, DeclineMark, Lease};
use crate::model::{DHCP, GroupId, HostId, PoolId, ROOT, SERVER, Subnet};
use crate::request::{BROADCAST_FLAG, code, msg};

use super::ack::Kind;
use super::find::Found;
use super::packet::{Ctx, Scoped};
use super::reply::{
    Cons, Dest, Reply, boot_fields, cons_options, default_mask_and_name, next_server, request_list,
};
use super::{Ignore, NakReason, Reason, hostname_part, via};

/// ISC's `abandon-lease-time` default.
pub(super) const DEFAULT_ABANDON_LEASE_TIME: i64 = 86_400;

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
        msg::OFFER | msg::ACK | msg::NAK | msg::LEASEQUERY..=msg::LEASEACTIVE => {
            ctx.ignore(Ignore::ServerMessage)
        }
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
        cand.lease.edit_rare(|r| r.bindings.clear());
    }
    // An offer holds the address for two minutes, or until the current lease ends.
    let when = (ctx.now + 120).max(cand.lease.ends);
    ctx.ack_lease(cand, Kind::Offer, Some(when), text, None);
}

fn request(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let cfg = ctx.cfg;
    let requested = req.option_ip(code::REQUESTED_IP_ADDRESS);
    let cip = requested.unwrap_or(req.ciaddr);
    let subnet = cfg.find_subnet(cip).and_then(|s| cfg.subnets.get(s));
    let found = match subnet {
        Some(s) => ctx.find_lease(s.shared, None),
        None => Found::default(),
    };
    let sid = req
        .option_ip(code::SERVER_IDENTIFIER)
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
    let mut nak_group: Option<GroupId> = subnet.map(|s| s.group);
    // From an unknown network, through a relay while renewing, or in INIT-REBOOT: the
    // address must be on the client's network.
    if ctx.shared.is_none() || (has_ci && has_gi) || (requested.is_some() && !has_ci) {
        match ctx.shared {
            None => {
                wrong_network(ctx, &text, cip, subnet.map(|s| s.group), subnet.is_some());
                return;
            }
            Some(share) => match cfg.find_grouped_subnet(share, cip) {
                Some(s) => nak_group = cfg.subnets.get(s).map(|s| s.group),
                None => {
                    let share_group = cfg.shared.get(share).map(|s| s.group);
                    wrong_network(ctx, &text, cip, share_group, true);
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

/// A DHCPREQUEST for an address that is not on the client's network: a NAK when `group`
/// (the address's subnet, or the client's network) is authoritative, else silence.
fn wrong_network(
    ctx: &mut Ctx<'_>,
    text: &str,
    cip: Ipv4Addr,
    group: Option<GroupId>,
    known_subnet: bool,
) {
    if group.is_some_and(|g| ctx.authoritative(g)) {
        ctx.log(format!("{text}: wrong network."));
        nak(ctx, cip, None, NakReason::WrongNetwork);
        return;
    }
    let (why, ignore) = if known_subnet {
        ("not authoritative", Ignore::NotAuthoritative)
    } else {
        ("unknown subnet", Ignore::UnknownSubnet)
    };
    ctx.log(format!("{text}: ignored ({why})."));
    ctx.ignore(ignore);
}

fn release(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    if req.option(code::REQUESTED_IP_ADDRESS).is_some() {
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
    let Some(cip) = req.option_ip(code::REQUESTED_IP_ADDRESS) else {
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
    let mut sc = Scoped::default();
    let subnet_group = lease
        .as_ref()
        .and_then(|l| ctx.cfg.pool_of(l.ip))
        .and_then(|(_, r)| ctx.cfg.subnets.get(r.subnet))
        .map(|s| s.group);
    if let Some(g) = subnet_group {
        ctx.run_scopes(&[(g, None)], None, None, &mut sc);
    }
    ctx.run_classes(subnet_group, None, &mut sc);
    let st = &sc.st;
    let declines = st
        .get(SERVER, Sv::Declines)
        .and_then(|d| d.first().copied());
    let allowed = declines.is_none_or(|v| v != 0 && v != IGNORE);
    let refusal = lease.as_ref().and_then(|l| decline_refusal(ctx, l));
    let status = if !allowed {
        ctx.ignore(Ignore::DeclinesIgnored);
        "ignored"
    } else if let Some((why, text)) = refusal {
        ctx.ignore(why);
        text
    } else if let Some(l) = &lease {
        abandon(ctx, l, st);
        let mark = DeclineMark {
            hardware: req.hardware(),
            uid: req.client_id().map(<[u8]>::to_vec),
            at: ctx.now,
        };
        if let Some(c) = ctx.out.changes.iter_mut().find(|c| c.lease.ip == l.ip) {
            c.decline = Some(mark);
        }
        ctx.out.reason = Reason::Declined { found: true };
        "abandoned"
    } else {
        ctx.out.reason = Reason::Declined { found: false };
        "not found"
    };
    if refusal.is_some() || !st.ignored(Sv::Declines) {
        ctx.log(format!("{text}: {status}"));
    }
}

/// Why a DHCPDECLINE of `l` is not honoured, if it is not (unlike ISC 4.4, which abandons
/// the address whoever declines it): only the lease's owner (its client identifier when
/// both sides have one, else its hardware address) may decline it, only while it holds the
/// address or has just been offered it, and at most once per [`DECLINE_INTERVAL`].
fn decline_refusal(ctx: &Ctx<'_>, l: &Lease) -> Option<(Ignore, &'static str)> {
    let req = ctx.req;
    let hw = req.hardware();
    let owner = match (&l.uid, req.client_id()) {
        (Some(u), Some(c)) => u.as_slice() == c,
        _ => l.has_hardware(&hw),
    };
    if !owner {
        return Some((Ignore::DeclineNotOwner, "ignored (not the lease's client)"));
    }
    let held = l.ends > ctx.now && l.state_at(ctx.now) != BindingState::Abandoned;
    if !held {
        return Some((
            Ignore::DeclineNotOwner,
            "ignored (address neither held nor offered)",
        ));
    }
    if let Some(t) = ctx.leases.last_decline(&hw, req.client_id())
        && ctx.now - t < DECLINE_INTERVAL
    {
        return Some((
            Ignore::DeclineTooSoon,
            "ignored (client declined less than a minute ago)",
        ));
    }
    None
}

/// ISC's `abandon_lease` for a declined address: no owner, for `abandon-lease-time`. An
/// active lease leaving `active` runs its `on expiry` statements, as in ISC: for the
/// abandoned lease (no hardware address, no variables).
fn abandon(ctx: &mut Ctx<'_>, l: &Lease, st: &OptionState) {
    let abandon = st
        .u32(SERVER, Sv::AbandonLeaseTime)
        .map_or(DEFAULT_ABANDON_LEASE_TIME, i64::from);
    let mut n = super::abandoned(l, abandon, ctx.now);
    ctx.log(format!("Abandoning IP address {}: declined.", l.ip));
    if l.state_at(ctx.now) == BindingState::Active {
        let run = super::events::run_expiry(ctx.cfg, &n, ctx.now);
        ctx.out.hooks.extend(run.hooks);
        for line in run.logs {
            ctx.log(line);
        }
    }
    n.edit_rare(|r| r.on = crate::model::OnStar::default());
    ctx.change(n, true);
}

fn inform(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let zero_ci = req.ciaddr.is_unspecified();
    let cip = if zero_ci { req.meta.src } else { req.ciaddr };
    let text = format!("DHCPINFORM from {cip} via {}", via(req));
    if cip.is_unspecified() {
        ctx.log(format!("{text}: ignored (null source address)."));
        ctx.ignore(Ignore::InformNullSource);
        return;
    }
    let mut sc = Scoped::default();
    let Some(subnet) = inform_subnet(ctx, &text, cip, &mut sc.st) else {
        return;
    };
    let pool = if zero_ci {
        None
    } else {
        ctx.cfg.pool_of(cip).map(|(pid, _)| pid)
    };
    inform_scopes(ctx, subnet, pool, cip, &mut sc);
    inform_ack(ctx, subnet, &mut sc.st, cip, text);
}

/// The subnet a DHCPINFORM is answered for, if authoritative: the selection option's
/// address, else the relay's (for a client without `ciaddr`), else the client's.
fn inform_subnet<'c>(
    ctx: &mut Ctx<'c>,
    text: &str,
    cip: Ipv4Addr,
    st: &mut OptionState,
) -> Option<&'c Subnet> {
    let req = ctx.req;
    let cfg = ctx.cfg;
    let mut sip = if !req.giaddr.is_unspecified() && req.ciaddr.is_unspecified() {
        req.giaddr
    } else {
        cip
    };
    if let Some(d) = req.link_selection() {
        match <[u8; 4]>::try_from(d) {
            Ok(b) => sip = Ipv4Addr::from(b),
            Err(_) => {
                ctx.log(format!(
                    "{text}: ignored (invalid subnet selection option)."
                ));
                ctx.ignore(Ignore::InformUnknownSubnet);
                return None;
            }
        }
        if let Some(o) = req.option(code::SUBNET_SELECTION) {
            st.set(DHCP, code::SUBNET_SELECTION, o.to_vec());
        }
    }
    let Some(subnet) = cfg.find_subnet(sip).and_then(|s| cfg.subnets.get(s)) else {
        ctx.log(format!("{text}: unknown subnet for address {sip}"));
        ctx.ignore(Ignore::InformUnknownSubnet);
        return None;
    };
    if !ctx.authoritative(subnet.group) {
        ctx.log(format!(
            "{text}: not authoritative for subnet {}",
            subnet.net
        ));
        ctx.ignore(Ignore::InformNotAuthoritative);
        return None;
    }
    Some(subnet)
}

/// The scopes of a DHCPINFORM: the subnet's, the pool's of the client's address, the
/// classes', and a host's.
fn inform_scopes(
    ctx: &mut Ctx<'_>,
    subnet: &Subnet,
    pool: Option<PoolId>,
    cip: Ipv4Addr,
    sc: &mut Scoped,
) {
    let mut scopes = vec![(subnet.group, None)];
    scopes.extend(pool.and_then(|p| ctx.pool_scope(p)));
    ctx.run_scopes(&scopes, None, None, sc);
    ctx.run_classes(Some(subnet.group), None, sc);
    if let Some(h) = inform_host(ctx, cip).and_then(|h| ctx.cfg.hosts.get(h)) {
        ctx.run_scopes(&[(h.group, Some(subnet.group))], None, Some(h), sc);
    }
}

/// The host of a DHCPINFORM client: one whose fixed address is the client's, else one
/// without a fixed address (by client identifier, then by hardware address).
fn inform_host(ctx: &Ctx<'_>, cip: Ipv4Addr) -> Option<HostId> {
    let mut host = None;
    for list in [ctx.hosts_by_uid(), ctx.hosts_by_hw()] {
        let exact = list.iter().copied().find(|h| {
            ctx.cfg
                .hosts
                .get(*h)
                .is_some_and(|h| h.fixed.contains(&cip))
        });
        host = exact.or(host).or_else(|| ctx.dynamic_host(&list));
        if exact.is_some() {
            break;
        }
    }
    host
}

/// The DHCPACK to a DHCPINFORM: no lease times, `file`/`sname` not overloaded; to the
/// relay (broadcast) for a client without `ciaddr` behind one, else to the client.
fn inform_ack(
    ctx: &mut Ctx<'_>,
    subnet: &Subnet,
    st: &mut OptionState,
    cip: Ipv4Addr,
    text: String,
) {
    let req = ctx.req;
    let mut r = Reply::to(req);
    (r.file, r.sname) = boot_fields(st);
    st.set(DHCP, code::MESSAGE_TYPE, vec![msg::ACK]);
    ctx.default_server_id(st);
    // The subnet mask only: no host name from a host declaration.
    default_mask_and_name(st, subnet.mask, None);
    let prl = request_list(st, req);
    ctx.log(text);
    if let Some(ns) = next_server(st) {
        r.siaddr = ns;
    }
    for c in [code::LEASE_TIME, code::RENEWAL_TIME, code::REBINDING_TIME] {
        st.remove(DHCP, c);
    }
    let laid = cons_options(
        ctx.cfg,
        req,
        &Cons {
            prl: prl.as_deref(),
            agent: ctx.agent_echo(),
            ..Cons::plain(st)
        },
    );
    r.lay_out(laid);
    r.ciaddr = req.ciaddr;
    let relayed = req.ciaddr.is_unspecified() && !req.giaddr.is_unspecified();
    let via = if relayed {
        r.flags |= BROADCAST_FLAG;
        r.dest = Dest::Relay(req.giaddr);
        req.giaddr.to_string()
    } else {
        r.dest = Dest::Unicast(cip);
        req.meta.iface.clone()
    };
    ctx.log(format!("DHCPACK to {cip} ({}) via {via}", req.hw_text()));
    ctx.out.reason = Reason::InformAck;
    ctx.out.reply = Some(r);
}

/// ISC's `nak_lease`.
fn nak(ctx: &mut Ctx<'_>, cip: Ipv4Addr, network_group: Option<GroupId>, why: NakReason) {
    let req = ctx.req;
    let mut opts = OptionState::new();
    opts.set(DHCP, code::MESSAGE_TYPE, vec![msg::NAK]);
    if let Some(m) = ctx.dhcp_message {
        opts.set(DHCP, code::MESSAGE, m.as_bytes().to_vec());
    }
    // The server identifier and echo-client-id come from the network's scopes.
    let mut sc = nak_network_scopes(ctx, network_group);
    let server_id = sc
        .st
        .get(DHCP, code::SERVER_IDENTIFIER)
        .filter(|d| d.len() == 4)
        .map(<[u8]>::to_vec)
        .or_else(|| ctx.interface_address().map(|a| a.octets().to_vec()));
    if let Some(sid) = server_id {
        opts.set(DHCP, code::SERVER_IDENTIFIER, sid);
    }
    ctx.run_classes(None, None, &mut sc);
    if sc.st.flag(Sv::EchoClientId) == Some(true)
        && let Some(id) = req.client_id()
    {
        opts.set(DHCP, code::CLIENT_IDENTIFIER, id.to_vec());
    }
    let laid = cons_options(
        ctx.cfg,
        req,
        &Cons {
            agent: ctx.agent_echo(),
            ..Cons::plain(&opts)
        },
    );
    let mut r = Reply::to(req);
    r.options = laid.options;
    r.flags |= BROADCAST_FLAG;
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

/// The scopes a NAK reads: the client's network's first subnet and first pool, else
/// `network_group` (the requested address's subnet), else the global scope. What they
/// `add` or `log` is not applied.
fn nak_network_scopes(ctx: &Ctx<'_>, network_group: Option<GroupId>) -> Scoped {
    let cfg = ctx.cfg;
    let mut sc = Scoped::default();
    let mut fx = Effects::default();
    let env = ctx.env(None, None, false);
    let mut run = |group, limit| env.run_scope(group, limit, &mut sc.st, &mut sc.vars, &mut fx);
    match ctx.shared.and_then(|s| cfg.shared.get(s)) {
        Some(sh) => {
            let first = sh
                .subnets
                .first()
                .and_then(|s| cfg.subnets.get(*s))
                .map_or(sh.group, |s| s.group);
            run(first, None);
            if let Some(p) = sh.pools.first().and_then(|p| cfg.pools.get(*p)) {
                run(p.group, Some(sh.group));
            }
        }
        None => run(network_group.unwrap_or(ROOT), None),
    }
    sc
}
