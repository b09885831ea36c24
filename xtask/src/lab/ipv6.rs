//! IPv6 netboot (issue 18 part 3). OVMF with IPv4 off (fw_cfg `IPv4Support`) on a bridge
//! where radvd advertises `fd00:77::/64` with the managed flag; our `dhcpd -6`, tftpd and
//! httpd-tree share an inventory whose `servers.http` is `http://[fd00:77::1]:8080`, and a
//! state directory. `ipv6-pxe`: the plan gives OVMF's PXE `tftp://[fd00:77::1]/ipxe.efi`
//! (the inventory's `tftp6`), tftpd serves it over IPv6 (edk2's Mtftp6 asks windowsize 4);
//! iPXE asks DHCPv6 itself (user class `iPXE`) and gets its script's URL, then the script,
//! the kernel and the initrd come over HTTP on IPv6, to the marker. `ipv6-httpboot`: no
//! `tftp6`, so PXE gets no URL and gives up, and OVMF's HTTP boot gets
//! `http://[fd00:77::1]:8080/loaders/ipxe.efi` (HEAD, then GET); then as above. The script
//! is a per-machine file: httpd-tree gives it only to the address dhcpd -6 bound to the
//! machine. With `IPv6PXESupport` off instead, OVMF's HTTP boot over IPv6 fails before
//! asking DHCPv6 (seen here), so PXE stays on.

use super::net::{Netns, in_ns};
use super::probe::{Logs, Source, phase};
use super::procs::Proc;
use super::qemu::Firmware;
use super::{Lab, Report, Spec, daemons, ns_name};
use anyhow::{Result, bail};

const PXE: &str = "ipv6-pxe";
const HTTPBOOT: &str = "ipv6-httpboot";
const MAC: &str = "52:54:00:77:00:70";
const HTTP_MAC: &str = "52:54:00:77:00:71";
const SERVER: &str = "fd00:77::1";

/// The IPv6 cases as named cases.
pub(crate) fn named() -> Vec<super::named::Named> {
    vec![
        super::named::Named {
            name: PXE,
            describe: "case ipv6-pxe: OVMF with IPv4 off, radvd's router advertisement (managed \
                   flag), an address and the inventory plan's tftp:// URL from dhcpd -6, iPXE \
                   over TFTP on IPv6, then iPXE's own DHCPv6 gets its script's URL; script, \
                   kernel and initrd over HTTP on IPv6; the marker",
            in_ci: true,
        },
        super::named::Named {
            name: HTTPBOOT,
            describe: "case ipv6-httpboot: OVMF with IPv4 off, an inventory with no tftp6: its \
                   PXE gets no URL and gives up, its HTTP boot gets \
                   http://[fd00:77::1]:8080/loaders/ipxe.efi (HTTPClient echoed) and fetches \
                   iPXE (HEAD, GET); iPXE's script, kernel and initrd over IPv6; the marker",
            in_ci: true,
        },
    ]
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    match name {
        PXE => pxe(lab),
        HTTPBOOT => httpboot(lab),
        other => bail!("no ipv6 case {other}"),
    }
}

/// The configuration gives addresses only: boot URLs come from the inventory's plans.
fn dhcpd6_conf() -> &'static str {
    "default-lease-time 3600;\npreferred-lifetime 1800;\n\
     subnet6 fd00:77::/64 {\n  range6 fd00:77::100 fd00:77::1ff;\n}\n"
}

/// An IPv6-only site: `servers.http` names httpd-tree by its IPv6 address (so do the
/// script's kernel and initrd URLs); with `tftp6`, PXE clients fetch their loader from
/// tftpd, without it they get no boot file (an HTTP-only site: HTTP boot does).
fn inventory(tftp6: bool) -> String {
    let tftp6 = if tftp6 {
        format!("\n  tftp6: {SERVER}")
    } else {
        String::new()
    };
    format!(
        "# Written by cargo xtask e2e --case ipv6.
servers:
  tftp: 10.77.0.2{tftp6}
  http: http://[{SERVER}]:8080
unknown_machines: ignore
loaders:
  bios: pxelinux.0
  uefi_x64: grubnetx64.efi
  ipxe_bios: undionly.kpxe
  ipxe_uefi: ipxe.efi
distros:
  marker:
    arch: x86_64
    family: debian
    tree: trees/marker
    kernel: linux
    initrd: marker.img
profiles:
  marker-ipxe:
    distro: marker
    chain: ipxe
    kernel_args: console=ttyS0 panic=-1
    description: Marker boot over iPXE and HTTP, on IPv6
machines:
  ipv6-pxe-vm:
    mac: {MAC}
    profile: marker-ipxe
  ipv6-http-vm:
    mac: {HTTP_MAC}
    profile: marker-ipxe
"
    )
}

fn radvd_conf() -> &'static str {
    "interface br0 {\n  AdvSendAdvert on;\n  AdvManagedFlag on;\n  AdvOtherConfigFlag on;\n  \
     MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  \
     prefix fd00:77::/64 { AdvOnLink on; AdvAutonomous off; };\n};\n"
}

/// The case's namespace with br0 on `fd00:77::1/64`, radvd, our dhcpd -6, tftpd and
/// httpd-tree on the IPv6 address, all three with the inventory and one state directory;
/// the namespace and the logs.
fn serve(lab: &mut Lab, tag: &str, tftp6: bool) -> Result<(String, Logs)> {
    let dir = lab.work.join(tag);
    std::fs::create_dir_all(&dir)?;
    let ns = Netns::create(&ns_name(tag))?;
    ns.bridge("br0")?;
    ns.ip(&[
        "addr",
        "add",
        &format!("{SERVER}/64"),
        "dev",
        "br0",
        "nodad",
    ])?;
    let ns_id = ns.name.clone();
    lab.nets.push(ns);

    let (inv_file, state) = lab.inventory(tag, Some(&inventory(tftp6)))?;
    let inv = daemons::Inv {
        file: &inv_file,
        state: daemons::Store::Dir(&state),
    };
    let conf = dir.join("dhcpd6.conf");
    std::fs::write(&conf, dhcpd6_conf())?;
    let leases = dir.join("dhcpd6.leases");
    std::fs::write(&leases, "")?;
    let mut argv = in_ns(&ns_id);
    argv.push(lab.bins.path("dhcpd"));
    argv.extend(["-6", "-d", "-q", "--no-pid", "-cf"].map(String::from));
    argv.push(conf.display().to_string());
    argv.push("-lf".into());
    argv.push(leases.display().to_string());
    argv.extend(inv.args());
    argv.push("br0".into());
    let d = Proc::spawn("dhcpd6", &argv, &dir.join("dhcpd6.log"))?;

    let radvd_conf_file = dir.join("radvd.conf");
    std::fs::write(&radvd_conf_file, radvd_conf())?;
    let mut argv = in_ns(&ns_id);
    argv.extend(["radvd", "-n", "-m", "stderr", "-C"].map(String::from));
    argv.push(radvd_conf_file.display().to_string());
    argv.push("-p".into());
    argv.push(dir.join("radvd.pid").display().to_string());
    let r = Proc::spawn("radvd", &argv, &dir.join("radvd.log"))?;

    let t = daemons::tftpd(
        &lab.bins,
        &ns_id,
        &format!("[{SERVER}]"),
        &lab.assets.tftp_root,
        Some(&inv),
        &lab.work,
    )?;
    let mut argv = in_ns(&ns_id);
    argv.push(lab.bins.path("httpd-tree"));
    argv.extend(["--listen".into(), format!("[{SERVER}]:8080")]);
    argv.extend(inv.args());
    argv.push("--loaders".into());
    argv.push(lab.assets.tftp_root.display().to_string());
    let h = Proc::spawn("httpd-tree", &argv, &dir.join("httpd.log"))?;
    let logs = Logs::new(vec![
        (Source::Dhcp, d.log.clone()),
        (Source::Tftp, t.log.clone()),
        (Source::Http, h.log.clone()),
    ]);
    lab.procs.extend([d, r, t, h]);
    lab.settle()?;
    Ok((ns_id, logs))
}

fn pxe(lab: &mut Lab) -> Result<Report> {
    let (ns_id, logs) = serve(lab, PXE, true)?;
    let mut phases = vec![
        phase(
            Source::Dhcp,
            &format!("boots tftp://[{SERVER}]/ipxe.efi"),
            "DHCPv6: the plan's tftp:// URL (OVMF's PXE)",
        ),
        phase(
            Source::Tftp,
            "ipxe.efi",
            "TFTP over IPv6: iPXE's UEFI image",
        ),
        phase(Source::Serial, "iPXE initialising devices", "VM: iPXE runs"),
        phase(
            Source::Dhcp,
            &format!("boots http://[{SERVER}]:8080/boot/{MAC}.ipxe"),
            "DHCPv6: iPXE gets its script's URL",
        ),
    ];
    phases.extend(super::ipxe_script_phases(MAC));
    let spec = Spec {
        title: "ipv6-pxe. OVMF PXE over IPv6 (IPv4 off), iPXE, kernel over HTTP on IPv6",
        vm: "ipv6-pxe-vm",
        mac: MAC,
        firmware: Firmware::UefiIpv6Pxe,
        phases,
        done: super::marker_done(),
        tcg_secs: 240,
    };
    let this = logs.tail();
    let mut report = lab.run(&ns_id, &logs, &spec)?;
    report.name = PXE.into();
    refused_nothing(&this, &mut report);
    Ok(report)
}

fn httpboot(lab: &mut Lab) -> Result<Report> {
    let (ns_id, logs) = serve(lab, HTTPBOOT, false)?;
    let mut phases = vec![
        phase(
            Source::Dhcp,
            "gets no boot file: its loader is fetched over TFTP and the inventory has no servers.tftp6",
            "DHCPv6: PXE gets no URL (no tftp6)",
        ),
        phase(
            Source::Dhcp,
            &format!("boots http://[{SERVER}]:8080/loaders/ipxe.efi"),
            "DHCPv6: HTTP boot gets the loader's URL",
        ),
        phase(
            Source::Http,
            "\"HEAD /loaders/ipxe.efi ",
            "HTTP over IPv6: HEAD of iPXE",
        ),
        phase(
            Source::Http,
            "\"GET /loaders/ipxe.efi ",
            "HTTP over IPv6: GET of iPXE",
        ),
        phase(Source::Serial, "iPXE initialising devices", "VM: iPXE runs"),
        phase(
            Source::Dhcp,
            &format!("boots http://[{SERVER}]:8080/boot/{HTTP_MAC}.ipxe"),
            "DHCPv6: iPXE gets its script's URL",
        ),
    ];
    phases.extend(super::ipxe_script_phases(HTTP_MAC));
    let spec = Spec {
        title: "ipv6-httpboot. OVMF HTTP boot over IPv6 (IPv4 off), iPXE, kernel over HTTP on IPv6",
        vm: "ipv6-http-vm",
        mac: HTTP_MAC,
        firmware: Firmware::UefiIpv6Pxe,
        phases,
        done: super::marker_done(),
        tcg_secs: 240,
    };
    let this = logs.tail();
    let mut report = lab.run(&ns_id, &logs, &spec)?;
    report.name = HTTPBOOT.into();
    refused_nothing(&this, &mut report);
    Ok(report)
}

/// The machine's own script went to the address dhcpd -6 bound to it: no refusal.
fn refused_nothing(logs: &Logs, report: &mut Report) {
    let refused = logs.count(Source::Http, "per-machine file refused");
    if refused > 0 {
        report.fail(format!(
            "httpd-tree refused a per-machine file {refused} time(s) over IPv6"
        ));
    }
}
