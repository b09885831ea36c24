//! Packages mode end to end, without a VM: the agent binary partitions a file as the
//! disk, debootstraps Debian from a mirror httpd-tree serves, installs the kernel and
//! GRUB, and configures the system; a mirror without the suite fails the deploy, reported
//! with debootstrap's own words, and leaves nothing bootable.

use crate::support::{KEY, Lab, MIB, Mounted, sh};
use std::path::{Path, PathBuf};

fn position(steps: &[String], prefix: &str) -> usize {
    steps
        .iter()
        .position(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no step {prefix:?} in {steps:#?}"))
}

/// The profile's deploy section for a mirror on httpd-tree's tree `agent`.
fn packages_yaml(firmware: &str, post: &str) -> String {
    let mut y = format!(
        "      packages:\n        mirror: /trees/agent\n        suite: bookworm\n\
         \x20       packages: [less]\n\
         \x20       keyring: /trees/agent/pxe-suite-lab-archive.gpg\n\
         \x20     disk: {{firmware: {firmware}}}\n"
    );
    if !post.is_empty() {
        y.push_str("      post: |\n");
        for l in post.lines() {
            y.push_str("        ");
            y.push_str(l);
            y.push('\n');
        }
    }
    y
}

#[test]
fn a_mirror_without_the_suite_fails_the_deploy_with_debootstraps_words_and_wipes_the_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A tree with a keyring but no dists/bookworm: debootstrap finds no Release.
    let tree = dir.path().join("mirror");
    std::fs::create_dir_all(&tree).expect("tree");
    std::fs::write(tree.join("pxe-suite-lab-archive.gpg"), b"not a keyring").expect("keyring");
    let lab = Lab::serve(dir, &tree, &packages_yaml("bios", ""), "127.0.0.1");
    let disk = lab.disk(512 * MIB);
    let out = lab.agent(&disk);
    assert_eq!(out.status.code(), Some(1), "the agent failed");

    let steps = lab.steps();
    let partitioned = position(&steps, "partition done");
    let failed = position(&steps, "debootstrap failed");
    assert!(partitioned < failed, "{steps:#?}");
    let f = &steps[failed];
    assert!(f.contains("--- log tail ---"), "{f}");
    assert!(
        f.contains("E: Failed getting release file http://127.0.0.1:"),
        "debootstrap's own reason: {f}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("bootloader")),
        "{steps:#?}"
    );
    let m = lab.machine();
    assert_eq!(m["state"], "failed", "{m}");
    assert!(
        m["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("debootstrap failed")),
        "{m}"
    );
    // The table it wrote is gone again: nothing half-built boots.
    let written = std::fs::read(&disk).expect("disk");
    assert!(
        written[..MIB as usize].iter().all(|b| *b == 0),
        "the start wiped"
    );
    assert!(
        written[written.len() - MIB as usize..]
            .iter()
            .all(|b| *b == 0),
        "the backup GPT wiped"
    );
}

/// The lab's mirror (`cargo xtask mirror`).
fn lab_mirror() -> PathBuf {
    let p = std::env::var_os("PXE_LAB_MIRROR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/lab/mirror"),
        PathBuf::from,
    );
    assert!(
        p.join("dists/bookworm/Release").is_file(),
        "{}: no mirror; run `cargo xtask mirror` first (or set PXE_LAB_MIRROR)",
        p.display()
    );
    p
}

fn read_string(m: &Mounted, rel: &str) -> String {
    String::from_utf8(m.read(rel)).unwrap_or_else(|e| panic!("/{rel}: {e}"))
}

/// A few minutes: debootstrap's second stage configures about 200 packages.
#[test]
#[ignore = "needs `cargo xtask mirror` and takes minutes: cargo test -p pxe-deploy --test real -- --ignored packages"]
fn packages_from_the_lab_mirror_make_a_disk_with_kernel_grub_fstab_and_hostname() {
    let mirror = lab_mirror();
    let dir = tempfile::tempdir().expect("tempdir");
    let post = "#!/bin/sh\necho 'installed from packages' > /etc/motd\n";
    let lab = Lab::serve(dir, &mirror, &packages_yaml("both", post), "127.0.0.1");
    let disk = lab.disk(3 << 30);
    let started = std::time::Instant::now();
    let out = lab.agent(&disk);
    eprintln!("the agent took {:.0} s", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "the agent installed: {}", out.status);

    let steps = lab.steps();
    let order = [
        "plan done",
        "partition started",
        "partition done",
        "debootstrap started",
        "debootstrap progress",
        "debootstrap done",
        "bootloader started",
        "bootloader done: kernel, GRUB (BIOS and EFI), fstab",
        "configure done",
        "post done",
        "first_boot done",
        "finish started",
    ];
    let at: Vec<usize> = order.iter().map(|p| position(&steps, p)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{steps:#?}");
    assert_eq!(lab.machine()["state"], "installed");

    // BIOS: GRUB's boot code in the MBR (its "GRUB " message) and core.img in the
    // BIOS boot partition (sector 2048).
    let bytes = std::fs::read(&disk).expect("disk");
    let mbr = &bytes[..512];
    assert!(
        mbr.windows(5).any(|w| w == b"GRUB "),
        "GRUB's boot.img in the MBR"
    );
    assert!(mbr[510] == 0x55 && mbr[511] == 0xaa);
    assert!(
        bytes[2048 * 512..4096 * 512].iter().any(|b| *b != 0),
        "core.img in the BIOS boot partition"
    );
    drop(bytes);

    // The ESP (sector 4096), read with mtools: this machine's kernel may lack vfat.
    let efi = lab_dir(&disk).join("BOOTX64.EFI");
    sh(
        "mcopy",
        &[
            "-n",
            "-i",
            &format!("{}@@{}", disk.display(), 4096 * 512),
            "::/EFI/BOOT/BOOTX64.EFI",
            &efi.display().to_string(),
        ],
    );
    assert!(
        std::fs::read(&efi).expect("BOOTX64.EFI").starts_with(b"MZ"),
        "the removable-path EFI loader"
    );

    let root = Mounted::partition(&disk, 3);
    let boot: Vec<String> = std::fs::read_dir(root.dir.path().join("boot"))
        .expect("/boot")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let kernel = boot
        .iter()
        .find(|f| f.starts_with("vmlinuz-"))
        .unwrap_or_else(|| panic!("a kernel in /boot: {boot:?}"));
    let version = kernel.trim_start_matches("vmlinuz-");
    assert!(
        boot.contains(&format!("initrd.img-{version}")),
        "its initramfs: {boot:?}"
    );
    let grub_cfg = read_string(&root, "boot/grub/grub.cfg");
    assert!(
        grub_cfg.contains(&format!("linux\t/boot/vmlinuz-{version}")),
        "the menu boots the kernel"
    );
    assert!(
        grub_cfg.contains("console=ttyS0,115200n8"),
        "serial console"
    );
    let fstab = read_string(&root, "etc/fstab");
    let root_uuid = sh(
        "blkid",
        &[
            "-o",
            "value",
            "-s",
            "UUID",
            &format!("{}p3", loop_of(&root)),
        ],
    );
    assert!(
        fstab.contains(&format!("UUID={}\t/\text4", root_uuid.trim())),
        "{fstab}"
    );
    assert!(fstab.contains("/boot/efi\tvfat"), "{fstab}");
    assert!(
        grub_cfg.contains(root_uuid.trim()),
        "GRUB finds the root by UUID"
    );
    assert_eq!(read_string(&root, "etc/hostname"), "web01\n");
    assert!(read_string(&root, "etc/hosts").contains("web01.lab.example"));
    assert_eq!(
        read_string(&root, "home/ops/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    assert_eq!(read_string(&root, "etc/motd"), "installed from packages\n");
    assert!(
        root.dir
            .path()
            .join("etc/systemd/system/multi-user.target.wants/pxe-first-boot.service")
            .symlink_metadata()
            .is_ok(),
        "the first-boot unit is enabled"
    );
    assert!(
        root.dir
            .path()
            .join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
            .symlink_metadata()
            .is_ok(),
        "networkd is enabled"
    );
    assert!(
        read_string(&root, "etc/apt/sources.list").contains("/trees/agent bookworm main"),
        "apt points at the mirror"
    );
    assert!(
        !root
            .dir
            .path()
            .join("etc/dpkg/dpkg.cfg.d/pxe-deploy-unsafe-io")
            .exists(),
        "unsafe-io is for the install only"
    );
}

fn lab_dir(disk: &Path) -> PathBuf {
    disk.parent().expect("the disk's directory").to_owned()
}

/// The loop device a mount's partition belongs to (`/dev/loop3p3` → `/dev/loop3`).
fn loop_of(m: &Mounted) -> String {
    let src = sh(
        "findmnt",
        &["-n", "-o", "SOURCE", &m.dir.path().display().to_string()],
    );
    let src = src.trim();
    src.rsplit_once('p').map_or(src, |(d, _)| d).to_owned()
}
