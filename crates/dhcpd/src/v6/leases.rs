//! The IA_NA bindings and ISC's `dhcpd6.leases` format (see dhcpd.leases(5)):
//!
//! ```text
//! server-duid "\000\001\000\001…";
//! ia-na "<IAID and client DUID, quoted>" {
//!   cltt 0 2026/12/06 06:00:00;
//!   iaaddr fd00:77::100 {
//!     binding state active;
//!     preferred-life 1800;
//!     max-life 3600;
//!     ends 0 2026/12/06 07:00:00;
//!   }
//! }
//! ```
//!
//! Records are appended; on reading, the last record of an IA wins. In memory the key is
//! the 4-byte IAID as the client sent it followed by the client's DUID; in the file the IAID
//! is in little-endian order under `authoring-byte-order little-endian;`, as ISC 4.4 on x86
//! writes it (seen from ISC dhcpd -6 with dhclient: IAID 00:77:00:74 is written `t\000w\000`);
//! a file saying `big-endian` is read in network order. Strings are quoted as ISC does:
//! printable ASCII as is, `"` and `\` escaped, other bytes `\ooo`.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use crate::lease::{Time, time};

/// What became of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Released,
    Abandoned,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Released => "released",
            State::Abandoned => "abandoned",
        }
    }
}

/// One IA_NA's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub addr: Ipv6Addr,
    pub state: State,
    pub cltt: Time,
    pub preferred: u32,
    pub valid: u32,
    pub ends: Time,
}

/// Bindings by IA key (IAID then client DUID), and the server DUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub server_duid: Option<Vec<u8>>,
    pub ias: BTreeMap<Vec<u8>, Binding>,
}

impl Table {
    /// The key of another IA holding `addr` (active or abandoned, not yet ended), if any.
    pub fn holder(&self, addr: Ipv6Addr, now: Time) -> Option<&[u8]> {
        self.ias
            .iter()
            .find(|(_, b)| b.addr == addr && b.state != State::Released && b.ends > now)
            .map(|(k, _)| k.as_slice())
    }
}

/// The key of an IA: IAID bytes then the DUID.
pub fn key(iaid: [u8; 4], duid: &[u8]) -> Vec<u8> {
    let mut k = iaid.to_vec();
    k.extend_from_slice(duid);
    k
}

/// `"…"` with ISC's escapes.
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\{b:03o}")),
        }
    }
    s.push('"');
    s
}

/// The IAID of `key` with its 4 bytes reversed (network order to little-endian and back).
fn swap_iaid(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    if let Some(iaid) = k.get_mut(..4) {
        iaid.reverse();
    }
    k
}

/// The text of one IA record.
pub fn record(key: &[u8], b: &Binding) -> String {
    let key = swap_iaid(key);
    format!(
        "ia-na {} {{\n  cltt {}\n  iaaddr {} {{\n    binding state {};\n    preferred-life {};\n    max-life {};\n    ends {}\n  }}\n}}\n",
        quote(&key),
        time::format(b.cltt),
        b.addr,
        b.state.word(),
        b.preferred,
        b.valid,
        time::format(b.ends),
    )
}

/// The file's first statements: the byte order of the IAIDs and the `server-duid`.
pub fn server_duid_line(duid: &[u8]) -> String {
    format!(
        "authoring-byte-order little-endian;\nserver-duid {};\n",
        quote(duid)
    )
}

/// Why a lease file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dhcpd6.leases line {line}: {message}")]
pub struct LeaseError {
    pub line: usize,
    pub message: String,
}

/// Reads a `dhcpd6.leases` text (ours or ISC's: unknown statements inside records are
/// skipped, `ia-ta`/`ia-pd` records ignored).
pub fn parse(text: &str) -> Result<Table, LeaseError> {
    let toks = tokens(text)?;
    let mut t = Table::default();
    let mut big_endian = false;
    let mut i = 0;
    let err = |line: usize, m: &str| LeaseError {
        line,
        message: m.into(),
    };
    while i < toks.len() {
        let (line, w) = &toks[i];
        match w {
            T::Word(w) if w == "server-duid" => {
                let Some((_, T::Str(d))) = toks.get(i + 1) else {
                    return Err(err(*line, "server-duid: expecting a string"));
                };
                t.server_duid = Some(d.clone());
                i += 3;
            }
            T::Word(w) if w == "authoring-byte-order" => {
                big_endian = matches!(toks.get(i + 1), Some((_, T::Word(o))) if o == "big-endian");
                i = skip_stmt(&toks, i);
            }
            T::Word(w) if w == "ia-na" => {
                let Some((_, T::Str(k))) = toks.get(i + 1) else {
                    return Err(err(*line, "ia-na: expecting a string"));
                };
                let (end, b) = ia_body(&toks, i + 2)?;
                if let Some(b) = b {
                    let k = if big_endian { k.clone() } else { swap_iaid(k) };
                    t.ias.insert(k, b);
                }
                i = end;
            }
            T::Word(_) => {
                // Other records (ia-ta, ia-pd, authoring-byte-order, comments): skipped to
                // their end.
                i = skip_stmt(&toks, i);
            }
            _ => return Err(err(*line, "unexpected token")),
        }
    }
    Ok(t)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum T {
    Word(String),
    Str(Vec<u8>),
    Semi,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<(usize, T)>, LeaseError> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b';' => out.push((line, T::Semi)),
            b'{' => out.push((line, T::Open)),
            b'}' => out.push((line, T::Close)),
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(LeaseError {
                                line,
                                message: "unterminated string".into(),
                            });
                        }
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let oct = b
                                .get(i + 1..i + 4)
                                .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
                            if let Some(o) = oct {
                                let v = o.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                                s.push(u8::try_from(v & 0xff).unwrap_or(0));
                                i += 4;
                            } else if let Some(c) = b.get(i + 1) {
                                s.push(*c);
                                i += 2;
                            } else {
                                i += 1;
                            }
                            continue;
                        }
                        Some(c) => {
                            if *c == b'\n' {
                                line += 1;
                            }
                            s.push(*c);
                        }
                    }
                    i += 1;
                }
                out.push((line, T::Str(s)));
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !b";{}\"#".contains(&b[i]) {
                    i += 1;
                }
                out.push((line, T::Word(text[start..i].to_string())));
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Skips a statement: to its `;`, or over its braced block.
fn skip_stmt(toks: &[(usize, T)], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some((_, t)) = toks.get(i) {
        i += 1;
        match t {
            T::Semi if depth == 0 => return i,
            T::Open => depth += 1,
            T::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    i
}

fn words_to_semi(toks: &[(usize, T)], mut i: usize) -> (Vec<String>, usize) {
    let mut w = Vec::new();
    while let Some((_, t)) = toks.get(i) {
        i += 1;
        match t {
            T::Semi => break,
            T::Word(s) => w.push(s.clone()),
            _ => {}
        }
    }
    (w, i)
}

fn date(words: &[String]) -> Option<Time> {
    match words {
        [w] if w == "never" => Some(crate::lease::MAX_TIME),
        [w, n] if w == "epoch" => n.parse().ok(),
        [_, d, t, ..] => {
            let d: Vec<i64> = d
                .split('/')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            let t: Vec<i64> = t
                .split(':')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            let ([y, m, dd], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
                return None;
            };
            Some(time::from_civil(*y, *m, *dd, *hh, *mm, *ss))
        }
        _ => None,
    }
}

/// `{ cltt …; iaaddr ADDR { … } … }` from `i` (the `{`): the index after it and the binding.
fn ia_body(toks: &[(usize, T)], mut i: usize) -> Result<(usize, Option<Binding>), LeaseError> {
    let line = toks.get(i).map_or(0, |t| t.0);
    if toks.get(i).map(|t| &t.1) != Some(&T::Open) {
        return Err(LeaseError {
            line,
            message: "ia-na: expecting {".into(),
        });
    }
    i += 1;
    let mut cltt = 0;
    let mut b: Option<Binding> = None;
    while let Some((line, t)) = toks.get(i) {
        match t {
            T::Close => return Ok((i + 1, b.map(|b| Binding { cltt, ..b }))),
            T::Word(w) if w == "cltt" => {
                let (ws, n) = words_to_semi(toks, i + 1);
                cltt = date(&ws).unwrap_or(0);
                i = n;
            }
            T::Word(w) if w == "iaaddr" => {
                let Some((_, T::Word(a))) = toks.get(i + 1) else {
                    return Err(LeaseError {
                        line: *line,
                        message: "iaaddr: expecting an address".into(),
                    });
                };
                let addr: Ipv6Addr = a.parse().map_err(|_| LeaseError {
                    line: *line,
                    message: format!("iaaddr: bad address {a}"),
                })?;
                let mut nb = Binding {
                    addr,
                    state: State::Active,
                    cltt: 0,
                    preferred: 0,
                    valid: 0,
                    ends: 0,
                };
                i += 3; // iaaddr ADDR {
                while let Some((_, t)) = toks.get(i) {
                    if *t == T::Close {
                        i += 1;
                        break;
                    }
                    let (ws, n) = words_to_semi(toks, i);
                    i = n;
                    match ws.first().map(String::as_str) {
                        Some("binding") => {
                            nb.state = match ws.get(2).map(String::as_str) {
                                Some("active") => State::Active,
                                Some("abandoned") => State::Abandoned,
                                _ => State::Released,
                            }
                        }
                        Some("preferred-life") => {
                            nb.preferred = ws.get(1).and_then(|v| v.parse().ok()).unwrap_or(0)
                        }
                        Some("max-life") => {
                            nb.valid = ws.get(1).and_then(|v| v.parse().ok()).unwrap_or(0)
                        }
                        Some("ends") => nb.ends = date(&ws[1..]).unwrap_or(0),
                        _ => {}
                    }
                }
                b = Some(nb);
            }
            _ => i = skip_stmt(toks, i),
        }
    }
    Err(LeaseError {
        line,
        message: "ia-na: unexpected end of file".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_through_parse() {
        let k = key([0, 0, 0, 7], &[0, 4, b'"', b'\\', 0xff, b'a']);
        assert_eq!(quote(&k), r#""\000\000\000\007\000\004\"\\\377a""#);
        // In the file the IAID is little-endian, as ISC writes it.
        assert!(
            record(
                &k,
                &Binding {
                    addr: Ipv6Addr::LOCALHOST,
                    state: State::Active,
                    cltt: 0,
                    preferred: 0,
                    valid: 0,
                    ends: 0
                }
            )
            .starts_with(r#"ia-na "\007\000\000\000\000\004"#)
        );
        let b = Binding {
            addr: "fd00:77::100".parse().expect("a"),
            state: State::Active,
            cltt: 1_796_536_800,
            preferred: 1800,
            valid: 3600,
            ends: 1_796_540_400,
        };
        let text = format!(
            "{}{}{}",
            server_duid_line(&[0, 1, 0, 1, 9]),
            record(
                &k,
                &Binding {
                    state: State::Released,
                    ..b.clone()
                }
            ),
            record(&k, &b)
        );
        assert!(text.contains("binding state active;"), "{text}");
        assert!(text.contains("ends 0 2026/12/06 07:00:00;"), "{text}");
        let t = parse(&text).expect("parse");
        assert_eq!(t.server_duid, Some(vec![0, 1, 0, 1, 9]));
        assert_eq!(t.ias.get(&k), Some(&b), "the last record wins");
        // ISC's own record (dhcpd -6 4.4.3 on x86, client IAID 00:77:00:74, DUID-LL).
        let isc = "authoring-byte-order little-endian;\nia-na \"t\\000w\\000\\000\\003\\000\\001RT\\000w\\000t\" {\n  cltt 0 2026/12/06 06:21:18;\n  iaaddr fd00:77:1::16d {\n    binding state active;\n    preferred-life 1800;\n    max-life 3600;\n    ends 0 2026/12/06 07:21:18;\n  }\n}\n";
        let t = parse(isc).expect("ISC's file");
        let want = key(
            [0, 0x77, 0, 0x74],
            &[0, 3, 0, 1, 0x52, 0x54, 0, 0x77, 0, 0x74],
        );
        assert_eq!(
            t.ias.get(&want).map(|b| b.addr.to_string()).as_deref(),
            Some("fd00:77:1::16d")
        );
    }

    #[test]
    fn isc_extras_are_skipped_and_garbage_refused() {
        let text = "# comment\nauthoring-byte-order little-endian;\nia-pd \"x\" { cltt 0 2026/12/06 06:00:00; iaprefix fd00::/56 { binding state active; } }\n";
        assert_eq!(parse(text).expect("parse").ias.len(), 0);
        assert!(parse("ia-na \"k\" { iaaddr nonsense { } }").is_err());
        assert!(parse("ia-na \"k\" { cltt 0 2026/12/06 06:00:00;").is_err());
        assert!(parse("server-duid \"\\001").is_err());
    }
}
