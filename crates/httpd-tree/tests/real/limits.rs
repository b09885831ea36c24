//! Limits against slow or greedy clients: request-head size and field count, long
//! targets, the header read timeout, the write-progress timeout, the connection limit, the
//! per-address limit, the idle keep-alive limit and the minimum send rate.

use crate::support::{Server, lab, raw};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn oversized_heads_and_targets_are_refused() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let big = format!(
        "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(raw(server.port, big.as_bytes()).status, 431);
    let mut many = String::from("GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(server.port, many.as_bytes()).status, 431);
    let long = format!(
        "GET /trees/centos7/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(5000)
    );
    assert_eq!(raw(server.port, long.as_bytes()).status, 414);
    let garbage = raw(server.port, b"GARBAGE\r\n\r\n");
    assert_eq!(garbage.status, 400);
    assert!(garbage.head.starts_with("HTTP/1.1 400"), "{}", garbage.head);
    // The server is still fine.
    let ok = raw(
        server.port,
        b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok.status, 200);
}

/// Reads until the server closes; the byte count.
fn read_until_closed(s: &mut TcpStream) -> usize {
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut total = 0;
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

#[test]
fn a_client_that_never_finishes_its_head_is_dropped() {
    let lab = lab();
    let server = Server::for_lab(&lab, &["--header-timeout", "1"]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .expect("send");
    // The server closes the connection (no response needed); a read sees the end.
    read_until_closed(&mut s);
    // An idle keep-alive connection is closed the same way after its response.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let n = read_until_closed(&mut s);
    assert!(n > 0, "the response came before the close");
}

#[test]
fn a_client_that_stops_reading_is_dropped() {
    let lab = lab();
    let len: u64 = 1 << 30;
    let f = std::fs::File::create(lab.tree("centos7").join("huge.img")).expect("create");
    f.set_len(len).expect("sparse");
    drop(f);
    let server = Server::for_lab(&lab, &["--send-timeout", "1"]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /trees/centos7/huge.img HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    // Not reading: the server's writes stall, then it gives up. Reading afterwards
    // drains what the socket buffers held and ends well short of the file.
    server.wait_for_log("dropped a client that stopped reading");
    let n = read_until_closed(&mut s) as u64;
    assert!(
        n < len / 2,
        "read {n} of {len}: the stalled response was not cut"
    );
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let lab = lab();
    let server = Server::for_lab(&lab, &["--max-connections", "2"]);
    let a = TcpStream::connect(("127.0.0.1", server.port)).expect("connect a");
    let mut b = TcpStream::connect(("127.0.0.1", server.port)).expect("connect b");
    // b's exchange proves both a and b were accepted (the accept queue is FIFO).
    b.write_all(b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut buf = [0u8; 512];
    let n = b.read(&mut buf).expect("b is served");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // c waits in the kernel's queue while a and b hold both slots...
    let mut c = TcpStream::connect(("127.0.0.1", server.port)).expect("connect c");
    c.write_all(b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    server.wait_for_log("connection limit reached");
    // ...and is served once a leaves.
    drop(a);
    let mut resp = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    c.read_to_end(&mut resp).expect("c is served");
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    drop(b);
    let metrics = crate::support::raw_get(server.port, "/metrics");
    let text = String::from_utf8_lossy(&metrics.body);
    let limited: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("httpd_connection_limit_reached_total "))
        .and_then(|v| v.parse().ok())
        .expect("the limit counter");
    assert!(limited >= 1, "{text}");
}

#[test]
fn one_address_cannot_take_every_connection() {
    let lab = lab();
    let server = Server::for_lab(&lab, &["--max-connections-per-address", "2"]);
    // Two idle connections from 127.0.0.1 hold its share.
    let a = TcpStream::connect(("127.0.0.1", server.port)).expect("connect a");
    let b = TcpStream::connect(("127.0.0.1", server.port)).expect("connect b");
    std::thread::sleep(Duration::from_millis(300));
    // A third from the same address is closed at once, with a log line.
    let mut c = TcpStream::connect(("127.0.0.1", server.port)).expect("connect c");
    let _ = c.write_all(b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_until_closed(&mut c), 0, "no response for the third");
    server.wait_for_log("connection refused: 127.0.0.1 already has 2 connections open");
    // Another address is served meanwhile.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body");
    assert_eq!(
        crate::support::curl_status(
            &[
                "--interface",
                crate::support::STRANGER,
                &server.url("/trees/centos7/.treeinfo")
            ],
            &out
        ),
        200
    );
    // Once one of the two leaves, 127.0.0.1 is served again.
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    let ok = raw(
        server.port,
        b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok.status, 200);
    drop(b);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_before_the_header_timeout() {
    let lab = lab();
    let server = Server::for_lab(
        &lab,
        &["--keep-alive-timeout", "1", "--header-timeout", "60"],
    );
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /trees/centos7/.treeinfo HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let started = std::time::Instant::now();
    let n = read_until_closed(&mut s);
    assert!(n > 0, "the response came before the close");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "closed after {took:?}: the keep-alive limit, not the 60 s header timeout"
    );
}

#[test]
fn a_client_reading_slower_than_the_minimum_rate_is_dropped() {
    let lab = lab();
    let len: u64 = 1 << 30;
    let f = std::fs::File::create(lab.tree("centos7").join("huge.img")).expect("create");
    f.set_len(len).expect("sparse");
    drop(f);
    // 20 MB/s required; the client reads about 1 MB/s, steadily (never stalled).
    let server = Server::for_lab(&lab, &["--min-send-rate", "20000000"]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(b"GET /trees/centos7/huge.img HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 100_000];
    let started = std::time::Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still sending after 2 minutes"
        );
    }
    assert!(
        total < len / 4,
        "read {total} of {len}: the slow reader was not cut"
    );
    server.wait_for_log("slower than the minimum 20000000 bytes/s");
}
