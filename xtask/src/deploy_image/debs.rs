//! Debian packages for the deploy initramfs: downloaded once with `apt-get download`
//! into the cache, unpacked with `dpkg-deb -x`, and the shared libraries an ELF file
//! needs found in them (the package that ships a library is asked of `dpkg -S`).

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs a command; its standard output, or an error with its standard error.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package a virtual or meta package depends on first (`linux-image-amd64` →
/// `linux-image-6.1.0-57-amd64`).
pub(crate) fn first_dependency(package: &str) -> Result<String> {
    let text = output(Command::new("apt-cache").args(["depends", package]))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .map(|d| d.trim().to_owned())
        .with_context(|| format!("{package} depends on nothing"))
}

/// The `.deb` file name `apt-get download` writes for a package's candidate version
/// (`<name>_<version>_<arch>.deb`, an epoch's `:` written `%3a`).
fn deb_file_name(package: &str) -> Result<String> {
    let text = output(Command::new("apt-cache").args(["show", "--no-all-versions", package]))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("apt-cache show {package}: no {name} (apt-get update?)"))
    };
    Ok(format!(
        "{package}_{}_{}.deb",
        field("Version:")?.replace(':', "%3a"),
        field("Architecture:")?
    ))
}

/// The packages' `.deb` files in `cache`, downloaded when missing.
pub(crate) struct Debs {
    cache: PathBuf,
    unpacked: PathBuf,
    /// Package → its unpacked tree.
    pub(crate) trees: BTreeMap<String, PathBuf>,
}

impl Debs {
    pub(crate) fn new(cache: &Path) -> Result<Debs> {
        let debs = cache.join("debs");
        let unpacked = cache.join("unpacked");
        for d in [&debs, &unpacked] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(Debs {
            cache: debs,
            unpacked,
            trees: BTreeMap::new(),
        })
    }

    /// Downloads (if not cached) and unpacks `package`; its tree.
    pub(crate) fn add(&mut self, package: &str) -> Result<PathBuf> {
        if let Some(t) = self.trees.get(package) {
            return Ok(t.clone());
        }
        let name = deb_file_name(package)?;
        let file = self.cache.join(&name);
        if !file.exists() {
            eprintln!("xtask deploy-image: downloading {package}");
            output(
                Command::new("apt-get")
                    .args(["download", "-q", package])
                    .current_dir(&self.cache),
            )?;
        }
        if !file.exists() {
            bail!(
                "apt-get download {package} did not write {}",
                file.display()
            );
        }
        let tree = self.unpacked.join(name.trim_end_matches(".deb"));
        if !tree.join(".unpacked").exists() {
            let _ = std::fs::remove_dir_all(&tree);
            std::fs::create_dir_all(&tree)?;
            output(Command::new("dpkg-deb").arg("-x").arg(&file).arg(&tree))?;
            std::fs::write(tree.join(".unpacked"), "")?;
        }
        self.trees.insert(package.to_owned(), tree.clone());
        Ok(tree)
    }

    /// The `.deb` file names in use, sorted: what the initramfs is made of.
    pub(crate) fn manifest(&self) -> Vec<String> {
        self.trees
            .values()
            .filter_map(|t| {
                t.file_name()
                    .map(|n| format!("{}.deb", n.to_string_lossy()))
            })
            .collect()
    }
}

/// Where a path of a package lands with `/bin`, `/sbin` and `/lib*` merged into `/usr`.
pub(crate) fn merged(path: &str) -> String {
    let path = path.trim_start_matches('/');
    for top in ["bin/", "sbin/", "lib/", "lib64/"] {
        if path.starts_with(top) {
            return format!("usr/{path}");
        }
    }
    path.to_owned()
}

/// The shared libraries an ELF file needs (`DT_NEEDED`), and its interpreter.
pub(crate) fn needed(file: &Path) -> Result<Vec<String>> {
    let text = output(Command::new("readelf").args(["-d", "-l", "-W"]).arg(file))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.split("Shared library: [").nth(1) {
                return rest.split(']').next().map(str::to_owned);
            }
            l.split("[Requesting program interpreter: ")
                .nth(1)
                .and_then(|r| r.split(']').next())
                .map(str::to_owned)
        })
        .collect())
}

/// Whether a file is an ELF executable or library.
pub(crate) fn is_elf(file: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(file)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"\x7fELF")
}

/// The package that ships the library `soname` (for this architecture), by `dpkg -S`
/// on this machine's package database.
pub(crate) fn package_of_library(soname: &str) -> Result<String> {
    let name = soname.rsplit('/').next().unwrap_or(soname);
    let text = output(Command::new("dpkg").args(["-S", name])).with_context(|| {
        format!("no installed package ships {name}: install it to build the deploy image")
    })?;
    text.lines()
        .find_map(|l| {
            let (pkg, path) = l.split_once(": ")?;
            (path.ends_with(&format!("/{name}")) && path.contains("/lib"))
                .then(|| pkg.split(':').next().unwrap_or(pkg).to_owned())
        })
        .with_context(|| format!("dpkg -S {name}: no library path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_merge_into_usr() {
        assert_eq!(merged("/sbin/sfdisk"), "usr/sbin/sfdisk");
        assert_eq!(
            merged("./lib/x86_64-linux-gnu/libc.so.6".trim_start_matches("./")),
            "usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(
            merged("/lib64/ld-linux-x86-64.so.2"),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(merged("/usr/bin/qemu-img"), "usr/bin/qemu-img");
        assert_eq!(merged("/etc/mke2fs.conf"), "etc/mke2fs.conf");
    }
}
