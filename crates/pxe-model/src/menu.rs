//! The menu's other entries and its appearance (issue 16 part 5): what the seed guides put
//! in their `pxelinux.cfg/default` beside the installs (local boot with a `localboot`
//! value or chain.c32 to a disk, memtest, rescue, an interactive install without an
//! answer file, a chain to another loader, WinPE through wimboot), and how pxelinux shows
//! the menu (menu.c32 or vesamenu.c32, background, colours, F-key help, prompt).
//!
//! Read from the inventory's `menu` mapping (`menu.entries.NAME`); rendered by each
//! loader's renderer in `render::entries`.

use crate::diag::{At, Diagnostics, defined_list};
use crate::inventory::{Distro, Family};
use crate::schema;
use crate::yaml::{Fields, Node};
use std::collections::{BTreeMap, BTreeSet};

/// Which pxelinux menu module draws the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ui {
    /// `menu.c32`, text mode.
    #[default]
    Menu,
    /// `vesamenu.c32`, graphical: may have a background image.
    Vesamenu,
}

impl Ui {
    /// The COM32 module's file name.
    pub fn module(self) -> &'static str {
        match self {
            Ui::Menu => "menu.c32",
            Ui::Vesamenu => "vesamenu.c32",
        }
    }
}

/// How the pxelinux menu looks. GRUB and iPXE take only the title (iPXE) from here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Look {
    pub ui: Ui,
    /// `MENU BACKGROUND`: an image (PNG, JPEG, LSS16) under the TFTP root, vesamenu only.
    pub background: Option<String>,
    /// `MENU COLOR element ...`, in the order written.
    pub colors: Vec<(String, String)>,
    /// `F1 file` … `F12 file`: key number and a text file under the TFTP root.
    pub help: Vec<(u8, String)>,
    /// `PROMPT 0` or `1`; `None` keeps the default (1).
    pub prompt: Option<bool>,
}

/// One extra menu entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its id: pxelinux label, GRUB `--id`, iPXE item.
    pub name: String,
    /// The text shown.
    pub label: String,
    pub kind: EntryKind,
    /// Kernel arguments added (rescue, install, memtest).
    pub kernel_args: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Boot from local disk.
    Local(LocalBoot),
    /// memtest86+: `kernel` for BIOS (pxelinux, iPXE on BIOS), `efi_kernel` for UEFI
    /// (GRUB, iPXE on UEFI); both under the TFTP root.
    Memtest {
        kernel: String,
        efi_kernel: Option<String>,
    },
    /// The distro's installer in rescue mode.
    Rescue { distro: String },
    /// The distro's installer, interactive: the tree, no answer file.
    Install { distro: String },
    /// Another network boot program: `bios` (pxelinux, through pxechn.c32), `efi` (GRUB
    /// chainloader), both under the TFTP root; `url` (iPXE `chain`).
    Chain {
        bios: Option<String>,
        efi: Option<String>,
        url: Option<String>,
    },
    /// Windows PE through wimboot, iPXE only: `wimboot` and `files` (a directory with
    /// `boot/bcd`, `boot/boot.sdi`, `sources/boot.wim`) are URLs or paths under the TFTP
    /// root (fetched from httpd-tree's loaders).
    Winpe { wimboot: String, files: String },
}

/// How a local-boot entry boots the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalBoot {
    /// pxelinux `LOCALBOOT n`: 0 (normal local boot), 4 (UNDI kept), 5 (PXE stack kept),
    /// -1 (back to the BIOS, which tries its next boot device; `0xffff` is the same
    /// 16-bit value and is written as -1).
    Type(i32),
    /// chain.c32 to BIOS disk `hdN` (and partition).
    Disk { disk: u8, partition: Option<u8> },
}

impl EntryKind {
    pub const NAMES: &'static [&'static str] =
        &["local", "memtest", "rescue", "install", "chain", "winpe"];
}

/// The kinds' keys, each allowed only for its kind.
const KIND_KEYS: &[(&str, &[&str])] = &[
    ("local", &["localboot", "disk", "partition"]),
    ("memtest", &["kernel", "efi_kernel", "kernel_args"]),
    ("rescue", &["distro", "kernel_args"]),
    ("install", &["distro", "kernel_args"]),
    ("chain", &["bios", "efi", "url"]),
    ("winpe", &["wimboot", "files"]),
];

/// Reads `menu`'s appearance keys.
pub(crate) fn look(f: &Fields<'_>, d: &mut Diagnostics) -> Look {
    let mut look = Look::default();
    if let Some(ui) = f.choice("ui", &["menu", "vesamenu"], d) {
        look.ui = if ui.value == "vesamenu" {
            Ui::Vesamenu
        } else {
            Ui::Menu
        };
    }
    if let Some(bg) = f.text("background", d) {
        if look.ui != Ui::Vesamenu {
            d.error(
                bg.pos,
                "`background` needs `ui: vesamenu` (menu.c32 draws text only)",
            );
        }
        check_tftp_path(&bg, d);
        look.background = Some(bg.value);
    }
    if let Some(n) = f.get("colors") {
        for (name, v) in n.entries("menu colors", d) {
            let known = name.value.len() == 5
                && name.value.starts_with("msg")
                && name.value[3..].chars().all(|c| c.is_ascii_hexdigit());
            if !known && !COLOR_ELEMENTS.contains(&name.value.as_str()) {
                d.error(
                    name.pos,
                    format!(
                        "unknown menu colour element `{}`, expected one of: {}, msgXX",
                        name.value,
                        COLOR_ELEMENTS.join(", ")
                    ),
                );
                continue;
            }
            if let Some(v) = v.text("a colour (ansi foreground background shadow)", d) {
                if v.value.contains(['\n', '\r']) || v.value.trim().is_empty() {
                    d.error(
                        v.pos,
                        "a colour is one line: ansi foreground background shadow",
                    );
                    continue;
                }
                look.colors.push((name.value, v.value.trim().to_owned()));
            }
        }
    }
    if let Some(n) = f.get("help") {
        for (key, v) in n.entries("menu help", d) {
            let num = key
                .value
                .strip_prefix('F')
                .and_then(|k| k.parse::<u8>().ok())
                .filter(|k| (1..=12).contains(k));
            let Some(num) = num else {
                d.error(
                    key.pos,
                    format!("expected a function key F1 to F12, found `{}`", key.value),
                );
                continue;
            };
            if let Some(file) = v.text("a help file under the TFTP root", d) {
                check_tftp_path(&file, d);
                look.help.push((num, file.value));
            }
        }
    }
    if let Some(p) = f.choice("prompt", &["true", "false"], d) {
        look.prompt = Some(p.value == "true");
    }
    look
}

/// `MENU COLOR` elements menu.c32 and vesamenu.c32 know (syslinux's menu.txt), besides
/// `msgXX`.
pub const COLOR_ELEMENTS: &[&str] = &[
    "screen",
    "border",
    "title",
    "unsel",
    "hotkey",
    "sel",
    "hotsel",
    "disabled",
    "scrollbar",
    "tabmsg",
    "cmdmark",
    "cmdline",
    "pwdborder",
    "pwdheader",
    "pwdentry",
    "timeout_msg",
    "timeout",
    "help",
];

/// Reads `menu.entries`. `profiles` are the names entries may not take.
pub(crate) fn entries(
    node: Option<&Node>,
    distros: &BTreeMap<String, At<Distro>>,
    declared_distros: &BTreeSet<String>,
    profiles: &BTreeSet<String>,
    d: &mut Diagnostics,
) -> Vec<Entry> {
    let mut out = Vec::new();
    let Some(node) = node else { return out };
    for (name, n) in node.entries("menu entries", d) {
        let what = format!("menu entry \"{}\"", name.value);
        let known = schema::MENU_ENTRY.names();
        let f = Fields::open(n, name.pos, &what, &known, d);
        if name.value == "local" || profiles.contains(&name.value) {
            d.error(
                name.pos,
                format!(
                    "{what}: the name is taken by {} (menu labels must be unique)",
                    if name.value == "local" {
                        "the built-in local entry".to_owned()
                    } else {
                        format!("profile \"{}\"", name.value)
                    }
                ),
            );
        }
        if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            d.error(
                name.pos,
                format!(
                    "{what}: a name is letters, digits, - _ and . (it is a label in every loader)"
                ),
            );
        }
        let Some(kind) = f.choice("kind", EntryKind::NAMES, d) else {
            if f.get("kind").is_none() {
                d.error(
                    f.pos,
                    format!(
                        "{what} needs `kind` (one of {})",
                        EntryKind::NAMES.join(", ")
                    ),
                );
            }
            continue;
        };
        // Keys of another kind are errors, not silently ignored.
        let mine = KIND_KEYS
            .iter()
            .find(|(k, _)| *k == kind.value)
            .map_or(&[][..], |(_, keys)| *keys);
        let others: BTreeSet<&str> = KIND_KEYS
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .filter(|key| !mine.contains(key))
            .collect();
        for key in others {
            if let Some(n) = f.get(key) {
                d.error(
                    n.pos,
                    format!("{what}: `{key}` is not a key of kind {}", kind.value),
                );
            }
        }
        let label = f
            .text("label", d)
            .map_or_else(|| name.value.clone(), |l| l.value);
        let kernel_args = f
            .text("kernel_args", d)
            .map(|a| a.value)
            .unwrap_or_default();
        let Some(kind) = entry_kind(&kind.value, &f, &what, distros, declared_distros, d) else {
            continue;
        };
        out.push(Entry {
            name: name.value,
            label,
            kind,
            kernel_args,
        });
    }
    out
}

fn entry_kind(
    kind: &str,
    f: &Fields<'_>,
    what: &str,
    distros: &BTreeMap<String, At<Distro>>,
    declared_distros: &BTreeSet<String>,
    d: &mut Diagnostics,
) -> Option<EntryKind> {
    let tftp_path = |key: &str, d: &mut Diagnostics| {
        f.text(key, d).map(|t| {
            check_tftp_path(&t, d);
            t.value
        })
    };
    match kind {
        "local" => {
            let localboot = f.parsed("localboot", d, parse_localboot);
            let disk = f.parsed("disk", d, |s| {
                s.strip_prefix("hd")
                    .unwrap_or(s)
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n < 0x7f)
                    .ok_or_else(|| {
                        format!("expected a BIOS disk number such as hd0 or 1, found \"{s}\"")
                    })
            });
            let partition = f.parsed("partition", d, |s| {
                s.parse::<u8>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("expected a partition number from 1, found \"{s}\""))
            });
            match (localboot, disk) {
                (Some(l), Some(disk)) => {
                    d.error(
                        l.pos,
                        format!("{what}: `localboot` and `disk` are two ways of booting the disk; give one"),
                    );
                    let _ = disk;
                    None
                }
                (Some(l), None) => {
                    if let Some(p) = partition {
                        d.error(p.pos, format!("{what}: `partition` goes with `disk`"));
                    }
                    Some(EntryKind::Local(LocalBoot::Type(l.value)))
                }
                (None, Some(disk)) => Some(EntryKind::Local(LocalBoot::Disk {
                    disk: disk.value,
                    partition: partition.map(|p| p.value),
                })),
                (None, None) => Some(EntryKind::Local(LocalBoot::Type(0))),
            }
        }
        "memtest" => {
            let kernel = f.required_text("kernel", what, d);
            if let Some(k) = &kernel {
                check_tftp_path(k, d);
            }
            let efi_kernel = tftp_path("efi_kernel", d);
            Some(EntryKind::Memtest {
                kernel: kernel?.value,
                efi_kernel,
            })
        }
        "rescue" | "install" => {
            let distro = f.required_text("distro", what, d)?;
            if !declared_distros.contains(&distro.value) {
                d.error(
                    distro.pos,
                    format!(
                        "{what}: distro \"{}\" not found {}",
                        distro.value,
                        defined_list(declared_distros.iter())
                    ),
                );
                return None;
            }
            if kind == "rescue"
                && let Some(dist) = distros.get(&distro.value)
                && dist.value.family == Family::Ubuntu
            {
                d.error(
                    distro.pos,
                    format!("{what}: Ubuntu's live installer (subiquity) has no rescue mode; boot it interactively with kind: install"),
                );
                return None;
            }
            Some(if kind == "rescue" {
                EntryKind::Rescue {
                    distro: distro.value,
                }
            } else {
                EntryKind::Install {
                    distro: distro.value,
                }
            })
        }
        "chain" => {
            let bios = tftp_path("bios", d);
            let efi = tftp_path("efi", d);
            let url = f.parsed("url", d, |s| {
                if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("tftp://")
                {
                    Ok(s.to_owned())
                } else {
                    Err(format!(
                        "expected an http://, https:// or tftp:// URL, found \"{s}\""
                    ))
                }
            });
            if bios.is_none() && efi.is_none() && url.is_none() {
                d.error(
                    f.pos,
                    format!(
                        "{what} needs at least one of `bios` (pxelinux), `efi` (GRUB), `url` (iPXE)"
                    ),
                );
                return None;
            }
            Some(EntryKind::Chain {
                bios,
                efi,
                url: url.map(|u| u.value),
            })
        }
        "winpe" => {
            let wimboot = f.required_text("wimboot", what, d);
            let files = f.required_text("files", what, d);
            Some(EntryKind::Winpe {
                wimboot: wimboot?.value.trim_end_matches('/').to_owned(),
                files: files?.value.trim_end_matches('/').to_owned(),
            })
        }
        _ => None,
    }
}

/// `LOCALBOOT`'s values that pxelinux documents (syslinux.cfg(5)).
fn parse_localboot(s: &str) -> Result<i32, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "0" => Ok(0),
        "4" => Ok(4),
        "5" => Ok(5),
        "-1" | "0xffff" => Ok(-1),
        _ => Err(format!(
            "expected a pxelinux LOCALBOOT type: 0 (normal local boot), 4 (UNDI kept), 5 (PXE stack kept), -1 or 0xffff (next boot device), found \"{s}\""
        )),
    }
}

/// A file under the TFTP root: relative, no `..`, no blanks (pxelinux splits on them).
fn check_tftp_path(p: &At<String>, d: &mut Diagnostics) {
    let v = p.value.trim_start_matches('/');
    if v.is_empty() || v.split('/').any(|s| s == "..") || v.contains(char::is_whitespace) {
        d.error(
            p.pos,
            format!(
                "expected a file under the TFTP root (no .., no blanks), found \"{}\"",
                p.value
            ),
        );
    }
}
