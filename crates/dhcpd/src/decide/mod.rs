//! The protocol core: [`decide`] takes the configuration, the lease table, one request, what
//! the shell knows about its client ([`Facts`]) and the time, and says what to answer, which
//! leases change and why. No sockets, no clock, no store, no awaits. It follows ISC dhcpd
//! 4.4.3's `dhcp.c` and `bootp.c` step by step (locate the network, classify, find or
//! allocate a lease, run the scopes, build the reply) so that the replies match ISC's field
//! for field and option for option.
//!
//! Module map: `packet` (network location, classes, hosts), `find` (ISC's `find_lease`
//! and `allocate_lease`), `ack` (`ack_lease`: scopes, lease times, the new lease),
//! `dhcp` (DISCOVER, REQUEST, RELEASE, DECLINE, INFORM, NAK), `bootp`, `events` (`on
//! commit`/`release`/`expiry` and the programs `execute` asks for), `plan` (inventory
//! boot plans), `proxy` (proxyDHCP: boot information only, beside a site server), [`reply`] (`cons_options`: which options, in which order, how big; where the
//! reply goes).

mod ack;
mod bootp;
mod dhcp;
mod events;
mod find;
mod packet;
mod plan;
mod proxy;
pub mod reply;

#[cfg(test)]
mod proxy_tests;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

use pxe_model::InstallState;

use crate::lease::{BindingState, DeclineMark, Lease, LeaseTable, MAX_TIME, Time};
use crate::model::{Config, HostDecl};
use crate::request::{Request, code, msg};

pub use events::{Expired, Hook, LeaseEvent, expire};
pub use find::spread_point;
pub use proxy::{Arrival, PXE_BOOT_SERVER_PORT, decide_proxy, is_pxe_client};
pub use reply::{Dest, Reply};

/// What the shell knows about the client beyond its packet, looked up once per packet and
/// handed to [`decide`] beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts<'a> {
    /// For a machine the inventory knows: its install state from the state store (`None`:
    /// not known, planned as [`InstallState::Pending`]).
    pub install_state: Option<InstallState>,
    /// Names of lease addresses for `get-lease-hostnames`, looked up off the packet path.
    pub lease_hostnames: Option<&'a LeaseHostnames>,
    /// Other servers share this pool and won a race for one of its addresses lately (a
    /// shared database): a new client is offered the first free address from a point of
    /// the range its hardware address picks, not the range's first, so that servers
    /// offering to different clients at once stop choosing the same address.
    pub contended: bool,
}

/// Names of addresses from reverse lookups (`get-lease-hostnames`): `Some(name)`, or `None`
/// when the lookup found no name; an address not in the map is not looked up yet.
pub type LeaseHostnames = std::collections::HashMap<Ipv4Addr, Option<String>>;

/// A lease that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The lease as it is now.
    pub lease: Lease,
    /// Must be on disk before the reply leaves (ACKs, BOOTP, releases, declines). Offers
    /// only change the table, as in ISC.
    pub persist: bool,
    /// The change is an honoured DHCPDECLINE: the table remembers the client, so that it
    /// is not honoured again within [`crate::lease::DECLINE_INTERVAL`].
    pub decline: Option<DeclineMark>,
}

impl Change {
    /// Apply the change to the table the core decides against (the lease, and a decline's
    /// mark), giving back the record the table now holds, to share.
    pub fn apply_to(self, table: &mut LeaseTable) -> std::sync::Arc<Lease> {
        if let Some(m) = &self.decline {
            table.note_decline(m);
        }
        let lease = std::sync::Arc::new(self.lease);
        table.insert_shared(std::sync::Arc::clone(&lease));
        lease
    }
}

/// Why a packet got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignore {
    /// `op` is not BOOTREQUEST.
    NotBootRequest,
    /// `hlen` above 16.
    BadHlen,
    /// No subnet for the interface, relay or selection option.
    UnknownNetwork,
    /// Arrived on an interface none of whose addresses is in a declared subnet (ISC does
    /// not listen there).
    NoSubnetOnInterface,
    /// Option 53 names no message a server handles.
    UnknownMessageType,
    /// A message a server sends (OFFER, ACK, NAK…).
    ServerMessage,
    /// Would NAK, but not authoritative for the network.
    NotAuthoritative,
    /// A REQUEST for an address in no subnet of ours.
    UnknownSubnet,
    /// A REQUEST for an address that is not one of our leases.
    UnknownLease,
    /// `deny unknown-clients` (or `ignore`) and no host declaration.
    UnknownClient,
    /// `deny bootp`.
    BootpDisallowed,
    /// `deny booting`.
    BootingDisallowed,
    /// No free address for the client.
    NoFreeLeases,
    /// Every matching class is at its `lease limit`.
    LeaseLimit,
    /// `min-secs` not reached.
    MinSecs,
    /// DHCPDECLINE without a requested address.
    DeclineWithoutAddress,
    /// `deny declines`.
    DeclinesIgnored,
    /// DHCPDECLINE for an address the client neither holds nor was just offered (not its
    /// lease, or no lease at all). ISC abandons it anyway; we do not.
    DeclineNotOwner,
    /// DHCPDECLINE from a client that had one honoured less than a minute ago.
    DeclineTooSoon,
    /// DHCPINFORM from 0.0.0.0.
    InformNullSource,
    /// DHCPINFORM for a subnet we do not know.
    InformUnknownSubnet,
    /// DHCPINFORM for a subnet we are not authoritative for.
    InformNotAuthoritative,
    /// A BOOTP client with no fixed address and no dynamic-bootp range.
    NoBootpLease,
    /// proxyDHCP: not a PXE client (option 60 does not start with `PXEClient`); the
    /// site server's to answer.
    NotPxeClient,
    /// proxyDHCP: a message the proxy does not answer on that port (a REQUEST on port 67
    /// is for the site server's address).
    NotForProxy,
    /// proxyDHCP: the configuration gives this client no boot file.
    NoBootFile,
}

/// Why a DHCPNAK was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakReason {
    /// The address is on another network than the client.
    WrongNetwork,
    /// The address is ours but not available to this client.
    LeaseUnavailable,
}

/// What happened, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// DHCPOFFER sent.
    Offer,
    /// DHCPACK for a lease.
    Ack,
    /// DHCPACK to a DHCPINFORM.
    InformAck,
    /// BOOTREPLY.
    BootReply,
    /// DHCPNAK.
    Nak(NakReason),
    /// DHCPRELEASE handled (`found` or not).
    Released {
        /// The lease was found and freed.
        found: bool,
    },
    /// DHCPDECLINE handled: the address was abandoned (or no lease matched).
    Declined {
        /// The lease was found and abandoned.
        found: bool,
    },
    /// proxyDHCP: DHCPOFFER without an address on the DHCP port.
    ProxyOffer,
    /// proxyDHCP: DHCPACK without an address on the PXE boot server port.
    ProxyAck,
    /// No reply.
    Ignored(Ignore),
}

/// For a machine of the inventory: what it was told (a boot event for the state store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootNote {
    /// The inventory machine.
    pub machine: String,
    /// What was handed out (`DHCPACK 10.0.0.50 pxelinux.0`).
    pub detail: String,
}

impl BootNote {
    /// For an inventory machine's host: `what` (`DHCPACK`, `BOOTREPLY`) was sent, with the
    /// reply's address and boot file.
    fn of(host: Option<&HostDecl>, what: &str, reply: &Reply) -> Option<BootNote> {
        let machine = host?.machine.clone()?;
        let detail = format!("{what} {} {}", reply.yiaddr, reply.file_text());
        Some(BootNote {
            machine,
            detail: detail.trim_end().to_string(),
        })
    }
}

/// The result of [`decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The reply to send, if any.
    pub reply: Option<Reply>,
    /// Leases that changed, in order.
    pub changes: Vec<Change>,
    /// Why.
    pub reason: Reason,
    /// Log lines in ISC's wording (`DHCPDISCOVER from 52:54:00:12:34:56 via eth1`).
    pub log: Vec<String>,
    /// A boot event for an inventory machine (on ACK and BOOTREPLY).
    pub boot: Option<BootNote>,
    /// Programs `execute` statements asked for, in order: the shell runs them once the
    /// changed leases are on disk.
    pub hooks: Vec<Hook>,
    /// An offer to hold until a ping of its address goes unanswered (`ping-check`).
    pub ping: Option<PingCheck>,
}

/// ISC's `ping-check` for an offer: send an ICMP echo to the address, send the offer when
/// no reply comes within `timeout_ms`, and abandon the address (see [`abandon_pinged`])
/// when one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingCheck {
    /// The address offered.
    pub ip: Ipv4Addr,
    /// How long to wait for an echo reply (`ping-timeout-ms`, else `ping-timeout`, 1 s).
    pub timeout_ms: u32,
    /// How long the address stays abandoned when a reply comes (`abandon-lease-time`).
    pub abandon_secs: i64,
}

/// `l` abandoned, as ISC's `abandon_lease` leaves it: no owner, no variables, `abandoned`
/// for `abandon_secs` from `now`. (Its `on` handlers are the caller's: a declined active
/// lease runs `on expiry` first.)
pub(crate) fn abandoned(l: &Lease, abandon_secs: i64, now: Time) -> Lease {
    let mut n = l.clone();
    n.ends = (now + abandon_secs).min(MAX_TIME);
    n.state = BindingState::Abandoned;
    n.next_state = BindingState::Abandoned;
    n.rewind_state = BindingState::Abandoned;
    n.hardware = None;
    n.uid = None;
    n.edit_rare(|r| r.bindings.clear());
    n.client_hostname = None;
    n.tstp = n.ends;
    n
}

/// The lease an offer held once its address answered the ping, and ISC's line for it: no
/// owner, `abandoned` for `abandon_secs`.
pub fn abandon_pinged(held: &Lease, abandon_secs: i64, now: Time) -> (Lease, String) {
    let mut n = abandoned(held, abandon_secs, now);
    n.edit_rare(|r| r.on = crate::model::OnStar::default());
    let line = format!("Abandoning IP address {}: pinged before offer", held.ip);
    (n, line)
}

impl Outcome {
    fn new(reason: Reason) -> Outcome {
        Outcome {
            reply: None,
            changes: Vec::new(),
            reason,
            log: Vec::new(),
            boot: None,
            hooks: Vec::new(),
            ping: None,
        }
    }
}

/// Decide the answer to `req`.
pub fn decide(
    cfg: &Config,
    leases: &LeaseTable,
    req: &Request,
    facts: &Facts<'_>,
    now: Time,
) -> Outcome {
    let mut out = Outcome::new(Reason::Ignored(Ignore::NotBootRequest));
    if req.op != 1 {
        return out;
    }
    if req.hlen > 16 {
        out.reason = Reason::Ignored(Ignore::BadHlen);
        out.log.push(format!(
            "Discarding packet with bogus hlen {} from {}",
            req.hlen, req.meta.iface
        ));
        return out;
    }
    // A renewal unicast by the client carries no relay agent options; ISC classifies it with
    // the ones stashed on its lease (but does not echo them).
    let stashed = stashed_agent_options(leases, req, now);
    let req = stashed.as_ref().unwrap_or(req);
    let mut ctx = packet::Ctx::new(cfg, leases, req, facts, now);
    ctx.agent_stashed = stashed.is_some();
    // ISC does not listen on an interface none of whose addresses is in a subnet (`No
    // subnet declaration for eth1 (…). ** Ignoring requests on eth1.`): nothing that
    // arrives there, relayed or not, is answered. Not logged per packet (ISC never sees
    // them), the reason says it.
    if ctx.interface_network().is_none() {
        ctx.ignore(Ignore::NoSubnetOnInterface);
        return ctx.finish();
    }
    match req.msg_type() {
        None | Some(0) => bootp::bootp(&mut ctx),
        Some(t) => dhcp::dhcp(&mut ctx, t),
    }
    ctx.finish()
}

/// Before [`decide`], in the shell, for every request: the per-client flood limit
/// ([`Config::flood`]). `Err` when the request is to be dropped undecided, with the line to
/// log the first time (the client just went over the limit).
pub fn admit(
    table: &mut LeaseTable,
    cfg: &Config,
    req: &Request,
    now: Time,
) -> Result<(), Option<String>> {
    if cfg.flood.is_none() {
        // No limit: nothing to count (and no copy of the client's address to make).
        return Ok(());
    }
    let hw = req.hardware();
    match table.admit(&hw, cfg.flood, now) {
        crate::lease::Admit::Yes => Ok(()),
        crate::lease::Admit::Ignored => Err(None),
        crate::lease::Admit::Flooding => {
            let limit = cfg.flood.unwrap_or_default();
            Err(Some(format!(
                "{} via {}: more than {} requests in one second, ignored for {} seconds",
                hw.colon(),
                via(req),
                limit.rate,
                limit.hold.max(1)
            )))
        }
    }
}

/// ISC's check in `dhcp()`: a DHCPREQUEST with `ciaddr`, no `giaddr` and no option 82 from
/// the client that owns an unexpired lease with stashed agent options gets those options.
fn stashed_agent_options(leases: &LeaseTable, req: &Request, now: Time) -> Option<Request> {
    if req.msg_type() != Some(msg::REQUEST)
        || req.ciaddr.is_unspecified()
        || !req.giaddr.is_unspecified()
        || req.option(code::RELAY_AGENT_INFORMATION).is_some()
    {
        return None;
    }
    let l = leases.get(req.ciaddr)?;
    if l.agent_options().is_empty() || l.ends < now {
        return None;
    }
    let owner = match &l.uid {
        Some(u) => req.client_id() == Some(u.as_slice()),
        None => l.hardware.as_ref() == Some(&req.hardware()),
    };
    if !owner {
        return None;
    }
    let mut data = Vec::new();
    for (code, d) in l.agent_options() {
        data.push(*code);
        data.push(d.len().min(255) as u8);
        data.extend_from_slice(&d[..d.len().min(255)]);
    }
    let mut r = req.clone();
    r.options.push((code::RELAY_AGENT_INFORMATION, data));
    Some(r)
}

/// ISC's `via` text: the relay's address or the interface name.
fn via(req: &Request) -> String {
    if req.giaddr.is_unspecified() {
        req.meta.iface.clone()
    } else {
        crate::text::dotted(req.giaddr)
    }
}

/// `(hostname) ` as ISC prints a lease's client hostname in log lines.
fn hostname_part(l: Option<&Lease>) -> String {
    match l.and_then(|l| l.client_hostname.as_deref()) {
        Some(h)
            if h.len() <= 64
                && h.iter()
                    .all(|b| (0x20..0x7f).contains(b) && *b != b'"' && *b != b'\\') =>
        {
            format!("({}) ", String::from_utf8_lossy(h))
        }
        Some(_) => "(Hostname Unsuitable for Printing) ".into(),
        None => String::new(),
    }
}

/// The name of a reply's message type as ISC logs it.
pub fn reply_name(r: &Reply) -> &'static str {
    match r.msg_type() {
        Some(msg::OFFER) => "DHCPOFFER",
        Some(msg::ACK) => "DHCPACK",
        Some(msg::NAK) => "DHCPNAK",
        None => "BOOTREPLY",
        Some(_) => "DHCP",
    }
}

/// Leases handed out per pool, for metrics: `(pool name, in use, size)`.
pub fn pool_usage(cfg: &Config, leases: &LeaseTable, now: Time) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for (i, p) in cfg.pools.iter().enumerate() {
        let mut size = 0u64;
        let mut used = 0u64;
        for r in &p.ranges {
            size += u64::from(u32::from(r.high) - u32::from(r.low)) + 1;
            used += leases
                .range(r.low, r.high)
                .filter(|l| l.state_at(now) == BindingState::Active)
                .count() as u64;
        }
        let name = cfg
            .shared
            .get(p.shared)
            .map_or_else(|| format!("pool{i}"), |s| format!("{}#{i}", s.name));
        out.push((name, used, size));
    }
    out
}
