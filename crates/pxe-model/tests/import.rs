//! Import reads real `.treeinfo` contents (CentOS 7, Rocky 9, Fedora) and the Debian
//! netboot layout from small fake trees, and the result loads as an inventory distro.

use pxe_model::import::{Imported, import};
use pxe_model::{Arch, Family};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/treeinfo")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A tree with the given files (contents are their own names).
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }
    dir
}

fn redhat_tree(treeinfo: &str) -> tempfile::TempDir {
    tree(&[
        (".treeinfo", &fixture(treeinfo)),
        ("images/pxeboot/vmlinuz", "kernel"),
        ("images/pxeboot/initrd.img", "initrd"),
    ])
}

fn check(found: &Imported, name: &str, release: &str, family: Family, kernel: &str, initrd: &str) {
    assert_eq!(found.name, name);
    assert_eq!(found.release, release);
    assert_eq!(found.family, family);
    assert_eq!(found.arch, Arch::X86_64);
    assert_eq!(found.kernel, kernel);
    assert_eq!(found.initrd, initrd);
}

/// The imported entry is a valid distro in an inventory.
fn loads(found: &Imported) {
    let yaml = format!(
        "servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\ndistros:\n{}",
        found.to_yaml(&found.name)
    );
    let inv = pxe_model::load_str("imported.yaml", &yaml, Path::new("."))
        .unwrap_or_else(|d| panic!("{}\n{yaml}", d.render()));
    let d = &inv.distros[&found.name];
    assert_eq!(d.kernel, found.kernel);
    if found.family == Family::Redhat {
        // The release is written down, so the installer's generation stays with the entry.
        let release = d.release.as_ref().expect("a version");
        assert_eq!(release.text, found.release);
        assert_eq!(release.from, pxe_model::ReleaseFrom::Inventory);
    }
    assert_eq!(d.tree, pxe_model::Tree::Dir(PathBuf::from(&found.tree)));
}

#[test]
fn centos7_treeinfo() {
    let t = redhat_tree("centos7.treeinfo");
    let found = import(t.path(), None).expect("import");
    check(
        &found,
        "centos7-x86_64",
        "CentOS 7",
        Family::Redhat,
        "images/pxeboot/vmlinuz",
        "images/pxeboot/initrd.img",
    );
    loads(&found);
}

#[test]
fn centos5_and_6_treeinfo_and_their_installer_generations() {
    use pxe_model::anaconda::Anaconda;
    for (file, name, release, generation) in [
        (
            "centos5.treeinfo",
            "centos5-x86_64",
            "CentOS 5.11",
            Anaconda::El5,
        ),
        (
            "centos6.treeinfo",
            "centos6-x86_64",
            "CentOS 6.10",
            Anaconda::El6,
        ),
        (
            "centos7.treeinfo",
            "centos7-x86_64",
            "CentOS 7",
            Anaconda::El7,
        ),
    ] {
        let t = redhat_tree(file);
        let found = import(t.path(), None).expect("import");
        check(
            &found,
            name,
            release,
            Family::Redhat,
            "images/pxeboot/vmlinuz",
            "images/pxeboot/initrd.img",
        );
        assert!(
            found
                .to_yaml(name)
                .contains(&format!("    version: \"{release}\"\n")),
            "{}",
            found.to_yaml(name)
        );
        loads(&found);
        let yaml = format!(
            "servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\ndistros:\n{}",
            found.to_yaml(name)
        );
        let inv = pxe_model::load_str("i.yaml", &yaml, Path::new(".")).expect("loads");
        assert_eq!(inv.distros[name].anaconda(), generation, "{file}");
    }
}

#[test]
fn rocky9_treeinfo() {
    let t = redhat_tree("rocky9.treeinfo");
    let found = import(t.path(), None).expect("import");
    check(
        &found,
        "rocky9-x86_64",
        "Rocky Linux 9.2",
        Family::Redhat,
        "images/pxeboot/vmlinuz",
        "images/pxeboot/initrd.img",
    );
    loads(&found);
}

#[test]
fn fedora_treeinfo() {
    let t = redhat_tree("fedora.treeinfo");
    let found = import(t.path(), None).expect("import");
    check(
        &found,
        "fedora44-x86_64",
        "Fedora 44",
        Family::Redhat,
        "images/pxeboot/vmlinuz",
        "images/pxeboot/initrd.img",
    );
    loads(&found);
}

#[test]
fn treeinfo_without_the_asked_architecture_is_an_error() {
    let t = redhat_tree("centos7.treeinfo");
    let err = import(t.path(), Some(Arch::Aarch64)).expect_err("no aarch64 images");
    assert!(
        err.to_string().contains("no kernel in [images-aarch64]"),
        "{err}"
    );
}

#[test]
fn debian_netboot_layout() {
    let t = tree(&[
        (
            "version.info",
            "Debian version:  12 (bookworm)\nInstaller build: 20230607+deb12u9\n",
        ),
        ("debian-installer/amd64/linux", "kernel"),
        ("debian-installer/amd64/initrd.gz", "initrd"),
        ("debian-installer/amd64/pxelinux.0", "loader"),
        ("pxelinux.0", "debian-installer/amd64/pxelinux.0"),
    ]);
    let found = import(t.path(), None).expect("import");
    check(
        &found,
        "debian12-x86_64",
        "Debian 12",
        Family::Debian,
        "debian-installer/amd64/linux",
        "debian-installer/amd64/initrd.gz",
    );
    loads(&found);
}

/// A Debian netboot tree ships its signed shim (`bootnetx64.efi`) with the signed GRUB
/// beside it: the entry hands out that shim, and a UEFI x64 PXE client of a machine on
/// that distro is given it over TFTP.
#[test]
fn a_tree_with_shim_and_grub_hands_out_its_shim() {
    let t = tree(&[
        ("version.info", "Debian version:  12 (bookworm)\n"),
        ("debian-installer/amd64/linux", "kernel"),
        ("debian-installer/amd64/initrd.gz", "initrd"),
        ("debian-installer/amd64/bootnetx64.efi", "shim"),
        ("debian-installer/amd64/grubx64.efi", "grub"),
    ]);
    let found = import(t.path(), None).expect("import");
    assert_eq!(
        found.shim.as_deref(),
        Some("debian-installer/amd64/bootnetx64.efi")
    );
    loads(&found);
    let yaml = format!(
        "servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\n\
         loaders: {{uefi_x64: grubnetx64.efi}}\ndistros:\n{}\
         profiles:\n  p: {{distro: d12, chain: classic}}\n\
         machines:\n  m: {{mac: \"52:54:00:00:00:01\", profile: p}}\n",
        found.to_yaml("d12")
    );
    let inv = pxe_model::load_str("imported.yaml", &yaml, Path::new("."))
        .unwrap_or_else(|d| panic!("{}\n{yaml}", d.render()));
    let shim = "trees/d12/debian-installer/amd64/bootnetx64.efi";
    assert_eq!(inv.distros["d12"].loaders.uefi_x64, shim);
    // Only the firmware the shim is for changes.
    assert_eq!(inv.distros["d12"].loaders.bios, "pxelinux.0");
    let mut client = pxe_model::ClientInfo::new("52:54:00:00:00:01".parse().expect("mac"));
    client.vendor_class = Some("PXEClient:Arch:00007:UNDI:003000".into());
    client.arch = Some(7);
    let plan = pxe_model::plan(&inv, &client, pxe_model::InstallState::Pending).expect("a plan");
    assert_eq!(plan.boot_file, pxe_model::BootFile::Tftp(shim.into()));
    // UEFI HTTP boot: the same shim, as a URL into the tree httpd-tree serves.
    client.vendor_class = Some("HTTPClient:Arch:00016:UNDI:003000".into());
    client.arch = Some(16);
    let plan = pxe_model::plan(&inv, &client, pxe_model::InstallState::Pending).expect("a plan");
    assert_eq!(
        plan.boot_file,
        pxe_model::BootFile::Url(format!("http://10.0.0.3/{shim}"))
    );
}

/// A shim with no GRUB beside it would fetch a GRUB that is not there: not handed out.
#[test]
fn a_shim_without_its_grub_is_not_handed_out() {
    let t = tree(&[
        ("debian-installer/amd64/linux", "kernel"),
        ("debian-installer/amd64/initrd.gz", "initrd"),
        ("debian-installer/amd64/bootnetx64.efi", "shim"),
    ]);
    let found = import(t.path(), None).expect("import");
    assert_eq!(found.shim, None);
    assert!(!found.to_yaml("d12").contains("loaders"));
    // A DVD tree's removable-media shim and GRUB count too.
    let t = redhat_tree("rocky9.treeinfo");
    for f in ["EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi"] {
        let p = t.path().join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, "efi").expect("write");
    }
    let found = import(t.path(), None).expect("import");
    assert_eq!(found.shim.as_deref(), Some("EFI/BOOT/BOOTX64.EFI"));
    loads(&found);
}

#[test]
fn ubuntu_live_server_layout() {
    let t = tree(&[
        (
            ".disk/info",
            "Ubuntu-Server 22.04.3 LTS \"Jammy Jellyfish\" - Release amd64 (20230810)",
        ),
        ("casper/vmlinuz", "kernel"),
        ("casper/initrd", "initrd"),
    ]);
    let found = import(t.path(), None).expect("import");
    assert_eq!(found.family, Family::Ubuntu);
    assert_eq!(found.name, "ubuntu2204-x86_64");
    loads(&found);
}

#[test]
fn an_empty_directory_is_not_a_tree() {
    let t = tree(&[]);
    assert!(import(t.path(), None).is_err());
}

#[test]
fn trees_are_directories_beside_the_distros() {
    let base = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\ndistros:\n  d12: {family: debian, tree: /srv/d12, kernel: linux, initrd: initrd.gz}\n";
    let ok = format!("{base}trees:\n  mirror: mirror\n  images: /srv/images\n");
    let inv = pxe_model::load_str("t.yaml", &ok, Path::new("/etc/pxe")).expect("loads");
    assert_eq!(inv.trees["mirror"], PathBuf::from("/etc/pxe/mirror"));
    assert_eq!(inv.trees["images"], PathBuf::from("/srv/images"));
    for (trees, want) in [
        (
            "trees:\n  d12: /srv/other\n",
            "t.yaml:5:3: tree \"d12\" has the name of a distro: /trees/d12/ would be two directories",
        ),
        (
            "trees:\n  m: http://mirror.example/debian\n",
            "t.yaml:5:6: expected a directory served by httpd-tree, found the URL",
        ),
        (
            "trees:\n  ../x: /srv/x\n",
            "t.yaml:5:3: tree name \"../x\" must be letters",
        ),
    ] {
        let text = format!("{base}{trees}");
        let err = pxe_model::load_str("t.yaml", &text, Path::new(".")).expect_err(trees);
        assert!(err.render().contains(want), "{}", err.render());
    }
}
