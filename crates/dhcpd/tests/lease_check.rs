//! `dhcpd -T` against the real ISC `dhcpd -T` (Debian's isc-dhcp-server) on every lease file
//! in `tests/fixtures/leases/`: a file ISC wrote while serving a real client, a hand-written
//! PXE lab file, and corrupt ones. Our exit status and everything we print after the banner
//! (errors with carets, `no subnet` lines, the count of leases kept) must be ISC's.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::isc_dhcpd;

fn leases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/leases")
}

/// Run `bin -T` on `lease_file`; returns the exit status and stderr after the banner, with
/// the scratch file's number (ISC's differs from run to run) masked.
fn run(bin: &Path, lease_file: &Path, pid: &Path) -> (i32, Vec<String>) {
    let out = Command::new(bin)
        .arg("-T")
        .arg("-4")
        .arg("-cf")
        .arg(leases_dir().join("dhcpd.conf"))
        .arg("-lf")
        .arg(lease_file)
        .arg("-pf")
        .arg(pid)
        .output()
        .expect("run dhcpd -T");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines = text
        .lines()
        .skip(4)
        .map(|l| match l.split_once("removing temp lease file: ") {
            Some((head, path)) => {
                let stem = path.rsplit_once('.').map_or(path, |(s, _)| s);
                format!("{head}removing temp lease file: {stem}.N")
            }
            None => l.to_string(),
        })
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(leases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "leases"))
        .collect();
    v.sort();
    v
}

#[test]
fn dash_capital_t_prints_what_isc_prints() {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_dhcpd"));
    let isc = isc_dhcpd();
    let tmp = tempfile::tempdir().unwrap();
    let pid = tmp.path().join("dhcpd.pid");
    let mut files = fixtures();
    assert!(files.len() >= 8, "fixtures missing: {files:?}");
    files.push(tmp.path().join("does-not-exist.leases"));
    let mut differ = Vec::new();
    for f in &files {
        let mut theirs = run(&isc, f, &pid);
        let mut mine = run(&ours, f, &pid);
        if !f.exists() {
            // A missing file: the same status and the same first message line (ISC goes on
            // with a paragraph about reporting bugs, which we do not repeat).
            theirs.1.truncate(5);
            mine.1.truncate(5);
        }
        if theirs != mine {
            differ.push(format!(
                "{}:\n  ISC  {:?}\n  ours {:?}",
                f.display(),
                theirs,
                mine
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "-T differs from ISC:\n{}",
        differ.join("\n")
    );
}

#[test]
fn an_isc_written_file_loads_into_the_table() {
    let f = dhcpd::lease::parse::load(&leases_dir().join("isc-written.leases")).unwrap();
    assert!(f.is_clean(), "{:?}", f.output);
    let t = f.table();
    assert_eq!(t.len(), 4);
    let hw = dhcpd::lease::Hardware::ethernet([0x52, 0x54, 0, 0xaa, 0, 2]);
    let mine = t.by_hardware(&hw, 0);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].ip, std::net::Ipv4Addr::new(10, 199, 7, 12));
    assert_eq!(mine[0].client_hostname.as_deref(), Some(&b"vm"[..]));
    // Written back by us, it reads back the same.
    let mut text = dhcpd::lease::write::header();
    for l in t.iter() {
        text.push_str(&dhcpd::lease::write::lease(l));
    }
    let again = dhcpd::lease::parse::parse("again", text.as_bytes());
    assert!(again.is_clean(), "{:?}", again.output);
    assert_eq!(again.leases, t.iter().cloned().collect::<Vec<_>>());
}
