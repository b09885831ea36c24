//! A client that tries to hold what others need: oversized requests, the longest timeout
//! from many ports of one address with no ACK ever, a transfer that never ends. Each is
//! refused or dropped with a log line while a real client still gets its file.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use tftpd::packet::{self, ErrorCode, Mode, Packet, Request, TftpOption};

use crate::support::{Server, Tree, assert_same, need, pseudo_random, run};

fn rrq(name: &str, opts: &[(String, String)]) -> Vec<u8> {
    packet::encode_request(
        false,
        &Request {
            filename: name.into(),
            mode: Mode::Octet,
            options: opts
                .iter()
                .map(|(n, v)| TftpOption {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
        },
    )
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect()
}

/// The next datagram, or `None` after the socket's timeout.
fn recv(sock: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65536];
    match sock.recv_from(&mut buf) {
        Ok((n, from)) => {
            buf.truncate(n);
            Some((buf, from))
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            None
        }
        Err(e) => panic!("recv: {e}"),
    }
}

fn socket_on(ip: &str) -> UdpSocket {
    let sock = UdpSocket::bind(format!("{ip}:0")).expect("bind client socket");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    sock
}

fn server_addr(server: &Server) -> SocketAddr {
    format!("127.0.0.1:{}", server.port).parse().expect("addr")
}

/// The ERROR a request got: (code, message).
fn error_of(pkt: &[u8]) -> (u16, String) {
    match packet::parse(pkt) {
        Ok(Packet::Error { code, message }) => (code.to_u16(), message),
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

#[test]
fn oversized_requests_are_refused_with_an_error_and_a_log_line() {
    let tree = Tree::new();
    tree.file("f", b"hello");
    let root = tree.root.display().to_string();
    let server = Server::start(&["-s", &root]);
    let addr = server_addr(&server);
    let sock = socket_on("127.0.0.1");

    // 600 bytes: a long name padded with options, each well-formed.
    let big = rrq("f", &pairs(&[("x-pad", &"a".repeat(583))]));
    assert_eq!(big.len(), 600);
    sock.send_to(&big, addr).expect("send");
    let (pkt, _) = recv(&sock).expect("an answer to the 600-byte request");
    assert_eq!(error_of(&pkt), (4, "Request too large".into()));
    server.wait_log(&["oversized request refused", "600 bytes"]);

    // 17 options, 17 x 6 bytes: small enough, too many.
    let many: Vec<(String, String)> = (0..17).map(|i| (format!("o{i:02}"), "1".into())).collect();
    let req = rrq("f", &many);
    assert!(req.len() <= 512);
    sock.send_to(&req, addr).expect("send");
    let (pkt, _) = recv(&sock).expect("an answer to 17 options");
    assert_eq!(error_of(&pkt), (4, "Too many options".into()));
    server.wait_log(&["oversized request refused", "17 options"]);

    // 16 options and 512 bytes still work: the file comes.
    let sixteen: Vec<(String, String)> =
        (0..16).map(|i| (format!("o{i:02}"), "1".into())).collect();
    sock.send_to(&rrq("f", &sixteen), addr).expect("send");
    let (pkt, _) = recv(&sock).expect("DATA 1");
    assert!(
        matches!(packet::parse(&pkt), Ok(Packet::Data { block: 1, data }) if data == b"hello"),
        "{pkt:?}"
    );
}

#[test]
fn a_hostile_address_cannot_starve_a_real_client() {
    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    let content = pseudo_random(300_000, 13);
    tree.file("vmlinuz", &content);
    let root = tree.root.display().to_string();
    // Room for 9 transfers in all: without the per-address cap the attacker takes all 9.
    let server = Server::start(&["-s", "--max-transfers", "9", &root]);
    let addr = server_addr(&server);

    // Twelve ports of one address ask for the longest timeout and never acknowledge.
    let hostile: Vec<UdpSocket> = (0..12).map(|_| socket_on("127.0.0.2")).collect();
    let opts = pairs(&[("timeout", "255"), ("blksize", "1468")]);
    for s in &hostile {
        s.send_to(&rrq("vmlinuz", &opts), addr).expect("send");
    }
    let mut oacks = 0;
    let mut busy = 0;
    for s in &hostile {
        let (pkt, _) = recv(s).expect("an answer to each hostile request");
        match packet::parse(&pkt) {
            Ok(Packet::Oack(o)) => {
                assert!(
                    o.iter().all(|o| o.name != "timeout"),
                    "timeout 255 must not be granted: {o:?}"
                );
                oacks += 1;
            }
            Ok(Packet::Error { message, .. }) => {
                assert_eq!(message, "Server busy, try again");
                busy += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((oacks, busy), (8, 4), "8 transfers per address");
    server.wait_log(&["per-client transfer limit reached", "127.0.0.2"]);

    // The legitimate client, from another address, while all 8 are held.
    let out = tree.out("vmlinuz");
    let port = server.port.to_string();
    let o = run(Command::new(&tftp)
        .args(["-m", "binary", "127.0.0.1", &port, "-c", "get", "vmlinuz"])
        .arg(&out));
    assert_same(&out, &content, "tftp-hpa beside the hostile client", &o);
    server.wait_log(&["client=127.0.0.1:", "file=vmlinuz", "result=ok"]);

    // The held transfers give up within retries x the 1 s default timeout, not 255 s each.
    let started = Instant::now();
    let lines = server.wait_log_count(&["client=127.0.0.2", "result=timed out"], 8);
    assert!(started.elapsed() < Duration::from_secs(15), "{lines:?}");
    for l in &lines {
        assert!(l.contains("timeout=1"), "{l}");
    }
}

#[test]
fn a_transfer_past_its_maximum_duration_is_dropped() {
    let tree = Tree::new();
    tree.file("big", &pseudo_random(1 << 20, 3));
    let root = tree.root.display().to_string();
    let server = Server::start(&["-s", "--max-duration", "2", &root]);
    let addr = server_addr(&server);
    let sock = socket_on("127.0.0.1");
    sock.send_to(&rrq("big", &[]), addr).expect("send RRQ");
    // Acknowledge a block every 200 ms: the transfer moves, slowly, past 2 s.
    let started = Instant::now();
    let ended = loop {
        let (pkt, tid) = recv(&sock).expect("a packet within 5 s");
        match packet::parse(&pkt) {
            Ok(Packet::Data { block, .. }) => {
                std::thread::sleep(Duration::from_millis(200));
                sock.send_to(&packet::encode_ack(block), tid).expect("ACK");
            }
            Ok(Packet::Error { code, message }) => break (code, message),
            other => panic!("unexpected {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never dropped");
    };
    assert_eq!(
        ended,
        (ErrorCode::Undefined, "Transfer took too long".into())
    );
    let line = server.wait_log(&["file=big", "dropped", "--max-duration"]);
    assert!(started.elapsed() >= Duration::from_secs(2), "{line}");
}
