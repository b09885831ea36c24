//! GRUB configuration files: the root `grub.cfg` (a menu that first loads the
//! machine's own file) and `grub.cfg-01-<mac>` / `grub.cfg-<aa:bb:..>`.

use crate::inventory::{Inventory, Machine};
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
pub(super) fn quote_args(cmdline: &str) -> String {
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

/// Where an installed disk's own UEFI loader lives on its ESP, in the order the local-boot
/// entry tries them: the distributions' NVRAM targets first (shim, then GRUB alone), Windows,
/// and last the removable-media path every UEFI disk image carries. `{arch}` and `{ARCH}`
/// are GRUB variables set from `$grub_cpu` (`x64`/`X64`, `aa64`/`AA64`, `ia32`/`IA32`).
///
/// The removable path comes last because on a disk that also has a distribution's
/// directory it is often shim with `fbx64.efi` beside it: shim then runs the fallback
/// loader, which writes a new NVRAM boot entry ahead of the network and resets the machine,
/// so the next network boot would never happen.
pub const EFI_LOADERS: &[&str] = &[
    "/EFI/debian/shim${arch}.efi",
    "/EFI/debian/grub${arch}.efi",
    "/EFI/ubuntu/shim${arch}.efi",
    "/EFI/ubuntu/grub${arch}.efi",
    "/EFI/redhat/shim${arch}.efi",
    "/EFI/rocky/shim${arch}.efi",
    "/EFI/almalinux/shim${arch}.efi",
    "/EFI/centos/shim${arch}.efi",
    "/EFI/fedora/shim${arch}.efi",
    "/EFI/Microsoft/Boot/bootmgfw.efi",
    "/EFI/BOOT/BOOT${ARCH}.EFI",
];

/// The local-boot entry.
///
/// On UEFI, GRUB's `exit` is not enough: Debian 12's GRUB (2.06) always exits with
/// `EFI_SUCCESS`, and edk2's boot manager (OVMF, and the many firmwares built on edk2)
/// answers a boot option that returns success by opening its own menu (`UiApp`) instead
/// of trying the next boot option. Seen in the lab: the VM sat in the firmware's setup
/// menu. So the entry finds the disk's own loader on its ESP and chainloads it, with
/// `root` set to that partition first: GRUB's `chainloader` gives the loaded image the
/// device path of `root`, and shim looks for `grub*.efi` beside itself on that device
/// (left on the network device, it would fetch the network GRUB again). `exit` stays as
/// the last resort (a disk with none of these loaders) and is what BIOS GRUB does.
fn local_entry(out: &mut String) {
    local_entry_as(out, "Boot from local disk", "local");
}

/// The local-boot entry under another label and id (a menu's own local entries).
fn local_entry_as(out: &mut String, label: &str, id: &str) {
    let _ = writeln!(out, "menuentry '{label}' --id {id} {{");
    out.push_str("  if [ \"$grub_platform\" = \"efi\" ]; then\n");
    out.push_str(concat!(
        "    if [ \"$grub_cpu\" = \"x86_64\" ]; then arch=x64; ARCH=X64;\n",
        "    elif [ \"$grub_cpu\" = \"arm64\" ]; then arch=aa64; ARCH=AA64;\n",
        "    else arch=ia32; ARCH=IA32; fi\n",
    ));
    out.push_str("    for loader in");
    for l in EFI_LOADERS {
        let _ = write!(out, " {l}");
    }
    out.push_str("; do\n");
    out.push_str(concat!(
        "      if search --no-floppy --file --set=root \"$loader\"; then\n",
        "        echo \"local boot: chainloading ($root)$loader\"\n",
        "        chainloader \"$loader\"\n",
        "        boot\n",
        "      fi\n",
        "    done\n",
        "    echo \"local boot: no UEFI loader found on any disk\"\n",
        "  fi\n",
        "  exit\n",
        "}\n",
    ));
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
    let _ = writeln!(
        out,
        "set default='{}'",
        super::entries::default_for(inv, super::entries::Loader::Grub)
    );
    let _ = writeln!(out, "set timeout={}\n", inv.menu.timeout);
    local_entry(out);
    for profile in inv.profiles.values() {
        let Some(distro) = inv.distros.get(&profile.distro) else {
            continue;
        };
        if !crate::location::bootable_over_tftp(distro) {
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
    super::entries::grub(out, inv, local_entry_as);
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

    /// The words of the entry's `for loader in …;` list.
    fn loader_list(entry: &str) -> Vec<&str> {
        let line = entry
            .lines()
            .find(|l| l.trim_start().starts_with("for loader in "))
            .expect("a loader loop");
        let list = line.trim_start()["for loader in ".len()..]
            .split(';')
            .next()
            .unwrap_or_default();
        list.split_whitespace().collect()
    }

    #[test]
    fn uefi_local_boot_chainloads_the_disks_loader_and_exits_only_last() {
        let mut entry = String::new();
        local_entry(&mut entry);
        let at = |needle: &str| {
            entry
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing from:\n{entry}"))
        };
        // On UEFI: root set to the partition that holds a loader, then chainload and boot
        // it; `exit` (which edk2 answers with its own menu) only after every loader failed.
        let efi = at("if [ \"$grub_platform\" = \"efi\" ]; then");
        let search = at("search --no-floppy --file --set=root \"$loader\"");
        let chain = at("chainloader \"$loader\"");
        let boot = at("        boot\n");
        let done = at("    done\n");
        let fi = at("  fi\n  exit\n}");
        assert!(efi < search && search < chain && chain < boot && boot < done && done < fi);
        assert_eq!(entry.matches("exit").count(), 1, "{entry}");
        // The architecture's names, from GRUB's own variable.
        for (cpu, arch, upper) in [("x86_64", "x64", "X64"), ("arm64", "aa64", "AA64")] {
            assert!(
                entry.contains(&format!(
                    "\"$grub_cpu\" = \"{cpu}\" ]; then arch={arch}; ARCH={upper};"
                )),
                "{entry}"
            );
        }
        // Every loader is tried; distributions' own before the removable path.
        let list = loader_list(&entry);
        assert_eq!(list, EFI_LOADERS);
        assert_eq!(list.first(), Some(&"/EFI/debian/shim${arch}.efi"));
        assert_eq!(list.last(), Some(&"/EFI/BOOT/BOOT${ARCH}.EFI"));
        // Exactly one entry, closed.
        assert!(entry.starts_with("menuentry 'Boot from local disk' --id local {\n"));
        assert!(entry.ends_with("  exit\n}\n"));
    }

    #[test]
    fn semicolons_are_quoted() {
        assert_eq!(
            quote_args("autoinstall ds=nocloud-net;s=http://x/ ip=dhcp"),
            "autoinstall 'ds=nocloud-net;s=http://x/' ip=dhcp"
        );
    }
}
