//! The deploy image's kernel and modules, from Debian's `linux-image-amd64`: its
//! `vmlinuz`, and the modules a machine needs to reach its disk and network and mount
//! what it installs, each after the ones it depends on (read from the module's own
//! `.modinfo`: the package has no `modules.dep`, depmod makes it on install).

use super::debs::{Debs, first_dependency, output};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Modules loaded at boot (those built into Debian's kernel are skipped): virtio, SATA,
/// SCSI and NVMe disks; virtio and e1000 NICs; the file systems images bring; loop.
pub(crate) const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
    "e1000",
    "ahci",
    "ata_piix",
    "sd_mod",
    "nvme",
    "crc32c_generic",
    "ext4",
    "xfs",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_ascii",
    "loop",
];

/// The kernel, its version, and its modules in load order (paths under `lib/modules`).
pub(crate) struct Kernel {
    pub(crate) package: String,
    pub(crate) version: String,
    pub(crate) vmlinuz: PathBuf,
    pub(crate) tree: PathBuf,
    pub(crate) modules: Vec<String>,
}

pub(crate) fn prepare(debs: &mut Debs) -> Result<Kernel> {
    let package = first_dependency("linux-image-amd64")?;
    let tree = debs.add(&package)?;
    let version = package
        .strip_prefix("linux-image-")
        .context("a linux-image- package")?
        .to_owned();
    let vmlinuz = tree.join(format!("boot/vmlinuz-{version}"));
    if !vmlinuz.exists() {
        bail!("{package} has no {}", vmlinuz.display());
    }
    let base = tree.join("lib/modules").join(&version);
    let modules = Modules {
        index: index(&base.join("kernel"), &base)?,
        base,
    };
    let builtin = std::fs::read_to_string(modules.base.join("modules.builtin")).unwrap_or_default();
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for m in MODULES {
        if !modules.index.contains_key(&norm(m)) {
            if builtin_has(&builtin, m) {
                continue;
            }
            bail!("{package} has no module {m}");
        }
        modules.visit(&norm(m), &mut seen, &mut order)?;
    }
    let modules = order
        .iter()
        .filter_map(|m| modules.index.get(m))
        .map(|p| format!("{version}/{p}"))
        .collect();
    Ok(Kernel {
        package,
        version,
        vmlinuz,
        tree,
        modules,
    })
}

/// Module names use `_` and `-` alike.
fn norm(name: &str) -> String {
    name.replace('-', "_")
}

fn builtin_has(builtin: &str, name: &str) -> bool {
    builtin
        .lines()
        .any(|l| l.rsplit('/').next() == Some(&format!("{name}.ko")))
}

/// Module name → its path relative to `base` (`kernel/fs/ext4/ext4.ko`).
fn index(dir: &Path, base: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(index(&p, base)?);
        } else if let Some(stem) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".ko"))
        {
            let rel = p.strip_prefix(base)?.to_string_lossy().into_owned();
            out.insert(norm(stem), rel);
        }
    }
    Ok(out)
}

/// The kernel's modules: name → path under `base` (`kernel/fs/ext4/ext4.ko`).
struct Modules {
    base: PathBuf,
    index: BTreeMap<String, String>,
}

impl Modules {
    /// Adds `name` after its dependencies.
    fn visit(
        &self,
        name: &str,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        // A dependency built into the kernel has no file.
        let Some(rel) = self.index.get(name) else {
            return Ok(());
        };
        for dep in depends(&self.base.join(rel))? {
            self.visit(&norm(&dep), seen, order)?;
        }
        order.push(name.to_owned());
        Ok(())
    }
}

/// A module's `depends=` from its `.modinfo` section.
fn depends(ko: &Path) -> Result<Vec<String>> {
    let text = output(Command::new("readelf").args(["-p", ".modinfo"]).arg(ko))?;
    Ok(text
        .lines()
        .find_map(|l| l.split("depends=").nth(1))
        .map(|d| {
            d.trim()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}
