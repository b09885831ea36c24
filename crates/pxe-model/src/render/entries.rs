//! The menu's other entries ([`crate::menu`]) as each loader writes them: pxelinux
//! labels, GRUB menuentries, iPXE items and their sections. A loader that cannot boot an
//! entry leaves it out ([`shown_by`] says which), and its menu then never defaults to it.

use crate::anaconda::Anaconda;
use crate::inventory::{Distro, Family, Inventory};
use crate::location::bootable_over_tftp;
use crate::menu::{Entry, EntryKind, LocalBoot};
use crate::plan::{Transport, boot_files};
use crate::urls;
use std::fmt::Write;

/// The loader families the suite renders menus for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Pxelinux,
    Grub,
    Ipxe,
}

/// Whether `loader` shows the entry.
pub fn shown_by(inv: &Inventory, loader: Loader, e: &Entry) -> bool {
    let over_tftp = |d: &str| inv.distros.get(d).is_some_and(bootable_over_tftp);
    match (&e.kind, loader) {
        (EntryKind::Local(_), _) => true,
        (EntryKind::Memtest { .. }, Loader::Pxelinux | Loader::Ipxe) => true,
        (EntryKind::Memtest { efi_kernel, .. }, Loader::Grub) => efi_kernel.is_some(),
        (EntryKind::Rescue { distro } | EntryKind::Install { distro }, Loader::Ipxe) => {
            inv.distros.contains_key(distro)
        }
        (EntryKind::Rescue { distro } | EntryKind::Install { distro }, _) => over_tftp(distro),
        (EntryKind::Chain { bios, .. }, Loader::Pxelinux) => bios.is_some(),
        (EntryKind::Chain { efi, .. }, Loader::Grub) => efi.is_some(),
        (EntryKind::Chain { .. }, Loader::Ipxe) => true,
        (EntryKind::Winpe { .. }, loader) => loader == Loader::Ipxe,
    }
}

/// The menu's default for `loader`: the configured one, or `local` when that is an
/// entry this loader does not show.
pub fn default_for(inv: &Inventory, loader: Loader) -> &str {
    let default = inv.menu.default.as_str();
    match inv.menu.entries.iter().find(|e| e.name == default) {
        Some(e) if !shown_by(inv, loader, e) => "local",
        _ => default,
    }
}

/// The kernel arguments of a rescue or interactive install boot of `distro`: the tree
/// in its generation's form, no answer file.
pub fn installer_args(inv: &Inventory, distro: &Distro, rescue: bool, extra: &str) -> String {
    let tree = urls::tree_url(inv, distro);
    let mut args: Vec<String> = match distro.family {
        Family::Redhat => {
            let generation = distro.anaconda();
            let repo = match generation {
                Anaconda::El5 => format!("method={tree}"),
                Anaconda::El6 => format!("repo={tree}"),
                Anaconda::El7 => format!("inst.repo={tree}"),
            };
            match (rescue, generation) {
                (false, _) => vec![repo],
                (true, Anaconda::El7) => vec!["inst.rescue".into(), repo],
                (true, _) => vec!["rescue".into(), repo],
            }
        }
        // The installer asks for its mirror itself.
        Family::Debian if rescue => vec!["rescue/enable=true".into()],
        Family::Debian => Vec::new(),
        Family::Ubuntu => vec!["ip=dhcp".into()],
    };
    if !extra.trim().is_empty() {
        args.push(extra.trim().to_owned());
    }
    args.join(" ")
}

/// A file for iPXE: a URL as given, or a path under the TFTP root through httpd-tree.
fn fetch_url(inv: &Inventory, file: &str) -> String {
    if file.contains("://") {
        file.to_owned()
    } else {
        urls::loader_url(inv, file)
    }
}

fn with_args(first: &str, args: &str) -> String {
    if args.trim().is_empty() {
        first.to_owned()
    } else {
        format!("{first} {}", args.trim())
    }
}

/// pxelinux `LABEL` blocks of the entries it shows.
pub fn pxelinux(out: &mut String, inv: &Inventory) {
    for e in inv
        .menu
        .entries
        .iter()
        .filter(|e| shown_by(inv, Loader::Pxelinux, e))
    {
        let _ = write!(out, "\nLABEL {}\n  MENU LABEL {}\n", e.name, e.label);
        match &e.kind {
            EntryKind::Local(LocalBoot::Type(t)) => {
                let _ = writeln!(out, "  LOCALBOOT {t}");
            }
            EntryKind::Local(LocalBoot::Disk { disk, partition }) => {
                out.push_str("  COM32 chain.c32\n");
                let part = partition.map(|p| format!(" {p}")).unwrap_or_default();
                let _ = writeln!(out, "  APPEND hd{disk}{part}");
            }
            EntryKind::Memtest { kernel, .. } => {
                // LINUX, not KERNEL: pxelinux takes a `.bin` for a boot sector.
                let _ = writeln!(out, "  LINUX {}", kernel.trim_start_matches('/'));
                if !e.kernel_args.trim().is_empty() {
                    let _ = writeln!(out, "  APPEND {}", e.kernel_args.trim());
                }
            }
            EntryKind::Rescue { distro } | EntryKind::Install { distro } => {
                let Some(d) = inv.distros.get(distro) else {
                    continue;
                };
                let (kernel, initrd) = boot_files(inv, d, Transport::Tftp);
                let rescue = matches!(e.kind, EntryKind::Rescue { .. });
                let args = installer_args(inv, d, rescue, &e.kernel_args);
                let _ = writeln!(out, "  KERNEL {kernel}");
                let _ = writeln!(
                    out,
                    "  APPEND {}",
                    with_args(&format!("initrd={initrd}"), &args)
                );
            }
            EntryKind::Chain {
                bios: Some(file), ..
            } => {
                // pxechn.c32 takes SERVER::PATH and hands the program that server.
                out.push_str("  COM32 pxechn.c32\n");
                let _ = writeln!(
                    out,
                    "  APPEND {}::{}",
                    inv.servers.tftp,
                    file.trim_start_matches('/')
                );
            }
            EntryKind::Chain { bios: None, .. } | EntryKind::Winpe { .. } => {}
        }
    }
}

/// The appearance lines of the pxelinux menu, after `UI`.
pub fn pxelinux_look(out: &mut String, inv: &Inventory) {
    let look = &inv.menu.look;
    if let Some(bg) = &look.background {
        let _ = writeln!(out, "MENU BACKGROUND {}", bg.trim_start_matches('/'));
    }
    for (element, colour) in &look.colors {
        let _ = writeln!(out, "MENU COLOR {element} {colour}");
    }
    for (key, file) in &look.help {
        let _ = writeln!(out, "F{key} {}", file.trim_start_matches('/'));
    }
}

/// GRUB menuentries of the entries it shows. `local` writes the local-boot entry's body
/// under a given label and id.
pub fn grub(out: &mut String, inv: &Inventory, local: fn(&mut String, &str, &str)) {
    for e in inv
        .menu
        .entries
        .iter()
        .filter(|e| shown_by(inv, Loader::Grub, e))
    {
        let label = e.label.replace('\'', "");
        match &e.kind {
            EntryKind::Local(_) => local(out, &label, &e.name),
            EntryKind::Memtest {
                efi_kernel: Some(k),
                ..
            } => {
                let _ = writeln!(
                    out,
                    "menuentry '{label}' --id {} {{\n  linux {}\n}}",
                    e.name,
                    with_args(&format!("/{}", k.trim_start_matches('/')), &e.kernel_args)
                );
            }
            EntryKind::Rescue { distro } | EntryKind::Install { distro } => {
                let Some(d) = inv.distros.get(distro) else {
                    continue;
                };
                let (kernel, initrd) = boot_files(inv, d, Transport::Tftp);
                let rescue = matches!(e.kind, EntryKind::Rescue { .. });
                let args = super::grub::quote_args(&installer_args(inv, d, rescue, &e.kernel_args));
                let _ = writeln!(
                    out,
                    "menuentry '{label}' --id {} {{\n  linux {}\n  initrd /{initrd}\n}}",
                    e.name,
                    with_args(&format!("/{kernel}"), &args)
                );
            }
            EntryKind::Chain { efi: Some(f), .. } => {
                let _ = writeln!(
                    out,
                    "menuentry '{label}' --id {} {{\n  chainloader /{}\n}}",
                    e.name,
                    f.trim_start_matches('/')
                );
            }
            _ => {}
        }
    }
}

/// iPXE `item` lines of the entries.
pub fn ipxe_items(out: &mut String, inv: &Inventory) {
    for e in inv
        .menu
        .entries
        .iter()
        .filter(|e| shown_by(inv, Loader::Ipxe, e))
    {
        let _ = writeln!(out, "item {} {}", e.name, e.label);
    }
}

/// iPXE sections (`:name` … ) of the entries.
pub fn ipxe_sections(out: &mut String, inv: &Inventory) {
    for e in inv
        .menu
        .entries
        .iter()
        .filter(|e| shown_by(inv, Loader::Ipxe, e))
    {
        let _ = writeln!(out, "\n:{}", e.name);
        match &e.kind {
            // Back to the firmware, which tries its next boot device.
            EntryKind::Local(LocalBoot::Type(_)) => out.push_str("exit\n"),
            EntryKind::Local(LocalBoot::Disk { disk, .. }) => {
                let _ = writeln!(
                    out,
                    "sanboot --no-describe --drive 0x{:02x}",
                    0x80 + u32::from(*disk)
                );
            }
            EntryKind::Memtest { kernel, efi_kernel } => {
                let bios = with_args(&fetch_url(inv, kernel), &e.kernel_args);
                match efi_kernel {
                    Some(k) => {
                        let efi = with_args(&fetch_url(inv, k), &e.kernel_args);
                        let _ = writeln!(
                            out,
                            "iseq ${{platform}} efi && kernel {efi} || kernel {bios}"
                        );
                    }
                    None => {
                        let _ = writeln!(out, "kernel {bios}");
                    }
                }
                out.push_str("boot\n");
            }
            EntryKind::Rescue { distro } | EntryKind::Install { distro } => {
                let Some(d) = inv.distros.get(distro) else {
                    continue;
                };
                let (kernel, initrd) = boot_files(inv, d, Transport::Http);
                let rescue = matches!(e.kind, EntryKind::Rescue { .. });
                let args = installer_args(inv, d, rescue, &e.kernel_args);
                let _ = writeln!(
                    out,
                    "kernel {}",
                    with_args(&format!("{kernel} initrd=initrd"), &args)
                );
                let _ = writeln!(out, "initrd --name initrd {initrd}");
                out.push_str("boot\n");
            }
            EntryKind::Chain { url: Some(u), .. } => {
                let _ = writeln!(out, "chain {u}");
            }
            EntryKind::Chain {
                bios,
                efi,
                url: None,
            } => match (bios, efi) {
                (Some(b), Some(f)) => {
                    let _ = writeln!(
                        out,
                        "iseq ${{platform}} efi && chain {} || chain {}",
                        fetch_url(inv, f),
                        fetch_url(inv, b)
                    );
                }
                (Some(one), None) | (None, Some(one)) => {
                    let _ = writeln!(out, "chain {}", fetch_url(inv, one));
                }
                (None, None) => out.push_str("exit\n"),
            },
            EntryKind::Winpe { wimboot, files } => {
                let base = fetch_url(inv, files);
                let _ = writeln!(out, "kernel {}", fetch_url(inv, wimboot));
                // wimboot takes each file's name from its command line.
                for (inside, name) in [
                    ("boot/bcd", "BCD"),
                    ("boot/boot.sdi", "boot.sdi"),
                    ("sources/boot.wim", "boot.wim"),
                ] {
                    let _ = writeln!(out, "initrd {base}/{inside} {name}");
                }
                out.push_str("boot\n");
            }
        }
    }
}
