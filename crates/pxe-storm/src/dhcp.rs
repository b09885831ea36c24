//! The DHCP side of a simulated machine, without sockets: the DISCOVER and REQUEST that
//! PXE firmware sends (broadcast flag set, so that replies reach a generator holding no
//! address yet), and what a reply gives the machine.

use crate::firmware::Firmware;
use dhcproto::v4::{Architecture, DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Encodable, Encoder};
use std::net::Ipv4Addr;

/// One simulated machine's identity on the wire.
#[derive(Clone, Debug)]
pub struct Client {
    pub mac: [u8; 6],
    pub firmware: Firmware,
    /// Option 97: type 0 and a 16-byte UUID derived from the MAC.
    pub uuid: [u8; 16],
}

impl Client {
    /// Machine `index` of a storm: MAC `prefix` plus the index in its last three bytes.
    pub fn numbered(prefix: [u8; 3], index: u32, firmware: Firmware) -> Client {
        let [_, a, b, c] = index.to_be_bytes();
        let mac = [prefix[0], prefix[1], prefix[2], a, b, c];
        let mut uuid = [0u8; 16];
        uuid[..6].copy_from_slice(&mac);
        uuid[6] = 0x40; // version 4 nibble, so that it looks like a UUID
        uuid[10..].copy_from_slice(&mac);
        Client {
            mac,
            firmware,
            uuid,
        }
    }

    /// `aa:bb:cc:dd:ee:ff`.
    pub fn mac_colons(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    fn base(&self, xid: u32, kind: MessageType, secs: u16) -> Message {
        let mut m = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.mac,
        );
        m.set_opcode(Opcode::BootRequest);
        m.set_flags(Flags::default().set_broadcast());
        m.set_secs(secs);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::MaxMessageSize(1472));
        opts.insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::Hostname,
            OptionCode::DomainName,
            OptionCode::VendorExtensions,
            OptionCode::ClassIdentifier,
            OptionCode::TFTPServerName,
            OptionCode::BootfileName,
        ]));
        opts.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(
            self.firmware.arch(),
        )));
        // UNDI 2.1 (BIOS) or 3.0 (UEFI), as option 60 says.
        let (major, minor) = if self.firmware.arch() == 0 {
            (2, 1)
        } else {
            (3, 0)
        };
        opts.insert(DhcpOption::ClientNetworkInterface(1, major, minor));
        let mut id = vec![0u8];
        id.extend_from_slice(&self.uuid);
        opts.insert(DhcpOption::ClientMachineIdentifier(id));
        opts.insert(DhcpOption::ClassIdentifier(
            self.firmware.vendor_class().into_bytes(),
        ));
        if let Some(class) = self.firmware.user_class() {
            opts.insert(DhcpOption::UserClass(class.to_vec()));
        }
        m
    }

    pub fn discover(&self, xid: u32, secs: u16) -> Vec<u8> {
        encode(&self.base(xid, MessageType::Discover, secs))
    }

    /// The REQUEST for an offer (SELECTING state: server id and requested address).
    pub fn request(&self, xid: u32, secs: u16, offer: &Reply) -> Vec<u8> {
        let mut m = self.base(xid, MessageType::Request, secs);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::RequestedIpAddress(offer.address));
        if let Some(server) = offer.server_id {
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
        encode(&m)
    }
}

fn encode(m: &Message) -> Vec<u8> {
    let mut buf = Vec::with_capacity(400);
    let mut e = Encoder::new(&mut buf);
    // Encoding a message built above from valid parts cannot fail; an empty packet is
    // dropped by every server and counted as a timeout if it ever happened.
    if m.encode(&mut e).is_err() {
        buf.clear();
    }
    buf
}

/// What a server's reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    pub kind: MessageType,
    pub chaddr: [u8; 6],
    pub address: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    /// siaddr, the TFTP server unless option 66 names one.
    pub next_server: Ipv4Addr,
    pub tftp_server: Option<String>,
    /// The boot file: option 67, else the `file` field.
    pub boot_file: Option<String>,
}

/// Parses a server's reply; `None` for anything that is not a BOOTREPLY with a message
/// type (the generator drops it and counts it). Read by hand from the fixed header and
/// the option list rather than with dhcproto's decoder, which asserts on some malformed
/// options in debug builds: a reply comes from the network and must never stop the storm.
pub fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    const OPTIONS_AT: usize = 240;
    if bytes.len() < OPTIONS_AT || bytes[0] != 2 || bytes[236..240] != [99, 130, 83, 99] {
        return None;
    }
    let ip = |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
    let mut kind = None;
    let mut server_id = None;
    let mut tftp_server = None;
    let mut boot_file = None;
    let mut at = OPTIONS_AT;
    while let Some(&code) = bytes.get(at) {
        match code {
            0 => {
                at += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let len = usize::from(*bytes.get(at + 1)?);
        let value = bytes.get(at + 2..at + 2 + len)?;
        match (code, value) {
            (53, [t]) => kind = Some(MessageType::from(*t)),
            (54, [a, b, c, d]) => server_id = Some(Ipv4Addr::new(*a, *b, *c, *d)),
            (66, v) => tftp_server = text(v),
            (67, v) => boot_file = text(v),
            _ => {}
        }
        at += 2 + len;
    }
    Some(Reply {
        xid: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        kind: kind?,
        chaddr: [
            bytes[28], bytes[29], bytes[30], bytes[31], bytes[32], bytes[33],
        ],
        address: ip(16),
        server_id,
        next_server: ip(20),
        tftp_server,
        boot_file: boot_file.or_else(|| text(&bytes[108..236])),
    })
}

/// A NUL-padded text field or option; empty is none.
fn text(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let s = String::from_utf8_lossy(&bytes[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::{Decodable, Decoder};

    fn reply_to(request: &[u8], kind: MessageType, file: &str) -> Vec<u8> {
        let mut m = Message::decode(&mut Decoder::new(request)).expect("request decodes");
        m.set_opcode(Opcode::BootReply);
        m.set_yiaddr(Ipv4Addr::new(10, 0, 0, 7));
        m.set_siaddr(Ipv4Addr::new(10, 0, 0, 2));
        m.set_fname_str(file);
        let opts = m.opts_mut();
        opts.clear();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)));
        encode(&m)
    }

    #[test]
    fn discover_carries_the_pxe_identity() {
        let c = Client::numbered([0x02, 0x50, 0x58], 0x01_02_03, Firmware::Uefi);
        let bytes = c.discover(7, 0);
        let m = Message::decode(&mut Decoder::new(&bytes)).expect("decodes");
        assert_eq!(m.chaddr(), &[0x02, 0x50, 0x58, 1, 2, 3]);
        assert!(m.flags().broadcast());
        let arch = m.opts().get(OptionCode::ClientSystemArchitecture);
        assert_eq!(
            arch,
            Some(&DhcpOption::ClientSystemArchitecture(Architecture::from(7)))
        );
        assert_eq!(
            m.opts().get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(
                b"PXEClient:Arch:00007:UNDI:003000".to_vec()
            ))
        );
        assert_eq!(m.opts().get(OptionCode::UserClass), None);
        let ipxe = Client::numbered([2, 0, 0], 1, Firmware::Ipxe).discover(1, 0);
        let m = Message::decode(&mut Decoder::new(&ipxe)).expect("decodes");
        assert_eq!(
            m.opts().get(OptionCode::UserClass),
            Some(&DhcpOption::UserClass(b"iPXE".to_vec()))
        );
    }

    #[test]
    fn request_names_the_offer() {
        let c = Client::numbered([2, 0, 0], 9, Firmware::Bios);
        let offer = parse_reply(&reply_to(
            &c.discover(5, 0),
            MessageType::Offer,
            "pxelinux.0",
        ))
        .expect("offer parses");
        assert_eq!(offer.kind, MessageType::Offer);
        assert_eq!(offer.xid, 5);
        assert_eq!(offer.address, Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(offer.boot_file.as_deref(), Some("pxelinux.0"));
        assert_eq!(offer.next_server, Ipv4Addr::new(10, 0, 0, 2));
        let req = c.request(5, 1, &offer);
        let m = Message::decode(&mut Decoder::new(&req)).expect("decodes");
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 7)))
        );
        assert_eq!(
            m.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn requests_are_not_replies() {
        let c = Client::numbered([2, 0, 0], 1, Firmware::Bios);
        assert_eq!(parse_reply(&c.discover(1, 0)), None);
        assert_eq!(parse_reply(b"garbage"), None);
    }

    proptest::proptest! {
        #[test]
        fn parse_reply_never_panics(bytes in proptest::collection::vec(0u8..=255, 0..600)) {
            let _ = parse_reply(&bytes);
        }
    }
}
