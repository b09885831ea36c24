//! Where transfer bytes come from and go to: [`DataSource`] (read at an offset), the per-mode
//! [`BlockReader`] that cuts a source into blocks, and [`DataSink`] for writes.
//!
//! A file source is a shared `File` read with `pread` (`FileExt::read_at`): any number of
//! transfers of the same file share one descriptor and the kernel page cache, no transfer holds
//! the file in memory, and a retransmission is a fresh `pread` of the block, not a copy kept
//! per client. Netascii needs sequential translation, so its reader keeps only the translated
//! bytes of the unacknowledged window.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::netascii;
use crate::packet::Mode;

/// Random-access bytes with a known size.
pub trait DataSource: Send + Sync {
    /// Size in bytes (as of opening; a transfer stops at the first short read anyway).
    fn size(&self) -> u64;
    /// Reads at `offset` into `buf`; fewer bytes than `buf.len()` only at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// A file opened once and read with `pread`, shareable between transfers.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    size: u64,
}

impl FileSource {
    /// Wraps an open file; its size is taken now.
    pub fn new(file: File) -> io::Result<Self> {
        let size = file.metadata()?.len();
        Ok(FileSource { file, size })
    }
}

impl DataSource for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            match self.file.read_at(rest, offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// Bytes in memory (generated boot menus, tests).
#[derive(Debug, Clone)]
pub struct MemorySource(pub Arc<[u8]>);

impl DataSource for MemorySource {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let avail = self.0.get(start..).unwrap_or_default();
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

impl<T: DataSource + ?Sized> DataSource for Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
}

/// Cuts a source into blocks of the negotiated size, translating netascii on the way.
pub struct BlockReader<S> {
    source: S,
    blksize: usize,
    netascii: Option<NetasciiState>,
    ahead: ReadAhead,
    /// Bytes of a read-ahead run ([`READ_AHEAD`] unless set with `with_read_ahead`).
    run_bytes: usize,
}

/// Octet mode reads whole runs of blocks at once (one `pread` per [`READ_AHEAD`] bytes
/// instead of one per block) and cuts blocks out of them; retransmissions of blocks still in
/// the run cost no read at all, older ones a fresh `pread`.
#[derive(Default)]
struct ReadAhead {
    /// File offset of `data[0]`.
    start: u64,
    data: Vec<u8>,
    /// The read that filled `data` came back short: the file ends at its end.
    short: bool,
    /// Whether `data` was ever filled.
    filled: bool,
}

/// Bytes read ahead per transfer in octet mode (rounded down to whole blocks, at least one).
pub const READ_AHEAD: usize = 64 * 1024;

struct NetasciiState {
    encoder: netascii::Encoder,
    /// Next raw offset to translate.
    raw_pos: u64,
    raw_eof: bool,
    /// Translated bytes starting at block index `base`.
    encoded: Vec<u8>,
    base: u64,
}

/// How much raw data netascii translation reads at a time.
const RAW_CHUNK: usize = 16 * 1024;

impl<S: DataSource> BlockReader<S> {
    /// A reader for blocks of `blksize` bytes in `mode`.
    pub fn new(source: S, mode: Mode, blksize: u16) -> Self {
        let netascii = (mode == Mode::Netascii).then(|| NetasciiState {
            encoder: netascii::Encoder::new(),
            raw_pos: 0,
            raw_eof: false,
            encoded: Vec::new(),
            base: 0,
        });
        BlockReader {
            source,
            blksize: usize::from(blksize),
            netascii,
            ahead: ReadAhead::default(),
            run_bytes: READ_AHEAD,
        }
    }

    /// Reads runs of `bytes` (whole blocks, at least one) instead of [`READ_AHEAD`]: less
    /// memory a transfer where thousands run at once.
    pub fn with_read_ahead(mut self, bytes: usize) -> Self {
        self.run_bytes = bytes;
        self
    }

    /// Octet block `index`, from the read-ahead run (refilled when the block is not in it).
    fn read_octet(&mut self, index: u64, out: &mut Vec<u8>) -> io::Result<usize> {
        let blksize = self.blksize;
        let offset = index * blksize as u64;
        let a = &mut self.ahead;
        let end = a.start + a.data.len() as u64;
        // In the run: the whole block, or what is left of it before the end of the file.
        let inside = a.filled
            && offset >= a.start
            && (offset + blksize as u64 <= end || (a.short && offset <= end));
        if !inside {
            let run = (self.run_bytes / blksize).max(1) * blksize;
            a.data.resize(run, 0);
            a.filled = false;
            let n = self.source.read_at(offset, &mut a.data)?;
            a.data.truncate(n);
            a.start = offset;
            a.short = n < run;
            a.filled = true;
        }
        let from = usize::try_from(offset - a.start).map_err(io::Error::other)?;
        let block = a
            .data
            .get(from..)
            .map(|rest| rest.get(..blksize).unwrap_or(rest))
            .unwrap_or_default();
        out.extend_from_slice(block);
        Ok(block.len())
    }

    /// Appends block `index` (0-based) to `out`; a block shorter than `blksize` is the last.
    pub fn read_block(&mut self, index: u64, out: &mut Vec<u8>) -> io::Result<usize> {
        let blksize = self.blksize;
        let Some(na) = self.netascii.as_mut() else {
            return self.read_octet(index, out);
        };
        if index < na.base {
            return Err(io::Error::other("netascii block already released"));
        }
        let rel = usize::try_from(index - na.base).map_err(io::Error::other)?;
        let want_end = (rel + 1) * blksize;
        while na.encoded.len() < want_end && (!na.raw_eof || na.encoder.has_pending()) {
            let mut raw = vec![0u8; RAW_CHUNK];
            let got = if na.raw_eof {
                0
            } else {
                self.source.read_at(na.raw_pos, &mut raw)?
            };
            if got == 0 {
                na.raw_eof = true;
            }
            let mut input = raw.get(..got).unwrap_or_default();
            loop {
                let mut chunk = [0u8; 4096];
                let (r, w) = na.encoder.encode(input, &mut chunk);
                na.encoded
                    .extend_from_slice(chunk.get(..w).unwrap_or_default());
                input = input.get(r..).unwrap_or_default();
                if input.is_empty() && !na.encoder.has_pending() {
                    break;
                }
            }
            na.raw_pos += got as u64;
        }
        let start = (rel * blksize).min(na.encoded.len());
        let end = want_end.min(na.encoded.len());
        let block = na.encoded.get(start..end).unwrap_or_default();
        out.extend_from_slice(block);
        Ok(block.len())
    }

    /// Blocks before `index` will not be asked for again (they are acknowledged).
    pub fn release_before(&mut self, index: u64) {
        if let Some(na) = self.netascii.as_mut()
            && index > na.base
        {
            let drop_blocks = usize::try_from(index - na.base).unwrap_or(usize::MAX);
            let drop_bytes = drop_blocks
                .saturating_mul(self.blksize)
                .min(na.encoded.len());
            na.encoded.drain(..drop_bytes);
            na.base = index;
        }
    }
}

/// Destination of a write transfer.
pub trait DataSink: Send {
    /// Appends bytes.
    fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// The transfer is complete; flush.
    fn finish(&mut self) -> io::Result<()>;
}

impl DataSink for Vec<u8> {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A file being written.
#[derive(Debug)]
pub struct FileSink(pub io::BufWriter<File>);

impl DataSink for FileSink {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.0, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        io::Write::flush(&mut self.0)?;
        self.0.get_ref().sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mem(data: &[u8]) -> MemorySource {
        MemorySource(Arc::from(data))
    }

    fn all_blocks(data: &[u8], mode: Mode, blksize: u16, release: bool) -> Vec<u8> {
        let mut r = BlockReader::new(mem(data), mode, blksize);
        let mut out = Vec::new();
        for i in 0.. {
            let n = r.read_block(i, &mut out).expect("memory never fails");
            if release {
                r.release_before(i);
            }
            if n < usize::from(blksize) {
                break;
            }
        }
        out
    }

    #[test]
    fn octet_blocks_reassemble_with_empty_final_block() {
        let data: Vec<u8> = (0..1024u32).map(|i| i as u8).collect();
        let mut r = BlockReader::new(mem(&data), Mode::Octet, 512);
        let mut out = Vec::new();
        assert_eq!(r.read_block(1, &mut out).expect("mem"), 512);
        assert_eq!(r.read_block(2, &mut out).expect("mem"), 0);
        assert_eq!(out, data.get(512..).expect("len"));
    }

    /// Counts reads, to show that octet blocks come from one read per run.
    struct Counting(MemorySource, std::sync::atomic::AtomicUsize);

    impl DataSource for Counting {
        fn size(&self) -> u64 {
            self.0.size()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.read_at(offset, buf)
        }
    }

    #[test]
    fn octet_reads_ahead_and_rereads_old_blocks() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let src = Arc::new(Counting(mem(&data), Default::default()));
        let mut r = BlockReader::new(Arc::clone(&src), Mode::Octet, 512);
        let reads = || src.1.load(std::sync::atomic::Ordering::Relaxed);
        let block = |r: &mut BlockReader<Arc<Counting>>, i: u64| {
            let mut out = Vec::new();
            r.read_block(i, &mut out).expect("mem");
            out
        };
        for i in 0..128 {
            assert_eq!(block(&mut r, i), data[i as usize * 512..][..512]);
        }
        assert_eq!(reads(), 1, "128 blocks of 512 from one 64 KiB read");
        assert_eq!(block(&mut r, 128), data[128 * 512..][..512]);
        assert_eq!(reads(), 2);
        // A rewind to a block before the run reads again; the run then starts there.
        assert_eq!(block(&mut r, 5), data[5 * 512..][..512]);
        assert_eq!(
            (reads(), block(&mut r, 6)),
            (3, data[6 * 512..][..512].to_vec())
        );
        // The end: a short last block, in the run that covers it.
        let last = (data.len() / 512) as u64;
        assert_eq!(
            block(&mut r, last - 1),
            data[(last - 1) as usize * 512..][..512]
        );
        let n = reads();
        assert_eq!(block(&mut r, last), data[last as usize * 512..]);
        assert_eq!(reads(), n, "the short last block comes from the same run");
        // A block larger than the read-ahead: one read per block.
        let mut big = BlockReader::new(mem(&data), Mode::Octet, 65464);
        let mut out = Vec::new();
        assert_eq!(
            big.read_block(3, &mut out).expect("mem"),
            200_000 - 3 * 65464
        );
        assert_eq!(out, data[3 * 65464..]);
    }

    #[test]
    fn a_smaller_read_ahead_reads_runs_of_that_many_whole_blocks() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let src = Arc::new(Counting(mem(&data), Default::default()));
        let mut r = BlockReader::new(Arc::clone(&src), Mode::Octet, 1468).with_read_ahead(8192);
        let reads = || src.1.load(std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::new();
        let last = (data.len() / 1468) as u64;
        for i in 0..=last {
            r.read_block(i, &mut out).expect("mem");
        }
        assert_eq!(out, data, "every block, in order");
        // 8192 bytes hold 5 blocks of 1468: one read per 5 blocks (69 blocks: 14 reads).
        assert_eq!(reads(), (last as usize + 1).div_ceil(5));
        assert!(r.ahead.data.capacity() < 8192 + 1468, "the run stays small");
    }

    #[test]
    fn file_source_reads_at_offsets() {
        let mut f = tempfile::tempfile().expect("tempfile");
        io::Write::write_all(&mut f, b"hello world").expect("write");
        let s = FileSource::new(f).expect("meta");
        assert_eq!(s.size(), 11);
        let mut buf = [0u8; 5];
        assert_eq!(s.read_at(6, &mut buf).expect("pread"), 5);
        assert_eq!(&buf, b"world");
        assert_eq!(s.read_at(20, &mut buf).expect("pread"), 0);
    }

    #[test]
    fn netascii_rereads_unreleased_blocks() {
        let data = b"ab\ncd\ref\n".repeat(100);
        let mut r = BlockReader::new(mem(&data), Mode::Netascii, 8);
        let mut first = Vec::new();
        r.read_block(3, &mut first).expect("mem");
        let mut again = Vec::new();
        r.read_block(3, &mut again).expect("mem");
        assert_eq!(first, again);
        r.release_before(4);
        assert!(r.read_block(3, &mut again).is_err());
    }

    proptest! {
        #[test]
        fn netascii_blocks_equal_whole_encoding(
            data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..3000),
            blksize in 8u16..600,
            release in any::<bool>(),
        ) {
            let mut whole = Vec::new();
            let mut enc = netascii::Encoder::new();
            let mut buf = vec![0u8; data.len() * 2 + 1];
            let (_, w) = enc.encode(&data, &mut buf);
            whole.extend_from_slice(&buf[..w]);
            prop_assert_eq!(all_blocks(&data, Mode::Netascii, blksize, release), whole);
            prop_assert_eq!(all_blocks(&data, Mode::Octet, blksize, release), data);
        }
    }
}
