//! Red Hat family kernel arguments per installer generation, decided from the tree's
//! `.treeinfo` or the distro's declared `version`, as every boot file renders them
//! (pxelinux, GRUB, iPXE). No anaconda image can be had here (the package registry serves
//! Debian only), so this is checked by rendering, not by booting.

use pxe_model::render::{grub, ipxe, pxelinux};
use pxe_model::{InstallState, ReleaseFrom};
use std::path::Path;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/treeinfo")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A tree directory with this `.treeinfo` (or none).
fn tree(dir: &Path, name: &str, treeinfo: Option<&str>) {
    let t = dir.join(name);
    std::fs::create_dir_all(t.join("images/pxeboot")).expect("mkdir");
    if let Some(f) = treeinfo {
        std::fs::write(t.join(".treeinfo"), fixture(f)).expect("write");
    }
}

const INVENTORY: &str = r#"servers: {tftp: 10.0.0.2, http: "http://10.0.0.3"}
distros:
  c5:   {family: redhat, tree: c5,   kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}
  c6:   {family: redhat, tree: c6,   kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}
  c6v:  {family: redhat, tree: bare, kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img, version: 6.10}
  c7:   {family: redhat, tree: c7,   kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}
  r9:   {family: redhat, tree: r9,   kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}
  f18:  {family: redhat, tree: "http://mirror.example/f18", kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img, version: Fedora 18}
  el5v: {family: redhat, tree: c7,   kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img, version: "5"}
  none: {family: redhat, tree: bare, kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}
profiles:
  c5:   {distro: c5}
  c6:   {distro: c6}
  c6v:  {distro: c6v}
  c7:   {distro: c7}
  r9:   {distro: r9}
  f18:  {distro: f18, chain: ipxe}
  el5v: {distro: el5v}
  none: {distro: none}
  el5-own: {distro: c5, template: el.ks}
  el7-own: {distro: c7, template: el.ks}
machines:
  m5:    {mac: "52:54:00:00:00:05", profile: c5}
  m6:    {mac: "52:54:00:00:00:06", profile: c6}
  m6v:   {mac: "52:54:00:00:00:16", profile: c6v}
  m7:    {mac: "52:54:00:00:00:07", profile: c7}
  m9:    {mac: "52:54:00:00:00:09", profile: r9}
  mf18:  {mac: "52:54:00:00:00:18", profile: f18}
  m5v:   {mac: "52:54:00:00:00:25", profile: el5v}
  mnone: {mac: "52:54:00:00:00:99", profile: none}
"#;

fn lab() -> (tempfile::TempDir, pxe_model::Inventory) {
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path(), "c5", Some("centos5.treeinfo"));
    tree(dir.path(), "c6", Some("centos6.treeinfo"));
    tree(dir.path(), "c7", Some("centos7.treeinfo"));
    tree(dir.path(), "r9", Some("rocky9.treeinfo"));
    tree(dir.path(), "bare", None);
    std::fs::write(
        dir.path().join("el.ks"),
        "# {{ distro.version }}\n{% if distro.installer == 'el5' %}key --skip\n{% endif %}install\n",
    )
    .expect("template");
    let path = dir.path().join("inventory.yaml");
    std::fs::write(&path, INVENTORY).expect("write");
    let inv = pxe_model::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, inv)
}

/// The installer arguments (those that point at the kickstart and the tree) of a
/// machine's kernel line in its pxelinux, GRUB and iPXE files, which must agree.
fn installer_args(inv: &pxe_model::Inventory, machine: &str) -> Vec<String> {
    let m = &inv.machines[machine];
    let pick = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .filter(|w| {
                ["ks=", "inst.ks=", "repo=", "inst.repo=", "method="]
                    .iter()
                    .any(|p| w.starts_with(p))
            })
            .map(str::to_owned)
            .collect()
    };
    let kernel_line = |text: &str, starts: &str| -> Vec<String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(starts))
            .unwrap_or_else(|| panic!("no {starts} line in\n{text}"));
        pick(line)
    };
    let ipxe = kernel_line(
        &ipxe::machine_script(inv, m, InstallState::Pending),
        "kernel ",
    );
    if inv.profiles[&m.profile].chain == pxe_model::Chain::Ipxe {
        return ipxe;
    }
    let pxe = kernel_line(
        &pxelinux::machine_file(inv, m, InstallState::Pending),
        "APPEND ",
    );
    let grub = kernel_line(&grub::machine_file(inv, m, InstallState::Pending), "linux");
    assert_eq!(pxe, grub, "{machine}: pxelinux and GRUB agree");
    assert_eq!(pxe, ipxe, "{machine}: pxelinux and iPXE agree");
    pxe
}

#[test]
fn kernel_arguments_per_installer_generation() {
    let (_dir, inv) = lab();
    let ks = |mac: &str| format!("http://10.0.0.3/ks/{mac}");
    let tree = |d: &str| format!("http://10.0.0.3/trees/{d}");
    let cases = [
        // EL 5 from its .treeinfo ([general] version = 5.11): ks= and method=.
        (
            "m5",
            vec![
                format!("ks={}", ks("52:54:00:00:00:05")),
                format!("method={}", tree("c5")),
            ],
        ),
        // EL 6 from its .treeinfo, and declared: ks= and repo=.
        (
            "m6",
            vec![
                format!("ks={}", ks("52:54:00:00:00:06")),
                format!("repo={}", tree("c6")),
            ],
        ),
        (
            "m6v",
            vec![
                format!("ks={}", ks("52:54:00:00:00:16")),
                format!("repo={}", tree("c6v")),
            ],
        ),
        // EL 7 ([general]) and 9 ([release], productmd): inst.ks= and inst.repo=.
        (
            "m7",
            vec![
                format!("inst.ks={}", ks("52:54:00:00:00:07")),
                format!("inst.repo={}", tree("c7")),
            ],
        ),
        (
            "m9",
            vec![
                format!("inst.ks={}", ks("52:54:00:00:00:09")),
                format!("inst.repo={}", tree("r9")),
            ],
        ),
        // Fedora 18 declared, its tree a mirror (no .treeinfo read): ks= and repo=.
        (
            "mf18",
            vec![
                format!("ks={}", ks("52:54:00:00:00:18")),
                "repo=http://mirror.example/f18".to_owned(),
            ],
        ),
        // The declared version wins over the tree's (.treeinfo says 7).
        (
            "m5v",
            vec![
                format!("ks={}", ks("52:54:00:00:00:25")),
                format!("method={}", tree("el5v")),
            ],
        ),
        // Neither says: EL 7 and later.
        (
            "mnone",
            vec![
                format!("inst.ks={}", ks("52:54:00:00:00:99")),
                format!("inst.repo={}", tree("none")),
            ],
        ),
    ];
    for (machine, want) in cases {
        assert_eq!(installer_args(&inv, machine), want, "{machine}");
    }
    let release = |d: &str| inv.distros[d].release.clone().map(|r| (r.text, r.from));
    assert_eq!(
        release("c5"),
        Some(("CentOS 5.11".into(), ReleaseFrom::Treeinfo))
    );
    assert_eq!(
        release("c6v"),
        Some(("6.10".into(), ReleaseFrom::Inventory))
    );
    assert_eq!(
        release("r9"),
        Some(("Rocky Linux 9.2".into(), ReleaseFrom::Treeinfo))
    );
    assert_eq!(release("el5v"), Some(("5".into(), ReleaseFrom::Inventory)));
    assert_eq!(release("none"), None);
}

#[test]
fn a_red_hat_version_without_a_major_number_is_an_error_at_its_place() {
    let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}\ndistros:\n  c:\n    family: redhat\n    tree: /srv/c\n    kernel: k\n    initrd: i\n    version: rawhide\n";
    let err = pxe_model::load_str("inv.yaml", text, Path::new("."))
        .expect_err("rawhide names no version");
    let out = err.render();
    assert!(
        out.contains("inv.yaml:8:14: expected a release with its major version, such as 6.10, 7"),
        "{out}"
    );
    // Other families take any text.
    let debian = text.replace("redhat", "debian");
    assert!(pxe_model::load_str("inv.yaml", &debian, Path::new(".")).is_ok());
}

#[test]
fn a_template_can_follow_the_generation() {
    use pxe_model::render::answer;
    let (_dir, inv) = lab();
    let render = |profile: &str| {
        let (p, d) = inv.profile_and_distro(profile).expect("profile");
        answer::render(&inv, p, d, None).unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(render("el5-own"), "# CentOS 5.11\nkey --skip\ninstall\n");
    assert_eq!(render("el7-own"), "# CentOS 7\ninstall\n");
}
