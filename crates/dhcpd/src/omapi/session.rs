//! One OMAPI connection's protocol, as a pure state machine: which messages are signed and
//! by what, the authenticator exchange, and the encoding of answers. The shell reads a
//! [`Frame`], asks [`Session::check`] what to do, hands requests to the objects and turns
//! their [`Response`] into bytes with [`Session::answer`].
//!
//! As ISC 4.4: when `omapi-key` is set, only an OPEN of type `authenticator` (naming the key
//! and its algorithm) may come unsigned, and every message after it is signed by its
//! handle; answers to signed messages are signed, other answers are not; a signature that
//! does not verify gets an unsigned `invalid TSIG key` status (omshell then gives up the
//! connection).

use super::objects::{Request, Response};
use super::sign::Key;
use super::status::Status;
use super::wire::{Frame, Message, Op, encode_unsigned, find};

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send these bytes and read on.
    Answer(Vec<u8>),
    /// Hand this request to the objects, then [`Session::answer`] their response.
    Process(Request),
    /// Close the connection.
    Close,
}

/// The message being answered.
#[derive(Debug, Clone, Copy)]
struct Pending {
    id: u32,
    signed: bool,
    authenticator: bool,
}

/// A connection's state.
#[derive(Debug)]
pub struct Session {
    key: Option<Key>,
    /// The handle the server gave this connection's authenticator.
    auth: Option<u32>,
    next_id: u32,
    pending: Option<Pending>,
}

impl Session {
    /// A new connection; `key`: the `omapi-key`, when set. `first_id`: the transaction id of
    /// the first message this side sends (ISC starts at a random one).
    pub fn new(key: Option<Key>, first_id: u32) -> Session {
        Session {
            key,
            auth: None,
            next_id: first_id,
            pending: None,
        }
    }

    /// Whether this connection has opened its authenticator.
    pub fn authenticated(&self) -> bool {
        self.auth.is_some()
    }

    /// Judge one message; `raw` is the input the frame was decoded from.
    pub fn check(&mut self, frame: &Frame, raw: &[u8]) -> Verdict {
        let m = &frame.message;
        let mut signed = false;
        if m.authid != 0 {
            let status = match (&self.key, self.auth) {
                (Some(key), Some(a)) if a == m.authid => {
                    let data = raw.get(frame.signed.clone()).unwrap_or_default();
                    if key.verify(data, &m.signature) {
                        None
                    } else {
                        Some(Status::INVALID_KEY)
                    }
                }
                _ => Some(Status::KEY_UNKNOWN),
            };
            if let Some(s) = status {
                return Verdict::Answer(self.status(m.id, false, s, None));
            }
            signed = true;
        }
        if m.rid != 0 {
            // An answer to a message this server never sent: ISC disconnects.
            return Verdict::Close;
        }
        let authenticator =
            m.op() == Some(Op::Open) && find(&m.message, "type") == Some(&b"authenticator"[..]);
        if self.key.is_some() && !signed && !authenticator {
            return Verdict::Answer(self.status(
                m.id,
                false,
                Status::NO_KEYS,
                Some("No authenticator on message"),
            ));
        }
        if authenticator {
            return Verdict::Answer(self.open_authenticator(m));
        }
        self.pending = Some(Pending {
            id: m.id,
            signed,
            authenticator: false,
        });
        Verdict::Process(Request {
            op: m.op,
            handle: m.handle,
            message: m.message.clone(),
            object: m.object.clone(),
        })
    }

    /// The answer to the request [`Session::check`] handed out.
    pub fn answer(&mut self, response: Response) -> Option<Vec<u8>> {
        let p = self.pending.take()?;
        match response {
            Response::Update { handle, object } => Some(self.update(p, handle, object)),
            Response::Status { result, text } => Some(self.status(p.id, p.signed, result, text)),
            Response::Close => None,
        }
    }

    /// An authenticator OPEN: the key must be the `omapi-key`, by name and algorithm. The
    /// answer names the handle every later message is signed with.
    fn open_authenticator(&mut self, m: &Message) -> Vec<u8> {
        let Some(key) = self.key.clone() else {
            return self.status(
                m.id,
                false,
                Status::NOT_FOUND,
                Some("no object matches specification"),
            );
        };
        let name = find(&m.object, "name").map(|n| String::from_utf8_lossy(n).into_owned());
        if name.as_deref() != Some(key.name.as_str()) {
            return self.status(
                m.id,
                false,
                Status::NOT_FOUND,
                Some("no object matches specification"),
            );
        }
        let algorithm = find(&m.object, "algorithm")
            .and_then(|a| super::sign::Algorithm::from_name(&String::from_utf8_lossy(a)));
        if algorithm.is_some_and(|a| a != key.algorithm) {
            return self.status(
                m.id,
                false,
                Status::KEY_UNKNOWN,
                Some("object lookup failed"),
            );
        }
        // One authenticator per connection, numbered above every object handle a 32-bit
        // client would count up to by lookups.
        let handle = 0x7fff_0001;
        self.auth = Some(handle);
        let p = Pending {
            id: m.id,
            signed: false,
            authenticator: true,
        };
        let object = vec![
            (b"name".to_vec(), key.name.as_bytes().to_vec()),
            (
                b"algorithm".to_vec(),
                key.algorithm.wire_name().as_bytes().to_vec(),
            ),
        ];
        self.update(p, handle, object)
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn update(&mut self, p: Pending, handle: u32, object: Vec<super::wire::Value>) -> Vec<u8> {
        let m = Message {
            op: Op::Update.code(),
            handle,
            id: self.take_id(),
            rid: p.id,
            object,
            ..Message::default()
        };
        // The authenticator's own answer goes unsigned (the client has no handle yet).
        self.seal(m, p.signed && !p.authenticator)
    }

    fn status(
        &mut self,
        rid: u32,
        signed: bool,
        result: Status,
        text: Option<&'static str>,
    ) -> Vec<u8> {
        let mut message = vec![(b"result".to_vec(), result.0.to_be_bytes().to_vec())];
        if let Some(t) = text {
            message.push((b"message".to_vec(), t.as_bytes().to_vec()));
        }
        let m = Message {
            op: Op::Status.code(),
            id: self.take_id(),
            rid,
            message,
            ..Message::default()
        };
        self.seal(m, signed)
    }

    /// Encode `m`, signed with the connection's authenticator when `signed`.
    fn seal(&self, mut m: Message, signed: bool) -> Vec<u8> {
        match (&self.key, self.auth) {
            (Some(key), Some(a)) if signed => {
                m.authid = a;
                let mut out = encode_unsigned(&m, key.algorithm.sig_len());
                let sig = key.sign(out.get(4..).unwrap_or_default());
                out.extend_from_slice(&sig);
                out
            }
            _ => encode_unsigned(&m, 0),
        }
    }
}
