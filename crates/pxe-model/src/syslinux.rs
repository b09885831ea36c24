//! syslinux's COM32 modules and the hand-written pxelinux files beside the generated ones.
//!
//! [`needs`] is each module's library dependencies as Debian's syslinux-common 6.04
//! (`/usr/lib/syslinux/modules/bios/`) records them in its ELF `DT_NEEDED` entries, so
//! `tftpd --check` can list what a menu needs and say what the TFTP root lacks;
//! [`lint`] finds the mistakes the seed guides' `pxelinux.cfg/default` files show.

use crate::menu::{EntryKind, LocalBoot};
use crate::render::entries::{Loader, shown_by};

/// Every module of syslinux-common 6.04 (BIOS) with the libraries it loads first.
pub const MODULES: &[(&str, &[&str])] = &[
    ("cat.c32", &[]),
    ("chain.c32", &["libutil.c32", "libcom32.c32"]),
    ("cmd.c32", &["libcom32.c32"]),
    ("cmenu.c32", &["libmenu.c32"]),
    ("config.c32", &["libcom32.c32"]),
    ("cptime.c32", &["libutil.c32"]),
    ("cpu.c32", &["libgpl.c32"]),
    ("cpuid.c32", &[]),
    ("cpuidtest.c32", &["libgpl.c32"]),
    ("debug.c32", &[]),
    ("dhcp.c32", &["libcom32.c32"]),
    ("dir.c32", &[]),
    ("disk.c32", &["libgpl.c32"]),
    ("dmi.c32", &["libgpl.c32"]),
    ("dmitest.c32", &["libgpl.c32"]),
    ("elf.c32", &["libcom32.c32"]),
    ("ethersel.c32", &["libcom32.c32"]),
    ("gfxboot.c32", &["libcom32.c32"]),
    ("gpxecmd.c32", &["libcom32.c32"]),
    (
        "hdt.c32",
        &["libutil.c32", "libgpl.c32", "libcom32.c32", "libmenu.c32"],
    ),
    ("hexdump.c32", &["libcom32.c32"]),
    ("host.c32", &[]),
    ("ifcpu.c32", &["libutil.c32", "libgpl.c32", "libcom32.c32"]),
    ("ifcpu64.c32", &["libcom32.c32"]),
    ("ifmemdsk.c32", &["libcom32.c32"]),
    ("ifplop.c32", &["libcom32.c32"]),
    ("kbdmap.c32", &["libcom32.c32"]),
    ("kontron_wdt.c32", &["libcom32.c32"]),
    ("ldlinux.c32", &[]),
    ("lfs.c32", &[]),
    ("libcom32.c32", &[]),
    ("libgpl.c32", &[]),
    ("liblua.c32", &[]),
    ("libmenu.c32", &["libutil.c32", "libcom32.c32"]),
    ("libutil.c32", &[]),
    ("linux.c32", &["libcom32.c32"]),
    ("ls.c32", &[]),
    ("lua.c32", &["liblua.c32", "libcom32.c32"]),
    ("mboot.c32", &["libcom32.c32"]),
    ("meminfo.c32", &[]),
    ("menu.c32", &["libutil.c32"]),
    ("pci.c32", &["libcom32.c32"]),
    ("pcitest.c32", &["libcom32.c32"]),
    ("pmload.c32", &["libcom32.c32"]),
    ("poweroff.c32", &[]),
    ("prdhcp.c32", &["libutil.c32", "libcom32.c32"]),
    ("pwd.c32", &[]),
    ("pxechn.c32", &["libutil.c32", "libcom32.c32"]),
    ("reboot.c32", &["libcom32.c32"]),
    ("rosh.c32", &["libutil.c32", "libcom32.c32"]),
    ("sanboot.c32", &["libcom32.c32"]),
    ("sdi.c32", &["libcom32.c32"]),
    ("sysdump.c32", &["libcom32.c32"]),
    ("syslinux.c32", &["libcom32.c32"]),
    ("vesa.c32", &["libcom32.c32"]),
    ("vesainfo.c32", &[]),
    ("vesamenu.c32", &["libutil.c32", "libcom32.c32"]),
    ("vpdtest.c32", &["libgpl.c32"]),
    ("whichsys.c32", &["libcom32.c32"]),
    ("zzjson.c32", &["libgpl.c32"]),
];

/// The libraries `module` needs (`None`: not a syslinux 6 module).
pub fn needs(module: &str) -> Option<&'static [&'static str]> {
    MODULES
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(module))
        .map(|(_, libs)| *libs)
}

/// `module` and what it needs, in load order (libraries first), added to `out` once each.
fn add_with_needs(out: &mut Vec<&'static str>, module: &'static str) {
    for lib in needs(module).unwrap_or(&[]) {
        add_with_needs(out, lib);
    }
    if !out.contains(&module) {
        out.push(module);
    }
}

/// The COM32 modules the generated pxelinux menu (`pxelinux.cfg/default`) needs under the
/// TFTP root: ldlinux.c32 (pxelinux.0 6.x loads it first), the menu module, and chain.c32
/// or pxechn.c32 for the entries that use them, each after its libraries.
pub fn menu_modules(inv: &crate::Inventory) -> Vec<&'static str> {
    let mut out = vec!["ldlinux.c32"];
    add_with_needs(&mut out, inv.menu.look.ui.module());
    for e in inv
        .menu
        .entries
        .iter()
        .filter(|e| shown_by(inv, Loader::Pxelinux, e))
    {
        match e.kind {
            EntryKind::Local(LocalBoot::Disk { .. }) => add_with_needs(&mut out, "chain.c32"),
            EntryKind::Chain { bios: Some(_), .. } => add_with_needs(&mut out, "pxechn.c32"),
            _ => {}
        }
    }
    out
}

/// A problem in a hand-written pxelinux file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// Lints a hand-written pxelinux configuration. `exists` says whether a path (relative
/// to the TFTP root, as pxelinux asks for it) is there.
pub fn lint(text: &str, exists: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let mut found = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut words = Words::new(raw);
        let Some((_, first)) = words.next() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        let mut report = |col: usize, message: String| {
            found.push(Finding {
                line,
                col: u32::try_from(col + 1).unwrap_or(u32::MAX),
                message,
            });
        };
        let directive = first.to_ascii_uppercase();
        match directive.as_str() {
            "KERNEL" | "LINUX" | "COM32" | "UI" => {
                let Some((col, file)) = words.next() else {
                    report(raw.len(), format!("{first} names no file"));
                    continue;
                };
                check_file(&directive, col, file, exists, &mut report);
            }
            // DEFAULT names a label, or (the seed guides' way to start a menu) a module.
            "DEFAULT" => {
                if let Some((col, word)) = words.next()
                    && word.to_ascii_lowercase().ends_with(".c32")
                {
                    check_file(&directive, col, word, exists, &mut report);
                }
            }
            "APPEND" => {
                for (col, arg) in words {
                    check_append_arg(col, arg, exists, &mut report);
                }
            }
            "INITRD" => {
                for (col, file) in words {
                    check_initrds(col, file, exists, &mut report);
                }
            }
            "MENU" => {
                let rest: Vec<(usize, &str)> = words.collect();
                if let [(_, what), (col, file), ..] = rest.as_slice()
                    && what.eq_ignore_ascii_case("BACKGROUND")
                    && !file.starts_with('#')
                    && file.contains('.')
                    && !exists(tftp_path(file))
                {
                    report(
                        *col,
                        format!("background image {file} is not under the TFTP root"),
                    );
                }
            }
            _ => {}
        }
    }
    found
}

/// A file pxelinux fetches, as a path under the root (`::file` and `/file` are the root).
fn tftp_path(file: &str) -> &str {
    file.trim_start_matches("::").trim_start_matches('/')
}

fn remote(file: &str) -> bool {
    file.contains("://") || file.contains("::") && !file.starts_with("::")
}

fn check_file(
    directive: &str,
    col: usize,
    file: &str,
    exists: &dyn Fn(&str) -> bool,
    report: &mut dyn FnMut(usize, String),
) {
    if remote(file) {
        return;
    }
    let path = tftp_path(file);
    let name = path.rsplit('/').next().unwrap_or(path);
    let module = name.to_ascii_lowercase().ends_with(".c32");
    if module {
        let Some(libs) = needs(name) else {
            report(
                col,
                format!(
                    "unknown COM32 module {name}: syslinux 6 has no such module (a typo, or one from another version?)"
                ),
            );
            return;
        };
        if !exists(path) {
            report(
                col,
                format!("COM32 module {path} is not under the TFTP root"),
            );
        }
        let dir = &path[..path.len() - name.len()];
        for lib in libs {
            if !exists(&format!("{dir}{lib}")) {
                report(
                    col,
                    format!("{name} needs {lib}, which is not under the TFTP root beside it"),
                );
            }
        }
    } else if directive == "KERNEL" && name.to_ascii_lowercase().ends_with(".bin") {
        // ldlinux picks the image type by extension: .bin is a boot sector.
        report(
            col,
            format!(
                "KERNEL {file}: pxelinux loads a .bin as a boot sector, not as a kernel (memtest86+.bin is a kernel): use LINUX {file}"
            ),
        );
        if !exists(path) {
            report(
                col,
                format!("kernel file {path} is not under the TFTP root"),
            );
        }
    } else if !exists(path) {
        let what = if directive == "UI" {
            "menu module"
        } else {
            "kernel"
        };
        report(
            col,
            format!("{what} file {path} is not under the TFTP root"),
        );
    }
}

fn check_append_arg(
    col: usize,
    arg: &str,
    exists: &dyn Fn(&str) -> bool,
    report: &mut dyn FnMut(usize, String),
) {
    if let Some(files) = arg.strip_prefix("initrd=") {
        check_initrds(col + "initrd=".len(), files, exists, report);
        return;
    }
    if let Some(at) = arg.find(",initrd=") {
        report(
            col + at,
            format!(
                "`,initrd=` is glued to `{}` with a comma: the kernel gets it as part of that argument and pxelinux loads no initrd; separate it with a space",
                &arg[..at]
            ),
        );
    }
}

fn check_initrds(
    col: usize,
    files: &str,
    exists: &dyn Fn(&str) -> bool,
    report: &mut dyn FnMut(usize, String),
) {
    // initrd=a.img,b.img loads both, in order.
    let mut offset = 0;
    for file in files.split(',') {
        if !file.is_empty() && !remote(file) && !exists(tftp_path(file)) {
            report(
                col + offset,
                format!("initrd file {} is not under the TFTP root", tftp_path(file)),
            );
        }
        offset += file.len() + 1;
    }
}

/// Blank-separated words with their byte columns.
struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        Words { text, at: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let rest = &self.text[self.at..];
        let start = self.at + (rest.len() - rest.trim_start().len());
        let tail = &self.text[start..];
        if tail.is_empty() {
            return None;
        }
        let len = tail.find(char::is_whitespace).unwrap_or(tail.len());
        self.at = start + len;
        Some((start, &tail[..len]))
    }
}
