//! The command line. Its definitions are also the manual page's ([`crate::manual`]).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// pxectl: add, list, reinstall and inspect the machines of a pxe-suite installation.
///
/// A client of httpd-tree's API (/api/v1): machines added here are files of the
/// inventory's machines_dir, which httpd-tree, dhcpd and tftpd load with the inventory and
/// watch, so a change is served without a signal. Reading needs the read-only or the admin
/// token; changes need the admin token.
#[derive(Debug, Parser)]
#[command(name = "pxectl", version, after_help = crate::manual::after_help())]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The base URL of httpd-tree (or PXECTL_SERVER).
    #[arg(long, value_name = "URL", env = "PXECTL_SERVER", global = true)]
    pub server: Option<String>,
    /// A file holding the admin or the read-only token (or PXECTL_TOKEN_FILE).
    #[arg(long, value_name = "FILE", env = "PXECTL_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// Print the API's JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List machines, their state and where they come from.
    Machines(MachinesArgs),
    /// Add a machine (a file of the machines directory).
    Add(AddArgs),
    /// Remove a machine added with add (or a file not loaded, to settle a conflict).
    Remove(NameArg),
    /// Install a machine again at its next network boot (--power-cycle: now).
    Reinstall(ReinstallArgs),
    /// Switch a machine on, off or through a power cycle with its BMC, or read its power.
    Power(PowerArgs),
    /// A machine's latest install stage by stage, and why it stalled.
    Show(NameArg),
    /// Turn the host blocks of an ISC dhcpd.conf into machines.
    ImportHosts(ImportArgs),
}

#[derive(Debug, Args)]
pub struct MachinesArgs {
    /// Only machines in this state (pending, installing, installed, failed).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only machines of this profile.
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Only machines whose name matches (* and ? as in the shell; else a part of it).
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The machine's name (letters, digits, '.', '_', '-').
    pub name: String,
    /// A MAC address (repeat for several).
    #[arg(long, value_name = "MAC", required = true)]
    pub mac: Vec<String>,
    /// The profile it installs.
    #[arg(long, value_name = "PROFILE")]
    pub profile: String,
    /// A fixed IPv4 address that dhcpd reserves for it.
    #[arg(long, value_name = "IPV4")]
    pub address: Option<String>,
    /// Its host name (default: its name).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Its SMBIOS UUID.
    #[arg(long, value_name = "UUID")]
    pub uuid: Option<String>,
    /// Always boot from the local disk.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The machine's name (or a MAC address, for reinstall and show).
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ReinstallArgs {
    /// The machine's name or a MAC address.
    pub name: String,
    /// Then set its next boot (once) to the network through its BMC and power-cycle it
    /// (power it on if it is off), so it reinstalls now; needs machines.NAME.power.
    #[arg(long)]
    pub power_cycle: bool,
}

/// What `pxectl power` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PowerAction {
    On,
    Off,
    Cycle,
    Status,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
            PowerAction::Status => "status",
        }
    }
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    /// The machine's name or a MAC address.
    pub name: String,
    /// on, off (hard), cycle (on when it is off) or status.
    #[arg(value_enum)]
    pub action: PowerAction,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The dhcpd.conf to read (with its includes).
    pub file: PathBuf,
    /// The profile every imported machine installs.
    #[arg(long, value_name = "PROFILE")]
    pub profile: String,
    /// Report what would be imported and shadowed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}
