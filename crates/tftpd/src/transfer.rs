//! The read-transfer (RRQ) state machine: pure, no sockets, no clock reads.
//!
//! The I/O shell feeds it [`Event`]s with the current time and carries out the [`Output`]s it
//! returns; every step ends with exactly one `Wait(deadline)` or `Done(..)`.
//!
//! Rules it keeps (RFC 1350, 2347, 7440 and what PXE clients need):
//! - blocks are numbered from 1 and wrap from 65535 to 0; internally a 64-bit sequence number
//!   is kept, so files past 32 MiB at 512-byte blocks just work;
//! - a duplicate ACK never triggers a send; only a timeout retransmits (Sorcerer's Apprentice);
//! - in window mode an ACK for a block inside the window restarts sending after that block;
//! - any ERROR from the client ends the transfer at once, without a reply (OVMF's size probe);
//! - a datagram from another address or port gets ERROR 5 and changes nothing else;
//! - a file whose size is a multiple of the block size ends with an empty block.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::packet::{self, ErrorCode, Packet, TftpOption};
use crate::source::{BlockReader, DataSource};

/// Something that happened to a transfer.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A datagram arrived on the transfer's socket.
    Datagram {
        /// Who sent it.
        from: SocketAddr,
        /// Its bytes.
        bytes: &'a [u8],
    },
    /// The last deadline passed with nothing received.
    Timeout,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send to the client.
    Send(Vec<u8>),
    /// Send to someone else (ERROR 5 to a stray sender).
    SendTo(SocketAddr, Vec<u8>),
    /// Wait for a datagram until this instant, then deliver [`Event::Timeout`].
    Wait(Instant),
    /// The transfer is over.
    Done(Finish),
}

/// How a transfer ended, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// The result.
    pub result: Result<(), Failure>,
    /// Payload bytes acknowledged (read) or received (write).
    pub bytes: u64,
    /// Packets sent again after a timeout.
    pub retransmits: u64,
}

/// Why a transfer did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The client sent an ERROR packet.
    #[error("client error {code}: {message}")]
    ClientError {
        /// Its code.
        code: u16,
        /// Its message.
        message: String,
    },
    /// No answer after the allowed retransmissions.
    #[error("timed out")]
    TimedOut,
    /// The request was refused before any transfer (not found, access violation).
    #[error("refused: {reason}")]
    Refused {
        /// The code of the ERROR sent.
        code: ErrorCode,
        /// Why.
        reason: String,
    },
    /// Dropped by the shell for passing a bound (too slow, too long).
    #[error("dropped: {reason}")]
    Dropped {
        /// Which bound.
        reason: crate::guard::Dropped,
    },
    /// Reading the file or writing the upload failed.
    #[error("i/o error: {error}")]
    Io {
        /// The code of the ERROR sent.
        code: ErrorCode,
        /// The error.
        error: String,
    },
}

impl Failure {
    /// The TFTP error code of the ERROR packet that ended the transfer, sent or received;
    /// `None` when the transfer timed out.
    pub fn code(&self) -> Option<u16> {
        match self {
            Failure::ClientError { code, .. } => Some(*code),
            Failure::Refused { code, .. } | Failure::Io { code, .. } => Some(code.to_u16()),
            Failure::Dropped { .. } => Some(ErrorCode::Undefined.to_u16()),
            Failure::TimedOut => None,
        }
    }
}

/// The message of the ERROR sent to a datagram from another address or port.
pub const UNKNOWN_TID: &str = "Unknown transfer ID";

/// What a transfer does with a datagram from someone other than its client: ERROR 5 to
/// the sender, and the same deadline.
pub(crate) fn answer_stranger(from: SocketAddr, deadline: Instant, out: &mut Vec<Output>) {
    out.push(Output::SendTo(
        from,
        packet::encode_error(ErrorCode::UnknownTid, UNKNOWN_TID),
    ));
    out.push(Output::Wait(deadline));
}

/// An ERROR packet from the client, as the failure it ends the transfer with.
pub(crate) fn client_failure(code: ErrorCode, message: String) -> Failure {
    Failure::ClientError {
        code: code.to_u16(),
        message,
    }
}

/// Ends a transfer on a failed read or write: the ERROR (`code`, `message`) to the client,
/// and the failure.
pub(crate) fn io_failure(
    code: ErrorCode,
    message: &str,
    error: &std::io::Error,
    out: &mut Vec<Output>,
) -> Failure {
    out.push(Output::Send(packet::encode_error(code, message)));
    Failure::Io {
        code,
        error: error.to_string(),
    }
}

/// Opcode and block number in front of a DATA packet's payload.
const DATA_HEADER: usize = 4;

/// Parameters of one transfer, from option negotiation and the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Block size.
    pub blksize: u16,
    /// Window size (1 = lockstep).
    pub windowsize: u16,
    /// Retransmit timeout.
    pub timeout: Duration,
    /// Timeouts in a row before giving up.
    pub max_retries: u32,
    /// The OACK to send first, if options were accepted.
    pub oack: Option<Vec<TftpOption>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// OACK sent, waiting for ACK 0.
    Oack,
    /// Sending data.
    Data,
    /// Over; further events are ignored.
    Over,
}

/// A read transfer in progress.
pub struct ReadTransfer<S> {
    peer: SocketAddr,
    reader: BlockReader<S>,
    params: Params,
    phase: Phase,
    /// Highest sequence number acknowledged (0 = none).
    acked: u64,
    /// Highest sequence number sent.
    sent_upto: u64,
    /// Sequence number of the final (short) block, once read.
    last: Option<u64>,
    /// Payload bytes of each block sent but not yet acknowledged, indexed from `acked + 1`.
    pending_len: std::collections::VecDeque<u64>,
    bytes_acked: u64,
    retries: u32,
    retransmits: u64,
    deadline: Instant,
}

impl<S: DataSource> ReadTransfer<S> {
    /// Starts a transfer to `peer`: sends the OACK, or the first window.
    pub fn start(
        peer: SocketAddr,
        reader: BlockReader<S>,
        params: Params,
        now: Instant,
    ) -> (Self, Vec<Output>) {
        let mut t = ReadTransfer {
            peer,
            reader,
            phase: Phase::Oack,
            acked: 0,
            sent_upto: 0,
            last: None,
            pending_len: Default::default(),
            bytes_acked: 0,
            retries: 0,
            retransmits: 0,
            deadline: now + params.timeout,
            params,
        };
        let mut out = Vec::new();
        match &t.params.oack {
            Some(opts) => {
                out.push(Output::Send(packet::encode_oack(opts)));
                out.push(Output::Wait(t.deadline));
            }
            None => {
                t.phase = Phase::Data;
                t.send_window(now, &mut out);
            }
        }
        (t, out)
    }

    /// Payload bytes acknowledged so far, and packets retransmitted.
    pub fn progress(&self) -> (u64, u64) {
        (self.bytes_acked, self.retransmits)
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event<'_>, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase == Phase::Over {
            return out;
        }
        match event {
            Event::Timeout => self.on_timeout(now, &mut out),
            Event::Datagram { from, .. } if from != self.peer => {
                answer_stranger(from, self.deadline, &mut out);
            }
            Event::Datagram { bytes, .. } => match packet::parse(bytes) {
                Ok(Packet::Error { code, message }) => {
                    self.finish(Err(client_failure(code, message)), &mut out);
                }
                Ok(Packet::Ack(block)) => self.on_ack(block, now, &mut out),
                // Anything else from the client is ignored, like a duplicate.
                _ => out.push(Output::Wait(self.deadline)),
            },
        }
        out
    }

    fn on_ack(&mut self, block: u16, now: Instant, out: &mut Vec<Output>) {
        if self.phase == Phase::Oack {
            if block == 0 {
                self.phase = Phase::Data;
                self.retries = 0;
                self.send_window(now, out);
            } else {
                out.push(Output::Wait(self.deadline));
            }
            return;
        }
        // The smallest sequence number >= acked whose low 16 bits are `block`.
        let delta = u64::from(block.wrapping_sub(self.acked as u16));
        let seq = self.acked + delta;
        if delta == 0 || seq > self.sent_upto {
            // Duplicate, or a block never sent: no reaction, same deadline.
            out.push(Output::Wait(self.deadline));
            return;
        }
        for _ in 0..delta {
            self.bytes_acked += self.pending_len.pop_front().unwrap_or(0);
        }
        self.acked = seq;
        self.retries = 0;
        self.reader.release_before(seq);
        if self.last == Some(seq) {
            self.finish(Ok(()), out);
            return;
        }
        // Blocks after `seq` that were sent are resent as part of the new window (RFC 7440).
        self.pending_len.clear();
        self.send_window(now, out);
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.retries += 1;
        if self.retries > self.params.max_retries {
            self.finish(Err(Failure::TimedOut), out);
            return;
        }
        if self.phase == Phase::Oack {
            if let Some(opts) = &self.params.oack {
                out.push(Output::Send(packet::encode_oack(opts)));
                self.retransmits += 1;
            }
            self.deadline = now + self.params.timeout;
            out.push(Output::Wait(self.deadline));
            return;
        }
        self.pending_len.clear();
        self.send_window(now, out);
    }

    /// Sends blocks `acked + 1 ..= acked + windowsize` (stopping at the last block).
    fn send_window(&mut self, now: Instant, out: &mut Vec<Output>) {
        let first = self.acked + 1;
        let end = first + u64::from(self.params.windowsize.max(1));
        for seq in first..end {
            let mut pkt = Vec::with_capacity(DATA_HEADER + usize::from(self.params.blksize));
            packet::encode_data(seq as u16, &[], &mut pkt);
            let n = match self.reader.read_block(seq - 1, &mut pkt) {
                Ok(n) => n,
                Err(e) => {
                    let failure = io_failure(ErrorCode::Undefined, "Read error", &e, out);
                    self.finish(Err(failure), out);
                    return;
                }
            };
            if seq <= self.sent_upto {
                self.retransmits += 1;
            }
            self.sent_upto = self.sent_upto.max(seq);
            self.pending_len.push_back(n as u64);
            out.push(Output::Send(pkt));
            if n < usize::from(self.params.blksize) {
                self.last = Some(seq);
                break;
            }
        }
        self.deadline = now + self.params.timeout;
        out.push(Output::Wait(self.deadline));
    }

    fn finish(&mut self, result: Result<(), Failure>, out: &mut Vec<Output>) {
        self.phase = Phase::Over;
        out.push(Output::Done(Finish {
            result,
            bytes: self.bytes_acked,
            retransmits: self.retransmits,
        }));
    }
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
