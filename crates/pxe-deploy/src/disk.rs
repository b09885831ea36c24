//! The target disk: attaching a file as a loop device (tests, and images of images),
//! finding the last partition, growing it and its file system, mounting, wiping.

use crate::log::{CommandError, Log, run, run_ok};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A block device to work on; a loop device made for a file is detached when dropped.
#[derive(Debug)]
pub struct Device {
    pub path: PathBuf,
    loop_of: Option<PathBuf>,
}

impl Device {
    /// `target` itself when it is a block device, else a loop device over the file; the
    /// kernel is told the partitions of the table just written.
    pub fn attach(target: &Path, log: &mut Log) -> Result<Device, CommandError> {
        use std::os::unix::fs::FileTypeExt as _;
        let is_block = std::fs::metadata(target).is_ok_and(|m| m.file_type().is_block_device());
        let dev = if is_block {
            Device {
                path: target.to_owned(),
                loop_of: None,
            }
        } else {
            let shown = target.display().to_string();
            let dev = run(log, "losetup", &["--find", "--show", "--partscan", &shown])?;
            Device {
                path: PathBuf::from(dev.trim()),
                loop_of: Some(target.to_owned()),
            }
        };
        dev.rescan(log)?;
        Ok(dev)
    }

    /// Tells the kernel the disk's partitions as the table now has them: added, resized
    /// and removed (`partx --update`; without udev, re-reading the table on attach is not
    /// enough for loop devices, and the devtmpfs nodes appear only then).
    pub fn rescan(&self, log: &mut Log) -> Result<(), CommandError> {
        let disk = self.path.display().to_string();
        // partx: 1 when the disk has no partition table, which grow_last then reports.
        run_ok(log, "partx", &["--update", &disk], &[0, 1])?;
        Ok(())
    }
}

/// Waits (up to `timeout`) for a device node to appear in devtmpfs.
pub fn wait_for_node(node: &Path, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        if node.exists() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if self.loop_of.is_some() {
            let _ = std::process::Command::new("losetup")
                .arg("-d")
                .arg(&self.path)
                .status();
        }
    }
}

/// A partition of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// `/dev/sda1`, `/dev/loop0p1`.
    pub node: String,
    /// Its number in the table.
    pub number: u32,
    /// First sector.
    pub start: u64,
}

/// The partition that ends last on the disk (the root of cloud images), from
/// `sfdisk --json`'s output.
pub fn last_partition(sfdisk_json: &str) -> Result<Partition, String> {
    if sfdisk_json.trim().is_empty() {
        return Err("the disk has no partition table the image could have brought".to_owned());
    }
    let v: serde_json::Value =
        serde_json::from_str(sfdisk_json).map_err(|e| format!("sfdisk --json: {e}"))?;
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .ok_or("the disk has no partition table")?;
    parts
        .iter()
        .filter_map(|p| {
            let node = p["node"].as_str()?.to_owned();
            let start = p["start"].as_u64()?;
            let digits: String = node
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let number = digits.parse().ok()?;
            Some(Partition {
                node,
                number,
                start,
            })
        })
        .max_by_key(|p| p.start)
        .ok_or_else(|| "the disk has no partitions".to_owned())
}

/// Grows the last partition to the end of the disk, and its ext4 file system with it
/// (xfs grows once mounted, see [`grow_mounted`]). Its file-system type.
pub fn grow_last(dev: &Device, log: &mut Log) -> Result<(Partition, String), CommandError> {
    let disk = dev.path.display().to_string();
    // An image written to a larger disk has its backup GPT header in the middle.
    // sfdisk: 1 with no output when the disk has no partition table.
    let table = run_ok(log, "sfdisk", &["--json", &disk], &[0, 1])?;
    let part = last_partition(&table).map_err(|reason| CommandError {
        command: format!("sfdisk --json {disk}"),
        reason,
    })?;
    // growpart: 0 grown, 1 NOCHANGE (already at the end).
    run_ok(log, "growpart", &[&disk, &part.number.to_string()], &[0, 1])?;
    dev.rescan(log)?;
    if !wait_for_node(Path::new(&part.node), std::time::Duration::from_secs(10)) {
        return Err(CommandError {
            command: format!("partx --update {disk}"),
            reason: format!("{} did not appear", part.node),
        });
    }
    let fstype = run(log, "blkid", &["-o", "value", "-s", "TYPE", &part.node])?
        .trim()
        .to_owned();
    if fstype.starts_with("ext") {
        // e2fsck: 0 clean, 1 corrected.
        run_ok(log, "e2fsck", &["-f", "-y", &part.node], &[0, 1])?;
        run(log, "resize2fs", &[&part.node])?;
    }
    Ok((part, fstype))
}

/// Grows a mounted xfs file system (ext4 is grown before mounting).
pub fn grow_mounted(fstype: &str, mountpoint: &Path, log: &mut Log) -> Result<(), CommandError> {
    if fstype == "xfs" {
        run(log, "xfs_growfs", &[&mountpoint.display().to_string()])?;
    }
    Ok(())
}

/// Moves this process to a mount namespace of its own, with nothing propagating back:
/// the installed root it mounts is then seen by no other process. Otherwise a process
/// that copies the mount table meanwhile (`ip netns exec`, `unshare -m`, a container
/// starting) keeps the file system mounted after the agent unmounts it, its journal
/// not closed, and the disk is not clean when the machine reboots. Call it before any
/// thread starts (unsharing the mount namespace unshares the working directory too).
pub fn private_mount_namespace() -> Result<(), String> {
    use nix::mount::MsFlags;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making / private: {e}"))
}

/// Mounts, and unmounts (lazily, in reverse order) when dropped.
#[derive(Debug, Default)]
pub struct Mounts {
    points: Vec<PathBuf>,
}

impl Mounts {
    pub fn mount(
        &mut self,
        log: &mut Log,
        source: &str,
        target: &Path,
        bind: bool,
    ) -> Result<(), CommandError> {
        let t = target.display().to_string();
        let _ = std::fs::create_dir_all(target);
        if bind {
            run(log, "mount", &["--bind", source, &t])?;
        } else {
            run(log, "mount", &[source, &t])?;
        }
        self.points.push(target.to_owned());
        Ok(())
    }

    /// Whether `target` was mounted here (and is still).
    pub fn has(&self, target: &Path) -> bool {
        self.points.iter().any(|p| p == target)
    }

    /// Unmounts everything now, newest first.
    pub fn unmount_all(&mut self, log: &mut Log) -> Result<(), CommandError> {
        let _ = run_ok(log, "sync", &[], &[0]);
        while let Some(p) = self.points.pop() {
            run(log, "umount", &[&p.display().to_string()])?;
        }
        Ok(())
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        while let Some(p) = self.points.pop() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&p)
                .status();
        }
    }
}

/// The first disk that is not removable, a loop, RAM, optical, zram or device-mapper
/// device, from `/sys/block` (`sys_block`).
pub fn pick_disk(sys_block: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| {
            !["loop", "ram", "sr", "zram", "dm-", "md", "fd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .filter(|n| {
            let read =
                |f: &str| std::fs::read_to_string(sys_block.join(n).join(f)).unwrap_or_default();
            read("removable").trim() == "0"
                && read("size").trim().parse::<u64>().is_ok_and(|s| s > 0)
        })
        .collect();
    names.sort();
    names.first().map(|n| Path::new("/dev").join(n))
}

/// Zeroes the first and last MiB of a disk (MBR, both GPT headers), so that a disk whose
/// image failed its checksum or broke off boots nothing and is not mistaken for installed.
pub fn wipe_labels(path: &Path) -> std::io::Result<()> {
    const MIB: u64 = 1 << 20;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    let size = f.seek(SeekFrom::End(0))?;
    let zeros = vec![0u8; MIB as usize];
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&zeros[..size.min(MIB) as usize])?;
    if size > 2 * MIB {
        f.seek(SeekFrom::Start(size - MIB))?;
        f.write_all(&zeros)?;
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_partition_is_the_one_that_starts_last() {
        // Debian's cloud images: the root (1) after the BIOS boot (14) and ESP (15).
        let json = r#"{"partitiontable": {"label": "gpt", "device": "/dev/loop3",
            "partitions": [
              {"node": "/dev/loop3p1", "start": 262144, "size": 3930079, "type": "x"},
              {"node": "/dev/loop3p14", "start": 2048, "size": 6144, "type": "y"},
              {"node": "/dev/loop3p15", "start": 8192, "size": 253952, "type": "z"}]}}"#;
        let p = last_partition(json).expect("a partition");
        assert_eq!(
            p,
            Partition {
                node: "/dev/loop3p1".into(),
                number: 1,
                start: 262144
            }
        );
        assert!(last_partition(r#"{"partitiontable": {"partitions": []}}"#).is_err());
        assert!(last_partition("not json").is_err());
        let e = last_partition("").expect_err("no table");
        assert!(e.contains("no partition table"), "{e}");
    }

    #[test]
    fn wiping_zeroes_both_ends_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        std::fs::write(&path, vec![0xa5u8; 5 << 20]).expect("disk");
        wipe_labels(&path).expect("wipe");
        let d = std::fs::read(&path).expect("read");
        assert!(d[..1 << 20].iter().all(|b| *b == 0));
        assert!(d[(4 << 20)..].iter().all(|b| *b == 0));
        assert!(d[(1 << 20)..(4 << 20)].iter().all(|b| *b == 0xa5));
    }

    #[test]
    fn picks_a_fixed_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mk = |name: &str, removable: &str, size: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("removable"), removable).expect("write");
            std::fs::write(d.join("size"), size).expect("write");
        };
        mk("loop0", "0", "100");
        mk("sdb", "1", "100");
        mk("sr0", "1", "100");
        mk("vdb", "0", "0");
        assert_eq!(pick_disk(dir.path()), None);
        mk("vda", "0", "2048\n");
        mk("nvme0n1", "0", "4096\n");
        assert_eq!(pick_disk(dir.path()), Some(PathBuf::from("/dev/nvme0n1")));
    }
}
