//! A received BOOTP/DHCP packet as the protocol core sees it: the fixed header fields, the
//! options (repeated codes concatenated, as RFC 3396 says; `file`/`sname` scanned when
//! option 52 says they are overloaded), the raw bytes (for `packet (off, len)`) and where it
//! came from: only what came off the wire (what the shell knows besides about the client is
//! [`crate::decide::Facts`]). Built by the wire adapter from bytes, or by tests directly.

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
    /// DHCPLEASEQUERY (RFC 4388).
    pub const LEASEQUERY: u8 = 10;
    /// DHCPLEASEACTIVE (RFC 4388), the last of the leasequery replies (11 to 13).
    pub const LEASEACTIVE: u8 = 13;

    /// ISC's name for a message type.
    pub fn name(t: u8) -> String {
        match t {
            DISCOVER => "DHCPDISCOVER".into(),
            OFFER => "DHCPOFFER".into(),
            REQUEST => "DHCPREQUEST".into(),
            DECLINE => "DHCPDECLINE".into(),
            ACK => "DHCPACK".into(),
            NAK => "DHCPNAK".into(),
            RELEASE => "DHCPRELEASE".into(),
            INFORM => "DHCPINFORM".into(),
            LEASEQUERY => "DHCPLEASEQUERY".into(),
            n => format!("type {n}"),
        }
    }
}

/// DHCP option codes the core reads or writes by number, with their RFC names (RFC 2132
/// unless said otherwise).
pub mod code {
    /// Pad.
    pub const PAD: u8 = 0;
    /// Subnet Mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Router.
    pub const ROUTER: u8 = 3;
    /// Domain Name Server.
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    /// Host Name.
    pub const HOST_NAME: u8 = 12;
    /// Vendor Specific Information.
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// Requested IP Address.
    pub const REQUESTED_IP_ADDRESS: u8 = 50;
    /// IP Address Lease Time.
    pub const LEASE_TIME: u8 = 51;
    /// Option Overload (1: `file` holds options, 2: `sname` does, 3: both).
    pub const OVERLOAD: u8 = 52;
    /// DHCP Message Type (see [`super::msg`]).
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server Identifier.
    pub const SERVER_IDENTIFIER: u8 = 54;
    /// Parameter Request List.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Message (the text of a NAK).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP Message Size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) Time Value.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) Time Value.
    pub const REBINDING_TIME: u8 = 59;
    /// Vendor class identifier.
    pub const VENDOR_CLASS_IDENTIFIER: u8 = 60;
    /// Client-identifier.
    pub const CLIENT_IDENTIFIER: u8 = 61;
    /// User Class (RFC 3004).
    pub const USER_CLASS: u8 = 77;
    /// Client FQDN (RFC 4702).
    pub const CLIENT_FQDN: u8 = 81;
    /// Relay Agent Information (RFC 3046); its sub-options are in [`agent`].
    pub const RELAY_AGENT_INFORMATION: u8 = 82;
    /// Associated IP (RFC 4388, leasequery).
    pub const ASSOCIATED_IP: u8 = 92;
    /// Client System Architecture Type (RFC 4578).
    pub const CLIENT_ARCHITECTURE: u8 = 93;
    /// Client Machine Identifier, the UUID/GUID (RFC 4578).
    pub const CLIENT_MACHINE_ID: u8 = 97;
    /// Subnet Selection (RFC 3011).
    pub const SUBNET_SELECTION: u8 = 118;
    /// iPXE's encapsulated options (not an RFC: iPXE sends it to say what it supports).
    pub const IPXE_ENCAPSULATED: u8 = 175;
    /// End.
    pub const END: u8 = 255;

    /// Sub-options of the relay agent information option.
    pub mod agent {
        /// Link Selection (RFC 3527).
        pub const LINK_SELECTION: u8 = 5;
    }
}

/// The `flags` bit that asks for a broadcast reply (RFC 2131 §2).
pub const BROADCAST_FLAG: u16 = 0x8000;

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
        self.option(code::MESSAGE_TYPE)
            .and_then(|d| d.first().copied())
    }

    /// The client's hardware address (`htype` and the first `hlen` bytes of `chaddr`).
    pub fn hardware(&self) -> Hardware {
        Hardware::from_chaddr(self.htype, &self.chaddr, self.hlen)
    }

    /// An IPv4 address carried in option `code` (exactly four bytes).
    pub fn option_ip(&self, code: u8) -> Option<Ipv4Addr> {
        let d = self.option(code)?;
        let b: [u8; 4] = d.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// Option 61.
    pub fn client_id(&self) -> Option<&[u8]> {
        self.option(code::CLIENT_IDENTIFIER)
    }

    /// Is the broadcast flag set?
    pub fn broadcast(&self) -> bool {
        self.flags & BROADCAST_FLAG != 0
    }

    /// The relay agent sub-options of option 82, in order.
    pub fn agent_options(&self) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        let mut rest = self.option(code::RELAY_AGENT_INFORMATION).unwrap_or(&[]);
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

    /// The address that selects the client's subnet, as given: the relay's link-selection
    /// sub-option, else the subnet-selection option (ISC's `locate_network` order). Only
    /// for a relayed packet (`giaddr` set): unlike ISC, a client on the segment cannot pick
    /// another subnet's addresses and options by sending either option itself.
    pub fn link_selection(&self) -> Option<&[u8]> {
        if self.giaddr.is_unspecified() {
            return None;
        }
        self.selection_as_sent()
    }

    /// The link-selection sub-option or subnet-selection option, relayed or not (for relay
    /// agent options stashed on a lease, which came through a relay).
    pub fn selection_as_sent(&self) -> Option<&[u8]> {
        self.agent_options()
            .into_iter()
            .find(|(c, _)| *c == code::agent::LINK_SELECTION)
            .map(|(_, d)| d)
            .or_else(|| self.option(code::SUBNET_SELECTION))
    }

    /// `print_hw_addr` of the client, as ISC logs it.
    pub fn hw_text(&self) -> String {
        self.hardware().colon()
    }
}
