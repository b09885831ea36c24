//! The image pipeline: fetched bytes → SHA-256 → decompressor → disk, in one pass.
//!
//! The digest is of the bytes as fetched (the compressed file, as `sha256sum` prints it
//! for the file on the server), so it is checked without a second read of the disk. The
//! disk is written before the digest is known: a mismatch is reported as
//! [`ImageError::Checksum`] after the last byte, and the caller must not boot that disk
//! (the agent wipes its partition tables, see `disk::wipe_labels`).

use pxe_model::deploy::ImageFormat;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::io::{self, BufReader, Read, Write};
use std::rc::Rc;

/// Size of the chunks copied to the disk.
pub const CHUNK: usize = 1 << 20;

/// How far the pipeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes fetched (compressed, for a compressed image).
    pub fetched: u64,
    /// The fetch's size, when the server said (Content-Length).
    pub total: Option<u64>,
    /// Bytes written to the disk.
    pub written: u64,
}

/// What was written, once the digest matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub fetched: u64,
    pub written: u64,
    pub sha256: String,
}

/// Why an image was not written whole and verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("reading the image failed after {fetched} bytes: {source}")]
    Read { fetched: u64, source: io::Error },
    #[error("writing to the disk failed after {written} bytes: {source}")]
    Write { written: u64, source: io::Error },
    #[error("the image ended after {fetched} of {total} bytes")]
    Truncated { fetched: u64, total: u64 },
    #[error("sha256 mismatch: the plan says {expected}, the {fetched} bytes fetched are {got}")]
    Checksum {
        expected: String,
        got: String,
        fetched: u64,
    },
    #[error("{0} images cannot be streamed; they are fetched to a file first")]
    NotStreamable(&'static str),
}

/// A reader that hashes and counts what passes through it.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: Rc::new(Cell::new(0)),
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// A handle on the count, readable while a decompressor borrows the reader.
    pub fn counter(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.count)
    }

    /// The lower-case hex digest of everything read.
    pub fn hex_digest(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The decompressor of `format` over `input`.
pub fn decoder<'a, R: Read + 'a>(
    format: ImageFormat,
    input: R,
) -> Result<Box<dyn Read + 'a>, ImageError> {
    let buffered = BufReader::with_capacity(CHUNK, input);
    Ok(match format {
        ImageFormat::Raw => Box::new(buffered),
        ImageFormat::RawZstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|source| ImageError::Read { fetched: 0, source })?,
        ),
        ImageFormat::RawXz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buffered)),
        ImageFormat::RawGzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        ImageFormat::Qcow2 => return Err(ImageError::NotStreamable("qcow2")),
    })
}

/// Streams `source` (the fetch, `total` bytes if known) through the decompressor of
/// `format` to `dest`, calling `progress` after each chunk, and checks the digest.
pub fn write_image<R: Read, W: Write>(
    source: R,
    total: Option<u64>,
    format: ImageFormat,
    expected_sha256: &str,
    dest: &mut W,
    progress: &mut dyn FnMut(Progress),
) -> Result<Written, ImageError> {
    let mut hashing = Hashing::new(source);
    let fetched = hashing.counter();
    let written = {
        let mut plain = decoder(format, &mut hashing)?;
        copy_chunks(&mut plain, dest, total, &fetched, progress)?
    };
    finish(hashing, total, expected_sha256, written)
}

/// Copies the decompressed stream to the disk; the bytes written.
fn copy_chunks<W: Write>(
    plain: &mut dyn Read,
    dest: &mut W,
    total: Option<u64>,
    fetched: &Cell<u64>,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, ImageError> {
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    loop {
        let n = read_full(plain, &mut buf).map_err(|source| ImageError::Read {
            fetched: fetched.get(),
            source,
        })?;
        if n == 0 {
            break;
        }
        dest.write_all(&buf[..n])
            .map_err(|source| ImageError::Write { written, source })?;
        written += n as u64;
        progress(Progress {
            fetched: fetched.get(),
            total,
            written,
        });
    }
    dest.flush()
        .map_err(|source| ImageError::Write { written, source })?;
    Ok(written)
}

/// Reads until `buf` is full or the stream ends, so that the disk gets whole chunks.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Hashes what the decompressor left unread (padding after the last frame), then checks
/// the length and the digest.
fn finish<R: Read>(
    mut hashing: Hashing<R>,
    total: Option<u64>,
    expected: &str,
    written: u64,
) -> Result<Written, ImageError> {
    io::copy(&mut hashing, &mut io::sink()).map_err(|source| ImageError::Read {
        fetched: hashing.count(),
        source,
    })?;
    let fetched = hashing.count();
    if let Some(total) = total
        && fetched != total
    {
        return Err(ImageError::Truncated { fetched, total });
    }
    let got = hashing.hex_digest();
    if !got.eq_ignore_ascii_case(expected) {
        return Err(ImageError::Checksum {
            expected: expected.to_owned(),
            got,
            fetched,
        });
    }
    Ok(Written {
        fetched,
        written,
        sha256: got,
    })
}

/// Fetches `source` into `dest` (a file, for formats that need random access), hashing
/// it and checking the digest.
pub fn fetch_verified<R: Read, W: Write>(
    source: R,
    total: Option<u64>,
    expected_sha256: &str,
    dest: &mut W,
    progress: &mut dyn FnMut(Progress),
) -> Result<Written, ImageError> {
    let mut hashing = Hashing::new(source);
    let fetched = hashing.counter();
    let written = copy_chunks(&mut hashing, dest, total, &fetched, progress)?;
    finish(hashing, total, expected_sha256, written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    /// Bytes that compress somewhat (a disk has runs of zeros) but are not trivial.
    fn disk_like(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                if (i / 4096) % 3 == 0 {
                    0
                } else {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8
                }
            })
            .collect()
    }

    fn sha(bytes: &[u8]) -> String {
        let mut h = Hashing::new(bytes);
        io::copy(&mut h, &mut io::sink()).unwrap();
        h.hex_digest()
    }

    fn compress(format: ImageFormat, raw: &[u8]) -> Vec<u8> {
        match format {
            ImageFormat::Raw => raw.to_vec(),
            ImageFormat::RawZstd => zstd::encode_all(raw, 3).unwrap(),
            ImageFormat::RawXz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(raw).unwrap();
                e.finish().unwrap()
            }
            ImageFormat::RawGzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(raw).unwrap();
                e.finish().unwrap()
            }
            ImageFormat::Qcow2 => unreachable!("not streamed"),
        }
    }

    const STREAMED: [ImageFormat; 4] = [
        ImageFormat::Raw,
        ImageFormat::RawZstd,
        ImageFormat::RawXz,
        ImageFormat::RawGzip,
    ];

    #[test]
    fn every_format_arrives_whole_and_verified() {
        let raw = disk_like(3 * CHUNK + 12_345);
        for format in STREAMED {
            let fetched = compress(format, &raw);
            let mut disk = Vec::new();
            let mut seen = Vec::new();
            let w = write_image(
                &fetched[..],
                Some(fetched.len() as u64),
                format,
                &sha(&fetched),
                &mut disk,
                &mut |p| seen.push(p.written),
            )
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert!(disk == raw, "{format:?}: the disk holds the image");
            assert_eq!(w.written, raw.len() as u64);
            assert_eq!(w.fetched, fetched.len() as u64);
            assert_eq!(seen.len(), 4, "{format:?}: progress per chunk");
            assert_eq!(seen.last().copied(), Some(raw.len() as u64));
        }
    }

    #[test]
    fn a_wrong_digest_is_an_error_after_the_last_byte() {
        let raw = disk_like(CHUNK + 1);
        for format in STREAMED {
            let fetched = compress(format, &raw);
            let mut disk = Vec::new();
            let wrong = sha(b"something else");
            let e = write_image(&fetched[..], None, format, &wrong, &mut disk, &mut |_| {})
                .expect_err("a mismatch");
            match e {
                ImageError::Checksum { expected, got, .. } => {
                    assert_eq!(expected, wrong);
                    assert_eq!(got, sha(&fetched), "{format:?}: the digest of the fetch");
                }
                other => panic!("{format:?}: {other}"),
            }
        }
    }

    #[test]
    fn a_short_or_corrupt_fetch_is_an_error() {
        let raw = disk_like(2 * CHUNK);
        let fetched = compress(ImageFormat::RawZstd, &raw);
        let cut = &fetched[..fetched.len() / 2];
        let e = write_image(
            cut,
            Some(fetched.len() as u64),
            ImageFormat::RawZstd,
            &sha(&fetched),
            &mut Vec::new(),
            &mut |_| {},
        )
        .expect_err("cut in half");
        assert!(matches!(e, ImageError::Read { .. }), "{e}");
        // Raw has no framing: the length from the server catches it.
        let e = write_image(
            &raw[..CHUNK],
            Some(raw.len() as u64),
            ImageFormat::Raw,
            &sha(&raw),
            &mut Vec::new(),
            &mut |_| {},
        )
        .expect_err("short");
        assert!(matches!(e, ImageError::Truncated { .. }), "{e}");
        let mut garbage = compress(ImageFormat::RawGzip, &raw);
        garbage[100] ^= 0xff;
        let e = write_image(
            &garbage[..],
            None,
            ImageFormat::RawGzip,
            &sha(&garbage),
            &mut Vec::new(),
            &mut |_| {},
        )
        .expect_err("corrupt");
        assert!(matches!(e, ImageError::Read { .. }), "{e}");
    }

    #[test]
    fn qcow2_is_not_streamed() {
        assert!(matches!(
            decoder(ImageFormat::Qcow2, &b""[..]),
            Err(ImageError::NotStreamable("qcow2"))
        ));
    }

    /// A reader that hands out at most a few bytes at a time, as a slow network does.
    struct Trickle<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        i: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = self.sizes[self.i % self.sizes.len()].max(1);
            self.i += 1;
            let n = want.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn any_format() -> impl proptest::strategy::Strategy<Value = ImageFormat> {
        proptest::sample::select(STREAMED.to_vec())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Any image, in any streamed format, however the network splits it, lands on
        /// the disk byte for byte, with the digest of what was fetched.
        #[test]
        fn any_image_lands_exactly(
            len in 0usize..(2 * CHUNK + 100),
            seed in proptest::prelude::any::<u64>(),
            format in any_format(),
            sizes in proptest::collection::vec(1usize..70_000, 1..8),
        ) {
            let raw: Vec<u8> = disk_like(len + (seed % 4096) as usize);
            let fetched = compress(format, &raw);
            let source = Trickle { data: &fetched, sizes, i: 0 };
            let mut disk = Vec::new();
            let w = write_image(source, Some(fetched.len() as u64), format, &sha(&fetched),
                &mut disk, &mut |_| {});
            let w = w.map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert!(disk == raw);
            proptest::prop_assert_eq!(w.fetched, fetched.len() as u64);
            proptest::prop_assert_eq!(w.sha256, sha(&fetched));
        }

        /// One flipped bit anywhere in the fetch is never a success: the digest (or the
        /// decompressor first) catches it.
        #[test]
        fn one_flipped_bit_is_never_a_success(
            len in 1usize..200_000,
            format in any_format(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let raw = disk_like(len);
            let good = compress(format, &raw);
            let mut bad = good.clone();
            let i = at.index(bad.len());
            bad[i] ^= 1 << bit;
            let r = write_image(&bad[..], Some(bad.len() as u64), format, &sha(&good),
                &mut Vec::new(), &mut |_| {});
            proptest::prop_assert!(r.is_err(), "{:?} with byte {} flipped was accepted", format, i);
        }
    }
}
