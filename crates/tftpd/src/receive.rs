//! The write-transfer (WRQ) state machine: pure, like [`crate::transfer`], whose event and
//! output types it shares.
//!
//! It answers the WRQ with the OACK or ACK 0, takes DATA blocks in order into a
//! [`DataSink`] (netascii decoded when asked), acknowledges every `windowsize` blocks and the
//! final short block, re-acknowledges the last good block when a block is missing or repeated,
//! resends its last packet on timeout a bounded number of times, and stops at once on a client
//! ERROR.

use std::net::SocketAddr;
use std::time::Instant;

use crate::netascii;
use crate::packet::{self, ErrorCode, Mode, Packet};
use crate::source::DataSink;
use crate::transfer::{
    Event, Failure, Finish, Output, Params, answer_stranger, client_failure, io_failure,
};

/// A write transfer in progress.
pub struct WriteTransfer<K> {
    peer: SocketAddr,
    sink: K,
    decoder: Option<netascii::Decoder>,
    params: Params,
    /// Next sequence number expected (1-based).
    expected: u64,
    /// Blocks taken since the last ACK.
    since_ack: u16,
    /// Whether the current gap was already answered with an ACK.
    gap_acked: bool,
    /// The packet to resend on timeout (OACK, or the last ACK).
    last_sent: Vec<u8>,
    bytes: u64,
    retries: u32,
    retransmits: u64,
    deadline: Instant,
    over: bool,
    scratch: Vec<u8>,
}

impl<K: DataSink> WriteTransfer<K> {
    /// Starts the transfer: sends the OACK or ACK 0.
    pub fn start(
        peer: SocketAddr,
        sink: K,
        mode: Mode,
        params: Params,
        now: Instant,
    ) -> (Self, Vec<Output>) {
        let first = match &params.oack {
            Some(opts) => packet::encode_oack(opts),
            None => packet::encode_ack(0),
        };
        let t = WriteTransfer {
            peer,
            sink,
            decoder: (mode == Mode::Netascii).then(netascii::Decoder::new),
            expected: 1,
            since_ack: 0,
            gap_acked: false,
            last_sent: first.clone(),
            bytes: 0,
            retries: 0,
            retransmits: 0,
            deadline: now + params.timeout,
            over: false,
            scratch: Vec::new(),
            params,
        };
        let out = vec![Output::Send(first), Output::Wait(t.deadline)];
        (t, out)
    }

    /// The sink, to inspect after the transfer (tests, logging).
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// Payload bytes received so far, and packets retransmitted.
    pub fn progress(&self) -> (u64, u64) {
        (self.bytes, self.retransmits)
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event<'_>, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        match event {
            Event::Timeout => {
                self.retries += 1;
                if self.retries > self.params.max_retries {
                    self.finish(Err(Failure::TimedOut), &mut out);
                } else {
                    self.retransmits += 1;
                    out.push(Output::Send(self.last_sent.clone()));
                    self.deadline = now + self.params.timeout;
                    out.push(Output::Wait(self.deadline));
                }
            }
            Event::Datagram { from, .. } if from != self.peer => {
                answer_stranger(from, self.deadline, &mut out);
            }
            Event::Datagram { bytes, .. } => match packet::parse(bytes) {
                Ok(Packet::Error { code, message }) => {
                    self.finish(Err(client_failure(code, message)), &mut out);
                }
                Ok(Packet::Data { block, data }) => self.on_data(block, data, now, &mut out),
                _ => out.push(Output::Wait(self.deadline)),
            },
        }
        out
    }

    fn on_data(&mut self, block: u16, data: &[u8], now: Instant, out: &mut Vec<Output>) {
        if block != self.expected as u16 || data.len() > usize::from(self.params.blksize) {
            // Out of order, repeated or oversized: acknowledge what we have, once per gap
            // in window mode, every time in lockstep (the client lost our ACK).
            if self.params.windowsize == 1 || !self.gap_acked {
                self.gap_acked = true;
                self.since_ack = 0;
                self.send_ack(now, out);
            } else {
                out.push(Output::Wait(self.deadline));
            }
            return;
        }
        let written = match &mut self.decoder {
            Some(d) => {
                self.scratch.clear();
                d.decode(data, &mut self.scratch);
                self.sink.write(&self.scratch)
            }
            None => self.sink.write(data),
        };
        if let Err(e) = written {
            self.write_failed(&e, out);
            return;
        }
        self.bytes += data.len() as u64;
        self.expected += 1;
        self.since_ack += 1;
        self.gap_acked = false;
        self.retries = 0;
        let last = data.len() < usize::from(self.params.blksize);
        if last {
            if let Err(e) = self.flush_decoder().and_then(|()| self.sink.finish()) {
                self.write_failed(&e, out);
                return;
            }
            out.push(Output::Send(packet::encode_ack(block)));
            self.finish(Ok(()), out);
        } else if self.since_ack >= self.params.windowsize {
            self.since_ack = 0;
            self.send_ack(now, out);
        } else {
            self.deadline = now + self.params.timeout;
            out.push(Output::Wait(self.deadline));
        }
    }

    /// Writes what the netascii decoder still holds (a final CR).
    fn flush_decoder(&mut self) -> std::io::Result<()> {
        let Some(d) = &mut self.decoder else {
            return Ok(());
        };
        self.scratch.clear();
        d.finish(&mut self.scratch);
        self.sink.write(&self.scratch)
    }

    fn write_failed(&mut self, e: &std::io::Error, out: &mut Vec<Output>) {
        let failure = io_failure(ErrorCode::DiskFull, "Write error", e, out);
        self.finish(Err(failure), out);
    }

    fn send_ack(&mut self, now: Instant, out: &mut Vec<Output>) {
        let ack = if self.expected == 1 && self.params.oack.is_some() {
            // Nothing received yet: the OACK is still the answer.
            self.last_sent.clone()
        } else {
            packet::encode_ack((self.expected - 1) as u16)
        };
        self.last_sent = ack.clone();
        out.push(Output::Send(ack));
        self.deadline = now + self.params.timeout;
        out.push(Output::Wait(self.deadline));
    }

    fn finish(&mut self, result: Result<(), Failure>, out: &mut Vec<Output>) {
        self.over = true;
        out.push(Output::Done(Finish {
            result,
            bytes: self.bytes,
            retransmits: self.retransmits,
        }));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::packet::TftpOption;
    use proptest::prelude::*;
    use std::time::Duration;

    fn peer() -> SocketAddr {
        "198.51.100.1:3000".parse().unwrap()
    }

    fn params(blksize: u16, windowsize: u16, oack: bool) -> Params {
        Params {
            blksize,
            windowsize,
            timeout: Duration::from_secs(1),
            max_retries: 3,
            oack: oack.then(|| {
                vec![TftpOption {
                    name: "blksize".into(),
                    value: blksize.to_string(),
                }]
            }),
        }
    }

    fn data_pkt(block: u16, d: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        packet::encode_data(block, d, &mut v);
        v
    }

    fn feed(t: &mut WriteTransfer<Vec<u8>>, pkt: &[u8]) -> Vec<Output> {
        t.handle(
            Event::Datagram {
                from: peer(),
                bytes: pkt,
            },
            Instant::now(),
        )
    }

    fn acks(out: &[Output]) -> Vec<u16> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(b) => match packet::parse(b) {
                    Ok(Packet::Ack(n)) => Some(n),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn lockstep_upload_with_duplicate_block() {
        let now = Instant::now();
        let (mut t, out) =
            WriteTransfer::start(peer(), Vec::new(), Mode::Octet, params(4, 1, false), now);
        assert_eq!(acks(&out), vec![0]);
        assert_eq!(acks(&feed(&mut t, &data_pkt(1, b"abcd"))), vec![1]);
        assert_eq!(
            acks(&feed(&mut t, &data_pkt(1, b"abcd"))),
            vec![1],
            "re-ack a duplicate"
        );
        let out = feed(&mut t, &data_pkt(2, b"ef"));
        assert_eq!(acks(&out), vec![2]);
        assert!(matches!(out.last(), Some(Output::Done(f)) if f.result.is_ok() && f.bytes == 6));
        assert_eq!(t.sink(), b"abcdef");
    }

    #[test]
    fn window_acks_every_n_blocks_and_once_per_gap() {
        let now = Instant::now();
        let (mut t, out) =
            WriteTransfer::start(peer(), Vec::new(), Mode::Octet, params(2, 3, true), now);
        assert!(matches!(out.first(), Some(Output::Send(b)) if b.get(..2) == Some(&[0, 6])));
        assert!(acks(&feed(&mut t, &data_pkt(1, b"aa"))).is_empty());
        assert!(acks(&feed(&mut t, &data_pkt(2, b"bb"))).is_empty());
        assert_eq!(acks(&feed(&mut t, &data_pkt(3, b"cc"))), vec![3]);
        assert_eq!(acks(&feed(&mut t, &data_pkt(5, b"ee"))), vec![3], "gap");
        assert!(
            acks(&feed(&mut t, &data_pkt(6, b"ff"))).is_empty(),
            "same gap"
        );
        assert!(acks(&feed(&mut t, &data_pkt(4, b"dd"))).is_empty());
        let out = feed(&mut t, &data_pkt(5, b""));
        assert_eq!(acks(&out), vec![5]);
        assert_eq!(t.sink(), b"aabbccdd");
    }

    #[test]
    fn netascii_upload_is_decoded_across_blocks() {
        let now = Instant::now();
        let (mut t, _) =
            WriteTransfer::start(peer(), Vec::new(), Mode::Netascii, params(4, 1, false), now);
        feed(&mut t, &data_pkt(1, b"ab\r\n"));
        feed(&mut t, &data_pkt(2, b"c\r\0\r"));
        feed(&mut t, &data_pkt(3, b"\n"));
        assert_eq!(t.sink(), b"ab\nc\r\n");
    }

    #[test]
    fn error_and_timeouts_end_it() {
        let now = Instant::now();
        let (mut t, _) =
            WriteTransfer::start(peer(), Vec::new(), Mode::Octet, params(512, 1, false), now);
        let out = feed(&mut t, &packet::encode_error(ErrorCode::Undefined, "stop"));
        assert!(matches!(out.as_slice(), [Output::Done(f)] if f.result.is_err()));

        let (mut t, _) =
            WriteTransfer::start(peer(), Vec::new(), Mode::Octet, params(512, 1, false), now);
        for i in 1..=3 {
            assert_eq!(
                acks(&t.handle(Event::Timeout, now + Duration::from_secs(i))),
                vec![0]
            );
        }
        let out = t.handle(Event::Timeout, now + Duration::from_secs(4));
        assert!(matches!(out.as_slice(), [Output::Done(f)] if f.result == Err(Failure::TimedOut)));
    }

    #[test]
    fn stranger_gets_error5() {
        let now = Instant::now();
        let (mut t, _) =
            WriteTransfer::start(peer(), Vec::new(), Mode::Octet, params(512, 1, false), now);
        let out = t.handle(
            Event::Datagram {
                from: "198.51.100.1:3001".parse().unwrap(),
                bytes: &data_pkt(1, b"x"),
            },
            now,
        );
        assert!(matches!(out.first(), Some(Output::SendTo(..))));
        assert!(t.sink().is_empty());
    }

    proptest! {
        #[test]
        fn upload_reassembles_any_content(
            content in proptest::collection::vec(any::<u8>(), 0..3000),
            blksize in 8u16..600,
        ) {
            let now = Instant::now();
            let (mut t, _) = WriteTransfer::start(peer(), Vec::new(), Mode::Octet, params(blksize, 1, false), now);
            let mut chunks: Vec<&[u8]> = content.chunks(usize::from(blksize)).collect();
            if content.len() % usize::from(blksize) == 0 {
                chunks.push(&[]);
            }
            let mut finished = false;
            for (i, c) in chunks.iter().enumerate() {
                let out = feed(&mut t, &data_pkt((i + 1) as u16, c));
                prop_assert_eq!(acks(&out), vec![(i + 1) as u16]);
                finished = matches!(out.last(), Some(Output::Done(_)));
            }
            prop_assert!(finished);
            prop_assert_eq!(t.sink(), &content);
        }
    }
}
