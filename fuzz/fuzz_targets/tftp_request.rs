//! tftpd request parsing and RFC 2347 option negotiation.
//!
//! Any datagram: `packet::parse` must not panic. A request must survive an encode/parse round
//! trip unchanged, and negotiating its options under several server limits must keep every
//! promise the server makes: block size within 8 and `-B`, window within the byte cap,
//! timeout within 1-255 s, only requested and not refused options acknowledged, each once,
//! and an OACK that itself parses back.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tftpd::options::{self, DEFAULT_BLKSIZE, Direction, Limits, MIN_BLKSIZE};
use tftpd::packet::{self, Packet, Request};

fn limit_sets() -> [Limits; 3] {
    [
        Limits::default(),
        // tftpd-hpa -B 1468 -r windowsize -T 250000
        Limits {
            max_blksize: 1468,
            refused: vec!["windowsize".into()],
            default_timeout: Duration::from_millis(250),
            ..Limits::default()
        },
        // a tiny window cap, and tsize refused
        Limits {
            max_blksize: 512,
            refused: vec!["tsize".into()],
            max_window_bytes: 4096,
            ..Limits::default()
        },
    ]
}

fn check_negotiation(req: &Request, direction: Direction, limits: &Limits) {
    let n = options::negotiate(&req.options, req.mode, direction, limits);
    assert!(n.blksize >= MIN_BLKSIZE, "{n:?}");
    assert!(
        n.blksize <= limits.max_blksize.max(DEFAULT_BLKSIZE),
        "{n:?} over -B"
    );
    assert!(n.windowsize >= 1, "{n:?}");
    assert!(
        n.windowsize == 1
            || u64::from(n.blksize) * u64::from(n.windowsize) <= limits.max_window_bytes,
        "{n:?} over the window cap"
    );
    assert!(
        n.timeout == limits.default_timeout
            || (Duration::from_secs(1)..=Duration::from_secs(255)).contains(&n.timeout),
        "{n:?}"
    );
    let Some(oack) = &n.oack else {
        assert_eq!(
            (n.blksize, n.windowsize, n.timeout),
            (DEFAULT_BLKSIZE, 1, limits.default_timeout),
            "defaults without an OACK"
        );
        return;
    };
    assert!(!oack.is_empty());
    let mut names: Vec<String> = oack.iter().map(|o| o.name.to_ascii_lowercase()).collect();
    for o in oack {
        let lower = o.name.to_ascii_lowercase();
        assert!(
            req.options.iter().any(|r| r.name == o.name),
            "{o:?} was not requested"
        );
        assert!(!limits.refused.contains(&lower), "{o:?} is refused");
        assert!(
            o.value.parse::<u64>().is_ok(),
            "{o:?} acknowledged with a non-number"
        );
    }
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "an option acknowledged twice: {oack:?}");
    match packet::parse(&packet::encode_oack(oack)) {
        Ok(Packet::Oack(back)) => assert_eq!(&back, oack),
        other => panic!("OACK does not parse back: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = packet::parse(data) else {
        return;
    };
    let (req, write) = match parsed {
        Packet::Rrq(r) => (r, false),
        Packet::Wrq(r) => (r, true),
        _ => return,
    };
    match packet::parse(&packet::encode_request(write, &req)) {
        Ok(Packet::Rrq(back)) if !write => assert_eq!(back, req),
        Ok(Packet::Wrq(back)) if write => assert_eq!(back, req),
        other => panic!("request does not round trip: {req:?} -> {other:?}"),
    }
    let size = data.len() as u64 * 977;
    for limits in limit_sets() {
        let direction = if write {
            Direction::Write
        } else {
            Direction::Read {
                file_size: Some(size),
            }
        };
        check_negotiation(&req, direction, &limits);
    }
});
