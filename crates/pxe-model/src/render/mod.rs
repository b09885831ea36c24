//! Renderers: boot menus, scripts and answer files, computed from the inventory and
//! install state on each request and never written to disk.
//!
//! [`boot_file`] maps a file name a loader asks for (over TFTP or HTTP) to the file
//! generated for it, so that tftpd and httpd-tree answer the same names alike.

pub mod answer;
pub mod grub;
pub mod ipxe;
pub mod pxelinux;

use crate::inventory::{Inventory, Machine, UnknownPolicy};
use crate::mac::MacAddr;
use crate::state::InstallState;
use std::net::Ipv4Addr;

/// A generated boot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The machine it was generated for, if any (for the boot timeline).
    pub machine: Option<String>,
    pub content: String,
}

/// Which generated file a requested name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootFileKind {
    PxelinuxDefault,
    PxelinuxMachine(String),
    GrubRoot,
    GrubMachine(String),
    IpxeChain,
    IpxeMachine(String),
    IpxeMenu,
}

/// The per-machine and menu names, whatever directory the loader sits in.
///
/// `requester` is the client's address as the server saw it: pxelinux's shortened
/// hex-IP names only identify a machine when they are a prefix of the address of the
/// machine asking, and that address is its fixed one.
pub fn classify(inv: &Inventory, path: &str, requester: Option<Ipv4Addr>) -> Option<BootFileKind> {
    let path = path.trim_start_matches('/');
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let dir_last = dir.rsplit('/').next().unwrap_or(dir);
    if dir_last == "pxelinux.cfg" {
        return classify_pxelinux(inv, name, requester);
    }
    if name == "grub.cfg" {
        // Known machines need it too: it loads their own file.
        return Some(BootFileKind::GrubRoot);
    }
    if let Some(suffix) = name.strip_prefix("grub.cfg-") {
        let mac = suffix.strip_prefix("01-").unwrap_or(suffix);
        return mac
            .parse::<MacAddr>()
            .ok()
            .and_then(|mac| inv.machine_by_mac(&mac))
            .map(|m| BootFileKind::GrubMachine(m.name.clone()));
    }
    if name == "boot.ipxe" {
        return Some(BootFileKind::IpxeChain);
    }
    if let Some(key) = name.strip_suffix(".ipxe") {
        return match inv.find_machine(key) {
            Some(m) => Some(BootFileKind::IpxeMachine(m.name.clone())),
            None if key.parse::<MacAddr>().is_ok() && inv.unknown == UnknownPolicy::Menu => {
                Some(BootFileKind::IpxeMenu)
            }
            None => None,
        };
    }
    None
}

fn classify_pxelinux(
    inv: &Inventory,
    name: &str,
    requester: Option<Ipv4Addr>,
) -> Option<BootFileKind> {
    let machine = |m: &Machine| Some(BootFileKind::PxelinuxMachine(m.name.clone()));
    if name == "default" {
        return (inv.unknown == UnknownPolicy::Menu).then_some(BootFileKind::PxelinuxDefault);
    }
    if let Some(mac) = name.strip_prefix("01-") {
        return mac
            .parse::<MacAddr>()
            .ok()
            .and_then(|mac| inv.machine_by_mac(&mac))
            .and_then(machine);
    }
    if name.len() == 36 {
        return inv.machine_by_uuid(name).and_then(machine);
    }
    if (1..=8).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    {
        let ip = requester?;
        if !pxelinux::hex_ip(ip).starts_with(name) {
            return None;
        }
        return inv.machine_by_address(ip).and_then(machine);
    }
    None
}

/// Renders a classified file. `state_of` gives a machine's install state.
pub fn render(
    inv: &Inventory,
    kind: &BootFileKind,
    state_of: &dyn Fn(&str) -> InstallState,
) -> Option<Generated> {
    let for_machine = |name: &String, f: fn(&Inventory, &Machine, InstallState) -> String| {
        let m = inv.machines.get(name)?;
        Some(Generated {
            machine: Some(m.name.clone()),
            content: f(inv, m, state_of(&m.name)),
        })
    };
    let shared = |content: String| {
        Some(Generated {
            machine: None,
            content,
        })
    };
    match kind {
        BootFileKind::PxelinuxDefault => shared(pxelinux::default_menu(inv)),
        BootFileKind::PxelinuxMachine(n) => for_machine(n, pxelinux::machine_file),
        BootFileKind::GrubRoot => shared(grub::root_config(inv)),
        BootFileKind::GrubMachine(n) => for_machine(n, grub::machine_file),
        BootFileKind::IpxeChain => shared(ipxe::chain_script(inv)),
        BootFileKind::IpxeMachine(n) => for_machine(n, ipxe::machine_script),
        BootFileKind::IpxeMenu => shared(ipxe::menu_script(inv)),
    }
}

/// Classifies and renders in one step: the generated file for `path`, if any.
pub fn boot_file(
    inv: &Inventory,
    path: &str,
    requester: Option<Ipv4Addr>,
    state_of: &dyn Fn(&str) -> InstallState,
) -> Option<Generated> {
    render(inv, &classify(inv, path, requester)?, state_of)
}
