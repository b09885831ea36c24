//! IPv6 netboot (issue 18 part 3). OVMF with IPv4 off (fw_cfg `IPv4Support`) on a bridge
//! where radvd advertises `fd00:77::/64` with the managed flag, and our `dhcpd -6`.
//! `ipv6-pxe`: the address and `tftp://[fd00:77::1]/ipxe.efi` (option 59), tftpd serves it
//! over IPv6 (edk2's Mtftp6 asks windowsize 4), iPXE starts. `ipv6-httpboot`: only HTTP
//! clients (arch 16) get a URL, `http://[fd00:77::1]:8080/loaders/ipxe.efi`, so OVMF's PXE
//! gives up and its HTTP boot fetches iPXE from httpd-tree over IPv6 (HEAD, then GET). With
//! `IPv6PXESupport` off instead, OVMF's HTTP boot over IPv6 fails before asking DHCPv6
//! (seen here), so PXE stays on. Not yet to a kernel: iPXE then asks DHCPv6 itself and would
//! need a script URL of its own.

use super::net::{Netns, in_ns};
use super::probe::{Logs, Source, phase};
use super::procs::Proc;
use super::qemu::Firmware;
use super::{Lab, Report, Spec, daemons, ns_name};
use anyhow::{Result, bail};

const PXE: &str = "ipv6-pxe";
const HTTPBOOT: &str = "ipv6-httpboot";
const MAC: &str = "52:54:00:77:00:70";
const SERVER: &str = "fd00:77::1";

/// The IPv6 cases as named cases.
pub(crate) fn named() -> Vec<super::named::Named> {
    vec![
        super::named::Named {
            name: PXE,
            describe: "case ipv6-pxe: OVMF with IPv4 off, radvd's router advertisement (managed \
                   flag), an address and a tftp:// boot URL from dhcpd -6, iPXE over TFTP \
                   from tftpd on IPv6, iPXE starts",
            in_ci: true,
        },
        super::named::Named {
            name: HTTPBOOT,
            describe: "case ipv6-httpboot: OVMF with IPv4 off; only HTTP clients get a URL \
                   (http://[fd00:77::1]:8080/loaders/ipxe.efi, HTTPClient echoed), so its PXE \
                   gives up and its HTTP boot fetches iPXE over IPv6 (HEAD, GET); iPXE starts",
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

fn dhcpd6_conf(url: &str) -> String {
    format!(
        "default-lease-time 3600;\npreferred-lifetime 1800;\n{url}\n\
         subnet6 fd00:77::/64 {{\n  range6 fd00:77::100 fd00:77::1ff;\n}}\n"
    )
}

fn radvd_conf() -> &'static str {
    "interface br0 {\n  AdvSendAdvert on;\n  AdvManagedFlag on;\n  AdvOtherConfigFlag on;\n  \
     MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  \
     prefix fd00:77::/64 { AdvOnLink on; AdvAutonomous off; };\n};\n"
}

/// The case's namespace with br0 on `fd00:77::1/64`, radvd, our dhcpd -6 with `url_stmt`,
/// tftpd and httpd-tree on the IPv6 address; the namespace and the logs.
fn serve(lab: &mut Lab, tag: &str, url_stmt: &str) -> Result<(String, Logs)> {
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

    let conf = dir.join("dhcpd6.conf");
    std::fs::write(&conf, dhcpd6_conf(url_stmt))?;
    let leases = dir.join("dhcpd6.leases");
    std::fs::write(&leases, "")?;
    let mut argv = in_ns(&ns_id);
    argv.push(lab.bins.path("dhcpd"));
    argv.extend(["-6", "-d", "-q", "--no-pid", "-cf"].map(String::from));
    argv.push(conf.display().to_string());
    argv.push("-lf".into());
    argv.push(leases.display().to_string());
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
        None,
        &lab.work,
    )?;
    let mut argv = in_ns(&ns_id);
    argv.push(lab.bins.path("httpd-tree"));
    argv.extend([
        "--listen".into(),
        format!("[{SERVER}]:8080"),
        "--loaders".into(),
    ]);
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
    let url = format!("option dhcp6.bootfile-url \"tftp://[{SERVER}]/ipxe.efi\";");
    let (ns_id, logs) = serve(lab, PXE, &url)?;
    let spec = Spec {
        title: "ipv6-pxe. OVMF PXE over IPv6 (IPv4 off), iPXE over TFTP",
        vm: "ipv6-pxe-vm",
        mac: MAC,
        firmware: Firmware::UefiIpv6Pxe,
        phases: vec![
            phase(
                Source::Dhcp,
                "bound fd00:77::",
                "DHCPv6: address and tftp:// URL",
            ),
            phase(
                Source::Tftp,
                "ipxe.efi",
                "TFTP over IPv6: iPXE's UEFI image",
            ),
            phase(Source::Serial, "iPXE initialising devices", "VM: iPXE runs"),
        ],
        done: phase(Source::Serial, "iPXE initialising devices", ""),
        tcg_secs: 180,
    };
    let mut report = lab.run(&ns_id, &logs, &spec)?;
    report.name = PXE.into();
    Ok(report)
}

fn httpboot(lab: &mut Lab) -> Result<Report> {
    let url = format!(
        "if option dhcp6.client-arch-type = 00:10 {{\n  \
         option dhcp6.bootfile-url \"http://[{SERVER}]:8080/loaders/ipxe.efi\";\n}}"
    );
    let (ns_id, logs) = serve(lab, HTTPBOOT, &url)?;
    let spec = Spec {
        title: "ipv6-httpboot. OVMF HTTP boot over IPv6 (IPv4 off), iPXE over HTTP",
        vm: "ipv6-http-vm",
        mac: "52:54:00:77:00:71",
        firmware: Firmware::UefiIpv6Pxe,
        phases: vec![
            phase(
                Source::Dhcp,
                "bound fd00:77::",
                "DHCPv6: address, then the http:// URL",
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
        ],
        done: phase(Source::Serial, "iPXE initialising devices", ""),
        tcg_secs: 180,
    };
    let mut report = lab.run(&ns_id, &logs, &spec)?;
    report.name = HTTPBOOT.into();
    Ok(report)
}
