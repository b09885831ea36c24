//! Packages mode: the disk is partitioned and formatted, debootstrap builds Debian on it
//! from the plan's mirror, and the kernel, GRUB (BIOS and/or EFI, per the plan's
//! firmware) and fstab make it bootable. What to write is pure ([`layout`], [`include`],
//! [`debootstrap_args`], [`fstab`], [`default_grub`]); [`partition`], [`bootstrap`] and
//! [`bootloader`] run the tools.
//!
//! The layout is the same for every firmware, so that a disk installed for one still
//! has room for the other's loader: GPT with a 1 MiB BIOS boot partition (GRUB's
//! `core.img` on BIOS), a 256 MiB EFI system partition and the root over the rest.
//!
//! GRUB for BIOS is installed by the system's own `grub-install` (in a chroot). For EFI,
//! the loader is made by the system's `grub-mkimage` with an early config that finds the
//! root by its UUID (what `grub-install --removable` makes), and copied to the ESP's
//! removable path `\EFI\BOOT\BOOTX64.EFI` with mtools: the ESP is never mounted, so
//! neither the deploy kernel nor a machine running the agent needs vfat, and no NVRAM
//! entry is written (firmware finds the removable path by itself).
//!
//! debootstrap runs in two stages, as `--foreign` splits it: the first unpacks the
//! packages; then dpkg is told not to fsync every file (`force-unsafe-io`, as curtin and
//! mmdebstrap do for a system that is synced once at the end) and the second stage
//! configures them in a chroot. The setting is removed again afterwards.

use crate::disk::{Device, Mounts, wait_for_node};
use crate::log::{CommandError, Log, run, run_streaming};
use pxe_model::deploy::{BootFirmware, Filesystem, Packages};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GPT partition types.
const TYPE_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// "Linux root (x86-64)" of the Discoverable Partitions Specification.
const TYPE_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// The partitions' numbers in [`layout`].
pub const BIOS_BOOT: u32 = 1;
pub const ESP: u32 = 2;
pub const ROOT: u32 = 3;

/// debootstrap's script (Debian's path).
const DEBOOTSTRAP: &str = "/usr/sbin/debootstrap";
/// dpkg's setting for the second stage, removed once it is done.
const UNSAFE_IO: &str = "etc/dpkg/dpkg.cfg.d/pxe-deploy-unsafe-io";
/// Where a mirror's own keyring is kept in the installed system (apt's `signed-by`).
const MIRROR_KEYRING: &str = "etc/apt/keyrings/pxe-deploy-mirror.gpg";

/// The sfdisk script of the disk: BIOS boot, ESP, root (see the module's doc).
pub fn layout() -> String {
    format!(
        "label: gpt\n\
         first-lba: 2048\n\
         start=2048, size=2048, type={TYPE_BIOS_BOOT}, name=\"bios-boot\"\n\
         size=256MiB, type={TYPE_ESP}, name=\"esp\"\n\
         type={TYPE_ROOT_X86_64}, name=\"root\"\n"
    )
}

/// The node of partition `n` of `disk`: `/dev/vda3`, `/dev/loop0p3`, `/dev/nvme0n1p3`.
pub fn partition_node(disk: &str, n: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// The packages debootstrap installs beside its minimal base: init, the kernel, GRUB
/// for the firmware, SSH, curl (the first-boot report), sudo, then the plan's own.
pub fn include(firmware: BootFirmware, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = [
        "systemd-sysv",
        "udev",
        "kmod",
        "initramfs-tools",
        "linux-image-amd64",
        "grub2-common",
        "openssh-server",
        "curl",
        "iproute2",
        "sudo",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if matches!(firmware, BootFirmware::Bios | BootFirmware::Both) {
        out.push("grub-pc-bin".into());
    }
    if matches!(firmware, BootFirmware::Uefi | BootFirmware::Both) {
        out.push("grub-efi-amd64-bin".into());
    }
    for p in extra {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// debootstrap's first stage: minbase plus [`include`], from the plan's mirror, checked
/// against `keyring` (else debootstrap's default, Debian's archive keyring).
pub fn debootstrap_args(
    p: &Packages,
    firmware: BootFirmware,
    root: &Path,
    keyring: Option<&Path>,
) -> Vec<String> {
    let mut args = vec![
        "--foreign".to_owned(),
        "--arch=amd64".to_owned(),
        "--variant=minbase".to_owned(),
        "--components=main".to_owned(),
        format!("--include={}", include(firmware, &p.packages).join(",")),
    ];
    if let Some(k) = keyring {
        args.push(format!("--keyring={}", k.display()));
    }
    args.extend([
        p.suite.clone(),
        root.display().to_string(),
        p.mirror.clone(),
    ]);
    args
}

/// `/etc/fstab` of the installed system, by file-system UUID.
pub fn fstab(root_uuid: &str, fs: Filesystem, esp_uuid: &str) -> String {
    let (fstype, options, pass) = match fs {
        Filesystem::Ext4 => ("ext4", "errors=remount-ro", 1),
        Filesystem::Xfs => ("xfs", "defaults", 0),
    };
    format!(
        "# Written by pxe-deploy.\n\
         UUID={root_uuid}\t/\t{fstype}\t{options}\t0\t{pass}\n\
         UUID={esp_uuid}\t/boot/efi\tvfat\tumask=0077\t0\t2\n"
    )
}

/// `/etc/default/grub`: a short menu, and the kernel's console on the screen and the
/// first serial port (a machine's serial console, or a VM's).
pub fn default_grub() -> String {
    "# Written by pxe-deploy.\n\
     GRUB_DEFAULT=0\n\
     GRUB_TIMEOUT=2\n\
     GRUB_DISTRIBUTOR=Debian\n\
     GRUB_CMDLINE_LINUX_DEFAULT=\"\"\n\
     GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"\n\
     GRUB_TERMINAL=\"console serial\"\n\
     GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"\n\
     GRUB_DISABLE_OS_PROBER=true\n"
        .to_owned()
}

/// apt's sources in the installed system: the mirror it was installed from.
pub fn sources_list(p: &Packages, own_keyring: bool) -> String {
    let signed = if own_keyring {
        format!(" [signed-by=/{MIRROR_KEYRING}]")
    } else {
        String::new()
    };
    format!(
        "# Written by pxe-deploy: the mirror this system was installed from.\n\
         deb{signed} {} {} main\n",
        p.mirror, p.suite
    )
}

fn cmd_err(e: CommandError) -> String {
    e.to_string()
}

/// Writes the layout, tells the kernel, makes the file systems. The root's partition.
pub fn partition(dev: &Device, fs: Filesystem, log: &mut Log) -> Result<String, String> {
    let disk = dev.path.display().to_string();
    crate::log::run_input(
        log,
        "sfdisk",
        &["--wipe", "always", "--wipe-partitions", "always", &disk],
        layout().as_bytes(),
    )
    .map_err(cmd_err)?;
    dev.rescan(log).map_err(cmd_err)?;
    let node = |n| partition_node(&disk, n);
    for n in [BIOS_BOOT, ESP, ROOT] {
        if !wait_for_node(Path::new(&node(n)), Duration::from_secs(10)) {
            return Err(format!("{} did not appear after partx --update", node(n)));
        }
    }
    run(log, "mkfs.vfat", &["-F", "32", "-n", "ESP", &node(ESP)]).map_err(cmd_err)?;
    match fs {
        Filesystem::Ext4 => run(log, "mkfs.ext4", &["-q", "-F", "-L", "root", &node(ROOT)]),
        Filesystem::Xfs => run(log, "mkfs.xfs", &["-q", "-f", "-L", "root", &node(ROOT)]),
    }
    .map_err(cmd_err)?;
    Ok(node(ROOT))
}

/// Mounts the root at `root` (the ESP is written with mtools, see the module's doc).
pub fn mount(dev: &Device, root: &Path, mounts: &mut Mounts, log: &mut Log) -> Result<(), String> {
    let disk = dev.path.display().to_string();
    mounts
        .mount(log, &partition_node(&disk, ROOT), root, false)
        .map_err(cmd_err)?;
    std::fs::create_dir_all(root.join("boot/efi")).map_err(|e| format!("/boot/efi: {e}"))
}

/// Modules built into the EFI loader: enough to find and read the root.
const EFI_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "ext2",
    "xfs",
    "fat",
    "search",
    "search_fs_uuid",
    "normal",
    "configfile",
];

/// The EFI loader's early config: the root by UUID, then its /boot/grub.
pub fn early_cfg(root_uuid: &str) -> String {
    format!(
        "search --no-floppy --fs-uuid --set=root {root_uuid}\n\
         set prefix=($root)/boot/grub\n\
         configfile $prefix/grub.cfg\n"
    )
}

/// Both stages of debootstrap; `progress` gets each of its `I:` lines.
pub fn bootstrap(
    p: &Packages,
    firmware: BootFirmware,
    root: &Path,
    keyring: Option<&Path>,
    log: &mut Log,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    // Through dash: the deploy initramfs's /bin/sh is busybox, whose shell runs its own
    // applets before PATH's programs when /proc is mounted, and its dpkg-deb has no
    // --fsys-tarfile ("Tried to extract package, but file already exists").
    let mut args = vec![DEBOOTSTRAP.to_owned()];
    args.extend(debootstrap_args(p, firmware, root, keyring));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_streaming(log, "dash", &args, progress).map_err(cmd_err)?;
    let unsafe_io = root.join(UNSAFE_IO);
    std::fs::create_dir_all(unsafe_io.parent().unwrap_or(root))
        .and_then(|()| std::fs::write(&unsafe_io, "force-unsafe-io\n"))
        .map_err(|e| format!("writing {}: {e}", unsafe_io.display()))?;
    let root_s = root.display().to_string();
    let second = run_streaming(
        log,
        "chroot",
        &[&root_s, "/debootstrap/debootstrap", "--second-stage"],
        progress,
    );
    let _ = std::fs::remove_file(&unsafe_io);
    second.map_err(cmd_err)?;
    Ok(())
}

/// Keeps the mirror's keyring in the installed system and points apt at the mirror.
pub fn apt_sources(p: &Packages, root: &Path, keyring: Option<&Path>) -> Result<(), String> {
    let io = |e: std::io::Error| format!("writing apt's sources: {e}");
    if let Some(k) = keyring {
        let at = root.join(MIRROR_KEYRING);
        std::fs::create_dir_all(at.parent().unwrap_or(root)).map_err(io)?;
        std::fs::copy(k, &at).map_err(io)?;
    }
    std::fs::write(
        root.join("etc/apt/sources.list"),
        sources_list(p, keyring.is_some()),
    )
    .map_err(io)
}

/// fstab, GRUB for the firmware, its menu, and systemd-networkd enabled (the network
/// file [`crate::configure::direct_files`] writes is its). /dev, /proc and /sys are
/// bound into the root for the chroot and stay mounted for the post script.
pub fn bootloader(
    dev: &Device,
    firmware: BootFirmware,
    fs: Filesystem,
    root: &Path,
    mounts: &mut Mounts,
    log: &mut Log,
) -> Result<(), String> {
    let disk = dev.path.display().to_string();
    let uuid = |log: &mut Log, n| {
        run(
            log,
            "blkid",
            &["-o", "value", "-s", "UUID", &partition_node(&disk, n)],
        )
        .map(|s| s.trim().to_owned())
        .map_err(cmd_err)
    };
    let (root_uuid, esp_uuid) = (uuid(log, ROOT)?, uuid(log, ESP)?);
    if root_uuid.is_empty() || esp_uuid.is_empty() {
        return Err("blkid found no UUID on the root or the ESP".to_owned());
    }
    let io = |e: std::io::Error| format!("writing into the installed system: {e}");
    std::fs::write(root.join("etc/fstab"), fstab(&root_uuid, fs, &esp_uuid)).map_err(io)?;
    std::fs::create_dir_all(root.join("etc/default")).map_err(io)?;
    std::fs::write(root.join("etc/default/grub"), default_grub()).map_err(io)?;
    chroot_mounts(root, mounts, log)?;
    let root_s = root.display().to_string();
    let chroot = |log: &mut Log, args: &[&str]| {
        let mut all = vec![root_s.as_str()];
        all.extend_from_slice(args);
        run(log, "chroot", &all).map_err(cmd_err)
    };
    if matches!(firmware, BootFirmware::Bios | BootFirmware::Both) {
        chroot(log, &["grub-install", "--target=i386-pc", &disk])?;
    }
    if matches!(firmware, BootFirmware::Uefi | BootFirmware::Both) {
        efi_loader(&disk, root, &root_uuid, log)?;
    }
    chroot(log, &["update-grub"])?;
    chroot(log, &["systemctl", "enable", "systemd-networkd.service"])?;
    Ok(())
}

/// BOOTX64.EFI made by the system's grub-mkimage, its modules in /boot/grub, the loader
/// on the ESP's removable path (mtools on the partition itself).
fn efi_loader(disk: &str, root: &Path, root_uuid: &str, log: &mut Log) -> Result<(), String> {
    let io = |e: std::io::Error| format!("writing into the installed system: {e}");
    let work = root.join("run/pxe-deploy-efi");
    std::fs::create_dir_all(&work).map_err(io)?;
    std::fs::write(work.join("early.cfg"), early_cfg(root_uuid)).map_err(io)?;
    let root_s = root.display().to_string();
    let mut args = vec![
        root_s.as_str(),
        "grub-mkimage",
        "-O",
        "x86_64-efi",
        "-p",
        "/boot/grub",
        "-c",
        "/run/pxe-deploy-efi/early.cfg",
        "-o",
        "/run/pxe-deploy-efi/BOOTX64.EFI",
    ];
    args.extend_from_slice(EFI_MODULES);
    run(log, "chroot", &args).map_err(cmd_err)?;
    copy_dir(
        &root.join("usr/lib/grub/x86_64-efi"),
        &root.join("boot/grub/x86_64-efi"),
    )
    .map_err(io)?;
    let esp = partition_node(disk, ESP);
    run(log, "mmd", &["-i", &esp, "::/EFI", "::/EFI/BOOT"]).map_err(cmd_err)?;
    let loader = work.join("BOOTX64.EFI").display().to_string();
    run(
        log,
        "mcopy",
        &["-i", &esp, &loader, "::/EFI/BOOT/BOOTX64.EFI"],
    )
    .map_err(cmd_err)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Copies the files of `from` (not its subdirectories) into `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// /dev, /proc and /sys bound into the root, once.
pub fn chroot_mounts(root: &Path, mounts: &mut Mounts, log: &mut Log) -> Result<(), String> {
    for fs in ["dev", "proc", "sys"] {
        let at: PathBuf = root.join(fs);
        if !mounts.has(&at) {
            mounts
                .mount(log, &format!("/{fs}"), &at, true)
                .map_err(cmd_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packages() -> Packages {
        Packages {
            mirror: "http://10.77.0.3:8080/trees/mirror".into(),
            suite: "bookworm".into(),
            packages: vec!["vim-tiny".into(), "curl".into()],
            keyring: None,
        }
    }

    #[test]
    fn the_layout_has_bios_boot_esp_and_root_in_that_order() {
        let l = layout();
        let lines: Vec<&str> = l.lines().collect();
        assert_eq!(lines[0], "label: gpt");
        assert!(lines[2].contains(TYPE_BIOS_BOOT) && lines[2].contains("start=2048, size=2048"));
        assert!(lines[3].contains(TYPE_ESP) && lines[3].contains("size=256MiB"));
        assert!(lines[4].contains(TYPE_ROOT_X86_64) && !lines[4].contains("size="));
        assert_eq!(partition_node("/dev/vda", ROOT), "/dev/vda3");
        assert_eq!(partition_node("/dev/loop7", ESP), "/dev/loop7p2");
        assert_eq!(partition_node("/dev/nvme0n1", 1), "/dev/nvme0n1p1");
    }

    #[test]
    fn grub_follows_the_firmware_and_extras_come_once() {
        let bios = include(BootFirmware::Bios, &[]);
        assert!(bios.contains(&"grub-pc-bin".to_owned()));
        assert!(!bios.contains(&"grub-efi-amd64-bin".to_owned()));
        let uefi = include(BootFirmware::Uefi, &[]);
        assert!(!uefi.contains(&"grub-pc-bin".to_owned()));
        assert!(uefi.contains(&"grub-efi-amd64-bin".to_owned()));
        let both = include(BootFirmware::Both, &packages().packages);
        assert!(both.contains(&"grub-pc-bin".to_owned()));
        assert!(both.contains(&"grub-efi-amd64-bin".to_owned()));
        assert_eq!(both.iter().filter(|p| *p == "curl").count(), 1);
        assert_eq!(both.last().map(String::as_str), Some("vim-tiny"));
        for needed in ["linux-image-amd64", "systemd-sysv", "openssh-server"] {
            assert!(both.contains(&needed.to_owned()), "{needed}");
        }
    }

    #[test]
    fn debootstrap_gets_the_mirror_suite_and_keyring() {
        let a = debootstrap_args(
            &packages(),
            BootFirmware::Bios,
            Path::new("/run/pxe-deploy/root"),
            Some(Path::new("/run/k.gpg")),
        );
        assert_eq!(a[0], "--foreign");
        assert!(a.contains(&"--variant=minbase".to_owned()));
        assert!(a.contains(&"--keyring=/run/k.gpg".to_owned()));
        let n = a.len();
        assert_eq!(
            a[n - 3..],
            [
                "bookworm",
                "/run/pxe-deploy/root",
                "http://10.77.0.3:8080/trees/mirror"
            ]
        );
        let inc = a
            .iter()
            .find(|s| s.starts_with("--include="))
            .expect("include");
        assert!(inc.contains(",grub-pc-bin,"), "{inc}");
        let none = debootstrap_args(&packages(), BootFirmware::Bios, Path::new("/r"), None);
        assert!(!none.iter().any(|s| s.starts_with("--keyring")));
    }

    #[test]
    fn fstab_mounts_root_and_esp_by_uuid() {
        let f = fstab("1111-r", Filesystem::Ext4, "AB12-CD34");
        assert!(
            f.contains("UUID=1111-r\t/\text4\terrors=remount-ro\t0\t1\n"),
            "{f}"
        );
        assert!(
            f.contains("UUID=AB12-CD34\t/boot/efi\tvfat\tumask=0077\t0\t2\n"),
            "{f}"
        );
        let x = fstab("2222", Filesystem::Xfs, "E");
        assert!(x.contains("UUID=2222\t/\txfs\tdefaults\t0\t0\n"), "{x}");
        assert!(default_grub().contains("console=ttyS0,115200n8"));
        assert_eq!(
            early_cfg("u-1"),
            "search --no-floppy --fs-uuid --set=root u-1\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n"
        );
        let s = sources_list(&packages(), true);
        assert!(s.contains(
            "deb [signed-by=/etc/apt/keyrings/pxe-deploy-mirror.gpg] http://10.77.0.3:8080/trees/mirror bookworm main"
        ), "{s}");
        assert!(sources_list(&packages(), false).contains("\ndeb http://"));
    }
}
