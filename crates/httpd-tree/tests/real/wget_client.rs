//! wget: downloads, resuming with a range (-c), timestamping (-N: If-Modified-Since),
//! --spider (HEAD), a recursive mirror through the directory listings, and the preseed
//! callback's exact form (`--post-data ''` with the token in `--header`; in `install_loop`).

use crate::support::{Server, lab, pseudo_random, run, sha256_hex};
use std::path::Path;

fn wget(args: &[&str]) -> std::process::Output {
    run("wget", "wget", args)
}

fn wget_ok(args: &[&str]) -> String {
    let o = wget(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "wget {args:?}: {}\n{err}", o.status);
    err
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn download_is_byte_identical() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vmlinuz");
    wget_ok(&[
        "-q",
        "-O",
        path_str(&out),
        &server.url("/trees/centos7/images/pxeboot/vmlinuz"),
    ]);
    let got = std::fs::read(&out).expect("read");
    assert_eq!(sha256_hex(&got), sha256_hex(&lab.kernel));
}

#[test]
fn continue_resumes_with_a_range() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vmlinuz");
    std::fs::write(&out, &lab.kernel[..1_000_003]).expect("partial");
    let log = wget_ok(&[
        "-c",
        "-O",
        path_str(&out),
        &server.url("/trees/centos7/images/pxeboot/vmlinuz"),
    ]);
    assert!(log.contains("206 Partial Content"), "{log}");
    let got = std::fs::read(&out).expect("read");
    assert_eq!(sha256_hex(&got), sha256_hex(&lab.kernel));
    // Already complete: wget asks for the rest, gets 416 and leaves the file alone.
    let log = wget_ok(&[
        "-c",
        "-O",
        path_str(&out),
        &server.url("/trees/centos7/images/pxeboot/vmlinuz"),
    ]);
    assert!(
        log.contains("416") || log.contains("already fully retrieved"),
        "{log}"
    );
    assert_eq!(
        sha256_hex(&std::fs::read(&out).expect("read")),
        sha256_hex(&lab.kernel)
    );
}

#[test]
fn timestamping_skips_an_unchanged_file() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = server.url("/trees/centos7/images/pxeboot/initrd.img");
    let d = path_str(dir.path());
    wget_ok(&["-N", "-P", d, &url]);
    let log = wget_ok(&["-N", "-P", d, &url]);
    assert!(
        log.contains("304 Not Modified") || log.contains("not retrieving"),
        "the second -N run must not download again:\n{log}"
    );
    let got = std::fs::read(dir.path().join("initrd.img")).expect("read");
    assert_eq!(sha256_hex(&got), sha256_hex(&pseudo_random(1024 * 1024, 2)));
}

#[test]
fn spider_checks_existence() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    wget_ok(&["--spider", "-q", &server.url("/trees/centos7/.treeinfo")]);
    let o = wget(&["--spider", "-q", &server.url("/trees/centos7/missing")]);
    assert_eq!(o.status.code(), Some(8), "server error response");
    let o = wget(&["--spider", "-q", &server.url("/ks/00:00:00:00:00:01")]);
    assert_eq!(o.status.code(), Some(8));
}

#[test]
fn recursive_mirror_through_listings() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    wget_ok(&[
        "-q",
        "-r",
        "-np",
        "-nH",
        "-R",
        "index.html*",
        "-P",
        path_str(dir.path()),
        &server.url("/trees/debian12/"),
    ]);
    for f in [
        "debian-installer/amd64/linux",
        "debian-installer/amd64/initrd.gz",
    ] {
        let want = std::fs::read(lab.tree("debian12").join(f)).expect("source");
        let got = std::fs::read(dir.path().join("trees/debian12").join(f)).expect(f);
        assert_eq!(sha256_hex(&got), sha256_hex(&want), "{f}");
    }
}
