//! BOOTP (RFC 951/1542) as ISC's `bootp.c`: a client with a fixed-address host gets that
//! address; one without gets a lease from a `range dynamic-bootp` (through `ack_lease`, an
//! infinite lease unless `dynamic-bootp-lease-length` says otherwise); the reply carries no
//! DHCP message type, server identifier or lease time.

use std::net::Ipv4Addr;

use crate::eval::{Bindings, Effects, OptionState};
use crate::model::{DHCP, SERVER};

use super::ack::Kind;
use super::packet::Ctx;
use super::reply::{Cons, Dest, Reply, cons_options, field};
use super::{BootNote, Ignore, Reason, via};

pub(super) fn bootp(ctx: &mut Ctx<'_>) {
    let req = ctx.req;
    let cfg = ctx.cfg;
    let text = format!("BOOTREQUEST from {} via {}", req.hw_text(), via(req));
    if !ctx.locate_network() {
        ctx.log(format!("{text}: network unknown"));
        ctx.ignore(Ignore::UnknownNetwork);
        return;
    }
    ctx.classify();
    let Some(share) = ctx.shared else { return };
    let found = ctx.find_lease(share, None);
    let lease = found.lease;
    let fixed_host = lease.as_ref().and_then(|c| c.host);
    if lease.as_ref().is_none_or(|c| !c.fixed) {
        // A dynamic client: a host without a fixed address may still apply, and the
        // address comes from a pool that permits dynamic BOOTP clients.
        let hosts = ctx.hosts_by_hw();
        let host = fixed_host.or_else(|| ctx.dynamic_host(&hosts));
        let cand = match lease {
            Some(c) => Some(c),
            None => ctx.allocate(share),
        };
        let Some(cand) = cand else {
            ctx.log(format!(
                "{text}: BOOTP from dynamic client and no dynamic leases"
            ));
            ctx.ignore(Ignore::NoBootpLease);
            return;
        };
        ctx.ack_lease(cand, Kind::Bootp, None, text, host);
        return;
    }
    let Some(cand) = lease else { return };
    let Some(subnet) = cfg.subnets.get(cand.subnet) else {
        return;
    };
    let mut st = OptionState::new();
    let mut vars = Bindings::new();
    let mut fx = Effects::default();
    ctx.env(Some(&cand.lease), None, true).run_scope(
        subnet.group,
        None,
        &mut st,
        &mut vars,
        &mut fx,
    );
    ctx.apply_effects(fx);
    ctx.run_classes(Some(subnet.group), Some(&cand.lease), &mut st, &mut vars);
    let host = fixed_host.and_then(|h| cfg.hosts.get(h));
    if let Some(h) = host {
        let mut fx = Effects::default();
        ctx.env(Some(&cand.lease), Some(h), true).run_scope(
            h.group,
            Some(subnet.group),
            &mut st,
            &mut vars,
            &mut fx,
        );
        ctx.apply_effects(fx);
        ctx.apply_boot_plan(h, cand.lease.ip, &mut st);
    }
    for (code, why, what) in [
        (8u32, Ignore::BootpDisallowed, "bootp disallowed"),
        (9, Ignore::BootingDisallowed, "booting disallowed"),
    ] {
        if st.flag(code) == Some(false) {
            if st.get(SERVER, code).and_then(|d| d.first().copied()) != Some(2) {
                ctx.log(format!("{text}: {what}"));
            }
            ctx.ignore(why);
            return;
        }
    }
    let mut r = Reply::to(req);
    if !req.options_valid && st.flag(20) != Some(true) {
        // An RFC 951 client without the magic cookie (ISC copies its vendor area back;
        // we send an empty one).
        r.options = Vec::new();
    } else {
        if !st.has(DHCP, 1) {
            st.set(DHCP, 1, subnet.mask.octets().to_vec());
        }
        if st.flag(12) == Some(true)
            && let Some(h) = host
            && !st.has(DHCP, 12)
        {
            st.set(DHCP, 12, h.name.as_bytes().to_vec());
        }
        let laid = cons_options(
            cfg,
            req,
            &Cons {
                st: &st,
                prl: None,
                bootpp: true,
                mms: None,
                file_free: false,
                sname_free: false,
                echo_client_id: false,
                agent: None,
            },
        );
        r.options = laid.options;
    }
    r.ciaddr = req.ciaddr;
    r.yiaddr = cand.lease.ip;
    if st.flag(22) == Some(true) {
        r.flags |= 0x8000;
    }
    r.siaddr = match st.get(SERVER, 17).filter(|d| d.len() >= 4) {
        Some(ns) => Ipv4Addr::new(ns[0], ns[1], ns[2], ns[3]),
        None => ctx.interface_address().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    r.file = match st.get(SERVER, 15) {
        Some(f) => field(Some(f), 128),
        None => req.file.iter().take(128).copied().collect(),
    };
    r.sname = field(st.get(SERVER, 16), 64);
    if ctx.interface_address().is_none() {
        ctx.log(format!(
            "{text}: Interface {} appears to have no IPv4 addresses, and so dhcpd cannot select a source address.",
            req.meta.iface
        ));
        ctx.ignore(Ignore::UnknownNetwork);
        return;
    }
    ctx.log(text);
    let name = host.map_or("unknown", |h| h.name.as_str());
    ctx.log(format!(
        "BOOTREPLY for {} to {name} ({}) via {}",
        cand.lease.ip,
        req.hw_text(),
        via(req)
    ));
    r.dest = if !req.giaddr.is_unspecified() {
        Dest::Relay(req.giaddr)
    } else if r.flags & 0x8000 == 0 {
        Dest::Link {
            ip: r.yiaddr,
            hw: req.hardware(),
        }
    } else {
        Dest::Broadcast
    };
    if let Some(machine) = host.and_then(|h| h.machine.clone()) {
        ctx.out.boot = Some(BootNote {
            machine,
            detail: format!("BOOTREPLY {} {}", cand.lease.ip, r.file_text())
                .trim_end()
                .to_string(),
        });
    }
    ctx.out.reason = Reason::BootReply;
    ctx.out.reply = Some(r);
}
