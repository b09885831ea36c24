//! Import: read an install tree and produce its distro entry.
//!
//! Red Hat-family trees describe themselves in `.treeinfo` (an INI file: the release
//! in `[release]` or, in older trees, `[general]`; kernel and initrd per architecture in
//! `[images-<arch>]`). Debian and Ubuntu trees are recognised by their layout. No
//! signature file is needed: the tree says what it is.

pub mod archive;
pub mod image;

use crate::inventory::{Arch, Family};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A distro entry found in a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// A suggested distro name, such as `rocky9-x86_64`.
    pub name: String,
    /// What the tree calls itself (`Rocky Linux 9.2`).
    pub release: String,
    pub arch: Arch,
    pub family: Family,
    pub tree: PathBuf,
    pub kernel: String,
    pub initrd: String,
    /// The tree's own signed shim for UEFI, a path inside the tree with the tree's GRUB
    /// (`grub<arch>.efi`) beside it; `None` when the tree ships no such pair.
    pub shim: Option<String>,
}

impl Imported {
    /// The entry as inventory YAML, under `distros:`.
    pub fn to_yaml(&self, name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "  {name}:  # {}", self.release);
        let _ = writeln!(out, "    arch: {}", self.arch.as_str());
        let _ = writeln!(out, "    family: {}", self.family.as_str());
        let _ = writeln!(out, "    tree: {}", self.tree.display());
        let _ = writeln!(out, "    kernel: {}", self.kernel);
        let _ = writeln!(out, "    initrd: {}", self.initrd);
        if self.family == Family::Redhat
            && crate::anaconda::Anaconda::of_release(&self.release).is_some()
        {
            // The installer generation, hence its kernel arguments, follows from it.
            let _ = writeln!(out, "    version: \"{}\"", self.release.replace('"', ""));
        }
        if let Some(shim) = &self.shim {
            // The OS vendor's shim decides which kernels may boot under Secure Boot, so
            // UEFI clients get the tree's own; it fetches the GRUB beside it.
            let key = match self.arch {
                Arch::Aarch64 => "uefi_arm64",
                Arch::I386 => "uefi_ia32",
                Arch::X86_64 => "uefi_x64",
            };
            let _ = writeln!(
                out,
                "    loaders:  # the tree's signed shim, its GRUB beside it"
            );
            let _ = writeln!(out, "      {key}: trees/{name}/{shim}");
        }
        out
    }
}

/// Where trees ship a signed shim, with the GRUB it loads (`grub<arch>.efi`) in the same
/// directory: Debian's netboot tree (`bootnet<arch>.efi`, the network shim) and the
/// removable-media path of DVD and ISO trees (Red Hat family, Ubuntu).
fn shim_candidates(arch: Arch) -> Vec<(String, String)> {
    let (a, upper) = match arch {
        Arch::X86_64 => ("x64", "X64"),
        Arch::Aarch64 => ("aa64", "AA64"),
        Arch::I386 => ("ia32", "IA32"),
    };
    let di = format!("debian-installer/{}", debian_arch_dir(arch));
    vec![
        (format!("{di}/bootnet{a}.efi"), format!("{di}/grub{a}.efi")),
        (
            format!("EFI/BOOT/BOOT{upper}.EFI"),
            format!("EFI/BOOT/grub{a}.efi"),
        ),
        (
            format!("EFI/boot/boot{a}.efi"),
            format!("EFI/boot/grub{a}.efi"),
        ),
    ]
}

/// The tree's shim, when it ships one with its GRUB beside it (a shim alone would
/// fetch a GRUB that is not there).
pub fn find_shim(tree: &Path, arch: Arch) -> Option<String> {
    shim_candidates(arch)
        .into_iter()
        .find(|(shim, grub)| tree.join(shim).is_file() && tree.join(grub).is_file())
        .map(|(shim, _)| shim)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
    #[error(
        "{0}: not an install tree (no .treeinfo, no debian-installer/, install.*/ or casper/ directory)"
    )]
    Unknown(PathBuf),
}

/// INI sections → keys → values, as `.treeinfo` uses them.
pub fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_owned();
            out.entry(section.clone()).or_default();
        } else if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    out
}

/// Reads a tree. `arch` picks the architecture when the tree has several.
pub fn import(tree: &Path, arch: Option<Arch>) -> Result<Imported, ImportError> {
    let treeinfo = tree.join(".treeinfo");
    if treeinfo.is_file() {
        let text = std::fs::read_to_string(&treeinfo).map_err(|source| ImportError::Io {
            path: treeinfo.clone(),
            source,
        })?;
        return from_treeinfo(tree, &treeinfo, &text, arch);
    }
    if let Some(found) = debian_netboot(tree, arch) {
        return Ok(found);
    }
    if let Some(found) = ubuntu_live(tree) {
        return Ok(found);
    }
    Err(ImportError::Unknown(tree.to_owned()))
}

fn from_treeinfo(
    tree: &Path,
    path: &Path,
    text: &str,
    want: Option<Arch>,
) -> Result<Imported, ImportError> {
    let ini = parse_ini(text);
    let bad = |message: String| ImportError::Bad {
        path: path.to_owned(),
        message,
    };
    let get = |sec: &str, key: &str| ini.get(sec).and_then(|s| s.get(key)).cloned();
    // Newer trees (productmd): [release] name/short/version, [tree] arch.
    // Older ones (CentOS 7): [general] family/version/arch.
    let (name, short, version) = match (get("release", "name"), get("general", "family")) {
        (Some(n), _) => (
            n,
            get("release", "short").unwrap_or_default(),
            get("release", "version").unwrap_or_default(),
        ),
        (None, Some(f)) => (f.clone(), f, get("general", "version").unwrap_or_default()),
        (None, None) => return Err(bad("no [release] name or [general] family".into())),
    };
    let tree_arch = get("tree", "arch").or_else(|| get("general", "arch"));
    let arch_name = match (want, tree_arch) {
        (Some(a), _) => a.as_str().to_owned(),
        (None, Some(a)) => a,
        (None, None) => return Err(bad("no architecture in [tree] or [general]".into())),
    };
    let arch = Arch::parse(&arch_name)
        .ok_or_else(|| bad(format!("unsupported architecture {arch_name}")))?;
    let section = format!("images-{arch_name}");
    let kernel = get(&section, "kernel").ok_or_else(|| bad(format!("no kernel in [{section}]")))?;
    let initrd = get(&section, "initrd").ok_or_else(|| bad(format!("no initrd in [{section}]")))?;
    let major = version.split('.').next().unwrap_or("").to_owned();
    let short = if short.is_empty() {
        name.clone()
    } else {
        short
    };
    let slug: String = short
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    Ok(Imported {
        name: format!("{slug}{major}-{}", arch.as_str()),
        release: format!("{name} {version}").trim().to_owned(),
        arch,
        family: Family::Redhat,
        tree: tree.to_owned(),
        kernel,
        initrd,
        shim: find_shim(tree, arch),
    })
}

fn debian_arch_dir(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::I386 => "i386",
        Arch::Aarch64 => "arm64",
    }
}

/// Debian's netboot layout: `debian-installer/<arch>/linux` and `initrd.gz`, with
/// `version.info` naming the release.
fn debian_netboot(tree: &Path, want: Option<Arch>) -> Option<Imported> {
    let arches: Vec<Arch> = match want {
        Some(a) => vec![a],
        None => vec![Arch::X86_64, Arch::Aarch64, Arch::I386],
    };
    for arch in arches {
        let dir = format!("debian-installer/{}", debian_arch_dir(arch));
        let kernel = format!("{dir}/linux");
        let initrd = format!("{dir}/initrd.gz");
        if !(tree.join(&kernel).is_file() && tree.join(&initrd).is_file()) {
            continue;
        }
        let info = std::fs::read_to_string(tree.join("version.info")).unwrap_or_default();
        let (is_ubuntu, version) = parse_version_info(&info);
        let family = if is_ubuntu {
            Family::Ubuntu
        } else {
            Family::Debian
        };
        let label = if is_ubuntu { "ubuntu" } else { "debian" };
        let major = version.split(['.', ' ']).next().unwrap_or("").to_owned();
        return Some(Imported {
            name: format!("{label}{major}-{}", arch.as_str()),
            release: format!("{} {version}", if is_ubuntu { "Ubuntu" } else { "Debian" })
                .trim()
                .to_owned(),
            arch,
            family,
            tree: tree.to_owned(),
            kernel,
            initrd,
            shim: find_shim(tree, arch),
        });
    }
    None
}

/// `Debian version:  12 (bookworm)` → (false, "12").
fn parse_version_info(info: &str) -> (bool, String) {
    for line in info.lines() {
        if let Some((k, v)) = line.split_once(':')
            && k.trim().ends_with("version")
        {
            let is_ubuntu = k.to_ascii_lowercase().contains("ubuntu");
            let v = v.trim();
            let version = v.split_whitespace().next().unwrap_or(v).to_owned();
            return (is_ubuntu, version);
        }
    }
    (false, String::new())
}

/// An Ubuntu live-server tree: `casper/vmlinuz`, `casper/initrd`, `.disk/info`.
fn ubuntu_live(tree: &Path) -> Option<Imported> {
    let kernel = "casper/vmlinuz";
    let initrd = if tree.join("casper/initrd").is_file() {
        "casper/initrd"
    } else {
        "casper/initrd.gz"
    };
    if !(tree.join(kernel).is_file() && tree.join(initrd).is_file()) {
        return None;
    }
    let info = std::fs::read_to_string(tree.join(".disk/info")).unwrap_or_default();
    // `Ubuntu-Server 22.04.3 LTS "Jammy Jellyfish" - Release amd64 (20230810)`
    let version = info.split_whitespace().nth(1).unwrap_or("").to_owned();
    let arch = if info.contains("arm64") {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    let major = version.split('.').take(2).collect::<Vec<_>>().join("");
    Some(Imported {
        name: format!("ubuntu{major}-{}", arch.as_str()),
        release: info.lines().next().unwrap_or("Ubuntu").trim().to_owned(),
        arch,
        family: Family::Ubuntu,
        tree: tree.to_owned(),
        kernel: kernel.to_owned(),
        initrd: initrd.to_owned(),
        shim: find_shim(tree, arch),
    })
}
