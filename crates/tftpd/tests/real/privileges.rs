//! The root is opened before privileges are dropped, as tftpd-hpa chroots before it drops
//! them: a root under a directory the `-u` user cannot search is still served.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{Server, Tree, assert_same, need, pseudo_random, run};

#[test]
fn a_root_under_a_0700_parent_is_served_after_dropping_to_nobody() {
    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    let private = tree.scratch.join("private");
    let root = private.join("tftproot");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for d in [&root, &root.join("sub")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let content = pseudo_random(100_000, 77);
    let file = root.join("sub/pxelinux.0");
    std::fs::write(&file, &content).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Symlinks inside the root still resolve, beneath its descriptor.
    std::os::unix::fs::symlink("sub/pxelinux.0", root.join("link.0")).expect("symlink");
    std::os::unix::fs::symlink(root.join("sub"), root.join("abs")).expect("symlink");

    let server = Server::start(&["-s", "-c", "-u", "nobody", &root.display().to_string()]);
    let port = server.port.to_string();
    for name in [
        "sub/pxelinux.0",
        "/sub/pxelinux.0",
        "link.0",
        "abs/pxelinux.0",
    ] {
        let out = tree.out(&name.replace('/', "_"));
        let o = run(Command::new(&tftp)
            .args(["-m", "binary", "127.0.0.1", &port, "-c", "get", name])
            .arg(&out));
        assert_same(&out, &content, name, &o);
    }
    server.wait_log_count(&["op=\"RRQ\"", "result=ok"], 4);

    // Uploads, too, land beneath the root's descriptor.
    let local = tree.out("up.bin");
    std::fs::write(&local, b"uploaded").expect("write");
    let o = run(Command::new(&tftp)
        .args(["-m", "binary", "127.0.0.1", &port, "-c", "put"])
        .arg(&local)
        .arg("sub/up.bin"));
    server.wait_log(&["op=\"WRQ\"", "file=sub/up.bin", "result=ok"]);
    assert_same(&root.join("sub/up.bin"), b"uploaded", "put", &o);
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(root.join("sub/up.bin")).expect("stat"),
    );
    assert_ne!(owner, 0, "written by the dropped user, not root");
}

#[test]
fn a_state_dir_under_a_0700_parent_records_boot_events_after_dropping_to_nobody() {
    use pxe_model::FileStore;
    use pxe_model::state::StateStore;

    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    tree.file("pxelinux.0", b"loader");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/inventory/good/render-lab.yaml"),
    )
    .expect("fixture")
    .replace("address: 10.77.0.1\n", "address: 127.0.0.1\n");
    let inventory = tree.scratch.join("inventory.yaml");
    std::fs::write(&inventory, text).expect("write inventory");
    std::fs::set_permissions(&inventory, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let private = tree.scratch.join("private");
    let state = private.join("state");
    FileStore::open(&state).expect("state dir");
    for d in [&state, &state.join("machines"), &state.join("events")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");

    let server = Server::start(&[
        "-u",
        "nobody",
        "--inventory",
        &inventory.display().to_string(),
        "--state-dir",
        &state.display().to_string(),
        "-s",
        &tree.root.display().to_string(),
    ]);
    let out = tree.out("pxelinux.0");
    let o = run(Command::new(&tftp)
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &server.port.to_string(),
            "-c",
            "get",
            "pxelinux.0",
        ])
        .arg(&out));
    assert_same(&out, b"loader", "pxelinux.0", &o);
    server.wait_log(&["file=pxelinux.0", "machine=\"gw01\"", "result=ok"]);
    let store = FileStore::open(&state).expect("open state");
    let mut events = Vec::new();
    for _ in 0..100 {
        events = store.events("gw01", 10).expect("events");
        if !events.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        events.iter().any(|e| e.detail.starts_with("pxelinux.0")),
        "no boot event recorded: {events:?}; log:\n{}",
        server.log().join("\n")
    );
    assert!(
        !server.log().iter().any(|l| l.contains("cannot")),
        "{}",
        server.log().join("\n")
    );
}
