//! IPv6 netboot (issue 18 part 3). `ipv6-pxe`: OVMF with IPv4 off (fw_cfg `IPv4Support`)
//! on a bridge where radvd advertises `fd00:77::/64` with the managed flag; our `dhcpd -6`
//! gives it an address and `tftp://[fd00:77::1]/ipxe.efi` (option 59), tftpd serves it over
//! IPv6 (edk2's Mtftp6 asks windowsize 4), and iPXE starts. Not yet to a kernel: iPXE then
//! asks DHCPv6 itself and would need a script URL of its own.

use super::net::{Netns, in_ns};
use super::probe::{Logs, Source, phase};
use super::procs::Proc;
use super::qemu::Firmware;
use super::{Lab, Report, Spec, daemons, ns_name};
use anyhow::{Result, bail};

const PXE: &str = "ipv6-pxe";
const MAC: &str = "52:54:00:77:00:70";
const SERVER: &str = "fd00:77::1";

/// The IPv6 cases as named cases.
pub(crate) fn named() -> Vec<super::named::Named> {
    vec![super::named::Named {
        name: PXE,
        describe: "case ipv6-pxe: OVMF with IPv4 off, radvd's router advertisement (managed \
                   flag), an address and a tftp:// boot URL from dhcpd -6, iPXE over TFTP \
                   from tftpd on IPv6, iPXE starts",
        in_ci: true,
    }]
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    match name {
        PXE => pxe(lab),
        other => bail!("no ipv6 case {other}"),
    }
}

fn dhcpd6_conf() -> String {
    format!(
        "default-lease-time 3600;\npreferred-lifetime 1800;\n\
         option dhcp6.bootfile-url \"tftp://[{SERVER}]/ipxe.efi\";\n\
         subnet6 fd00:77::/64 {{\n  range6 fd00:77::100 fd00:77::1ff;\n}}\n"
    )
}

fn radvd_conf() -> &'static str {
    "interface br0 {\n  AdvSendAdvert on;\n  AdvManagedFlag on;\n  AdvOtherConfigFlag on;\n  \
     MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  \
     prefix fd00:77::/64 { AdvOnLink on; AdvAutonomous off; };\n};\n"
}

fn pxe(lab: &mut Lab) -> Result<Report> {
    let dir = lab.work.join("ipv6-pxe");
    std::fs::create_dir_all(&dir)?;
    let ns = Netns::create(&ns_name("ipv6"))?;
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
    std::fs::write(&conf, dhcpd6_conf())?;
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
    let logs = Logs::new(vec![
        (Source::Dhcp, d.log.clone()),
        (Source::Tftp, t.log.clone()),
    ]);
    lab.procs.extend([d, r, t]);
    lab.settle()?;
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
