//! iPXE scripts: per machine, the menu for unknown machines, and the generic
//! `boot.ipxe` that chains to the machine's own script by `${mac}`.

use crate::inventory::{Inventory, Machine};
use crate::plan::{Target, Transport, install_boot, machine_target};
use crate::state::InstallState;
use crate::urls::Endpoint;
use std::fmt::Write;

fn header(out: &mut String, inv: &Inventory, what: &str) {
    out.push_str("#!ipxe\n");
    out.push_str(&super::generated_by(inv, what));
}

/// `boot.ipxe`: chain to the script of whichever machine runs it.
pub fn chain_script(inv: &Inventory) -> String {
    let mut out = String::new();
    header(&mut out, inv, "generic iPXE entry script");
    // iPXE expands `${mac}` to the booting NIC's address, colon-separated.
    let script = Endpoint::IpxeScript { key: "${mac}" }.url(inv);
    let _ = writeln!(out, "chain {script}");
    out
}

/// The script of one machine: install, or `exit` to boot from local disk.
pub fn machine_script(inv: &Inventory, m: &Machine, state: InstallState) -> String {
    let mut out = String::new();
    header(&mut out, inv, &format!("iPXE script of machine {}", m.name));
    match machine_target(m, state) {
        Target::Install { profile } => {
            let Some((p, d)) = inv.profile_and_distro(&profile) else {
                return out;
            };
            let boot = install_boot(inv, p, d, Some(m), Transport::Http);
            let _ = writeln!(out, "# state: {}, profile: {}", state.as_str(), p.name);
            let _ = writeln!(out, "echo Installing {} ({})", m.hostname, p.description);
            let _ = writeln!(out, "kernel {} initrd=initrd {}", boot.kernel, boot.cmdline);
            let _ = writeln!(out, "initrd --name initrd {}", boot.initrd);
            out.push_str("boot\n");
        }
        _ => {
            let _ = writeln!(out, "# state: {}: boot from local disk", state.as_str());
            let _ = writeln!(out, "echo {}: booting from local disk", m.hostname);
            // `exit` hands control back to the firmware, which tries its next boot device.
            out.push_str("exit\n");
        }
    }
    out
}

/// The menu of every profile, for machines the inventory does not know.
pub fn menu_script(inv: &Inventory) -> String {
    let mut out = String::new();
    header(&mut out, inv, "iPXE menu");
    let _ = writeln!(out, "menu {}", inv.menu.title);
    out.push_str("item local Boot from local disk\n");
    for p in inv.profiles.values() {
        let _ = writeln!(out, "item {} {}", p.name, p.description);
    }
    super::entries::ipxe_items(&mut out, inv);
    let _ = writeln!(
        out,
        "choose --default {} --timeout {} target && goto ${{target}} || goto local",
        super::entries::default_for(inv, super::entries::Loader::Ipxe),
        u64::from(inv.menu.timeout) * 1000
    );
    out.push_str("\n:local\nexit\n");
    for p in inv.profiles.values() {
        let Some(d) = inv.distros.get(&p.distro) else {
            continue;
        };
        let boot = install_boot(inv, p, d, None, Transport::Http);
        let _ = writeln!(out, "\n:{}", p.name);
        let _ = writeln!(out, "kernel {} initrd=initrd {}", boot.kernel, boot.cmdline);
        let _ = writeln!(out, "initrd --name initrd {}", boot.initrd);
        out.push_str("boot\n");
    }
    super::entries::ipxe_sections(&mut out, inv);
    out
}
