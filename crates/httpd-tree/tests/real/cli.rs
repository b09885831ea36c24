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

/// `--workers 3`: the daemon's loop and two threads `httpd-loop-1`, `httpd-loop-2`; 600
/// requests over 48 connections at once all answered whole; SIGTERM stops every loop.
#[test]
fn event_loops_share_the_listener_and_stop_together() {
    let lab = lab();
    let mut server = Server::for_lab(&lab, &["--workers", "3"]);
    server.wait_for_log("ready");
    // The loops start right after the ready line.
    let thread_names = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .expect("tasks")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_owned())
            .collect()
    };
    let started = std::time::Instant::now();
    let mut names = thread_names();
    while !names.iter().any(|n| n == "httpd-loop-2") && started.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        names = thread_names();
    }
    for loop_name in ["httpd-loop-1", "httpd-loop-2"] {
        assert!(names.iter().any(|n| n == loop_name), "{names:?}");
    }
    assert!(!names.iter().any(|n| n == "httpd-loop-3"), "{names:?}");
    let url = server.url("/trees/centos7/.treeinfo");
    let want = std::fs::read(lab.tree("centos7").join(".treeinfo")).expect("treeinfo");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<String> = ["-sf", "--parallel", "--parallel-max", "48"]
        .map(String::from)
        .to_vec();
    for i in 0..600 {
        args.push("-o".into());
        args.push(dir.path().join(format!("{i}")).display().to_string());
        args.push(url.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&refs);
    for i in 0..600 {
        let got = std::fs::read(dir.path().join(format!("{i}"))).expect("downloaded");
        assert_eq!(got, want, "download {i}");
    }
    let status = server.stop();
    assert!(status.success(), "{status}");
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
        text(&o).contains("already has a distro or tree rocky9"),
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

/// A tiny Debian archive: one suite with a Release file and a package index, and
/// `stable` as a link to it.
fn tiny_archive(root: &std::path::Path, release: &str) {
    let suite = root.join("dists/bookworm");
    std::fs::create_dir_all(suite.join("main/binary-amd64")).expect("mkdir");
    std::fs::create_dir_all(root.join("pool/main/h")).expect("mkdir");
    std::fs::write(root.join("pool/main/h/hello_1.0_amd64.deb"), b"!<arch>\n").expect("deb");
    std::fs::write(
        suite.join("main/binary-amd64/Packages"),
        "Package: hello\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/main/h/hello_1.0_amd64.deb\nSize: 8\n\n",
    )
    .expect("Packages");
    std::fs::write(suite.join("Release"), release).expect("Release");
    std::os::unix::fs::symlink("bookworm", root.join("dists/stable")).expect("symlink");
}

const RELEASE: &str = "Origin: Debian\nLabel: Debian\nSuite: stable\nVersion: 12.8\nCodename: bookworm\nDate: Sat, 05 Dec 2026 10:00:00 UTC\nArchitectures: amd64 all\nComponents: main\nDescription: a tiny archive\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000       86 main/binary-amd64/Packages\n";

#[test]
fn import_turns_a_debian_archive_into_a_served_tree() {
    let lab = lab();
    let root = lab.path("mirror");
    tiny_archive(&root, RELEASE);
    let root_s = root.to_str().expect("path");
    let o = bin(&["import", root_s, "--name", "debian12-mirror"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let canon = root.canonicalize().expect("canon");
    assert!(
        out.starts_with(&format!(
            "trees:\n  debian12-mirror: \"{}\"  # Debian archive: bookworm (stable 12.8; amd64, all; main)\n",
            canon.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("packages: {mirror: /trees/debian12-mirror/, suite: bookworm, packages: []}"),
        "{out}"
    );
    // Written into the inventory, it loads, and httpd-tree serves the archive.
    let inv = lab.inventory.to_str().expect("path");
    let o = bin(&[
        "import",
        root_s,
        "--name",
        "debian12-mirror",
        "--write",
        inv,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let loaded = pxe_model::load(&lab.inventory).expect("loads");
    assert_eq!(loaded.trees["debian12-mirror"], canon);
    // A profile deploys packages from it, as the hint says.
    let mut text_inv = std::fs::read_to_string(&lab.inventory).expect("read");
    text_inv = text_inv.replace(
        "profiles:\n",
        "profiles:\n  from-mirror:\n    distro: debian12\n    deploy:\n      packages: {mirror: /trees/debian12-mirror/, suite: bookworm, packages: []}\n",
    );
    let with_profile = pxe_model::load_str("i.yaml", &text_inv, &lab.path(""))
        .unwrap_or_else(|d| panic!("{}", d.render()));
    assert!(with_profile.profiles["from-mirror"].deploy.is_some());
    let server = Server::for_lab(&lab, &[]);
    let got = curl(&[
        "-sf",
        &server.url("/trees/debian12-mirror/dists/bookworm/Release"),
    ]);
    assert_eq!(String::from_utf8_lossy(&got), RELEASE);
    let got = curl(&[
        "-sf",
        &server.url("/trees/debian12-mirror/dists/stable/main/binary-amd64/Packages"),
    ]);
    assert!(String::from_utf8_lossy(&got).starts_with("Package: hello\n"));
    let index = curl(&["-sf", &server.url("/trees/")]);
    assert!(String::from_utf8_lossy(&index).contains("debian12-mirror/</a> (tree)"));
}

#[test]
fn import_says_what_an_archive_lacks() {
    let lab = lab();
    for (release, want) in [
        (
            RELEASE.replace("Architectures: amd64 all\n", ""),
            "dists/bookworm/Release: no Architectures field",
        ),
        (
            RELEASE.replace("amd64 all", "arm64"),
            "no package index for arm64 (expected dists/bookworm/<component>/binary-<arch>/Packages, .gz or .xz)",
        ),
        (
            "<html>Not found</html>\n".to_owned(),
            "not a `Field: value` line",
        ),
    ] {
        let root = tempfile::tempdir_in(lab.path("")).expect("tempdir");
        tiny_archive(root.path(), &release);
        let o = bin(&["import", root.path().to_str().expect("path"), "--name", "m"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("not a usable Debian archive") && t.contains(want),
            "{want}: {t}"
        );
    }
}

/// Runs a tool of the machine, which must succeed.
fn tool(program: &str, args: &[&str]) {
    let o = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn sha256sum(path: &std::path::Path) -> String {
    let o = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// The `image:` block of import's output, and the tree it names.
fn image_block(out: &str) -> &str {
    &out[out
        .find("image:\n")
        .unwrap_or_else(|| panic!("no image: in {out}"))..]
}

#[test]
fn import_recognises_disk_images_by_their_bytes() {
    let lab = lab();
    let images = lab.path("images");
    std::fs::create_dir_all(&images).expect("mkdir");
    // A 4 MiB raw disk with a GPT and one partition (sfdisk), then its compressed
    // copies (zstd, xz, gzip) and a qcow2 (qemu-img).
    let raw = images.join("disk.raw");
    std::fs::write(&raw, vec![0u8; 4 << 20]).expect("raw");
    let sfdisk = Command::new("sfdisk")
        .args(["--quiet", raw.to_str().expect("path")])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"label: gpt\n,,L\n")?;
            c.wait()
        })
        .expect("sfdisk");
    assert!(sfdisk.success());
    let p = |n: &str| images.join(n).to_str().expect("path").to_owned();
    tool(
        "zstd",
        &["-q", "-k", &p("disk.raw"), "-o", &p("disk.raw.zst")],
    );
    tool(
        "sh",
        &[
            "-c",
            &format!("xz -k -c {} > {}", p("disk.raw"), p("disk.raw.xz")),
        ],
    );
    tool(
        "sh",
        &[
            "-c",
            &format!("gzip -k -c {} > {}", p("disk.raw"), p("disk.raw.gz")),
        ],
    );
    tool(
        "qemu-img",
        &[
            "convert",
            "-q",
            "-f",
            "raw",
            "-O",
            "qcow2",
            &p("disk.raw"),
            &p("disk.qcow2"),
        ],
    );
    // Named as something else: the bytes decide.
    std::fs::copy(images.join("disk.raw.zst"), images.join("misnamed.img")).expect("copy");
    for (file, format) in [
        ("disk.raw", "raw"),
        ("disk.raw.zst", "raw.zst"),
        ("disk.raw.xz", "raw.xz"),
        ("disk.raw.gz", "raw.gz"),
        ("disk.qcow2", "qcow2"),
        ("misnamed.img", "raw.zst"),
    ] {
        let o = bin(&["import", &p(file), "--name", "images"]);
        assert!(o.status.success(), "{file}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let block = image_block(&out);
        assert_eq!(
            block,
            format!(
                "image:\n  url: /trees/images/{file}\n  format: {format}\n  sha256: {}\n",
                sha256sum(&images.join(file))
            ),
            "{file}"
        );
        assert!(
            out.starts_with(&format!(
                "trees:\n  images: \"{}\"",
                images.canonicalize().expect("canon").display()
            )),
            "{out}"
        );
    }
    let o = bin(&["import", &p("misnamed.img"), "--name", "images"]);
    assert!(
        text(&o).contains("its name says raw but its bytes say raw.zst"),
        "{}",
        text(&o)
    );

    // Written into the inventory: the directory becomes a tree, the image block goes into a
    // profile, and the deploy plan points at the file httpd-tree serves.
    let inv = lab.inventory.to_str().expect("path");
    let o = bin(&[
        "import",
        &p("disk.raw.zst"),
        "--name",
        "images",
        "--write",
        inv,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let block = image_block(&String::from_utf8_lossy(&o.stdout)).to_owned();
    // A second image in the same directory reuses its tree.
    let o = bin(&[
        "import",
        &p("disk.qcow2"),
        "--name",
        "other",
        "--write",
        inv,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("served already as the tree images"),
        "{}",
        text(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("url: /trees/images/disk.qcow2"));
    let indented: String = block.lines().map(|l| format!("      {l}\n")).collect();
    let text_inv = std::fs::read_to_string(&lab.inventory)
        .expect("read")
        .replace(
            "profiles:\n",
            &format!("profiles:\n  imaged:\n    distro: debian12\n    deploy:\n{indented}"),
        );
    let loaded = pxe_model::load_str("i.yaml", &text_inv, &lab.path(""))
        .unwrap_or_else(|d| panic!("{}\n{text_inv}", d.render()));
    let deploy = loaded.profiles["imaged"].deploy.as_ref().expect("deploy");
    let pxe_model::deploy::Source::Image(img) = &deploy.source else {
        panic!("an image deploy: {deploy:?}");
    };
    assert_eq!(img.format, pxe_model::deploy::ImageFormat::RawZstd);
    assert_eq!(img.sha256, sha256sum(&images.join("disk.raw.zst")));
    let server = Server::for_lab(&lab, &[]);
    let got = curl(&["-sf", &server.url("/trees/images/disk.raw.zst")]);
    assert_eq!(
        got,
        std::fs::read(images.join("disk.raw.zst")).expect("read")
    );
}

#[test]
fn import_refuses_what_is_not_a_disk_image() {
    let lab = lab();
    let dir = lab.path("junk");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = |n: &str| dir.join(n).to_str().expect("path").to_owned();
    std::fs::write(dir.join("notes.txt"), "not a disk\n").expect("write");
    std::fs::write(dir.join("blank.raw"), vec![0u8; 1 << 20]).expect("write");
    tool(
        "sh",
        &[
            "-c",
            &format!("gzip -c {} > {}", p("notes.txt"), p("notes.txt.gz")),
        ],
    );
    tool(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", &p("empty.qcow2"), "1M"],
    );
    for (file, want) in [
        (
            "notes.txt",
            "not a disk image: expected a qcow2, zstd, xz or gzip file, or a raw disk with an MBR or GPT partition table",
        ),
        ("blank.raw", "not a disk image"),
        (
            "notes.txt.gz",
            "a gzip file whose content is not a raw disk",
        ),
    ] {
        let o = bin(&["import", &p(file), "--name", "x"]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", text(&o));
        assert!(text(&o).contains(want), "{file}: {}", text(&o));
    }
    // A qcow2 holds any disk: its header is what is checked.
    let o = bin(&["import", &p("empty.qcow2"), "--name", "x"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = bin(&[
        "import",
        &p("empty.qcow2"),
        "--name",
        "x",
        "--copy-to",
        &p("c"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--copy-to copies trees"), "{}", text(&o));
}
