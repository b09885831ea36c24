//! RFC 8415 messages: a type, a transaction id and options (code, length, data). Relayed
//! messages are not handled (the server answers clients on its own link). Parsing checks
//! every length and returns an error for anything malformed.

use std::net::Ipv6Addr;

/// Message types (RFC 8415 §7.3).
pub mod kind {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const INFORMATION_REQUEST: u8 = 11;
}

/// Option codes used here (RFC 8415 §21, RFC 5970).
pub mod code {
    pub const CLIENT_ID: u16 = 1;
    pub const SERVER_ID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const VENDOR_CLASS: u16 = 16;
    pub const BOOTFILE_URL: u16 = 59;
    pub const BOOTFILE_PARAM: u16 = 60;
    pub const CLIENT_ARCH_TYPE: u16 = 61;
}

/// Status codes (RFC 8415 §21.13).
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
}

/// One DHCPv6 option: its code and raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub code: u16,
    pub data: Vec<u8>,
}

/// A client/server message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u8,
    pub xid: [u8; 3],
    pub options: Vec<Opt>,
}

/// An IA_NA option's content: its IAID, T1, T2 and sub-options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaNa {
    pub iaid: [u8; 4],
    pub t1: u32,
    pub t2: u32,
    pub options: Vec<Opt>,
}

/// An IA Address option's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaAddr {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
    pub options: Vec<Opt>,
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message shorter than 4 bytes ({0})")]
    Short(usize),
    #[error("option {code} claims {claimed} bytes, {left} left")]
    Truncated {
        code: u16,
        claimed: usize,
        left: usize,
    },
    #[error("option header cut off ({0} bytes left)")]
    CutHeader(usize),
    #[error("relayed message (type {0}) not handled")]
    Relayed(u8),
    #[error("option {code}: {what}")]
    BadOption { code: u16, what: &'static str },
}

/// Options in `bytes`, each length checked.
pub fn parse_options(mut bytes: &[u8]) -> Result<Vec<Opt>, WireError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let [a, b, c, d, rest @ ..] = bytes else {
            return Err(WireError::CutHeader(bytes.len()));
        };
        let code = u16::from_be_bytes([*a, *b]);
        let len = usize::from(u16::from_be_bytes([*c, *d]));
        if rest.len() < len {
            return Err(WireError::Truncated {
                code,
                claimed: len,
                left: rest.len(),
            });
        }
        let (data, tail) = rest.split_at(len);
        out.push(Opt {
            code,
            data: data.to_vec(),
        });
        bytes = tail;
    }
    Ok(out)
}

/// Appends `options` in wire form.
pub fn encode_options(options: &[Opt], out: &mut Vec<u8>) {
    for o in options {
        out.extend_from_slice(&o.code.to_be_bytes());
        // Option data built here never exceeds 65535 bytes; cut rather than wrap if it did.
        let len = u16::try_from(o.data.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&o.data[..usize::from(len)]);
    }
}

impl Message {
    /// Parses a client message.
    pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
        let [kind, x0, x1, x2, rest @ ..] = bytes else {
            return Err(WireError::Short(bytes.len()));
        };
        if matches!(*kind, 12 | 13) {
            return Err(WireError::Relayed(*kind));
        }
        Ok(Message {
            kind: *kind,
            xid: [*x0, *x1, *x2],
            options: parse_options(rest)?,
        })
    }

    /// The message in wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind, self.xid[0], self.xid[1], self.xid[2]];
        encode_options(&self.options, &mut out);
        out
    }

    /// The first option with `code`.
    pub fn get(&self, code: u16) -> Option<&[u8]> {
        first(&self.options, code)
    }

    /// Every IA_NA of the message; malformed ones are an error.
    pub fn ia_nas(&self) -> Result<Vec<IaNa>, WireError> {
        self.options
            .iter()
            .filter(|o| o.code == code::IA_NA)
            .map(|o| IaNa::parse(&o.data))
            .collect()
    }

    /// Does the Option Request Option list `code`?
    pub fn requests(&self, code: u16) -> bool {
        self.get(code::ORO).is_some_and(|oro| {
            oro.chunks_exact(2)
                .any(|c| u16::from_be_bytes([c[0], c[1]]) == code)
        })
    }
}

/// The first option with `code` among `options`.
pub fn first(options: &[Opt], code: u16) -> Option<&[u8]> {
    options
        .iter()
        .find(|o| o.code == code)
        .map(|o| o.data.as_slice())
}

impl IaNa {
    pub fn parse(data: &[u8]) -> Result<IaNa, WireError> {
        if data.len() < 12 {
            return Err(WireError::BadOption {
                code: code::IA_NA,
                what: "shorter than 12 bytes",
            });
        }
        let (head, rest) = data.split_at(12);
        Ok(IaNa {
            iaid: [head[0], head[1], head[2], head[3]],
            t1: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            t2: u32::from_be_bytes([head[8], head[9], head[10], head[11]]),
            options: parse_options(rest)?,
        })
    }

    /// The addresses the client put in this IA; malformed ones are an error.
    pub fn addrs(&self) -> Result<Vec<IaAddr>, WireError> {
        self.options
            .iter()
            .filter(|o| o.code == code::IAADDR)
            .map(|o| IaAddr::parse(&o.data))
            .collect()
    }

    pub fn to_opt(&self) -> Opt {
        let mut data = self.iaid.to_vec();
        data.extend_from_slice(&self.t1.to_be_bytes());
        data.extend_from_slice(&self.t2.to_be_bytes());
        encode_options(&self.options, &mut data);
        Opt {
            code: code::IA_NA,
            data,
        }
    }
}

impl IaAddr {
    pub fn parse(data: &[u8]) -> Result<IaAddr, WireError> {
        if data.len() < 24 {
            return Err(WireError::BadOption {
                code: code::IAADDR,
                what: "shorter than 24 bytes",
            });
        }
        let (head, rest) = data.split_at(24);
        let mut a = [0u8; 16];
        a.copy_from_slice(&head[..16]);
        Ok(IaAddr {
            addr: Ipv6Addr::from(a),
            preferred: u32::from_be_bytes([head[16], head[17], head[18], head[19]]),
            valid: u32::from_be_bytes([head[20], head[21], head[22], head[23]]),
            options: parse_options(rest)?,
        })
    }

    pub fn to_opt(&self) -> Opt {
        let mut data = self.addr.octets().to_vec();
        data.extend_from_slice(&self.preferred.to_be_bytes());
        data.extend_from_slice(&self.valid.to_be_bytes());
        encode_options(&self.options, &mut data);
        Opt {
            code: code::IAADDR,
            data,
        }
    }
}

/// A Status Code option with a message.
pub fn status_opt(status: u16, message: &str) -> Opt {
    let mut data = status.to_be_bytes().to_vec();
    data.extend_from_slice(message.as_bytes());
    Opt {
        code: code::STATUS_CODE,
        data,
    }
}

/// Does a Vendor Class option (enterprise number, then length-prefixed strings) carry a
/// string starting with `prefix`? edk2's HTTP boot client sends `HTTPClient:Arch:…`.
pub fn vendor_class_starts_with(data: &[u8], prefix: &[u8]) -> bool {
    let Some(mut rest) = data.get(4..) else {
        return false;
    };
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        let Some(s) = tail.get(..len) else {
            return false;
        };
        if s.starts_with(prefix) {
            return true;
        }
        rest = &tail[len..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solicit() -> Vec<u8> {
        let mut b = vec![kind::SOLICIT, 0x12, 0x34, 0x56];
        let ia = IaNa {
            iaid: [0, 0, 0, 7],
            t1: 0,
            t2: 0,
            options: vec![],
        };
        encode_options(
            &[
                Opt {
                    code: code::CLIENT_ID,
                    data: vec![0, 4, 1, 2, 3, 4],
                },
                ia.to_opt(),
                Opt {
                    code: code::ORO,
                    data: vec![0, 59, 0, 60],
                },
            ],
            &mut b,
        );
        b
    }

    #[test]
    fn round_trip_and_accessors() {
        let bytes = solicit();
        let m = Message::parse(&bytes).expect("parse");
        assert_eq!(m.kind, kind::SOLICIT);
        assert_eq!(m.xid, [0x12, 0x34, 0x56]);
        assert_eq!(m.get(code::CLIENT_ID), Some(&[0, 4, 1, 2, 3, 4][..]));
        assert!(m.requests(code::BOOTFILE_URL) && !m.requests(code::CLIENT_ARCH_TYPE));
        let ias = m.ia_nas().expect("ia");
        assert_eq!(ias[0].iaid, [0, 0, 0, 7]);
        assert_eq!(m.encode(), bytes);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = solicit();
        for cut in 0..bytes.len() {
            let r = Message::parse(&bytes[..cut]);
            // Cuts at an option boundary parse (fewer options); all others are refused.
            if let Ok(m) = r {
                assert!(m.encode().len() == cut, "cut {cut}");
            }
        }
        // A bad IA_NA inside a well-formed message is refused when read.
        let mut b = vec![kind::REQUEST, 0, 0, 1];
        encode_options(
            &[Opt {
                code: code::IA_NA,
                data: vec![1, 2, 3],
            }],
            &mut b,
        );
        let m = Message::parse(&b).expect("outer");
        assert!(m.ia_nas().is_err());
        assert!(matches!(
            Message::parse(&[12, 0, 0, 0]),
            Err(WireError::Relayed(12))
        ));
    }

    #[test]
    fn vendor_class_http_client() {
        let mut d = 343u32.to_be_bytes().to_vec();
        let s = b"HTTPClient:Arch:00016:UNDI:003000";
        d.extend_from_slice(&(s.len() as u16).to_be_bytes());
        d.extend_from_slice(s);
        assert!(vendor_class_starts_with(&d, b"HTTPClient"));
        assert!(!vendor_class_starts_with(&d, b"PXEClient"));
        assert!(!vendor_class_starts_with(&d[..10], b"HTTPClient"));
    }
}
