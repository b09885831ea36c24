//! The lab: real VMs network-boot through our dhcpd, tftpd and httpd-tree, inside
//! network namespaces that exist only for the run. `cargo xtask demo` runs one boot
//! and shows it; `cargo xtask e2e` runs every case and fails if any fails.

mod arm64;
pub(crate) mod assets;
mod daemons;
mod failover;
mod initramfs;
mod install;
mod ipv6;
mod menus;
mod named;
pub(crate) mod net;
mod power;
mod probe;
pub(crate) mod procs;
mod proxydhcp;
mod qemu;
mod secureboot;

use anyhow::{Context, Result, bail};
use daemons::{Bins, Dhcp, Inv, Store};
use net::Netns;
use probe::{Logs, Phase, Source, phase, phase_any};
use procs::Proc;
use qemu::{Accel, Firmware};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Options of a lab run.
pub(crate) struct Options {
    /// Case letters to run (`a`..`g`); empty (and no `named`): all of them.
    pub(crate) cases: Vec<char>,
    /// Cases chosen by name (see `named.rs`: `install` or `install-image-bios`, …); with
    /// no `--case`, the named cases marked for CI run after the lettered ones.
    pub(crate) named: Vec<&'static str>,
    pub(crate) dhcp: Dhcp,
    /// Keep the work directory for inspection.
    pub(crate) keep: bool,
}

pub(crate) fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        cases: Vec::new(),
        named: Vec::new(),
        dhcp: Dhcp::Ours,
        keep: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--case" => {
                let v = it
                    .next()
                    .context("--case needs letters or names, e.g. --case ab, --case install")?;
                for word in v.split(',').filter(|w| !w.is_empty()) {
                    if word == "httpboot" {
                        // Every UEFI HTTP boot case: IPv4 (j) and IPv6.
                        o.cases.push('j');
                        o.named.extend(named::select("ipv6-httpboot")?);
                    } else if word == "httpboot-ipxe" {
                        o.cases.push('j');
                    } else if named::is_named(word) {
                        o.named.extend(named::select(word)?);
                    } else if let Some(c) = word.chars().find(|c| !('a'..='j').contains(c)) {
                        bail!(
                            "--case {word}: no case {c:?} (cases: letters a to j, httpboot, {})",
                            named::all_names().join(", ")
                        );
                    } else {
                        o.cases.extend(word.chars());
                    }
                }
            }
            "--dhcpd" => match it.next().map(String::as_str) {
                Some("ours") => o.dhcp = Dhcp::Ours,
                Some("isc") => o.dhcp = Dhcp::Isc,
                _ => bail!("--dhcpd takes ours or isc"),
            },
            "--keep" => o.keep = true,
            // `cargo xtask demo --install`: the BIOS install case, with its live phases
            // (`--case install` runs every install case).
            "--install" => o.named.extend(named::select("install-image-bios")?),
            other => {
                bail!(
                    "unknown option {other} (options: --case LETTERS|install|NAME, --install, --dhcpd ours|isc, --keep)"
                )
            }
        }
    }
    Ok(o)
}

const BIOS_MAC: &str = "52:54:00:77:00:10";
const UEFI_MAC: &str = "52:54:00:77:00:11";
const IPXE_MAC: &str = "52:54:00:77:00:12";
const INSTALLER_MAC: &str = "52:54:00:77:00:13";
const HTTPBOOT_MAC: &str = "52:54:00:77:00:14";
const CLASSIC_MAC: &str = "52:54:00:77:00:20";

/// Everything a run owns; dropping it stops every process and deletes every namespace.
struct Lab {
    work: PathBuf,
    keep: bool,
    bins: Bins,
    accel: Accel,
    assets: assets::Assets,
    dhcp: Dhcp,
    // Processes before namespaces: fields drop in order.
    procs: Vec<Proc>,
    nets: Vec<Netns>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.stop();
        }
        self.procs.clear();
        self.nets.clear();
        if self.keep {
            eprintln!("lab: work directory kept at {}", self.work.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

/// The result of one case.
struct Report {
    name: String,
    ok: bool,
    why: String,
    took: Duration,
}

fn root_dir() -> PathBuf {
    crate::ci::workspace_root()
}

pub(crate) fn build_daemons() -> Result<Bins> {
    // Prebuilt binaries (for example a release build) can be named instead. pxectl is the
    // power case's operator; built in the same run, the crates they share are built once.
    if let Some(dir) = std::env::var_os("PXE_LAB_BIN_DIR") {
        return Ok(Bins {
            dir: PathBuf::from(dir),
        });
    }
    let root = root_dir();
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "dhcpd", "-p", "tftpd", "-p", "httpd-tree"])
            .args(["-p", "pxectl"])
            .current_dir(&root)
            .status()
            .context("building the daemons")?;
    if !status.success() {
        bail!("cargo build of the daemons failed");
    }
    Ok(Bins {
        dir: crate::dist::target_dir(&root).join("debug"),
    })
}

fn setup(opts: &Options) -> Result<Lab> {
    if !nix_is_root() {
        bail!("the lab needs root (network namespaces, tap devices, apt-get)");
    }
    ctrlc_handler()?;
    crate::ci::install(assets::PACKAGES)?;
    if opts.dhcp == Dhcp::Isc {
        crate::ci::install(&["isc-dhcp-server"])?;
    }
    let bins = build_daemons()?;
    let work = std::env::temp_dir().join(format!("pxe-lab-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let assets = assets::prepare(&work)?;
    // The VM console logs are world-readable; nothing secret is in the lab.
    let accel = qemu::detect(
        &work,
        &assets.kernel,
        &assets.marker_initrd,
        initramfs::MARKER,
    );
    println!(
        "lab: work directory {}, VMs under {}",
        work.display(),
        accel.name()
    );
    Ok(Lab {
        work,
        keep: opts.keep,
        bins,
        accel,
        assets,
        dhcp: opts.dhcp,
        procs: Vec::new(),
        nets: Vec::new(),
    })
}

pub(crate) fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn ctrlc_handler() -> Result<()> {
    // Ctrl-C sets a flag; every wait loop checks it, and `Lab`'s drop cleans up. Installed
    // once per process: `cargo xtask ci` sets up the lab twice (the cases, then an install).
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// A namespace name unique to this run.
fn ns_name(role: &str) -> String {
    format!("pxelab{}-{role}", std::process::id())
}

impl Lab {
    /// Copies the lab inventory (or writes `text` instead) next to the trees and gives it
    /// a fresh state directory.
    fn inventory(&self, tag: &str, text: Option<&str>) -> Result<(PathBuf, PathBuf)> {
        let dir = self.work.join(format!("inv-{tag}"));
        std::fs::create_dir_all(&dir)?;
        let inv = dir.join("inventory.yaml");
        match text {
            Some(text) => std::fs::write(&inv, text)?,
            None => {
                std::fs::copy(root_dir().join("deploy/examples/lab/inventory.yaml"), &inv)?;
            }
        }
        // The trees sit beside the inventory, as its relative paths say.
        let trees = dir.join("trees");
        if !trees.exists() {
            std::os::unix::fs::symlink(self.work.join("trees"), &trees)?;
        }
        let state = dir.join("state");
        std::fs::create_dir_all(&state)?;
        Ok((inv, state))
    }

    /// One namespace with a bridge carrying the TFTP and HTTP addresses; all three
    /// daemons and the VMs live there. `inventory`: the lab's (`Some(None)`), another
    /// (`Some(Some(text))`) or none.
    fn single_host(
        &mut self,
        tag: &str,
        conf: &Path,
        inventory: Option<Option<&str>>,
        tftp_root: &Path,
    ) -> Result<(String, Logs, PathBuf)> {
        let with_inventory = inventory.is_some();
        let ns = Netns::create(&ns_name(tag))?;
        ns.bridge("br0")?;
        ns.addr("br0", "10.77.0.2/24")?;
        ns.addr("br0", "10.77.0.3/24")?;
        let name = ns.name.clone();
        self.nets.push(ns);
        let (inv, state) = self.inventory(tag, inventory.flatten())?;
        let invref = Inv {
            file: &inv,
            state: Store::Dir(&state),
        };
        let invopt = with_inventory.then_some(&invref);
        let d = daemons::dhcpd(
            &self.bins, self.dhcp, &name, "br0", conf, invopt, &self.work,
        )?;
        let t = daemons::tftpd(
            &self.bins,
            &name,
            "10.77.0.2",
            tftp_root,
            invopt,
            &self.work,
        )?;
        let mut files = vec![(Source::Dhcp, d.log.clone()), (Source::Tftp, t.log.clone())];
        self.procs.push(d);
        self.procs.push(t);
        if with_inventory {
            let h = daemons::httpd(
                &self.bins,
                &name,
                "10.77.0.3",
                &self.assets.tftp_root,
                &invref,
                &self.work,
            )?;
            files.push((Source::Http, h.log.clone()));
            self.procs.push(h);
        }
        self.settle()?;
        Ok((name, Logs::new(files), state))
    }

    /// Split hosts: dhcpd, tftpd and httpd-tree each in its own namespace with its own
    /// address, joined by a bridge in a fourth that also holds the VM's tap.
    fn split_hosts(&mut self, conf: &Path) -> Result<(String, Logs, PathBuf)> {
        let lan = Netns::create(&ns_name("lan"))?;
        lan.bridge("br0")?;
        let mut hosts = Vec::new();
        for (role, cidr) in [
            ("dhcp", "10.77.0.4/24"),
            ("tftp", "10.77.0.2/24"),
            ("http", "10.77.0.3/24"),
        ] {
            let h = Netns::create(&ns_name(role))?;
            lan.link_host("br0", &h, "eth0", cidr)?;
            hosts.push(h.name.clone());
            self.nets.push(h);
        }
        let lan_name = lan.name.clone();
        self.nets.push(lan);
        let (inv, state) = self.inventory("split", None)?;
        let invref = Inv {
            file: &inv,
            state: Store::Dir(&state),
        };
        let d = daemons::dhcpd(
            &self.bins,
            self.dhcp,
            &hosts[0],
            "eth0",
            conf,
            Some(&invref),
            &self.work,
        )?;
        let t = daemons::tftpd(
            &self.bins,
            &hosts[1],
            "10.77.0.2",
            &self.assets.tftp_root,
            Some(&invref),
            &self.work,
        )?;
        let h = daemons::httpd(
            &self.bins,
            &hosts[2],
            "10.77.0.3",
            &self.assets.tftp_root,
            &invref,
            &self.work,
        )?;
        let files = vec![
            (Source::Dhcp, d.log.clone()),
            (Source::Tftp, t.log.clone()),
            (Source::Http, h.log.clone()),
        ];
        self.procs.extend([d, t, h]);
        self.settle()?;
        Ok((lan_name, Logs::new(files), state))
    }

    /// Gives the daemons a moment to bind, and fails early if one died.
    fn settle(&mut self) -> Result<()> {
        std::thread::sleep(Duration::from_millis(1500));
        for p in &mut self.procs {
            if !p.alive() {
                bail!("{} exited at start:\n{}", p.name, p.log_text());
            }
        }
        Ok(())
    }

    fn stop_all(&mut self) {
        for p in &mut self.procs {
            p.stop();
        }
        self.procs.clear();
        self.nets.clear();
    }

    /// Boots one VM and watches the phases of its case.
    fn run(&mut self, ns: &str, logs: &Logs, spec: &Spec) -> Result<Report> {
        let start = Instant::now();
        let tap = format!("tap{}", spec.vm.len() % 10);
        let netns = self
            .nets
            .iter()
            .find(|n| n.name == ns)
            .context("the VM's namespace")?;
        let _ = netns.ip(&["link", "del", &tap]);
        // A bridge named br0 exists in every lab namespace that holds VMs.
        netns.tap(&tap, "br0")?;
        let mut files = logs
            .files
            .iter()
            .map(|(s, p, _)| (*s, p.clone()))
            .collect::<Vec<_>>();
        let serial = self.work.join(format!("{}.serial.log", spec.vm));
        let _ = std::fs::remove_file(&serial);
        files.push((Source::Serial, serial));
        let logs = Logs::new(files);
        let mut q = qemu::start(
            ns,
            spec.vm,
            spec.mac,
            &tap,
            spec.firmware,
            self.accel,
            &self.work,
        )?;
        let limit = match self.accel {
            Accel::Kvm => Duration::from_secs(spec.tcg_secs / 2),
            Accel::Tcg => Duration::from_secs(spec.tcg_secs),
        };
        let seen = probe::watch(&logs, &spec.phases, &spec.done, limit, &interrupted, || {
            q.alive()
        });
        q.stop();
        let _ = net::ip(&["-n", ns, "link", "del", &tap]);
        Ok(verdict(spec.title, &spec.phases, &seen, start.elapsed()))
    }
}

/// One VM boot of a case: what it is, and the phases it must pass through.
struct Spec {
    title: &'static str,
    vm: &'static str,
    mac: &'static str,
    firmware: Firmware,
    phases: Vec<Phase>,
    /// Seeing this ends the boot.
    done: Phase,
    /// Time limit under TCG (half of it under KVM).
    tcg_secs: u64,
}

impl Report {
    fn fail(&mut self, why: String) {
        self.ok = false;
        self.why = if self.why.is_empty() {
            why
        } else {
            format!("{}; {why}", self.why)
        };
    }
}

fn verdict(name: &str, phases: &[Phase], seen: &[Option<Duration>], took: Duration) -> Report {
    let missing: Vec<&str> = phases
        .iter()
        .zip(seen)
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| p.label.as_str())
        .collect();
    Report {
        name: name.to_owned(),
        ok: missing.is_empty(),
        why: if missing.is_empty() {
            String::new()
        } else {
            format!("not seen: {}", missing.join("; "))
        },
        took,
    }
}

fn pxelinux_name(mac: &str) -> String {
    format!("pxelinux.cfg/01-{}", mac.replace(':', "-"))
}

/// The phases of a classic BIOS boot of the marker, through to its callback.
fn bios_phases(mac: &str) -> Vec<Phase> {
    vec![
        phase(
            Source::Dhcp,
            "DHCPACK on",
            "DHCP: address and boot file (pxelinux.0)",
        ),
        phase(Source::Tftp, "pxelinux.0", "TFTP: pxelinux.0"),
        phase(Source::Tftp, "ldlinux.c32", "TFTP: ldlinux.c32"),
        phase(
            Source::Tftp,
            &pxelinux_name(mac),
            "TFTP: generated pxelinux.cfg/01-<mac>",
        ),
        phase(Source::Tftp, "trees/marker/linux", "TFTP: kernel"),
        phase(Source::Tftp, "trees/marker/marker.img", "TFTP: initrd"),
        phase(
            Source::Serial,
            initramfs::MARKER,
            "VM: kernel and initramfs running (marker)",
        ),
        phase(
            Source::Http,
            &format!("/preseed/{mac}"),
            "HTTP: answer file",
        ),
        phase(
            Source::Serial,
            initramfs::CALLBACK_DONE,
            "VM: install-complete callback made",
        ),
    ]
}

pub(crate) fn marker_done() -> Phase {
    phase(Source::Serial, initramfs::MARKER, "")
}

fn spec_a(mac: &'static str, vm: &'static str, title: &'static str) -> Spec {
    Spec {
        title,
        vm,
        mac,
        firmware: Firmware::BiosIpxeRom,
        phases: bios_phases(mac),
        done: phase(Source::Serial, initramfs::CALLBACK_DONE, ""),
        tcg_secs: 180,
    }
}

fn case_a(lab: &mut Lab, ns: &str, logs: &Logs) -> Result<Report> {
    lab.run(
        ns,
        logs,
        &spec_a(BIOS_MAC, "bios-vm", "a. BIOS, classic chain"),
    )
}

fn case_b(lab: &mut Lab, ns: &str, logs: &Logs) -> Result<Report> {
    let mac = UEFI_MAC;
    let spec = Spec {
        title: "b. UEFI (OVMF's own PXE), GRUB",
        vm: "uefi-vm",
        mac,
        firmware: Firmware::UefiOwnPxe,
        phases: vec![
            phase(
                Source::Dhcp,
                "DHCPACK on",
                "DHCP: address and boot file (arch 7)",
            ),
            phase(Source::Tftp, "grubnetx64.efi", "TFTP: GRUB network image"),
            phase(Source::Tftp, "grub/grub.cfg", "TFTP: generated grub.cfg"),
            phase(
                Source::Tftp,
                &format!("grub.cfg-{mac}"),
                "TFTP: generated grub.cfg-<mac>",
            ),
            phase(Source::Tftp, "trees/marker/linux", "TFTP: kernel"),
            phase(Source::Tftp, "trees/marker/marker.img", "TFTP: initrd"),
            phase(Source::Serial, initramfs::MARKER, "VM: marker"),
        ],
        done: marker_done(),
        tcg_secs: 150,
    };
    lab.run(ns, logs, &spec)
}

/// UEFI HTTP boot (issue 18 part 2): OVMF, PXE and IPv6 off, asks as `HTTPClient` (arch 16)
/// and gets a URL with option 60 echoed; it fetches iPXE from httpd-tree's loaders (edk2
/// sends HEAD, then GET, and follows no redirect), and iPXE takes the machine's script.
fn case_j(lab: &mut Lab, ns: &str, logs: &Logs) -> Result<Report> {
    let mac = HTTPBOOT_MAC;
    let mut phases = vec![
        phase(
            Source::Dhcp,
            "DHCPACK on",
            "DHCP: HTTPClient (arch 16) gets a URL",
        ),
        phase(Source::Http, "/loaders/ipxe.efi", "HTTP: iPXE's UEFI image"),
    ];
    phases.extend(ipxe_script_phases(mac));
    let spec = Spec {
        title: "j. httpboot-ipxe: UEFI HTTP boot (OVMF, IPv4), iPXE over HTTP",
        vm: "httpboot-vm",
        mac,
        firmware: Firmware::UefiHttpBoot,
        phases,
        done: marker_done(),
        tcg_secs: 240,
    };
    let this = logs.tail();
    let mut r = lab.run(ns, logs, &spec)?;
    // edk2 asks HEAD before GET, and the loader came as a URL (never a redirect).
    if this.count(Source::Http, "\"HEAD /loaders/ipxe.efi ") == 0 {
        r.fail("no HEAD of /loaders/ipxe.efi: not edk2's HTTP boot".into());
    }
    if this.count(Source::Http, "/loaders/ipxe.efi HTTP/1.1\" 30") > 0 {
        r.fail("the loader was answered with a redirect".into());
    }
    Ok(r)
}

/// What iPXE does once it runs: the machine's script, kernel and initrd over HTTP, and the
/// marker on the console.
pub(crate) fn ipxe_script_phases(mac: &str) -> Vec<Phase> {
    let script = format!("/boot/{mac}.ipxe");
    // iPXE percent-encodes the colons of `${mac}` in the URL it asks for.
    let script_encoded = format!("/boot/{}.ipxe", mac.replace(':', "%3A"));
    vec![
        phase_any(
            Source::Http,
            &[&script, &script_encoded],
            "HTTP: iPXE script",
        ),
        phase(Source::Http, "/trees/marker/linux", "HTTP: kernel"),
        phase(Source::Http, "/trees/marker/marker.img", "HTTP: initrd"),
        phase(Source::Serial, initramfs::MARKER, "VM: marker"),
    ]
}

fn case_c(lab: &mut Lab, ns: &str, logs: &Logs) -> Result<Report> {
    let mac = IPXE_MAC;
    let script = format!("/boot/{mac}.ipxe");
    // iPXE percent-encodes the colons of `${mac}` in the URL it asks for.
    let script_encoded = format!("/boot/{}.ipxe", mac.replace(':', "%3A"));
    let spec = Spec {
        title: "c. iPXE over HTTP",
        vm: "ipxe-vm",
        mac,
        firmware: Firmware::BiosIpxeRom,
        phases: [phase(
            Source::Dhcp,
            "DHCPACK on",
            "DHCP: iPXE gets a script URL",
        )]
        .into_iter()
        .chain(ipxe_script_phases(mac))
        .collect(),
        done: marker_done(),
        tcg_secs: 150,
    };
    let this = logs.tail();
    let mut r = lab.run(ns, logs, &spec)?;
    // No chainload loop: the script is fetched once, the iPXE binary never. Counted in the
    // access lines (`"GET /boot/… HTTP/1.1"`): httpd-tree's `request` event names the path too.
    let scripts = this.count(Source::Http, &format!("\"GET {script} "))
        + this.count(Source::Http, &format!("\"GET {script_encoded} "));
    if scripts > 1 {
        r.fail(format!(
            "the script was fetched {scripts} times (a chainload loop)"
        ));
    }
    Ok(r)
}

fn case_d(lab: &mut Lab, ns: &str, logs: &Logs) -> Result<Report> {
    let mac = INSTALLER_MAC;
    let preseed = format!("/preseed/{mac}");
    let spec = Spec {
        title: "d. Debian installer, preseeded",
        vm: "installer-vm",
        mac,
        firmware: Firmware::BiosIpxeRom,
        phases: vec![
            phase(Source::Dhcp, "DHCPACK on", "DHCP: first exchange (PXE ROM)"),
            phase(
                Source::Tftp,
                &pxelinux_name(mac),
                "TFTP: generated pxelinux.cfg/01-<mac>",
            ),
            phase(
                Source::Tftp,
                "trees/debian12/debian-installer/amd64/linux",
                "TFTP: installer kernel",
            ),
            phase(
                Source::Tftp,
                "trees/debian12/debian-installer/amd64/initrd.gz",
                "TFTP: installer initrd",
            ),
            phase(
                Source::Http,
                &preseed,
                "HTTP: the installer fetched its preseed",
            ),
        ],
        done: phase(Source::Http, &preseed, ""),
        tcg_secs: 300,
    };
    let this = logs.tail();
    let mut r = lab.run(ns, logs, &spec)?;
    // The installer's own DHCP exchange is the second of the boot.
    let acks = this.count(Source::Dhcp, "DHCPACK on");
    if acks < 2 {
        r.fail(format!(
            "only {acks} DHCPACK: the installer's own exchange is missing"
        ));
    }
    Ok(r)
}

fn case_e(lab: &mut Lab, ns: &str, logs: &Logs, state: &Path) -> Result<Report> {
    use pxe_model::StateStore;
    let mac = BIOS_MAC;
    let before = pxe_model::FileStore::open(state)?.get("bios-vm")?.state;
    let spec = Spec {
        title: "e. No reinstall loop",
        vm: "bios-vm",
        mac,
        firmware: Firmware::BiosIpxeRom,
        phases: vec![
            phase(
                Source::Dhcp,
                "DHCPACK on",
                "DHCP: the installed machine boots from the network again",
            ),
            phase(
                Source::Tftp,
                &pxelinux_name(mac),
                "TFTP: generated pxelinux.cfg/01-<mac> (local boot)",
            ),
        ],
        // Its install kernel must not follow; the watch ends at the time limit.
        done: phase(Source::Tftp, "trees/marker/linux", ""),
        tcg_secs: 70,
    };
    let this = logs.tail();
    let mut r = lab.run(ns, logs, &spec)?;
    if before != pxe_model::InstallState::Installed {
        r.fail(format!(
            "bios-vm was {} before its second boot, not installed",
            before.as_str()
        ));
    }
    if this.text(Source::Tftp).contains("trees/marker/linux") {
        r.fail("the installed machine was handed its install kernel again".into());
    }
    let inv = pxe_model::load(&state.join("../inventory.yaml"))?;
    let store = pxe_model::FileStore::open(state)?;
    let state_of = |m: &str| store.get(m).map(|s| s.state).unwrap_or_default();
    let file = pxe_model::render::boot_file(&inv, &pxelinux_name(mac), None, &state_of);
    if !file.is_some_and(|f| f.content.contains("LOCALBOOT 0")) {
        r.fail("its pxelinux file does not boot locally".into());
    }
    Ok(r)
}

/// A TFTP root as the classic guides lay it out, with a static menu on disk.
fn classic_tftp_root(lab: &Lab) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = lab.work.join("classic-tftpboot");
    std::fs::create_dir_all(root.join("pxelinux.cfg"))?;
    std::fs::create_dir_all(root.join("marker"))?;
    std::fs::copy(
        lab.assets.tftp_root.join("pxelinux.0"),
        root.join("pxelinux.0"),
    )?;
    std::fs::copy(
        lab.assets.tftp_root.join("ldlinux.c32"),
        root.join("ldlinux.c32"),
    )?;
    std::fs::copy(&lab.assets.kernel, root.join("marker/linux"))?;
    std::fs::copy(&lab.assets.marker_initrd, root.join("marker/marker.img"))?;
    std::fs::write(
        root.join("pxelinux.cfg/default"),
        "DEFAULT marker\nPROMPT 0\nTIMEOUT 0\nLABEL marker\n  KERNEL marker/linux\n  APPEND initrd=marker/marker.img console=ttyS0 panic=-1\n",
    )?;
    for dir in [root.clone(), root.join("pxelinux.cfg"), root.join("marker")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        for e in std::fs::read_dir(&dir)? {
            let e = e?.path();
            if e.is_file() {
                std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o644))?;
            }
        }
    }
    Ok(root)
}

fn case_g(lab: &mut Lab) -> Result<Report> {
    let root = classic_tftp_root(lab)?;
    let conf = root_dir().join("deploy/examples/lab/dhcpd-classic.conf");
    let (ns, logs, _) = lab.single_host("classic", &conf, None, &root)?;
    let spec = Spec {
        title: "g. Classic ISC-style config, no inventory",
        vm: "classic-vm",
        mac: CLASSIC_MAC,
        firmware: Firmware::BiosIpxeRom,
        phases: vec![
            phase(
                Source::Dhcp,
                "DHCPACK on",
                "DHCP: class pxeclients gives pxelinux.0",
            ),
            phase(Source::Tftp, "pxelinux.0", "TFTP: pxelinux.0"),
            phase(Source::Tftp, "ldlinux.c32", "TFTP: ldlinux.c32"),
            phase(
                Source::Tftp,
                "pxelinux.cfg/default",
                "TFTP: static pxelinux.cfg/default from disk",
            ),
            phase(Source::Tftp, "marker/linux", "TFTP: kernel"),
            phase(Source::Serial, initramfs::MARKER, "VM: marker"),
        ],
        done: marker_done(),
        tcg_secs: 180,
    };
    let r = lab.run(&ns, &logs, &spec);
    lab.stop_all();
    r
}

fn case_f(lab: &mut Lab) -> Result<Report> {
    let conf = lab_conf(lab.dhcp);
    let (lan, logs, _) = lab.split_hosts(&conf)?;
    let spec = spec_a(
        BIOS_MAC,
        "split-vm",
        "f. Split hosts (DHCP, TFTP, HTTP on three hosts)",
    );
    let r = lab.run(&lan, &logs, &spec);
    lab.stop_all();
    r
}

/// The lab's dhcpd.conf: ours reads the inventory; ISC dhcpd (for comparison runs)
/// gets the classic class-based setup, which it can act on.
fn lab_conf(dhcp: Dhcp) -> PathBuf {
    match dhcp {
        Dhcp::Ours => root_dir().join("deploy/examples/lab/dhcpd.conf"),
        Dhcp::Isc => root_dir().join("deploy/examples/lab/dhcpd-classic.conf"),
    }
}

fn print_summary(reports: &[Report]) -> bool {
    println!("\nlab summary:");
    for r in reports {
        println!(
            "  {} {:<52} {:>6.1}s {}",
            if r.ok { "ok  " } else { "FAIL" },
            r.name,
            r.took.as_secs_f64(),
            r.why
        );
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    println!("lab: {} passed, {failed} failed", reports.len() - failed);
    failed == 0
}

/// Runs the lettered cases in `wanted` and the named cases in `names`; with both empty,
/// every lettered case and the named cases marked for CI.
fn run_cases(lab: &mut Lab, wanted: &[char], names: &[&'static str]) -> Result<Vec<Report>> {
    let all = wanted.is_empty() && names.is_empty();
    let want = |c: char| all || wanted.contains(&c);
    let names = if all { named::in_ci() } else { names.to_vec() };
    let mut reports = Vec::new();
    if ['a', 'b', 'c', 'd', 'e', 'j'].iter().any(|c| want(*c)) {
        let conf = lab_conf(lab.dhcp);
        let root = lab.assets.tftp_root.clone();
        let (ns, logs, state) = lab.single_host("one", &conf, Some(None), &root)?;
        type Case = fn(&mut Lab, &str, &Logs) -> Result<Report>;
        let cases: [(char, Case); 5] = [
            ('a', case_a),
            ('b', case_b),
            ('c', case_c),
            ('d', case_d),
            ('j', case_j),
        ];
        for (letter, case) in cases {
            // Case e needs a's callback, so a runs whenever e does.
            if want(letter) || (letter == 'a' && want('e')) {
                println!("\n{}", describe(letter));
                reports.push(case(lab, &ns, &logs)?);
            }
            if interrupted() {
                bail!("interrupted");
            }
        }
        if want('e') {
            println!("\n{}", describe('e'));
            reports.push(case_e(lab, &ns, &logs, &state)?);
        }
        lab.stop_all();
    }
    type Alone = fn(&mut Lab) -> Result<Report>;
    let alone: [(char, Alone); 4] = [
        ('f', case_f),
        ('g', case_g),
        ('h', menus::case_h),
        ('i', menus::case_i),
    ];
    for (letter, case) in alone {
        if want(letter) && !interrupted() {
            println!("\n{}", describe(letter));
            let started = Instant::now();
            let outcome = case(lab);
            reports.push(settled(lab, &format!("case {letter}"), started, outcome));
        }
    }
    for name in names {
        if interrupted() {
            bail!("interrupted");
        }
        println!("\n{}", named::describe(name));
        let started = Instant::now();
        let outcome = named::run(lab, name);
        reports.push(settled(lab, name, started, outcome));
    }
    Ok(reports)
}

/// A case whose set-up failed is a failed case, not the end of the run: the cases after
/// it still run, and its line in the summary says what failed and how much disk was free
/// (CI keeps only what was printed, and a full disk was the cause twice).
fn settled(lab: &mut Lab, name: &str, started: Instant, outcome: Result<Report>) -> Report {
    match outcome {
        Ok(report) => report,
        Err(e) => {
            lab.stop_all();
            let disk = crate::ci::disk_free(&lab.work);
            eprintln!("lab: {name} could not run: {e:#} ({disk})");
            Report {
                name: name.to_owned(),
                ok: false,
                why: format!("could not run: {e:#}; {disk}"),
                took: started.elapsed(),
            }
        }
    }
}

fn describe(letter: char) -> &'static str {
    match letter {
        'a' => {
            "case a: BIOS with qemu's iPXE ROM, classic chain: pxelinux, generated menu, kernel and initrd over TFTP"
        }
        'b' => {
            "case b: UEFI with OVMF's own PXE (arch 7): GRUB, generated grub.cfg, kernel and initrd over TFTP"
        }
        'c' => {
            "case c: iPXE over HTTP: script, kernel and initrd from httpd-tree, no chainload loop"
        }
        'd' => {
            "case d: Debian's netboot installer: its own DHCP exchange and its preseed from httpd-tree"
        }
        'e' => "case e: after the callback, the same VM boots again and gets the local-boot entry",
        'j' => {
            "case j (httpboot-ipxe): UEFI HTTP boot over IPv4: OVMF with PXE and IPv6 off gets a URL, fetches iPXE from httpd-tree, iPXE runs the machine's script"
        }
        'f' => "case f: split hosts: dhcpd, tftpd and httpd-tree each in its own namespace",
        'i' => {
            "case i: Debian's pxelinux runs the generated menu's memtest entry: memtest86+ starts"
        }
        'h' => {
            "case h: Debian's pxelinux runs the generated vesamenu menu (background, colours) and its LOCALBOOT -1 entry boots the disk"
        }
        _ => {
            "case g: a hand-written ISC-style dhcpd.conf and a static pxelinux.cfg/default, no inventory"
        }
    }
}

/// `cargo xtask e2e`: every case; fails if any fails.
pub(crate) fn e2e(args: &[String]) -> Result<()> {
    let (_, failed) = e2e_counts(args)?;
    if failed > 0 {
        bail!("{failed} lab case(s) failed (rerun with --keep to keep the logs)");
    }
    Ok(())
}

/// Runs the cases and returns how many passed and failed.
pub(crate) fn e2e_counts(args: &[String]) -> Result<(u64, u64)> {
    let opts = parse_options(args)?;
    let mut lab = setup(&opts)?;
    let reports = run_cases(&mut lab, &opts.cases, &opts.named)?;
    print_summary(&reports);
    let failed = reports.iter().filter(|r| !r.ok).count() as u64;
    Ok((reports.len() as u64 - failed, failed))
}

/// `cargo xtask demo`: one VM installs itself (case a), then boots again from disk (e).
pub(crate) fn demo(args: &[String]) -> Result<()> {
    let mut opts = parse_options(args)?;
    if opts.cases.is_empty() && opts.named.is_empty() {
        opts.cases = vec!['a', 'e'];
    }
    let mut lab = setup(&opts)?;
    let reports = run_cases(&mut lab, &opts.cases, &opts.named)?;
    if !print_summary(&reports) {
        bail!("the demo boot failed; rerun with --keep to keep its logs");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_options;

    fn parse(args: &[&str]) -> anyhow::Result<super::Options> {
        parse_options(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn cases_are_letters_or_install_names() {
        let o = parse(&["--case", "ab,e"]).expect("letters");
        assert_eq!(o.cases, vec!['a', 'b', 'e']);
        assert!(o.named.is_empty());
        let o = parse(&["--case", "install"]).expect("install");
        assert!(o.cases.is_empty());
        assert_eq!(
            o.named,
            vec![
                "install-image-bios",
                "install-image-uefi",
                "install-packages-ipxe",
                "install-dhcp-failover"
            ]
        );
        let o = parse(&["--case", "a,install-image-uefi"]).expect("both");
        assert_eq!(o.cases, vec!['a']);
        assert_eq!(o.named, vec!["install-image-uefi"]);
        assert_eq!(
            parse(&["--install"]).expect("--install").named,
            vec!["install-image-bios"]
        );
        assert_eq!(
            parse(&["--case", "install-packages-ipxe"])
                .expect("a name")
                .named,
            vec!["install-packages-ipxe"]
        );
        let e = parse(&["--case", "install-packages-uefi"])
            .err()
            .expect("unknown name");
        assert!(
            e.to_string()
                .contains("install-image-bios, install-image-uefi, install-packages-ipxe"),
            "{e}"
        );
        let e = parse(&["--case", "az"]).err().expect("unknown letter");
        assert!(e.to_string().contains("'z'"), "{e}");
        // Firmware paths by the name issue 18 gives them.
        let every_http_boot = parse(&["--case", "httpboot"]).expect("httpboot");
        assert_eq!(every_http_boot.cases, vec!['j']);
        assert_eq!(every_http_boot.named, vec!["ipv6-httpboot"]);
        assert_eq!(
            parse(&["--case", "a,httpboot-ipxe"]).expect("both").cases,
            vec!['a', 'j']
        );
    }
}
