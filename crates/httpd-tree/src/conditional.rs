//! Validators and conditional requests (RFC 9110 §8.8 and §13): `ETag`,
//! `Last-Modified`, `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since` and `If-Range`, evaluated in the order §13.2.2 gives.

use http::{HeaderMap, Method, header};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// A strong entity tag, quoted: `"<inode>-<size>-<mtime ns>"` in hex.
    pub etag: String,
    /// Modification time, truncated to whole seconds (HTTP dates have no fractions).
    pub last_modified: SystemTime,
}

impl Validators {
    /// Validators from file identity: the inode, the size and the modification time in
    /// nanoseconds. Any change to the file (or a new file renamed over it) changes it.
    pub fn new(inode: u64, size: u64, mtime: SystemTime) -> Validators {
        let since = mtime.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Validators {
            etag: format!("\"{inode:x}-{size:x}-{:x}\"", since.as_nanos()),
            last_modified: UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        }
    }

    pub fn last_modified_http(&self) -> String {
        httpdate::fmt_http_date(self.last_modified)
    }
}

/// What the preconditions allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the representation; `honor_range` says whether a Range header may apply
    /// (false when `If-Range` does not match).
    Send { honor_range: bool },
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// One entity tag of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    /// The opaque tag, with its quotes.
    opaque: &'a str,
}

/// Parses `"a", W/"b"` (or `*`, returned as `None`). Malformed lists give an empty list,
/// which matches nothing.
fn parse_tags(value: &str) -> Option<Vec<Tag<'_>>> {
    if value.trim() == "*" {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        if !rest.starts_with('"') {
            return Some(Vec::new());
        }
        let Some(end) = rest[1..].find('"') else {
            return Some(Vec::new());
        };
        out.push(Tag {
            weak,
            opaque: &rest[..end + 2],
        });
        rest = &rest[end + 2..];
    }
    Some(out)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn date(headers: &HeaderMap, name: &header::HeaderName) -> Option<SystemTime> {
    header_str(headers, name).and_then(|v| httpdate::parse_http_date(v.trim()).ok())
}

/// Evaluates the preconditions of a GET or HEAD for a representation with `v`.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators) -> Decision {
    let safe = method == Method::GET || method == Method::HEAD;
    // 1. If-Match: strong comparison.
    if let Some(value) = header_str(headers, &header::IF_MATCH) {
        let ok = match parse_tags(value) {
            None => true,
            Some(tags) => tags.iter().any(|t| !t.weak && t.opaque == v.etag),
        };
        if !ok {
            return Decision::Failed;
        }
    } else if let Some(since) = date(headers, &header::IF_UNMODIFIED_SINCE) {
        // 2. If-Unmodified-Since, only without If-Match.
        if v.last_modified > since {
            return Decision::Failed;
        }
    }
    // 3. If-None-Match: weak comparison.
    if let Some(value) = header_str(headers, &header::IF_NONE_MATCH) {
        let matched = match parse_tags(value) {
            None => true,
            Some(tags) => tags.iter().any(|t| t.opaque == v.etag),
        };
        if matched {
            return if safe {
                Decision::NotModified
            } else {
                Decision::Failed
            };
        }
    } else if safe && let Some(since) = date(headers, &header::IF_MODIFIED_SINCE) {
        // 4. If-Modified-Since, only without If-None-Match.
        if v.last_modified <= since {
            return Decision::NotModified;
        }
    }
    // 5. If-Range decides whether Range applies.
    let honor_range = match header_str(headers, &header::IF_RANGE) {
        None => true,
        Some(value) => {
            let value = value.trim();
            if value.starts_with('"') || value.starts_with("W/") {
                // Strong comparison: a weak tag never matches.
                !value.starts_with("W/") && value == v.etag
            } else {
                // A date matches only when it is exactly the Last-Modified date.
                httpdate::parse_http_date(value).is_ok_and(|d| d == v.last_modified)
            }
        }
    };
    Decision::Send { honor_range }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn v() -> Validators {
        Validators::new(
            0x1234,
            100,
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
        )
    }

    fn eval(pairs: &[(header::HeaderName, &str)]) -> Decision {
        let mut h = HeaderMap::new();
        for (k, val) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(val).expect("value"));
        }
        evaluate(&Method::GET, &h, &v())
    }

    const SEND: Decision = Decision::Send { honor_range: true };
    const SEND_WHOLE: Decision = Decision::Send { honor_range: false };

    #[test]
    fn validators() {
        let v = v();
        let ns = 1_700_000_000_500_000_000u128;
        assert_eq!(v.etag, format!("\"1234-64-{ns:x}\""));
        assert_eq!(v.last_modified_http(), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn table() {
        let etag = v().etag;
        let lm = v().last_modified_http();
        let earlier = "Tue, 14 Nov 2023 22:13:19 GMT";
        let later = "Tue, 14 Nov 2023 22:13:21 GMT";
        let weak = format!("W/{etag}");
        let list = format!("\"x\", {etag}");
        let cases: Vec<(Vec<(header::HeaderName, &str)>, Decision)> = vec![
            (vec![], SEND),
            (vec![(header::IF_NONE_MATCH, &etag)], Decision::NotModified),
            (vec![(header::IF_NONE_MATCH, &weak)], Decision::NotModified),
            (vec![(header::IF_NONE_MATCH, &list)], Decision::NotModified),
            (vec![(header::IF_NONE_MATCH, "*")], Decision::NotModified),
            (vec![(header::IF_NONE_MATCH, "\"other\"")], SEND),
            (vec![(header::IF_NONE_MATCH, "garbage")], SEND),
            (
                vec![(header::IF_MODIFIED_SINCE, &lm)],
                Decision::NotModified,
            ),
            (
                vec![(header::IF_MODIFIED_SINCE, later)],
                Decision::NotModified,
            ),
            (vec![(header::IF_MODIFIED_SINCE, earlier)], SEND),
            (vec![(header::IF_MODIFIED_SINCE, "not a date")], SEND),
            // If-None-Match wins over If-Modified-Since.
            (
                vec![
                    (header::IF_NONE_MATCH, "\"other\""),
                    (header::IF_MODIFIED_SINCE, later),
                ],
                SEND,
            ),
            (vec![(header::IF_MATCH, &etag)], SEND),
            (vec![(header::IF_MATCH, "*")], SEND),
            (vec![(header::IF_MATCH, &weak)], Decision::Failed),
            (vec![(header::IF_MATCH, "\"other\"")], Decision::Failed),
            (
                vec![(header::IF_UNMODIFIED_SINCE, earlier)],
                Decision::Failed,
            ),
            (vec![(header::IF_UNMODIFIED_SINCE, &lm)], SEND),
            (vec![(header::IF_RANGE, &etag)], SEND),
            (vec![(header::IF_RANGE, &weak)], SEND_WHOLE),
            (vec![(header::IF_RANGE, "\"other\"")], SEND_WHOLE),
            (vec![(header::IF_RANGE, &lm)], SEND),
            (vec![(header::IF_RANGE, later)], SEND_WHOLE),
            (vec![(header::IF_RANGE, "junk")], SEND_WHOLE),
        ];
        for (headers, want) in cases {
            assert_eq!(eval(&headers), want, "{headers:?}");
        }
    }

    #[test]
    fn if_none_match_on_unsafe_method_fails() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert_eq!(evaluate(&Method::POST, &h, &v()), Decision::Failed);
    }

    #[test]
    fn tag_lists() {
        assert_eq!(parse_tags("*"), None);
        let tags = parse_tags(" \"a\" ,W/\"b,c\", \"\"").expect("list");
        assert_eq!(
            tags,
            vec![
                Tag {
                    weak: false,
                    opaque: "\"a\""
                },
                Tag {
                    weak: true,
                    opaque: "\"b,c\""
                },
                Tag {
                    weak: false,
                    opaque: "\"\""
                },
            ]
        );
        assert_eq!(parse_tags("\"unterminated"), Some(vec![]));
    }
}
