//! Inherited-socket modes: the bound UDP socket as standard input (xinetd `wait = yes`,
//! systemd `StandardInput=socket`) and systemd's `LISTEN_FDS` through systemd-socket-activate.
//! Both must serve, then exit by themselves after `-t` seconds without a request.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use crate::support::{Server, TFTPD, Tree, assert_same, need, pseudo_random, run};

fn fetch(tftp: &std::path::Path, tree: &Tree, port: u16, name: &str, content: &[u8]) {
    let out = tree.out(name);
    let o = run(Command::new(tftp)
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &port.to_string(),
            "-c",
            "get",
            name,
        ])
        .arg(&out));
    assert_same(&out, content, name, &o);
}

#[test]
fn inetd_socket_on_stdin_serves_then_exits_when_idle() {
    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    let content = pseudo_random(300_000, 11);
    tree.file("pxelinux.0", &content);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind service socket");
    let port = sock.local_addr().expect("local addr").port();
    let mut cmd = Command::new(TFTPD);
    cmd.args(["-s", "-t", "2"])
        .arg(&tree.root)
        .stdin(Stdio::from(OwnedFd::from(sock)));
    let server = Server::spawn(cmd);
    assert_eq!(server.port, port);
    fetch(&tftp, &tree, port, "pxelinux.0", &content);
    fetch(&tftp, &tree, port, "pxelinux.0", &content);
    server.wait_log(&["mode=\"inetd\""]);
    let line = server.wait_log(&["file=pxelinux.0", "result=ok"]);
    assert!(line.contains("client=127.0.0.1:"), "{line}");
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn systemd_socket_activate_datagram() {
    let tftp = need("tftp", "tftp-hpa");
    let activate = need("systemd-socket-activate", "systemd");
    let tree = Tree::new();
    let content = pseudo_random(70_000, 12);
    tree.file("grubx64.efi", &content);
    // systemd-socket-activate binds the address itself: find a free port first.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("probe a free port")
        .port();
    let mut cmd = Command::new(activate);
    cmd.args(["--datagram", "-l", &format!("127.0.0.1:{port}")])
        .arg(TFTPD)
        .args(["-s", "-t", "2"])
        .arg(&tree.root);
    let server = Server::spawn_on(cmd, Some(port));
    fetch(&tftp, &tree, port, "grubx64.efi", &content);
    server.wait_log(&["listening on udp 127.0.0.1:", "mode=\"inetd\""]);
    server.wait_log(&["file=grubx64.efi", "result=ok"]);
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
}

/// xinetd hands the socket as standard input, output and error: log lines then go to syslog.
#[test]
fn xinetd_style_stderr_socket_logs_to_syslog() {
    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    let content = pseudo_random(5000, 13);
    tree.file("ldlinux.c32", &content);
    let syslog_path = tree.out("syslog.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&syslog_path).expect("bind syslog");
    syslog
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    // The server drops to nobody but connects to syslog before that.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind service socket");
    let port = sock.local_addr().expect("local addr").port();
    let as_stderr = sock.try_clone().expect("dup socket");
    let mut child = Command::new(TFTPD)
        .args(["-s", "-t", "1"])
        .arg(&tree.root)
        .env("TFTPD_SYSLOG_SOCKET", &syslog_path)
        .stdin(Stdio::from(OwnedFd::from(sock)))
        .stdout(Stdio::null())
        .stderr(Stdio::from(OwnedFd::from(as_stderr)))
        .spawn()
        .expect("start tftpd");
    fetch(&tftp, &tree, port, "ldlinux.c32", &content);
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = syslog.recv(&mut buf) {
        let line = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        let done = line.contains("exiting");
        lines.push(line);
        if done {
            break;
        }
    }
    let status = child.wait().expect("wait for tftpd");
    assert!(status.success(), "exit status {status}");
    assert!(
        lines.iter().any(|l| l.starts_with("<30>tftpd[")
            && l.contains("file=ldlinux.c32")
            && l.contains("result=ok")),
        "syslog lines: {lines:#?}"
    );
}

/// Under xinetd on a host without a syslog socket (a container, a minimal system) there is
/// nowhere to log: the transfer must still be served (it once panicked on the failed write).
#[test]
fn xinetd_style_without_syslog_still_serves() {
    let tftp = need("tftp", "tftp-hpa");
    let tree = Tree::new();
    let content = pseudo_random(5000, 14);
    tree.file("ldlinux.c32", &content);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind service socket");
    let port = sock.local_addr().expect("local addr").port();
    let as_stdout = sock.try_clone().expect("dup socket");
    let as_stderr = sock.try_clone().expect("dup socket");
    let mut child = Command::new(TFTPD)
        .args(["-s", "-t", "1"])
        .arg(&tree.root)
        .env("TFTPD_SYSLOG_SOCKET", tree.out("no-syslog-here.sock"))
        .stdin(Stdio::from(OwnedFd::from(sock)))
        .stdout(Stdio::from(OwnedFd::from(as_stdout)))
        .stderr(Stdio::from(OwnedFd::from(as_stderr)))
        .spawn()
        .expect("start tftpd");
    fetch(&tftp, &tree, port, "ldlinux.c32", &content);
    let status = child.wait().expect("wait for tftpd");
    assert!(status.success(), "exit status {status}");
}
