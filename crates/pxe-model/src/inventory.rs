//! The validated inventory: distros, profiles, machines and the servers that boot them.
//!
//! Only values that passed every check in `build` exist as these types; the rest of
//! the suite never sees a dangling reference or a malformed address.

use crate::mac::MacAddr;
use crate::template::Templates;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The addresses handed to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers {
    /// The TFTP server, handed out as `next-server`.
    pub tftp: Ipv4Addr,
    /// The TFTP server's IPv6 address, for `dhcpd -6`'s `tftp://[…]/` boot URLs. None:
    /// IPv6 clients that boot over TFTP get no boot file from a plan (HTTP boot and iPXE
    /// still do).
    pub tftp6: Option<std::net::Ipv6Addr>,
    /// Base URL of httpd-tree, without a trailing slash (`http://10.0.0.3:8080`).
    pub http: String,
    /// Proxies (or NAT gateways) whose `X-Forwarded-For` httpd-tree believes when it
    /// decides whether a requester is the machine a per-machine file is for. Empty: the
    /// header is never believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// NAT gateways in front of tftpd: TFTP requests from them may fetch any machine's
    /// generated boot files, since TFTP cannot name the client behind them. Empty: none.
    pub tftp_nat_gateways: Vec<std::net::IpAddr>,
}

/// What a machine that is not in the inventory gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// The default menu of every profile (with local boot as its default entry).
    Menu,
    /// No boot file at all.
    Ignore,
}

/// The default menu's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub title: String,
    /// Seconds before the default entry boots.
    pub timeout: u32,
    /// `local`, a profile name or an entry's name.
    pub default: String,
    /// How pxelinux draws it.
    pub look: crate::menu::Look,
    /// Entries after local boot and the profiles.
    pub entries: Vec<crate::menu::Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    I386,
    Aarch64,
}

impl Arch {
    pub const NAMES: &'static [&'static str] = &["x86_64", "i386", "aarch64"];

    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "amd64" => Some(Arch::X86_64),
            "i386" | "i686" => Some(Arch::I386),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// The installer family, which decides the answer-file format and URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Red Hat family: kickstart.
    Redhat,
    /// Debian: preseed.
    Debian,
    /// Ubuntu (subiquity): autoinstall through cloud-init's nocloud data source.
    Ubuntu,
}

impl Family {
    pub const NAMES: &'static [&'static str] = &["redhat", "debian", "ubuntu"];

    pub fn parse(s: &str) -> Option<Family> {
        match s {
            "redhat" => Some(Family::Redhat),
            "debian" => Some(Family::Debian),
            "ubuntu" => Some(Family::Ubuntu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Redhat => "redhat",
            Family::Debian => "debian",
            Family::Ubuntu => "ubuntu",
        }
    }

    /// The answer-file format's name.
    pub fn answer_kind(self) -> &'static str {
        match self {
            Family::Redhat => "kickstart",
            Family::Debian => "preseed",
            Family::Ubuntu => "autoinstall",
        }
    }
}

/// Where a distro's install tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    /// A directory (a copied or loop-mounted DVD), served by httpd-tree at `/trees/<distro>/`.
    Dir(PathBuf),
    /// A mirror elsewhere; clients fetch from it directly.
    Url(String),
}

/// Boot loader file names per firmware, as paths under the TFTP root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaders {
    pub bios: String,
    pub uefi_ia32: String,
    pub uefi_x64: String,
    pub uefi_arm64: String,
    pub ipxe_bios: String,
    pub ipxe_uefi: String,
}

impl Default for Loaders {
    fn default() -> Self {
        Loaders {
            bios: "pxelinux.0".into(),
            uefi_ia32: "grubia32.efi".into(),
            uefi_x64: "grubx64.efi".into(),
            uefi_arm64: "grubaa64.efi".into(),
            ipxe_bios: "undionly.kpxe".into(),
            ipxe_uefi: "ipxe.efi".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    pub name: String,
    pub arch: Arch,
    pub family: Family,
    pub tree: Tree,
    /// Kernel path, relative to the tree (or absolute on the boot server).
    pub kernel: String,
    /// Initrd path, relative to the tree (or absolute on the boot server).
    pub initrd: String,
    pub loaders: Loaders,
    /// The release its installer belongs to: the inventory's `version`, or a Red Hat
    /// family tree's `.treeinfo`; `None` when neither says.
    pub release: Option<Release>,
}

/// A distro's release and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `6.10`, `CentOS 5.11`, `Rocky Linux 9.3`, `Fedora 18`.
    pub text: String,
    pub from: ReleaseFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseFrom {
    /// The distro's `version` key.
    Inventory,
    /// The tree's `.treeinfo`, read when the inventory was loaded.
    Treeinfo,
}

impl Distro {
    /// The anaconda generation of a Red Hat family distro (EL 7 and later when its
    /// release says nothing).
    pub fn anaconda(&self) -> crate::anaconda::Anaconda {
        self.release
            .as_ref()
            .and_then(|r| crate::anaconda::Anaconda::of_release(&r.text))
            .unwrap_or(crate::anaconda::Anaconda::El7)
    }
}

/// Which loaders a profile boots through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// pxelinux for BIOS, GRUB for UEFI, everything over TFTP.
    Classic,
    /// iPXE, then HTTP scripts, kernels and initrds.
    Ipxe,
}

impl Chain {
    pub const NAMES: &'static [&'static str] = &["classic", "ipxe"];
}

/// A profile with its inheritance resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub parent: Option<String>,
    pub distro: String,
    /// The answer-file template's name in `Templates`.
    pub template: String,
    /// Extra kernel arguments, after the ones the installer family needs.
    pub kernel_args: String,
    pub chain: Chain,
    /// The menu label.
    pub description: String,
    /// Template variables, merged down the inheritance chain (nearest wins).
    pub vars: BTreeMap<String, String>,
    /// Installed by the deploy agent (the nearest definition wins, whole).
    pub deploy: Option<crate::deploy::Deploy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Netboot {
    /// Install when its state says so (pending or installing); local once installed.
    Install,
    /// Always boot from local disk.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub name: String,
    pub macs: Vec<MacAddr>,
    pub hostname: String,
    pub address: Option<Ipv4Addr>,
    /// Lower-case, dashed.
    pub uuid: Option<String>,
    pub profile: String,
    pub netboot: Netboot,
    /// Its BMC, when the inventory gives one.
    pub power: Option<crate::power::Power>,
}

/// The whole validated inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file it was loaded from, for messages.
    pub source: String,
    pub servers: Servers,
    pub unknown: UnknownPolicy,
    pub menu: Menu,
    /// Loaders for machines the inventory does not know (distros may override each).
    pub loaders: Loaders,
    pub distros: BTreeMap<String, Distro>,
    /// Plain trees served at `/trees/<name>/` beside the distros' (a Debian archive, a
    /// directory of disk images): name → directory.
    pub trees: BTreeMap<String, PathBuf>,
    pub profiles: BTreeMap<String, Profile>,
    pub machines: BTreeMap<String, Machine>,
    pub(crate) templates: Templates,
    pub(crate) by_mac: HashMap<MacAddr, String>,
    /// The directory of machines added through the API (`machines_dir`), one file each.
    pub machines_dir: Option<PathBuf>,
    /// The machines that came from that directory, not from the inventory file.
    pub api_machines: BTreeSet<String>,
    /// The directory of distros added through the API (`distros_dir`), one file each.
    pub distros_dir: Option<PathBuf>,
    /// The distros that came from that directory.
    pub api_distros: BTreeSet<String>,
    /// The directory of profiles added through the API (`profiles_dir`), one file each.
    pub profiles_dir: Option<PathBuf>,
    /// The profiles that came from that directory.
    pub api_profiles: BTreeSet<String>,
    /// Files of those directories that were not loaded (an error in the file, or a
    /// conflict with the inventory file): shown on the status page, in the API and in
    /// the logs.
    pub problems: Vec<crate::machine_dir::Problem>,
}

impl Inventory {
    /// The directories loaded with the inventory file (`machines_dir`, `profiles_dir`,
    /// `distros_dir`, those it sets), which the daemons watch.
    pub fn entry_dirs(&self) -> Vec<PathBuf> {
        [&self.machines_dir, &self.profiles_dir, &self.distros_dir]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// The file name it was loaded from, for the headers of generated files.
    pub fn source_name(&self) -> &str {
        self.source.rsplit('/').next().unwrap_or(&self.source)
    }

    pub fn machine_by_mac(&self, mac: &MacAddr) -> Option<&Machine> {
        self.by_mac.get(mac).and_then(|n| self.machines.get(n))
    }

    pub fn machine_by_uuid(&self, uuid: &str) -> Option<&Machine> {
        let uuid = uuid.to_ascii_lowercase();
        self.machines
            .values()
            .find(|m| m.uuid.as_deref() == Some(uuid.as_str()))
    }

    pub fn machine_by_address(&self, ip: Ipv4Addr) -> Option<&Machine> {
        self.machines.values().find(|m| m.address == Some(ip))
    }

    /// A machine by its name or any of its MACs (in any spelling).
    pub fn find_machine(&self, key: &str) -> Option<&Machine> {
        if let Some(m) = self.machines.get(key) {
            return Some(m);
        }
        key.parse::<MacAddr>()
            .ok()
            .and_then(|mac| self.machine_by_mac(&mac))
    }

    /// The machine's profile and distro; both exist once the inventory is built.
    pub fn profile_of(&self, m: &Machine) -> Option<(&Profile, &Distro)> {
        let p = self.profiles.get(&m.profile)?;
        let d = self.distros.get(&p.distro)?;
        Some((p, d))
    }

    pub fn profile_and_distro(&self, profile: &str) -> Option<(&Profile, &Distro)> {
        let p = self.profiles.get(profile)?;
        let d = self.distros.get(&p.distro)?;
        Some((p, d))
    }
}
