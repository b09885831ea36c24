//! What the lab boots, from Debian's packages: pxelinux and its ldlinux.c32, GRUB's
//! network image, OVMF, the installer's kernel and initrd; plus the marker initramfs.

use super::initramfs;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Debian packages the lab needs (installed by `cargo xtask demo` / `e2e` as root).
pub(crate) const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "ipxe-qemu",
    "ovmf",
    "pxelinux",
    "syslinux-common",
    // lab case i: the menu's memtest entry
    "memtest86+",
    "grub-efi-amd64-bin",
    "debian-installer-12-netboot-amd64",
    "iproute2",
    // lab case j (httpboot-ipxe): iPXE's UEFI build, handed to OVMF's HTTP boot
    "ipxe",
    // lab case power-reinstall-ipmi: ipmi_sim is web01's BMC; httpd-tree runs ipmitool
    "openipmi",
    "ipmitool",
    // lab case secureboot-root-shim: Debian's signed shim and signed network GRUB
    "shim-signed",
    "grub-efi-amd64-signed",
    // lab case arm64-grub: qemu's arm64 emulator, edk2 for it, Debian's arm64 netboot tree
    "qemu-system-arm",
    "qemu-efi-aarch64",
    "debian-installer-12-netboot-arm64",
    // lab cases ipv6-*: the router advertisement (managed flag) OVMF waits for
    "radvd",
];

/// Debian packages `cargo xtask mirror` needs (installed by it when missing, as root):
/// the signing key and signatures, `Packages.gz` and `Packages.xz`.
pub(crate) const MIRROR_PACKAGES: &[&str] = &["gnupg", "gpgv", "gzip", "xz-utils"];

/// Debian packages `cargo xtask image` needs besides [`MIRROR_PACKAGES`] (installed by it
/// when missing, as root). qemu is not among them: the image's check unpacks its own when
/// none is installed (see `image/boot.rs`).
pub(crate) const IMAGE_PACKAGES: &[&str] = &[
    // image: the root filesystem, the disk and its partitions
    "mmdebstrap",
    "fdisk",
    "dosfstools",
    "mtools",
    "e2fsprogs",
    "grub-common",
    "zstd",
    // image: the qcow2 copy (qemu-img; a machine may have a newer one than Debian 12's)
    "qemu-utils",
    // image --check: OVMF for the UEFI boot
    "ovmf",
];

pub(crate) const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
pub(crate) const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// Debian's GRUB network image: prefix `/grub`, it asks for `/grub/grub.cfg`.
pub(crate) const GRUBNET: &str = "/usr/lib/grub/x86_64-efi/monolithic/grubnetx64.efi";
/// Debian's iPXE for UEFI (all drivers), which UEFI HTTP boot fetches from httpd-tree.
pub(crate) const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";
const DI: &str = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";

/// The lab's files, laid out under `work` (with `trees/marker`: the installer's kernel
/// and the marker initramfs, and `trees/debian12`: the installer's kernel and initrd).
pub(crate) struct Assets {
    /// TFTP root: loaders.
    pub(crate) tftp_root: PathBuf,
    pub(crate) kernel: PathBuf,
    pub(crate) marker_initrd: PathBuf,
}

fn copy(from: &str, to: &Path) -> Result<()> {
    if !Path::new(from).exists() {
        bail!(
            "{from} is missing: install the lab's Debian packages (cargo xtask demo does, as root)"
        );
    }
    std::fs::copy(from, to).with_context(|| format!("copying {from} to {}", to.display()))?;
    Ok(())
}

pub(crate) fn prepare(work: &Path) -> Result<Assets> {
    let tftp_root = work.join("tftpboot");
    let marker_tree = work.join("trees/marker");
    let debian_tree = work.join("trees/debian12");
    for d in [
        &tftp_root,
        &marker_tree,
        &debian_tree.join("debian-installer/amd64"),
    ] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    copy(PXELINUX, &tftp_root.join("pxelinux.0"))?;
    copy(LDLINUX, &tftp_root.join("ldlinux.c32"))?;
    copy(GRUBNET, &tftp_root.join("grubnetx64.efi"))?;
    copy(IPXE_EFI, &tftp_root.join("ipxe.efi"))?;
    let kernel = marker_tree.join("linux");
    copy(&format!("{DI}/linux"), &kernel)?;
    let marker_initrd = marker_tree.join("marker.img");
    let di_initrd =
        std::fs::read(format!("{DI}/initrd.gz")).context("reading the installer's initrd")?;
    std::fs::write(&marker_initrd, initramfs::build(&di_initrd))
        .context("writing the marker initramfs")?;
    copy(
        &format!("{DI}/linux"),
        &debian_tree.join("debian-installer/amd64/linux"),
    )?;
    copy(
        &format!("{DI}/initrd.gz"),
        &debian_tree.join("debian-installer/amd64/initrd.gz"),
    )?;
    // World-readable, as tftpd (like tftpd-hpa) serves only those.
    for entry in walk(work)? {
        use std::os::unix::fs::PermissionsExt;
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(Assets {
        tftp_root,
        kernel,
        marker_initrd,
    })
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_owned()];
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}
