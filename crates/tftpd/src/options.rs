//! RFC 2347 option negotiation: blksize (RFC 2348), timeout and tsize (RFC 2349), windowsize
//! (RFC 7440), with tftpd-hpa's server-side limits (`-B`, `-r`, `-T`).
//!
//! Unknown options, refused options and values out of range are ignored (the transfer goes on
//! with the default), never answered with an error: that is what RFC 2347 asks and what
//! tftpd-hpa does. An OACK is sent only if at least one option was accepted.

use std::time::Duration;

use crate::packet::{Mode, TftpOption};

/// The largest block size RFC 2348 allows.
pub const MAX_BLKSIZE: u16 = 65464;
/// The smallest block size RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// The block size without a `blksize` option.
pub const DEFAULT_BLKSIZE: u16 = 512;

/// Server-side limits on what clients may negotiate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `-B`: the largest block size granted (512 to 65464).
    pub max_blksize: u16,
    /// `-r`: option names never accepted, lowercase.
    pub refused: Vec<String>,
    /// `-T`: the retransmit timeout when the client does not negotiate one.
    pub default_timeout: Duration,
    /// Cap on `blksize * windowsize`, so a window never holds more than this many bytes.
    pub max_window_bytes: u64,
    /// `--max-timeout`: the longest `timeout` option granted; a longer one is not
    /// acknowledged (the transfer keeps `default_timeout`), as RFC 2349 lets a server do.
    pub max_timeout: Duration,
    /// `--max-window`: the most blocks per window granted (RFC 7440 allows 65535).
    pub max_windowsize: u16,
    /// How long a transfer may wait for its client in a row, over all its retransmissions:
    /// the retries are cut so that retries × timeout stays within it (at least one retry).
    pub max_stall: Duration,
}

/// `--max-timeout` when not given.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// `--max-window` when not given.
pub const DEFAULT_MAX_WINDOWSIZE: u16 = 64;
/// The bound on retries × timeout.
pub const DEFAULT_MAX_STALL: Duration = Duration::from_secs(60);
/// The largest request accepted, in bytes (RFC 1350's 512-byte data block; tftpd-hpa reads
/// requests into a buffer of one segment).
pub const MAX_REQUEST_BYTES: usize = 512;
/// The most options one request may carry.
pub const MAX_REQUEST_OPTIONS: usize = 16;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blksize: MAX_BLKSIZE,
            refused: Vec::new(),
            default_timeout: Duration::from_secs(1),
            max_window_bytes: 4 << 20,
            max_timeout: DEFAULT_MAX_TIMEOUT,
            max_windowsize: DEFAULT_MAX_WINDOWSIZE,
            max_stall: DEFAULT_MAX_STALL,
        }
    }
}

/// What the request is for, as far as options care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RRQ; the size of the file if it is known (it is for files and generated content).
    Read {
        /// Size in bytes before any netascii translation.
        file_size: Option<u64>,
    },
    /// WRQ.
    Write,
}

/// The outcome of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Block size in use.
    pub blksize: u16,
    /// Retransmit timeout in use.
    pub timeout: Duration,
    /// Blocks per window (1 = lockstep, RFC 1350).
    pub windowsize: u16,
    /// `tsize` as agreed: the file size for reads, the announced size for writes.
    pub tsize: Option<u64>,
    /// The OACK to send, if any option was accepted.
    pub oack: Option<Vec<TftpOption>>,
}

/// Negotiates the options of one request.
pub fn negotiate(
    requested: &[TftpOption],
    mode: Mode,
    direction: Direction,
    limits: &Limits,
) -> Negotiated {
    let mut out = Negotiated {
        blksize: DEFAULT_BLKSIZE,
        timeout: limits.default_timeout,
        windowsize: 1,
        tsize: None,
        oack: None,
    };
    let mut accepted: Vec<TftpOption> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut window_index = None;
    for opt in requested {
        let name = opt.name.to_ascii_lowercase();
        if seen.contains(&name) || limits.refused.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let Some(value) = parse_number(&opt.value) else {
            continue;
        };
        let granted = match name.as_str() {
            "blksize" if value >= u64::from(MIN_BLKSIZE) => {
                let max = limits.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE);
                let size = u16::try_from(value).unwrap_or(u16::MAX).min(max);
                out.blksize = size;
                Some(u64::from(size))
            }
            "timeout" if (1..=255).contains(&value) && value <= limits.max_timeout.as_secs() => {
                out.timeout = Duration::from_secs(value);
                Some(value)
            }
            "tsize" => match direction {
                // tftpd-hpa answers tsize for octet reads only: the netascii size is unknown
                // until the whole file has been translated.
                Direction::Read {
                    file_size: Some(size),
                } if mode == Mode::Octet => {
                    out.tsize = Some(size);
                    Some(size)
                }
                Direction::Read { .. } => None,
                Direction::Write => {
                    out.tsize = Some(value);
                    Some(value)
                }
            },
            "windowsize" if (1..=65535).contains(&value) => {
                out.windowsize = u16::try_from(value).unwrap_or(u16::MAX);
                window_index = Some(accepted.len());
                Some(value)
            }
            _ => None,
        };
        if let Some(v) = granted {
            accepted.push(TftpOption {
                name: opt.name.clone(),
                value: v.to_string(),
            });
        }
    }
    // The window cap depends on the final block size, so apply it after the loop.
    if let Some(i) = window_index {
        let max_blocks = (limits.max_window_bytes / u64::from(out.blksize))
            .min(u64::from(limits.max_windowsize))
            .clamp(1, 65535);
        let capped = u64::from(out.windowsize).min(max_blocks);
        out.windowsize = u16::try_from(capped).unwrap_or(1);
        if let Some(o) = accepted.get_mut(i) {
            o.value = out.windowsize.to_string();
        }
    }
    if !accepted.is_empty() {
        out.oack = Some(accepted);
    }
    out
}

/// Why a request is refused before any option is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Oversized {
    /// The datagram is longer than [`MAX_REQUEST_BYTES`].
    #[error("request of {0} bytes, more than {MAX_REQUEST_BYTES}")]
    Bytes(usize),
    /// More than [`MAX_REQUEST_OPTIONS`] options.
    #[error("request with {0} options, more than {MAX_REQUEST_OPTIONS}")]
    Options(usize),
}

/// Checks a request's size: its datagram length and its number of options.
pub fn check_request(len: usize, options: usize) -> Result<(), Oversized> {
    if len > MAX_REQUEST_BYTES {
        return Err(Oversized::Bytes(len));
    }
    if options > MAX_REQUEST_OPTIONS {
        return Err(Oversized::Options(options));
    }
    Ok(())
}

/// The retries a transfer gets with this `timeout`: `max_retries`, cut so that
/// retries × timeout stays within `max_stall`, and never below one.
pub fn retries_for(timeout: Duration, max_retries: u32, max_stall: Duration) -> u32 {
    let fit = max_stall.as_millis() / timeout.as_millis().max(1);
    let fit = u32::try_from(fit).unwrap_or(u32::MAX);
    max_retries.min(fit).max(1)
}

/// A decimal number as option values carry them: digits only, no sign, no spaces.
fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<TftpOption> {
        pairs
            .iter()
            .map(|(n, v)| TftpOption {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect()
    }

    fn read(size: u64) -> Direction {
        Direction::Read {
            file_size: Some(size),
        }
    }

    #[test]
    fn no_options_no_oack() {
        let n = negotiate(&[], Mode::Octet, read(10), &Limits::default());
        assert_eq!(n.blksize, 512);
        assert_eq!(n.windowsize, 1);
        assert_eq!(n.timeout, Duration::from_secs(1));
        assert_eq!(n.oack, None);
    }

    #[test]
    fn ovmf_probe_gets_all_three_echoed_in_order() {
        let req = opts(&[("tsize", "0"), ("blksize", "1468"), ("windowsize", "4")]);
        let n = negotiate(&req, Mode::Octet, read(123_456), &Limits::default());
        assert_eq!(n.blksize, 1468);
        assert_eq!(n.windowsize, 4);
        assert_eq!(n.tsize, Some(123_456));
        assert_eq!(
            n.oack,
            Some(opts(&[
                ("tsize", "123456"),
                ("blksize", "1468"),
                ("windowsize", "4")
            ]))
        );
    }

    #[test]
    fn names_are_case_insensitive_and_echoed_as_sent() {
        let n = negotiate(
            &opts(&[("BlkSize", "1024")]),
            Mode::Octet,
            read(1),
            &Limits::default(),
        );
        assert_eq!(n.blksize, 1024);
        assert_eq!(n.oack, Some(opts(&[("BlkSize", "1024")])));
    }

    #[test]
    fn blksize_is_clamped_to_server_max_and_rfc_range() {
        let limits = Limits {
            max_blksize: 1468,
            ..Limits::default()
        };
        let n = negotiate(&opts(&[("blksize", "9000")]), Mode::Octet, read(1), &limits);
        assert_eq!(n.blksize, 1468);
        assert_eq!(n.oack, Some(opts(&[("blksize", "1468")])));
        let n = negotiate(
            &opts(&[("blksize", "100000")]),
            Mode::Octet,
            read(1),
            &Limits::default(),
        );
        assert_eq!(n.blksize, 65464);
        for bad in ["7", "0", "-1", "", "12a", " 512", "99999999999999999999999"] {
            let n = negotiate(
                &opts(&[("blksize", bad)]),
                Mode::Octet,
                read(1),
                &Limits::default(),
            );
            assert_eq!((n.blksize, n.oack), (512, None), "blksize {bad:?}");
        }
    }

    #[test]
    fn timeout_range() {
        let l = Limits {
            max_timeout: Duration::from_secs(255),
            ..Limits::default()
        };
        let n = negotiate(&opts(&[("timeout", "255")]), Mode::Octet, read(1), &l);
        assert_eq!(n.timeout, Duration::from_secs(255));
        for bad in ["0", "256"] {
            let n = negotiate(&opts(&[("timeout", bad)]), Mode::Octet, read(1), &l);
            assert_eq!((n.timeout, n.oack), (Duration::from_secs(1), None));
        }
    }

    #[test]
    fn timeout_over_the_cap_is_not_granted() {
        let l = Limits::default();
        let n = negotiate(&opts(&[("timeout", "10")]), Mode::Octet, read(1), &l);
        assert_eq!(n.timeout, Duration::from_secs(10));
        assert_eq!(n.oack, Some(opts(&[("timeout", "10")])));
        for over in ["11", "255"] {
            let n = negotiate(
                &opts(&[("timeout", over), ("blksize", "1024")]),
                Mode::Octet,
                read(1),
                &l,
            );
            assert_eq!(n.timeout, Duration::from_secs(1), "timeout {over}");
            assert_eq!(n.oack, Some(opts(&[("blksize", "1024")])), "timeout {over}");
        }
        let l = Limits {
            max_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        let n = negotiate(&opts(&[("timeout", "30")]), Mode::Octet, read(1), &l);
        assert_eq!(n.timeout, Duration::from_secs(30));
    }

    #[test]
    fn windowsize_is_capped_in_blocks() {
        let l = Limits::default();
        let n = negotiate(&opts(&[("windowsize", "65535")]), Mode::Octet, read(1), &l);
        assert_eq!(n.windowsize, 64);
        assert_eq!(n.oack, Some(opts(&[("windowsize", "64")])));
        let n = negotiate(&opts(&[("windowsize", "16")]), Mode::Octet, read(1), &l);
        assert_eq!(n.windowsize, 16);
        let l = Limits {
            max_windowsize: 4,
            ..Limits::default()
        };
        let n = negotiate(&opts(&[("windowsize", "16")]), Mode::Octet, read(1), &l);
        assert_eq!(n.windowsize, 4);
        assert_eq!(n.oack, Some(opts(&[("windowsize", "4")])));
    }

    #[test]
    fn oversized_requests() {
        assert_eq!(check_request(512, 16), Ok(()));
        assert_eq!(check_request(513, 0), Err(Oversized::Bytes(513)));
        assert_eq!(check_request(600, 2), Err(Oversized::Bytes(600)));
        assert_eq!(check_request(100, 17), Err(Oversized::Options(17)));
    }

    #[test]
    fn retries_times_timeout_is_bounded() {
        let stall = Duration::from_secs(60);
        assert_eq!(retries_for(Duration::from_secs(1), 5, stall), 5);
        assert_eq!(retries_for(Duration::from_secs(10), 5, stall), 5);
        assert_eq!(retries_for(Duration::from_secs(20), 5, stall), 3);
        assert_eq!(retries_for(Duration::from_secs(255), 5, stall), 1);
        assert_eq!(retries_for(Duration::ZERO, 5, stall), 5);
        for t in 1..=255 {
            let t = Duration::from_secs(t);
            let r = retries_for(t, 5, stall);
            assert!(r >= 1 && (r == 1 || t * r <= stall), "{t:?} -> {r}");
        }
    }

    #[test]
    fn tsize_rules() {
        let l = Limits::default();
        let n = negotiate(&opts(&[("tsize", "0")]), Mode::Netascii, read(5), &l);
        assert_eq!(n.oack, None, "no tsize for netascii reads");
        let n = negotiate(&opts(&[("tsize", "0")]), Mode::Octet, read(0), &l);
        assert_eq!(n.oack, Some(opts(&[("tsize", "0")])));
        let n = negotiate(
            &opts(&[("tsize", "4096")]),
            Mode::Octet,
            Direction::Write,
            &l,
        );
        assert_eq!(n.tsize, Some(4096));
        assert_eq!(n.oack, Some(opts(&[("tsize", "4096")])));
    }

    #[test]
    fn windowsize_range_and_byte_cap() {
        let l = Limits::default();
        let n = negotiate(&opts(&[("windowsize", "0")]), Mode::Octet, read(1), &l);
        assert_eq!((n.windowsize, n.oack), (1, None));
        let n = negotiate(&opts(&[("windowsize", "65536")]), Mode::Octet, read(1), &l);
        assert_eq!((n.windowsize, n.oack), (1, None));
        let n = negotiate(
            &opts(&[("windowsize", "65535"), ("blksize", "65464")]),
            Mode::Octet,
            read(1),
            &l,
        );
        assert_eq!(n.windowsize, 64, "4 MiB / 65464");
        assert_eq!(
            n.oack,
            Some(opts(&[("windowsize", "64"), ("blksize", "65464")]))
        );
    }

    #[test]
    fn refused_unknown_and_duplicate_options_are_ignored() {
        let l = Limits {
            refused: vec!["blksize".into()],
            ..Limits::default()
        };
        let req = opts(&[
            ("BLKSIZE", "1024"),
            ("rollover", "0"),
            ("timeout", "3"),
            ("timeout", "9"),
        ]);
        let n = negotiate(&req, Mode::Octet, read(1), &l);
        assert_eq!(n.blksize, 512);
        assert_eq!(n.timeout, Duration::from_secs(3));
        assert_eq!(n.oack, Some(opts(&[("timeout", "3")])));
    }

    proptest! {
        #[test]
        fn negotiated_values_stay_in_range(
            pairs in proptest::collection::vec(
                (prop_oneof!["blksize", "timeout", "tsize", "windowsize", "[a-z]{1,8}"], "[0-9]{0,7}"),
                0..6),
            max in 512u16..=65464,
        ) {
            let req: Vec<TftpOption> = pairs.into_iter()
                .map(|(n, v)| TftpOption { name: n, value: v }).collect();
            let l = Limits { max_blksize: max, ..Limits::default() };
            let n = negotiate(&req, Mode::Octet, read(77), &l);
            prop_assert!((8..=max).contains(&n.blksize));
            prop_assert!(n.windowsize >= 1);
            prop_assert!(u64::from(n.windowsize) * u64::from(n.blksize) <= l.max_window_bytes
                || n.windowsize == 1);
            prop_assert!(n.timeout >= Duration::from_secs(1));
            prop_assert!(n.timeout <= l.max_timeout.max(l.default_timeout));
            prop_assert!(n.windowsize <= l.max_windowsize);
            if let Some(oack) = &n.oack {
                prop_assert!(!oack.is_empty());
            }
        }
    }
}
