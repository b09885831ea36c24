//! A hand-written `pxelinux.cfg/default` beside the generated per-MAC files (issue 16
//! part 5): served as written while the inventory's machines still get their own files,
//! and linted by `--check` with file, line and column; `--check` also lists the COM32
//! modules the generated menu needs and which the root lacks.

use std::path::{Path, PathBuf};
use std::process::Command;

use pxe_model::InstallState;

use crate::inventory::{Lab, tftp_get};
use crate::support::{TFTPD, assert_same, run};

const WEB01: &str = "pxelinux.cfg/01-52-54-00-12-34-56";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn seed() -> Vec<u8> {
    std::fs::read(fixtures().join("pxelinux/seed-default.cfg")).expect("seed fixture")
}

#[test]
fn a_hand_written_default_is_served_beside_generated_machine_files() {
    let lab = Lab::new();
    std::fs::create_dir(lab.tree.root.join("pxelinux.cfg")).expect("pxelinux.cfg dir");
    let written = seed();
    let on_disk = lab.tree.file("pxelinux.cfg/default", &written);
    let server = lab.start();

    let out = lab.tree.out("default");
    let o = tftp_get(&server, "pxelinux.cfg/default", &out);
    assert_same(&out, &written, "the hand-written default", &o);
    server.wait_log(&["file=pxelinux.cfg/default", "result=ok"]);

    let out = lab.tree.out("web01");
    let o = tftp_get(&server, WEB01, &out);
    let rendered = lab.rendered(WEB01, InstallState::Pending);
    assert_same(&out, rendered.as_bytes(), "web01's generated file", &o);
    // Serving generated files never touched the hand-written one.
    assert_eq!(std::fs::read(&on_disk).expect("read back"), written);
}

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let o = run(Command::new(TFTPD).arg("--check").args(args));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_lints_hand_written_files_with_file_line_and_column() {
    let lab = Lab::new();
    let root = lab.tree.root.display().to_string();
    std::fs::create_dir(lab.tree.root.join("pxelinux.cfg")).expect("pxelinux.cfg dir");
    lab.tree.file("pxelinux.cfg/default", &seed());
    let (code, out, err) = check(&["-s", &root]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let file = lab.tree.root.join("pxelinux.cfg/default");
    let file = file.display();
    for want in [
        format!(
            "error: {file}:15:43: `,initrd=` is glued to `ks=nfs:10.0.0.5:/export/ks/c7.cfg` with a comma"
        ),
        format!("error: {file}:25:9: unknown COM32 module chian.c32"),
        format!("error: {file}:14:10: kernel file centos7/vmlinuz is not under the TFTP root"),
        format!("error: {file}:2:9: COM32 module vesamenu.c32 is not under the TFTP root"),
    ] {
        assert!(err.lines().any(|l| l.starts_with(&want)), "{want}\n{err}");
    }
    assert!(out.contains(&format!("hand-written {file} ")), "{out}");

    // The same file with its mistakes mended and its files in place passes.
    let mended = String::from_utf8(seed())
        .expect("utf-8")
        .replace("c7.cfg,initrd=", "c7.cfg initrd=")
        .replace("chian.c32", "chain.c32")
        .replace("KERNEL memtest86+.bin", "LINUX memtest86+.bin");
    lab.tree.file("pxelinux.cfg/default", mended.as_bytes());
    for f in [
        "centos7/vmlinuz",
        "centos7/initrd.img",
        "centos6/vmlinuz",
        "centos6/initrd.img",
        "centos6/extra.img",
        "memtest86+.bin",
        "splash.png",
    ] {
        let p = lab.tree.root.join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(&p, b"x").expect("file");
    }
    copy_modules(
        &lab.tree.root,
        &[
            "vesamenu.c32",
            "libcom32.c32",
            "libutil.c32",
            "hdt.c32",
            "libgpl.c32",
            "libmenu.c32",
            "chain.c32",
        ],
    );
    let (code, out, err) = check(&["-s", &root]);
    assert_eq!(code, Some(0), "{out}\n{err}");
}

/// Copies Debian's syslinux modules into the root.
fn copy_modules(root: &Path, names: &[&str]) {
    let dir = Path::new("/usr/lib/syslinux/modules/bios");
    for n in names {
        std::fs::copy(dir.join(n), root.join(n))
            .unwrap_or_else(|e| panic!("{n}: {e} (install syslinux-common)"));
    }
}

#[test]
fn check_lists_the_modules_the_menu_needs_and_which_are_missing() {
    let lab = Lab::new();
    let root = lab.tree.root.display().to_string();
    let menus = fixtures().join("inventory/good/menus.yaml");
    let menus = menus.display().to_string();
    let (code, out, err) = check(&["--inventory", &menus, "-s", &root]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("pxelinux menu (ui vesamenu.c32) needs: ldlinux.c32 libutil.c32 libcom32.c32 vesamenu.c32 chain.c32 pxechn.c32\n"),
        "{out}"
    );
    assert!(
        out.contains("): ldlinux.c32 libutil.c32 libcom32.c32 vesamenu.c32 chain.c32 pxechn.c32; the generated pxelinux menu will not start"),
        "{out}"
    );
    copy_modules(
        &lab.tree.root,
        &[
            "ldlinux.c32",
            "libutil.c32",
            "vesamenu.c32",
            "chain.c32",
            "pxechn.c32",
        ],
    );
    let (_, out, _) = check(&["--inventory", &menus, "-s", &root]);
    assert!(out.contains("): libcom32.c32; the generated"), "{out}");
    copy_modules(&lab.tree.root, &["libcom32.c32"]);
    let (_, out, _) = check(&["--inventory", &menus, "-s", &root]);
    assert!(!out.contains("warning"), "{out}");
}
