//! `Range: bytes=…` (RFC 9110 §14): single, multiple and suffix ranges, resolved
//! against a representation's length.

/// An inclusive byte range, already clipped to the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// `bytes 0-499/1234`, for `Content-Range`.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.first, self.last)
    }
}

/// What a Range header asks of a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range header (absent, another unit, or malformed): send it all, 200.
    Whole,
    /// One or more satisfiable ranges: 206.
    Parts(Vec<ByteRange>),
    /// Syntactically valid, but no range overlaps the representation: 416.
    Unsatisfiable,
}

/// At most this many ranges per request; more is a denial-of-service pattern
/// (RFC 9110 §14.2 lets a server ignore such a header).
pub const MAX_RANGES: usize = 32;

/// Parses a Range header value against a length.
pub fn parse(header: &str, len: u64) -> Ranges {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ranges::Whole;
    };
    let mut parts = Vec::new();
    let mut any = false;
    for item in spec.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((a, b)) = item.split_once('-') else {
            return Ranges::Whole;
        };
        let (a, b) = (a.trim(), b.trim());
        let range = if a.is_empty() {
            // Suffix: the last N bytes.
            let Ok(n) = b.parse::<u64>() else {
                return Ranges::Whole;
            };
            any = true;
            if n == 0 || len == 0 {
                None
            } else {
                Some(ByteRange {
                    first: len.saturating_sub(n),
                    last: len - 1,
                })
            }
        } else {
            let Ok(first) = a.parse::<u64>() else {
                return Ranges::Whole;
            };
            let last = if b.is_empty() {
                None
            } else {
                match b.parse::<u64>() {
                    Ok(l) if l >= first => Some(l),
                    _ => return Ranges::Whole,
                }
            };
            any = true;
            (first < len).then(|| ByteRange {
                first,
                last: last.map_or(len - 1, |l| l.min(len - 1)),
            })
        };
        if let Some(r) = range {
            parts.push(r);
        }
        if parts.len() > MAX_RANGES {
            return Ranges::Whole;
        }
    }
    match (any, parts.is_empty()) {
        (false, _) => Ranges::Whole,
        (true, true) => Ranges::Unsatisfiable,
        (true, false) => Ranges::Parts(parts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u64, last: u64) -> ByteRange {
        ByteRange { first, last }
    }

    #[test]
    fn rfc9110_examples() {
        let len = 10_000;
        assert_eq!(parse("bytes=0-499", len), Ranges::Parts(vec![r(0, 499)]));
        assert_eq!(
            parse("bytes=500-999", len),
            Ranges::Parts(vec![r(500, 999)])
        );
        assert_eq!(parse("bytes=-500", len), Ranges::Parts(vec![r(9500, 9999)]));
        assert_eq!(
            parse("bytes=9500-", len),
            Ranges::Parts(vec![r(9500, 9999)])
        );
        assert_eq!(
            parse("bytes=0-0,-1", len),
            Ranges::Parts(vec![r(0, 0), r(9999, 9999)])
        );
        assert_eq!(
            parse("bytes= 500-600 , 601-999", len),
            Ranges::Parts(vec![r(500, 600), r(601, 999)])
        );
    }

    #[test]
    fn clipping_and_unsatisfiable() {
        assert_eq!(parse("bytes=0-99999", 100), Ranges::Parts(vec![r(0, 99)]));
        assert_eq!(parse("bytes=-1000", 100), Ranges::Parts(vec![r(0, 99)]));
        assert_eq!(parse("bytes=100-", 100), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=200-300,400-500", 100), Ranges::Unsatisfiable);
        assert_eq!(
            parse("bytes=50-60,200-300", 100),
            Ranges::Parts(vec![r(50, 60)])
        );
    }

    #[test]
    fn malformed_headers_mean_the_whole_file() {
        for h in [
            "items=0-1",
            "bytes=",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=1",
            "bytes=--5",
            "0-1",
        ] {
            assert_eq!(parse(h, 100), Ranges::Whole, "{h}");
        }
        let many = format!(
            "bytes={}",
            (0..40)
                .map(|i| format!("{i}-{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(parse(&many, 100), Ranges::Whole);
    }

    #[test]
    fn past_four_gib() {
        let len = 5 * 1024 * 1024 * 1024u64;
        assert_eq!(
            parse("bytes=4294967296-4294967305", len),
            Ranges::Parts(vec![r(4_294_967_296, 4_294_967_305)])
        );
        assert_eq!(
            r(4_294_967_296, 4_294_967_305).content_range(len),
            format!("bytes 4294967296-4294967305/{len}")
        );
    }
}
