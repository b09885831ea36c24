//! The binary's command-line edge: `--check`, `--help`, `-V`, and its exit codes
//! (0 ok, 1 unusable command line or configuration, 2 runtime failure).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Server, TFTPD, Tree, run};

fn tftpd(args: &[&str]) -> (Option<i32>, String, String) {
    let o = run(Command::new(TFTPD).args(args));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_mode_validates_roots_and_map_file() {
    let tree = Tree::new();
    let root = tree.root.display().to_string();
    let (code, out, _) = tftpd(&["--check", "-s", &root]);
    assert_eq!((code, out.trim()), (Some(0), "configuration ok"));

    let (code, _, err) = tftpd(&["--check", "-s", "/nonexistent/tftp/root"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent/tftp/root"), "{err}");

    let map = tree.out("bad.map");
    std::fs::write(&map, "rg \\\\ /\nrz ^a b\n").expect("write map");
    let map = map.display().to_string();
    let (code, _, err) = tftpd(&["--check", "-m", &map, "-s", &root]);
    assert_eq!(code, Some(1));
    assert!(err.contains("line 2") && err.contains("'z'"), "{err}");
}

#[test]
fn usage_errors_help_and_version() {
    let (code, _, err) = tftpd(&["-B", "10", "/srv"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("blocksize"), "{err}");
    let (code, out, _) = tftpd(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("--port-range") && out.contains("--max-transfers"),
        "{out}"
    );
    let (code, out, _) = tftpd(&["-V"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("tftpd"), "{out}");
}

#[test]
fn inetd_mode_without_a_socket_is_a_runtime_error() {
    let tree = Tree::new();
    let root = tree.root.display().to_string();
    let o = run(Command::new(TFTPD).args(["-s", &root]));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a UDP socket"), "{err}");
}

#[test]
fn a_second_server_on_the_same_port_fails_to_start() {
    let tree = Tree::new();
    let root = tree.root.display().to_string();
    let first = Server::start(&["-s", &root]);
    let addr = format!("127.0.0.1:{}", first.port);
    let mut second = Command::new(TFTPD)
        .args(["-L", "-a", &addr, "-s", &root])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the second tftpd");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second server on {addr} started and kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    second
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("binding udp {addr}")) && err.contains("in use"),
        "{err}"
    );
}
