//! The command line: --help, --check with located errors, configuration errors,
//! several --listen, SIGTERM, SIGHUP reload, the access log file (reopened at SIGHUP), and
//! `import`.

use crate::support::{Server, curl, curl_status, lab, run};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_httpd-tree");

fn bin(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run httpd-tree")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_explains_flags_and_routes() {
    let o = bin(&["--help"]);
    assert!(o.status.success());
    let t = text(&o);
    for want in [
        "--listen",
        "--inventory",
        "--state-dir",
        "--root",
        "--loaders",
        "--admin-token-file",
        "--read-token-file",
        "--public-status",
        "--access-log",
        "--check",
        "--max-connections",
        "--header-timeout",
        "/ks/<mac>",
        "/api/v1/machines",
        "installed",
        "SIGHUP",
        "Exit status",
        "import",
    ] {
        assert!(t.contains(want), "--help lacks {want}:\n{t}");
    }
    let o = bin(&["import", "--help"]);
    assert!(o.status.success());
    assert!(text(&o).contains("--copy-to"));
}

#[test]
fn check_validates_and_locates_errors() {
    let lab = lab();
    let inv = lab.inventory.to_str().expect("path");
    let state = lab.state_dir.to_str().expect("path");
    let o = bin(&["--check", "--inventory", inv, "--state-dir", state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("OK (3 distros, 3 profiles, 4 machines)"),
        "{}",
        text(&o)
    );

    let broken = lab.path("broken.yaml");
    let good = std::fs::read_to_string(&lab.inventory).expect("read");
    let bad = good
        .replace("profile: debian12-preseed", "profile: no-such-profile")
        .replace("  ub01:\n", "  ub01:\n    colour: blue\n");
    std::fs::write(&broken, bad).expect("write");
    let o = bin(&[
        "--check",
        "--inventory",
        broken.to_str().expect("path"),
        "--state-dir",
        state,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("broken.yaml:"), "errors name the file: {t}");
    assert!(t.contains("no-such-profile"), "{t}");
    assert!(t.contains("colour"), "every error at once: {t}");
    // file:line:col
    let bad_text = std::fs::read_to_string(&broken).expect("read");
    let place = |needle: &str| {
        let (i, line) = bad_text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .expect(needle);
        let col = line.find(needle).expect(needle) + 1;
        format!("broken.yaml:{}:{col}: ", i + 1)
    };
    assert!(t.contains(&place("no-such-profile")), "{t}");
    assert!(t.contains(&place("colour")), "{t}");
}

#[test]
fn configuration_errors_exit_1() {
    let lab = lab();
    let inv = lab.inventory.to_str().expect("path");
    for (args, want) in [
        (vec!["--listen", "127.0.0.1:0"], "nothing to serve"),
        (
            vec!["--listen", "127.0.0.1:0", "--inventory", inv],
            "--state-dir",
        ),
        (
            vec!["--listen", "127.0.0.1:0", "--root", "/nonexistent/dir"],
            "--root",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--inventory",
                "/nonexistent.yaml",
                "--state-dir",
                "/tmp",
            ],
            "nonexistent.yaml",
        ),
    ] {
        let o = bin(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
    let short = lab.path("short-token");
    std::fs::write(&short, "short\n").expect("write");
    let o = bin(&[
        "--listen",
        "127.0.0.1:0",
        "--inventory",
        inv,
        "--state-dir",
        lab.state_dir.to_str().expect("path"),
        "--admin-token-file",
        short.to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("at least 16 characters"));
    let o = bin(&["--listen", "not-an-address"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a usage error is a configuration error"
    );
}

#[test]
fn several_listeners_and_a_clean_sigterm() {
    let lab = lab();
    let mut server = Server::for_lab(&lab, &["--listen", "127.0.0.1:0"]);
    server.wait_for_log("ready");
    let lines: Vec<String> = server
        .log()
        .lines()
        .filter_map(|l| l.split("listening on http://").nth(1).map(str::to_owned))
        .collect();
    assert_eq!(lines.len(), 2, "{}", server.log());
    for addr in &lines {
        let out = curl(&["-sf", &format!("http://{addr}/trees/centos7/.treeinfo")]);
        assert!(out.starts_with(b"[general]"));
    }
    let status = server.stop();
    assert!(status.success(), "{status}");
    let log = server.log();
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn sighup_reloads_the_inventory() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x");
    assert_eq!(
        curl_status(&[&server.url("/ks/52:54:00:00:00:99")], &out),
        404
    );
    let mut text = std::fs::read_to_string(&lab.inventory).expect("read");
    // Its fixed address is the tests' own, so its answer file is served here.
    text.push_str(
        "  new01:\n    mac: 52:54:00:00:00:99\n    address: 127.0.0.1\n    profile: centos7-ks\n",
    );
    std::fs::write(&lab.inventory, text).expect("write");
    server.signal(nix::sys::signal::Signal::SIGHUP);
    server.wait_for_log("configuration reloaded");
    assert_eq!(
        curl_status(&[&server.url("/ks/52:54:00:00:00:99")], &out),
        200
    );
    assert!(
        std::fs::read_to_string(&out)
            .expect("read")
            .contains("machine new01")
    );
    // A broken inventory on reload keeps the old one.
    std::fs::write(&lab.inventory, "servers: [").expect("write");
    server.signal(nix::sys::signal::Signal::SIGHUP);
    server.wait_for_log("reload failed");
    assert_eq!(curl_status(&[&server.url("/ks/new01")], &out), 200);
}

#[test]
fn access_log_file_in_combined_format() {
    let lab = lab();
    let log = lab.path("access.log");
    let mut server = Server::for_lab(&lab, &["--access-log", log.to_str().expect("path")]);
    curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-A",
        "pxe \"test\" agent",
        "-e",
        "http://ref.example/",
        "-r",
        "0-9",
        &server.url("/trees/centos7/images/pxeboot/vmlinuz"),
    ]);
    curl(&["-s", "-o", "/dev/null", &server.url("/no/such/file")]);
    server.stop();
    let text = std::fs::read_to_string(&log).expect("access log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first = lines[0];
    assert!(first.starts_with("127.0.0.1 - - ["), "{first}");
    assert!(first.contains(" +0000] \"GET /trees/centos7/images/pxeboot/vmlinuz HTTP/1.1\" 206 10 \"http://ref.example/\" \"pxe \\\"test\\\" agent\""), "{first}");
    assert!(
        lines[1].contains("\"GET /no/such/file HTTP/1.1\" 404 "),
        "{}",
        lines[1]
    );
    assert!(
        !server.log().contains("GET /no/such/file"),
        "access lines go to the file, not stderr"
    );
}

#[test]
fn sighup_reopens_a_rotated_access_log() {
    let lab = lab();
    let log = lab.path("access.log");
    let rotated = lab.path("access.log.1");
    let mut server = Server::for_lab(&lab, &["--access-log", log.to_str().expect("path")]);
    curl(&["-s", "-o", "/dev/null", &server.url("/before-rotation")]);
    std::fs::rename(&log, &rotated).expect("rotate");
    curl(&["-s", "-o", "/dev/null", &server.url("/still-buffered")]);
    server.signal(nix::sys::signal::Signal::SIGHUP);
    server.wait_for_log("access log reopened");
    curl(&["-s", "-o", "/dev/null", &server.url("/after-rotation")]);
    server.stop();
    let old = std::fs::read_to_string(&rotated).expect("rotated log");
    let new = std::fs::read_to_string(&log).expect("new log");
    assert!(
        old.contains("/before-rotation") && old.contains("/still-buffered"),
        "{old}"
    );
    assert!(!old.contains("/after-rotation"), "{old}");
    assert!(
        new.contains("/after-rotation") && !new.contains("/before-rotation"),
        "{new}"
    );
}

fn fake_redhat_tree(dir: &std::path::Path) {
    let treeinfo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/treeinfo/rocky9.treeinfo"
    ))
    .expect("treeinfo fixture");
    std::fs::create_dir_all(dir.join("images/pxeboot")).expect("mkdir");
    std::fs::write(dir.join(".treeinfo"), treeinfo).expect("write");
    std::fs::write(dir.join("images/pxeboot/vmlinuz"), vec![1u8; 2_000_000]).expect("write");
    std::fs::write(dir.join("images/pxeboot/initrd.img"), vec![2u8; 3_000_000]).expect("write");
}

#[test]
fn import_prints_writes_and_copies() {
    let lab = lab();
    let src = lab.path("iso");
    fake_redhat_tree(&src);
    let src_s = src.to_str().expect("path");
    let o = bin(&["import", src_s, "--distro", "rocky9"]);
    assert!(o.status.success(), "{}", text(&o));
    let yaml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(yaml.starts_with("distros:\n  rocky9:"), "{yaml}");
    assert!(
        yaml.contains("family: redhat") && yaml.contains("kernel: images/pxeboot/vmlinuz"),
        "{yaml}"
    );

    let inv = lab.inventory.to_str().expect("path");
    let copies = lab.path("copies");
    let o = bin(&[
        "import",
        src_s,
        "--distro",
        "rocky9",
        "--copy-to",
        copies.to_str().expect("path"),
        "--write",
        inv,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(copies.join("rocky9/images/pxeboot/initrd.img"))
            .expect("copied")
            .len(),
        3_000_000
    );
    let loaded = pxe_model::load(&lab.inventory).expect("the inventory still loads");
    let d = &loaded.distros["rocky9"];
    assert_eq!(
        d.tree,
        pxe_model::Tree::Dir(copies.join("rocky9").canonicalize().expect("canon"))
    );
    assert_eq!(loaded.distros.len(), 4);
    // The new tree is served.
    let server = Server::for_lab(&lab, &[]);
    let got = curl(&[
        "-sf",
        &server.url("/trees/rocky9/images/pxeboot/initrd.img"),
    ]);
    assert_eq!(got.len(), 3_000_000);
    // Twice is refused, and the file is left alone.
    let before = std::fs::read_to_string(&lab.inventory).expect("read");
    let o = bin(&["import", src_s, "--distro", "rocky9", "--write", inv]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("already has a distro rocky9"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&lab.inventory).expect("read"),
        before
    );
    let o = run(
        BIN,
        "httpd-tree",
        &[
            "import",
            lab.path("outside").to_str().expect("path"),
            "--distro",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not an install tree"), "{}", text(&o));
}
