//! Disk images, recognised by their first bytes: qcow2 (`QFI\xfb`), zstd, xz and gzip
//! (raw images compressed), or a raw disk with an MBR or GPT partition table. The
//! format is what a profile's `deploy: image: format:` says and what the agent streams.

use crate::deploy::ImageFormat;

/// How many bytes of a file [`detect`] and [`has_partition_table`] look at.
pub const HEAD_BYTES: usize = 4096;

const QCOW2: &[u8] = b"QFI\xfb";
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const GZIP: &[u8] = &[0x1f, 0x8b];

/// Why a file is not an image the agent can write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAnImage {
    #[error(
        "not a disk image: expected a qcow2, zstd, xz or gzip file, or a raw disk with an \
         MBR or GPT partition table in its first sectors"
    )]
    Unknown,
    #[error("a qcow2 file of version {0}; expected version 2 or 3")]
    Qcow2Version(u32),
    #[error(
        "a {0} file whose content is not a raw disk (no MBR or GPT partition table in its \
         first sectors); only raw disk images may be compressed"
    )]
    NotADisk(&'static str),
}

/// The compression of a file, by its magic bytes: `Some(format)` for zstd, xz and gzip.
pub fn compression(head: &[u8]) -> Option<ImageFormat> {
    [
        (ZSTD, ImageFormat::RawZstd),
        (XZ, ImageFormat::RawXz),
        (GZIP, ImageFormat::RawGzip),
    ]
    .into_iter()
    .find(|(magic, _)| head.starts_with(magic))
    .map(|(_, f)| f)
}

/// Whether the first sectors of a raw disk hold a partition table: a GPT header
/// (`EFI PART` at 512 bytes) or an MBR (0x55 0xAA at 510 with a partition entry).
pub fn has_partition_table(head: &[u8]) -> bool {
    if head.get(512..520) == Some(b"EFI PART".as_slice()) {
        return true;
    }
    let signed = head.get(510..512) == Some([0x55, 0xaa].as_slice());
    // A partition entry: a type byte (offset 4 of each 16-byte entry from 446) not zero.
    let entry = (0..4).any(|i| head.get(446 + 16 * i + 4).is_some_and(|t| *t != 0));
    signed && entry
}

/// The format of a file from its first [`HEAD_BYTES`] bytes; for a compressed file,
/// `inner` is the start of its decompressed content (checked to be a disk).
pub fn detect(head: &[u8], inner: Option<&[u8]>) -> Result<ImageFormat, NotAnImage> {
    if head.starts_with(QCOW2) {
        let version = head
            .get(4..8)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        return match version {
            2 | 3 => Ok(ImageFormat::Qcow2),
            v => Err(NotAnImage::Qcow2Version(v)),
        };
    }
    if let Some(format) = compression(head) {
        return match inner {
            Some(inner) if has_partition_table(inner) => Ok(format),
            _ => Err(NotAnImage::NotADisk(match format {
                ImageFormat::RawZstd => "zstd",
                ImageFormat::RawXz => "xz",
                _ => "gzip",
            })),
        };
    }
    if has_partition_table(head) {
        return Ok(ImageFormat::Raw);
    }
    Err(NotAnImage::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbr() -> Vec<u8> {
        let mut d = vec![0u8; HEAD_BYTES];
        d[446 + 4] = 0x83; // Linux
        d[510] = 0x55;
        d[511] = 0xaa;
        d
    }

    fn gpt() -> Vec<u8> {
        let mut d = vec![0u8; HEAD_BYTES];
        d[446 + 4] = 0xee; // the protective MBR
        d[510] = 0x55;
        d[511] = 0xaa;
        d[512..520].copy_from_slice(b"EFI PART");
        d
    }

    #[test]
    fn formats_by_magic_bytes() {
        assert_eq!(detect(&mbr(), None), Ok(ImageFormat::Raw));
        assert_eq!(detect(&gpt(), None), Ok(ImageFormat::Raw));
        let mut q = b"QFI\xfb\x00\x00\x00\x03".to_vec();
        q.resize(HEAD_BYTES, 0);
        assert_eq!(detect(&q, None), Ok(ImageFormat::Qcow2));
        q[7] = 1;
        assert_eq!(detect(&q, None), Err(NotAnImage::Qcow2Version(1)));
        for (magic, format) in [
            (ZSTD, ImageFormat::RawZstd),
            (XZ, ImageFormat::RawXz),
            (GZIP, ImageFormat::RawGzip),
        ] {
            let mut c = magic.to_vec();
            c.resize(64, 0x55);
            assert_eq!(detect(&c, Some(&gpt())), Ok(format));
            assert!(matches!(
                detect(&c, Some(&[0u8; 1024])),
                Err(NotAnImage::NotADisk(_))
            ));
            assert!(matches!(detect(&c, None), Err(NotAnImage::NotADisk(_))));
        }
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(detect(&[0u8; HEAD_BYTES], None), Err(NotAnImage::Unknown));
        assert_eq!(detect(b"<html>", None), Err(NotAnImage::Unknown));
        // A signature without a partition (an unpartitioned boot sector) is not a disk.
        let mut d = mbr();
        d[446 + 4] = 0;
        assert_eq!(detect(&d, None), Err(NotAnImage::Unknown));
        assert_eq!(detect(&[], None), Err(NotAnImage::Unknown));
    }
}
