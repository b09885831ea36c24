//! `--inventory` and `--state-dir` with real clients: per-machine menus rendered from the
//! render-lab inventory (changing with the install state), GRUB's root file, kernels from
//! distro trees outside the TFTP root, disk files winning over generated ones, boot events in
//! the state directory, SIGHUP reloads and `--check` on a broken inventory. Who may fetch a
//! machine's own menus is `owner.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pxe_model::state::{BootEvent, Phase, StateEvent, StateStore};
use pxe_model::{FileStore, InstallState};

use crate::support::{Server, TFTPD, Tree, assert_same, need, pseudo_random, run};

pub(crate) const WEB01: &str = "pxelinux.cfg/01-52-54-00-12-34-56";
pub(crate) const KERNEL: &str = "trees/centos7/images/pxeboot/vmlinuz";
const INITRD: &str = "trees/centos7/images/pxeboot/initrd.img";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The render-lab inventory copied next to the served tree, its trees moved into temp
/// directories that hold a kernel and an initrd each, and gw01's fixed address made
/// 127.0.0.1 (the address tftp-hpa has here), plus a state directory the server can write
/// after dropping to nobody, in which dhcpd acknowledged 127.0.0.1 to web01 and db01 (so
/// their menus go to tftp-hpa too; ub01 has no address).
pub(crate) struct Lab {
    pub(crate) tree: Tree,
    pub(crate) inventory: PathBuf,
    pub(crate) state: PathBuf,
    trees: PathBuf,
    pub(crate) kernel: Vec<u8>,
    initrd: Vec<u8>,
}

impl Lab {
    pub(crate) fn new() -> Lab {
        let tree = Tree::new();
        let base = tree.scratch.join("lab");
        let trees = base.join("trees");
        let text = std::fs::read_to_string(fixtures().join("inventory/good/render-lab.yaml"))
            .expect("read the render-lab fixture");
        let text = text
            .replace("/srv/trees/", &format!("{}/", trees.display()))
            .replace("address: 10.77.0.1\n", "address: 127.0.0.1\n");
        let kernel = pseudo_random(3 << 20, 11);
        let initrd = pseudo_random(5 << 20, 12);
        for (path, content) in [
            ("centos7/images/pxeboot/vmlinuz", &kernel[..]),
            ("centos7/images/pxeboot/initrd.img", &initrd[..]),
            ("debian12/debian-installer/amd64/linux", b"debian kernel"),
            ("ubuntu2404/casper/vmlinuz", b"ubuntu kernel"),
        ] {
            let p = trees.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("tree dirs");
            std::fs::write(&p, content).expect("tree file");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let inventory = base.join("inventory.yaml");
        std::fs::write(&inventory, text).expect("write inventory");
        let state = base.join("state");
        let store = FileStore::open(&state).expect("state dir");
        for d in [&state, &state.join("machines"), &state.join("events")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        for machine in ["web01", "db01"] {
            store
                .record_ack(machine, [127, 0, 0, 1].into(), now_ms())
                .expect("record an ACK");
        }
        Lab {
            tree,
            inventory,
            state,
            trees,
            kernel,
            initrd,
        }
    }

    pub(crate) fn start(&self) -> Server {
        Server::start(&[
            "--inventory",
            &self.inventory.display().to_string(),
            "--state-dir",
            &self.state.display().to_string(),
            "-s",
            &self.tree.root.display().to_string(),
        ])
    }

    pub(crate) fn store(&self) -> FileStore {
        FileStore::open(&self.state).expect("open state dir")
    }

    /// What pxe-model renders for `name` with the inventory as it is on disk now.
    pub(crate) fn rendered(&self, name: &str, state: InstallState) -> String {
        let inv = pxe_model::load(&self.inventory).unwrap_or_else(|e| panic!("{e}"));
        pxe_model::render::boot_file(&inv, name, Some([127, 0, 0, 1].into()), &|_| state)
            .unwrap_or_else(|| panic!("pxe-model renders nothing for {name}"))
            .content
    }
}

pub(crate) fn tftp_get(server: &Server, name: &str, out: &Path) -> Output {
    let tftp = need("tftp", "tftp-hpa");
    run(Command::new(tftp)
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &server.port.to_string(),
            "-c",
            "get",
            name,
        ])
        .arg(out))
}

fn curl_get(server: &Server, name: &str, out: &Path) -> Output {
    let curl = need("curl", "curl");
    run(Command::new(curl)
        .args(["-sS", "--tftp-blksize", "1468", "-o"])
        .arg(out)
        .arg(format!("tftp://127.0.0.1:{}/{name}", server.port)))
}

/// Fetches `name` with tftp-hpa and waits for the server's log line of that transfer.
pub(crate) fn fetch_text(lab: &Lab, server: &Server, name: &str, nth: usize) -> String {
    let out = lab.tree.out(&format!("{}-{nth}", name.replace('/', "_")));
    let o = tftp_get(server, name, &out);
    server.wait_log(&["transfer", &format!("file={name}"), "result=ok"]);
    std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "{name}: {e}; client stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn details(store: &FileStore, machine: &str) -> Vec<String> {
    let events: Vec<BootEvent> = store.events(machine, 100).expect("events");
    assert!(
        events.iter().all(|e| e.phase == Phase::Tftp && e.at > 0),
        "{events:?}"
    );
    events.into_iter().map(|e| e.detail).collect()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

#[test]
fn menus_follow_the_install_state_and_trees_are_served_in_place() {
    let lab = Lab::new();
    let server = lab.start();

    // pxelinux's per-machine file, from the inventory: web01 installs.
    let pending = fetch_text(&lab, &server, WEB01, 1);
    assert_eq!(pending, lab.rendered(WEB01, InstallState::Pending));
    assert!(
        pending.contains("KERNEL trees/centos7/images/pxeboot/vmlinuz"),
        "{pending}"
    );

    // The installer called back: the same name now boots from disk.
    lab.store()
        .apply("web01", StateEvent::Installed, now_ms())
        .expect("flip web01 to installed");
    let out = lab.tree.out("web01-installed");
    let o = curl_get(&server, WEB01, &out);
    server.wait_log_count(&[&format!("file={WEB01}"), "result=ok"], 2);
    let installed = lab.rendered(WEB01, InstallState::Installed);
    assert_same(&out, installed.as_bytes(), "curl, web01 installed", &o);
    assert!(installed.contains("LOCALBOOT"), "{installed}");
    assert_ne!(installed, pending);

    // GRUB's root file, asked for under the loader's prefix.
    let grub = fetch_text(&lab, &server, "grub/grub.cfg", 1);
    assert_eq!(grub, lab.rendered("grub/grub.cfg", InstallState::Pending));

    // The kernel and initrd the menu names, straight from the distro tree.
    let out = lab.tree.out("vmlinuz");
    let o = tftp_get(&server, KERNEL, &out);
    assert_same(&out, &lab.kernel, "tftp-hpa kernel from the tree", &o);
    server.wait_log(&[&format!("file={KERNEL}"), "result=ok"]);
    let out = lab.tree.out("initrd.img");
    let o = curl_get(&server, INITRD, &out);
    assert_same(&out, &lab.initrd, "curl initrd from the tree", &o);
    let line = server.wait_log(&[&format!("file={INITRD}"), "result=ok"]);
    assert!(line.contains("blksize=1468"), "{line}");

    // A file on disk under the root beats the generated one; the other MAC of the same
    // machine is still generated.
    std::fs::create_dir(lab.tree.root.join("pxelinux.cfg")).expect("pxelinux.cfg dir");
    let on_disk = b"DEFAULT hand-written\n";
    lab.tree.file("pxelinux.cfg/01-52-54-00-ab-cd-01", on_disk);
    let out = lab.tree.out("db01-disk");
    let o = tftp_get(&server, "pxelinux.cfg/01-52-54-00-ab-cd-01", &out);
    assert_same(&out, on_disk, "disk file over generated", &o);
    server.wait_log(&["file=pxelinux.cfg/01-52-54-00-ab-cd-01", "result=ok"]);
    let db01 = "pxelinux.cfg/01-52-54-00-ab-cd-02";
    assert_eq!(
        fetch_text(&lab, &server, db01, 1),
        lab.rendered(db01, InstallState::Pending)
    );

    // Every served file is in its machine's timeline: generated files under the machine
    // they were made for, the others under the machine whose address the client has.
    let store = lab.store();
    assert_eq!(
        details(&store, "web01"),
        [
            format!("{WEB01} ({} bytes)", pending.len()),
            format!("{WEB01} ({} bytes)", installed.len()),
        ]
    );
    assert_eq!(
        details(&store, "db01"),
        [format!(
            "{db01} ({} bytes)",
            lab.rendered(db01, InstallState::Pending).len()
        )]
    );
    assert_eq!(
        details(&store, "gw01"),
        [
            format!("grub/grub.cfg ({} bytes)", grub.len()),
            format!("{KERNEL} ({} bytes)", lab.kernel.len()),
            format!("{INITRD} ({} bytes)", lab.initrd.len()),
            format!(
                "pxelinux.cfg/01-52-54-00-ab-cd-01 ({} bytes)",
                on_disk.len()
            ),
        ]
    );
    assert!(details(&store, "ub01").is_empty());
}

#[test]
fn tree_paths_never_leave_their_tree() {
    let lab = Lab::new();
    let centos = lab.trees.join("centos7");
    std::os::unix::fs::symlink(&lab.inventory, centos.join("out")).expect("symlink out");
    std::os::unix::fs::symlink("images/pxeboot/vmlinuz", centos.join("vmlinuz"))
        .expect("symlink in");
    let server = lab.start();
    for (name, expect) in [
        ("trees/centos7/out", "Error code 2"),
        (
            "trees/centos7/../debian12/debian-installer/amd64/linux",
            "Error code 2",
        ),
        ("trees/centos7/images", "Error code 2"),
        ("trees/centos7/missing", "Error code 1"),
        ("trees/nodistro/vmlinuz", "Error code 1"),
    ] {
        let o = tftp_get(&server, name, &lab.tree.out("refused"));
        let said =
            String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
        assert!(said.contains(expect), "{name}: {said}");
    }
    // A symlink that stays inside the tree is fine.
    let out = lab.tree.out("via-link");
    let o = tftp_get(&server, "trees/centos7/vmlinuz", &out);
    assert_same(&out, &lab.kernel, "symlink inside the tree", &o);
}

#[test]
fn sighup_reloads_and_a_bad_inventory_is_refused() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let lab = Lab::new();
    let server = lab.start();
    let pid = Pid::from_raw(i32::try_from(server.pid()).expect("pid"));
    let before = fetch_text(&lab, &server, WEB01, 1);
    assert!(before.contains("console=ttyS0"), "{before}");

    let good = std::fs::read_to_string(&lab.inventory).expect("read inventory");
    std::fs::write(
        &lab.inventory,
        good.replace("console=ttyS0", "console=ttyS1"),
    )
    .expect("rewrite inventory");
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    server.wait_log(&["inventory reloaded", "4 machines"]);
    let after = fetch_text(&lab, &server, WEB01, 2);
    assert!(after.contains("console=ttyS1"), "{after}");

    std::fs::write(
        &lab.inventory,
        good.replace("profile: centos7-ks", "profile: centos7-kz"),
    )
    .expect("break inventory");
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    server.wait_log(&["inventory refused", "previous one keeps serving"]);
    let located = server.wait_log(&["error: ", "inventory.yaml:", "centos7-kz"]);
    assert!(
        located.contains(":48:"),
        "the error names its line: {located}"
    );
    let still = fetch_text(&lab, &server, WEB01, 3);
    assert_eq!(still, after, "the old inventory keeps serving");
}

#[test]
fn check_validates_the_inventory_with_located_errors() {
    let lab = Lab::new();
    let root = lab.tree.root.display().to_string();
    let inventory = lab.inventory.display().to_string();
    let o = run(Command::new(TFTPD).args(["--check", "--inventory", &inventory, "-s", &root]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "configuration ok",
            "inventory ok: 4 machines, 3 profiles, 3 distros",
            "pxelinux menu (ui menu.c32) needs: ldlinux.c32 libutil.c32 menu.c32",
            &format!(
                "warning: not under the TFTP root ({root}): ldlinux.c32 libutil.c32 menu.c32; \
                 the generated pxelinux menu will not start on BIOS machines (Debian: copy \
                 them from /usr/lib/syslinux/modules/bios/)"
            ),
        ]
    );

    let bad = fixtures().join("inventory/bad/02-unknown-machine-key.yaml");
    let o = run(Command::new(TFTPD)
        .args(["--check", "--inventory"])
        .arg(&bad)
        .args(["-s", &root]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let expected =
        std::fs::read_to_string(fixtures().join("inventory/bad/02-unknown-machine-key.expect"))
            .expect("expected error");
    let expected = expected.trim();
    assert!(
        err.contains(&format!("error: {}", bad.display()))
            && err.contains(expected.trim_start_matches("02-unknown-machine-key.yaml")),
        "{err}"
    );
    assert!(
        err.contains("25 |     mac_adress: 52:54:00:00:00:09") && err.contains("1 error"),
        "{err}"
    );

    let o = run(Command::new(TFTPD).args([
        "--check",
        "--inventory",
        "/nonexistent/inventory.yaml",
        "-s",
        &root,
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/inventory.yaml"), "{err}");
}

/// Every name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn uploads_never_create_a_generated_name_and_a_failed_one_leaves_nothing() {
    use std::net::UdpSocket;
    use std::time::Duration;
    use tftpd::packet::{self, ErrorCode, Mode, Packet, Request};

    let lab = Lab::new();
    let root = &lab.tree.root;
    std::fs::create_dir(root.join("pxelinux.cfg")).expect("mkdir");
    for d in [root.clone(), root.join("pxelinux.cfg")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let server = Server::start(&[
        "-c",
        "--inventory",
        &lab.inventory.display().to_string(),
        "--state-dir",
        &lab.state.display().to_string(),
        "-s",
        &root.display().to_string(),
    ]);
    let tftp = need("tftp", "tftp-hpa");
    let local = lab.tree.out("evil.cfg");
    std::fs::write(&local, b"DEFAULT evil\n").expect("write local file");
    // web01's own menu, and a hex-address prefix pxelinux would try for unknown machines.
    for name in [WEB01, "pxelinux.cfg/7F", "web01.ipxe", "trees/centos7/x"] {
        let o = run(Command::new(&tftp)
            .args([
                "-m",
                "binary",
                "127.0.0.1",
                &server.port.to_string(),
                "-c",
                "put",
            ])
            .arg(&local)
            .arg(name));
        let said =
            String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
        assert!(
            said.contains("Name reserved by the inventory"),
            "{name}: {said}"
        );
        server.wait_log(&["op=\"WRQ\"", &format!("file={name}"), "Name reserved"]);
    }
    assert!(names(&root.join("pxelinux.cfg")).is_empty());
    // The menu still comes from the inventory.
    let menu = fetch_text(&lab, &server, WEB01, 0);
    assert_eq!(menu, lab.rendered(WEB01, InstallState::Pending));

    // An upload that stops half-way leaves nothing: not the name, not a temporary file.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let wrq = packet::encode_request(
        true,
        &Request {
            filename: "half.bin".into(),
            mode: Mode::Octet,
            options: Vec::new(),
        },
    );
    sock.send_to(&wrq, format!("127.0.0.1:{}", server.port))
        .expect("send WRQ");
    let mut buf = [0u8; 1024];
    let (n, tid) = sock.recv_from(&mut buf).expect("ACK 0");
    assert!(matches!(packet::parse(&buf[..n]), Ok(Packet::Ack(0))));
    for block in 1..=3u16 {
        let mut pkt = Vec::new();
        packet::encode_data(block, &[0x5a; 512], &mut pkt);
        sock.send_to(&pkt, tid).expect("DATA");
        let (n, _) = sock.recv_from(&mut buf).expect("ACK");
        assert!(matches!(packet::parse(&buf[..n]), Ok(Packet::Ack(b)) if b == block));
    }
    let during = names(root);
    assert!(!during.contains(&"half.bin".to_owned()), "{during:?}");
    assert!(
        during.iter().any(|n| n.starts_with(".half.bin.upload-")),
        "{during:?}"
    );
    sock.send_to(&packet::encode_error(ErrorCode::Undefined, "gave up"), tid)
        .expect("ERROR");
    server.wait_log(&["op=\"WRQ\"", "file=half.bin", "client error"]);
    assert_eq!(
        names(root),
        ["pxelinux.cfg"],
        "nothing left of the failed upload"
    );

    // A finished upload appears under its name.
    let good = lab.tree.out("good.bin");
    let content = pseudo_random(70_000, 21);
    std::fs::write(&good, &content).expect("write local file");
    let o = run(Command::new(&tftp)
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &server.port.to_string(),
            "-c",
            "put",
        ])
        .arg(&good)
        .arg("good.bin"));
    server.wait_log(&["op=\"WRQ\"", "file=good.bin", "result=ok"]);
    assert_same(&root.join("good.bin"), &content, "tftp-hpa put", &o);
    assert_eq!(names(root), ["good.bin", "pxelinux.cfg"]);
}
