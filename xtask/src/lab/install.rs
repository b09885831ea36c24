//! The install cases of issue 12: a VM with an empty disk installs an operating system
//! through our three daemons, reboots, boots that disk, reports its first boot, and then
//! boots the disk once more with no network device at all.
//!
//! Both cases run the same three boots of one machine; what differs is its firmware
//! ([`Case`]), so the loader's files, how the local-boot answer hands over to the disk and
//! what a failed boot looks like are per firmware, and the rest is shared:
//!
//! - `install-image-bios`: SeaBIOS with qemu's iPXE ROM → pxelinux → the deploy kernel and
//!   initramfs (the machine's profile has a `deploy` section) → the agent streams the lab's
//!   Debian 12 image (`debian12.raw.zst`, served by httpd-tree as a tree) to the disk,
//!   grows and configures it → install-complete callback → reboot (qemu exits:
//!   `-no-reboot`) → network boot again → the generated `LOCALBOOT 0` entry → SeaBIOS
//!   boots the disk → GRUB → Debian → the first-boot unit reports to httpd-tree → a last
//!   boot with `-nic none` shows the inventory's hostname at the login prompt.
//! - `install-image-uefi`: the same with OVMF and its own PXE → GRUB's network image →
//!   the generated `grub.cfg-<mac>`; after the install its local-boot entry finds the
//!   disk's EFI system partition and chainloads `\EFI\BOOT\BOOTX64.EFI` (GRUB's `exit`
//!   would leave OVMF in its setup menu, see `pxe_model::render::grub`); the last boot is
//!   OVMF booting the disk by itself.
//!
//! Selected by name only (`cargo xtask e2e --case install`, or one name): they need
//! `cargo xtask image` and `cargo xtask deploy-image` (both cached under the target
//! directory) and take minutes under TCG.

use super::failover::TimelineCopy;
use super::probe::{Logs, Phase, Source, all_seen, phase, phase_any};
use super::qemu::{self, DiskFirmware, DiskVm};
use super::{Lab, Report, interrupted, net};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One install case: a machine of the inventory, its firmware, how it boots and what
/// it installs.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    machine: &'static str,
    mac: &'static str,
    hostname: &'static str,
    firmware: Firmware,
    chain: Chain,
    method: Method,
    servers: Servers,
    describe: &'static str,
}

/// Which daemons serve the case, and where they keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Servers {
    /// One dhcpd, tftpd and httpd-tree in one namespace, on a state directory.
    One,
    /// Two dhcpd on one PostgreSQL (tftpd and httpd-tree on it too); the one that gave
    /// the first lease is killed and the other carries on ([`super::failover`]).
    Failover,
}

/// How the firmware's network boot reaches the deploy kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// pxelinux (BIOS) or GRUB (UEFI) over TFTP.
    Classic,
    /// qemu's iPXE ROM runs the machine's script from httpd-tree; kernel and initrd
    /// over HTTP; after the install the script says `exit`.
    Ipxe,
}

/// What the agent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// The lab's Debian 12 image.
    Image,
    /// debootstrap from the lab's mirror.
    Packages,
}

/// The firmware of a case, as the phases see it (the VM's own is [`DiskFirmware`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Firmware {
    Bios,
    Uefi,
}

/// The install cases, in the order `--case install` runs them.
pub(crate) const CASES: &[Case] = &[
    Case {
        name: "install-image-bios",
        machine: "install-bios",
        mac: "52:54:00:77:00:30",
        hostname: "install-bios.lab.example",
        firmware: Firmware::Bios,
        chain: Chain::Classic,
        method: Method::Image,
        servers: Servers::One,
        describe: "case install-image-bios: SeaBIOS + iPXE ROM, pxelinux, deploy initramfs, \
                   Debian 12 image to an empty disk, callback, reboot, LOCALBOOT, the disk \
                   boots, first boot reported, then a boot with no network device",
    },
    Case {
        name: "install-image-uefi",
        machine: "install-uefi",
        mac: "52:54:00:77:00:31",
        hostname: "install-uefi.lab.example",
        firmware: Firmware::Uefi,
        chain: Chain::Classic,
        method: Method::Image,
        servers: Servers::One,
        describe: "case install-image-uefi: OVMF's own PXE, GRUB, deploy initramfs, Debian 12 \
                   image to an empty disk, callback, reboot, GRUB's local-boot entry \
                   chainloads the disk's ESP, first boot reported, then a boot with no \
                   network device",
    },
    Case {
        name: "install-packages-ipxe",
        machine: "install-packages",
        mac: "52:54:00:77:00:32",
        hostname: "install-packages.lab.example",
        firmware: Firmware::Bios,
        chain: Chain::Ipxe,
        method: Method::Packages,
        servers: Servers::One,
        describe: "case install-packages-ipxe: SeaBIOS + iPXE ROM, the machine's iPXE script \
                   over HTTP, deploy initramfs, debootstrap from the lab mirror served by \
                   httpd-tree, kernel and GRUB, callback, reboot, iPXE `exit`, SeaBIOS boots \
                   the disk, first boot reported, then a boot with no network device",
    },
    Case {
        name: "install-dhcp-failover",
        machine: "install-failover",
        mac: "52:54:00:77:00:33",
        hostname: "install-failover.lab.example",
        firmware: Firmware::Bios,
        chain: Chain::Classic,
        method: Method::Image,
        servers: Servers::Failover,
        describe: "case install-dhcp-failover: install-image-bios with two dhcpd on one \
                   PostgreSQL (tftpd and httpd-tree on it too); the dhcpd that gave the first \
                   lease is killed (SIGKILL) and the other serves the deploy initramfs, the \
                   reboot's network boot and the first boot",
    },
];

/// The names of the install cases.
/// The install cases as named cases; none runs in a plain `cargo xtask e2e` (CI runs
/// `install-image-bios` in a step of its own).
pub(crate) fn named() -> Vec<super::named::Named> {
    CASES
        .iter()
        .map(|c| super::named::Named {
            name: c.name,
            describe: c.describe,
            in_ci: false,
        })
        .collect()
}

fn case(name: &str) -> Result<&'static Case> {
    CASES
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("no install case {name}"))
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    let c = case(name)?;
    install(lab, c)
}

/// The machine's disk: the image's 2 GiB and room for the agent to grow the root into.
const DISK_SIZE: &str = "3G";
/// A public key in the right form; nobody holds its private half.
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKeyForTheLabOnly ops@lab";

/// The inventory of an install case: the deploy initramfs as a distro, the lab's images
/// (or its mirror) as a tree httpd-tree serves, one machine whose profile deploys it.
fn inventory(c: &Case, deploy_dir: &Path, prep: &Prepared) -> String {
    let (images, source) = match prep {
        Prepared::Image { images, sha256 } => (
            images.clone(),
            format!(
                "      image:\n        url: /trees/lab-images/debian12.raw.zst\n        \
                 sha256: {sha256}\n"
            ),
        ),
        // The mirror is the tree `lab-images` (a distro tree needs no kernel in it).
        Prepared::Packages { mirror } => (
            mirror.clone(),
            format!(
                "      packages:\n        mirror: /trees/lab-images\n        suite: {}\n        \
                 keyring: /trees/lab-images/{}\n",
                crate::mirror::SUITE,
                crate::mirror::KEYRING
            ),
        ),
    };
    format!(
        "# Written by cargo xtask e2e --case {name}.
servers:
  tftp: 10.77.0.2
  http: http://10.77.0.3:8080

loaders:
  bios: pxelinux.0
  uefi_x64: grubnetx64.efi

distros:
  pxe-deploy:
    arch: x86_64
    family: debian
    tree: {deploy}
    kernel: vmlinuz
    initrd: initrd.gz
  lab-images:
    arch: x86_64
    family: debian
    tree: {images}
    kernel: vmlinuz
    initrd: initrd.gz

profiles:
  debian12-deploy:
    distro: pxe-deploy
    chain: {chain}
    kernel_args: console=ttyS0 panic=-1
    description: Debian 12 written by the deploy agent
    deploy:
{source}      disk: {{device: /dev/vda, firmware: {firmware}}}
      users:
        - name: ops
          sudo: true
          ssh_keys: [{KEY}]
      post: |
        #!/bin/sh
        echo 'installed by pxe-suite ({name})' > /etc/motd

machines:
  {machine}:
    mac: {mac}
    hostname: {hostname}
    profile: debian12-deploy
",
        name = c.name,
        machine = c.machine,
        mac = c.mac,
        hostname = c.hostname,
        firmware = match c.firmware {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        },
        chain = match c.chain {
            Chain::Classic => "classic",
            Chain::Ipxe => "ipxe",
        },
        deploy = deploy_dir.display(),
        images = images.display(),
    )
}

impl Case {
    fn short_hostname(&self) -> &'static str {
        self.hostname.split('.').next().unwrap_or(self.hostname)
    }

    /// The generated boot file the firmware's loader asks for by MAC.
    fn boot_file(&self) -> String {
        match self.firmware {
            Firmware::Bios => super::pxelinux_name(self.mac),
            Firmware::Uefi => format!("grub.cfg-{}", self.mac),
        }
    }

    /// From the DHCP answer to the machine's own boot file; `again`: the machine was
    /// installed and boots from the network once more, and its file is the local-boot entry.
    fn loader_phases(&self, again: bool) -> Vec<Phase> {
        let file = self.boot_file();
        let entry = if again {
            "local-boot entry"
        } else {
            "deploy entry"
        };
        let dhcp = |first: &str| {
            let label = if again {
                "DHCP: the installed machine boots from the network again"
            } else {
                first
            };
            phase(Source::Dhcp, "DHCPACK on", label)
        };
        if self.chain == Chain::Ipxe {
            let script = format!("/boot/{}.ipxe", self.mac);
            // iPXE percent-encodes the colons of `${mac}` in the URL it asks for.
            let encoded = format!("/boot/{}.ipxe", self.mac.replace(':', "%3A"));
            let what = if again {
                "HTTP: the machine's iPXE script (local boot: exit)"
            } else {
                "HTTP: the machine's iPXE script (deploy)"
            };
            return vec![
                dhcp("DHCP: iPXE gets its script URL"),
                phase_any(Source::Http, &[&script, &encoded], what),
            ];
        }
        match self.firmware {
            Firmware::Bios => vec![
                dhcp("DHCP: address and boot file (pxelinux.0)"),
                phase(Source::Tftp, "pxelinux.0", "TFTP: pxelinux.0"),
                phase(
                    Source::Tftp,
                    &file,
                    &format!("TFTP: generated pxelinux.cfg/01-<mac> ({entry})"),
                ),
            ],
            Firmware::Uefi => vec![
                dhcp("DHCP: address and boot file (grubnetx64.efi, arch 7)"),
                phase(
                    Source::Serial,
                    &format!(
                        "starting Boot0002 \"UEFI PXEv4 (MAC:{})\"",
                        self.mac.replace(':', "").to_uppercase()
                    ),
                    "UEFI: OVMF starts its PXE boot option",
                ),
                phase(Source::Tftp, "grubnetx64.efi", "TFTP: GRUB network image"),
                phase(Source::Tftp, "grub/grub.cfg", "TFTP: generated grub.cfg"),
                phase(
                    Source::Tftp,
                    &file,
                    &format!("TFTP: generated grub.cfg-<mac> ({entry})"),
                ),
            ],
        }
    }

    /// How the firmware (or the local-boot answer) is seen handing over to the disk.
    fn disk_handover(&self, from_network: bool) -> Vec<Phase> {
        match (self.firmware, from_network) {
            (Firmware::Bios, _) => vec![phase(
                Source::Firmware,
                "Booting from Hard Disk",
                "BIOS: SeaBIOS boots the disk",
            )],
            (Firmware::Uefi, true) => vec![phase(
                Source::Serial,
                "local boot: chainloading (hd0,gpt2)/EFI/BOOT/BOOTX64.EFI",
                "GRUB: the local-boot entry chainloads the disk's ESP loader",
            )],
            // The option OVMF makes for a disk with the removable path and no NVRAM entry.
            (Firmware::Uefi, false) => vec![phase(
                Source::Serial,
                "starting Boot0001 \"UEFI Misc Device\"",
                "UEFI: OVMF boots the disk (\\EFI\\BOOT\\BOOTX64.EFI)",
            )],
        }
    }

    /// What the firmware shows when it found nothing to boot, in any of the boots.
    fn firmware_fatal(&self) -> Vec<Phase> {
        match self.firmware {
            Firmware::Bios => vec![phase(Source::Firmware, "No bootable device", "")],
            Firmware::Uefi => vec![
                // What GRUB's `exit` leads to on OVMF: its setup menu, waiting for a key.
                phase(Source::Serial, "\"UiApp\"", ""),
                phase(Source::Serial, "No bootable option or device was found", ""),
                phase(Source::Serial, "\"EFI Internal Shell\"", ""),
            ],
        }
    }

    /// What no good boot of the disk shows.
    fn disk_fatal(&self) -> Vec<Phase> {
        let mut f = self.firmware_fatal();
        f.extend([
            phase(Source::Serial, "local boot: no UEFI loader found", ""),
            phase(Source::Serial, "grub rescue>", ""),
            phase(Source::Serial, "Kernel panic", ""),
            phase(Source::Serial, "(initramfs)", ""),
        ]);
        f
    }

    /// Debian's boot on the disk, up to the login prompt with the inventory's hostname.
    fn disk_boot_phases(&self) -> Vec<Phase> {
        // The disk's GRUB menu (the network GRUB has no such entry): the image's own
        // grub.cfg, or the one update-grub wrote in the installed system.
        let menu = match self.method {
            Method::Image => "Debian GNU/Linux 12 (pxe-suite image)",
            Method::Packages => "Advanced options for Debian GNU/Linux",
        };
        vec![
            phase(Source::Serial, menu, "VM: GRUB from the disk"),
            phase(Source::Serial, "Linux version", "VM: Debian's kernel"),
            phase(
                Source::Serial,
                &format!("{} login:", self.short_hostname()),
                "VM: login prompt with the inventory's hostname",
            ),
        ]
    }
}

/// One boot of the case's VM.
struct Boot {
    label: &'static str,
    /// With the NIC (first in the boot order), or with `-nic none`.
    network: bool,
    phases: Vec<Phase>,
    done: Phase,
    /// Lines after which this boot cannot succeed.
    fatal: Vec<Phase>,
    limit: Duration,
}

/// What a boot came to.
struct BootResult {
    missing: Vec<String>,
    fatal: Option<String>,
    took: Duration,
}

/// Where the deploy kernel is seen fetched: over TFTP, or over HTTP by iPXE.
fn deploy_kernel(c: &Case) -> (Source, &'static str, &'static str) {
    match c.chain {
        Chain::Classic => (Source::Tftp, "trees/pxe-deploy/vmlinuz", "TFTP"),
        Chain::Ipxe => (Source::Http, "/trees/pxe-deploy/vmlinuz", "HTTP"),
    }
}

/// The agent's steps, as the timeline shows them.
fn deploy_steps(c: &Case) -> Vec<Phase> {
    let step = |detail: &str, label: &str| {
        phase(Source::Timeline, &format!("\"detail\":\"{detail}"), label)
    };
    match c.method {
        Method::Image => vec![
            step("image started", "STEP: image started (debian12.raw.zst)"),
            step("image progress", "STEP: image progress reported"),
            step("image done", "STEP: image written, sha256 verified"),
            step("grow done", "STEP: root grown"),
        ],
        Method::Packages => vec![
            step("partition done", "STEP: partitioned and formatted (GPT)"),
            step(
                "debootstrap started",
                "STEP: debootstrap from the lab mirror",
            ),
            step(
                "debootstrap progress",
                "STEP: debootstrap progress reported",
            ),
            step("debootstrap done", "STEP: debootstrap done (both stages)"),
            step("bootloader done", "STEP: kernel, GRUB and fstab"),
        ],
    }
}

fn deploy_boot(c: &Case) -> Boot {
    let plan = format!("/deploy/{}", c.mac);
    let plan_encoded = format!("/deploy/{}", c.mac.replace(':', "%3A"));
    let mut phases = c.loader_phases(false);
    let (source, kernel, proto) = deploy_kernel(c);
    let initrd = kernel.replace("vmlinuz", "initrd.gz");
    phases.extend([
        phase(source, kernel, &format!("{proto}: deploy kernel")),
        phase(source, &initrd, &format!("{proto}: deploy initramfs")),
        phase(Source::Serial, "Linux version", "VM: deploy kernel running"),
        phase(
            Source::Serial,
            "network up, starting the agent",
            "VM: initramfs got its address, agent starts",
        ),
        phase_any(
            Source::Http,
            &[&plan, &plan_encoded],
            "HTTP: deploy plan fetched",
        ),
    ]);
    phases.extend(deploy_steps(c));
    phases.extend([
        phase(
            Source::Timeline,
            "\"detail\":\"configure done",
            "STEP: configured (hostname, network, users)",
        ),
        phase(
            Source::Timeline,
            "\"detail\":\"post done",
            "STEP: post script ran",
        ),
        phase(
            Source::Timeline,
            "\"detail\":\"first_boot done",
            "STEP: first-boot unit installed",
        ),
        phase(
            Source::Timeline,
            "\"phase\":\"installed\"",
            "HTTP: install-complete callback",
        ),
        phase(
            Source::Serial,
            "reboot: Restarting system",
            "VM: the agent rebooted",
        ),
    ]);
    let mut fatal = vec![
        phase(Source::Timeline, "\"phase\":\"deploy_failed\"", ""),
        phase(Source::Serial, "the machine is not installed", ""),
        phase(Source::Serial, "no DHCP answer on any interface", ""),
        phase(Source::Serial, "Kernel panic", ""),
    ];
    fatal.extend(c.firmware_fatal());
    Boot {
        label: "boot 1: network, deploy",
        network: true,
        phases,
        done: phase(Source::Serial, "reboot: Restarting system", ""),
        fatal,
        limit: match c.method {
            Method::Image => Duration::from_secs(480),
            // debootstrap's second stage and the kernel's initramfs under TCG.
            Method::Packages => Duration::from_secs(1500),
        },
    }
}

fn first_disk_boot(c: &Case) -> Boot {
    let mut phases = c.loader_phases(true);
    phases.extend(c.disk_handover(true));
    phases.extend(c.disk_boot_phases());
    phases.push(phase(
        Source::Timeline,
        "\"phase\":\"first_boot\"",
        "HTTP: first boot reported (first-boot unit)",
    ));
    let mut fatal = c.disk_fatal();
    // An installed machine must not be handed the deploy kernel again.
    let (source, kernel, _) = deploy_kernel(c);
    fatal.push(phase(source, kernel, ""));
    Boot {
        label: "boot 2: network again, local boot, first boot from disk",
        network: true,
        phases,
        // The first-boot report and the login prompt come in either order.
        done: all_seen(),
        fatal,
        limit: Duration::from_secs(360),
    }
}

fn offline_boot(c: &Case) -> Boot {
    let mut phases = c.disk_handover(false);
    phases.extend(c.disk_boot_phases());
    Boot {
        label: "boot 3: the disk alone, no network device",
        network: false,
        phases,
        done: phase(
            Source::Serial,
            &format!("{} login:", c.short_hostname()),
            "",
        ),
        fatal: c.disk_fatal(),
        limit: Duration::from_secs(300),
    }
}

/// What the agent installs from.
enum Prepared {
    Image { images: PathBuf, sha256: String },
    Packages { mirror: PathBuf },
}

/// The image (or the mirror) and the deploy initramfs, built or found current.
fn prepare(c: &Case) -> Result<(PathBuf, Prepared)> {
    let prepared = match c.method {
        Method::Image => prepare_image()?,
        Method::Packages => {
            let mirror = crate::mirror::default_out();
            crate::mirror::build(&mirror).context("cargo xtask mirror")?;
            Prepared::Packages { mirror }
        }
    };
    let out = crate::deploy_image::build().context("cargo xtask deploy-image")?;
    let deploy_dir = out
        .initrd
        .parent()
        .context("the deploy image's directory")?
        .to_owned();
    Ok((deploy_dir, prepared))
}

fn prepare_image() -> Result<Prepared> {
    crate::image::run(&[]).context("cargo xtask image")?;
    let images = crate::mirror::lab_dir().join("images");
    let sums = images.join("debian12.raw.zst.sha256");
    let sha256 = std::fs::read_to_string(&sums)
        .with_context(|| format!("reading {}", sums.display()))?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    if sha256.len() != 64 {
        bail!("{}: no SHA-256 in it", sums.display());
    }
    Ok(Prepared::Image { images, sha256 })
}

fn install(lab: &mut Lab, c: &Case) -> Result<Report> {
    let started = Instant::now();
    if lab.dhcp != super::Dhcp::Ours {
        bail!("the install cases need our dhcpd (it reads the inventory); drop --dhcpd isc");
    }
    let (deploy_dir, prepared) = prepare(c)?;
    println!(
        "  {:>6.1}s  prep  deploy initramfs and {} ready",
        started.elapsed().as_secs_f64(),
        match &prepared {
            Prepared::Image { images, .. } => format!(
                "Debian 12 image ({})",
                images.join("debian12.raw.zst").display()
            ),
            Prepared::Packages { mirror } => format!("mirror ({})", mirror.display()),
        }
    );
    let inv = inventory(c, &deploy_dir, &prepared);
    let conf = super::lab_conf(lab.dhcp);
    let root = lab.assets.tftp_root.clone();
    let mut failover = None;
    // The install state the stage table is read from.
    let store: Box<dyn pxe_model::StateStore>;
    let (ns, logs, state) = match c.servers {
        Servers::One => {
            let (ns, logs, state) = lab.single_host(c.name, &conf, Some(Some(&inv)), &root)?;
            store = Box::new(pxe_model::FileStore::open(&state)?);
            (ns, logs, state)
        }
        Servers::Failover => {
            let l = lab.failover_hosts(c.name, &conf, &inv, &root)?;
            // No state directory: the timeline is copied out of the database to where
            // the phases look for it.
            let state = lab.work.join(format!("inv-{}/state", c.name));
            let copy = TimelineCopy::new(&l.url, c.machine, &timeline_file(&state, c))?;
            store = Box::new(pxe_db::state::PgStateStore::new(l.url.parse()?));
            failover = Some((l.pair, copy));
            (l.ns, l.logs, state)
        }
    };
    let disk = lab.work.join(format!("{}.qcow2", c.machine));
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg(DISK_SIZE)
        .output()
        .context("qemu-img (Debian package qemu-utils)")?;
    if !out.status.success() {
        bail!(
            "qemu-img create: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // The machine's firmware, and for UEFI its NVRAM: new and empty, then kept.
    let firmware = match c.firmware {
        Firmware::Bios => DiskFirmware::Bios,
        Firmware::Uefi => {
            let vars = lab.work.join(format!("{}.OVMF_VARS.fd", c.machine));
            qemu::fresh_ovmf_vars(&vars)?;
            DiskFirmware::Uefi { vars }
        }
    };
    println!(
        "          an empty {DISK_SIZE} qcow2 disk; machine {} ({}), hostname {}",
        c.machine, c.mac, c.hostname
    );
    let timeline = timeline_file(&state, c);
    if let Some(parent) = timeline.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut report = Report {
        name: c.name.into(),
        ok: true,
        why: String::new(),
        took: Duration::ZERO,
    };
    let boots = [deploy_boot(c), first_disk_boot(c), offline_boot(c)];
    let mut times = Vec::new();
    for (i, b) in boots.iter().enumerate() {
        println!("  {}", b.label);
        let vm = VmOf {
            case: c,
            firmware: &firmware,
            disk: &disk,
        };
        // Times printed by the tick count from the boot's start, as the phases' do.
        let boot_started = Instant::now();
        let mut tick = || {
            if let Some((pair, copy)) = &mut failover {
                copy.refresh();
                if i == 0 {
                    pair.tick(c.mac, boot_started);
                }
            }
        };
        let at = Watched {
            ns: &ns,
            logs: &logs,
            timeline: &timeline,
        };
        let r = boot(lab, &at, &vm, i + 1, b, &mut tick)?;
        times.push(format!("{} {:.0} s", i + 1, r.took.as_secs_f64()));
        let mut why = Vec::new();
        if let Some(f) = &r.fatal {
            why.push(format!("stopped at {f}"));
        }
        if !r.missing.is_empty() {
            why.push(format!("not seen: {}", r.missing.join("; ")));
        }
        if !why.is_empty() {
            report.fail(format!("{}: {}", b.label, why.join("; ")));
            println!("  {} failed after {:.1} s", b.label, r.took.as_secs_f64());
            break;
        }
        if i == 0
            && let Some(line) = image_stats(&*store, &inv, c.machine)
        {
            println!("  {line}");
        }
        if interrupted() {
            bail!("interrupted");
        }
    }
    println!("  boots: {}", times.join(", "));
    if report.ok
        && let Some(line) = first_boot_proof(&timeline)
    {
        println!("  first-boot proof on the timeline: {line}");
    }
    if let Some((pair, _)) = &mut failover {
        match pair.verdict(c.mac) {
            Ok(lines) => lines.iter().for_each(|l| println!("  {l}")),
            Err(why) => report.fail(format!("failover: {why}")),
        }
    }
    let stages = stage_lines(&*store, &inv, c.machine);
    if !stages.is_empty() {
        println!("  the install on /status, stage by stage:");
        for line in stages {
            println!("    {line}");
        }
    }
    report.took = started.elapsed();
    Ok(report)
}

/// The machine's install as httpd-tree's `/status` and API build it from the timeline
/// in the state directory (`pxe_model::timeline`).
fn install_of(
    store: &dyn pxe_model::StateStore,
    inv: &str,
    machine: &str,
) -> Option<pxe_model::timeline::Install> {
    let events = store.events(machine, 1000).ok()?;
    let st = store.get(machine).ok()?;
    let inv = pxe_model::load_str("inventory.yaml", inv, Path::new(".")).ok()?;
    let distro = inv
        .machines
        .get(machine)
        .and_then(|m| inv.profile_of(m))
        .map(|(_, d)| d);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Some(pxe_model::timeline::build(&events, &st, distro, now))
}

/// How long the image step took and what it moved, from the machine's timeline.
fn image_stats(store: &dyn pxe_model::StateStore, inv: &str, machine: &str) -> Option<String> {
    use pxe_model::deploy_plan::Step;
    use pxe_model::timeline::Stage;
    let install = install_of(store, inv, machine)?;
    let image = install.stage(Stage::DeployStep(Step::Image))?;
    let fetched = image.done_bytes?;
    let secs = image.took_ms? as f64 / 1000.0;
    let mib = fetched as f64 / 1_048_576.0;
    Some(format!(
        "image step: {mib:.0} MiB fetched (zstd) in {secs:.1} s ({:.1} MiB/s); {}",
        mib / secs.max(0.001),
        image.detail
    ))
}

/// The install stage by stage, as `/status` shows it: since the first event, and took.
fn stage_lines(store: &dyn pxe_model::StateStore, inv: &str, machine: &str) -> Vec<String> {
    use pxe_model::timeline::{human_bytes, human_ms};
    let Some(install) = install_of(store, inv, machine) else {
        return Vec::new();
    };
    install
        .stages
        .iter()
        .map(|s| {
            let bytes = match (s.done_bytes, s.total_bytes) {
                (Some(d), Some(t)) => format!(" {} of {}", human_bytes(d), human_bytes(t)),
                (Some(d), None) => format!(" {}", human_bytes(d)),
                _ => String::new(),
            };
            format!(
                "{:<18} +{:<12} took {:<12}{bytes}",
                s.stage.label(),
                human_ms(s.since_start_ms),
                s.took_ms.map_or_else(|| "-".to_owned(), human_ms),
            )
        })
        .collect()
}

/// Where the phases read the machine's timeline: the state directory's file (the
/// failover case copies the database's timeline there).
fn timeline_file(state: &Path, c: &Case) -> PathBuf {
    state.join(format!("events/{}.jsonl", c.machine))
}

/// The timeline's first-boot entry, as the state directory holds it.
fn first_boot_proof(timeline: &Path) -> Option<String> {
    std::fs::read_to_string(timeline)
        .ok()?
        .lines()
        .find(|l| l.contains("\"phase\":\"first_boot\""))
        .map(str::to_owned)
}

/// The case's VM: its machine, firmware and disk, the same over its boots.
struct VmOf<'a> {
    case: &'a Case,
    firmware: &'a DiskFirmware,
    disk: &'a Path,
}

/// Where a boot's VM is plugged in and watched: the namespace of its tap, the
/// daemons' logs and the machine's timeline.
struct Watched<'a> {
    ns: &'a str,
    logs: &'a Logs,
    timeline: &'a Path,
}

fn boot(
    lab: &mut Lab,
    at: &Watched<'_>,
    vm_of: &VmOf<'_>,
    n: usize,
    b: &Boot,
    tick: &mut dyn FnMut(),
) -> Result<BootResult> {
    let (ns, logs, timeline) = (at.ns, at.logs, at.timeline);
    let start = Instant::now();
    let name = format!("{}-{n}", vm_of.case.machine);
    let serial = lab.work.join(format!("{name}.serial.log"));
    let firmware_log = lab.work.join(format!("{name}.firmware.log"));
    for f in [&serial, &firmware_log] {
        let _ = std::fs::remove_file(f);
    }
    let tap = "tapinst0";
    let mut files: Vec<(Source, PathBuf)> =
        logs.files.iter().map(|(s, p, _)| (*s, p.clone())).collect();
    files.push((Source::Serial, serial.clone()));
    files.push((Source::Firmware, firmware_log.clone()));
    files.push((Source::Timeline, timeline.to_owned()));
    let these = Logs::new(files);
    if b.network {
        let netns = lab
            .nets
            .iter()
            .find(|n| n.name == ns)
            .context("the VM's namespace")?;
        let _ = netns.ip(&["link", "del", tap]);
        netns.tap(tap, "br0")?;
    }
    let vm = DiskVm {
        name: &name,
        firmware: vm_of.firmware,
        nic: b.network.then_some((ns, tap, vm_of.case.mac)),
        disk: vm_of.disk,
        // debootstrap keeps the downloaded packages in the target, not in RAM; more
        // memory gives the second stage's dpkg and update-initramfs page cache.
        memory_mib: match vm_of.case.method {
            Method::Image => 1024,
            Method::Packages => 2048,
        },
        serial: &serial,
        firmware_log: &firmware_log,
        vga: false,
    };
    let mut q = qemu::start_disk_vm(&vm, lab.accel, &lab.work)?;
    let (seen, fatal) = super::probe::watch_until(
        &these,
        &b.phases,
        &b.done,
        &b.fatal,
        b.limit,
        &interrupted,
        || {
            tick();
            q.alive()
        },
    );
    q.stop();
    if b.network {
        let _ = net::ip(&["-n", ns, "link", "del", tap]);
    }
    // Once more after the watch: the failover case's timeline copy may have been
    // refreshed before the last events reached the database.
    tick();
    let missing = b
        .phases
        .iter()
        .zip(&seen)
        .filter(|(p, s)| s.is_none() && !p.seen_in(&these))
        .map(|(p, _)| p.label.clone())
        .collect::<Vec<_>>();
    if !missing.is_empty() || fatal.is_some() {
        let text = these.text(Source::Serial);
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        println!("  the serial console's last lines ({}):", serial.display());
        for l in tail.iter().rev() {
            println!("    | {}", l.trim_end());
        }
        let fw = these.text(Source::Firmware);
        if let Some(l) = fw.lines().rev().find(|l| !l.trim().is_empty()) {
            println!("  the firmware's last line: {}", l.trim());
        }
    }
    Ok(BootResult {
        missing,
        fatal,
        took: start.elapsed(),
    })
}
