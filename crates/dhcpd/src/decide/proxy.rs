//! proxyDHCP (PXE specification 2.1, "ProxyDHCP"; what dnsmasq's `dhcp-range=…,proxy`
//! does): beside a site DHCP server that gives the address, answer PXE clients with boot
//! information only. A DHCPDISCOVER on port 67 gets an offer with no address (`yiaddr`
//! 0.0.0.0), the boot file and next server, our server identifier and option 60
//! `PXEClient`; a DHCPREQUEST (or DHCPINFORM) sent to port 4011, the PXE boot server port,
//! gets a DHCPACK with the same, back to the port it came from. Clients whose vendor class
//! does not start with `PXEClient` are the site server's: ignored without a log line. No
//! lease is ever made or changed.
//!
//! The boot file comes from the configuration as for a normal reply: the scopes of the
//! client's subnet, its classes and its host declaration, then an inventory machine's boot
//! plan. Only PXE options leave: 53, 54, 60, 43 (when configured, e.g. through
//! `vendor-option-space PXE`) and 97 (the client's UUID, echoed). Without option 43 a
//! firmware asks the boot server port for the boot file (edk2's "BINL" path, iPXE's
//! ProxyDHCP request), so both ports are needed.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::lease::{LeaseTable, Time};
use crate::model::{Config, DHCP, HostDecl, HostId, SERVER, Subnet};
use crate::request::{Request, code, msg};

use super::packet::{Ctx, Scoped};
use super::reply::{Cons, Dest, Reply, boot_fields, cons_options, next_server};
use super::{BootNote, Facts, Ignore, Outcome, Reason, via};
use crate::eval::Sv;

/// The PXE boot server port (PXE 2.1): DHCPREQUESTs for the boot file come here.
pub const PXE_BOOT_SERVER_PORT: u16 = 4011;

/// The vendor class prefix of a PXE client (PXE 2.1, RFC 4578).
const PXE_CLIENT: &[u8] = b"PXEClient";

/// The options a proxy reply may carry: no lease times, no mask, no routers.
const KEPT: [u8; 5] = [
    code::MESSAGE_TYPE,
    code::SERVER_IDENTIFIER,
    code::VENDOR_CLASS_IDENTIFIER,
    code::VENDOR_SPECIFIC,
    code::CLIENT_MACHINE_ID,
];

/// Where a packet reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The DHCP server port (67, or `-p`): only DHCPDISCOVERs are answered.
    Dhcp,
    /// The PXE boot server port (4011), from this address and port: DHCPREQUESTs and
    /// DHCPINFORMs are answered there.
    BootServer(SocketAddrV4),
}

/// Is `req` from a PXE client (option 60 starting `PXEClient`)?
pub fn is_pxe_client(req: &Request) -> bool {
    req.option(code::VENDOR_CLASS_IDENTIFIER)
        .is_some_and(|v| v.starts_with(PXE_CLIENT))
}

/// Decide the proxyDHCP answer to `req` (see the module text). `leases` is only read
/// (classes may look at them); the outcome never changes one.
pub fn decide_proxy(
    cfg: &Config,
    leases: &LeaseTable,
    req: &Request,
    facts: &Facts<'_>,
    now: Time,
    arrival: Arrival,
) -> Outcome {
    let mut ctx = Ctx::new(cfg, leases, req, facts, now);
    if req.op != 1 || req.hlen > 16 || !is_pxe_client(req) {
        // The site server's client, or not a request at all: no line, no reply.
        ctx.ignore(Ignore::NotPxeClient);
        return ctx.finish();
    }
    let t = req.msg_type();
    let wanted = match arrival {
        Arrival::Dhcp => t == Some(msg::DISCOVER),
        Arrival::BootServer(_) => matches!(t, Some(msg::REQUEST | msg::INFORM)),
    };
    if !wanted {
        // A PXE client's REQUEST on port 67 is for the site server's address.
        ctx.ignore(Ignore::NotForProxy);
        return ctx.finish();
    }
    let name = t.map_or_else(|| "BOOTREQUEST".to_string(), msg::name);
    let text = format!("{name} from {} via {} (PXE)", req.hw_text(), via(req));
    // As in `decide`: nothing is answered on an interface with no subnet of ours, and
    // nothing said per packet (the start-up warning says it).
    if ctx.interface_network().is_none() {
        ctx.ignore(Ignore::NoSubnetOnInterface);
        return ctx.finish();
    }
    if !ctx.locate_network() {
        ctx.log(format!("{text}: unknown network segment"));
        ctx.ignore(Ignore::UnknownNetwork);
        return ctx.finish();
    }
    ctx.classify();
    let Some(subnet) = proxy_subnet(&ctx) else {
        ctx.log(format!("{text}: unknown network segment"));
        ctx.ignore(Ignore::UnknownNetwork);
        return ctx.finish();
    };
    let host = first_host(&ctx).and_then(|h| cfg.hosts.get(h));
    ctx.known = host.is_some();
    let mut sc = Scoped::default();
    ctx.run_scopes(&[(subnet.group, None)], None, None, &mut sc);
    ctx.run_classes(Some(subnet.group), None, &mut sc);
    if let Some(h) = host {
        ctx.run_scopes(&[(h.group, Some(subnet.group))], None, Some(h), &mut sc);
        ctx.apply_boot_plan(h, req.ciaddr, &mut sc.st);
    }
    ctx.log(text.clone());
    let has_file = sc
        .st
        .get(SERVER, Sv::Filename)
        .is_some_and(|f| !f.is_empty());
    if !has_file {
        ctx.log(format!("{text}: no boot file for this client"));
        ctx.ignore(Ignore::NoBootFile);
        return ctx.finish();
    }
    let reply = proxy_reply(&mut ctx, &mut sc, arrival);
    let to = match reply.dest {
        Dest::Relay(gi) => gi.to_string(),
        Dest::Peer(a) => a.to_string(),
        _ => req.meta.iface.clone(),
    };
    let what = reply_word(arrival);
    ctx.log(format!(
        "{what} (proxy) to {} via {to}: {} from {}",
        req.hw_text(),
        reply.file_text(),
        reply.siaddr
    ));
    ctx.out.boot = boot_note(host, &reply, req.ciaddr, what);
    ctx.out.reason = match arrival {
        Arrival::Dhcp => Reason::ProxyOffer,
        Arrival::BootServer(_) => Reason::ProxyAck,
    };
    ctx.out.reply = Some(reply);
    ctx.finish()
}

fn reply_word(arrival: Arrival) -> &'static str {
    match arrival {
        Arrival::Dhcp => "DHCPOFFER",
        Arrival::BootServer(_) => "DHCPACK",
    }
}

/// The subnet whose scopes apply: the client's own address's (a request to the boot
/// server port), else the relay's, else the receiving interface's.
fn proxy_subnet<'c>(ctx: &Ctx<'c>) -> Option<&'c Subnet> {
    let req = ctx.req;
    let cfg = ctx.cfg;
    let candidates = [req.ciaddr, req.giaddr]
        .into_iter()
        .chain(req.meta.iface_addrs.iter().copied())
        .filter(|a| !a.is_unspecified());
    for a in candidates {
        if let Some(s) = cfg.find_subnet(a).and_then(|s| cfg.subnets.get(s)) {
            return Some(s);
        }
    }
    None
}

/// The client's host declaration: the first a lookup finds (by client identifier, by
/// hardware address, by `host-identifier`), fixed address or not: a proxy gives no
/// address, so a reservation's boot settings apply all the same.
fn first_host(ctx: &Ctx<'_>) -> Option<HostId> {
    ctx.host_lookups().find_map(|hosts| hosts.first().copied())
}

/// The reply: no address, the boot fields, and only the options in [`KEPT`].
fn proxy_reply(ctx: &mut Ctx<'_>, sc: &mut Scoped, arrival: Arrival) -> Reply {
    let req = ctx.req;
    let st = &mut sc.st;
    let kind = match arrival {
        Arrival::Dhcp => msg::OFFER,
        Arrival::BootServer(_) => msg::ACK,
    };
    st.set(DHCP, code::MESSAGE_TYPE, vec![kind]);
    ctx.default_server_id(st);
    if !st
        .get(DHCP, code::VENDOR_CLASS_IDENTIFIER)
        .is_some_and(|v| v.starts_with(PXE_CLIENT))
    {
        st.set(DHCP, code::VENDOR_CLASS_IDENTIFIER, PXE_CLIENT.to_vec());
    }
    if let Some(uuid) = req.option(code::CLIENT_MACHINE_ID)
        && !st.has(DHCP, code::CLIENT_MACHINE_ID)
    {
        st.set(DHCP, code::CLIENT_MACHINE_ID, uuid.to_vec());
    }
    for c in st.hash_order(DHCP) {
        if u8::try_from(c).map_or(true, |c| !KEPT.contains(&c)) {
            st.remove(DHCP, c);
        }
    }
    let server_id = st
        .get(DHCP, code::SERVER_IDENTIFIER)
        .and_then(|d| <[u8; 4]>::try_from(d).ok())
        .map(Ipv4Addr::from);
    let mut r = Reply::to(req);
    (r.file, r.sname) = boot_fields(st);
    // The boot server: `next-server`, else this server (the PXE boot server it is).
    r.siaddr = next_server(st)
        .or(server_id)
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    let prl = [
        code::VENDOR_CLASS_IDENTIFIER,
        code::VENDOR_SPECIFIC,
        code::CLIENT_MACHINE_ID,
    ];
    let laid = cons_options(
        ctx.cfg,
        req,
        &Cons {
            prl: Some(&prl),
            agent: ctx.agent_echo(),
            ..Cons::plain(st)
        },
    );
    r.lay_out(laid);
    r.dest = match arrival {
        Arrival::BootServer(from) => {
            r.ciaddr = req.ciaddr;
            Dest::Peer(from)
        }
        Arrival::Dhcp if !req.giaddr.is_unspecified() => Dest::Relay(req.giaddr),
        Arrival::Dhcp => Dest::Broadcast,
    };
    r
}

/// The boot event of an inventory machine. A DHCPACK on the boot server port names the
/// client's address (its `ciaddr`, the site server's lease), so that httpd-tree may serve
/// the machine its files there.
fn boot_note(
    host: Option<&HostDecl>,
    reply: &Reply,
    ciaddr: Ipv4Addr,
    what: &str,
) -> Option<BootNote> {
    let machine = host?.machine.clone()?;
    let detail = format!("{what} {ciaddr} {} (proxy)", reply.file_text());
    Some(BootNote { machine, detail })
}
