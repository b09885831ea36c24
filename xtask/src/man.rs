//! `cargo xtask man`: writes the manual pages under `deploy/man/` from the same definitions
//! as each daemon's `--help`. The pages are committed; each crate's
//! `committed_page_is_current` test fails in CI when they fall behind, and this task is
//! that test run with `PXE_BLESS=1`, which writes instead of comparing.

use anyhow::{Result, bail};
use std::process::Command;

/// The crates with a manual page, and the page.
pub(crate) const PAGES: &[(&str, &str)] = &[
    ("dhcpd", "man8/dhcpd.8"),
    ("tftpd", "man8/tftpd.8"),
    ("httpd-tree", "man8/httpd-tree.8"),
    ("pxe-daemon", "man5/pxe-inventory.5"),
    ("pxectl", "man1/pxectl.1"),
    ("pxe-db", "man8/pxe-db.8"),
    ("pxe-storm", "man1/pxe-storm.1"),
];

pub(crate) fn run(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask man");
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["test", "-q", "--lib"]);
    for (krate, _) in PAGES {
        cmd.args(["-p", krate]);
    }
    cmd.args(["--", "committed_page_is_current"])
        .env("PXE_BLESS", "1");
    let status = cmd.status()?;
    if !status.success() {
        bail!("writing the manual pages failed ({status})");
    }
    eprintln!("manual pages written to deploy/man/");
    Ok(())
}
