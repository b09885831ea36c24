//! GRUB configuration files: the root `grub.cfg` (a menu that first loads the
//! machine's own file) and `grub.cfg-01-<mac>` / `grub.cfg-<aa:bb:..>`.

use crate::inventory::{Inventory, Machine, Tree};
use crate::plan::{Target, Transport, install_boot, machine_target};
use crate::state::InstallState;
use std::fmt::Write;

/// The per-machine names GRUB setups use; both, because distributions disagree.
pub fn machine_names(mac: &crate::mac::MacAddr) -> [String; 2] {
    [
        format!("grub.cfg-{}", mac.pxelinux()),
        format!("grub.cfg-{}", mac.colon()),
    ]
}

/// Quotes a kernel argument for GRUB's shell-like parser when it needs it.
fn quote_args(cmdline: &str) -> String {
    cmdline
        .split(' ')
        .map(|a| {
            if a.contains([';', '$', '\'', '"', '\\', '{', '}', '|', '&', '<', '>']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn header(out: &mut String, inv: &Inventory, what: &str) {
    out.push_str(&super::generated_by(inv, &format!("GRUB {what}")));
}

fn local_entry(out: &mut String) {
    // `exit` returns to the firmware, which boots the next entry of its boot order.
    out.push_str("menuentry 'Boot from local disk' --id local {\n  exit\n}\n");
}

/// The root `grub.cfg`: hands over to the file named after the MAC GRUB booted from
/// (`grub.cfg-aa:bb:…`: a known machine's own file, or the menu for any other). GRUB's
/// `test -f` cannot see files over TFTP, so the name is always asked for and the server
/// answers every MAC. The menu follows, for a GRUB that has no `net_default_mac`.
pub fn root_config(inv: &Inventory) -> String {
    let mut out = String::new();
    header(&mut out, inv, "root configuration");
    out.push_str(concat!(
        "if [ -n \"$net_default_mac\" ]; then\n",
        "  configfile \"$prefix/grub.cfg-$net_default_mac\"\n",
        "fi\n",
    ));
    menu_body(&mut out, inv);
    out
}

/// The menu of every profile, for machines the inventory does not know.
pub fn menu(inv: &Inventory) -> String {
    let mut out = String::new();
    header(&mut out, inv, "menu");
    menu_body(&mut out, inv);
    out
}

fn menu_body(out: &mut String, inv: &Inventory) {
    let _ = writeln!(out, "set default='{}'", inv.menu.default);
    let _ = writeln!(out, "set timeout={}\n", inv.menu.timeout);
    local_entry(out);
    for profile in inv.profiles.values() {
        let Some(distro) = inv.distros.get(&profile.distro) else {
            continue;
        };
        if matches!(distro.tree, Tree::Url(_)) {
            continue;
        }
        let boot = install_boot(inv, profile, distro, None, Transport::Tftp);
        let _ = writeln!(
            out,
            "menuentry '{}' --id {} {{\n  linux /{} {}\n  initrd /{}\n}}",
            profile.description.replace('\'', ""),
            profile.name,
            boot.kernel,
            quote_args(&boot.cmdline),
            boot.initrd
        );
    }
}

/// The file of one machine.
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
            out.push_str("set default='install'\nset timeout=0\n\n");
            let _ = writeln!(
                out,
                "menuentry 'Install {} ({})' --id install {{\n  linux /{} {}\n  initrd /{}\n}}",
                m.hostname,
                p.description.replace('\'', ""),
                boot.kernel,
                quote_args(&boot.cmdline),
                boot.initrd
            );
        }
        _ => {
            let _ = writeln!(out, "# state: {}: boot from local disk", state.as_str());
            out.push_str("set default='local'\nset timeout=0\n\n");
            local_entry(&mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_are_quoted() {
        assert_eq!(
            quote_args("autoinstall ds=nocloud-net;s=http://x/ ip=dhcp"),
            "autoinstall 'ds=nocloud-net;s=http://x/' ip=dhcp"
        );
    }
}
