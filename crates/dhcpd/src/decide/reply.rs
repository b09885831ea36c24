//! Building a reply: ISC's `cons_options` (which options go in, in which order: 53, 54, 51,
//! 58, 59, … then the client's parameter request list, or without one ISC's default list and
//! its option-hash order; subnet mask moved before routers; option 82 echoed last) and
//! `store_options` (what fits in the client's maximum message size, with the `file` and
//! `sname` fields used for options when they are free), and where the reply is sent
//! (RFC 2131 §4.1 as ISC's `dhcp_reply` reads it).

use std::net::Ipv4Addr;

use crate::eval::OptionState;
use crate::lease::Hardware;
use crate::model::{Config, DHCP, SERVER};
use crate::request::{Request, msg};

/// Where a reply goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// To the relay agent (`giaddr`), server port.
    Relay(Ipv4Addr),
    /// To the client's own address (`ciaddr`), client port, through the IP stack.
    Unicast(Ipv4Addr),
    /// To 255.255.255.255, client port, on the receiving interface.
    Broadcast,
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
        self.option(53).and_then(|d| d.first().copied())
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

/// The value to send for DHCP option `code`: configured, or built from the space it
/// encapsulates (`vendor-encapsulated-options` from the `vendor-option-space`).
fn option_value(cfg: &Config, st: &OptionState, code: u32) -> Option<Vec<u8>> {
    if let Some(d) = st.get(DHCP, code) {
        return Some(d.to_vec());
    }
    let space = match cfg.spaces.encapsulated_by(code)? {
        Some(s) => s,
        None => {
            let name = st.get(SERVER, 19)?;
            cfg.spaces.id(&String::from_utf8_lossy(name))?
        }
    };
    let d = encapsulate(cfg, st, space);
    (!d.is_empty()).then_some(d)
}

/// ISC's priority list: protocol options first, then the request list (or the default list
/// and every configured option in hash order), duplicates removed, subnet mask before
/// routers.
pub(super) fn priority(cfg: &Config, req: &Request, c: &Cons<'_>) -> Vec<u32> {
    let mut list: Vec<u32> = vec![53, 54, 51, 58, 59, 56, 50, 92];
    match c.prl.filter(|p| !p.is_empty()) {
        Some(prl) => {
            if c.st.has(DHCP, 118) {
                list.push(118);
            }
            if c.echo_client_id {
                list.push(61);
            }
            list.extend(prl.iter().filter(|x| **x != 82).map(|x| u32::from(*x)));
            if matches!(req.msg_type(), Some(msg::DISCOVER | msg::REQUEST)) {
                list.push(1);
            }
        }
        None => {
            list.extend([1, 3, 6, 12, 81]);
            list.extend(c.st.hash_order(DHCP).into_iter().filter(|x| *x != 82));
            let mut enc: Vec<u32> = cfg.spaces.encapsulations().map(|(code, _)| code).collect();
            enc.sort_unstable();
            list.extend(enc.into_iter().filter(|x| *x != 82));
            list.push(43);
        }
    }
    // Remove duplicates (first wins), then move the subnet mask in front of routers.
    let mut out: Vec<u32> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    if let (Some(r), Some(m)) = (
        out.iter().position(|x| *x == 3),
        out.iter().position(|x| *x == 1),
    ) && r < m
    {
        out.swap(r, m);
    }
    out
}

/// ISC's `cons_options` + `store_options`.
pub(super) fn cons_options(cfg: &Config, req: &Request, c: &Cons<'_>) -> Laid {
    // The options buffer size: the client's maximum message size, else 576 bytes (64 bytes
    // of vendor area for BOOTP, or what the BOOTP request itself carried).
    let mut mms = c.mms.map(usize::from);
    if let Some(d) = req.option(57)
        && d.len() >= 2
    {
        let i = usize::from(u16::from_be_bytes([d[0], d[1]]));
        if mms.is_none_or(|m| i < m) {
            mms = Some(i);
        }
    }
    let mut mb_size = match mms {
        Some(m) if m < 576 => MIN_OPTION_LEN,
        Some(m) if m > 1500 => MAX_OPTION_LEN,
        Some(m) => m - FIXED_NON_UDP - UDP_OVERHEAD,
        None if c.bootpp => {
            if req.raw.len() >= 64 + FIXED_NON_UDP {
                req.raw.len() - FIXED_NON_UDP
            } else {
                64
            }
        }
        None => MIN_OPTION_LEN,
    };
    let agent_size = c.agent.map_or(0, |a| a.len() + 2);
    mb_size = (mb_size + agent_size).min(MAX_OPTION_LEN);
    // Positions relative to the start of the options, after the magic cookie: the main
    // area, then the `file` field (128 bytes) and the `sname` field (64) when free.
    let bufend = mb_size.saturating_sub(agent_size).saturating_sub(4);
    let file_cap = if c.file_free { 128 } else { 0 };
    let sname_cap = if c.sname_free { 64 } else { 0 };

    let prio = priority(cfg, req, c);
    let mut areas: [Vec<(u8, Vec<u8>)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut used = [0usize; 3];
    let last = prio.len().saturating_sub(1);
    for (i, code) in prio.iter().enumerate() {
        let Ok(c8) = u8::try_from(*code) else {
            continue;
        };
        let Some(data) = option_value(cfg, c.st, *code) else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        // ISC's store_options: the whole option in the first area it fits (the main area
        // keeps room for the overload option and the end), else in pieces of what each
        // area has left; an option that does not fit at all is rolled back.
        let saved = (used, [areas[0].len(), areas[1].len(), areas[2].len()]);
        let mut length = data.len();
        let mut ix = 0;
        let mut splitup = length > 255;
        let mut stored = true;
        while length > 0 {
            let mut incr = length;
            let area;
            if !splitup
                && ((used[1] == 0 && used[2] == 0 && i == last && used[0] + 2 + length < bufend)
                    || used[0] + 5 + length < bufend)
            {
                area = 0;
            } else if !splitup && file_cap > 0 && used[1] + 3 + length < file_cap {
                area = 1;
            } else if !splitup && sname_cap > 0 && used[2] + 3 + length < sname_cap {
                area = 2;
            } else {
                splitup = true;
                if used[0] + 6 < bufend {
                    incr = bufend - used[0] - 5;
                    area = 0;
                } else if file_cap > 0 && used[1] + 4 < file_cap {
                    incr = file_cap - used[1] - 3;
                    area = 1;
                } else if sname_cap > 0 && used[2] + 4 < sname_cap {
                    incr = sname_cap - used[2] - 3;
                    area = 2;
                } else {
                    stored = false;
                    break;
                }
            }
            incr = incr.min(length).min(255);
            areas[area].push((c8, data[ix..ix + incr].to_vec()));
            used[area] += 2 + incr;
            length -= incr;
            ix += incr;
        }
        if !stored {
            used = saved.0;
            for (a, n) in areas.iter_mut().zip(saved.1) {
                a.truncate(n);
            }
        }
    }
    let [mut main, file_area, sname_area] = areas;
    let mut overload = 0u8;
    let encode_area = |area: &[(u8, Vec<u8>)], size: usize| {
        let mut v = Vec::with_capacity(size);
        for (code, d) in area {
            v.push(*code);
            v.push(d.len() as u8);
            v.extend_from_slice(d);
        }
        v.push(255);
        v.resize(size, 0);
        v
    };
    let file = (!file_area.is_empty()).then(|| {
        overload |= 1;
        encode_area(&file_area, 128)
    });
    let sname = (!sname_area.is_empty()).then(|| {
        overload |= 2;
        encode_area(&sname_area, 64)
    });
    if overload != 0 {
        main.push((52, vec![overload]));
    }
    if let Some(a) = c.agent {
        main.push((82, a.to_vec()));
    }
    Laid {
        options: main,
        file,
        sname,
    }
}

/// Where ISC's `dhcp_reply` sends an OFFER, ACK or BOOTREPLY.
pub(super) fn lease_dest(req: &Request, reply: &Reply, same_network: bool, is_ack: bool) -> Dest {
    let got_server_id = req.option(54).is_some();
    let broadcast = reply.flags & 0x8000 != 0;
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
            hw: Hardware {
                htype: reply.htype,
                addr: reply.chaddr[..usize::from(reply.hlen.min(16))].to_vec(),
            },
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
