//! Issue 18 part 1: Secure Boot for real. OVMF's Secure Boot build with Microsoft's keys
//! enrolled boots from the network through Debian's signed chain: shim (signed by
//! Microsoft's UEFI CA) → GRUB (signed by Debian, which shim's built-in CA trusts) → the
//! installer's kernel (signed by Debian) with the marker initramfs.
//!
//! Each case's distro is a tree that ships its own shim and GRUB, as Debian's netboot
//! tree does (`debian-installer/amd64/bootnetx64.efi` is shim, `grubx64.efi` beside it):
//! the inventory hands out the tree's shim to UEFI x64 clients, shim fetches
//! `grubx64.efi` from its own directory, and the signed network GRUB reads the generated
//! `grub.cfg` under its built-in prefix (`/debian-installer/amd64/grub`).
//!
//! - `secureboot-shim-grub`: the whole chain boots, and the kernel says on its console
//!   that Secure Boot was enabled (it read the firmware's `SecureBoot` variable).
//! - `secureboot-unsigned-refused`: the same shim, with an unsigned GRUB (Debian's
//!   unsigned network image from `grub-efi-amd64-bin`) as `grubx64.efi`: shim refuses it
//!   on the console and nothing after `grubx64.efi` is fetched.
//! - `secureboot-root-shim`: no tree ships shim; the operator puts `shim-signed`'s shim and
//!   `grub-efi-amd64-signed`'s network GRUB (built-in prefix `/grub`) on the TFTP root and
//!   names the shim as the inventory's `loaders.uefi_x64`.

use super::named::Named;
use super::probe::{Phase, Source, phase, phase_any};
use super::qemu::Firmware;
use super::{Lab, Report, Spec, initramfs, root_dir};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// Where Debian's netboot tree keeps shim and its GRUB.
const DI: &str = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
/// shim as Debian's `shim-signed` installs it.
const SHIM_SIGNED: &str = "/usr/lib/shim/shimx64.efi.signed";
/// Debian's signed network GRUB (`grub-efi-amd64-signed`), built-in prefix `/grub`.
const GRUBNET_SIGNED: &str = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed";
/// Debian's unsigned GRUB network image (package grub-efi-amd64-bin).
const UNSIGNED_GRUB: &str = "/usr/lib/grub/x86_64-efi/monolithic/grubnetx64.efi";
/// The kernel's line when it found Secure Boot on (`arch/x86/kernel/setup.c`, under
/// the `secureboot: ` prefix).
const SECURE_BOOT_ON: &str = "Secure boot enabled";
/// What shim prints when an image fails verification.
const REFUSED: &[&str] = &["Verification failed", "Security Violation"];

struct Case {
    name: &'static str,
    describe: &'static str,
    machine: &'static str,
    mac: &'static str,
    layout: Layout,
    in_ci: bool,
}

/// Where shim and GRUB come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The distro's tree ships them (Debian's netboot layout), and import finds them; GRUB
    /// is Debian's signed one or an unsigned one.
    Tree { signed_grub: bool },
    /// On the TFTP root, from `shim-signed` and `grub-efi-amd64-signed`, named by the
    /// inventory's own loaders.
    Root,
}

impl Case {
    /// The TFTP paths of shim and of the GRUB it loads, and the `grub.cfg` GRUB asks for
    /// under its built-in prefix.
    fn files(&self) -> [String; 3] {
        match self.layout {
            Layout::Tree { .. } => {
                let dir = format!("trees/{}/debian-installer/amd64", self.machine);
                [
                    format!("{dir}/bootnetx64.efi"),
                    format!("{dir}/grubx64.efi"),
                    "/debian-installer/amd64/grub/grub.cfg".into(),
                ]
            }
            Layout::Root => [
                "shimx64.efi".into(),
                "grubx64.efi".into(),
                "/grub/grub.cfg".into(),
            ],
        }
    }

    fn kernel(&self) -> String {
        match self.layout {
            Layout::Tree { .. } => {
                format!("trees/{}/debian-installer/amd64/linux", self.machine)
            }
            Layout::Root => format!("trees/{}/linux", self.machine),
        }
    }

    fn boots(&self) -> bool {
        self.layout != Layout::Tree { signed_grub: false }
    }
}

const CASES: &[Case] = &[
    Case {
        name: "secureboot-shim-grub",
        describe: "case secureboot-shim-grub: OVMF with Secure Boot on (Microsoft's keys): \
                   the tree's signed shim over TFTP, signed GRUB beside it, generated \
                   grub.cfg, the installer's signed kernel says Secure Boot is enabled",
        machine: "sb-signed-vm",
        mac: "52:54:00:77:00:50",
        layout: Layout::Tree { signed_grub: true },
        in_ci: true,
    },
    Case {
        name: "secureboot-unsigned-refused",
        describe: "case secureboot-unsigned-refused: the same signed shim with an unsigned \
                   GRUB beside it: shim refuses it on the console, nothing after grubx64.efi \
                   is fetched",
        machine: "sb-unsigned-vm",
        mac: "52:54:00:77:00:51",
        layout: Layout::Tree { signed_grub: false },
        in_ci: true,
    },
    Case {
        name: "secureboot-root-shim",
        describe: "case secureboot-root-shim: OVMF with Secure Boot on: shim-signed's shim \
                   and grub-efi-amd64-signed's network GRUB on the TFTP root (the \
                   inventory's loaders), GRUB's /grub/grub.cfg, the signed kernel says \
                   Secure Boot is enabled",
        machine: "sb-root-vm",
        mac: "52:54:00:77:00:52",
        layout: Layout::Root,
        in_ci: true,
    },
];

pub(crate) fn named() -> Vec<Named> {
    CASES
        .iter()
        .map(|c| Named {
            name: c.name,
            describe: c.describe,
            in_ci: c.in_ci,
        })
        .collect()
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    let c = CASES
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("no secureboot case {name}"))?;
    if lab.dhcp != super::Dhcp::Ours {
        bail!("the secureboot cases need our dhcpd (it reads the inventory); drop --dhcpd isc");
    }
    let tree = lab.work.join("trees").join(c.machine);
    let (inv, root) = match c.layout {
        Layout::Tree { signed_grub } => {
            build_tree(lab, &tree, signed_grub)?;
            (inventory(c, &tree)?, lab.assets.tftp_root.clone())
        }
        Layout::Root => (root_inventory(c), build_root(lab, &tree)?),
    };
    let conf = root_dir().join("deploy/examples/lab/dhcpd.conf");
    let (ns, logs, _) = lab.single_host(c.name, &conf, Some(Some(&inv)), &root)?;
    let this = logs.tail();
    let spec = spec(c);
    let mut r = lab.run(&ns, &logs, &spec)?;
    let tftp = this.text(Source::Tftp);
    if !c.boots() {
        // Shim refused GRUB: GRUB never ran, so it asked for no configuration.
        if tftp.contains("grub.cfg") {
            r.fail("a grub.cfg was fetched: the unsigned GRUB ran".into());
        }
        if this.text(Source::Serial).contains(initramfs::MARKER) {
            r.fail("the kernel ran behind an unsigned GRUB".into());
        }
    }
    Ok(r)
}

fn spec(c: &Case) -> Spec {
    let [shim, grub, cfg] = c.files();
    let mut phases = vec![
        phase(
            Source::Dhcp,
            "DHCPACK on",
            "DHCP: address and shim (arch 7)",
        ),
        phase(Source::Tftp, &shim, "TFTP: shim"),
        phase(Source::Tftp, &grub, "TFTP: grubx64.efi beside shim"),
    ];
    let done;
    if c.boots() {
        phases.extend([
            phase(
                Source::Tftp,
                &cfg,
                "TFTP: generated grub.cfg under GRUB's built-in prefix",
            ),
            phase(
                Source::Tftp,
                &format!("grub.cfg-{}", c.mac),
                "TFTP: generated grub.cfg-<mac>",
            ),
            phase(Source::Tftp, &c.kernel(), "TFTP: signed kernel"),
            phase(
                Source::Serial,
                SECURE_BOOT_ON,
                "VM: the kernel says Secure Boot is enabled",
            ),
            phase(Source::Serial, initramfs::MARKER, "VM: marker"),
        ]);
        done = phase(Source::Serial, initramfs::MARKER, "");
    } else {
        let refused: Phase = phase_any(
            Source::Serial,
            REFUSED,
            "VM: shim refuses the unsigned GRUB",
        );
        done = refused.clone();
        phases.push(refused);
    }
    Spec {
        title: c.name,
        vm: c.machine,
        mac: c.mac,
        firmware: Firmware::UefiSecureBoot,
        phases,
        done,
        tcg_secs: 480,
    }
}

/// A TFTP root of its own for the case: shim and the signed network GRUB as Debian's
/// packages install them; the tree holds the signed kernel and the marker initramfs.
fn build_root(lab: &Lab, tree: &Path) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = lab.work.join("secureboot-tftpboot");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(tree)?;
    for (from, to) in [
        (SHIM_SIGNED.to_owned(), root.join("shimx64.efi")),
        (GRUBNET_SIGNED.to_owned(), root.join("grubx64.efi")),
        (lab.assets.kernel.display().to_string(), tree.join("linux")),
        (
            lab.assets.marker_initrd.display().to_string(),
            tree.join("marker.img"),
        ),
    ] {
        std::fs::copy(&from, &to).with_context(|| {
            format!(
                "copying {from} to {} (packages shim-signed, grub-efi-amd64-signed)",
                to.display()
            )
        })?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
    }
    for d in [&root, tree] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(root)
}

/// The operator's own shim as the inventory's UEFI x64 loader, a distro without one.
fn root_inventory(c: &Case) -> String {
    format!(
        "# Written by cargo xtask e2e --case {name}.
servers:
  tftp: 10.77.0.2
  http: http://10.77.0.3:8080

loaders:
  uefi_x64: shimx64.efi      # shim-signed; grubx64.efi (grub-efi-amd64-signed) beside it

distros:
  {machine}:
    arch: x86_64
    family: debian
    tree: trees/{machine}
    kernel: linux
    initrd: marker.img

profiles:
  marker-secureboot:
    distro: {machine}
    chain: classic
    kernel_args: console=ttyS0 panic=-1
    description: Marker boot through shim and GRUB under Secure Boot

machines:
  {machine}:
    mac: {mac}
    profile: marker-secureboot
",
        name = c.name,
        machine = c.machine,
        mac = c.mac,
    )
}

/// A distro tree as Debian's netboot tree ships it: under `debian-installer/amd64/`, shim
/// (`bootnetx64.efi`), GRUB beside it, the installer's signed kernel, and the marker
/// initramfs as its initrd.
fn build_tree(lab: &Lab, tree: &Path, signed_grub: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let loaders = tree.join("debian-installer/amd64");
    std::fs::create_dir_all(&loaders)?;
    let grub = if signed_grub {
        format!("{DI}/grubx64.efi")
    } else {
        UNSIGNED_GRUB.to_owned()
    };
    for (from, to) in [
        (format!("{DI}/bootnetx64.efi"), "bootnetx64.efi"),
        (grub, "grubx64.efi"),
        (lab.assets.kernel.display().to_string(), "linux"),
        (lab.assets.marker_initrd.display().to_string(), "initrd.gz"),
    ] {
        let to = loaders.join(to);
        std::fs::copy(&from, &to).with_context(|| format!("copying {from} to {}", to.display()))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
    }
    for d in [tree, &tree.join("debian-installer"), &loaders] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The case's distro as `httpd-tree import` writes it from the tree (which finds the
/// tree's shim and GRUB and hands the shim out to UEFI clients), one profile, one machine.
fn inventory(c: &Case, tree: &Path) -> Result<String> {
    let found = pxe_model::import::import(tree, None)
        .with_context(|| format!("importing {}", tree.display()))?;
    if found.shim.is_none() {
        bail!("import found no shim with its GRUB in {}", tree.display());
    }
    Ok(format!(
        "# Written by cargo xtask e2e --case {name}.
servers:
  tftp: 10.77.0.2
  http: http://10.77.0.3:8080

distros:
{distro}
profiles:
  marker-secureboot:
    distro: {machine}
    chain: classic
    kernel_args: console=ttyS0 panic=-1
    description: Marker boot through shim and GRUB under Secure Boot

machines:
  {machine}:
    mac: {mac}
    profile: marker-secureboot
",
        name = c.name,
        distro = found.to_yaml(c.machine),
        machine = c.machine,
        mac = c.mac,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::named;

    #[test]
    fn the_family_word_runs_both_cases_and_ci_runs_them() {
        let both = [
            "secureboot-shim-grub",
            "secureboot-unsigned-refused",
            "secureboot-root-shim",
        ];
        assert_eq!(named::select("secureboot").expect("the family"), both);
        assert_eq!(
            named::select("secureboot-unsigned-refused").expect("one case"),
            ["secureboot-unsigned-refused"]
        );
        assert!(named::select("secureboot-shim").is_err());
        let ci = named::in_ci();
        assert!(both.iter().all(|c| ci.contains(c)), "{ci:?}");
    }
}
