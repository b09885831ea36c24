//! `cargo xtask deploy-image`: the deploy initramfs (`initrd.gz`, a sorted, reproducible
//! cpio archive) and its kernel (`vmlinuz`), built from Debian packages: busybox-static,
//! the disk tools the agent calls with the shared libraries they need, Debian's kernel
//! and the modules a machine needs, and the `pxe-deploy` agent itself (a release build,
//! with its C library from Debian's libc6). Everything is cached under
//! `target/deploy-image/`; the output is rebuilt only when an input changed.
//! `--boot-check` then boots it under qemu (TCG) with no server behind the plan URL and
//! waits for the agent to start fetching its plan.

mod boot;
mod cpio;
mod debs;
mod init;
mod kernel;

use anyhow::{Context, Result, bail};
use cpio::Archive;
use debs::Debs;
use std::collections::{BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The programs the agent calls, by the Debian package that ships them.
pub(crate) const TOOLS: &[(&str, &[&str])] = &[
    ("fdisk", &["sfdisk"]),
    ("util-linux", &["partx", "blkid", "flock"]),
    ("mount", &["mount", "umount", "losetup"]),
    ("e2fsprogs", &["e2fsck", "resize2fs", "mke2fs", "mkfs.ext4"]),
    // An xfs root (packages mode's `filesystem: xfs`), and images whose last partition
    // is xfs, grown once mounted.
    ("xfsprogs", &["mkfs.xfs", "xfs_growfs"]),
    ("cloud-guest-utils", &["growpart"]),
    ("qemu-utils", &["qemu-img"]),
    ("passwd", &["useradd", "usermod"]),
    // Packages mode: the ESP, debootstrap's first stage (busybox has its wget,
    // sha256sum, unxz), the signature check.
    ("dosfstools", &["mkfs.vfat"]),
    ("mtools", &["mmd", "mcopy"]),
    ("perl-base", &["perl"]),
    ("dpkg", &["dpkg-deb"]),
    ("gpgv", &["gpgv"]),
    // GNU tar: busybox's tar applet cannot be relied on for every package's data.
    ("tar", &["tar"]),
    // The shell debootstrap runs in: busybox's prefers its own applets (dpkg-deb, tar)
    // to PATH's programs.
    ("dash", &["dash"]),
];

/// Packages whose every file under these directories goes in (scripts and their data).
const WHOLE: &[(&str, &[&str])] = &[("debootstrap", &["usr/sbin", "usr/share/debootstrap"])];

/// Files of those packages the tools read at run time.
const DATA: &[(&str, &str)] = &[
    ("e2fsprogs", "etc/mke2fs.conf"),
    // debootstrap's default keyring, for plans with no keyring of their own.
    (
        "debian-archive-keyring",
        "usr/share/keyrings/debian-archive-keyring.gpg",
    ),
];

/// Host tools this task runs (the Debian packages are in xtask/packages.txt).
const HOST_TOOLS: &[(&str, &str)] = &[
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
    ("readelf", "binutils"),
    ("strip", "binutils"),
    ("gzip", "gzip"),
];

/// Bumped when the layout changes, so that cached output is not reused.
const FORMAT: &str = "pxe-deploy-initramfs 3";

/// Library directories, searched in this order.
const LIB_DIRS: &[&str] = &[
    "lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu",
    "lib64",
    "usr/lib64",
    "lib",
    "usr/lib",
];

/// Where the output goes.
pub(crate) struct Output {
    pub(crate) vmlinuz: PathBuf,
    pub(crate) initrd: PathBuf,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut boot_check = false;
    for a in args {
        match a.as_str() {
            "--boot-check" => boot_check = true,
            other => bail!(
                "deploy-image: unknown argument `{other}` (usage: cargo xtask deploy-image [--boot-check])"
            ),
        }
    }
    let out = build()?;
    if boot_check {
        boot::check(&out)?;
    }
    Ok(())
}

/// Builds (or finds cached) the kernel and the initramfs.
pub(crate) fn build() -> Result<Output> {
    for (tool, package) in HOST_TOOLS {
        if which(tool).is_none() {
            bail!("{tool} is missing: apt-get install {package}");
        }
    }
    let root = crate::ci::workspace_root();
    let cache = root.join("target/deploy-image");
    let agent = build_agent(&root, &cache)?;
    let mut debs = Debs::new(&cache)?;
    let kernel = kernel::prepare(&mut debs)?;
    let mut image = Image::new(&mut debs);
    image.layout()?;
    image.tools()?;
    image.libraries()?;
    image.add_disk_file(&agent, "usr/bin/pxe-deploy", 0o755)?;
    image.libraries()?;
    image.modules(&kernel)?;
    let manifest = image.debs.manifest();
    let archive = image.archive;
    let out_dir = cache.join("out");
    std::fs::create_dir_all(&out_dir)?;
    let out = Output {
        vmlinuz: out_dir.join("vmlinuz"),
        initrd: out_dir.join("initrd.gz"),
    };
    let mtime = source_date_epoch(&root);
    let cpio = archive.write(mtime);
    let key = format!(
        "{FORMAT}\nSOURCE_DATE_EPOCH={mtime}\nkernel {}\n{}\n",
        kernel.package,
        manifest.join("\n")
    );
    write_outputs(&out, &kernel, &cpio, &key)?;
    eprintln!(
        "xtask deploy-image: {} ({} bytes) and {} ({} bytes), from {} Debian packages \
         (kernel {}), listed in {}",
        out.initrd.display(),
        size(&out.initrd),
        out.vmlinuz.display(),
        size(&out.vmlinuz),
        manifest.len(),
        kernel.version,
        out_dir.join("manifest.txt").display()
    );
    Ok(out)
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// SOURCE_DATE_EPOCH, else the last commit's time: every entry's modification time.
fn source_date_epoch(root: &Path) -> u64 {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return t;
    }
    debs::output(
        Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .current_dir(root),
    )
    .ok()
    .and_then(|t| t.trim().parse().ok())
    .unwrap_or(0)
}

/// The agent, built for release and stripped (its C library comes from libc6).
fn build_agent(root: &Path, cache: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Without SOURCE_DATE_EPOCH, which the C parts' build scripts watch: setting it for
    // the archive must not rebuild the agent.
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "pxe-deploy"])
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(root)
        .status()
        .context("cargo build -p pxe-deploy")?;
    if !status.success() {
        bail!("cargo build --release -p pxe-deploy: {status}");
    }
    // A fresh target directory has no cache yet, and strip does not make it.
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let stripped = cache.join("pxe-deploy.stripped");
    debs::output(
        Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(crate::dist::target_dir(root).join("release/pxe-deploy")),
    )?;
    Ok(stripped)
}

/// The archive and the `initrd.gz`, `vmlinuz` and manifest, rewritten only when they
/// differ (so that their times say when an input changed).
fn write_outputs(out: &Output, kernel: &kernel::Kernel, cpio: &[u8], key: &str) -> Result<()> {
    let mut gz = Command::new("gzip")
        .args(["-n", "-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("gzip")?;
    let mut stdin = gz.stdin.take().context("gzip's stdin")?;
    let data = cpio.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(&data)
    });
    let compressed = gz.wait_with_output().context("gzip")?;
    feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the gzip feeder panicked"))??;
    if !compressed.status.success() {
        bail!("gzip: {}", compressed.status);
    }
    replace_if_changed(&out.initrd, &compressed.stdout)?;
    replace_if_changed(&out.vmlinuz, &std::fs::read(&kernel.vmlinuz)?)?;
    let dir = out.initrd.parent().context("out dir")?;
    replace_if_changed(&dir.join("manifest.txt"), key.as_bytes())?;
    Ok(())
}

fn replace_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Files and symlinks under `dir`, relative to `tree`, sorted.
fn walk(tree: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if e.file_type()?.is_dir() {
            walk(tree, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(tree) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// The initramfs being put together from the unpacked packages.
struct Image<'d> {
    debs: &'d mut Debs,
    archive: Archive,
    /// ELF files added whose libraries are not looked at yet.
    elves: VecDeque<PathBuf>,
    /// Library names already in the archive.
    sonames: BTreeSet<String>,
}

impl<'d> Image<'d> {
    fn new(debs: &'d mut Debs) -> Image<'d> {
        Image {
            debs,
            archive: Archive::default(),
            elves: VecDeque::new(),
            sonames: BTreeSet::new(),
        }
    }

    /// Merged /usr, the mount points, `/init`, its scripts and busybox with its applets.
    fn layout(&mut self) -> Result<()> {
        for (link, target) in [
            ("bin", "usr/bin"),
            ("sbin", "usr/sbin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
        ] {
            self.archive.symlink(link, target);
        }
        for d in [
            "dev",
            "proc",
            "sys",
            "run",
            "tmp",
            "root",
            "mnt",
            "usr/bin",
            "usr/sbin",
            "usr/busybox",
        ] {
            self.archive.dir(d);
        }
        self.archive.file("init", 0o755, init::init().into_bytes());
        self.archive.file(
            "etc/pxe-deploy/udhcpc",
            0o755,
            init::UDHCPC.as_bytes().to_vec(),
        );
        self.archive.file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
        );
        self.archive
            .file("etc/group", 0o644, b"root:x:0:\n".to_vec());
        let tree = self.debs.add("busybox-static")?;
        self.add_from(&tree, "bin/busybox")?;
        self.archive.symlink("usr/bin/sh", "busybox");
        let list = debs::output(Command::new(tree.join("bin/busybox")).arg("--list"))?;
        for applet in list
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && !a.contains('/'))
        {
            self.archive
                .symlink(&format!("usr/busybox/{applet}"), "../bin/busybox");
        }
        Ok(())
    }

    /// The disk tools and their data files.
    fn tools(&mut self) -> Result<()> {
        for (package, tools) in TOOLS {
            let tree = self.debs.add(package)?;
            for tool in *tools {
                let rel = ["usr/sbin", "usr/bin", "sbin", "bin"]
                    .iter()
                    .map(|d| format!("{d}/{tool}"))
                    .find(|r| tree.join(r).symlink_metadata().is_ok())
                    .with_context(|| format!("{package} has no {tool}"))?;
                self.add_from(&tree, &rel)?;
            }
        }
        for (package, rel) in DATA {
            let tree = self.debs.add(package)?;
            self.add_from(&tree, rel)?;
        }
        for (package, dirs) in WHOLE {
            let tree = self.debs.add(package)?;
            for dir in *dirs {
                let mut files = Vec::new();
                walk(&tree, &tree.join(dir), &mut files)?;
                if files.is_empty() {
                    bail!("{package} has nothing under {dir}");
                }
                for rel in files {
                    if !self.archive.contains(&debs::merged(&rel)) {
                        self.add_from(&tree, &rel)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds `rel` of a package's tree at its merged path: a symlink as it is, and what
    /// it points to.
    fn add_from(&mut self, tree: &Path, rel: &str) -> Result<()> {
        let path = tree.join(rel);
        let meta = path
            .symlink_metadata()
            .with_context(|| format!("{}", path.display()))?;
        let at = debs::merged(rel);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            self.archive.symlink(&at, &target.to_string_lossy());
            let resolved = resolve(rel, &target);
            if !self.archive.contains(&debs::merged(&resolved)) {
                self.add_from(tree, &resolved)?;
            }
            return Ok(());
        }
        use std::os::unix::fs::PermissionsExt as _;
        self.add_disk_file(&path, &at, meta.permissions().mode() & 0o755)
    }

    /// Adds a file of this machine at `at`; an ELF file's libraries follow.
    fn add_disk_file(&mut self, path: &Path, at: &str, mode: u32) -> Result<()> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.archive.file(at, mode, data);
        if debs::is_elf(path) {
            self.elves.push_back(path.to_owned());
        }
        if let Some(name) = at.rsplit('/').next() {
            self.sonames.insert(name.to_owned());
        }
        Ok(())
    }

    /// Every library the ELF files added need, from the packages that ship them.
    fn libraries(&mut self) -> Result<()> {
        while let Some(elf) = self.elves.pop_front() {
            for lib in debs::needed(&elf)? {
                if lib.starts_with('/') {
                    self.interpreter(&lib)?;
                    continue;
                }
                let name = lib.clone();
                if self.sonames.contains(&name) {
                    continue;
                }
                let (tree, rel) = match self.find_library(&name) {
                    Some(found) => found,
                    None => {
                        let package = debs::package_of_library(&name)?;
                        self.debs.add(&package)?;
                        self.find_library(&name)
                            .with_context(|| format!("{package} has no {name}"))?
                    }
                };
                self.add_from(&tree, &rel)?;
                self.sonames.insert(name);
            }
        }
        Ok(())
    }

    /// The program interpreter at the path the ELF file names (`/lib64/ld-linux…`).
    fn interpreter(&mut self, path: &str) -> Result<()> {
        let rel = path.trim_start_matches('/');
        if self.archive.contains(&debs::merged(rel)) {
            return Ok(());
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if self.find_library(name).is_none() {
            let package = debs::package_of_library(name)?;
            self.debs.add(&package)?;
        }
        let tree = self
            .debs
            .trees
            .values()
            .find(|t| t.join(rel).symlink_metadata().is_ok())
            .cloned()
            .with_context(|| format!("no package has {path}"))?;
        self.add_from(&tree, rel)
    }

    fn find_library(&self, name: &str) -> Option<(PathBuf, String)> {
        self.debs.trees.values().find_map(|tree| {
            LIB_DIRS
                .iter()
                .map(|d| format!("{d}/{name}"))
                .find(|rel| tree.join(rel).symlink_metadata().is_ok())
                .map(|rel| (tree.clone(), rel))
        })
    }

    /// The kernel's modules and the order `/init` loads them in.
    fn modules(&mut self, kernel: &kernel::Kernel) -> Result<()> {
        for m in &kernel.modules {
            let rel = format!("lib/modules/{m}");
            self.add_from(&kernel.tree, &rel)?;
        }
        let list: String = kernel.modules.iter().map(|m| format!("{m}\n")).collect();
        self.archive
            .file("etc/pxe-deploy/modules", 0o644, list.into_bytes());
        Ok(())
    }
}

/// `target` of a symlink at `rel`, as a path relative to the package's root.
fn resolve(rel: &str, target: &Path) -> String {
    let mut parts: Vec<String> = if target.is_absolute() {
        Vec::new()
    } else {
        Path::new(rel)
            .parent()
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for c in target.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_package() {
        assert_eq!(
            resolve(
                "lib64/ld-linux-x86-64.so.2",
                Path::new("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
            ),
            "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            resolve("sbin/mkfs.ext4", Path::new("mke2fs")),
            "sbin/mke2fs"
        );
        assert_eq!(
            resolve(
                "usr/lib/x86_64-linux-gnu/libz.so.1",
                Path::new("/lib/x86_64-linux-gnu/libz.so.1.2.13")
            ),
            "lib/x86_64-linux-gnu/libz.so.1.2.13"
        );
    }
}
