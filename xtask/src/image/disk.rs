//! The disk image, assembled from files without loop devices or mounts: a GPT (sfdisk on
//! the image file) with a BIOS boot partition, an ESP and an ext4 root; the ESP made with
//! mkfs.vfat and filled with mtools; the root made by `mkfs.ext4 -d` from the rootfs
//! directory; each copied in at its offset, skipping zero blocks so the image stays sparse.
//!
//! GRUB for BIOS is embedded as `grub-bios-setup` does it: `core.img` in the BIOS boot
//! partition, its first sector's block list pointing at the rest, and `boot.img`'s code in
//! the MBR pointing at `core.img`, the protective MBR's partition table kept.
//! `grub-bios-setup` itself cannot run here: it insists on finding the disk that holds its
//! `-d` directory (the container's root device has no node), although it never uses it.

use anyhow::{Context, Result, bail};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub(crate) const SECTOR: u64 = 512;
/// 1 MiB: BIOS boot partition from sector 2048 (core.img is embedded here).
pub(crate) const BIOS_START: u64 = 2048;
pub(crate) const BIOS_SECTORS: u64 = 2048;
/// 64 MiB ESP right after it (FAT32 needs at least about 33 MiB on 512-byte sectors).
pub(crate) const ESP_START: u64 = BIOS_START + BIOS_SECTORS;
pub(crate) const ESP_SECTORS: u64 = 64 * 2048;
pub(crate) const ROOT_START: u64 = ESP_START + ESP_SECTORS;

/// GPT partition types.
const TYPE_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// "Linux root (x86-64)" of the Discoverable Partitions Specification.
const TYPE_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// Sectors of the root partition on a disk of `disk_bytes`: to the last whole MiB before
/// the backup GPT (33 sectors at the end).
pub(crate) fn root_sectors(disk_bytes: u64) -> u64 {
    let last_usable = disk_bytes / SECTOR - 34;
    (last_usable + 1 - ROOT_START) / 2048 * 2048
}

/// The sfdisk script of the layout.
pub(crate) fn sfdisk_script(disk_bytes: u64) -> String {
    format!(
        "label: gpt\n\
         first-lba: 2048\n\
         start={BIOS_START}, size={BIOS_SECTORS}, type={TYPE_BIOS_BOOT}, name=\"bios-boot\"\n\
         start={ESP_START}, size={ESP_SECTORS}, type={TYPE_ESP}, name=\"esp\"\n\
         start={ROOT_START}, size={}, type={TYPE_ROOT_X86_64}, name=\"root\"\n",
        root_sectors(disk_bytes)
    )
}

// Offsets in GRUB's i386-pc boot.img (include/grub/i386/pc/boot.h).
const BPB_START: usize = 0x03;
const BPB_END: usize = 0x5a;
const KERNEL_SECTOR: usize = 0x5c;
const BOOT_DRIVE: usize = 0x64;
const DRIVE_CHECK: usize = 0x66;
/// Where the MBR's disk signature and partition table start; kept from the disk.
const WINDOWS_NT_MAGIC: usize = 0x1b8;
/// Segment where diskboot loads the sector after the first of core.img (0x800 + 0x20).
const CORE_SEGMENT: u16 = 0x820;

/// The MBR with GRUB's boot code: `boot.img` outside the BPB and the partition table,
/// pointing at `core.img` at sector `core_lba`, booting from the BIOS's drive (0xff), with
/// the floppy check replaced by two NOPs, as grub-bios-setup writes for a hard disk.
pub(crate) fn patch_mbr(mbr: &[u8], boot_img: &[u8], core_lba: u64) -> Result<Vec<u8>> {
    if mbr.len() != 512 || boot_img.len() != 512 {
        bail!("the MBR and boot.img must be 512 bytes each");
    }
    let mut out = mbr.to_vec();
    out[..BPB_START].copy_from_slice(&boot_img[..BPB_START]);
    out[BPB_END..WINDOWS_NT_MAGIC].copy_from_slice(&boot_img[BPB_END..WINDOWS_NT_MAGIC]);
    out[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    out[BOOT_DRIVE] = 0xff;
    out[DRIVE_CHECK] = 0x90;
    out[DRIVE_CHECK + 1] = 0x90;
    Ok(out)
}

/// `core.img` padded to whole sectors, its first sector's block list saying "the next
/// sectors from `core_lba` + 1", as one contiguous run. No Reed-Solomon codes (as
/// grub-bios-setup `--no-rs-codes`).
pub(crate) fn patch_core(core: &[u8], core_lba: u64) -> Result<Vec<u8>> {
    let sectors = core.len().div_ceil(512);
    if sectors < 2 || sectors as u64 > BIOS_SECTORS {
        bail!("core.img has {sectors} sectors; the BIOS boot partition holds {BIOS_SECTORS}");
    }
    let mut out = core.to_vec();
    out.resize(sectors * 512, 0);
    // The block list grows down from the end of the first sector: {start u64, len u16,
    // segment u16}; the one before it stays zero, the terminator.
    let at = 512 - 12;
    let len = u16::try_from(sectors - 1).context("core.img too long")?;
    out[at..at + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    out[at + 8..at + 10].copy_from_slice(&len.to_le_bytes());
    out[at + 10..at + 12].copy_from_slice(&CORE_SEGMENT.to_le_bytes());
    out[at - 12..at].fill(0);
    Ok(out)
}

/// Writes GRUB's BIOS stage into `disk` (whose GPT already exists).
pub(crate) fn embed_bios_grub(disk: &Path, boot_img: &Path, core_img: &Path) -> Result<()> {
    let boot = std::fs::read(boot_img).context("reading boot.img")?;
    let core = std::fs::read(core_img).context("reading core.img")?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .with_context(|| format!("opening {}", disk.display()))?;
    let mut mbr = vec![0u8; 512];
    f.read_exact(&mut mbr).context("reading the MBR")?;
    let mbr = patch_mbr(&mbr, &boot, BIOS_START)?;
    let core = patch_core(&core, BIOS_START)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&mbr)?;
    f.seek(SeekFrom::Start(BIOS_START * SECTOR))?;
    f.write_all(&core)?;
    f.sync_all().context("syncing the disk image")
}

/// Copies `part` into `disk` at sector `start`, leaving zero blocks as holes.
pub(crate) fn write_at(disk: &Path, start: u64, part: &Path) -> Result<()> {
    let mut src =
        std::fs::File::open(part).with_context(|| format!("opening {}", part.display()))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .open(disk)
        .with_context(|| format!("opening {}", disk.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = start * SECTOR;
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            dst.seek(SeekFrom::Start(offset))?;
            dst.write_all(&buf[..n])?;
        }
        offset += n as u64;
    }
    dst.sync_all().context("syncing the disk image")
}

fn read_full(src: &mut std::fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = src
            .read(&mut buf[filled..])
            .context("reading a partition")?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_2_gib_disk() {
        let disk = 2 << 30;
        assert_eq!(ROOT_START, 135_168);
        assert_eq!(root_sectors(disk), 4_057_088);
        // The root ends before the backup GPT.
        assert!(ROOT_START + root_sectors(disk) <= disk / SECTOR - 33);
        let script = sfdisk_script(disk);
        assert!(script.contains("start=4096, size=131072, type=C12A7328"));
        assert!(script.contains("start=135168, size=4057088, type=4F68BCE3"));
    }

    fn boot_img() -> Vec<u8> {
        (0..512u32).map(|i| (i % 251) as u8 + 1).collect()
    }

    #[test]
    fn mbr_keeps_bpb_and_partition_table() {
        let mut mbr = vec![0xeeu8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        let out = patch_mbr(&mbr, &boot_img(), 2048).expect("512-byte sectors");
        assert_eq!(out[..3], boot_img()[..3]);
        assert!(out[3..0x5a].iter().all(|b| *b == 0xee));
        assert_eq!(out[0x5c..0x64], [0x00, 0x08, 0, 0, 0, 0, 0, 0]);
        assert_eq!(out[0x64], 0xff);
        assert_eq!(out[0x66..0x68], [0x90, 0x90]);
        assert_eq!(out[0x68..0x1b8], boot_img()[0x68..0x1b8]);
        assert!(out[0x1b8..510].iter().all(|b| *b == 0xee));
        assert_eq!(out[510..], [0x55, 0xaa]);
        assert!(patch_mbr(&mbr[..100], &boot_img(), 1).is_err());
    }

    #[test]
    fn core_block_list_as_grub_bios_setup_writes_it() {
        // 55 sectors of core.img at 2048: the list says 54 sectors from 2049, segment
        // 0x820 (bytes seen in a disk grub-bios-setup --no-rs-codes made).
        let core = vec![0x11u8; 54 * 512 + 100];
        let out = patch_core(&core, 2048).expect("fits");
        assert_eq!(out.len(), 55 * 512);
        assert_eq!(
            out[0x1f0..0x200],
            [
                0, 0, 0, 0, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0x36, 0x00, 0x20, 0x08
            ]
        );
        // The entry before it, the terminator, is zero.
        assert!(out[0x1e8..0x1f4].iter().all(|b| *b == 0));
        assert!(patch_core(&vec![0u8; 2048 * 512 + 1], 2048).is_err());
    }
}
