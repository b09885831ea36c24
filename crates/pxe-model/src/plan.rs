//! Boot plans: from what a client says to what it boots.
//!
//! `plan` is pure: the inventory, the client's DHCP identity and the machine's install
//! state in, a decision out. dhcpd uses it for `next-server` and `filename`; the
//! renderers use `install_boot` for the kernel, initrd and command line.

use crate::client::{ClientInfo, Firmware};
use crate::inventory::{Chain, Distro, Family, Inventory, Loaders, Machine, Netboot, Profile};
use crate::state::InstallState;
use crate::urls;
use std::net::Ipv4Addr;

/// How the boot file is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootFile {
    /// A path on the TFTP server (`next-server`).
    Tftp(String),
    /// A URL (UEFI HTTP boot, or a script for a client that already runs iPXE).
    Url(String),
}

impl BootFile {
    /// The text for DHCP's `file` field or option 67.
    pub fn as_str(&self) -> &str {
        match self {
            BootFile::Tftp(s) | BootFile::Url(s) => s,
        }
    }
}

/// What the loader will do once it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Install the machine's profile.
    Install { profile: String },
    /// Boot from local disk: installed, or `netboot: local`.
    LocalDisk,
    /// A machine the inventory does not know: the menu of every profile.
    Menu,
}

/// The decision for one DHCP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    /// The inventory machine, if known.
    pub machine: Option<String>,
    pub firmware: Firmware,
    pub chain: Chain,
    pub boot_file: BootFile,
    /// `next-server` when the boot file is fetched over TFTP.
    pub next_server: Option<Ipv4Addr>,
    /// Vendor class to echo in option 60 (`HTTPClient` for UEFI HTTP boot).
    pub vendor_class: Option<&'static str>,
    pub target: Target,
}

/// Why a client gets no boot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoBoot {
    /// Not a PXE, HTTP boot or iPXE client (an OS or an installer asking for an address).
    NotABootClient,
    /// An architecture with no loader (option 93 value).
    UnknownArch(u16),
    /// Not in the inventory, and `unknown_machines: ignore`.
    UnknownMachine,
    /// Over IPv6, a loader fetched over TFTP, and the inventory has no `servers.tftp6`.
    NoTftp6,
}

impl std::fmt::Display for NoBoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoBoot::NotABootClient => f.write_str("not a PXE, HTTP boot or iPXE client"),
            NoBoot::UnknownArch(a) => write!(f, "no loader for client architecture {a}"),
            NoBoot::UnknownMachine => {
                f.write_str("not in the inventory, and unknown_machines is ignore")
            }
            NoBoot::NoTftp6 => f.write_str(
                "its loader is fetched over TFTP and the inventory has no servers.tftp6",
            ),
        }
    }
}

/// Decides what a client boots. `state` is the machine's install state (ignored for
/// machines the inventory does not know).
pub fn plan(inv: &Inventory, client: &ClientInfo, state: InstallState) -> Result<BootPlan, NoBoot> {
    let arch = client.client_arch();
    let http = client.is_http_client() || arch.is_http();
    if !(client.is_pxe() || http || client.is_ipxe()) {
        return Err(NoBoot::NotABootClient);
    }
    let firmware = arch
        .firmware()
        .ok_or(NoBoot::UnknownArch(client.arch.unwrap_or(0)))?;
    let machine = inv.machine_by_mac(&client.mac);
    let (chain, target, loaders): (Chain, Target, &Loaders) = match machine {
        Some(m) => {
            let Some((profile, distro)) = inv.profile_of(m) else {
                // The inventory guarantees references resolve.
                return Err(NoBoot::UnknownMachine);
            };
            (profile.chain, machine_target(m, state), &distro.loaders)
        }
        None if inv.unknown == crate::inventory::UnknownPolicy::Ignore => {
            return Err(NoBoot::UnknownMachine);
        }
        None => (Chain::Classic, Target::Menu, &inv.loaders),
    };
    let boot_file = match chain {
        Chain::Ipxe if client.is_ipxe() => BootFile::Url(urls::ipxe_script_url(inv, &client.mac)),
        Chain::Ipxe => loader(inv, http, ipxe_loader(loaders, firmware)),
        Chain::Classic => loader(inv, http, classic_loader(loaders, firmware)),
    };
    let next_server = match boot_file {
        BootFile::Tftp(_) => Some(inv.servers.tftp),
        BootFile::Url(_) => None,
    };
    Ok(BootPlan {
        machine: machine.map(|m| m.name.clone()),
        firmware,
        chain,
        boot_file,
        next_server,
        vendor_class: http.then_some("HTTPClient"),
        target,
    })
}

/// [`plan`] for a client booting over IPv6 (`dhcpd -6`): every boot file is a URL, option
/// 59 having no next-server; a TFTP loader becomes `tftp://[servers.tftp6]/PATH`.
pub fn plan_v6(
    inv: &Inventory,
    client: &ClientInfo,
    state: InstallState,
) -> Result<BootPlan, NoBoot> {
    let mut p = plan(inv, client, state)?;
    if let BootFile::Tftp(path) = &p.boot_file {
        let server = inv.servers.tftp6.ok_or(NoBoot::NoTftp6)?;
        p.boot_file = BootFile::Url(format!(
            "tftp://[{server}]/{}",
            path.trim_start_matches('/')
        ));
    }
    p.next_server = None;
    Ok(p)
}

/// Install, unless installed already or pinned to local boot.
pub fn machine_target(m: &Machine, state: InstallState) -> Target {
    if m.netboot == Netboot::Local || state == InstallState::Installed {
        Target::LocalDisk
    } else {
        Target::Install {
            profile: m.profile.clone(),
        }
    }
}

fn loader(inv: &Inventory, http: bool, file: &str) -> BootFile {
    if !http {
        return BootFile::Tftp(file.to_owned());
    }
    // A loader inside a distro's tree (the tree's own shim) is served with the tree, not
    // from httpd-tree's loaders directory.
    match urls::tree_request(inv, file) {
        Some((distro, inside)) => BootFile::Url(urls::tree_file_url(inv, distro, inside)),
        None => BootFile::Url(urls::loader_url(inv, file)),
    }
}

fn classic_loader(l: &Loaders, fw: Firmware) -> &str {
    match fw {
        Firmware::Bios => &l.bios,
        Firmware::UefiIa32 => &l.uefi_ia32,
        Firmware::UefiX64 => &l.uefi_x64,
        Firmware::UefiArm64 => &l.uefi_arm64,
    }
}

fn ipxe_loader(l: &Loaders, fw: Firmware) -> &str {
    match fw {
        Firmware::Bios => &l.ipxe_bios,
        _ => &l.ipxe_uefi,
    }
}

/// How the loader reaches the kernel and initrd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TFTP paths (pxelinux, GRUB over TFTP).
    Tftp,
    /// URLs (iPXE).
    Http,
}

/// The kernel, initrd and command line of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallBoot {
    pub kernel: String,
    pub initrd: String,
    /// Kernel arguments without `initrd=` (each loader adds its own form).
    pub cmdline: String,
    pub answer_url: String,
}

/// The install boot of a profile, for a machine (its own answer-file URL) or for a
/// menu entry (the profile's answer file).
pub fn install_boot(
    inv: &Inventory,
    profile: &Profile,
    distro: &Distro,
    machine: Option<&Machine>,
    transport: Transport,
) -> InstallBoot {
    let (kernel, initrd) = boot_files(inv, distro, transport);
    let answer_url = match machine {
        Some(m) => urls::machine_answer_url(inv, distro.family, m),
        None => urls::profile_answer_url(inv, distro.family, profile),
    };
    let tree = urls::tree_url(inv, distro);
    let mut args: Vec<String> = match (machine, &profile.deploy) {
        // The deploy agent's initramfs: it fetches its plan, nothing else.
        (Some(m), Some(_)) => vec![
            "ip=dhcp".into(),
            format!("pxe.plan={}", crate::deploy_plan::plan_url(inv, m)),
        ],
        _ => family_args(distro, &answer_url, &tree),
    };
    if let (Some(m), Family::Debian, None) = (machine, distro.family, &profile.deploy) {
        args.push(format!("hostname={}", short_hostname(&m.hostname)));
    }
    if !profile.kernel_args.trim().is_empty() {
        args.push(profile.kernel_args.trim().to_owned());
    }
    InstallBoot {
        kernel,
        initrd,
        cmdline: args.join(" "),
        answer_url,
    }
}

/// Where a loader fetches the distro's installer kernel and initrd over `transport`.
pub fn boot_files(inv: &Inventory, distro: &Distro, transport: Transport) -> (String, String) {
    let on_root = crate::location::boot_files_on_tftp_root(distro);
    match transport {
        // A tree on an FTP or NFS server: kernel and initrd are on the TFTP root.
        Transport::Tftp if on_root => (
            distro.kernel.trim_start_matches('/').to_owned(),
            distro.initrd.trim_start_matches('/').to_owned(),
        ),
        Transport::Http if on_root => (
            urls::loader_url(inv, &distro.kernel),
            urls::loader_url(inv, &distro.initrd),
        ),
        Transport::Tftp => (
            urls::tree_path(distro, &distro.kernel),
            urls::tree_path(distro, &distro.initrd),
        ),
        Transport::Http => (
            urls::tree_file_url(inv, distro, &distro.kernel),
            urls::tree_file_url(inv, distro, &distro.initrd),
        ),
    }
}

/// The kernel arguments the distro's installer needs to find its answer file and tree
/// (for anaconda, those of its generation).
fn family_args(distro: &Distro, answer_url: &str, tree: &str) -> Vec<String> {
    match distro.family {
        Family::Redhat => distro.anaconda().args(answer_url, tree),
        Family::Debian => vec![
            "auto=true".into(),
            "priority=critical".into(),
            format!("url={answer_url}"),
        ],
        Family::Ubuntu => {
            let seed = answer_url.trim_end_matches("user-data");
            vec![
                "autoinstall".into(),
                "ip=dhcp".into(),
                format!("ds=nocloud-net;s={seed}"),
            ]
        }
    }
}

/// `web01` of `web01.example.com`.
pub fn short_hostname(h: &str) -> &str {
    h.split('.').next().unwrap_or(h)
}

/// `example.com` of `web01.example.com` (empty without a domain).
pub fn domain_of(h: &str) -> &str {
    h.split_once('.').map_or("", |(_, d)| d)
}
