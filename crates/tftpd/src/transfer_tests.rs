//! Tests of the read-transfer state machine: scripted exchanges and a simulated lossy client.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::packet::{self, Mode, Packet};
use crate::source::{BlockReader, MemorySource};

fn peer() -> SocketAddr {
    "192.0.2.7:2000".parse().unwrap()
}

fn params(blksize: u16, windowsize: u16, oack: bool) -> Params {
    Params {
        blksize,
        windowsize,
        timeout: Duration::from_secs(1),
        max_retries: 5,
        oack: oack.then(|| {
            vec![TftpOption {
                name: "blksize".into(),
                value: blksize.to_string(),
            }]
        }),
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn start(
    content: &[u8],
    mode: Mode,
    p: Params,
    now: Instant,
) -> (ReadTransfer<MemorySource>, Vec<Output>) {
    let reader = BlockReader::new(MemorySource(Arc::from(content)), mode, p.blksize);
    ReadTransfer::start(peer(), reader, p, now)
}

fn ack(t: &mut ReadTransfer<MemorySource>, block: u16, now: Instant) -> Vec<Output> {
    t.handle(
        Event::Datagram {
            from: peer(),
            bytes: &packet::encode_ack(block),
        },
        now,
    )
}

/// Block numbers of the DATA packets sent to the peer.
fn sent_blocks(out: &[Output]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(b) => match packet::parse(b) {
                Ok(Packet::Data { block, .. }) => Some(block),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn sends(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Send(_) | Output::SendTo(..)))
        .count()
}

fn done(out: &[Output]) -> Option<&Finish> {
    out.iter().find_map(|o| match o {
        Output::Done(f) => Some(f),
        _ => None,
    })
}

#[test]
fn lockstep_small_file() {
    let now = Instant::now();
    let content = data(513);
    let (mut t, out) = start(&content, Mode::Octet, params(512, 1, false), now);
    assert_eq!(sent_blocks(&out), vec![1]);
    assert!(matches!(out.last(), Some(Output::Wait(_))));
    let out = ack(&mut t, 1, now);
    assert_eq!(sent_blocks(&out), vec![2]);
    let out = ack(&mut t, 2, now);
    let f = done(&out).expect("done after last ack");
    assert_eq!(f.result, Ok(()));
    assert_eq!(f.bytes, 513);
    assert!(
        ack(&mut t, 2, now).is_empty(),
        "events after Done are ignored"
    );
}

#[test]
fn empty_file_and_exact_multiple_end_with_empty_block() {
    let now = Instant::now();
    let (mut t, out) = start(&[], Mode::Octet, params(512, 1, false), now);
    let Some(Output::Send(b)) = out.first() else {
        panic!("no send")
    };
    assert_eq!(b, &vec![0, 3, 0, 1]);
    assert!(done(&ack(&mut t, 1, now)).is_some());

    let (mut t, out) = start(&data(1024), Mode::Octet, params(512, 4, false), now);
    assert_eq!(sent_blocks(&out), vec![1, 2, 3]);
    let Some(Output::Send(b)) = out.get(2) else {
        panic!("third send missing")
    };
    assert_eq!(b.len(), 4, "block 3 is empty");
    assert!(done(&ack(&mut t, 3, now)).is_some());
}

#[test]
fn ovmf_size_probe_ends_at_client_error_without_data() {
    let now = Instant::now();
    let (mut t, out) = start(&data(5000), Mode::Octet, params(1468, 4, true), now);
    assert_eq!(sends(&out), 1, "only the OACK");
    let err = packet::encode_error(packet::ErrorCode::OptionRefused, "User aborted");
    let out = t.handle(
        Event::Datagram {
            from: peer(),
            bytes: &err,
        },
        now,
    );
    assert_eq!(sends(&out), 0);
    let f = done(&out).expect("ends at once");
    assert_eq!(
        f.result,
        Err(Failure::ClientError {
            code: 8,
            message: "User aborted".into()
        })
    );
    assert!(
        t.handle(Event::Timeout, now + Duration::from_secs(9))
            .is_empty()
    );
}

#[test]
fn client_error_mid_transfer_ends_it() {
    let now = Instant::now();
    let (mut t, _) = start(&data(5000), Mode::Octet, params(512, 1, false), now);
    ack(&mut t, 1, now);
    let err = packet::encode_error(packet::ErrorCode::DiskFull, "full");
    let out = t.handle(
        Event::Datagram {
            from: peer(),
            bytes: &err,
        },
        now,
    );
    assert_eq!(sends(&out), 0);
    assert!(matches!(
        done(&out).map(|f| &f.result),
        Some(Err(Failure::ClientError { code: 3, .. }))
    ));
}

#[test]
fn oack_then_ack0_starts_data_and_oack_is_retransmitted_on_timeout() {
    let now = Instant::now();
    let (mut t, _) = start(&data(100), Mode::Octet, params(512, 1, true), now);
    let later = now + Duration::from_secs(1);
    let out = t.handle(Event::Timeout, later);
    assert!(
        matches!(out.first(), Some(Output::Send(b)) if b.get(..2) == Some(&[0, 6])),
        "OACK again"
    );
    assert_eq!(sent_blocks(&ack(&mut t, 0, later)), vec![1]);
}

#[test]
fn wrong_tid_gets_error5_and_changes_nothing() {
    let now = Instant::now();
    let (mut t, out) = start(&data(2000), Mode::Octet, params(512, 1, false), now);
    let Some(Output::Wait(deadline)) = out.last().cloned() else {
        panic!("no wait")
    };
    let stranger: SocketAddr = "192.0.2.7:2001".parse().unwrap();
    let out = t.handle(
        Event::Datagram {
            from: stranger,
            bytes: &packet::encode_ack(1),
        },
        now + Duration::from_millis(500),
    );
    assert_eq!(out.len(), 2);
    let Some(Output::SendTo(to, b)) = out.first() else {
        panic!("no error to stranger")
    };
    assert_eq!(*to, stranger);
    assert!(matches!(
        packet::parse(b),
        Ok(Packet::Error {
            code: packet::ErrorCode::UnknownTid,
            ..
        })
    ));
    assert_eq!(out.get(1), Some(&Output::Wait(deadline)), "deadline kept");
    assert_eq!(
        sent_blocks(&ack(&mut t, 1, now)),
        vec![2],
        "block 1 still pending"
    );
}

#[test]
fn duplicate_acks_send_nothing_and_timeouts_are_bounded() {
    let now = Instant::now();
    let (mut t, _) = start(&data(5000), Mode::Octet, params(512, 1, false), now);
    ack(&mut t, 1, now);
    for _ in 0..10 {
        let out = ack(&mut t, 1, now);
        assert_eq!(sends(&out), 0);
    }
    let mut at = now;
    for _ in 0..5 {
        at += Duration::from_secs(1);
        assert_eq!(sent_blocks(&t.handle(Event::Timeout, at)), vec![2]);
    }
    let out = t.handle(Event::Timeout, at + Duration::from_secs(1));
    assert_eq!(sends(&out), 0);
    let f = done(&out).expect("gives up");
    assert_eq!(f.result, Err(Failure::TimedOut));
    assert_eq!(f.retransmits, 5);
    assert_eq!(f.bytes, 512);
}

#[test]
fn window_rewinds_to_an_older_ack() {
    let now = Instant::now();
    let (mut t, out) = start(&data(20 * 512), Mode::Octet, params(512, 4, false), now);
    assert_eq!(sent_blocks(&out), vec![1, 2, 3, 4]);
    assert_eq!(sent_blocks(&ack(&mut t, 2, now)), vec![3, 4, 5, 6]);
    assert_eq!(sent_blocks(&ack(&mut t, 6, now)), vec![7, 8, 9, 10]);
    assert_eq!(sends(&ack(&mut t, 6, now)), 0, "duplicate");
    assert_eq!(sends(&ack(&mut t, 11, now)), 0, "never sent");
    assert_eq!(sends(&ack(&mut t, 5, now)), 0, "older than acked");
}

#[test]
fn block_numbers_roll_over_to_zero() {
    let now = Instant::now();
    let blocks = 65_540usize;
    let content = data(blocks * 8 + 3);
    let (mut t, out) = start(&content, Mode::Octet, params(8, 1, false), now);
    let mut got = Vec::new();
    let mut out = out;
    let mut seen = Vec::new();
    loop {
        if let Some(f) = done(&out) {
            assert_eq!(f.result, Ok(()));
            break;
        }
        let Some(Output::Send(b)) = out.first() else {
            panic!("no data")
        };
        let Ok(Packet::Data { block, data }) = packet::parse(b) else {
            panic!("not data")
        };
        got.extend_from_slice(data);
        seen.push(block);
        out = ack(&mut t, block, now);
    }
    assert_eq!(got, content);
    assert_eq!(seen.get(65534..65537), Some(&[65535, 0, 1][..]));
}

/// A receiver following RFC 7440 (RFC 1350 when windowsize is 1).
struct Client {
    windowsize: u16,
    blksize: usize,
    expected: u64,
    since_ack: u16,
    got: Vec<u8>,
    finished: bool,
}

impl Client {
    fn on_packet(&mut self, bytes: &[u8], gap_acked: &mut bool) -> Option<Vec<u8>> {
        match packet::parse(bytes) {
            Ok(Packet::Oack(_)) if self.expected == 1 => Some(packet::encode_ack(0)),
            Ok(Packet::Data { block, data }) if block == self.expected as u16 => {
                self.got.extend_from_slice(data);
                self.expected += 1;
                self.since_ack += 1;
                *gap_acked = false;
                if data.len() < self.blksize {
                    self.finished = true;
                    return Some(packet::encode_ack(block));
                }
                if self.since_ack == self.windowsize {
                    self.since_ack = 0;
                    return Some(packet::encode_ack(block));
                }
                None
            }
            Ok(Packet::Data { .. }) if !*gap_acked => {
                *gap_acked = true;
                self.since_ack = 0;
                Some(packet::encode_ack((self.expected - 1) as u16))
            }
            _ => None,
        }
    }
}

/// Runs a whole transfer through lossy links; `loss` decides per packet (true = dropped).
fn simulate(content: &[u8], p: Params, loss: &[bool], dup_acks: bool) -> (Vec<u8>, Finish) {
    let mut now = Instant::now();
    let blksize = usize::from(p.blksize);
    let windowsize = p.windowsize;
    let (mut t, mut out) = start(content, Mode::Octet, p, now);
    let mut client = Client {
        windowsize,
        blksize,
        expected: 1,
        since_ack: 0,
        got: Vec::new(),
        finished: false,
    };
    let mut losses = loss.iter().copied();
    let mut to_server: VecDeque<Vec<u8>> = VecDeque::new();
    for _round in 0..1_000_000 {
        let mut gap_acked = false;
        for o in out.drain(..) {
            match o {
                Output::Send(b) => {
                    if !losses.next().unwrap_or(false)
                        && let Some(a) = client.on_packet(&b, &mut gap_acked)
                        && !losses.next().unwrap_or(false)
                    {
                        if dup_acks {
                            to_server.push_back(a.clone());
                        }
                        to_server.push_back(a);
                    }
                }
                Output::Done(f) => return (client.got, f),
                Output::SendTo(..) => panic!("no stranger in this test"),
                Output::Wait(d) => {
                    if to_server.is_empty() {
                        now = d;
                    }
                }
            }
        }
        if let Some(a) = to_server.pop_front() {
            out = t.handle(
                Event::Datagram {
                    from: peer(),
                    bytes: &a,
                },
                now,
            );
            if dup_acks && to_server.front() == Some(&a) {
                to_server.pop_front();
                let again = t.handle(
                    Event::Datagram {
                        from: peer(),
                        bytes: &a,
                    },
                    now,
                );
                assert_eq!(sends(&again), 0, "a duplicate ACK caused a send");
            }
        } else {
            out = t.handle(Event::Timeout, now);
        }
    }
    panic!("simulation did not end");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn receiver_gets_exact_bytes_despite_loss(
        len in 0usize..6000,
        blksize in 8u16..700,
        windowsize in 1u16..9,
        oack in any::<bool>(),
        loss in proptest::collection::vec(proptest::bool::weighted(0.2), 0..200),
        dup_acks in any::<bool>(),
    ) {
        let content = data(len);
        let mut p = params(blksize, windowsize, oack);
        p.max_retries = 1000;
        let (got, f) = simulate(&content, p, &loss, dup_acks);
        prop_assert_eq!(f.result, Ok(()));
        prop_assert_eq!(f.bytes, len as u64);
        prop_assert_eq!(got, content);
    }

    #[test]
    fn lossless_transfer_never_retransmits(
        len in 0usize..6000,
        blksize in 8u16..700,
        windowsize in 1u16..9,
    ) {
        let content = data(len);
        let (got, f) = simulate(&content, params(blksize, windowsize, false), &[], true);
        prop_assert_eq!(f.retransmits, 0);
        prop_assert_eq!(got, content);
    }
}
