//! `cargo xtask ops`: the deployment files checked for real, as CI runs them.
//!
//! 1. `cargo xtask dist` builds the tree and the tarball; the tarball must hold the tree.
//! 2. The tarball is unpacked at `/` of a private overlay of this machine (see
//!    [`sysroot`]), `systemd-sysusers` and `systemd-tmpfiles` apply its sysusers.d and
//!    tmpfiles.d files there: that is the installed system the other checks use.
//! 3. `systemd-analyze verify` on every unit, inside it (so the `ExecStart=` binaries and
//!    the `Documentation=man:` pages are the installed ones).
//! 4. `systemd-analyze security --offline=true` on every service: exposure 2.0 or lower.
//! 5. Each service started from its unit's command lines, as its user, answering a real
//!    client ([`services`]); tftpd through `systemd-socket-activate --datagram` and under
//!    the real xinetd. dhcpd, httpd-tree and tftpd share the state directory as the
//!    documentation says to: dhcpd's acknowledged address lets httpd-tree serve the
//!    machine's kickstart, whose token reports it installed, and tftpd then boots it from
//!    disk.
//! 6. Least privilege ([`privilege`]): what each unit's user may open in the state
//!    directory and the lease file, as that user; the same after an upgrade from the single
//!    user `pxe`.
//! 7. The Containerfiles: hadolint, and their build steps run here without a container
//!    engine, producing the same runtime tree as dist ([`container`]).
//! 8. The packaged sysctl.d file names parameters this kernel has ([`sysctl`]; read, not
//!    applied).

mod container;
mod privilege;
mod services;
mod sysctl;
mod sysroot;
mod unit;

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use sysroot::{Sysroot, output};

/// The units dist installs.
const UNITS: &[&str] = &[
    "dhcpd.service",
    "tftpd.socket",
    "tftpd.service",
    "tftpd-standalone.service",
    "httpd-tree.service",
];

/// The highest exposure `systemd-analyze security` may give a service.
const MAX_EXPOSURE: f64 = 2.0;

pub(crate) fn run(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask ops");
    }
    let (passed, failed) = counts()?;
    println!("ops: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} deployment check(s) failed");
    }
    Ok(())
}

/// Tallies checks, printing each as it ends.
#[derive(Default)]
struct Report {
    passed: u64,
    failed: u64,
}

impl Report {
    fn check(&mut self, name: &str, f: impl FnOnce() -> Result<String>) {
        let start = Instant::now();
        match f() {
            Ok(detail) => {
                self.passed += 1;
                println!(
                    "ops: ok   {name} ({:.1} s): {detail}",
                    start.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                self.failed += 1;
                println!("ops: FAIL {name}: {e:#}");
            }
        }
    }
}

/// Runs every check; returns (passed, failed).
pub(crate) fn counts() -> Result<(u64, u64)> {
    crate::ci::install(&[
        "systemd",
        "util-linux",
        "tftp-hpa",
        "busybox",
        "curl",
        "iproute2",
    ])?;
    let mut r = Report::default();
    let root = crate::ci::workspace_root();
    let target = crate::dist::target_dir(&root);
    let work = target.join(format!("ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let sysroot = Sysroot::create(&work.join("sysroot"), &[&target])?;
    // dist is built from a copy of the checkout at /build, where the Containerfiles build
    // too: the binaries embed their source paths, and the same path gives the same bytes.
    container::copy_context(&sysroot, &root, "/build")?;
    container::run_step(&sysroot, &root, "/build", "cargo xtask dist")?;
    let tree = target.join("dist").join(crate::dist::release_name());
    let tarball = tree.with_file_name(format!("{}.tar.gz", crate::dist::release_name()));
    r.check("dist: the tarball holds the tree", || {
        tarball_matches(&tree, &tarball)
    });
    let installed = install(&sysroot, &tarball);
    r.check("dist: the tarball installs (sysusers, tmpfiles)", || {
        installed
            .as_ref()
            .map(String::clone)
            .map_err(|e| anyhow::anyhow!("{e:#}"))
    });
    r.check(
        "sysctl.d: every setting is a parameter of this kernel",
        || sysctl::check(&tree.join("usr/lib/sysctl.d/50-pxe-suite.conf")),
    );
    if installed.is_ok() {
        r.check("units: systemd-analyze verify", || verify(&sysroot));
        for unit in UNITS.iter().filter(|u| u.ends_with(".service")) {
            r.check(&format!("units: security of {unit}"), || {
                security(&sysroot, unit)
            });
        }
        let tag = format!("pxo{}", std::process::id());
        match services::Net::create(&tag) {
            Ok(net) => {
                r.check("dhcpd.service answers udhcpc", || {
                    services::dhcpd(&sysroot, &net, &work)
                });
                r.check("tftpd-standalone.service answers tftp-hpa", || {
                    services::tftpd_standalone(&sysroot, &net, &work)
                });
                r.check(
                    "tftpd.socket + tftpd.service via systemd-socket-activate",
                    || services::tftpd_socket(&sysroot, &net, &work),
                );
                r.check("httpd-tree.service answers curl", || {
                    services::httpd_tree(&sysroot, &net, &work)
                });
                r.check(
                    "tftpd-standalone.service with the inventory reads the install state",
                    || services::tftpd_inventory(&sysroot, &net, &work),
                );
                r.check("privilege: owners and modes in the state directory", || {
                    privilege::owners(&sysroot)
                });
                for unit in privilege::UNITS {
                    r.check(&format!("privilege: {unit}'s user"), || {
                        privilege::check(&sysroot, unit)
                    });
                }
                r.check("xinetd runs deploy/xinetd/tftp", || {
                    services::xinetd(&sysroot, &net, &work)
                });
            }
            Err(e) => r.check("network namespaces for the service checks", || Err(e)),
        }
    }
    drop(sysroot);
    if installed.is_ok() {
        r.check("privilege: upgrade from the single user pxe", || {
            privilege::upgrade(&tarball, &work)
        });
    }
    container::checks(&mut r, &tree, &work);
    if r.failed == 0 {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("ops: logs kept in {}", work.display());
    }
    Ok((r.passed, r.failed))
}

/// Every file of the tree is in the tarball with the same content, and nothing else.
fn tarball_matches(tree: &Path, tarball: &Path) -> Result<String> {
    let listing = output(Command::new("tar").arg("-tzf").arg(tarball), "tar -tzf")?;
    let mut in_tar: Vec<String> = listing
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(|l| l.trim_start_matches("./").to_string())
        .collect();
    in_tar.sort();
    let mut in_tree = files_under(tree)?;
    in_tree.sort();
    if in_tar != in_tree {
        bail!("tarball {in_tar:?}\ntree {in_tree:?}");
    }
    Ok(format!("{} files", in_tree.len()))
}

/// Relative paths of the regular files under `dir`.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let p = e?.path();
            if p.is_dir() {
                walk(base, &p, out)?;
            } else {
                let rel = p.strip_prefix(base).unwrap_or(&p);
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Unpacks the tarball at the sysroot's `/` and applies its sysusers.d and tmpfiles.d.
fn install(sysroot: &Sysroot, tarball: &Path) -> Result<String> {
    output(
        // --keep-directory-symlink: on a merged-/usr system /lib is a link to usr/lib,
        // which a plain tar -x would replace by a directory (and break the system).
        sysroot
            .outside("tar")
            .arg("--keep-directory-symlink")
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(sysroot.root()),
        "tar -xzf (into the sysroot)",
    )?;
    sysroot.run_inside(&["systemd-sysusers", "/usr/lib/sysusers.d/pxe-suite.conf"])?;
    sysroot.run_inside(&[
        "systemd-tmpfiles",
        "--create",
        "/usr/lib/tmpfiles.d/pxe-suite.conf",
    ])?;
    let mut ids = Vec::new();
    for user in ["pxe-dhcpd", "pxe-tftpd", "pxe-httpd"] {
        ids.push(sysroot.run_inside(&["id", user])?.trim().to_string());
    }
    let group = sysroot.run_inside(&["getent", "group", "pxe-state"])?;
    Ok(format!("users {}; group {}", ids.join(", "), group.trim()))
}

fn verify(sysroot: &Sysroot) -> Result<String> {
    let mut argv = vec!["systemd-analyze".to_string(), "verify".to_string()];
    argv.extend(UNITS.iter().map(|u| format!("/lib/systemd/system/{u}")));
    let out = sysroot
        .inside(None, &argv)
        .output()
        .context("running systemd-analyze verify")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !text.trim().is_empty() {
        bail!("systemd-analyze verify ({}):\n{text}", out.status);
    }
    Ok(format!("{} units, no finding", UNITS.len()))
}

/// `systemd-analyze security --offline=true UNIT`: the overall exposure.
fn security(sysroot: &Sysroot, unit: &str) -> Result<String> {
    let argv: Vec<String> = [
        "systemd-analyze",
        "security",
        "--offline=true",
        "--no-pager",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .chain([format!("/lib/systemd/system/{unit}")])
    .collect();
    let out = sysroot
        .inside(None, &argv)
        .output()
        .context("running systemd-analyze security")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let exposure = parse_exposure(&text).with_context(|| {
        format!(
            "no overall exposure in:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if exposure > MAX_EXPOSURE {
        let findings: Vec<&str> = text.lines().filter(|l| l.starts_with('✗')).collect();
        bail!(
            "exposure {exposure:.1} > {MAX_EXPOSURE}; findings:\n{}",
            findings.join("\n")
        );
    }
    Ok(format!("exposure {exposure:.1}"))
}

/// `→ Overall exposure level for x.service: 1.8 OK 🙂` → 1.8.
fn parse_exposure(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    line.rsplit_once(':')?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_line_is_read() {
        let t = "✗ UMask= ...   0.1\n\n→ Overall exposure level for dhcpd.service: 1.8 OK 🙂\n";
        assert_eq!(parse_exposure(t), Some(1.8));
        assert_eq!(parse_exposure("nothing"), None);
    }
}
