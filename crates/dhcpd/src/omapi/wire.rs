//! The OMAPI wire format as ISC dhcpd 4.4 speaks it, as a pure codec.
//!
//! A connection starts with each side sending an 8-byte startup: the protocol version (100)
//! and the header size (24), both big-endian u32. Then messages follow, each:
//!
//! ```text
//! authid u32 | authlen u32 | op u32 | handle u32 | id u32 | rid u32     (the 24-byte header)
//! message name/value list, ended by a u16 zero
//! object name/value list, ended by a u16 zero
//! signature: authlen bytes
//! ```
//!
//! A name/value entry is `u16 name length, name, u32 value length, value`; integers and
//! booleans are 4-byte big-endian values. The signature is an HMAC over everything from
//! `authlen` up to the signature (the authid is not covered); see [`super::sign`].

use std::ops::Range;

/// The protocol version both sides announce.
pub const PROTOCOL_VERSION: u32 = 100;
/// The header size both sides announce.
pub const HEADER_SIZE: u32 = 24;
/// Bytes of the startup message.
pub const STARTUP_LEN: usize = 8;

/// The operation of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Look an object up (and create or update it, with the message's flags).
    Open,
    /// Send an object's current values again.
    Refresh,
    /// Change an object's values (from a client), or an object's values (from the server).
    Update,
    /// Not implemented by ISC.
    Notify,
    /// The outcome of a request: `result` and, perhaps, `message`.
    Status,
    /// Remove an object.
    Delete,
}

impl Op {
    /// The op's number on the wire.
    pub fn code(self) -> u32 {
        match self {
            Op::Open => 1,
            Op::Refresh => 2,
            Op::Update => 3,
            Op::Notify => 4,
            Op::Status => 5,
            Op::Delete => 6,
        }
    }

    /// The op numbered `code`.
    pub fn from_code(code: u32) -> Option<Op> {
        Some(match code {
            1 => Op::Open,
            2 => Op::Refresh,
            3 => Op::Update,
            4 => Op::Notify,
            5 => Op::Status,
            6 => Op::Delete,
            _ => return None,
        })
    }
}

/// One name and its raw value.
pub type Value = (Vec<u8>, Vec<u8>);

/// One decoded (or to-be-encoded) message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The handle of the authenticator that signed it (0: unsigned).
    pub authid: u32,
    /// The raw op number (see [`Op::from_code`]); kept raw so that an unknown op can be
    /// answered with a status rather than a dropped connection.
    pub op: u32,
    /// The object handle the message is about (0: none).
    pub handle: u32,
    /// The sender's transaction id.
    pub id: u32,
    /// The id of the message this one answers (0 in requests).
    pub rid: u32,
    /// The message's own values (`type`, `create`, `exclusive`, `result`, …).
    pub message: Vec<Value>,
    /// The object's values.
    pub object: Vec<Value>,
    /// The signature (empty when unsigned).
    pub signature: Vec<u8>,
}

impl Message {
    /// The message's op, when it is one OMAPI defines.
    pub fn op(&self) -> Option<Op> {
        Op::from_code(self.op)
    }

    /// The first message value named `name`.
    pub fn message_value(&self, name: &str) -> Option<&[u8]> {
        find(&self.message, name)
    }

    /// The first object value named `name`.
    pub fn object_value(&self, name: &str) -> Option<&[u8]> {
        find(&self.object, name)
    }
}

/// The first value named `name` in a list.
pub fn find<'a>(list: &'a [Value], name: &str) -> Option<&'a [u8]> {
    list.iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

/// A 4-byte OMAPI integer's value, when `v` is one.
pub fn int(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

/// A decoded message and where its parts were in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message.
    pub message: Message,
    /// The bytes its signature covers (from `authlen` up to the signature).
    pub signed: Range<usize>,
    /// The bytes it took.
    pub len: usize,
}

/// Why bytes are not an OMAPI message (the connection is then closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The peer's startup names another protocol version or header size.
    #[error("protocol version mismatch: version {version}, header size {header_size}")]
    VersionMismatch {
        /// The version it sent.
        version: u32,
        /// The header size it sent.
        header_size: u32,
    },
    /// The message would be longer than the limit.
    #[error("message longer than {limit} bytes")]
    TooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A message value list holds more entries than the limit.
    #[error("more than {limit} values in a message")]
    TooManyValues {
        /// The limit in force.
        limit: usize,
    },
}

/// Bounds a decoder holds a peer to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of one message, header and signature included.
    pub max_message: usize,
    /// Name/value entries of one message, both lists together.
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            max_values: 256,
        }
    }
}

/// The startup message.
pub fn encode_startup() -> [u8; STARTUP_LEN] {
    let mut b = [0; STARTUP_LEN];
    b[..4].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    b[4..].copy_from_slice(&HEADER_SIZE.to_be_bytes());
    b
}

/// Check a peer's startup message: `Ok(None)` while fewer than 8 bytes are in.
pub fn decode_startup(buf: &[u8]) -> Result<Option<()>, WireError> {
    let (Some(v), Some(h)) = (read_u32(buf, 0), read_u32(buf, 4)) else {
        return Ok(None);
    };
    if v != PROTOCOL_VERSION || h != HEADER_SIZE {
        return Err(WireError::VersionMismatch {
            version: v,
            header_size: h,
        });
    }
    Ok(Some(()))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

/// Decode one message from the front of `buf`. `Ok(None)`: more bytes are needed (and
/// may come, within the limits). A peer can never make this allocate more than
/// `limits.max_message` bytes, whatever lengths it claims.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<Frame>, WireError> {
    let too_long = WireError::TooLong {
        limit: limits.max_message,
    };
    let header = HEADER_SIZE as usize;
    let Some(head) = buf.get(..header) else {
        return Ok(None);
    };
    let field = |i: usize| read_u32(head, i * 4).unwrap_or(0);
    let authlen = field(1) as usize;
    if authlen > limits.max_message {
        return Err(too_long);
    }
    let mut at = header;
    let mut lists: [Vec<Value>; 2] = [Vec::new(), Vec::new()];
    let mut count = 0;
    for list in &mut lists {
        loop {
            if at + 2 > limits.max_message {
                return Err(too_long);
            }
            let Some(nlen) = read_u16(buf, at) else {
                return Ok(None);
            };
            at += 2;
            if nlen == 0 {
                break;
            }
            count += 1;
            if count > limits.max_values {
                return Err(WireError::TooManyValues {
                    limit: limits.max_values,
                });
            }
            let nlen = usize::from(nlen);
            if at + nlen + 4 > limits.max_message {
                return Err(too_long);
            }
            let (Some(name), Some(vlen)) = (buf.get(at..at + nlen), read_u32(buf, at + nlen))
            else {
                return Ok(None);
            };
            at += nlen + 4;
            let vlen = vlen as usize;
            if vlen > limits.max_message || at + vlen > limits.max_message {
                return Err(too_long);
            }
            let Some(value) = buf.get(at..at + vlen) else {
                return Ok(None);
            };
            at += vlen;
            list.push((name.to_vec(), value.to_vec()));
        }
    }
    let signed = 4..at;
    if at + authlen > limits.max_message {
        return Err(too_long);
    }
    let Some(signature) = buf.get(at..at + authlen) else {
        return Ok(None);
    };
    let [message, object] = lists;
    Ok(Some(Frame {
        message: Message {
            authid: field(0),
            op: field(2),
            handle: field(3),
            id: field(4),
            rid: field(5),
            message,
            object,
            signature: signature.to_vec(),
        },
        signed,
        len: at + authlen,
    }))
}

/// Encode a message without its signature, with `authlen` set to `sig_len`; the signature
/// (over `out[4..]`) is to be appended by the caller (see [`super::sign::Key::sign`]).
pub fn encode_unsigned(m: &Message, sig_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for v in [m.authid, sig_len as u32, m.op, m.handle, m.id, m.rid] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for list in [&m.message, &m.object] {
        for (name, value) in list {
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    out
}

/// Encode a message with the signature it carries.
pub fn encode(m: &Message) -> Vec<u8> {
    let mut out = encode_unsigned(m, m.signature.len());
    out.extend_from_slice(&m.signature);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        (
            proptest::collection::vec(any::<u8>(), 1..20),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
    }

    fn message() -> impl Strategy<Value = Message> {
        (
            any::<[u32; 5]>(),
            proptest::collection::vec(value(), 0..6),
            proptest::collection::vec(value(), 0..6),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(h, message, object, signature)| Message {
                authid: h[0],
                op: h[1],
                handle: h[2],
                id: h[3],
                rid: h[4],
                message,
                object,
                signature,
            })
    }

    proptest! {
        #[test]
        fn round_trip(m in message(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = encode(&m);
            let len = bytes.len();
            bytes.extend_from_slice(&tail);
            let f = decode(&bytes, &Limits::default()).unwrap().unwrap();
            prop_assert_eq!(&f.message, &m);
            prop_assert_eq!(f.len, len);
            prop_assert_eq!(f.signed, 4..len - m.signature.len());
        }

        #[test]
        fn every_prefix_asks_for_more(m in message()) {
            let bytes = encode(&m);
            for cut in 0..bytes.len() {
                prop_assert_eq!(decode(&bytes[..cut], &Limits::default()), Ok(None));
            }
        }

        #[test]
        fn never_past_the_limit(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let limits = Limits { max_message: 100, max_values: 4 };
            if let Ok(Some(f)) = decode(&bytes, &limits) {
                prop_assert!(f.len <= 100);
                prop_assert!(f.message.message.len() + f.message.object.len() <= 4);
            }
        }
    }

    #[test]
    fn startup() {
        let s = encode_startup();
        assert_eq!(s, [0, 0, 0, 100, 0, 0, 0, 24]);
        assert_eq!(decode_startup(&s), Ok(Some(())));
        assert_eq!(decode_startup(&s[..7]), Ok(None));
        assert!(decode_startup(&[0, 0, 0, 101, 0, 0, 0, 24]).is_err());
    }

    /// A value claiming 4 GiB is refused at once, not waited for.
    #[test]
    fn huge_claimed_length_refused() {
        let mut b = vec![0u8; 24];
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(b"name");
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode(&b, &Limits::default()),
            Err(WireError::TooLong { limit: 64 * 1024 })
        );
        let mut b = vec![0u8; 24];
        b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&b, &Limits::default()).is_err());
    }

    /// The layout of an OPEN as omshell sends it for `new host; set name = "a"; open`.
    #[test]
    fn layout() {
        let m = Message {
            op: Op::Open.code(),
            id: 7,
            message: vec![(b"type".to_vec(), b"host".to_vec())],
            object: vec![(b"name".to_vec(), b"a".to_vec())],
            ..Message::default()
        };
        let b = encode(&m);
        let mut want = vec![
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0,
        ];
        want.extend_from_slice(&[
            0, 4, b't', b'y', b'p', b'e', 0, 0, 0, 4, b'h', b'o', b's', b't', 0, 0,
        ]);
        want.extend_from_slice(&[0, 4, b'n', b'a', b'm', b'e', 0, 0, 0, 1, b'a', 0, 0]);
        assert_eq!(b, want);
        assert_eq!(m.op(), Some(Op::Open));
        assert_eq!(find(&m.object, "name"), Some(&b"a"[..]));
    }
}
