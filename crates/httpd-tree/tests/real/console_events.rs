//! The console's event stream over real HTTP: a change another daemon writes into the
//! state directory arrives, and stopping the server ends the stream at once instead of
//! holding the shutdown for its grace period.

use crate::support::{Server, lab};
use pxe_model::state::{BootEvent, Phase, StateStore};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads from `s` until `needle` has arrived (or panics after `secs`); all read so far.
fn read_until(s: &mut TcpStream, got: &mut String, needle: &str, secs: u64) {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while !got.contains(needle) {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "no {needle:?} in {got}"
        );
        match s.read(&mut buf) {
            Ok(0) => panic!("the stream ended before {needle:?}: {got}"),
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn a_change_by_another_daemon_arrives_and_stopping_ends_the_stream() {
    let lab = lab();
    let mut server = Server::for_lab(&lab, &["--public-status"]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s.write_all(b"GET /console/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut got = String::new();
    read_until(&mut s, &mut got, "event: hello", 10);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.to_lowercase()
            .contains("content-type: text/event-stream"),
        "{got}"
    );
    // tftpd serves gw01 its loader: it writes the timeline, httpd-tree never saw a request.
    let store = pxe_model::state::FileStore::open(&lab.state_dir).expect("state dir");
    let e = BootEvent {
        at: 1_700_000_000_000,
        phase: Phase::Tftp,
        detail: "pxelinux.0".into(),
    };
    store.record("gw01", &e).expect("record");
    read_until(&mut s, &mut got, "\"name\":\"gw01\"", 10);
    assert!(got.contains("\"last_event\":\"pxelinux.0\""), "{got}");
    let started = Instant::now();
    let status = server.stop();
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    // The default grace period is 10 s; an open stream must not hold it.
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
}
