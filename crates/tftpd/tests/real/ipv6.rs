//! IPv6: `tftpd -6` bound to `[::1]` serves tftp-hpa (`tftp -6`) and curl (`tftp://[::1]`),
//! the downloads compared with the original by sha256.

use std::process::Command;

use crate::support::{Server, Tree, assert_same, need, pseudo_random, run};

#[test]
fn ipv6_loopback_serves_tftp_hpa_and_curl() {
    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    // Several blocks plus a partial one, so the transfer is more than one datagram.
    let content = pseudo_random(3 * 512 + 17, 0x6666);
    tree.file("loader.efi", &content);
    let root = tree.root.display().to_string();
    let mut cmd = Command::new(crate::support::TFTPD);
    cmd.args(["-L", "-6", "-a", "[::1]:0", "-s", &root]);
    let server = Server::spawn(cmd);
    let line = server.wait_log(&["listening on udp [::1]:"]);
    assert!(line.contains("[::1]"), "{line}");
    let port = server.port.to_string();

    let out = tree.out("hpa-loader.efi");
    let o = run(Command::new(&tftp)
        .args([
            "-6",
            "-m",
            "binary",
            "::1",
            &port,
            "-c",
            "get",
            "loader.efi",
        ])
        .arg(&out));
    assert_same(&out, &content, "tftp -6 over ::1", &o);
    server.wait_log(&["file=loader.efi", "result=ok", "::1"]);

    let out = tree.out("curl-loader.efi");
    let url = format!("tftp://[::1]:{port}/loader.efi");
    let o = run(Command::new("curl").args(["-sS", "-o"]).arg(&out).arg(&url));
    assert_same(&out, &content, "curl over ::1", &o);
}
