//! Renderer snapshots (one per output and installer family), and the file names
//! pxelinux and GRUB search, name by name.
//!
//! Snapshots live in `tests/snapshots/`; after a deliberate change,
//! `UPDATE_EXPECT=1 cargo test -p pxe-model --test render` rewrites them: review the diff.

mod common;

use expect_test::expect_file;
use pxe_model::render::{self, BootFileKind, answer, grub, ipxe, pxelinux};
use pxe_model::state::{Secret, machine_token};
use pxe_model::{InstallState, MacAddr};
use std::net::Ipv4Addr;

fn machine<'a>(inv: &'a pxe_model::Inventory, name: &str) -> &'a pxe_model::Machine {
    &inv.machines[name]
}

#[test]
fn pxelinux_files() {
    let inv = common::lab();
    expect_file!["snapshots/pxelinux-default.cfg"].assert_eq(&pxelinux::default_menu(&inv));
    expect_file!["snapshots/pxelinux-web01-redhat.cfg"].assert_eq(&pxelinux::machine_file(
        &inv,
        machine(&inv, "web01"),
        InstallState::Pending,
    ));
    expect_file!["snapshots/pxelinux-db01-debian.cfg"].assert_eq(&pxelinux::machine_file(
        &inv,
        machine(&inv, "db01"),
        InstallState::Installing,
    ));
    expect_file!["snapshots/pxelinux-ub01-ubuntu.cfg"].assert_eq(&pxelinux::machine_file(
        &inv,
        machine(&inv, "ub01"),
        InstallState::Pending,
    ));
    expect_file!["snapshots/pxelinux-web01-installed.cfg"].assert_eq(&pxelinux::machine_file(
        &inv,
        machine(&inv, "web01"),
        InstallState::Installed,
    ));
    expect_file!["snapshots/pxelinux-gw01-netboot-local.cfg"].assert_eq(&pxelinux::machine_file(
        &inv,
        machine(&inv, "gw01"),
        InstallState::Pending,
    ));
}

#[test]
fn grub_files() {
    let inv = common::lab();
    expect_file!["snapshots/grub-root.cfg"].assert_eq(&grub::root_config(&inv));
    expect_file!["snapshots/grub-menu.cfg"].assert_eq(&grub::menu(&inv));
    expect_file!["snapshots/grub-web01-redhat.cfg"].assert_eq(&grub::machine_file(
        &inv,
        machine(&inv, "web01"),
        InstallState::Pending,
    ));
    expect_file!["snapshots/grub-ub01-ubuntu.cfg"].assert_eq(&grub::machine_file(
        &inv,
        machine(&inv, "ub01"),
        InstallState::Pending,
    ));
    expect_file!["snapshots/grub-web01-installed.cfg"].assert_eq(&grub::machine_file(
        &inv,
        machine(&inv, "web01"),
        InstallState::Installed,
    ));
}

/// GRUB's own parser (`grub-script-check`, Debian package grub-common) accepts every
/// file we generate for GRUB, the UEFI local-boot entry's loops and conditions included.
#[test]
fn grub_files_parse_with_grub_script_check() {
    let inv = common::lab();
    let files = [
        ("root", grub::root_config(&inv)),
        ("menu", grub::menu(&inv)),
        (
            "web01 pending",
            grub::machine_file(&inv, machine(&inv, "web01"), InstallState::Pending),
        ),
        (
            "web01 installed",
            grub::machine_file(&inv, machine(&inv, "web01"), InstallState::Installed),
        ),
    ];
    let dir = std::env::temp_dir().join(format!("pxe-model-grub-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    for (what, text) in files {
        let path = dir.join("grub.cfg");
        std::fs::write(&path, &text).expect("writing the file");
        let out = std::process::Command::new("grub-script-check")
            .arg(&path)
            .output()
            .expect("grub-script-check (Debian package grub-common; cargo xtask ci installs it)");
        assert!(
            out.status.success(),
            "{what}: grub-script-check refuses it: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipxe_scripts() {
    let inv = common::lab();
    expect_file!["snapshots/ipxe-chain.ipxe"].assert_eq(&ipxe::chain_script(&inv));
    expect_file!["snapshots/ipxe-menu.ipxe"].assert_eq(&ipxe::menu_script(&inv));
    expect_file!["snapshots/ipxe-db01-debian.ipxe"].assert_eq(&ipxe::machine_script(
        &inv,
        machine(&inv, "db01"),
        InstallState::Pending,
    ));
    expect_file!["snapshots/ipxe-db01-installed.ipxe"].assert_eq(&ipxe::machine_script(
        &inv,
        machine(&inv, "db01"),
        InstallState::Installed,
    ));
}

#[test]
fn answer_files_per_family() {
    let inv = common::lab();
    let secret = Secret::from_bytes(b"render-test-secret");
    for (name, file) in [
        ("web01", "kickstart-web01.ks"),
        ("db01", "preseed-db01.cfg"),
        ("ub01", "autoinstall-ub01.yaml"),
    ] {
        let m = machine(&inv, name);
        let (p, d) = inv.profile_of(m).expect("profile");
        let token = machine_token(&secret, &m.name, 0);
        let text = answer::render(&inv, p, d, Some((m, &token))).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains(&token),
            "{name}: the answer file carries the machine's token"
        );
        expect_file![format!("snapshots/{file}")].assert_eq(&text);
    }
    let (p, d) = inv.profile_and_distro("centos7-ks").expect("profile");
    let menu_answer = answer::render(&inv, p, d, None).expect("render");
    assert!(
        !menu_answer.contains("api/v1"),
        "a menu answer file has no callback"
    );
    expect_file!["snapshots/kickstart-profile-only.ks"].assert_eq(&menu_answer);
}

#[test]
fn example_lab_custom_template_renders() {
    let inv = pxe_model::load(&common::fixtures().join("../../deploy/examples/inventory.yaml"))
        .expect("example");
    let m = machine(&inv, "web01");
    let (p, d) = inv.profile_of(m).expect("profile");
    let text = answer::render(&inv, p, d, Some((m, "tok"))).expect("render");
    assert!(text.contains("timezone Europe/Berlin --utc"), "{text}");
    assert!(text.contains("curl -fsS -X POST -H 'Authorization: Bearer tok' 'http://10.77.0.3:8080/api/v1/machines/52:54:00:12:34:56/installed'"), "{text}");
}

#[test]
fn pxelinux_search_order_name_by_name() {
    let inv = common::lab();
    let web = machine(&inv, "web01");
    let ip = Ipv4Addr::new(10, 77, 0, 50);
    let names = pxelinux::search_order(web.uuid.as_deref(), &web.macs[0], Some(ip));
    assert_eq!(
        names,
        [
            "2f1c4a7e-9d3b-4c5a-8e6f-0a1b2c3d4e5f",
            "01-52-54-00-12-34-56",
            "0A4D0032",
            "0A4D003",
            "0A4D00",
            "0A4D0",
            "0A4D",
            "0A4",
            "0A",
            "0",
            "default",
        ]
    );
    let web01 = Some(BootFileKind::PxelinuxMachine("web01".into()));
    for name in &names[..names.len() - 1] {
        let path = format!("pxelinux.cfg/{name}");
        assert_eq!(
            render::classify(&inv, &path, Some(ip)),
            web01,
            "{path} asked by web01"
        );
        // From another address, only the names that carry web01's identity match.
        let other = render::classify(&inv, &path, Some(Ipv4Addr::new(10, 77, 0, 99)));
        let identity = name.contains('-');
        assert_eq!(
            other,
            if identity { web01.clone() } else { None },
            "{path} asked by another"
        );
    }
    assert_eq!(
        render::classify(&inv, "pxelinux.cfg/default", Some(ip)),
        Some(BootFileKind::PxelinuxDefault)
    );
    // A loader in a subdirectory asks under its own directory.
    assert_eq!(
        render::classify(&inv, "/bios/pxelinux.cfg/01-52-54-00-12-34-56", None),
        web01
    );
    // Unknown MACs and lower-case hex are not ours.
    assert_eq!(
        render::classify(&inv, "pxelinux.cfg/01-52-54-00-99-99-99", Some(ip)),
        None
    );
    assert_eq!(
        render::classify(&inv, "pxelinux.cfg/0a4d0032", Some(ip)),
        None
    );
}

#[test]
fn grub_names_name_by_name() {
    let inv = common::lab();
    let mac: MacAddr = "52:54:00:12:34:56".parse().expect("mac");
    let names = grub::machine_names(&mac);
    assert_eq!(
        names,
        [
            "grub.cfg-01-52-54-00-12-34-56",
            "grub.cfg-52:54:00:12:34:56"
        ]
    );
    for dir in ["", "/grub/", "grub/", "/boot/grub/"] {
        for name in &names {
            let path = format!("{dir}{name}");
            assert_eq!(
                render::classify(&inv, &path, None),
                Some(BootFileKind::GrubMachine("web01".into())),
                "{path}"
            );
        }
        assert_eq!(
            render::classify(&inv, &format!("{dir}grub.cfg"), None),
            Some(BootFileKind::GrubRoot)
        );
    }
    // Any other MAC gets the menu: GRUB asks for its name whether or not it exists.
    assert_eq!(
        render::classify(&inv, "grub/grub.cfg-52:54:00:99:99:99", None),
        Some(BootFileKind::GrubMenu)
    );
    assert_eq!(
        render::classify(&inv, "grub/grub.cfg-not-a-mac", None),
        None
    );
}

#[test]
fn boot_file_renders_with_the_machine_state() {
    let inv = common::lab();
    let installed = |_: &str| InstallState::Installed;
    let pending = |_: &str| InstallState::Pending;
    let f = render::boot_file(&inv, "pxelinux.cfg/01-52-54-00-12-34-56", None, &pending)
        .expect("generated");
    assert_eq!(f.machine.as_deref(), Some("web01"));
    assert!(
        f.content
            .contains("KERNEL trees/centos7/images/pxeboot/vmlinuz")
    );
    let f = render::boot_file(&inv, "pxelinux.cfg/01-52-54-00-12-34-56", None, &installed)
        .expect("generated");
    assert!(
        f.content.contains("LOCALBOOT 0") && !f.content.contains("KERNEL"),
        "{}",
        f.content
    );
    let f = render::boot_file(&inv, "boot/52:54:00:ab:cd:02.ipxe", None, &installed)
        .expect("generated");
    assert!(f.content.contains("\nexit\n"));
    assert!(render::boot_file(&inv, "pxelinux.0", None, &pending).is_none());
}

#[test]
fn only_per_machine_files_name_their_machine() {
    let inv = common::lab();
    let ip = Some(Ipv4Addr::new(10, 77, 0, 50));
    for (path, want) in [
        ("pxelinux.cfg/01-52-54-00-12-34-56", Some("web01")),
        (
            "pxelinux.cfg/2f1c4a7e-9d3b-4c5a-8e6f-0a1b2c3d4e5f",
            Some("web01"),
        ),
        ("pxelinux.cfg/0A4D0032", Some("web01")),
        ("grub/grub.cfg-01-52-54-00-ab-cd-02", Some("db01")),
        ("boot/52:54:00:ab:cd:10.ipxe", Some("ub01")),
        ("pxelinux.cfg/default", None),
        ("grub/grub.cfg", None),
        ("grub/grub.cfg-52:54:00:99:99:99", None),
        ("boot.ipxe", None),
        ("boot/52:54:00:99:99:99.ipxe", None),
    ] {
        let kind = render::classify(&inv, path, ip).unwrap_or_else(|| panic!("{path}"));
        assert_eq!(kind.machine(), want, "{path}");
    }
}
