//! The install cases of issue 12: a VM with an empty disk installs an operating system
//! through our three daemons, reboots, boots that disk, reports its first boot, and then
//! boots the disk once more with no network device at all.
//!
//! `install-image-bios`: SeaBIOS with qemu's iPXE ROM → pxelinux → the deploy kernel and
//! initramfs (the machine's profile has a `deploy` section) → the agent streams the
//! lab's Debian 12 image (`debian12.raw.zst`, served by httpd-tree as a tree) to the disk,
//! grows and configures it → install-complete callback → reboot (qemu exits:
//! `-no-reboot`) → network boot again → the generated `LOCALBOOT 0` entry → SeaBIOS boots
//! the disk → GRUB → Debian → the first-boot unit reports to httpd-tree → a last boot with
//! `-nic none` shows the inventory's hostname at the login prompt.
//!
//! Selected by name only (`cargo xtask e2e --case install`, or `--case
//! install-image-bios`): they need `cargo xtask image` and `cargo xtask deploy-image`
//! (both cached under the target directory) and take minutes under TCG.

use super::probe::{Logs, Phase, Source, all_seen, phase, phase_any};
use super::qemu::{self, DiskVm};
use super::{Lab, Report, interrupted, net};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The install cases, in the order `--case install` runs them.
pub(crate) const NAMES: &[&str] = &["install-image-bios"];

/// The cases a `--case` word names: `install` is all of them.
pub(crate) fn select(word: &str) -> Result<Vec<&'static str>> {
    if word == "install" {
        return Ok(NAMES.to_vec());
    }
    match NAMES.iter().find(|n| **n == word) {
        Some(n) => Ok(vec![*n]),
        None => bail!(
            "--case {word}: no such install case (install cases: {}; `install` runs them all)",
            NAMES.join(", ")
        ),
    }
}

pub(crate) fn describe(name: &str) -> &'static str {
    match name {
        "install-image-bios" => {
            "case install-image-bios: SeaBIOS + iPXE ROM, pxelinux, deploy initramfs, Debian 12 image \
             to an empty disk, callback, reboot, LOCALBOOT, the disk boots, first boot reported, \
             then a boot with no network device"
        }
        _ => "an install case",
    }
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    match name {
        "install-image-bios" => {
            let r = image_bios(lab);
            lab.stop_all();
            r
        }
        other => bail!("no install case {other}"),
    }
}

const MAC: &str = "52:54:00:77:00:30";
const MACHINE: &str = "install-bios";
const HOSTNAME: &str = "install-bios.lab.example";
/// The machine's disk: the image's 2 GiB and room for the agent to grow the root into.
const DISK_SIZE: &str = "3G";
/// A public key in the right form; nobody holds its private half.
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKeyForTheLabOnly ops@lab";

/// The inventory of the install cases: the deploy initramfs as a distro, the lab's
/// images as a tree httpd-tree serves, one machine whose profile deploys the image.
fn inventory(deploy_dir: &Path, images_dir: &Path, sha256: &str) -> String {
    format!(
        "# Written by cargo xtask e2e --case install.
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
  debian12-image:
    distro: pxe-deploy
    chain: classic
    kernel_args: console=ttyS0 panic=-1
    description: Debian 12 image written by the deploy agent
    deploy:
      image:
        url: /trees/lab-images/debian12.raw.zst
        sha256: {sha256}
      disk: {{device: /dev/vda, firmware: bios}}
      users:
        - name: ops
          sudo: true
          ssh_keys: [{KEY}]
      post: |
        #!/bin/sh
        echo 'installed by pxe-suite (install-image-bios)' > /etc/motd

machines:
  {MACHINE}:
    mac: {MAC}
    hostname: {HOSTNAME}
    profile: debian12-image
",
        deploy = deploy_dir.display(),
        images = images_dir.display(),
    )
}

fn short_hostname() -> &'static str {
    HOSTNAME.split('.').next().unwrap_or(HOSTNAME)
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

/// What no good boot of the disk shows (SeaBIOS's debug port, the serial console).
fn disk_fatal() -> Vec<Phase> {
    vec![
        phase(Source::Firmware, "No bootable device", ""),
        phase(Source::Serial, "grub rescue>", ""),
        phase(Source::Serial, "Kernel panic", ""),
        phase(Source::Serial, "(initramfs)", ""),
    ]
}

fn pxelinux_cfg() -> String {
    super::pxelinux_name(MAC)
}

fn deploy_boot() -> Boot {
    let plan = format!("/deploy/{MAC}");
    let plan_encoded = format!("/deploy/{}", MAC.replace(':', "%3A"));
    Boot {
        label: "boot 1: network, deploy",
        network: true,
        phases: vec![
            phase(
                Source::Dhcp,
                "DHCPACK on",
                "DHCP: address and boot file (pxelinux.0)",
            ),
            phase(Source::Tftp, "pxelinux.0", "TFTP: pxelinux.0"),
            phase(
                Source::Tftp,
                &pxelinux_cfg(),
                "TFTP: generated pxelinux.cfg/01-<mac> (deploy entry)",
            ),
            phase(
                Source::Tftp,
                "trees/pxe-deploy/vmlinuz",
                "TFTP: deploy kernel",
            ),
            phase(
                Source::Tftp,
                "trees/pxe-deploy/initrd.gz",
                "TFTP: deploy initramfs",
            ),
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
            phase(
                Source::Timeline,
                "\"detail\":\"image started",
                "STEP: image started (debian12.raw.zst)",
            ),
            phase(
                Source::Timeline,
                "\"detail\":\"image progress",
                "STEP: image progress reported",
            ),
            phase(
                Source::Timeline,
                "\"detail\":\"image done",
                "STEP: image written, sha256 verified",
            ),
            phase(
                Source::Timeline,
                "\"detail\":\"grow done",
                "STEP: root grown",
            ),
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
        ],
        done: phase(Source::Serial, "reboot: Restarting system", ""),
        fatal: vec![
            phase(Source::Timeline, "\"phase\":\"deploy_failed\"", ""),
            phase(Source::Serial, "the machine is not installed", ""),
            phase(Source::Serial, "no DHCP answer on any interface", ""),
            phase(Source::Serial, "Kernel panic", ""),
            phase(Source::Firmware, "No bootable device", ""),
        ],
        limit: Duration::from_secs(480),
    }
}

fn first_disk_boot() -> Boot {
    let host = short_hostname();
    Boot {
        label: "boot 2: network again, local boot, first boot from disk",
        network: true,
        phases: vec![
            phase(
                Source::Dhcp,
                "DHCPACK on",
                "DHCP: the installed machine boots from the network again",
            ),
            phase(
                Source::Tftp,
                &pxelinux_cfg(),
                "TFTP: generated pxelinux.cfg/01-<mac> (LOCALBOOT 0)",
            ),
            phase(
                Source::Firmware,
                "Booting from Hard Disk",
                "BIOS: SeaBIOS boots the disk",
            ),
            phase(Source::Serial, "GNU GRUB", "VM: GRUB from the disk"),
            phase(Source::Serial, "Linux version", "VM: Debian's kernel"),
            phase(
                Source::Serial,
                &format!("{host} login:"),
                "VM: login prompt with the inventory's hostname",
            ),
            phase(
                Source::Timeline,
                "\"phase\":\"first_boot\"",
                "HTTP: first boot reported (first-boot unit)",
            ),
        ],
        // The first-boot report and the login prompt come in either order.
        done: all_seen(),
        fatal: {
            let mut f = disk_fatal();
            // An installed machine must not be handed the deploy kernel again.
            f.push(phase(Source::Tftp, "trees/pxe-deploy/vmlinuz", ""));
            f
        },
        limit: Duration::from_secs(360),
    }
}

fn offline_boot() -> Boot {
    let host = short_hostname();
    Boot {
        label: "boot 3: the disk alone, no network device",
        network: false,
        phases: vec![
            phase(
                Source::Firmware,
                "Booting from Hard Disk",
                "BIOS: SeaBIOS boots the disk",
            ),
            phase(Source::Serial, "GNU GRUB", "VM: GRUB"),
            phase(Source::Serial, "Linux version", "VM: kernel"),
            phase(
                Source::Serial,
                &format!("{host} login:"),
                "VM: login prompt with the inventory's hostname",
            ),
        ],
        done: phase(Source::Serial, &format!("{host} login:"), ""),
        fatal: disk_fatal(),
        limit: Duration::from_secs(300),
    }
}

/// The image and the deploy initramfs, built or found current.
fn prepare() -> Result<(PathBuf, PathBuf, String)> {
    crate::image::run(&[]).context("cargo xtask image")?;
    let out = crate::deploy_image::build().context("cargo xtask deploy-image")?;
    let deploy_dir = out
        .initrd
        .parent()
        .context("the deploy image's directory")?
        .to_owned();
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
    Ok((deploy_dir, images, sha256))
}

fn image_bios(lab: &mut Lab) -> Result<Report> {
    let started = Instant::now();
    if lab.dhcp != super::Dhcp::Ours {
        bail!("the install cases need our dhcpd (it reads the inventory); drop --dhcpd isc");
    }
    let (deploy_dir, images, sha256) = prepare()?;
    println!(
        "  {:>6.1}s  prep  deploy initramfs and Debian 12 image ready ({})",
        started.elapsed().as_secs_f64(),
        images.join("debian12.raw.zst").display()
    );
    let inv = inventory(&deploy_dir, &images, &sha256);
    let conf = super::lab_conf(lab.dhcp);
    let root = lab.assets.tftp_root.clone();
    let (ns, logs, state) = lab.single_host("install", &conf, Some(Some(&inv)), &root)?;
    let disk = lab.work.join(format!("{MACHINE}.qcow2"));
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
    println!(
        "          an empty {DISK_SIZE} qcow2 disk; machine {MACHINE} ({MAC}), hostname {HOSTNAME}"
    );
    let timeline = state.join(format!("events/{MACHINE}.jsonl"));
    let mut report = Report {
        name: "install-image-bios".into(),
        ok: true,
        why: String::new(),
        took: Duration::ZERO,
    };
    let boots = [deploy_boot(), first_disk_boot(), offline_boot()];
    let mut times = Vec::new();
    for (i, b) in boots.iter().enumerate() {
        println!("  {}", b.label);
        let r = boot(lab, &ns, &logs, &timeline, &disk, i + 1, b)?;
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
            && let Some(line) = image_stats(&state, &inv)
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
    let stages = stage_lines(&state, &inv);
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
fn install_of(state: &Path, inv: &str) -> Option<pxe_model::timeline::Install> {
    use pxe_model::StateStore as _;
    let store = pxe_model::FileStore::open(state).ok()?;
    let events = store.events(MACHINE, 1000).ok()?;
    let st = store.get(MACHINE).ok()?;
    let inv = pxe_model::load_str("inventory.yaml", inv, Path::new(".")).ok()?;
    let distro = inv
        .machines
        .get(MACHINE)
        .and_then(|m| inv.profile_of(m))
        .map(|(_, d)| d);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Some(pxe_model::timeline::build(&events, &st, distro, now))
}

/// How long the image step took and what it moved, from the machine's timeline.
fn image_stats(state: &Path, inv: &str) -> Option<String> {
    use pxe_model::deploy_plan::Step;
    use pxe_model::timeline::Stage;
    let install = install_of(state, inv)?;
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
fn stage_lines(state: &Path, inv: &str) -> Vec<String> {
    use pxe_model::timeline::{human_bytes, human_ms};
    let Some(install) = install_of(state, inv) else {
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

/// The timeline's first-boot entry, as the state directory holds it.
fn first_boot_proof(timeline: &Path) -> Option<String> {
    std::fs::read_to_string(timeline)
        .ok()?
        .lines()
        .find(|l| l.contains("\"phase\":\"first_boot\""))
        .map(str::to_owned)
}

fn boot(
    lab: &mut Lab,
    ns: &str,
    logs: &Logs,
    timeline: &Path,
    disk: &Path,
    n: usize,
    b: &Boot,
) -> Result<BootResult> {
    let start = Instant::now();
    let name = format!("{MACHINE}-{n}");
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
        nic: b.network.then_some((ns, tap, MAC)),
        disk,
        serial: &serial,
        firmware_log: &firmware_log,
    };
    let mut q = qemu::start_disk_vm(&vm, lab.accel, &lab.work)?;
    let (seen, fatal) = super::probe::watch_until(
        &these,
        &b.phases,
        &b.done,
        &b.fatal,
        b.limit,
        &interrupted,
        || q.alive(),
    );
    q.stop();
    if b.network {
        let _ = net::ip(&["-n", ns, "link", "del", tap]);
    }
    let missing = b
        .phases
        .iter()
        .zip(&seen)
        .filter(|(_, s)| s.is_none())
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
