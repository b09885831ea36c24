//! Install trees on other servers (issue 16 part 5): an NFS or FTP tree reaches the
//! installer's kernel arguments and answer file in the form its generation reads, and its
//! kernel and initrd come from the TFTP root.

mod common;

use pxe_model::render::{answer, ipxe, pxelinux};
use pxe_model::{InstallState, Inventory};

fn inv() -> Inventory {
    pxe_model::load(&common::fixtures().join("inventory/good/remote-trees.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn pxelinux_of(inv: &Inventory, machine: &str) -> String {
    pxelinux::machine_file(inv, &inv.machines[machine], InstallState::Pending)
}

fn answer_of(inv: &Inventory, machine: &str) -> String {
    let m = &inv.machines[machine];
    let (p, d) = inv.profile_of(m).expect("profile");
    answer::render(inv, p, d, Some((m, "t0k3n"))).expect("renders")
}

fn line_with<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
}

#[test]
fn kernel_arguments_point_at_the_tree_per_generation() {
    let inv = inv();
    let cases = [
        (
            "n7",
            "images/centos7/vmlinuz",
            "inst.repo=nfs:10.77.0.5:/export/centos7",
            "inst.ks=http://10.77.0.3:8080/ks/",
        ),
        (
            "f6",
            "images/centos6/vmlinuz",
            "repo=ftp://10.77.0.5/pub/centos6",
            "ks=http://10.77.0.3:8080/ks/",
        ),
        (
            "n5",
            "images/centos5/vmlinuz",
            "method=nfs:10.77.0.5:/export/centos5",
            "ks=http://10.77.0.3:8080/ks/",
        ),
    ];
    for (machine, kernel, repo, ks) in cases {
        let file = pxelinux_of(&inv, machine);
        assert_eq!(
            line_with(&file, "KERNEL "),
            format!("KERNEL {kernel}"),
            "{machine}"
        );
        let append = line_with(&file, "APPEND ");
        let args: Vec<&str> = append.split(' ').collect();
        assert!(args.contains(&repo), "{machine}: {append}");
        assert!(
            args.iter().any(|a| a.starts_with(ks)),
            "{machine}: {append}"
        );
        assert!(
            args.contains(&format!("initrd={}", kernel.replace("vmlinuz", "initrd.img")).as_str()),
            "{machine}: {append}"
        );
    }
}

#[test]
fn kickstart_names_the_nfs_server_or_the_ftp_url() {
    let inv = inv();
    let nfs = answer_of(&inv, "n7");
    assert_eq!(
        line_with(&nfs, "nfs "),
        "nfs --server=10.77.0.5 --dir=/export/centos7"
    );
    assert!(!nfs.lines().any(|l| l.starts_with("url ")), "{nfs}");
    let ftp = answer_of(&inv, "f6");
    assert_eq!(
        line_with(&ftp, "url "),
        "url --url=ftp://10.77.0.5/pub/centos6"
    );
    assert!(!ftp.lines().any(|l| l.starts_with("nfs ")), "{ftp}");
}

#[test]
fn preseed_takes_an_ftp_mirror() {
    let inv = inv();
    let preseed = answer_of(&inv, "fd");
    for want in [
        "d-i mirror/protocol string ftp",
        "d-i mirror/ftp/hostname string ftp.lab.example",
        "d-i mirror/ftp/directory string /debian",
        "d-i mirror/ftp/proxy string",
    ] {
        assert!(preseed.lines().any(|l| l == want), "{want}\n{preseed}");
    }
    assert!(!preseed.contains("mirror/http/"), "{preseed}");
    let file = pxelinux_of(&inv, "fd");
    assert_eq!(line_with(&file, "KERNEL "), "KERNEL images/debian12/linux");
}

#[test]
fn ipxe_fetches_the_kernel_from_the_tftp_root_over_http() {
    let inv = inv();
    let script = ipxe::machine_script(&inv, &inv.machines["i7"], InstallState::Pending);
    let kernel = line_with(&script, "kernel ");
    assert!(
        kernel.starts_with("kernel http://10.77.0.3:8080/loaders/images/centos7/vmlinuz "),
        "{script}"
    );
    assert!(
        kernel.contains(" inst.repo=nfs:10.77.0.5:/export/centos7"),
        "{script}"
    );
}

#[test]
fn the_default_menu_offers_remote_trees() {
    let inv = inv();
    let menu = pxelinux::default_menu(&inv);
    assert!(menu.contains("LABEL c7\n"), "{menu}");
    assert!(menu.contains("  KERNEL images/centos7/vmlinuz\n"), "{menu}");
}
