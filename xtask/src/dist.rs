//! `cargo xtask dist`: the release laid out as it installs, and a tarball of it.
//!
//! ```text
//! usr/sbin/{dhcpd,tftpd,httpd-tree}              release binaries
//! usr/bin/pxectl                                 the operator's client of httpd-tree's API
//! usr/sbin/pxe-db                                the shared database's schema (status, migrate)
//! usr/share/man/man8/*.8, man5/pxe-inventory.5,  manual pages (deploy/man, kept current by CI)
//!   man1/pxectl.1
//! lib/systemd/system/*.service, tftpd.socket     units (deploy/systemd)
//! usr/lib/sysusers.d/pxe-suite.conf              the `pxe` user the units run as
//! usr/lib/tmpfiles.d/pxe-suite.conf              /srv/tftp and /srv/install
//! usr/lib/sysctl.d/50-pxe-suite.conf             receive buffers and ARP room for boot storms
//! etc/xinetd.d/tftp                              the xinetd stanza (deploy/xinetd)
//! etc/pxe-suite/inventory.yaml, templates/       example inventory
//! etc/dhcp/dhcpd.conf.example                    example dhcpd.conf (never over a real one)
//! usr/share/doc/pxe-suite/                       README and docs
//! ```
//!
//! `--only SERVICE` lays out what one container image needs (its binary and manual page):
//! the Containerfiles' build stage runs that.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The daemons, by binary name.
pub(crate) const SERVICES: &[&str] = &["dhcpd", "tftpd", "httpd-tree"];
/// The command-line tools, in the whole suite's layout only: binary, directory, manual
/// section.
pub(crate) const TOOLS: &[(&str, &str, u8)] =
    &[("pxectl", "usr/bin", 1), ("pxe-db", "usr/sbin", 8)];

pub(crate) struct Options {
    pub(crate) out: Option<PathBuf>,
    pub(crate) only: Option<String>,
    pub(crate) tarball: bool,
}

const USAGE: &str =
    "usage: cargo xtask dist [--out DIR] [--only dhcpd|tftpd|httpd-tree] [--no-tarball]";

pub(crate) fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        out: None,
        only: None,
        tarball: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = Some(it.next().context(USAGE)?.into()),
            "--only" => {
                let s = it.next().context(USAGE)?;
                if !SERVICES.contains(&s.as_str()) {
                    bail!(
                        "--only {s}: expected one of {}\n{USAGE}",
                        SERVICES.join(", ")
                    );
                }
                o.only = Some(s.clone());
            }
            "--no-tarball" => o.tarball = false,
            _ => bail!("unknown argument {a}\n{USAGE}"),
        }
    }
    Ok(o)
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let (tree, tarball) = build(&o)?;
    eprintln!("dist: tree {}", tree.display());
    if let Some(t) = tarball {
        eprintln!("dist: tarball {}", t.display());
    }
    Ok(())
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `pxe-suite-0.1.0-x86_64-linux`.
pub(crate) fn release_name() -> String {
    format!("pxe-suite-{}-{}-linux", version(), std::env::consts::ARCH)
}

/// The target directory cargo builds into: `CARGO_TARGET_DIR` (relative to the workspace
/// root unless absolute) when set and not empty, else the workspace's `target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Builds the release binaries and lays out the tree; returns the tree and the tarball.
pub(crate) fn build(o: &Options) -> Result<(PathBuf, Option<PathBuf>)> {
    let root = crate::ci::workspace_root();
    let services: Vec<&str> = match &o.only {
        Some(s) => vec![s.as_str()],
        None => SERVICES.to_vec(),
    };
    // One build per daemon: cargo unifies dependency features across the packages of one
    // invocation, so building them together would give each binary other features (and
    // other bytes) than building it alone, as a container build does.
    let tools: &[(&str, &str, u8)] = if o.only.is_none() { TOOLS } else { &[] };
    for s in services.iter().chain(tools.iter().map(|(t, _, _)| t)) {
        eprintln!("dist: cargo build --release -p {s}");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--locked", "-p", s, "--bin", s])
            .current_dir(&root)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p {s} failed ({status})");
        }
    }
    let target = target_dir(&root);
    let tree = match &o.out {
        Some(p) => p.clone(),
        None => target.join("dist").join(release_name()),
    };
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("clearing {}", tree.display()))?;
    }
    for s in &services {
        copy(
            &target.join("release").join(s),
            &tree.join("usr/sbin").join(s),
            0o755,
        )?;
        copy(
            &root.join("deploy/man/man8").join(format!("{s}.8")),
            &tree.join("usr/share/man/man8").join(format!("{s}.8")),
            0o644,
        )?;
    }
    for (t, dir, section) in tools {
        copy(
            &target.join("release").join(t),
            &tree.join(dir).join(t),
            0o755,
        )?;
        let page = format!("man{section}/{t}.{section}");
        copy(
            &root.join("deploy/man").join(&page),
            &tree.join("usr/share/man").join(&page),
            0o644,
        )?;
    }
    if o.only.is_none() {
        whole_suite(&root, &tree)?;
    }
    let tarball = if o.tarball { Some(tar(&tree)?) } else { None };
    Ok((tree, tarball))
}

/// Everything but the binaries and their pages.
fn whole_suite(root: &Path, tree: &Path) -> Result<()> {
    let f = |from: &str, to: &str| copy(&root.join(from), &tree.join(to), 0o644);
    f(
        "deploy/man/man5/pxe-inventory.5",
        "usr/share/man/man5/pxe-inventory.5",
    )?;
    for unit in [
        "dhcpd.service",
        "tftpd.socket",
        "tftpd.service",
        "tftpd-standalone.service",
        "httpd-tree.service",
    ] {
        f(
            &format!("deploy/systemd/{unit}"),
            &format!("lib/systemd/system/{unit}"),
        )?;
    }
    f(
        "deploy/systemd/pxe-suite.sysusers",
        "usr/lib/sysusers.d/pxe-suite.conf",
    )?;
    f(
        "deploy/systemd/pxe-suite.tmpfiles",
        "usr/lib/tmpfiles.d/pxe-suite.conf",
    )?;
    f(
        "deploy/systemd/pxe-suite.sysctl",
        "usr/lib/sysctl.d/50-pxe-suite.conf",
    )?;
    f("deploy/xinetd/tftp", "etc/xinetd.d/tftp")?;
    f(
        "deploy/examples/inventory.yaml",
        "etc/pxe-suite/inventory.yaml",
    )?;
    for t in list(&root.join("deploy/examples/templates"))? {
        let name = t.file_name().context("template name")?.to_string_lossy();
        copy(
            &t,
            &tree.join("etc/pxe-suite/templates").join(&*name),
            0o644,
        )?;
    }
    f("deploy/examples/dhcpd.conf", "etc/dhcp/dhcpd.conf.example")?;
    f("README.md", "usr/share/doc/pxe-suite/README.md")?;
    for d in list(&root.join("docs"))? {
        let name = d.file_name().context("doc name")?.to_string_lossy();
        if name.ends_with(".md") {
            copy(
                &d,
                &tree.join("usr/share/doc/pxe-suite").join(&*name),
                0o644,
            )?;
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", to.display()))?;
    Ok(())
}

/// A reproducible tarball of the tree (sorted names, root owner, fixed times), next to it.
fn tar(tree: &Path) -> Result<PathBuf> {
    let parent = tree.parent().context("tree has a parent")?;
    let name = tree
        .file_name()
        .context("tree name")?
        .to_string_lossy()
        .into_owned();
    let tarball = parent.join(format!("{name}.tar.gz"));
    let status = Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-czf",
        ])
        .arg(&tarball)
        .arg("-C")
        .arg(tree)
        .arg(".")
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("tar failed ({status})");
    }
    Ok(tarball)
}
