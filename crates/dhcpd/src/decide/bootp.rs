//! BOOTP (RFC 951/1542) as ISC's `bootp.c`: a client with a fixed-address host gets that
//! address; one without gets a lease from a `range dynamic-bootp` (through `ack_lease`, an
//! infinite lease unless `dynamic-bootp-lease-length` says otherwise); the reply carries no
//! DHCP message type, server identifier or lease time.

use std::net::Ipv4Addr;

use crate::eval::{OptionState, Sv};
use crate::model::{HostDecl, SERVER, SharedId, Subnet};
use crate::request::BROADCAST_FLAG;

use super::ack::Kind;
use super::find::Cand;
use super::packet::{Ctx, Scoped};
use super::reply::{
    Cons, FILE_LEN, Reply, boot_fields, cons_options, default_mask_and_name, field, lease_dest,
    next_server,
};
use super::{BootNote, Ignore, Reason, via};

pub(super) fn bootp(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let text = format!("BOOTREQUEST from {} via {}", req.hw_text(), via(req));
    if !ctx.locate_network() {
        ctx.log(format!("{text}: network unknown"));
        ctx.ignore(Ignore::UnknownNetwork);
        return;
    }
    ctx.classify();
    let Some(share) = ctx.shared else { return };
    match ctx.find_lease(share, None).lease {
        Some(cand) if cand.fixed => fixed_client(ctx, cand, text),
        lease => dynamic_client(ctx, share, lease, text),
    }
}

/// A dynamic client: a host without a fixed address may still apply, and the address comes
/// from a pool that permits dynamic BOOTP clients (answered by `ack_lease`).
fn dynamic_client(ctx: &mut Ctx<'_>, share: SharedId, lease: Option<Cand>, text: String) {
    let hosts = ctx.hosts_by_hw();
    let host = lease
        .as_ref()
        .and_then(|c| c.host)
        .or_else(|| ctx.dynamic_host(&hosts));
    let Some(cand) = lease.or_else(|| ctx.allocate(share)) else {
        ctx.log(format!(
            "{text}: BOOTP from dynamic client and no dynamic leases"
        ));
        ctx.ignore(Ignore::NoBootpLease);
        return;
    };
    ctx.ack_lease(cand, Kind::Bootp, None, text, host);
}

/// A client with a fixed address: the subnet's, classes' and host's scopes, the access
/// rules, and the BOOTREPLY.
fn fixed_client(ctx: &mut Ctx<'_>, cand: Cand, text: String) {
    let cfg = ctx.cfg;
    let Some(subnet) = cfg.subnets.get(cand.subnet) else {
        return;
    };
    let mut sc = Scoped::default();
    ctx.run_scopes(&[(subnet.group, None)], Some(&cand), None, &mut sc);
    ctx.run_classes(Some(subnet.group), Some(&cand.lease), &mut sc);
    let host = cand.host.and_then(|h| cfg.hosts.get(h));
    if let Some(h) = host {
        ctx.run_scopes(
            &[(h.group, Some(subnet.group))],
            Some(&cand),
            Some(h),
            &mut sc,
        );
        ctx.apply_boot_plan(h, cand.lease.ip, &mut sc.st);
    }
    if ctx.access_denied(&sc.st, &text, false, true) {
        return;
    }
    let r = boot_reply(ctx, &cand, subnet, host, &mut sc.st);
    if ctx.interface_address().is_none() {
        ctx.log(format!(
            "{text}: Interface {} appears to have no IPv4 addresses, and so dhcpd cannot select a source address.",
            ctx.req.meta.iface
        ));
        ctx.ignore(Ignore::UnknownNetwork);
        return;
    }
    ctx.log(text);
    let name = host.map_or("unknown", |h| h.name.as_str());
    ctx.log(format!(
        "BOOTREPLY for {} to {name} ({}) via {}",
        cand.lease.ip,
        ctx.req.hw_text(),
        via(ctx.req)
    ));
    ctx.out.boot = BootNote::of(host, "BOOTREPLY", &r);
    ctx.out.reason = Reason::BootReply;
    ctx.out.reply = Some(r);
}

/// The BOOTREPLY to a fixed-address client: options in a 64-byte vendor area (none for an
/// RFC 951 client unless `always-reply-rfc1048`), `siaddr` the next server or this one,
/// the client's own `file` without `filename`.
fn boot_reply(
    ctx: &Ctx<'_>,
    cand: &Cand,
    subnet: &Subnet,
    host: Option<&HostDecl>,
    st: &mut OptionState,
) -> Reply {
    let req = ctx.req;
    let mut r = Reply::to(req);
    if !req.options_valid && st.flag(Sv::AlwaysReplyRfc1048) != Some(true) {
        // An RFC 951 client without the magic cookie (ISC copies its vendor area back;
        // we send an empty one).
        r.options = Vec::new();
    } else {
        default_mask_and_name(st, subnet.mask, host);
        let laid = cons_options(
            ctx.cfg,
            req,
            &Cons {
                bootpp: true,
                ..Cons::plain(st)
            },
        );
        r.options = laid.options;
    }
    r.ciaddr = req.ciaddr;
    r.yiaddr = cand.lease.ip;
    if st.flag(Sv::AlwaysBroadcast) == Some(true) {
        r.flags |= BROADCAST_FLAG;
    }
    r.siaddr = next_server(st)
        .or_else(|| ctx.interface_address())
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    (r.file, r.sname) = boot_fields(st);
    if !st.has(SERVER, Sv::Filename) {
        r.file = field(Some(&req.file), FILE_LEN);
    }
    r.dest = lease_dest(req, &r, false, false);
    r
}
