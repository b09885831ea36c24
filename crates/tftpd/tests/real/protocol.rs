//! Exchanges replayed over a real UDP socket: OVMF's size probe, a stranger's datagram.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use tftpd::packet::{self, ErrorCode, Mode, Packet, Request, TftpOption};

use crate::support::{Server, Tree, pseudo_random};

fn rrq(name: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    packet::encode_request(
        false,
        &Request {
            filename: name.into(),
            mode: Mode::Octet,
            options: opts
                .iter()
                .map(|(n, v)| TftpOption {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
        },
    )
}

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

fn client(timeout: Duration) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
    sock.set_read_timeout(Some(timeout)).expect("read timeout");
    sock
}

#[test]
fn uefi_size_probe_then_real_download() {
    let tree = Tree::new();
    let content = pseudo_random(100_000, 42);
    tree.file("bootx64.efi", &content);
    let root = tree.root.display().to_string();
    // The default 1 s retransmit timeout: a server that kept going after the ERROR would
    // resend within the 2.5 s quiet period checked below.
    let server = Server::start(&["-s", &root]);
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");

    let sock = client(Duration::from_secs(5));
    let opts = [("tsize", "0"), ("blksize", "1468"), ("windowsize", "4")];
    sock.send_to(&rrq("bootx64.efi", &opts), addr)
        .expect("send RRQ");
    let (oack, tid) = recv(&sock).expect("OACK");
    let Ok(Packet::Oack(got)) = packet::parse(&oack) else {
        panic!("expected an OACK, got {oack:?}")
    };
    let value = |n: &str| got.iter().find(|o| o.name == n).map(|o| o.value.clone());
    assert_eq!(value("tsize"), Some("100000".into()));
    assert_eq!(value("blksize"), Some("1468".into()));
    assert_eq!(value("windowsize"), Some("4".into()));

    sock.send_to(
        &packet::encode_error(ErrorCode::OptionRefused, "User aborted"),
        tid,
    )
    .expect("send ERROR 8");
    sock.set_read_timeout(Some(Duration::from_millis(2500)))
        .expect("read timeout");
    if let Some((pkt, from)) = recv(&sock) {
        panic!("nothing may follow the client's ERROR, got {pkt:?} from {from}");
    }
    let line = server.wait_log(&["file=bootx64.efi", "client error 8"]);
    assert!(line.contains("retransmits=0"), "{line}");

    // The real download that follows, lockstep with the negotiated size, windows of 4.
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    sock.send_to(&rrq("bootx64.efi", &opts), addr)
        .expect("send RRQ");
    let (_, tid) = recv(&sock).expect("OACK");
    sock.send_to(&packet::encode_ack(0), tid).expect("ACK 0");
    let mut got = Vec::new();
    let mut expected: u16 = 1;
    loop {
        let (pkt, from) = recv(&sock).expect("DATA");
        assert_eq!(from, tid);
        let Ok(Packet::Data { block, data }) = packet::parse(&pkt) else {
            panic!("expected DATA, got {pkt:?}")
        };
        if block != expected {
            // A retransmitted window (if this thread was slower than the timeout): skip it.
            assert!(
                expected.wrapping_sub(block) <= 4,
                "block {block} while expecting {expected}"
            );
            continue;
        }
        assert!(data.len() <= 1468);
        got.extend_from_slice(data);
        let last = data.len() < 1468;
        if last || block % 4 == 0 {
            sock.send_to(&packet::encode_ack(block), tid).expect("ACK");
        }
        if last {
            break;
        }
        expected = expected.wrapping_add(1);
    }
    assert_eq!(got, content);
    server.wait_log(&["file=bootx64.efi", "windowsize=4", "result=ok"]);
}

#[test]
fn stranger_gets_error_5_and_transfer_goes_on() {
    let tree = Tree::new();
    let content = pseudo_random(3000, 5);
    tree.file("f", &content);
    let root = tree.root.display().to_string();
    // A long retransmit timeout, so a slow test thread never sees a retransmitted block.
    let server = Server::start(&["-s", "-T", "5000000", &root]);
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    let sock = client(Duration::from_secs(5));
    sock.send_to(&rrq("f", &[]), addr).expect("send RRQ");
    let (first, tid) = recv(&sock).expect("DATA 1");
    assert!(matches!(
        packet::parse(&first),
        Ok(Packet::Data { block: 1, .. })
    ));

    let stranger = client(Duration::from_secs(5));
    stranger
        .send_to(&packet::encode_ack(1), tid)
        .expect("stranger ACK");
    let (err, _) = recv(&stranger).expect("ERROR 5 to the stranger");
    assert!(matches!(
        packet::parse(&err),
        Ok(Packet::Error {
            code: ErrorCode::UnknownTid,
            ..
        })
    ));

    let mut got = first.get(4..).expect("payload").to_vec();
    let mut block = 1u16;
    loop {
        sock.send_to(&packet::encode_ack(block), tid).expect("ACK");
        if got.len() == content.len() && got.len() % 512 != 0 {
            break;
        }
        let (pkt, _) = recv(&sock).expect("DATA");
        let Ok(Packet::Data { block: b, data }) = packet::parse(&pkt) else {
            panic!("expected DATA")
        };
        assert_eq!(
            b,
            block + 1,
            "the stranger must not have advanced the transfer"
        );
        block = b;
        got.extend_from_slice(data);
    }
    assert_eq!(got, content);
    server.wait_log(&["file=f", "result=ok"]);
}

/// With the service socket on the wildcard address, DATA must come from the address the
/// client sent its RRQ to (PXE ROMs drop anything else). Run in a network namespace this test
/// creates for its own thread, so the wildcard socket sees nothing but this test's loopback.
#[test]
fn reply_comes_from_the_address_the_client_asked() {
    let ip = crate::support::need("ip", "iproute2");
    let tree = Tree::new();
    tree.file("pxelinux.0", &pseudo_random(2000, 3));
    let root = tree.root.clone();
    let handle = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare a network namespace (needs root)");
        let up = std::process::Command::new(ip)
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(up.success(), "ip link set lo up failed");
        let mut cmd = std::process::Command::new(crate::support::TFTPD);
        cmd.args(["-L", "-a", "0.0.0.0:0", "-s"]).arg(&root);
        let server = Server::spawn(cmd);
        let sock = client(Duration::from_secs(5));
        let target: SocketAddr = format!("127.0.0.2:{}", server.port).parse().expect("addr");
        sock.send_to(&rrq("pxelinux.0", &[]), target)
            .expect("send RRQ");
        let (pkt, from) = recv(&sock).expect("DATA 1");
        assert!(matches!(
            packet::parse(&pkt),
            Ok(Packet::Data { block: 1, .. })
        ));
        sock.send_to(&packet::encode_error(ErrorCode::Undefined, "done"), from)
            .expect("send ERROR");
        from
    });
    let from = handle.join().expect("namespace thread");
    assert_eq!(from.ip().to_string(), "127.0.0.2", "reply source address");
}

#[test]
fn transfer_cap_refuses_with_a_log_line() {
    let tree = Tree::new();
    tree.file("kernel", &pseudo_random(10_000, 9));
    let root = tree.root.display().to_string();
    let server = Server::start(&["-s", "--max-transfers", "1", &root]);
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    let first = client(Duration::from_secs(5));
    first.send_to(&rrq("kernel", &[]), addr).expect("RRQ 1");
    let (_, tid) = recv(&first).expect("DATA 1 of the first transfer");
    // The first transfer now waits for its ACK; a second request exceeds the cap.
    let second = client(Duration::from_secs(5));
    second.send_to(&rrq("kernel", &[]), addr).expect("RRQ 2");
    let (pkt, from) = recv(&second).expect("an answer to the second request");
    assert_eq!(from, addr, "refused from the service port");
    assert!(
        matches!(packet::parse(&pkt), Ok(Packet::Error { code: ErrorCode::Undefined, ref message }) if message.contains("busy")),
        "{pkt:?}"
    );
    server.wait_log(&["transfer limit reached", "limit=1"]);
    first
        .send_to(&packet::encode_error(ErrorCode::Undefined, "bye"), tid)
        .expect("end the first transfer");
    server.wait_log(&["file=kernel", "client error 0"]);
    // With the first one over, requests are served again.
    second.send_to(&rrq("kernel", &[]), addr).expect("RRQ 3");
    let (pkt, _) = recv(&second).expect("DATA 1 of the third transfer");
    assert!(matches!(
        packet::parse(&pkt),
        Ok(Packet::Data { block: 1, .. })
    ));
}

#[test]
fn port_range_and_dropped_privileges() {
    let tree = Tree::new();
    tree.file("f", &pseudo_random(100, 1));
    let root = tree.root.display().to_string();
    let server = Server::start(&["-s", "-R", "47100:47120", "-u", "nobody", &root]);
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    let sock = client(Duration::from_secs(5));
    for _ in 0..3 {
        sock.send_to(&rrq("f", &[]), addr).expect("RRQ");
        let (pkt, tid) = recv(&sock).expect("DATA");
        assert!(
            (47100..=47120).contains(&tid.port()),
            "TID {tid} outside -R"
        );
        assert!(matches!(
            packet::parse(&pkt),
            Ok(Packet::Data { block: 1, .. })
        ));
        sock.send_to(&packet::encode_ack(1), tid).expect("ACK");
    }
    // Started as root, the server must run as -u; started as anyone else, it stays that user.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("read /proc status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line")
        .to_owned();
    let ours = nix::unistd::geteuid();
    let want = if ours.is_root() {
        nix::unistd::User::from_name("nobody")
            .expect("user lookup")
            .expect("user nobody exists")
            .uid
    } else {
        ours
    };
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert!(
        uids.iter().all(|u| *u == want.to_string()),
        "{uid_line}, want all {want}"
    );
}
