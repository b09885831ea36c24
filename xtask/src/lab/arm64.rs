//! Issue 18 part 5: an arm64 machine boots from the network, under TCG. qemu's `virt`
//! board (Cortex-A57) with edk2's arm64 build asks as client architecture 11; the
//! inventory hands it the tree's own loader, as Debian's arm64 netboot tree ships it
//! (`bootnetaa64.efi`, shim, with the signed `grubaa64.efi` beside it); GRUB reads the
//! generated config and boots the arm64 installer kernel with the marker initramfs built
//! from the arm64 installer's own initrd (its busybox prints the marker).
//!
//! - `arm64-grub`: DHCP (arch 11), shim and GRUB over TFTP, the generated `grub.cfg`, the
//!   arm64 kernel and initrd, the kernel's arm64 banner and the marker.

use super::named::Named;
use super::probe::{Source, phase};
use super::qemu::Firmware;
use super::{Lab, Report, Spec, initramfs, root_dir};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// Debian's arm64 netboot tree (package debian-installer-12-netboot-arm64, arch all).
const DI: &str = "/usr/lib/debian-installer/images/12/arm64/text/debian-installer/arm64";
const MACHINE: &str = "arm64-vm";
const MAC: &str = "52:54:00:77:00:80";
/// What an arm64 kernel prints first on its console.
const ARM64_BANNER: &str = "Booting Linux on physical CPU";

pub(crate) fn named() -> Vec<Named> {
    vec![Named {
        name: "arm64-grub",
        describe: "case arm64-grub: qemu's arm64 virt board with edk2 (arch 11): the tree's \
                   shim and signed GRUB over TFTP, generated grub.cfg, the arm64 kernel and \
                   the marker initramfs built from the arm64 installer's initrd",
        in_ci: true,
    }]
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    if name != "arm64-grub" {
        bail!("no arm64 case {name}");
    }
    if lab.dhcp != super::Dhcp::Ours {
        bail!("the arm64 case needs our dhcpd (it reads the inventory); drop --dhcpd isc");
    }
    let tree = lab.work.join("trees").join(MACHINE);
    build_tree(&tree)?;
    let inv = inventory(&tree)?;
    let conf = root_dir().join("deploy/examples/lab/dhcpd.conf");
    let root = lab.assets.tftp_root.clone();
    let (ns, logs, _) = lab.single_host(name, &conf, Some(Some(&inv)), &root)?;
    let dir = format!("trees/{MACHINE}/debian-installer/arm64");
    let spec = Spec {
        title: "arm64-grub",
        vm: MACHINE,
        mac: MAC,
        firmware: Firmware::UefiArm64,
        phases: vec![
            phase(
                Source::Dhcp,
                "DHCPACK on",
                "DHCP: address and loader (arch 11)",
            ),
            phase(
                Source::Tftp,
                &format!("{dir}/bootnetaa64.efi"),
                "TFTP: the tree's shim",
            ),
            phase(
                Source::Tftp,
                &format!("{dir}/grubaa64.efi"),
                "TFTP: grubaa64.efi beside shim",
            ),
            phase(
                Source::Tftp,
                &format!("grub.cfg-{MAC}"),
                "TFTP: generated grub.cfg-<mac>",
            ),
            phase(Source::Tftp, &format!("{dir}/linux"), "TFTP: arm64 kernel"),
            phase(Source::Serial, ARM64_BANNER, "VM: the arm64 kernel starts"),
            phase(Source::Serial, initramfs::MARKER, "VM: marker"),
        ],
        done: phase(Source::Serial, initramfs::MARKER, ""),
        tcg_secs: 900,
    };
    lab.run(&ns, &logs, &spec)
}

/// The arm64 netboot tree: shim, GRUB, the kernel, and the marker initramfs made from the
/// arm64 installer's initrd.
fn build_tree(tree: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let loaders = tree.join("debian-installer/arm64");
    std::fs::create_dir_all(&loaders)?;
    for file in ["bootnetaa64.efi", "grubaa64.efi", "linux"] {
        let from = format!("{DI}/{file}");
        let to = loaders.join(file);
        std::fs::copy(&from, &to).with_context(|| {
            format!(
                "copying {from} (package debian-installer-12-netboot-arm64) to {}",
                to.display()
            )
        })?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
    }
    let di_initrd = std::fs::read(format!("{DI}/initrd.gz")).context(
        "reading the arm64 installer's initrd (package debian-installer-12-netboot-arm64)",
    )?;
    let marker = loaders.join("initrd.gz");
    std::fs::write(&marker, initramfs::build(&di_initrd))
        .context("writing the arm64 marker initramfs")?;
    std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o644))?;
    for d in [tree, &tree.join("debian-installer"), &loaders] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The tree as `httpd-tree import` sees it (arm64, its shim handed to arch 11 clients), a
/// profile and the machine.
fn inventory(tree: &Path) -> Result<String> {
    let found = pxe_model::import::import(tree, Some(pxe_model::inventory::Arch::Aarch64))
        .with_context(|| format!("importing {}", tree.display()))?;
    if found.shim.is_none() {
        bail!("import found no shim with its GRUB in {}", tree.display());
    }
    Ok(format!(
        "# Written by cargo xtask e2e --case arm64-grub.
servers:
  tftp: 10.77.0.2
  http: http://10.77.0.3:8080

distros:
{distro}
profiles:
  marker-arm64:
    distro: {MACHINE}
    chain: classic
    kernel_args: console=ttyAMA0 panic=-1
    description: Marker boot of an arm64 machine through shim and GRUB

machines:
  {MACHINE}:
    mac: {MAC}
    profile: marker-arm64
",
        distro = found.to_yaml(MACHINE),
    ))
}
