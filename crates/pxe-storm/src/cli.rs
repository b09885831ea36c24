//! pxe-storm's command line.

use crate::firmware::{Firmware, Mix};
use crate::plan::Template;
use clap::Parser;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// Simulated machines network-booting at once: DHCP, TFTP and HTTP as firmware does them,
/// against the servers on the interface's network, with per-phase latencies and failures.
#[derive(Debug, Parser)]
#[command(name = "pxe-storm", version, about, long_about = None, after_help = crate::manual::after_help())]
pub struct Cli {
    /// Number of machines.
    #[arg(short = 'n', long, default_value_t = 100, value_name = "N")]
    pub machines: u32,

    /// The firmware mix, as weights: bios, uefi (arch 7), uefi9 (arch 9), ipxe.
    #[arg(long, default_value = "bios=40,uefi=30,uefi9=10,ipxe=20", value_parser = parse_mix, value_name = "FIRMWARE=WEIGHT,…")]
    pub mix: Mix,

    /// Seconds over which the machines power on, evenly; 0 is all at once.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub ramp: f64,

    /// Send DHCP from this interface only (SO_BINDTODEVICE); needed when the host has
    /// several.
    #[arg(short, long, value_name = "IFACE")]
    pub interface: Option<String>,

    /// Where DHCP requests go: broadcast, or a server's (or relay's) address.
    #[arg(long, default_value = "255.255.255.255:67", value_name = "ADDR:PORT")]
    pub dhcp_server: SocketAddr,

    /// A config file the loader of FIRMWARE fetches after it, as FIRMWARE=TEMPLATE
    /// (repeatable), e.g. bios=pxelinux.cfg/{mac_dashes} or uefi=grub/grub.cfg.
    #[arg(long = "config", value_name = "FIRMWARE=TEMPLATE", value_parser = parse_config)]
    pub config: Vec<(Firmware, Template)>,

    /// The kernel every machine fetches (TFTP path, tftp:// or http:// URL).
    #[arg(long, value_name = "TEMPLATE", value_parser = parse_template)]
    pub kernel: Option<Template>,

    /// The answer file (usually http://…/{mac} or with the machine's name); its arrival is
    /// the storm's "time to answer file".
    #[arg(long, value_name = "TEMPLATE", value_parser = parse_template)]
    pub answer: Option<Template>,

    /// A file of the install tree fetched last (an installer's first package index).
    #[arg(long, value_name = "TEMPLATE", value_parser = parse_template)]
    pub tree: Option<Template>,

    /// Skip DHCP: every machine takes ADDR as the boot server DHCP would have named and
    /// fetches --loader from it first. Tests a TFTP (and HTTP) server alone, with no DHCP
    /// server and no port 68.
    #[arg(
        long,
        value_name = "ADDR",
        requires = "loader",
        conflicts_with = "bind_leased"
    )]
    pub no_dhcp: Option<Ipv4Addr>,

    /// With --no-dhcp: the boot loader every machine fetches first, as DHCP's boot file.
    #[arg(long, value_name = "FILE", requires = "no_dhcp")]
    pub loader: Option<String>,

    /// Fetch from each machine's leased address instead of the host's own (the host must
    /// hold the pool's addresses, e.g. `ip route add local POOL dev lo` in a namespace).
    #[arg(long)]
    pub bind_leased: bool,

    /// First DHCP wait in seconds, doubled at each retransmission.
    #[arg(long, default_value_t = 4.0, value_name = "SECONDS")]
    pub dhcp_timeout: f64,

    /// DHCP transmissions per step before the machine gives up.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub dhcp_tries: u32,

    /// TFTP wait for each packet in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub tftp_timeout: f64,

    /// TFTP transmissions of one packet before the transfer fails.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub tftp_tries: u32,

    /// The TFTP server's port.
    #[arg(long, default_value_t = 69, value_name = "PORT")]
    pub tftp_port: u16,

    /// HTTP: seconds for a whole fetch.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub http_timeout: f64,

    /// First three bytes of the simulated MACs (the rest is the machine's number).
    #[arg(long, default_value = "02:50:58", value_parser = parse_prefix, value_name = "XX:XX:XX")]
    pub mac_prefix: [u8; 3],

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_mix(s: &str) -> Result<Mix, String> {
    s.parse()
}

fn parse_template(s: &str) -> Result<Template, String> {
    Template::parse(s)
}

fn parse_config(s: &str) -> Result<(Firmware, Template), String> {
    let (firmware, template) = s.split_once('=').ok_or_else(|| {
        format!("`{s}`: expected FIRMWARE=TEMPLATE, e.g. bios=pxelinux.cfg/{{mac_dashes}}")
    })?;
    Ok((firmware.parse()?, Template::parse(template)?))
}

fn parse_prefix(s: &str) -> Result<[u8; 3], String> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}`: expected three hex bytes like 02:50:58"))?;
    bytes
        .try_into()
        .map_err(|_| format!("`{s}`: expected exactly three bytes like 02:50:58"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_parse_and_bad_ones_are_refused() {
        let cli = Cli::try_parse_from([
            "pxe-storm",
            "-n",
            "5",
            "--config",
            "bios=pxelinux.cfg/{mac_dashes}",
            "--mac-prefix",
            "02:aa:bb",
        ])
        .expect("parses");
        assert_eq!(cli.machines, 5);
        assert_eq!(cli.config.len(), 1);
        assert_eq!(cli.mac_prefix, [2, 0xaa, 0xbb]);
        assert!(Cli::try_parse_from(["pxe-storm", "--config", "arm=x"]).is_err());
        assert!(Cli::try_parse_from(["pxe-storm", "--kernel", "{nope}"]).is_err());
        assert!(Cli::try_parse_from(["pxe-storm", "--mac-prefix", "02:aa"]).is_err());
        let alone = Cli::try_parse_from(["pxe-storm", "--no-dhcp", "10.0.0.1", "--loader", "a"])
            .expect("parses");
        assert_eq!(alone.no_dhcp, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(Cli::try_parse_from(["pxe-storm", "--no-dhcp", "10.0.0.1"]).is_err());
        assert!(Cli::try_parse_from(["pxe-storm", "--loader", "a"]).is_err());
        assert!(
            Cli::try_parse_from([
                "pxe-storm",
                "--no-dhcp",
                "10.0.0.1",
                "--loader",
                "a",
                "--bind-leased"
            ])
            .is_err()
        );
    }
}
