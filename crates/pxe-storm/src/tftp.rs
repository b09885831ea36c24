//! A TFTP read (RFC 1350) with the options firmware negotiates (RFC 2347/2348/2349 and
//! RFC 7440's windowsize), as a state machine without sockets: the caller sends what it
//! returns and feeds it what arrives. Written here rather than taken from a crate: the
//! TFTP crates on crates.io are servers, or clients without windowsize or without a way
//! to drive them from thousands of tasks on one runtime.

use crate::firmware::TftpOptions;

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// The read request for `file`.
pub fn rrq(file: &str, opts: TftpOptions, ask_tsize: bool) -> Vec<u8> {
    let mut p = RRQ.to_be_bytes().to_vec();
    for field in [file, "octet"] {
        p.extend_from_slice(field.as_bytes());
        p.push(0);
    }
    let mut option = |name: &str, value: String| {
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        p.extend_from_slice(value.as_bytes());
        p.push(0);
    };
    if ask_tsize {
        option("tsize", "0".into());
    }
    if opts.blksize != 512 {
        option("blksize", opts.blksize.to_string());
    }
    if opts.windowsize > 1 {
        option("windowsize", opts.windowsize.to_string());
    }
    p
}

/// ERROR 8 ("terminated by option negotiation"), which OVMF sends after its size probe.
pub fn abort_after_oack() -> Vec<u8> {
    let mut p = ERROR.to_be_bytes().to_vec();
    p.extend_from_slice(&8u16.to_be_bytes());
    p.extend_from_slice(b"User aborted the transfer\0");
    p
}

fn ack(block: u16) -> Vec<u8> {
    let mut p = ACK.to_be_bytes().to_vec();
    p.extend_from_slice(&block.to_be_bytes());
    p
}

/// What the caller does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this packet to the server's transfer port.
    Send(Vec<u8>),
    /// Nothing to send; wait for more.
    Wait,
    /// The file is complete; send this final ACK and stop.
    Done { bytes: u64, last_ack: Vec<u8> },
    /// The server refused or the exchange broke.
    Failed(String),
}

/// One read in progress.
#[derive(Debug)]
pub struct Read {
    blksize: usize,
    window: u16,
    /// The next block expected (wrapping after 65535 to 0, as servers roll over).
    next: u16,
    in_window: u16,
    bytes: u64,
    /// The options' reply arrived (or the server ignored the options).
    started: bool,
    /// The `tsize` the server announced, if any.
    pub tsize: Option<u64>,
}

impl Read {
    pub fn new() -> Read {
        Read {
            blksize: 512,
            window: 1,
            next: 1,
            in_window: 0,
            bytes: 0,
            started: false,
            tsize: None,
        }
    }

    /// The packet to resend when nothing arrives in time: the ACK of the last block in
    /// order (`None` before anything arrived: resend the request).
    pub fn retransmission(&self) -> Option<Vec<u8>> {
        self.started.then(|| ack(self.next.wrapping_sub(1)))
    }

    pub fn on_packet(&mut self, pkt: &[u8]) -> Step {
        let Some(op) = pkt.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return Step::Wait;
        };
        match op {
            OACK if !self.started => self.on_oack(&pkt[2..]),
            DATA => self.on_data(pkt),
            ERROR => Step::Failed(error_text(pkt)),
            _ => Step::Wait,
        }
    }

    fn on_oack(&mut self, body: &[u8]) -> Step {
        let mut fields = body.split(|b| *b == 0);
        while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let Some(value) = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            else {
                continue;
            };
            match name.as_str() {
                "blksize" if (8..=65464).contains(&value) => self.blksize = value as usize,
                "windowsize" if (1..=65535).contains(&value) => self.window = value as u16,
                "tsize" => self.tsize = Some(value),
                _ => {}
            }
        }
        self.started = true;
        Step::Send(ack(0))
    }

    fn on_data(&mut self, pkt: &[u8]) -> Step {
        let Some(block) = pkt.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return Step::Wait;
        };
        let data = &pkt[4..];
        if !self.started {
            // The server ignored our options: plain 512-byte lock-step.
            self.started = true;
            self.blksize = 512;
            self.window = 1;
        }
        if block != self.next {
            // Out of order or a duplicate: acknowledge the last block in order once, so
            // the server resends from there (RFC 7440 section 4).
            self.in_window = 0;
            return Step::Send(ack(self.next.wrapping_sub(1)));
        }
        if data.len() > self.blksize {
            return Step::Failed(format!(
                "block {block} has {} bytes, more than the blksize {}",
                data.len(),
                self.blksize
            ));
        }
        self.bytes += data.len() as u64;
        self.next = self.next.wrapping_add(1);
        if data.len() < self.blksize {
            return Step::Done {
                bytes: self.bytes,
                last_ack: ack(block),
            };
        }
        self.in_window += 1;
        if self.in_window >= self.window {
            self.in_window = 0;
            return Step::Send(ack(block));
        }
        Step::Wait
    }
}

impl Default for Read {
    fn default() -> Read {
        Read::new()
    }
}

/// `ERROR 1: File not found` from an ERROR packet.
fn error_text(pkt: &[u8]) -> String {
    let code = pkt
        .get(2..4)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let msg = pkt.get(4..).unwrap_or_default();
    let end = msg.iter().position(|b| *b == 0).unwrap_or(msg.len());
    format!("ERROR {code}: {}", String::from_utf8_lossy(&msg[..end]))
}

/// True for an OACK (the size probe's answer).
pub fn is_oack(pkt: &[u8]) -> bool {
    pkt.get(..2) == Some(&OACK.to_be_bytes()[..])
}

/// True for an ERROR packet, with its text.
pub fn error_of(pkt: &[u8]) -> Option<String> {
    (pkt.get(..2) == Some(&ERROR.to_be_bytes()[..])).then(|| error_text(pkt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(block: u16, len: usize) -> Vec<u8> {
        let mut p = DATA.to_be_bytes().to_vec();
        p.extend_from_slice(&block.to_be_bytes());
        p.extend(std::iter::repeat_n(0xAB, len));
        p
    }

    fn oack(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut p = OACK.to_be_bytes().to_vec();
        for (n, v) in pairs {
            p.extend_from_slice(n.as_bytes());
            p.push(0);
            p.extend_from_slice(v.as_bytes());
            p.push(0);
        }
        p
    }

    #[test]
    fn request_carries_the_options() {
        let p = rrq("pxelinux.0", TftpOptions::new(1468, 4), true);
        assert_eq!(
            p,
            b"\0\x01pxelinux.0\0octet\0tsize\0\x30\0blksize\0\x31468\0windowsize\0\x34\0".to_vec()
        );
        let plain = rrq("a", TftpOptions::new(512, 1), false);
        assert_eq!(plain, b"\0\x01a\0octet\0".to_vec());
    }

    #[test]
    fn windowed_read_acks_each_window_and_finishes_on_a_short_block() {
        let mut r = Read::new();
        assert_eq!(
            r.on_packet(&oack(&[
                ("blksize", "8"),
                ("windowsize", "2"),
                ("tsize", "20")
            ])),
            Step::Send(ack(0))
        );
        assert_eq!(r.tsize, Some(20));
        assert_eq!(r.on_packet(&data(1, 8)), Step::Wait);
        assert_eq!(r.on_packet(&data(2, 8)), Step::Send(ack(2)));
        assert_eq!(
            r.on_packet(&data(3, 4)),
            Step::Done {
                bytes: 20,
                last_ack: ack(3)
            }
        );
    }

    #[test]
    fn a_gap_acks_the_last_block_in_order() {
        let mut r = Read::new();
        r.on_packet(&oack(&[("blksize", "8"), ("windowsize", "4")]));
        assert_eq!(r.on_packet(&data(1, 8)), Step::Wait);
        assert_eq!(r.on_packet(&data(3, 8)), Step::Send(ack(1)));
        assert_eq!(r.on_packet(&data(2, 8)), Step::Wait);
        assert_eq!(r.retransmission(), Some(ack(2)));
    }

    #[test]
    fn a_server_without_options_is_lock_step_512() {
        let mut r = Read::new();
        assert_eq!(r.retransmission(), None);
        assert_eq!(r.on_packet(&data(1, 512)), Step::Send(ack(1)));
        assert!(matches!(
            r.on_packet(&data(2, 0)),
            Step::Done { bytes: 512, .. }
        ));
    }

    #[test]
    fn errors_end_the_read() {
        let mut r = Read::new();
        let mut e = ERROR.to_be_bytes().to_vec();
        e.extend_from_slice(&1u16.to_be_bytes());
        e.extend_from_slice(b"File not found\0");
        assert_eq!(
            r.on_packet(&e),
            Step::Failed("ERROR 1: File not found".into())
        );
        assert!(is_oack(&oack(&[])));
        assert!(error_of(&e).is_some());
    }

    #[test]
    fn block_numbers_roll_over() {
        let mut r = Read::new();
        r.on_packet(&oack(&[("blksize", "8")]));
        r.next = 65535;
        assert_eq!(r.on_packet(&data(65535, 8)), Step::Send(ack(65535)));
        assert_eq!(r.on_packet(&data(0, 8)), Step::Send(ack(0)));
    }

    proptest::proptest! {
        #[test]
        fn any_packet_is_handled(bytes in proptest::collection::vec(0u8..=255, 0..80)) {
            let _ = Read::new().on_packet(&bytes);
        }
    }
}
