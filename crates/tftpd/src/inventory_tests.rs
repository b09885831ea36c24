//! Tests of the inventory-backed files: per-machine boot configs rendered on request and
//! only for their machine's address, trees served from the distro's directory, reloads.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use pxe_model::state::StateEvent;

const WEB01_MAC_FILE: &str = "pxelinux.cfg/01-52-54-00-12-34-56";
/// web01's fixed address in the render-lab fixture.
const WEB01: &str = "10.77.0.50";
/// db01's fixed address.
const DB01: &str = "10.77.0.51";
/// ub01's per-MAC iPXE script (ub01 has no fixed address).
const UB01_SCRIPT: &str = "52:54:00:ab:cd:10.ipxe";

/// The render-lab fixture, copied into `dir` with its trees moved to `dir/trees/<distro>`;
/// each tree holds its kernel and initrd. Returns the inventory path.
fn lab(dir: &Path) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/inventory/good/render-lab.yaml");
    let text = fs::read_to_string(fixture).unwrap();
    let trees = dir.join("trees");
    let text = text.replace("/srv/trees/", &format!("{}/", trees.display()));
    for (distro, files) in [
        (
            "centos7",
            ["images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"],
        ),
        (
            "debian12",
            [
                "debian-installer/amd64/linux",
                "debian-installer/amd64/initrd.gz",
            ],
        ),
        ("ubuntu2404", ["casper/vmlinuz", "casper/initrd"]),
    ] {
        for f in files {
            let p = trees.join(distro).join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("{distro} {f}")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let path = dir.join("inventory.yaml");
    fs::write(&path, text).unwrap();
    path
}

struct Lab {
    dir: tempfile::TempDir,
    files: InventoryFiles,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let inv = lab(dir.path());
        let state = dir.path().join("state");
        let files = InventoryFiles::load(&inv, Some(state.as_path().into())).unwrap();
        Lab { dir, files }
    }

    fn store(&self) -> FileStore {
        FileStore::open(&self.dir.path().join("state")).unwrap()
    }

    fn get(&self, client: &str, name: &str) -> Result<Generated, Denied> {
        self.files
            .generate(client.parse().unwrap(), name, &Policy::default())
    }

    fn content(&self, client: &str, name: &str) -> (String, Option<String>) {
        match self.get(client, name) {
            Ok(Generated::Content { content, machine }) => {
                (String::from_utf8(content).unwrap(), machine)
            }
            other => panic!("{name}: not generated content: {other:?}"),
        }
    }
}

fn rendered(inv: &Inventory, name: &str, state: InstallState) -> String {
    pxe_model::render::boot_file(inv, name, None, &|_| state)
        .unwrap()
        .content
}

#[test]
fn machine_menus_follow_the_install_state() {
    let lab = Lab::new();
    let inv = lab.files.inventory();
    let (pending, machine) = lab.content(WEB01, WEB01_MAC_FILE);
    assert_eq!(machine.as_deref(), Some("web01"));
    assert_eq!(
        pending,
        rendered(&inv, WEB01_MAC_FILE, InstallState::Pending)
    );
    assert!(
        pending.contains("KERNEL trees/centos7/images/pxeboot/vmlinuz"),
        "{pending}"
    );

    lab.store()
        .apply("web01", StateEvent::Installed, 1_000)
        .unwrap();
    let (installed, _) = lab.content(WEB01, WEB01_MAC_FILE);
    assert_eq!(
        installed,
        rendered(&inv, WEB01_MAC_FILE, InstallState::Installed)
    );
    assert!(installed.contains("LOCALBOOT"), "{installed}");
}

#[test]
fn every_loader_name_is_rendered() {
    let lab = Lab::new();
    // pxelinux's hex-IP names identify the machine asking from its fixed address.
    let (_, m) = lab.content("10.77.0.50", "pxelinux.cfg/0A4D0032");
    assert_eq!(m.as_deref(), Some("web01"));
    let (_, m) = lab.content("::ffff:10.77.0.50", "/pxelinux.cfg/0A4D");
    assert_eq!(m.as_deref(), Some("web01"));
    assert_eq!(
        lab.get("10.77.0.99", "pxelinux.cfg/0A4D0032"),
        Err(Denied::NotFound),
        "another client's address"
    );
    let (_, m) = lab.content(WEB01, "pxelinux.cfg/2f1c4a7e-9d3b-4c5a-8e6f-0a1b2c3d4e5f");
    assert_eq!(m.as_deref(), Some("web01"));
    let (menu, m) = lab.content("10.0.0.1", "pxelinux.cfg/default");
    assert_eq!(m, None);
    assert!(menu.contains("LABEL centos7-ks"), "{menu}");
    let (grub, m) = lab.content("10.0.0.1", "grub/grub.cfg");
    assert_eq!(m, None);
    assert!(grub.contains("configfile"), "{grub}");
    let (_, m) = lab.content(DB01, "grub/grub.cfg-01-52-54-00-ab-cd-02");
    assert_eq!(m.as_deref(), Some("db01"));
    // ub01 has no fixed address: it is where dhcpd acknowledged it.
    lab.store()
        .record_ack("ub01", "10.77.0.60".parse().unwrap(), 1)
        .unwrap();
    let (_, m) = lab.content("10.77.0.60", UB01_SCRIPT);
    assert_eq!(m.as_deref(), Some("ub01"));
    // GRUB cannot test for a file over TFTP: an unknown MAC's file is the menu.
    let (unknown, m) = lab.content("10.0.0.1", "grub/grub.cfg-01-52-54-00-00-00-99");
    assert_eq!(m, None);
    assert!(unknown.contains("--id centos7-ks"), "{unknown}");
    let (chain, m) = lab.content("10.0.0.1", "boot.ipxe");
    assert_eq!(m, None);
    assert!(chain.starts_with("#!ipxe"), "{chain}");
    for unknown in [
        "pxelinux.0",
        "pxelinux.cfg/01-52-54-00-00-00-99",
        "trees/nope/vmlinuz",
        "trees/centos7/images/pxeboot/missing",
        "treesx/centos7/images/pxeboot/vmlinuz",
    ] {
        assert_eq!(
            lab.get("10.0.0.1", unknown),
            Err(Denied::NotFound),
            "{unknown}"
        );
    }
}

#[test]
fn tree_files_stay_inside_their_tree() {
    let lab = Lab::new();
    let tree = lab.dir.path().join("trees/centos7");
    let Ok(Generated::File(f)) = lab.get("10.0.0.1", "trees/centos7/images/pxeboot/vmlinuz") else {
        panic!("tree file not found")
    };
    assert_eq!(f.root, tree.canonicalize().unwrap());
    assert_eq!(f.path, f.root.join("images/pxeboot/vmlinuz"));
    assert_eq!(f.relative, "images/pxeboot/vmlinuz");

    // A symlink inside the tree is followed; one leading out is refused.
    std::os::unix::fs::symlink("images/pxeboot/vmlinuz", tree.join("vmlinuz")).unwrap();
    assert!(matches!(
        lab.get("10.0.0.1", "trees/centos7/vmlinuz"),
        Ok(Generated::File(f)) if f.relative == "vmlinuz" && f.path.ends_with("images/pxeboot/vmlinuz")
    ));
    std::os::unix::fs::symlink(lab.files.path(), tree.join("out")).unwrap();
    std::os::unix::fs::symlink("../debian12", tree.join("sideways")).unwrap();
    for name in [
        "trees/centos7/out",
        "trees/centos7/sideways/debian-installer/amd64/linux",
    ] {
        assert_eq!(
            lab.get("10.0.0.1", name),
            Err(Denied::Access("Path leaves the root")),
            "{name}"
        );
    }
    // The same permission rule as the root: world-readable unless -p.
    let initrd = tree.join("images/pxeboot/initrd.img");
    fs::set_permissions(&initrd, fs::Permissions::from_mode(0o600)).unwrap();
    let name = "trees/centos7/images/pxeboot/initrd.img";
    assert_eq!(
        lab.get("10.0.0.1", name),
        Err(Denied::Access("File not world-readable"))
    );
    let permissive = Policy {
        permissive: true,
        create: false,
    };
    assert!(matches!(
        lab.files
            .generate("10.0.0.1".parse().unwrap(), name, &permissive),
        Ok(Generated::File(_))
    ));
    // A directory is not a file; a tree that is gone is "not found".
    assert_eq!(
        lab.get("10.0.0.1", "trees/centos7/images"),
        Err(Denied::Access("Not a regular file"))
    );
    fs::remove_dir_all(lab.dir.path().join("trees/ubuntu2404")).unwrap();
    assert_eq!(
        lab.get("10.0.0.1", "trees/ubuntu2404/casper/vmlinuz"),
        Err(Denied::NotFound)
    );
}

#[test]
fn url_trees_are_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.yaml");
    fs::write(
        &path,
        "servers: {tftp: 10.0.0.2, http: \"http://h\"}\n\
         distros:\n  m: {family: redhat, tree: \"http://mirror/m\", kernel: k, initrd: i}\n",
    )
    .unwrap();
    let files = InventoryFiles::load(&path, None).unwrap();
    assert_eq!(
        files.generate("10.0.0.1".parse().unwrap(), "trees/m/k", &Policy::default()),
        Err(Denied::NotFound)
    );
}

fn served<'a>(client: &str, name: &'a str, machine: Option<&'a str>) -> Served<'a> {
    Served {
        client: client.parse().unwrap(),
        name,
        machine,
        bytes: 1234,
    }
}

#[test]
fn served_files_become_boot_events_of_their_machine() {
    let lab = Lab::new();
    let store = lab.store();
    // The generated file's machine wins over the client's address.
    lab.files
        .served(&served("10.77.0.1", WEB01_MAC_FILE, Some("web01")), 7);
    // Other files: the machine whose fixed address the client has (IPv4-mapped too).
    lab.files
        .served(&served("::ffff:10.77.0.1", "pxelinux.0", None), 8);
    // Nobody's address: nothing recorded.
    lab.files
        .served(&served("10.77.0.200", "pxelinux.0", None), 9);

    let web01 = store.events("web01", 10).unwrap();
    assert_eq!(
        web01,
        [BootEvent {
            at: 7,
            phase: Phase::Tftp,
            detail: format!("{WEB01_MAC_FILE} (1234 bytes)"),
        }]
    );
    let gw01 = store.events("gw01", 10).unwrap();
    assert_eq!(
        gw01,
        [BootEvent {
            at: 8,
            phase: Phase::Tftp,
            detail: "pxelinux.0 (1234 bytes)".into(),
        }]
    );
    let all_machines: usize = ["db01", "ub01"]
        .iter()
        .map(|m| store.events(m, 10).unwrap().len())
        .sum();
    assert_eq!(all_machines, 0);
}

#[test]
fn files_from_a_pool_address_go_to_the_machine_dhcpd_acknowledged_it_to() {
    let lab = Lab::new();
    let store = lab.store();
    // ub01 has no fixed address; dhcpd acknowledged 10.77.0.120 to it, then moved it.
    let pool: std::net::Ipv4Addr = "10.77.0.120".parse().unwrap();
    store.record_ack("ub01", pool, 1).unwrap();
    lab.files.served(
        &served("10.77.0.120", "trees/ubuntu2404/casper/vmlinuz", None),
        5,
    );
    store
        .record_ack("ub01", "10.77.0.121".parse().unwrap(), 6)
        .unwrap();
    lab.files.served(
        &served("10.77.0.120", "trees/ubuntu2404/casper/initrd", None),
        7,
    );
    let ub01 = store.events("ub01", 10).unwrap();
    assert_eq!(
        ub01,
        [BootEvent {
            at: 5,
            phase: Phase::Tftp,
            detail: "trees/ubuntu2404/casper/vmlinuz (1234 bytes)".into(),
        }],
        "the second file came from an address ub01 no longer has"
    );
}

#[test]
fn without_a_state_dir_machines_are_pending_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let inv = lab(dir.path());
    let files = InventoryFiles::load(&inv, None).unwrap();
    let Ok(Generated::Content { content, .. }) =
        files.generate(WEB01.parse().unwrap(), WEB01_MAC_FILE, &Policy::default())
    else {
        panic!("not generated")
    };
    assert!(
        String::from_utf8(content)
            .unwrap()
            .contains("state: pending")
    );
    // No acknowledged address can be known: a machine without a fixed one gets nothing.
    assert_eq!(
        files.generate(
            "10.77.0.60".parse().unwrap(),
            UB01_SCRIPT,
            &Policy::default()
        ),
        Err(Denied::NotTheMachine {
            machine: "ub01".into()
        })
    );
    files.served(&served("10.77.0.1", WEB01_MAC_FILE, Some("web01")), 1);
    assert!(!dir.path().join("state").exists());
}

#[test]
fn a_corrupt_state_file_counts_as_pending() {
    let lab = Lab::new();
    let store = lab.store();
    store.apply("web01", StateEvent::Installed, 1).unwrap();
    fs::write(
        lab.dir.path().join("state/machines/web01.json"),
        b"{not json",
    )
    .unwrap();
    let (content, _) = lab.content(WEB01, WEB01_MAC_FILE);
    assert!(content.contains("state: pending"), "{content}");
}

#[test]
fn reload_takes_a_good_inventory_and_refuses_a_bad_one() {
    let lab = Lab::new();
    let path = lab.files.path().to_owned();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("console=ttyS0", "console=ttyS1")).unwrap();
    lab.files.reload().unwrap();
    let (content, _) = lab.content(WEB01, WEB01_MAC_FILE);
    assert!(content.contains("console=ttyS1"), "{content}");

    fs::write(&path, text.replace("profile: centos7-ks", "profile: nope")).unwrap();
    let Err(LoadError::Invalid(d)) = lab.files.reload() else {
        panic!("a bad inventory was taken")
    };
    assert!(d.render().contains("nope"), "{}", d.render());
    let (content, _) = lab.content(WEB01, WEB01_MAC_FILE);
    assert!(
        content.contains("console=ttyS1"),
        "the old inventory keeps serving: {content}"
    );
}

#[test]
fn boot_names_and_trees_are_claimed_for_writes() {
    let lab = Lab::new();
    let claims = |n: &str| lab.files.claims(n);
    for name in [
        WEB01_MAC_FILE,
        "/pxelinux.cfg/01-52-54-00-12-34-56",
        "pxelinux.cfg/default",
        "pxelinux.cfg/C0A8",
        "bios/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff",
        "grub.cfg",
        "grub/grub.cfg-01-52-54-00-12-34-56",
        "boot.ipxe",
        "web01.ipxe",
        "trees/centos7/images/pxeboot/vmlinuz",
        "trees/anything/new",
    ] {
        assert!(claims(name), "{name}");
    }
    for name in [
        "pxelinux.0",
        "uploads/log.txt",
        "grub.cfgx",
        "ipxe.efi",
        "treesx/a",
    ] {
        assert!(!claims(name), "{name}");
    }
}

/// The `refused` entries of a machine's timeline.
fn refusals(store: &FileStore, machine: &str) -> Vec<String> {
    store
        .events(machine, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.phase == Phase::Refused && e.at > 0)
        .map(|e| e.detail)
        .collect()
}

fn not_the_machine(machine: &str) -> Result<Generated, Denied> {
    Err(Denied::NotTheMachine {
        machine: machine.into(),
    })
}

#[test]
fn a_machines_own_files_go_only_to_its_address() {
    let lab = Lab::new();
    let store = lab.store();
    for name in [
        WEB01_MAC_FILE,
        "bios/pxelinux.cfg/01-52-54-00-12-34-56",
        "pxelinux.cfg/2f1c4a7e-9d3b-4c5a-8e6f-0a1b2c3d4e5f",
        "grub/grub.cfg-01-52-54-00-12-34-56",
        "web01.ipxe",
    ] {
        assert_eq!(
            lab.get("192.0.2.9", name),
            not_the_machine("web01"),
            "{name}"
        );
        assert_eq!(lab.get(DB01, name), not_the_machine("web01"), "{name}");
        assert!(lab.get(WEB01, name).is_ok(), "{name}");
    }
    assert_eq!(
        lab.get("2001:db8::50", WEB01_MAC_FILE),
        not_the_machine("web01")
    );
    assert_eq!(
        refusals(&store, "web01")[..2],
        [
            format!("refused {WEB01_MAC_FILE} to 192.0.2.9 over TFTP"),
            format!("refused {WEB01_MAC_FILE} to {DB01} over TFTP"),
        ]
    );
    assert_eq!(refusals(&store, "web01").len(), 11);
    assert!(refusals(&store, "db01").is_empty());

    // ub01 has no fixed address: refused until dhcpd acknowledged it an address, then
    // only at the last one acknowledged.
    assert_eq!(lab.get("10.77.0.60", UB01_SCRIPT), not_the_machine("ub01"));
    store
        .record_ack("ub01", "10.77.0.60".parse().unwrap(), 1)
        .unwrap();
    assert!(lab.get("10.77.0.60", UB01_SCRIPT).is_ok());
    assert!(lab.get("::ffff:10.77.0.60", UB01_SCRIPT).is_ok());
    store
        .record_ack("ub01", "10.77.0.61".parse().unwrap(), 2)
        .unwrap();
    assert_eq!(lab.get("10.77.0.60", UB01_SCRIPT), not_the_machine("ub01"));
    assert!(lab.get("10.77.0.61", UB01_SCRIPT).is_ok());
    assert_eq!(refusals(&store, "ub01").len(), 2);

    // What is not a machine's own goes to anyone, and records no refusal.
    for name in [
        "pxelinux.cfg/default",
        "grub/grub.cfg",
        "grub/grub.cfg-01-52-54-00-00-00-99",
        "boot.ipxe",
        "52:54:00:00:00:99.ipxe",
        "trees/centos7/images/pxeboot/vmlinuz",
    ] {
        assert!(lab.get("192.0.2.9", name).is_ok(), "{name}");
    }
    // A hex-IP name is a machine's only from that machine's fixed address.
    assert_eq!(
        lab.get("192.0.2.9", "pxelinux.cfg/0A4D0032"),
        Err(Denied::NotFound)
    );
    assert_eq!(refusals(&store, "web01").len(), 11);
}

#[test]
fn an_unreadable_acked_address_refuses_unless_the_fixed_one_matches() {
    let lab = Lab::new();
    let store = lab.store();
    store
        .record_ack("ub01", "10.77.0.60".parse().unwrap(), 1)
        .unwrap();
    fs::write(lab.dir.path().join("state/acked/ub01.json"), b"{not json").unwrap();
    assert_eq!(lab.get("10.77.0.60", UB01_SCRIPT), not_the_machine("ub01"));
    assert_eq!(refusals(&store, "ub01").len(), 1);
    // A state directory that cannot be opened at all.
    let state = lab.dir.path().join("state");
    fs::rename(&state, lab.dir.path().join("state.away")).unwrap();
    fs::write(&state, b"not a directory").unwrap();
    assert_eq!(lab.get("10.77.0.60", UB01_SCRIPT), not_the_machine("ub01"));
    assert!(lab.get(WEB01, WEB01_MAC_FILE).is_ok(), "the fixed address");
}

#[test]
fn listed_nat_gateways_get_every_machines_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = lab(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "servers:\n",
        "servers:\n  tftp_nat_gateways: [10.77.0.254]\n",
        1,
    );
    fs::write(&path, text).unwrap();
    let state = dir.path().join("state");
    let files = InventoryFiles::load(&path, Some(state.as_path().into())).unwrap();
    let get = |client: &str, name: &str| {
        files.generate(client.parse().unwrap(), name, &Policy::default())
    };
    for name in [
        WEB01_MAC_FILE,
        "grub/grub.cfg-01-52-54-00-ab-cd-02",
        UB01_SCRIPT,
    ] {
        assert!(
            matches!(
                get("10.77.0.254", name),
                Ok(Generated::Content {
                    machine: Some(_),
                    ..
                })
            ),
            "{name}"
        );
        assert!(
            matches!(get("10.77.0.253", name), Err(Denied::NotTheMachine { .. })),
            "{name}"
        );
    }
    let store = FileStore::open(&state).unwrap();
    assert_eq!(
        refusals(&store, "web01").len(),
        1,
        "only the unlisted address"
    );
}
