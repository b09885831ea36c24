//! Starting the three daemons (ours, or ISC dhcpd for comparison) inside a namespace.

use super::net::in_ns;
use super::procs::Proc;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Where the built binaries are.
pub(crate) struct Bins {
    pub(crate) dir: PathBuf,
}

impl Bins {
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// Which DHCP server the lab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dhcp {
    Ours,
    /// ISC dhcpd 4.4 (Debian's isc-dhcp-server), for comparison runs.
    Isc,
}

/// With an inventory, or the classic hand-written setup.
pub(crate) struct Inv<'a> {
    pub(crate) file: &'a Path,
    pub(crate) state: Store<'a>,
}

/// Where the daemons keep install state (and dhcpd its leases).
#[derive(Clone, Copy)]
pub(crate) enum Store<'a> {
    /// A state directory shared by the daemons (`--state-dir`).
    Dir(&'a Path),
    /// A PostgreSQL database (`--database URL`): for dhcpd the leases as well.
    Database(&'a str),
}

impl Inv<'_> {
    /// `--inventory FILE` and the state's option.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut v = vec!["--inventory".into(), s(self.file)];
        match self.state {
            Store::Dir(dir) => v.extend(["--state-dir".into(), s(dir)]),
            Store::Database(url) => v.extend(["--database".into(), url.to_owned()]),
        }
        v
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub(crate) fn dhcpd(
    bins: &Bins,
    which: Dhcp,
    ns: &str,
    iface: &str,
    conf: &Path,
    inv: Option<&Inv<'_>>,
    work: &Path,
) -> Result<Proc> {
    let leases = work.join(format!("dhcpd-{ns}.leases"));
    std::fs::write(&leases, "").context("creating the lease file")?;
    let mut argv = in_ns(ns);
    match which {
        Dhcp::Ours => argv.push(bins.path("dhcpd")),
        Dhcp::Isc => argv.push("/usr/sbin/dhcpd".into()),
    }
    argv.extend(["-f", "-d", "-4", "-cf"].map(String::from));
    argv.push(s(conf));
    argv.push("-lf".into());
    argv.push(s(&leases));
    argv.push("-pf".into());
    argv.push(s(&work.join(format!("dhcpd-{ns}.pid"))));
    if let (Dhcp::Ours, Some(inv)) = (which, inv) {
        argv.extend(inv.args());
    }
    argv.push(iface.into());
    Proc::spawn("dhcpd", &argv, &work.join(format!("dhcpd-{ns}.log")))
}

pub(crate) fn tftpd(
    bins: &Bins,
    ns: &str,
    addr: &str,
    root: &Path,
    inv: Option<&Inv<'_>>,
    work: &Path,
) -> Result<Proc> {
    let mut argv = in_ns(ns);
    argv.push(bins.path("tftpd"));
    // Foreground, secure (chroot-like) root, verbose, and root as the user: the lab's
    // state directory is shared by daemons that all run as root here.
    argv.extend(["-L", "-s", "-v", "-v", "-u", "root", "-a"].map(String::from));
    argv.push(format!("{addr}:69"));
    if let Some(inv) = inv {
        argv.extend(inv.args());
    }
    argv.push(s(root));
    Proc::spawn("tftpd", &argv, &work.join(format!("tftpd-{ns}.log")))
}

pub(crate) fn httpd(
    bins: &Bins,
    ns: &str,
    addr: &str,
    loaders: &Path,
    inv: &Inv<'_>,
    work: &Path,
) -> Result<Proc> {
    Proc::spawn(
        "httpd-tree",
        &httpd_argv(bins, ns, addr, loaders, inv),
        &work.join(format!("httpd-{ns}.log")),
    )
}

/// As [`httpd`], with the API's admin token (`--admin-token-file`), for cases whose
/// operator changes things through pxectl.
pub(crate) fn httpd_with_admin(
    bins: &Bins,
    ns: &str,
    addr: &str,
    loaders: &Path,
    inv: &Inv<'_>,
    admin_token: &Path,
    work: &Path,
) -> Result<Proc> {
    let mut argv = httpd_argv(bins, ns, addr, loaders, inv);
    argv.extend(["--admin-token-file".into(), s(admin_token)]);
    Proc::spawn("httpd-tree", &argv, &work.join(format!("httpd-{ns}.log")))
}

fn httpd_argv(bins: &Bins, ns: &str, addr: &str, loaders: &Path, inv: &Inv<'_>) -> Vec<String> {
    let mut argv = in_ns(ns);
    argv.push(bins.path("httpd-tree"));
    argv.extend(["--listen".into(), format!("{addr}:8080")]);
    argv.extend(inv.args());
    argv.extend(["--loaders".into(), s(loaders)]);
    argv
}
