//! Netascii translation (RFC 764 as used by RFC 1350), streaming in both directions.
//!
//! Sending: LF becomes CR LF and a lone CR becomes CR NUL. Receiving: the inverse, with a CR
//! followed by anything else kept as is (lenient, as tftp-hpa is). Both sides keep state, so
//! a pair split across two blocks translates the same as one that is not.

/// Encoder for the sending side.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    /// Second byte of an expansion that did not fit in the last output buffer.
    pending: Option<u8>,
}

impl Encoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an expansion is half written; more output will come even with no more input.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Translates as much of `input` as fits in `out`. Returns (bytes consumed, bytes written).
    /// Fills `out` completely unless `input` runs out first.
    pub fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let mut read = 0;
        let mut written = 0;
        if let Some(b) = self.pending {
            let Some(slot) = out.first_mut() else {
                return (0, 0);
            };
            *slot = b;
            written = 1;
            self.pending = None;
        }
        while let (Some(&b), true) = (input.get(read), written < out.len()) {
            read += 1;
            let (first, second) = match b {
                b'\n' => (b'\r', Some(b'\n')),
                b'\r' => (b'\r', Some(0)),
                other => (other, None),
            };
            if let Some(slot) = out.get_mut(written) {
                *slot = first;
                written += 1;
            }
            if let Some(s) = second {
                match out.get_mut(written) {
                    Some(slot) => {
                        *slot = s;
                        written += 1;
                    }
                    None => self.pending = Some(s),
                }
            }
        }
        (read, written)
    }
}

/// Decoder for the receiving side.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    cr_pending: bool,
}

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Translates `input`, appending to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.cr_pending {
                self.cr_pending = false;
                match b {
                    b'\n' => out.push(b'\n'),
                    0 => out.push(b'\r'),
                    b'\r' => {
                        out.push(b'\r');
                        self.cr_pending = true;
                    }
                    other => {
                        out.push(b'\r');
                        out.push(other);
                    }
                }
            } else if b == b'\r' {
                self.cr_pending = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flushes a CR left at the very end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.cr_pending) {
            out.push(b'\r');
        }
    }
}

/// The netascii length of `data` (each LF and CR counts twice).
pub fn encoded_len(data: &[u8]) -> u64 {
    data.iter()
        .map(|&b| if b == b'\n' || b == b'\r' { 2 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_in_chunks(data: &[u8], in_chunk: usize, out_chunk: usize) -> Vec<u8> {
        let mut enc = Encoder::new();
        let mut result = Vec::new();
        let mut pos = 0;
        loop {
            let end = (pos + in_chunk).min(data.len());
            let input = data.get(pos..end).unwrap_or_default();
            let mut buf = vec![0u8; out_chunk];
            let (r, w) = enc.encode(input, &mut buf);
            result.extend_from_slice(buf.get(..w).unwrap_or_default());
            pos += r;
            if pos >= data.len() && !enc.has_pending() {
                return result;
            }
        }
    }

    #[test]
    fn encodes_line_ends_and_lone_cr() {
        assert_eq!(encode_in_chunks(b"a\nb\rc", 100, 100), b"a\r\nb\r\0c");
        assert_eq!(encode_in_chunks(b"\r\n", 100, 100), b"\r\0\r\n");
    }

    #[test]
    fn expansion_split_across_output_buffers() {
        // Output buffers of 1 byte force every expansion to straddle a boundary.
        assert_eq!(encode_in_chunks(b"\n\n\r", 3, 1), b"\r\n\r\n\r\0");
    }

    #[test]
    fn decodes_pairs_across_blocks() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.decode(b"a\r", &mut out);
        d.decode(b"\nb\r", &mut out);
        d.decode(b"\0c\r", &mut out);
        d.finish(&mut out);
        assert_eq!(out, b"a\nb\rc\r");
    }

    #[test]
    fn lenient_on_bare_cr() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.decode(b"x\ry\r\r\n", &mut out);
        d.finish(&mut out);
        assert_eq!(out, b"x\ry\r\n");
    }

    proptest! {
        #[test]
        fn round_trip_any_chunking(
            data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..400),
            in_chunk in 1usize..50,
            out_chunk in 1usize..50,
            dec_chunk in 1usize..50,
        ) {
            let wire = encode_in_chunks(&data, in_chunk, out_chunk);
            prop_assert_eq!(wire.len() as u64, encoded_len(&data));
            let mut d = Decoder::new();
            let mut back = Vec::new();
            for c in wire.chunks(dec_chunk) {
                d.decode(c, &mut back);
            }
            d.finish(&mut back);
            prop_assert_eq!(back, data);
        }
    }
}
