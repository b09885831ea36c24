//! Menu entries of other kinds and the menu's appearance (issue 16 part 5), per loader:
//! snapshots of the three menus, then each kind's lines checked one by one.
//!
//! `UPDATE_EXPECT=1 cargo test -p pxe-model --test menus` rewrites the snapshots.

mod common;

use expect_test::expect_file;
use pxe_model::Inventory;
use pxe_model::render::{grub, ipxe, pxelinux};

fn inv() -> Inventory {
    load("menus.yaml")
}

fn load(name: &str) -> Inventory {
    pxe_model::load(&common::fixtures().join("inventory/good").join(name))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The lines of one entry: from its first line up to the next blank line.
fn block<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| *l != first);
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.take_while(|l| !l.is_empty() && !l.starts_with("menuentry ")));
    assert!(!out.is_empty(), "no {first:?} in\n{text}");
    out
}

#[test]
fn snapshots() {
    let inv = inv();
    expect_file!["snapshots/menus-pxelinux-default.cfg"].assert_eq(&pxelinux::default_menu(&inv));
    expect_file!["snapshots/menus-grub-menu.cfg"].assert_eq(&grub::menu(&inv));
    expect_file!["snapshots/menus-ipxe-menu.ipxe"].assert_eq(&ipxe::menu_script(&inv));
}

#[test]
fn pxelinux_appearance() {
    let menu = pxelinux::default_menu(&inv());
    let head: Vec<&str> = menu.lines().take_while(|l| !l.is_empty()).collect();
    for want in [
        "UI vesamenu.c32",
        "DEFAULT next-device",
        "PROMPT 0",
        "TIMEOUT 300",
        "MENU TITLE Lab network boot",
        "MENU BACKGROUND splash.png",
        "MENU COLOR title 1;36;44 #c00090f0 #00000000 std",
        "MENU COLOR sel 7;37;40 #e0ffffff #20ffffff all",
        "F1 help/general.txt",
        "F2 help/install.txt",
    ] {
        assert!(head.contains(&want), "{want}\n{menu}");
    }
}

#[test]
fn pxelinux_entry_kinds() {
    let menu = pxelinux::default_menu(&inv());
    let cases: &[(&str, &[&str])] = &[
        ("LABEL next-device", &["  LOCALBOOT -1"]),
        ("LABEL disk1", &["  COM32 chain.c32", "  APPEND hd1 1"]),
        ("LABEL memtest", &["  LINUX memtest/memtest86+.bin"]),
        (
            "LABEL rescue7",
            &[
                "  KERNEL trees/centos7/images/pxeboot/vmlinuz",
                "  APPEND initrd=trees/centos7/images/pxeboot/initrd.img inst.rescue inst.repo=http://10.77.0.3:8080/trees/centos7",
            ],
        ),
        (
            "LABEL manual-debian",
            &[
                "  KERNEL trees/debian12/debian-installer/amd64/linux",
                "  APPEND initrd=trees/debian12/debian-installer/amd64/initrd.gz vga=788",
            ],
        ),
        (
            "LABEL ipxe",
            &["  COM32 pxechn.c32", "  APPEND 10.77.0.2::undionly.kpxe"],
        ),
    ];
    for (first, body) in cases {
        let got = block(&menu, first);
        assert_eq!(&got[2..], *body, "{first}\n{menu}");
    }
    assert!(!menu.contains("winpe"), "pxelinux shows no WinPE\n{menu}");
    assert!(
        !menu.contains("KERNEL memtest"),
        "a .bin under KERNEL is a boot sector\n{menu}"
    );
}

#[test]
fn grub_entry_kinds() {
    let menu = grub::menu(&inv());
    assert!(menu.contains("set default='next-device'\n"), "{menu}");
    let local = block(
        &menu,
        "menuentry 'Second disk, first partition' --id disk1 {",
    );
    assert!(
        local.iter().any(|l| l.contains("chainloader \"$loader\"")),
        "{menu}"
    );
    assert_eq!(
        block(&menu, "menuentry 'Memory test (memtest86+)' --id memtest {"),
        [
            "menuentry 'Memory test (memtest86+)' --id memtest {",
            "  linux /memtest/memtest86+x64.efi",
            "}"
        ]
    );
    assert_eq!(
        block(&menu, "menuentry 'Rescue CentOS 7' --id rescue7 {")[1],
        "  linux /trees/centos7/images/pxeboot/vmlinuz inst.rescue inst.repo=http://10.77.0.3:8080/trees/centos7"
    );
    assert_eq!(
        block(&menu, "menuentry 'iPXE' --id ipxe {")[1],
        "  chainloader /ipxe.efi"
    );
    assert!(!menu.contains("winpe"), "{menu}");
}

#[test]
fn ipxe_entry_kinds() {
    let script = ipxe::menu_script(&inv());
    for item in [
        "item next-device ",
        "item disk1 ",
        "item memtest ",
        "item winpe Windows PE",
    ] {
        assert!(
            script.lines().any(|l| l.starts_with(item)),
            "{item}\n{script}"
        );
    }
    assert!(
        script.contains("choose --default next-device --timeout 30000 "),
        "{script}"
    );
    let section = |name: &str| block(&script, &format!(":{name}"))[1..].join("\n");
    assert_eq!(section("next-device"), "exit");
    assert_eq!(section("disk1"), "sanboot --no-describe --drive 0x81");
    assert_eq!(
        section("memtest"),
        "iseq ${platform} efi && kernel http://10.77.0.3:8080/loaders/memtest/memtest86+x64.efi || kernel http://10.77.0.3:8080/loaders/memtest/memtest86+.bin\nboot"
    );
    assert_eq!(section("ipxe"), "chain http://10.77.0.3:8080/boot.ipxe");
    assert_eq!(
        section("winpe"),
        [
            "kernel http://10.77.0.3:8080/loaders/winpe/wimboot",
            "initrd http://10.77.0.3:8080/loaders/winpe/amd64/boot/bcd BCD",
            "initrd http://10.77.0.3:8080/loaders/winpe/amd64/boot/boot.sdi boot.sdi",
            "initrd http://10.77.0.3:8080/loaders/winpe/amd64/sources/boot.wim boot.wim",
            "boot",
        ]
        .join("\n")
    );
    assert!(
        section("rescue7").contains("inst.rescue inst.repo="),
        "{script}"
    );
}

#[test]
fn rescue_and_manual_install_per_generation() {
    let inv = inv();
    let args = |distro: &str, rescue: bool| {
        pxe_model::render::entries::installer_args(&inv, &inv.distros[distro], rescue, "")
    };
    assert_eq!(
        args("centos7", true),
        "inst.rescue inst.repo=http://10.77.0.3:8080/trees/centos7"
    );
    assert_eq!(
        args("centos7", false),
        "inst.repo=http://10.77.0.3:8080/trees/centos7"
    );
    assert_eq!(
        args("centos6", true),
        "rescue repo=http://10.77.0.3:8080/trees/centos6"
    );
    assert_eq!(args("debian12", true), "rescue/enable=true");
    assert_eq!(args("debian12", false), "");
}

#[test]
fn a_default_a_loader_cannot_show_falls_back_to_local() {
    let text = std::fs::read_to_string(common::fixtures().join("inventory/good/menus.yaml"))
        .expect("fixture");
    let text = text.replace("default: next-device", "default: winpe");
    let inv = pxe_model::load_str("menus.yaml", &text, std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pxelinux::default_menu(&inv).contains("\nDEFAULT local\n"));
    assert!(grub::menu(&inv).contains("set default='local'\n"));
    assert!(ipxe::menu_script(&inv).contains("choose --default winpe "));
}

#[test]
fn without_menu_keys_the_menu_is_as_before() {
    let menu = pxelinux::default_menu(&load("render-lab.yaml"));
    assert!(
        menu.contains("UI menu.c32\n") && menu.contains("PROMPT 1\n"),
        "{menu}"
    );
}
