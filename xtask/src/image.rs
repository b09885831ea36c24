//! `cargo xtask image [--out FILE] [--check]`: a bootable Debian 12 disk image built on
//! this machine from the lab's mirror (`cargo xtask mirror`, run first, cached), default
//! `target/lab/images/debian12.raw`, with a zstd copy (`.raw.zst`), a qcow2 copy
//! (`debian12.qcow2`), the SHA-256 of each (`.sha256`, as sha256sum writes them) and
//! `.info` (the identifiers a deploy needs).
//!
//! The disk: GPT, a BIOS boot partition, an ESP and an ext4 root (`image/disk.rs`), GRUB
//! for i386-pc (embedded by hand, as grub-bios-setup does) and for x86_64-efi at the
//! removable path `EFI/BOOT/BOOTX64.EFI`, so SeaBIOS and OVMF both boot it with no NVRAM
//! entry; both GRUBs read the root's `/boot/grub/grub.cfg`. The root: mmdebstrap from the
//! mirror plus the image's files (`image/rootfs.rs`).
//!
//! Cached: the stamp next to the image names the mirror's index and this recipe's source;
//! when both are unchanged the image is not rebuilt. `--check` boots it with both
//! firmwares under qemu (`image/boot.rs`) and reports the time to the marker line.
//! Needs root (mmdebstrap `--mode=root`, files owned by root in the filesystem).

mod boot;
mod disk;
mod rootfs;

use crate::mirror;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The disk's size: the root filesystem of about 0.8 GiB with room to spare; growpart
/// extends it to the machine's disk on first boot.
const DISK_BYTES: u64 = 2 << 30;
/// Modules built into the BIOS core.img: enough to find the root and read /boot/grub.
const BIOS_MODULES: &[&str] = &["biosdisk", "part_gpt", "ext2", "search", "search_fs_uuid"];
/// Modules built into BOOTX64.EFI.
const EFI_MODULES: &[&str] = &["part_gpt", "ext2", "fat", "search", "search_fs_uuid"];
/// The recipe, as the cache sees it: any change in these files rebuilds the image.
const RECIPE: [&str; 3] = [
    include_str!("image.rs"),
    include_str!("image/rootfs.rs"),
    include_str!("image/disk.rs"),
];

struct Options {
    out: PathBuf,
    check: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut rest = Vec::new();
    let mut check = false;
    for a in args {
        if a == "--check" {
            check = true;
        } else {
            rest.push(a.clone());
        }
    }
    let default = mirror::lab_dir().join("images/debian12.raw");
    let out = mirror::parse_out(&rest, "image", default)?;
    Ok(Options { out, check })
}

const HELP: &str = "\
usage: cargo xtask image [--out FILE] [--check]

Builds a bootable Debian 12 disk image from the lab's mirror (cargo xtask mirror, run
first and cached): mmdebstrap of the base system (Priority required and important) plus
the mirror's list (kernel, GRUB, openssh-server, cloud-init, ...), then a 2 GiB raw disk
with a GPT: 1 BIOS boot partition (GRUB's i386-pc core.img), 2 ESP (FAT32, GRUB's
x86_64-efi image at the removable path EFI/BOOT/BOOTX64.EFI, so UEFI firmware boots it
without an NVRAM entry), 3 ext4 root, last, so it can grow to the disk (cloud-init's
growpart on first boot). The kernel's console is ttyS0 (and tty0); a unit prints
\"pxe-suite-image: booted <hostname>\" on it once the system is up. No root password, no
SSH host keys or machine-id in the image: they are made on each machine's first boot.
cloud-init reads a NoCloud seed (a CIDATA disk, or ds=nocloud;s=URL on the kernel's
command line).

Written next to FILE (default target/lab/images/debian12.raw): FILE.zst (zstd), the same
disk as qcow2 (debian12.qcow2), a .sha256 of each (sha256sum -c format), FILE.info
(partition numbers, root UUID, kernel, marker). Cached: FILE.stamp names the mirror's
index and keyring and this recipe; when none changed, the image is not rebuilt and the
run says \"up to date\". Progress goes to stderr. Needs root (mmdebstrap --mode=root);
installs mmdebstrap, fdisk, dosfstools, mtools, grub-common, zstd, qemu-utils and ovmf
when missing.

options:
  --out FILE  where the image goes
  --check     then boot it under qemu (TCG, no network device) with SeaBIOS
              and with OVMF, each until GRUB's menu, the kernel, the prompt
              \"debian12 login:\" and the marker line show on the serial console (at
              most 6 minutes; 90 s for GRUB's menu; at once on \"No bootable device\",
              \"grub rescue>\", \"Kernel panic\" and the like), and print when each
              showed; the image is opened with snapshot=on and never written
  -h, --help  this text
";

pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprint!("{HELP}");
        return Ok(());
    }
    let opts = parse(args)?;
    if !crate::lab::nix_is_root() {
        bail!("cargo xtask image needs root (mmdebstrap --mode=root, root-owned files)");
    }
    crate::ci::install(crate::lab::assets::MIRROR_PACKAGES)?;
    crate::ci::install(crate::lab::assets::IMAGE_PACKAGES)?;
    let mirror_dir = mirror::default_out();
    let index = mirror::build(&mirror_dir)?;
    // The image carries the mirror's keyring: a new key (a new cache) is a new image.
    let keyring = mirror::sha256_file(&mirror_dir.join(mirror::KEYRING))?;
    let stamp = stamp(&format!("{index}\n{keyring}"));
    let stamp_path = with_suffix(&opts.out, ".stamp");
    let fresh = std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
        && [
            opts.out.clone(),
            with_suffix(&opts.out, ".sha256"),
            with_suffix(&opts.out, ".zst.sha256"),
            with_suffix(&opts.out.with_extension("qcow2"), ".sha256"),
        ]
        .iter()
        .all(|p| p.exists());
    if fresh {
        eprintln!("image: up to date: {}", opts.out.display());
    } else {
        let _ = std::fs::remove_file(&stamp_path);
        build(&opts.out, &mirror_dir)?;
        std::fs::write(&stamp_path, &stamp).context("writing the image's stamp")?;
    }
    if opts.check {
        check(&opts.out)?;
    }
    Ok(())
}

fn stamp(mirror_index: &str) -> String {
    let text = format!("{mirror_index}\n{}", RECIPE.join("\n"));
    mirror::sha256_hex(text.as_bytes())
}

/// `path` with `suffix` appended to its file name (`debian12.raw` -> `debian12.raw.zst`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn build(out: &Path, mirror_dir: &Path) -> Result<()> {
    let start = Instant::now();
    let work = mirror::lab_dir().join("cache/image-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let root = work.join("root");
    eprintln!(
        "image: mmdebstrap from {} (log: {})",
        mirror_dir.display(),
        work.join("mmdebstrap.log").display()
    );
    rootfs::debootstrap(&root, mirror_dir, &work.join("mmdebstrap.log"))?;
    let t_rootfs = start.elapsed();
    let ids = rootfs::Ids {
        root_uuid: random_uuid()?,
        esp_id: esp_id(&random_uuid()?),
    };
    rootfs::configure(&root, &ids, &mirror_dir.join(mirror::KEYRING))?;
    std::fs::create_dir_all(root.join("boot/efi"))?;
    eprintln!("image: GRUB images, filesystems, disk");
    let early = work.join("early.cfg");
    std::fs::write(&early, rootfs::grub_early_cfg(&ids.root_uuid))?;
    let core = work.join("core.img");
    let efi = work.join("BOOTX64.EFI");
    grub_mkimage(&root, "i386-pc", BIOS_MODULES, &early, &core)?;
    grub_mkimage(&root, "x86_64-efi", EFI_MODULES, &early, &efi)?;
    let root_img = work.join("root.img");
    mkfs_root(&root, &ids.root_uuid, &root_img)?;
    let esp_img = work.join("esp.img");
    make_esp(&esp_img, &ids.esp_id, &efi)?;
    let tmp = with_suffix(out, ".tmp");
    assemble(
        &tmp,
        &esp_img,
        &root_img,
        &root.join("usr/lib/grub/i386-pc/boot.img"),
        &core,
    )?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(&tmp, out).context("moving the image in place")?;
    let kernel = kernel_version(&root);
    std::fs::remove_dir_all(&work).context("removing the image's work directory")?;
    publish(out, &ids, &kernel)?;
    eprintln!(
        "image: built in {:.0} s (root filesystem {:.0} s): {}",
        start.elapsed().as_secs_f64(),
        t_rootfs.as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn run_cmd(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn random_uuid() -> Result<String> {
    let u = std::fs::read_to_string("/proc/sys/kernel/random/uuid").context("reading a UUID")?;
    Ok(u.trim().to_owned())
}

/// A FAT volume id (`XXXX-XXXX`) from the first 8 hex digits of a UUID.
fn esp_id(uuid: &str) -> String {
    let hex: String = uuid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    format!("{}-{}", &hex[..4.min(hex.len())], &hex[4.min(hex.len())..])
}

/// GRUB's image for `platform` from the image's own modules (so they match those in
/// /boot/grub), with the early configuration that finds the root.
fn grub_mkimage(
    root: &Path,
    platform: &str,
    modules: &[&str],
    early: &Path,
    out: &Path,
) -> Result<()> {
    let format = if platform == "i386-pc" {
        "i386-pc"
    } else {
        "x86_64-efi"
    };
    run_cmd(
        Command::new("grub-mkimage")
            .arg("-O")
            .arg(format)
            .arg("-d")
            .arg(root.join("usr/lib/grub").join(platform))
            .arg("-c")
            .arg(early)
            .args(["-p", "/boot/grub", "-o"])
            .arg(out)
            .args(modules),
        &format!("grub-mkimage -O {format}"),
    )
}

fn mkfs_root(root: &Path, uuid: &str, img: &Path) -> Result<()> {
    let kib = disk::root_sectors(DISK_BYTES) * disk::SECTOR / 1024;
    run_cmd(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "debian-root", "-U", uuid, "-d"])
            .arg(root)
            .arg(img)
            .arg(format!("{kib}k"))
            // "Creating regular file ..." even with -q.
            .stdout(Stdio::null()),
        "mkfs.ext4 -d",
    )
}

/// FAT32 ESP with GRUB at the removable-media path.
fn make_esp(img: &Path, id: &str, efi: &Path) -> Result<()> {
    let _ = std::fs::remove_file(img);
    let kib = disk::ESP_SECTORS * disk::SECTOR / 1024;
    run_cmd(
        Command::new("mkfs.vfat")
            .args(["-C", "-F", "32", "-n", "ESP", "-i", &id.replace('-', "")])
            .arg(img)
            .arg(kib.to_string())
            .stdout(Stdio::null()),
        "mkfs.vfat",
    )?;
    run_cmd(
        Command::new("mmd")
            .arg("-i")
            .arg(img)
            .args(["::/EFI", "::/EFI/BOOT"]),
        "mmd (package mtools)",
    )?;
    run_cmd(
        Command::new("mcopy")
            .arg("-i")
            .arg(img)
            .arg(efi)
            .arg("::/EFI/BOOT/BOOTX64.EFI"),
        "mcopy",
    )
}

fn assemble(disk_path: &Path, esp: &Path, root: &Path, boot_img: &Path, core: &Path) -> Result<()> {
    if let Some(dir) = disk_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(disk_path)
        .with_context(|| format!("creating {}", disk_path.display()))?;
    file.set_len(DISK_BYTES)?;
    drop(file);
    let mut sfdisk = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(disk_path)
        .stdin(Stdio::piped())
        .spawn()
        .context("running sfdisk (package fdisk)")?;
    {
        use std::io::Write;
        let mut stdin = sfdisk.stdin.take().context("sfdisk's stdin")?;
        stdin.write_all(disk::sfdisk_script(DISK_BYTES).as_bytes())?;
    }
    let status = sfdisk.wait()?;
    if !status.success() {
        bail!("sfdisk failed ({status})");
    }
    disk::write_at(disk_path, disk::ESP_START, esp)?;
    disk::write_at(disk_path, disk::ROOT_START, root)?;
    disk::embed_bios_grub(disk_path, boot_img, core)
}

fn kernel_version(root: &Path) -> String {
    std::fs::read_link(root.join("vmlinuz"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| n.trim_start_matches("vmlinuz-").to_owned())
        .unwrap_or_default()
}

/// The `.sha256` files, the zstd and qcow2 copies and `.info`.
fn publish(out: &Path, ids: &rootfs::Ids, kernel: &str) -> Result<()> {
    let zst = with_suffix(out, ".zst");
    run_cmd(
        Command::new("zstd")
            .args(["-q", "-f", "-T0", "-3", "-o"])
            .arg(&zst)
            .arg(out),
        "zstd",
    )?;
    let qcow2 = out.with_extension("qcow2");
    run_cmd(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(out)
            .arg(&qcow2),
        "qemu-img convert (package qemu-utils)",
    )?;
    for file in [out, zst.as_path(), qcow2.as_path()] {
        write_sha256(file)?;
    }
    let info = format!(
        "# pxe-suite Debian 12 image: what a deploy needs to know\n\
         disk-bytes={DISK_BYTES}\n\
         partition-table=gpt\n\
         bios-boot-partition=1\n\
         esp-partition=2\n\
         root-partition=3\n\
         root-fs=ext4\n\
         root-uuid={}\n\
         esp-id={}\n\
         kernel={kernel}\n\
         hostname={}\n\
         marker={} <hostname>\n",
        ids.root_uuid,
        ids.esp_id,
        rootfs::HOSTNAME,
        rootfs::MARKER
    );
    std::fs::write(with_suffix(out, ".info"), info).context("writing the image's .info")
}

/// `sha256sum FILE` into `FILE.sha256`, with the bare file name (check with `sha256sum -c`
/// from its directory). sha256sum, not the sha2 crate: the image is 2 GiB and xtask is
/// built without optimisations.
fn write_sha256(file: &Path) -> Result<()> {
    let dir = file.parent().context("the image has no directory")?;
    let name = file.file_name().context("the image has no name")?;
    let output = Command::new("sha256sum")
        .arg(name)
        .current_dir(dir)
        .output()
        .context("running sha256sum")?;
    if !output.status.success() {
        bail!("sha256sum {} failed", file.display());
    }
    std::fs::write(with_suffix(file, ".sha256"), &output.stdout).context("writing a .sha256")
}

fn check(image: &Path) -> Result<()> {
    let cache = mirror::lab_dir().join("cache");
    let qemu = boot::Qemu::find(&cache)?;
    let work = cache.join("image-check");
    let mut lines = Vec::new();
    for fw in [boot::Firmware::SeaBios, boot::Firmware::Ovmf] {
        let times = boot::boot(&qemu, image, fw, &work)?;
        let phases: Vec<String> = times
            .iter()
            .map(|(name, t)| format!("{name} {:.0} s", t.as_secs_f64()))
            .collect();
        lines.push(format!("{}: {}", fw.name(), phases.join(", ")));
    }
    println!(
        "image check: booted from the disk to the login prompt and the marker, no network \
         device, qemu TCG\n  {}",
        lines.join("\n  ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_and_ids() {
        assert_eq!(
            with_suffix(Path::new("/a/debian12.raw"), ".zst"),
            PathBuf::from("/a/debian12.raw.zst")
        );
        assert_eq!(esp_id("1a2b3c4d-0000-4000-8000-000000000000"), "1A2B-3C4D");
    }

    #[test]
    fn options() {
        let o = parse(&["--check".to_owned()]).expect("valid");
        assert!(o.check);
        assert!(o.out.ends_with("lab/images/debian12.raw"));
        let o = parse(&["--out".to_owned(), "/x.raw".to_owned()]).expect("valid");
        assert_eq!(o.out, PathBuf::from("/x.raw"));
        assert!(parse(&["--nope".to_owned()]).is_err());
    }

    #[test]
    fn stamp_names_the_mirror() {
        assert_ne!(stamp("a"), stamp("b"));
    }
}
