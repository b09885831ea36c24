//! Lab cases `proxydhcp-…` (issue 18 part 4): our dhcpd in `--proxy` mode beside a site
//! DHCP server that knows nothing of PXE (dnsmasq with one address range, no boot
//! options). The site server gives the address, the proxy the boot file (an offer with no
//! address on port 67, an ACK on the PXE boot server port 4011), and tftpd the files.
//!
//! Hosts: `site` (dnsmasq, 10.77.0.1) and `boot` (dhcpd --proxy and tftpd, 10.77.0.2) on
//! the lan bridge; for the relay case a `relay` host (dhcrelay, 10.77.0.254 on the lan and
//! 10.77.1.1 on the client's segment) forwards to both servers and routes between them.
//! Each case checks that the address came from the site server (its lease file holds the
//! VM's MAC with an address of the site's range), that the proxy handed out the boot file
//! and never an address, and that the kernel ran.

use super::daemons;
use super::net::{Netns, in_ns};
use super::probe::{Logs, Phase, Source, phase};
use super::procs::Proc;
use super::qemu::Firmware;
use super::{Lab, Report, Spec, initramfs, named::Named, ns_name};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

const BIOS_MAC: &str = "52:54:00:77:00:60";
const UEFI_MAC: &str = "52:54:00:77:00:61";
const RELAY_MAC: &str = "52:54:00:77:00:62";
const RELAY_UEFI_MAC: &str = "52:54:00:77:00:63";

const SITE: &str = "10.77.0.1";
const BOOT: &str = "10.77.0.2";
const RELAY_LAN: &str = "10.77.0.254";
const RELAY_SEGMENT: &str = "10.77.1.1";

/// The proxy's dhcpd.conf: subnets without ranges (the site server has the addresses),
/// and the boot file by architecture for PXE clients.
const PROXY_CONF: &str = r#"# proxyDHCP (dhcpd --proxy): boot information only, no ranges.
option arch code 93 = unsigned integer 16;
subnet 10.77.0.0 netmask 255.255.255.0 { }
subnet 10.77.1.0 netmask 255.255.255.0 { }
class "pxeclients" {
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  next-server 10.77.0.2;
  if option arch = 00:07 or option arch = 00:09 {
    filename "grubproxy.efi";
  } else {
    filename "pxelinux.0";
  }
}
"#;

/// GRUB's configuration for the marker, at the prefix of [`GRUB_IMAGE`].
/// GRUB for UEFI clients. Debian's grubnetx64.efi (2.06) takes its server and prefix
/// from the firmware's cached DHCPACK, which is the site server's and names no boot
/// server: it stops at `grub>`. Behind a proxy, GRUB needs a prefix that names the server
/// (`grub-mkimage -p '(tftp,SERVER)/grub'`), as built here.
const GRUB_IMAGE: &str = "grubproxy.efi";

/// The modules of [`GRUB_IMAGE`]: network (the firmware's NIC, TFTP), the config, Linux.
const GRUB_MODULES: &[&str] = &[
    "normal",
    "configfile",
    "efinet",
    "net",
    "tftp",
    "linux",
    "boot",
    "echo",
    "test",
    "gzio",
];

const GRUB_CFG: &str = "set timeout=0\n\
linux (tftp,10.77.0.2)/marker/linux console=ttyS0 panic=-1\n\
initrd (tftp,10.77.0.2)/marker/marker.img\n\
boot\n";

pub(crate) fn named() -> Vec<Named> {
    vec![
        Named {
            name: "proxydhcp-bios",
            describe: "case proxydhcp-bios: SeaBIOS with qemu's iPXE ROM; dnsmasq gives the address, dhcpd --proxy the boot file (pxelinux), tftpd the rest",
            in_ci: true,
        },
        Named {
            name: "proxydhcp-uefi",
            describe: "case proxydhcp-uefi: OVMF's own PXE; dnsmasq gives the address, dhcpd --proxy answers on 67 and on 4011 with GRUB's image",
            in_ci: true,
        },
        Named {
            name: "proxydhcp-relay",
            describe: "case proxydhcp-relay: the BIOS client on another segment behind dhcrelay, which forwards to dnsmasq and to dhcpd --proxy",
            in_ci: true,
        },
        Named {
            name: "proxydhcp-relay-uefi",
            describe: "case proxydhcp-relay-uefi: OVMF on another segment behind dhcrelay; its 4011 request and TFTP are routed to the boot host",
            in_ci: true,
        },
    ]
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    // dnsmasq as the site server, dhcrelay as the relay.
    crate::ci::install(&["dnsmasq-base", "isc-dhcp-relay", "grub-common"])?;
    let relayed = name.starts_with("proxydhcp-relay");
    let (vm_ns, logs, site) = topology(lab, relayed)?;
    let (title, vm, mac, firmware, tcg_secs) = match name {
        "proxydhcp-bios" => (
            "proxydhcp-bios. BIOS iPXE ROM through the proxy",
            "pd-bios-vm",
            BIOS_MAC,
            Firmware::BiosIpxeRom,
            240,
        ),
        "proxydhcp-uefi" => (
            "proxydhcp-uefi. OVMF PXE through the proxy (4011)",
            "pd-uefi-vm",
            UEFI_MAC,
            Firmware::UefiOwnPxe,
            240,
        ),
        "proxydhcp-relay" => (
            "proxydhcp-relay. BIOS iPXE ROM through a relay",
            "pd-relay-vm",
            RELAY_MAC,
            Firmware::BiosIpxeRom,
            300,
        ),
        "proxydhcp-relay-uefi" => (
            "proxydhcp-relay-uefi. OVMF PXE through a relay",
            "pd-relay-uefi-vm",
            RELAY_UEFI_MAC,
            Firmware::UefiOwnPxe,
            300,
        ),
        other => bail!("no proxydhcp case {other}"),
    };
    let phases = phases(firmware);
    let spec = Spec {
        title,
        vm,
        mac,
        firmware,
        phases,
        done: phase(Source::Serial, initramfs::MARKER, ""),
        tcg_secs,
    };
    let mut r = lab.run(&vm_ns, &logs, &spec)?;
    check_site_lease(&mut r, &site, mac, relayed);
    check_proxy(&mut r, &logs, mac);
    Ok(r)
}

/// What the site server left behind: its lease file and its log.
struct Site {
    leases: PathBuf,
    log: PathBuf,
}

fn phases(firmware: Firmware) -> Vec<Phase> {
    let mut v = vec![phase(
        Source::Dhcp,
        "DHCPOFFER (proxy)",
        "proxy: offer without an address (port 67)",
    )];
    // OVMF asks the boot server port for the boot file (an offer without option 43 is
    // edk2's "BINL" kind); iPXE's ROM takes the offer's file name as it is.
    if firmware == Firmware::UefiOwnPxe {
        v.extend([
            phase(
                Source::Dhcp,
                "DHCPACK (proxy)",
                "proxy: ACK with the boot file (port 4011)",
            ),
            phase(Source::Tftp, "grubproxy.efi", "TFTP: GRUB image"),
            phase(Source::Tftp, "grub/grub.cfg", "TFTP: grub.cfg"),
        ]);
    } else {
        v.extend([
            phase(Source::Tftp, "pxelinux.0", "TFTP: pxelinux.0"),
            phase(Source::Tftp, "ldlinux.c32", "TFTP: ldlinux.c32"),
            phase(Source::Tftp, "pxelinux.cfg/default", "TFTP: pxelinux.cfg"),
        ]);
    }
    v.extend([
        phase(Source::Tftp, "marker/linux", "TFTP: kernel"),
        phase(Source::Tftp, "marker/marker.img", "TFTP: initrd"),
        phase(
            Source::Serial,
            initramfs::MARKER,
            "VM: kernel runs (marker)",
        ),
    ]);
    v
}

/// The address came from the site server: its lease file names the MAC with an address
/// of the right segment.
fn check_site_lease(r: &mut Report, site: &Site, mac: &str, relayed: bool) {
    let net = if relayed { "10.77.1." } else { "10.77.0." };
    let leases = std::fs::read_to_string(&site.leases).unwrap_or_default();
    let held = leases.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.get(1).is_some_and(|m| m.eq_ignore_ascii_case(mac))
            && w.get(2).is_some_and(|a| a.starts_with(net))
    });
    if !held {
        let log = std::fs::read_to_string(&site.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        r.fail(format!(
            "the site server's leases hold no {net}x address for {mac} (leases: {:?}; log tail: {:?})",
            leases.trim(),
            tail
        ));
    }
}

/// The proxy gave the boot file and never an address (its lease file stays empty).
fn check_proxy(r: &mut Report, logs: &Logs, mac: &str) {
    let text = logs.text(Source::Dhcp);
    if text.contains("DHCPACK on") || text.contains("DHCPOFFER on") {
        r.fail("the proxy offered an address".into());
    }
    if !text.contains(&format!("(proxy) to {mac}")) {
        r.fail(format!("the proxy never answered {mac}"));
    }
}

/// The hosts of a case; returns the namespace the VM's tap goes in (it has `br0`), the
/// logs to watch, and the site server's files.
fn topology(lab: &mut Lab, relayed: bool) -> Result<(String, Logs, Site)> {
    let lan = Netns::create(&ns_name("pdlan"))?;
    lan.bridge("br0")?;
    let site = Netns::create(&ns_name("pdsite"))?;
    lan.link_host("br0", &site, "eth0", &format!("{SITE}/24"))?;
    let boot = Netns::create(&ns_name("pdboot"))?;
    lan.link_host("br0", &boot, "eth0", &format!("{BOOT}/24"))?;
    let mut vm_ns = lan.name.clone();
    let (site_name, boot_name) = (site.name.clone(), boot.name.clone());
    let mut relay_name = None;
    if relayed {
        let segment = Netns::create(&ns_name("pdseg"))?;
        segment.bridge("br0")?;
        let relay = Netns::create(&ns_name("pdrelay"))?;
        lan.link_host("br0", &relay, "eth0", &format!("{RELAY_LAN}/24"))?;
        segment.link_host("br0", &relay, "eth1", &format!("{RELAY_SEGMENT}/24"))?;
        sysctl(&relay.name, "net.ipv4.ip_forward=1")?;
        for host in [&site, &boot] {
            host.ip(&["route", "add", "10.77.1.0/24", "via", RELAY_LAN])?;
        }
        vm_ns = segment.name.clone();
        relay_name = Some(relay.name.clone());
        lab.nets.push(segment);
        lab.nets.push(relay);
    }
    lab.nets.extend([lan, site, boot]);

    let work = lab.work.clone();
    let root = tftp_root(lab)?;
    let site_files = Site {
        leases: work.join("pd-site.leases"),
        log: work.join("pd-site.log"),
    };
    let _ = std::fs::remove_file(&site_files.leases);
    lab.procs.push(dnsmasq(&site_name, &site_files, &work)?);
    let conf = work.join("pd-proxy.conf");
    std::fs::write(&conf, PROXY_CONF)?;
    let d = proxy_dhcpd(lab, &boot_name, &conf)?;
    let t = daemons::tftpd(&lab.bins, &boot_name, BOOT, &root, None, &work)?;
    let files = vec![(Source::Dhcp, d.log.clone()), (Source::Tftp, t.log.clone())];
    lab.procs.extend([d, t]);
    if let Some(relay) = relay_name {
        lab.procs.push(dhcrelay(&relay, &work)?);
    }
    lab.settle()?;
    Ok((vm_ns, Logs::new(files), site_files))
}

fn sysctl(ns: &str, setting: &str) -> Result<()> {
    let mut argv = in_ns(ns);
    argv.extend(["sysctl".into(), "-q".into(), "-w".into(), setting.into()]);
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .context("running sysctl")?;
    if !status.success() {
        bail!("sysctl -w {setting} in {ns} failed");
    }
    Ok(())
}

/// The site server: dnsmasq with address ranges and nothing about PXE, in the foreground
/// with its own lease and PID files (stopped by PID with the other processes).
fn dnsmasq(ns: &str, site: &Site, work: &Path) -> Result<Proc> {
    let mut argv = in_ns(ns);
    argv.push("/usr/sbin/dnsmasq".into());
    argv.extend(
        [
            "--no-daemon",
            "--conf-file=/dev/null",
            // DNS off; DHCP only.
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
            "--user=root",
            "--log-dhcp",
            "--log-facility=-",
            "--dhcp-authoritative",
            "--dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,10m",
            "--dhcp-range=set:segment,10.77.1.150,10.77.1.199,255.255.255.0,10m",
            "--dhcp-option=tag:segment,option:router,10.77.1.1",
        ]
        .map(String::from),
    );
    argv.push(format!("--dhcp-leasefile={}", site.leases.display()));
    argv.push(format!("--pid-file={}", work.join("pd-site.pid").display()));
    Proc::spawn("dnsmasq (site DHCP)", &argv, &site.log)
}

/// Our dhcpd as the proxy: `--proxy`, on the boot host's interface.
fn proxy_dhcpd(lab: &Lab, ns: &str, conf: &Path) -> Result<Proc> {
    let work = &lab.work;
    let leases = work.join("pd-proxy.leases");
    std::fs::write(&leases, "").context("creating the proxy's lease file")?;
    let mut argv = in_ns(ns);
    argv.push(lab.bins.path("dhcpd"));
    argv.extend(["-f", "-d", "-4", "--proxy", "-cf"].map(String::from));
    argv.push(conf.display().to_string());
    argv.push("-lf".into());
    argv.push(leases.display().to_string());
    argv.push("-pf".into());
    argv.push(work.join("pd-proxy.pid").display().to_string());
    argv.push("eth0".into());
    Proc::spawn("dhcpd --proxy", &argv, &work.join("pd-proxy.log"))
}

/// ISC's relay: clients on eth1, servers (the site's and the proxy) through eth0.
fn dhcrelay(ns: &str, work: &Path) -> Result<Proc> {
    let mut argv = in_ns(ns);
    argv.push("/usr/sbin/dhcrelay".into());
    argv.extend(["-d", "-4", "-id", "eth1", "-iu", "eth0", "-pf"].map(String::from));
    argv.push(work.join("pd-relay.pid").display().to_string());
    argv.extend([SITE.to_string(), BOOT.to_string()]);
    Proc::spawn("dhcrelay", &argv, &work.join("pd-relay.log"))
}

/// The classic TFTP root (pxelinux, its default menu, the marker) plus a GRUB image that
/// knows its boot server and a grub.cfg for the marker.
fn tftp_root(lab: &Lab) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = super::classic_tftp_root(lab)?;
    std::fs::create_dir_all(root.join("grub"))?;
    grub_image(&root.join(GRUB_IMAGE))?;
    std::fs::write(root.join("grub/grub.cfg"), GRUB_CFG)?;
    std::fs::set_permissions(root.join("grub"), std::fs::Permissions::from_mode(0o755))?;
    for f in [GRUB_IMAGE, "grub/grub.cfg"] {
        std::fs::set_permissions(root.join(f), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(root)
}

/// Builds [`GRUB_IMAGE`] from Debian's GRUB modules (grub-efi-amd64-bin) with
/// grub-mkimage (grub-common), its prefix on the boot host.
fn grub_image(to: &Path) -> Result<()> {
    let out = std::process::Command::new("grub-mkimage")
        .args(["-O", "x86_64-efi", "-o"])
        .arg(to)
        .args(["-p", &format!("(tftp,{BOOT})/grub")])
        .args(GRUB_MODULES)
        .output()
        .context("running grub-mkimage (Debian package grub-common)")?;
    if !out.status.success() {
        bail!(
            "grub-mkimage: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
