//! pxelinux configuration files: the default menu and the per-machine file.

use super::entries;
use crate::inventory::{Inventory, Machine};
use crate::plan::{Target, Transport, install_boot, machine_target};
use crate::state::InstallState;
use std::fmt::Write;

/// The names pxelinux asks for, in its order: UUID, `01-<mac>`, the upper-case hex
/// IP shortened one digit at a time, then `default`. Each is under `pxelinux.cfg/`.
pub fn search_order(
    uuid: Option<&str>,
    mac: &crate::mac::MacAddr,
    ip: Option<std::net::Ipv4Addr>,
) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(u) = uuid {
        names.push(u.to_ascii_lowercase());
    }
    names.push(mac.pxelinux());
    if let Some(ip) = ip {
        let hex = hex_ip(ip);
        for len in (1..=8).rev() {
            names.push(hex[..len].to_owned());
        }
    }
    names.push("default".to_owned());
    names
}

/// `10.0.0.91` → `0A00005B`.
pub fn hex_ip(ip: std::net::Ipv4Addr) -> String {
    ip.octets().iter().map(|b| format!("{b:02X}")).collect()
}

fn header(out: &mut String, inv: &Inventory, what: &str) {
    out.push_str(&super::generated_by(inv, &format!("pxelinux {what}")));
}

fn local_entry(out: &mut String) {
    out.push_str("LABEL local\n  MENU LABEL Boot from local disk\n  LOCALBOOT 0\n");
}

/// The menu of every profile, for machines the inventory does not know.
pub fn default_menu(inv: &Inventory) -> String {
    let mut out = String::new();
    header(&mut out, inv, "default menu");
    let _ = writeln!(out, "UI {}", inv.menu.look.ui.module());
    let _ = writeln!(
        out,
        "DEFAULT {}",
        entries::default_for(inv, entries::Loader::Pxelinux)
    );
    let _ = writeln!(
        out,
        "PROMPT {}",
        u8::from(inv.menu.look.prompt.unwrap_or(true))
    );
    // pxelinux counts its timeout in tenths of a second.
    let _ = writeln!(out, "TIMEOUT {}", inv.menu.timeout * 10);
    let _ = writeln!(out, "MENU TITLE {}", inv.menu.title);
    entries::pxelinux_look(&mut out, inv);
    out.push('\n');
    local_entry(&mut out);
    for profile in inv.profiles.values() {
        let Some(distro) = inv.distros.get(&profile.distro) else {
            continue;
        };
        if !crate::location::bootable_over_tftp(distro) {
            continue; // not reachable over TFTP
        }
        let boot = install_boot(inv, profile, distro, None, Transport::Tftp);
        out.push('\n');
        let _ = writeln!(out, "LABEL {}", profile.name);
        let _ = writeln!(out, "  MENU LABEL {}", profile.description);
        let _ = writeln!(out, "  KERNEL {}", boot.kernel);
        let _ = writeln!(out, "  APPEND initrd={} {}", boot.initrd, boot.cmdline);
    }
    entries::pxelinux(&mut out, inv);
    out
}

/// The file of one machine: its install, or local boot.
pub fn machine_file(inv: &Inventory, m: &Machine, state: InstallState) -> String {
    let mut out = String::new();
    header(&mut out, inv, &format!("file of machine {}", m.name));
    match machine_target(m, state) {
        Target::Install { profile } => {
            let Some((p, d)) = inv.profile_and_distro(&profile) else {
                return out;
            };
            let boot = install_boot(inv, p, d, Some(m), Transport::Tftp);
            let _ = writeln!(out, "# state: {}, profile: {}", state.as_str(), p.name);
            out.push_str("DEFAULT install\nPROMPT 0\nTIMEOUT 0\n\n");
            let _ = writeln!(out, "LABEL install");
            let _ = writeln!(
                out,
                "  MENU LABEL Install {} ({})",
                m.hostname, p.description
            );
            let _ = writeln!(out, "  KERNEL {}", boot.kernel);
            let _ = writeln!(out, "  APPEND initrd={} {}", boot.initrd, boot.cmdline);
        }
        _ => {
            let _ = writeln!(
                out,
                "# state: {}, netboot: {}: boot from local disk",
                state.as_str(),
                if m.netboot == crate::inventory::Netboot::Local {
                    "local"
                } else {
                    "install"
                }
            );
            out.push_str("DEFAULT local\nPROMPT 0\nTIMEOUT 0\n\n");
            local_entry(&mut out);
        }
    }
    out
}
