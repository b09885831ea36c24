//! Bytes to [`Request`] and [`Reply`] to bytes, on dhcproto 0.15: its decoder reads the fixed
//! BOOTP header, its `Message` encoder writes the reply header and magic cookie. Options are
//! walked and written here, because the core needs them raw and in order (dhcproto keeps
//! options in a map sorted by code and re-encodes relay sub-options, while ISC's order and an
//! exact option 82 echo are part of what a drop-in must reproduce).
//!
//! Nothing here panics on input: a packet that cannot be read is [`Malformed`].

use std::net::Ipv4Addr;

use dhcproto::v4::{Message, Opcode};
use dhcproto::{Decoder, Encodable, Encoder};

use crate::decide::{Facts, Outcome, Reply, decide};
use crate::lease::{LeaseTable, Time};
use crate::model::Config;
use crate::request::{RecvMeta, Request, code};

/// The DHCP magic cookie.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// The fixed BOOTP header, up to the vendor area (where the magic cookie stands).
const HEADER_LEN: usize = 236;
/// Where the options begin, after the magic cookie.
const OPTIONS_AT: usize = HEADER_LEN + MAGIC.len();
/// The smallest reply ISC sends: a BOOTP packet without UDP/IP headers.
pub const BOOTP_MIN_LEN: usize = 300;

/// Why a packet could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// Shorter than a BOOTP header.
    #[error("packet of {0} bytes is shorter than a BOOTP header (236)")]
    TooShort(usize),
    /// An option's length runs past the end of its area.
    #[error("option {code} overruns the packet")]
    OptionOverrun {
        /// The option code.
        code: u8,
    },
}

fn ip(d: &mut Decoder<'_>) -> Result<Ipv4Addr, Malformed> {
    d.read_u32()
        .map(Ipv4Addr::from)
        .map_err(|_| Malformed::TooShort(0))
}

/// Walk an options area (RFC 2132: pad 0, end 255, code, length, data), concatenating the
/// data of repeated codes (RFC 3396).
fn walk(area: &[u8], out: &mut Vec<(u8, Vec<u8>)>) -> Result<(), Malformed> {
    let mut i = 0;
    while i < area.len() {
        let code = area[i];
        match code {
            code::PAD => i += 1,
            code::END => break,
            _ => {
                let Some(&len) = area.get(i + 1) else {
                    return Err(Malformed::OptionOverrun { code });
                };
                let start = i + 2;
                let end = start + usize::from(len);
                let Some(data) = area.get(start..end) else {
                    return Err(Malformed::OptionOverrun { code });
                };
                match out.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, d)) => d.extend_from_slice(data),
                    None => out.push((code, data.to_vec())),
                }
                i = end;
            }
        }
    }
    Ok(())
}

/// Read a request.
pub fn parse(bytes: &[u8], meta: RecvMeta) -> Result<Request, Malformed> {
    if bytes.len() < HEADER_LEN {
        return Err(Malformed::TooShort(bytes.len()));
    }
    let short = |_| Malformed::TooShort(bytes.len());
    let mut d = Decoder::new(bytes);
    let op = d.read_u8().map_err(short)?;
    let htype = d.read_u8().map_err(short)?;
    let hlen = d.read_u8().map_err(short)?;
    let hops = d.read_u8().map_err(short)?;
    let xid = d.read_u32().map_err(short)?;
    let secs = d.read_u16().map_err(short)?;
    let flags = d.read_u16().map_err(short)?;
    let ciaddr = ip(&mut d)?;
    let yiaddr = ip(&mut d)?;
    let siaddr = ip(&mut d)?;
    let giaddr = ip(&mut d)?;
    let chaddr = d.read::<16>().map_err(short)?;
    let sname = d.read::<64>().map_err(short)?;
    let file = d.read::<128>().map_err(short)?;
    let mut options = Vec::new();
    let options_valid = bytes.get(HEADER_LEN..OPTIONS_AT) == Some(&MAGIC[..]);
    if options_valid {
        walk(&bytes[OPTIONS_AT..], &mut options)?;
        let overload = options
            .iter()
            .find(|(c, _)| *c == code::OVERLOAD)
            .and_then(|(_, d)| d.first().copied())
            .unwrap_or(0);
        if overload & 1 != 0 {
            walk(&file, &mut options)?;
        }
        if overload & 2 != 0 {
            walk(&sname, &mut options)?;
        }
    }
    Ok(Request {
        op,
        htype,
        hlen,
        hops,
        xid,
        secs,
        flags,
        ciaddr,
        yiaddr,
        siaddr,
        giaddr,
        chaddr,
        sname: sname.to_vec(),
        file: file.to_vec(),
        options_valid,
        options,
        raw: bytes.to_vec(),
        meta,
    })
}

/// Write a reply: the header through dhcproto, then the options in order, the end marker,
/// and zeros up to ISC's minimum of 300 bytes.
pub fn encode(r: &Reply) -> Vec<u8> {
    let hlen = usize::from(r.hlen).min(16);
    let mut m = Message::new_with_id(
        r.xid,
        r.ciaddr,
        r.yiaddr,
        r.siaddr,
        r.giaddr,
        &r.chaddr[..hlen],
    );
    m.set_opcode(Opcode::BootReply)
        .set_htype(r.htype.into())
        .set_hops(r.hops)
        .set_secs(r.secs)
        .set_flags(r.flags.into());
    if !r.sname.is_empty() {
        m.set_sname(&r.sname[..r.sname.len().min(64)]);
    }
    if !r.file.is_empty() {
        m.set_fname(&r.file[..r.file.len().min(128)]);
    }
    let mut buf = Vec::with_capacity(576);
    // The header of a message without options cannot fail to encode: every field has its
    // fixed size and sname/file were cut to theirs.
    if m.encode(&mut Encoder::new(&mut buf)).is_err() || buf.len() < OPTIONS_AT {
        buf.resize(OPTIONS_AT, 0);
        buf[HEADER_LEN..OPTIONS_AT].copy_from_slice(&MAGIC);
    }
    for (code, data) in &r.options {
        for chunk in data.chunks(255) {
            buf.push(*code);
            buf.push(chunk.len() as u8);
            buf.extend_from_slice(chunk);
        }
        if data.is_empty() {
            buf.push(*code);
            buf.push(0);
        }
    }
    buf.push(code::END);
    if buf.len() < BOOTP_MIN_LEN {
        buf.resize(BOOTP_MIN_LEN, 0);
    }
    buf
}

/// The whole pure path, for fuzzing and tests: bytes in, decision out (for a client the
/// shell knows nothing more about: [`Facts::default`]).
pub fn handle_bytes(
    cfg: &Config,
    leases: &LeaseTable,
    bytes: &[u8],
    meta: RecvMeta,
    now: Time,
) -> Result<Outcome, Malformed> {
    let req = parse(bytes, meta)?;
    Ok(decide(cfg, leases, &req, &Facts::default(), now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Dest;

    /// A hand-built DHCPDISCOVER with the options a BIOS iPXE ROM sends (vendor class,
    /// architecture, user class, option 175, UUID, a long request list).
    fn ipxe_discover() -> Vec<u8> {
        let mut p = vec![0u8; 240];
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&0x1a2b_3c4du32.to_be_bytes());
        p[10] = 0x80;
        p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        p[236..240].copy_from_slice(&MAGIC);
        let opts: &[&[u8]] = &[
            &[53, 1, 1],
            &[57, 2, 5, 0xc0],
            &[93, 2, 0, 0],
            &[94, 3, 1, 2, 1],
            &[60, 32],
            b"PXEClient:Arch:00000:UNDI:002001",
            &[77, 4],
            b"iPXE",
            &[
                55, 23, 1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132,
                133, 134, 135, 175, 203,
            ],
            &[175, 6, 0xb1, 1, 1, 0xeb, 1, 1],
            &[61, 7, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56],
            &[97, 17, 0],
            &[1; 16],
            &[0, 0, 255],
        ];
        for o in opts {
            p.extend_from_slice(o);
        }
        p
    }

    #[test]
    fn reads_a_pxe_discover() {
        let r = parse(&ipxe_discover(), RecvMeta::default()).expect("parses");
        assert_eq!(r.msg_type(), Some(1));
        assert_eq!(r.xid, 0x1a2b_3c4d);
        assert!(r.broadcast());
        assert_eq!(r.hw_text(), "52:54:00:12:34:56");
        assert_eq!(r.option(60), Some(&b"PXEClient:Arch:00000:UNDI:002001"[..]));
        assert_eq!(r.option(93), Some(&[0u8, 0][..]));
        assert_eq!(r.option(57), Some(&[5u8, 0xc0][..]));
        assert_eq!(r.option(175).map(<[u8]>::len), Some(6));
        assert_eq!(r.option(97).map(<[u8]>::len), Some(17));
        assert_eq!(r.option(55).map(<[u8]>::len), Some(23));
    }

    #[test]
    fn repeated_and_overloaded_options() {
        let mut p = vec![0u8; 240];
        p[0] = 1;
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(&[53, 1, 3, 52, 1, 1, 12, 2, b'a', b'b', 12, 1, b'c', 255]);
        p[108..113].copy_from_slice(&[15, 3, b'x', b'y', b'z']);
        let r = parse(&p, RecvMeta::default()).expect("parses");
        assert_eq!(r.option(12), Some(&b"abc"[..]));
        assert_eq!(r.option(15), Some(&b"xyz"[..]));
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(
            parse(&[1, 2, 3], RecvMeta::default()),
            Err(Malformed::TooShort(3))
        );
        let mut p = vec![0u8; 240];
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(&[53, 9, 1]);
        assert_eq!(
            parse(&p, RecvMeta::default()),
            Err(Malformed::OptionOverrun { code: 53 })
        );
        // Without the cookie it is a BOOTP packet with an opaque vendor area.
        let mut b = vec![0u8; 300];
        b[0] = 1;
        let r = parse(&b, RecvMeta::default()).expect("BOOTP");
        assert!(!r.options_valid);
        assert_eq!(r.msg_type(), None);
    }

    #[test]
    fn replies_encode_in_order_and_padded() {
        let req = parse(&ipxe_discover(), RecvMeta::default()).expect("parses");
        let mut r = Reply::to(&req);
        r.yiaddr = Ipv4Addr::new(10, 0, 0, 10);
        r.siaddr = Ipv4Addr::new(10, 0, 0, 5);
        r.file = b"pxelinux.0".to_vec();
        r.options = vec![
            (53, vec![2]),
            (54, vec![10, 0, 0, 1]),
            (1, vec![255, 255, 255, 0]),
        ];
        r.dest = Dest::Broadcast;
        let bytes = encode(&r);
        assert_eq!(bytes.len(), BOOTP_MIN_LEN);
        assert_eq!(bytes[0], 2, "BOOTREPLY");
        assert_eq!(&bytes[4..8], &0x1a2b_3c4du32.to_be_bytes());
        assert_eq!(&bytes[16..20], &[10, 0, 0, 10]);
        assert_eq!(&bytes[20..24], &[10, 0, 0, 5]);
        assert_eq!(&bytes[108..118], b"pxelinux.0");
        assert_eq!(&bytes[236..240], &MAGIC);
        assert_eq!(
            &bytes[240..258],
            &[
                53, 1, 2, 54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0, 255, 0, 0
            ]
        );
        // And it reads back.
        let mut back = parse(&bytes, RecvMeta::default()).expect("reads back");
        back.op = 1;
        assert_eq!(back.option(54), Some(&[10u8, 0, 0, 1][..]));
        assert_eq!(back.yiaddr, r.yiaddr);
    }
}
