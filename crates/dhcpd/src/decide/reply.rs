//! Building a reply: ISC's `cons_options` (which options go in, in which order: 53, 54, 51,
//! 58, 59, … then the client's parameter request list, or without one ISC's default list and
//! its option-hash order; subnet mask moved before routers; option 82 echoed last) and
//! `store_options` (what fits in the client's maximum message size, with the `file` and
//! `sname` fields used for options when they are free), and where the reply is sent
//! (RFC 2131 §4.1 as ISC's `dhcp_reply` reads it).

use std::net::Ipv4Addr;

use crate::eval::{OptionState, Sv};
use crate::lease::Hardware;
use crate::model::{Config, DHCP, HostDecl, SERVER, SpaceId};
use crate::request::{BROADCAST_FLAG, Request, code, msg};

use super::packet::Ctx;

/// Where a reply goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// To the relay agent (`giaddr`), server port.
    Relay(Ipv4Addr),
    /// To the client's own address (`ciaddr`), client port, through the IP stack.
    Unicast(Ipv4Addr),
    /// To 255.255.255.255, client port, on the receiving interface.
    Broadcast,
    /// To the address and port the request came from (a proxyDHCP answer on the PXE boot
    /// server port).
    Peer(std::net::SocketAddrV4),
    /// To a client that has no address yet: IP `ip`, link-layer address `hw`.
    Link {
        /// `yiaddr`.
        ip: Ipv4Addr,
        /// `chaddr`.
        hw: Hardware,
    },
}

/// A BOOTP/DHCP reply, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `htype`.
    pub htype: u8,
    /// `hlen`.
    pub hlen: u8,
    /// `hops`.
    pub hops: u8,
    /// `xid`.
    pub xid: u32,
    /// `secs`.
    pub secs: u16,
    /// `flags`.
    pub flags: u16,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `siaddr`.
    pub siaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// `chaddr`.
    pub chaddr: [u8; 16],
    /// `sname` (up to 64 bytes; options when overloaded).
    pub sname: Vec<u8>,
    /// `file` (up to 128 bytes; options when overloaded).
    pub file: Vec<u8>,
    /// Options in order (without the end marker).
    pub options: Vec<(u8, Vec<u8>)>,
    /// Where to send it.
    pub dest: Dest,
}

impl Reply {
    /// Option 53, if a DHCP reply.
    pub fn msg_type(&self) -> Option<u8> {
        self.option(code::MESSAGE_TYPE)
            .and_then(|d| d.first().copied())
    }

    /// The data of option `code`.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, d)| d.as_slice())
    }

    /// A reply to `req` with the header fields ISC copies from the request.
    pub fn to(req: &Request) -> Reply {
        Reply {
            htype: req.htype,
            hlen: req.hlen,
            hops: req.hops,
            xid: req.xid,
            secs: req.secs,
            flags: req.flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: req.giaddr,
            chaddr: req.chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options: Vec::new(),
            dest: Dest::Broadcast,
        }
    }

    /// Take `cons_options`' layout: the options, and `file`/`sname` where they were
    /// overloaded.
    pub(super) fn lay_out(&mut self, laid: Laid) {
        self.options = laid.options;
        if let Some(f) = laid.file {
            self.file = f;
        }
        if let Some(s) = laid.sname {
            self.sname = s;
        }
    }

    /// The file name as text (up to the first NUL).
    pub fn file_text(&self) -> String {
        let end = self
            .file
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.file.len());
        String::from_utf8_lossy(&self.file[..end]).into_owned()
    }
}

/// The fixed part of a BOOTP packet, without UDP/IP.
const FIXED_NON_UDP: usize = 236;
/// UDP and IP headers.
const UDP_OVERHEAD: usize = 28;
/// Largest options area ISC builds (a 1500-byte packet).
const MAX_OPTION_LEN: usize = 1500 - FIXED_NON_UDP - UDP_OVERHEAD;
/// Options area for a 576-byte packet.
const MIN_OPTION_LEN: usize = 576 - FIXED_NON_UDP - UDP_OVERHEAD;
/// The size of the `file` field.
pub(super) const FILE_LEN: usize = 128;
/// The size of the `sname` field.
pub(super) const SNAME_LEN: usize = 64;
/// The vendor area of a BOOTP packet (RFC 951).
const BOOTP_VENDOR_LEN: usize = 64;

/// Inputs of `cons_options`.
pub(super) struct Cons<'a> {
    /// The configured options for the reply.
    pub st: &'a OptionState,
    /// The parameter request list to follow (configured or the client's).
    pub prl: Option<&'a [u8]>,
    /// A BOOTP reply (64-byte vendor area unless the client asked for more).
    pub bootpp: bool,
    /// The maximum message size the state knows (client's option 57 or configured).
    pub mms: Option<u16>,
    /// `file` is free for options.
    pub file_free: bool,
    /// `sname` is free for options.
    pub sname_free: bool,
    /// `echo-client-id` is on.
    pub echo_client_id: bool,
    /// Relay agent information to return, last.
    pub agent: Option<&'a [u8]>,
}

impl<'a> Cons<'a> {
    /// The layout of a reply that follows no request list and overloads nothing.
    pub(super) fn plain(st: &'a OptionState) -> Cons<'a> {
        Cons {
            st,
            prl: None,
            bootpp: false,
            mms: None,
            file_free: false,
            sname_free: false,
            echo_client_id: false,
            agent: None,
        }
    }
}

/// The options area as ISC would lay it out.
pub(super) struct Laid {
    pub options: Vec<(u8, Vec<u8>)>,
    /// Options placed in `file` / `sname` (overload), encoded with their end markers.
    pub file: Option<Vec<u8>>,
    pub sname: Option<Vec<u8>>,
}

/// The encapsulated options of `space` in `st`: each as code, length, data with the
/// space's widths, in ISC's hash order.
fn encapsulate(cfg: &Config, st: &OptionState, space: usize) -> Vec<u8> {
    let Some(info) = cfg.spaces.get(space) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for code in st.hash_order(space) {
        let Some(d) = st.get(space, code) else {
            continue;
        };
        let cw = usize::from(info.code_width.clamp(1, 4));
        out.extend_from_slice(&code.to_be_bytes()[4 - cw..]);
        match info.length_width {
            0 => {}
            2 => out.extend_from_slice(&(d.len().min(0xffff) as u16).to_be_bytes()),
            _ => out.push(d.len().min(255) as u8),
        }
        out.extend_from_slice(d);
    }
    out
}

/// The space `site-option-space` names, and the code from which options are taken from it
/// rather than from the DHCP space (`None`: no site space, or one that is not declared).
fn site_space(cfg: &Config, st: &OptionState) -> Option<(SpaceId, u32)> {
    let name = st.get(SERVER, Sv::SiteOptionSpace)?;
    let space = cfg.spaces.id(&String::from_utf8_lossy(name))?;
    Some((space, cfg.spaces.site_code_min(space)))
}

/// The value to send for DHCP option `code`: from the site space for site-local codes when
/// `site-option-space` names one; else configured, or built from the space it encapsulates
/// (`vendor-encapsulated-options` from the `vendor-option-space`).
fn option_value(cfg: &Config, st: &OptionState, code: u32) -> Option<Vec<u8>> {
    if let Some((site, min)) = site_space(cfg, st)
        && code >= min
    {
        return st.get(site, code).map(<[u8]>::to_vec);
    }
    if let Some(d) = st.get(DHCP, code) {
        return Some(d.to_vec());
    }
    let space = match cfg.spaces.encapsulated_by(code)? {
        Some(s) => s,
        None => {
            let name = st.get(SERVER, Sv::VendorOptionSpace)?;
            cfg.spaces.id(&String::from_utf8_lossy(name))?
        }
    };
    let d = encapsulate(cfg, st, space);
    (!d.is_empty()).then_some(d)
}

/// The options ISC puts first in every reply, in this order.
const PROTOCOL_OPTIONS: [u8; 8] = [
    code::MESSAGE_TYPE,
    code::SERVER_IDENTIFIER,
    code::LEASE_TIME,
    code::RENEWAL_TIME,
    code::REBINDING_TIME,
    code::MESSAGE,
    code::REQUESTED_IP_ADDRESS,
    code::ASSOCIATED_IP,
];

/// ISC's default list for a client without a parameter request list.
const DEFAULT_REQUEST_LIST: [u8; 5] = [
    code::SUBNET_MASK,
    code::ROUTER,
    code::DOMAIN_NAME_SERVER,
    code::HOST_NAME,
    code::CLIENT_FQDN,
];

/// ISC's priority list: protocol options first, then the request list (or the default list
/// and every configured option in hash order), duplicates removed, subnet mask before
/// routers.
pub(super) fn priority(cfg: &Config, req: &Request, c: &Cons<'_>) -> Vec<u32> {
    let agent = u32::from(code::RELAY_AGENT_INFORMATION);
    let mut list: Vec<u32> = PROTOCOL_OPTIONS.map(u32::from).to_vec();
    match c.prl.filter(|p| !p.is_empty()) {
        Some(prl) => {
            if c.st.has(DHCP, code::SUBNET_SELECTION) {
                list.push(code::SUBNET_SELECTION.into());
            }
            if c.echo_client_id {
                list.push(code::CLIENT_IDENTIFIER.into());
            }
            list.extend(prl.iter().map(|x| u32::from(*x)).filter(|x| *x != agent));
            if matches!(req.msg_type(), Some(msg::DISCOVER | msg::REQUEST)) {
                list.push(code::SUBNET_MASK.into());
            }
        }
        None => {
            list.extend(DEFAULT_REQUEST_LIST.map(u32::from));
            // With a site space, its options follow the DHCP space's, which then stop
            // below the first site-local code.
            let site = site_space(cfg, c.st);
            let below_site = |x: &u32| site.is_none_or(|(_, min)| *x < min);
            list.extend(
                c.st.hash_order(DHCP)
                    .into_iter()
                    .filter(|x| *x != agent && below_site(x)),
            );
            if let Some((space, _)) = site {
                list.extend(c.st.hash_order(space));
            }
            let mut enc: Vec<u32> = cfg.spaces.encapsulations().map(|(code, _)| code).collect();
            enc.sort_unstable();
            list.extend(enc.into_iter().filter(|x| *x != agent));
            list.push(code::VENDOR_SPECIFIC.into());
        }
    }
    // Remove duplicates (first wins), then move the subnet mask in front of routers.
    let mut out: Vec<u32> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    let position = |code: u8| out.iter().position(|x| *x == u32::from(code));
    if let (Some(r), Some(m)) = (position(code::ROUTER), position(code::SUBNET_MASK))
        && r < m
    {
        out.swap(r, m);
    }
    out
}

/// ISC's `cons_options` + `store_options`.
pub(super) fn cons_options(cfg: &Config, req: &Request, c: &Cons<'_>) -> Laid {
    let agent_size = c.agent.map_or(0, |a| a.len() + 2);
    let mb_size = (option_buffer_size(req, c) + agent_size).min(MAX_OPTION_LEN);
    // Positions relative to the start of the options, after the magic cookie: the main
    // area, then the `file` field and the `sname` field when free.
    let mut areas = Areas {
        areas: [Vec::new(), Vec::new(), Vec::new()],
        used: [0; 3],
        caps: [
            mb_size.saturating_sub(agent_size).saturating_sub(4),
            if c.file_free { FILE_LEN } else { 0 },
            if c.sname_free { SNAME_LEN } else { 0 },
        ],
    };
    let prio = priority(cfg, req, c);
    let last = prio.len().saturating_sub(1);
    for (i, code) in prio.iter().enumerate() {
        let Ok(c8) = u8::try_from(*code) else {
            continue;
        };
        let Some(data) = option_value(cfg, c.st, *code).filter(|d| !d.is_empty()) else {
            continue;
        };
        areas.store(c8, &data, i == last);
    }
    areas.finish(c.agent)
}

/// ISC's options buffer size (`mb_size`, before the relay agent information): the
/// client's maximum message size, else 576 bytes (64 bytes of vendor area for BOOTP, or what
/// the BOOTP request itself carried).
fn option_buffer_size(req: &Request, c: &Cons<'_>) -> usize {
    let mut mms = c.mms.map(usize::from);
    if let Some(d) = req.option(code::MAX_MESSAGE_SIZE)
        && d.len() >= 2
    {
        let i = usize::from(u16::from_be_bytes([d[0], d[1]]));
        if mms.is_none_or(|m| i < m) {
            mms = Some(i);
        }
    }
    match mms {
        Some(m) if m < 576 => MIN_OPTION_LEN,
        Some(m) if m > 1500 => MAX_OPTION_LEN,
        Some(m) => m - FIXED_NON_UDP - UDP_OVERHEAD,
        None if c.bootpp => {
            if req.raw.len() >= BOOTP_VENDOR_LEN + FIXED_NON_UDP {
                req.raw.len() - FIXED_NON_UDP
            } else {
                BOOTP_VENDOR_LEN
            }
        }
        None => MIN_OPTION_LEN,
    }
}

/// The main options area, `file` and `sname`, as indexes of [`Areas`].
const MAIN: usize = 0;
const FILE: usize = 1;
const SNAME: usize = 2;

/// ISC's `store_options` buffers: the options stored in each area and the bytes they use.
struct Areas {
    areas: [Vec<(u8, Vec<u8>)>; 3],
    used: [usize; 3],
    /// The room of each area (0: not free for options). The main area's end keeps room for
    /// the overload option and the end marker.
    caps: [usize; 3],
}

impl Areas {
    /// Store one option: whole in the first area it fits, else in pieces of what each area
    /// has left; an option that does not fit at all is rolled back.
    fn store(&mut self, code: u8, data: &[u8], last: bool) {
        let saved = (self.used, self.areas.each_ref().map(Vec::len));
        let mut rest = data;
        let mut splitup = data.len() > 255;
        while !rest.is_empty() {
            let whole = if splitup {
                None
            } else {
                self.whole_fit(rest.len(), last)
            };
            let (area, room) = match whole {
                Some(area) => (area, rest.len()),
                None => {
                    splitup = true;
                    let Some(piece) = self.piece_fit() else {
                        self.used = saved.0;
                        for (a, n) in self.areas.iter_mut().zip(saved.1) {
                            a.truncate(n);
                        }
                        return;
                    };
                    piece
                }
            };
            let (piece, after) = rest.split_at(room.min(rest.len()).min(255));
            self.areas[area].push((code, piece.to_vec()));
            self.used[area] += 2 + piece.len();
            rest = after;
        }
    }

    /// The first area an option of `length` bytes fits in whole (the last option of the
    /// list may take the main area's room for the overload option when nothing is
    /// overloaded).
    fn whole_fit(&self, length: usize, last: bool) -> Option<usize> {
        let [used_main, used_file, used_sname] = self.used;
        let [bufend, file_cap, sname_cap] = self.caps;
        if (used_file == 0 && used_sname == 0 && last && used_main + 2 + length < bufend)
            || used_main + 5 + length < bufend
        {
            Some(MAIN)
        } else if file_cap > 0 && used_file + 3 + length < file_cap {
            Some(FILE)
        } else if sname_cap > 0 && used_sname + 3 + length < sname_cap {
            Some(SNAME)
        } else {
            None
        }
    }

    /// The first area with room for a piece of an option, and how many bytes it takes.
    fn piece_fit(&self) -> Option<(usize, usize)> {
        let [used_main, used_file, used_sname] = self.used;
        let [bufend, file_cap, sname_cap] = self.caps;
        if used_main + 6 < bufend {
            Some((MAIN, bufend - used_main - 5))
        } else if file_cap > 0 && used_file + 4 < file_cap {
            Some((FILE, file_cap - used_file - 3))
        } else if sname_cap > 0 && used_sname + 4 < sname_cap {
            Some((SNAME, sname_cap - used_sname - 3))
        } else {
            None
        }
    }

    /// The options of the main area (with the overload option, then the relay agent
    /// information), and `file` and `sname` encoded when they hold options.
    fn finish(self, agent: Option<&[u8]>) -> Laid {
        let [mut main, file_area, sname_area] = self.areas;
        let mut overload = 0u8;
        let file = (!file_area.is_empty()).then(|| {
            overload |= 1;
            encode_area(&file_area, FILE_LEN)
        });
        let sname = (!sname_area.is_empty()).then(|| {
            overload |= 2;
            encode_area(&sname_area, SNAME_LEN)
        });
        if overload != 0 {
            main.push((code::OVERLOAD, vec![overload]));
        }
        if let Some(a) = agent {
            main.push((code::RELAY_AGENT_INFORMATION, a.to_vec()));
        }
        Laid {
            options: main,
            file,
            sname,
        }
    }
}

/// Options encoded into a `file` or `sname` field of `size` bytes, with the end marker.
fn encode_area(area: &[(u8, Vec<u8>)], size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    for (code, d) in area {
        v.push(*code);
        v.push(d.len() as u8);
        v.extend_from_slice(d);
    }
    v.push(code::END);
    v.resize(size, 0);
    v
}

/// Where ISC's `dhcp_reply` sends an OFFER, ACK or BOOTREPLY.
pub(super) fn lease_dest(req: &Request, reply: &Reply, same_network: bool, is_ack: bool) -> Dest {
    let got_server_id = req.option(code::SERVER_IDENTIFIER).is_some();
    let broadcast = reply.flags & BROADCAST_FLAG != 0;
    if !reply.giaddr.is_unspecified() {
        Dest::Relay(reply.giaddr)
    } else if !reply.ciaddr.is_unspecified()
        && !((got_server_id || broadcast) && same_network)
        && is_ack
    {
        Dest::Unicast(reply.ciaddr)
    } else if !broadcast {
        Dest::Link {
            ip: reply.yiaddr,
            hw: Hardware::from_chaddr(reply.htype, &reply.chaddr, reply.hlen),
        }
    } else {
        Dest::Broadcast
    }
}

/// Put a text value into a fixed-size BOOTP field (truncated, as ISC does).
pub(super) fn field(value: Option<&[u8]>, size: usize) -> Vec<u8> {
    value
        .map(|v| v[..v.len().min(size)].to_vec())
        .unwrap_or_default()
}

/// The `file` and `sname` fields from `filename` and `server-name`.
pub(super) fn boot_fields(st: &OptionState) -> (Vec<u8>, Vec<u8>) {
    (
        field(st.get(SERVER, Sv::Filename), FILE_LEN),
        field(st.get(SERVER, Sv::ServerName), SNAME_LEN),
    )
}

/// `next-server`, for `siaddr`.
pub(super) fn next_server(st: &OptionState) -> Option<Ipv4Addr> {
    st.get(SERVER, Sv::NextServer)
        .filter(|d| d.len() >= 4)
        .map(|ns| Ipv4Addr::new(ns[0], ns[1], ns[2], ns[3]))
}

/// The parameter request list to follow: the configured one, else the client's.
pub(super) fn request_list(st: &OptionState, req: &Request) -> Option<Vec<u8>> {
    st.get(DHCP, code::PARAMETER_REQUEST_LIST)
        .or_else(|| req.option(code::PARAMETER_REQUEST_LIST))
        .map(<[u8]>::to_vec)
}

/// ISC's defaults for a reply with an address: the subnet's mask, and with
/// `use-host-decl-names` the host declaration's name as host name.
pub(super) fn default_mask_and_name(st: &mut OptionState, mask: Ipv4Addr, host: Option<&HostDecl>) {
    if !st.has(DHCP, code::SUBNET_MASK) {
        st.set(DHCP, code::SUBNET_MASK, mask.octets().to_vec());
    }
    if st.flag(Sv::UseHostDeclNames) == Some(true)
        && let Some(h) = host
        && !st.has(DHCP, code::HOST_NAME)
    {
        st.set(DHCP, code::HOST_NAME, h.name.as_bytes().to_vec());
    }
}

impl Ctx<'_> {
    /// The server identifier: the configured one (four bytes), else the address of the
    /// receiving interface.
    pub(super) fn default_server_id(&self, st: &mut OptionState) {
        if st
            .get(DHCP, code::SERVER_IDENTIFIER)
            .is_none_or(|d| d.len() != 4)
            && let Some(a) = self.interface_address()
        {
            st.set(DHCP, code::SERVER_IDENTIFIER, a.octets().to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::state::bucket;

    #[test]
    fn iscs_bucket_of_common_codes() {
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(43), 12);
        assert_eq!(bucket(175), (15 + 5) % 17);
    }
}
