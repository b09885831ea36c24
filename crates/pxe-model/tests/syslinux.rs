//! The COM32 module table against Debian's syslinux-common, the modules a menu needs, and
//! the lint of hand-written pxelinux files (issue 16 part 5).

mod common;

use pxe_model::syslinux::{MODULES, lint, menu_modules, needs};
use std::path::Path;

#[test]
fn the_table_is_what_debians_modules_record() {
    let dir = Path::new("/usr/lib/syslinux/modules/bios");
    let installed: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (install syslinux-common)", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".c32"))
        .collect();
    assert_eq!(installed.len(), MODULES.len(), "{installed:?}");
    for name in &installed {
        let out = std::process::Command::new("readelf")
            .arg("-d")
            .arg(dir.join(name))
            .output()
            .expect("readelf (binutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let recorded: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| l.split('[').nth(1)?.split(']').next())
            .collect();
        assert_eq!(needs(name), Some(recorded.as_slice()), "{name}");
    }
}

#[test]
fn what_each_menu_needs() {
    let lab = pxe_model::load(&common::fixtures().join("inventory/good/render-lab.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        menu_modules(&lab),
        ["ldlinux.c32", "libutil.c32", "menu.c32"]
    );
    let menus = pxe_model::load(&common::fixtures().join("inventory/good/menus.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        menu_modules(&menus),
        [
            "ldlinux.c32",
            "libutil.c32",
            "libcom32.c32",
            "vesamenu.c32",
            "chain.c32",
            "pxechn.c32"
        ]
    );
}

fn seed() -> String {
    std::fs::read_to_string(common::fixtures().join("pxelinux/seed-default.cfg")).expect("fixture")
}

/// What the lint says about the seed file when the root holds `present`.
fn findings(present: &[&str]) -> Vec<String> {
    lint(&seed(), &|p| present.contains(&p))
        .into_iter()
        .map(|f| format!("{}:{}: {}", f.line, f.col, f.message))
        .collect()
}

const ALL_THERE: &[&str] = &[
    "vesamenu.c32",
    "libcom32.c32",
    "libutil.c32",
    "libgpl.c32",
    "libmenu.c32",
    "hdt.c32",
    "splash.png",
    "centos7/vmlinuz",
    "centos7/initrd.img",
    "centos6/vmlinuz",
    "centos6/initrd.img",
    "centos6/extra.img",
    "memtest86+.bin",
];

#[test]
fn the_seed_guides_mistakes_with_line_and_column() {
    assert_eq!(
        findings(ALL_THERE),
        [
            "15:43: `,initrd=` is glued to `ks=nfs:10.0.0.5:/export/ks/c7.cfg` with a comma: the kernel gets it as part of that argument and pxelinux loads no initrd; separate it with a space",
            "25:9: unknown COM32 module chian.c32: syslinux 6 has no such module (a typo, or one from another version?)",
            "32:10: KERNEL memtest86+.bin: pxelinux loads a .bin as a boot sector, not as a kernel (memtest86+.bin is a kernel): use LINUX memtest86+.bin",
        ]
    );
}

#[test]
fn missing_files_and_libraries() {
    let without: Vec<&str> = ALL_THERE
        .iter()
        .copied()
        .filter(|f| {
            ![
                "libcom32.c32",
                "centos6/extra.img",
                "centos7/vmlinuz",
                "splash.png",
            ]
            .contains(f)
        })
        .collect();
    let got = findings(&without);
    for want in [
        "2:9: vesamenu.c32 needs libcom32.c32, which is not under the TFTP root beside it",
        "5:17: background image splash.png is not under the TFTP root",
        "14:10: kernel file centos7/vmlinuz is not under the TFTP root",
        "19:36: initrd file centos6/extra.img is not under the TFTP root",
        "22:9: hdt.c32 needs libcom32.c32, which is not under the TFTP root beside it",
    ] {
        assert!(got.iter().any(|g| g == want), "{want}\n{got:#?}");
    }
}
