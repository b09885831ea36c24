//! `-m` remap files with a real client (tftp-hpa): a rule serves another file, SIGHUP re-reads
//! the map file, and a broken one is refused while the rules in use keep serving.

use std::process::Command;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Server, Tree, assert_same, need, run};

fn get(tree: &Tree, server: &Server, name: &str, want: &[u8], round: u32) {
    let tftp = need("tftp", "tftp-hpa");
    let out = tree.out(&format!("got-{round}"));
    let port = server.port.to_string();
    let o = run(Command::new(&tftp)
        .args(["-m", "binary", "127.0.0.1", &port, "-c", "get", name])
        .arg(&out));
    assert_same(&out, want, &format!("round {round}: {name}"), &o);
}

#[test]
fn remap_rules_apply_and_sighup_rereads_them() {
    let tree = Tree::new();
    tree.file("bios.bin", b"loader for BIOS");
    tree.file("efi.bin", b"loader for UEFI");
    let map = tree.out("tftpd.map");
    std::fs::write(&map, "r ^pxelinux\\.0$ bios.bin\n").expect("write map");
    let root = tree.root.display().to_string();
    let map_arg = map.display().to_string();
    let server = Server::start(&["-m", &map_arg, "-s", &root]);
    let pid = Pid::from_raw(i32::try_from(server.pid()).expect("pid"));
    get(&tree, &server, "pxelinux.0", b"loader for BIOS", 1);

    std::fs::write(&map, "# now UEFI\nr ^pxelinux\\.0$ efi.bin\n").expect("rewrite map");
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    server.wait_log(&["map file reloaded", "rules=1"]);
    get(&tree, &server, "pxelinux.0", b"loader for UEFI", 2);

    std::fs::write(&map, "rz ^pxelinux\\.0$ bios.bin\n").expect("break map");
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    let line = server.wait_log(&["map file refused"]);
    assert!(line.contains("line 1"), "{line}");
    get(&tree, &server, "pxelinux.0", b"loader for UEFI", 3);
}
