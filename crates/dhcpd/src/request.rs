//! A received BOOTP/DHCP packet as the protocol core sees it: the fixed header fields, the
//! options (repeated codes concatenated, as RFC 3396 says; `file`/`sname` scanned when
//! option 52 says they are overloaded), the raw bytes (for `packet (off, len)`) and where it
//! came from. Built by the wire adapter from bytes, or by tests directly.

use std::net::Ipv4Addr;

use crate::lease::Hardware;

/// DHCP message types (option 53).
pub mod msg {
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPOFFER.
    pub const OFFER: u8 = 2;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPDECLINE.
    pub const DECLINE: u8 = 4;
    /// DHCPACK.
    pub const ACK: u8 = 5;
    /// DHCPNAK.
    pub const NAK: u8 = 6;
    /// DHCPRELEASE.
    pub const RELEASE: u8 = 7;
    /// DHCPINFORM.
    pub const INFORM: u8 = 8;

    /// ISC's name for a message type.
    pub fn name(t: u8) -> String {
        match t {
            1 => "DHCPDISCOVER".into(),
            2 => "DHCPOFFER".into(),
            3 => "DHCPREQUEST".into(),
            4 => "DHCPDECLINE".into(),
            5 => "DHCPACK".into(),
            6 => "DHCPNAK".into(),
            7 => "DHCPRELEASE".into(),
            8 => "DHCPINFORM".into(),
            10 => "DHCPLEASEQUERY".into(),
            n => format!("type {n}"),
        }
    }
}

/// Where a packet came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvMeta {
    /// Interface name (`eth1`), for logs and for the reply.
    pub iface: String,
    /// The interface's IPv4 addresses, primary first: the primary one is the server
    /// identifier, and they place a directly connected client on a shared network.
    pub iface_addrs: Vec<Ipv4Addr>,
    /// The source address of the datagram (used by `DHCPINFORM` without `ciaddr`).
    pub src: Ipv4Addr,
}

impl Default for RecvMeta {
    fn default() -> Self {
        RecvMeta {
            iface: String::new(),
            iface_addrs: Vec::new(),
            src: Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// A BOOTP/DHCP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `op` (1: BOOTREQUEST).
    pub op: u8,
    /// `htype`.
    pub htype: u8,
    /// `hlen` (at most 16).
    pub hlen: u8,
    /// `hops`.
    pub hops: u8,
    /// `xid`.
    pub xid: u32,
    /// `secs`.
    pub secs: u16,
    /// `flags` (0x8000: broadcast).
    pub flags: u16,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `siaddr`.
    pub siaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// `chaddr` (all 16 bytes).
    pub chaddr: [u8; 16],
    /// `sname` (64 bytes).
    pub sname: Vec<u8>,
    /// `file` (128 bytes).
    pub file: Vec<u8>,
    /// Whether the options area began with the DHCP magic cookie.
    pub options_valid: bool,
    /// Options in order of first appearance; a repeated code's data is concatenated.
    pub options: Vec<(u8, Vec<u8>)>,
    /// The packet bytes as received.
    pub raw: Vec<u8>,
    /// Where it came from.
    pub meta: RecvMeta,
    /// For a machine the inventory knows: its install state (looked up by the shell).
    pub install_state: Option<pxe_model::InstallState>,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            op: 1,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: vec![0; 64],
            file: vec![0; 128],
            options_valid: true,
            options: Vec::new(),
            raw: Vec::new(),
            meta: RecvMeta::default(),
            install_state: None,
        }
    }
}

impl Request {
    /// The data of option `code`, if present.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, d)| d.as_slice())
    }

    /// Option 53, if this is a DHCP packet (`None`: BOOTP).
    pub fn msg_type(&self) -> Option<u8> {
        if !self.options_valid {
            return None;
        }
        self.option(53).and_then(|d| d.first().copied())
    }

    /// The client's hardware address (`htype` and the first `hlen` bytes of `chaddr`).
    pub fn hardware(&self) -> Hardware {
        let n = usize::from(self.hlen.min(16));
        Hardware {
            htype: self.htype,
            addr: self.chaddr[..n].to_vec(),
        }
    }

    /// An IPv4 address carried in option `code` (exactly four bytes).
    pub fn option_ip(&self, code: u8) -> Option<Ipv4Addr> {
        let d = self.option(code)?;
        let b: [u8; 4] = d.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// Option 61.
    pub fn client_id(&self) -> Option<&[u8]> {
        self.option(61)
    }

    /// Is the broadcast flag set?
    pub fn broadcast(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// The relay agent sub-options of option 82, in order.
    pub fn agent_options(&self) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        let mut rest = self.option(82).unwrap_or(&[]);
        while let [code, len, tail @ ..] = rest {
            let n = usize::from(*len);
            if n > tail.len() {
                break;
            }
            out.push((*code, &tail[..n]));
            rest = &tail[n..];
        }
        out
    }

    /// `print_hw_addr` of the client, as ISC logs it.
    pub fn hw_text(&self) -> String {
        self.hardware().colon()
    }
}
