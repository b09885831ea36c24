//! TFTP wire format (RFC 1350, RFC 2347): parse and encode RRQ, WRQ, DATA, ACK, ERROR, OACK.
//!
//! Parsing never panics and never reads past the datagram: every field is bounds-checked and
//! anything that does not fit the grammar is a [`PacketError`]. Option names are kept as the
//! client spelled them (they are echoed back in an OACK) and compared case-insensitively.

use std::fmt;

/// Opcodes of RFC 1350 and RFC 2347.
pub const OP_RRQ: u16 = 1;
/// Write request.
pub const OP_WRQ: u16 = 2;
/// Data block.
pub const OP_DATA: u16 = 3;
/// Acknowledgement.
pub const OP_ACK: u16 = 4;
/// Error.
pub const OP_ERROR: u16 = 5;
/// Option acknowledgement (RFC 2347).
pub const OP_OACK: u16 = 6;

/// Transfer mode of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes as they are.
    Octet,
    /// Text: lines end in CR LF on the wire, a lone CR is sent as CR NUL.
    Netascii,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
        })
    }
}

/// One `name value` pair of an RRQ, WRQ or OACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpOption {
    /// The name as the peer spelled it.
    pub name: String,
    /// The value, uninterpreted.
    pub value: String,
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file name; bytes that are not UTF-8 become U+FFFD (and are refused by `resolve`).
    pub filename: String,
    /// The transfer mode.
    pub mode: Mode,
    /// Options in the order the client sent them.
    pub options: Vec<TftpOption>,
}

/// TFTP error codes (RFC 1350, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    Undefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347); OVMF also sends it to abort a size probe.
    OptionRefused,
    /// Any other value.
    Other(u16),
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Undefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Other(n) => n,
        }
    }

    /// The code for a numeric value.
    pub fn from_u16(n: u16) -> Self {
        match n {
            0 => ErrorCode::Undefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            n => ErrorCode::Other(n),
        }
    }
}

/// A decoded datagram. DATA borrows its payload from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request.
    Rrq(Request),
    /// Write request.
    Wrq(Request),
    /// A data block.
    Data {
        /// Block number (wraps past 65535).
        block: u16,
        /// Payload, at most the negotiated block size.
        data: &'a [u8],
    },
    /// Acknowledgement of a block (0 acknowledges an OACK or a WRQ).
    Ack(u16),
    /// An error; ends the transfer.
    Error {
        /// The code.
        code: ErrorCode,
        /// The message, lossily decoded.
        message: String,
    },
    /// Option acknowledgement.
    Oack(Vec<TftpOption>),
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Fewer than the 2 or 4 header bytes.
    #[error("datagram too short")]
    TooShort,
    /// The opcode is not one of 1 to 6.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A string field has no terminating NUL.
    #[error("unterminated string field")]
    Unterminated,
    /// The mode is neither octet nor netascii (mail is obsolete and refused too).
    #[error("unsupported transfer mode {0:?}")]
    BadMode(String),
}

/// Parses one datagram.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, PacketError> {
    let (op, rest) = split_u16(buf).ok_or(PacketError::TooShort)?;
    match op {
        OP_RRQ => parse_request(rest).map(Packet::Rrq),
        OP_WRQ => parse_request(rest).map(Packet::Wrq),
        OP_DATA => {
            let (block, data) = split_u16(rest).ok_or(PacketError::TooShort)?;
            Ok(Packet::Data { block, data })
        }
        // Bytes after the block number are ignored, as most servers do.
        OP_ACK => split_u16(rest)
            .map(|(block, _)| Packet::Ack(block))
            .ok_or(PacketError::TooShort),
        OP_ERROR => {
            let (code, msg) = split_u16(rest).ok_or(PacketError::TooShort)?;
            // Many clients omit the final NUL; take what is there.
            let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
            let message = String::from_utf8_lossy(msg.get(..end).unwrap_or_default()).into_owned();
            Ok(Packet::Error {
                code: ErrorCode::from_u16(code),
                message,
            })
        }
        OP_OACK => parse_options(rest).map(Packet::Oack),
        other => Err(PacketError::UnknownOpcode(other)),
    }
}

fn split_u16(buf: &[u8]) -> Option<(u16, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*head), rest))
}

/// Splits off one NUL-terminated string.
fn split_str(buf: &[u8]) -> Result<(&[u8], &[u8]), PacketError> {
    let end = buf
        .iter()
        .position(|&b| b == 0)
        .ok_or(PacketError::Unterminated)?;
    let (s, rest) = buf.split_at(end);
    Ok((s, rest.get(1..).unwrap_or_default()))
}

fn parse_request(buf: &[u8]) -> Result<Request, PacketError> {
    let (name, rest) = split_str(buf)?;
    let (mode, rest) = split_str(rest)?;
    let mode_text = String::from_utf8_lossy(mode);
    let mode = if mode_text.eq_ignore_ascii_case("octet") {
        Mode::Octet
    } else if mode_text.eq_ignore_ascii_case("netascii") {
        Mode::Netascii
    } else {
        return Err(PacketError::BadMode(mode_text.into_owned()));
    };
    Ok(Request {
        filename: String::from_utf8_lossy(name).into_owned(),
        mode,
        options: parse_options(rest)?,
    })
}

/// Parses `name\0value\0` pairs. Trailing NUL padding and a final name without a value are
/// ignored (some boot ROMs pad requests); an unterminated string is an error.
fn parse_options(mut buf: &[u8]) -> Result<Vec<TftpOption>, PacketError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (name, rest) = split_str(buf)?;
        if rest.is_empty() {
            break;
        }
        let (value, rest) = split_str(rest)?;
        buf = rest;
        if name.is_empty() {
            continue;
        }
        out.push(TftpOption {
            name: String::from_utf8_lossy(name).into_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
        });
    }
    Ok(out)
}

/// Appends a DATA packet to `out`.
pub fn encode_data(block: u16, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&OP_DATA.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(data);
}

/// An ACK packet.
pub fn encode_ack(block: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    out.extend_from_slice(&OP_ACK.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out
}

/// An ERROR packet. NUL bytes in the message are dropped so the packet stays well formed.
pub fn encode_error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + message.len());
    out.extend_from_slice(&OP_ERROR.to_be_bytes());
    out.extend_from_slice(&code.to_u16().to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0));
    out.push(0);
    out
}

/// An OACK packet.
pub fn encode_oack(options: &[TftpOption]) -> Vec<u8> {
    let mut out = vec![0, OP_OACK as u8];
    push_options(options, &mut out);
    out
}

/// An RRQ or WRQ packet (used by tests and by clients).
pub fn encode_request(write: bool, req: &Request) -> Vec<u8> {
    let op = if write { OP_WRQ } else { OP_RRQ };
    let mut out = op.to_be_bytes().to_vec();
    out.extend(req.filename.bytes().filter(|&b| b != 0));
    out.push(0);
    out.extend_from_slice(req.mode.to_string().as_bytes());
    out.push(0);
    push_options(&req.options, &mut out);
    out
}

fn push_options(options: &[TftpOption], out: &mut Vec<u8>) {
    for o in options {
        out.extend(o.name.bytes().filter(|&b| b != 0));
        out.push(0);
        out.extend(o.value.bytes().filter(|&b| b != 0));
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opt(name: &str, value: &str) -> TftpOption {
        TftpOption {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn parses_rrq_with_options_case_insensitive_mode() {
        let raw = b"\0\x01pxelinux.0\0OcTeT\0TSIZE\x000\0blksize\x001468\0";
        let Ok(Packet::Rrq(req)) = parse(raw) else {
            panic!("not an RRQ: {:?}", parse(raw));
        };
        assert_eq!(req.filename, "pxelinux.0");
        assert_eq!(req.mode, Mode::Octet);
        assert_eq!(req.options, vec![opt("TSIZE", "0"), opt("blksize", "1468")]);
    }

    #[test]
    fn request_padding_and_dangling_name_are_ignored() {
        let raw = b"\0\x01f\0netascii\0blksize\x00512\0\0\0";
        let Ok(Packet::Rrq(req)) = parse(raw) else {
            panic!("not an RRQ");
        };
        assert_eq!(req.mode, Mode::Netascii);
        assert_eq!(req.options, vec![opt("blksize", "512")]);
        let raw = b"\0\x02f\0octet\0tsize\0";
        assert!(matches!(parse(raw), Ok(Packet::Wrq(r)) if r.options.is_empty()));
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert_eq!(parse(b""), Err(PacketError::TooShort));
        assert_eq!(parse(b"\0"), Err(PacketError::TooShort));
        assert_eq!(parse(b"\0\x01file"), Err(PacketError::Unterminated));
        assert_eq!(parse(b"\0\x01file\0octet"), Err(PacketError::Unterminated));
        assert_eq!(
            parse(b"\0\x01file\0mail\0"),
            Err(PacketError::BadMode("mail".into()))
        );
        assert_eq!(parse(b"\0\x09"), Err(PacketError::UnknownOpcode(9)));
        assert_eq!(parse(b"\0\x04\0"), Err(PacketError::TooShort));
        assert_eq!(parse(b"\0\x03\x01"), Err(PacketError::TooShort));
        assert_eq!(
            parse(b"\0\x01f\0octet\0blksize\x00512"),
            Err(PacketError::Unterminated)
        );
    }

    #[test]
    fn non_utf8_filename_is_replaced_not_dropped() {
        let Ok(Packet::Rrq(req)) = parse(b"\0\x01a\xffb\0octet\0") else {
            panic!("not an RRQ");
        };
        assert_eq!(req.filename, "a\u{fffd}b");
    }

    #[test]
    fn data_ack_error_oack() {
        assert_eq!(
            parse(b"\0\x03\xff\xffabc"),
            Ok(Packet::Data {
                block: 65535,
                data: b"abc"
            })
        );
        assert_eq!(
            parse(b"\0\x03\0\x01"),
            Ok(Packet::Data {
                block: 1,
                data: b""
            })
        );
        assert_eq!(parse(b"\0\x04\x01\x00"), Ok(Packet::Ack(256)));
        assert_eq!(
            parse(b"\0\x05\0\x08User aborted\0"),
            Ok(Packet::Error {
                code: ErrorCode::OptionRefused,
                message: "User aborted".into()
            })
        );
        assert_eq!(
            parse(b"\0\x05\0\x01no nul"),
            Ok(Packet::Error {
                code: ErrorCode::FileNotFound,
                message: "no nul".into()
            })
        );
        assert_eq!(
            parse(b"\0\x06tsize\x0042\0"),
            Ok(Packet::Oack(vec![opt("tsize", "42")]))
        );
    }

    #[test]
    fn encodings_are_exact() {
        let mut d = Vec::new();
        encode_data(2, b"xy", &mut d);
        assert_eq!(d, b"\0\x03\0\x02xy");
        assert_eq!(encode_ack(258), b"\0\x04\x01\x02");
        assert_eq!(
            encode_error(ErrorCode::UnknownTid, "who\0 are you"),
            b"\0\x05\0\x05who are you\0"
        );
        assert_eq!(
            encode_oack(&[opt("blksize", "1468"), opt("tsize", "7")]),
            b"\0\x06blksize\x001468\0tsize\x007\0"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn requests_round_trip(
            name in "[a-zA-Z0-9/._-]{1,40}",
            netascii in any::<bool>(),
            write in any::<bool>(),
            opts in proptest::collection::vec(("[a-z]{1,10}", "[0-9]{1,6}"), 0..5),
        ) {
            let req = Request {
                filename: name,
                mode: if netascii { Mode::Netascii } else { Mode::Octet },
                options: opts.into_iter().map(|(n, v)| TftpOption { name: n, value: v }).collect(),
            };
            let bytes = encode_request(write, &req);
            let parsed = parse(&bytes);
            if write {
                prop_assert_eq!(parsed, Ok(Packet::Wrq(req)));
            } else {
                prop_assert_eq!(parsed, Ok(Packet::Rrq(req)));
            }
        }

        #[test]
        fn data_round_trips(block in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let mut out = Vec::new();
            encode_data(block, &data, &mut out);
            prop_assert_eq!(parse(&out), Ok(Packet::Data { block, data: &data }));
        }
    }
}
