//! pxectl against a real httpd-tree (and tftpd) on loopback, in a temp dir: machines added,
//! served without a signal, kept over a restart, reinstalled, removed; conflicts shown;
//! wrong tokens and bad input refused with the field named; dhcpd.conf hosts imported;
//! distros and profiles added, changed and removed through the API.
//!
//! The daemons are the workspace's own binaries, next to pxectl's in the target directory
//! (`cargo test --workspace` builds them, since their packages have integration tests);
//! `PXE_TEST_BIN_DIR` names another directory.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use pxe_model::StateStore as _;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/inventory/good/render-lab.yaml"
);
const ADMIN: &str = "pxectl-admin-token-0123456789";
const READER: &str = "pxectl-read-token-9876543210";
const NEW_MAC: &str = "52:54:00:aa:bb:02";

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("PXE_TEST_BIN_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_BIN_EXE_pxectl"))
                .parent()
                .unwrap()
                .to_owned()
        },
        PathBuf::from,
    );
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: cargo build -p {name} (or set PXE_TEST_BIN_DIR)",
        p.display()
    );
    p
}

struct Lab {
    dir: tempfile::TempDir,
    inventory: PathBuf,
    state: PathBuf,
    admin: PathBuf,
    reader: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let text = std::fs::read_to_string(FIXTURE)
            .unwrap()
            .replace("/srv/trees", &base.join("trees").display().to_string());
        let inventory = base.join("inventory.yaml");
        std::fs::write(
            &inventory,
            format!(
                "{text}machines_dir: machines.d\nprofiles_dir: profiles.d\ndistros_dir: distros.d\n"
            ),
        )
        .unwrap();
        for d in ["centos7/images/pxeboot", "debian12", "ubuntu2404", "tftp"] {
            std::fs::create_dir_all(base.join("trees").join(d)).unwrap();
        }
        let admin = base.join("admin-token");
        std::fs::write(&admin, format!("{ADMIN}\n")).unwrap();
        let reader = base.join("read-token");
        std::fs::write(&reader, format!("{READER}\n")).unwrap();
        Lab {
            state: base.join("state"),
            inventory,
            admin,
            reader,
            dir,
        }
    }

    fn machines_dir(&self) -> PathBuf {
        self.dir.path().join("machines.d")
    }

    fn httpd(&self) -> Daemon {
        Daemon::start(
            Command::new(bin("httpd-tree")).args([
                "--listen".as_ref(),
                "127.0.0.1:0".as_ref(),
                "--inventory".as_ref(),
                self.inventory.as_os_str(),
                "--state-dir".as_ref(),
                self.state.as_os_str(),
                "--admin-token-file".as_ref(),
                self.admin.as_os_str(),
                "--read-token-file".as_ref(),
                self.reader.as_os_str(),
            ]),
            "listening on http://",
        )
    }

    /// pxectl with the server and a token file from the environment, as operators set it.
    fn pxectl(&self, server: &Daemon, token: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pxectl"))
            .args(args)
            .env("PXECTL_SERVER", server.url(""))
            .env("PXECTL_TOKEN_FILE", token)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, server: &Daemon, args: &[&str]) -> String {
        let o = self.pxectl(server, &self.admin, args);
        assert!(
            o.status.success(),
            "pxectl {args:?}: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

/// A daemon binary, killed (by its PID) when dropped.
struct Daemon {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `cmd` and waits for `ready` in its log, which is followed by its address.
    fn start(cmd: &mut Command, ready: &str) -> Daemon {
        let mut child = cmd
            .env_remove("RUST_LOG")
            .env_remove("PXE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        let ready = ready.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split(ready.as_str()).nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.trim_end_matches(',').to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("not ready: {}", log.lock().unwrap().join("\n"));
        };
        Daemon { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}: {}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// curl: the status and the body.
fn curl(args: &[&str]) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// Polls `f` for up to 5 s.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within 5 s: {what}");
}

#[test]
fn add_serve_restart_reinstall_remove() {
    let lab = Lab::new();
    let server = lab.httpd();
    let ks = server.url(&format!("/ks/{NEW_MAC}"));
    assert_eq!(curl(&[&ks]).0, 404, "not a machine yet");
    let out = lab.ok(
        &server,
        &[
            "add",
            "db02",
            "--mac",
            NEW_MAC,
            "--profile",
            "centos7-ks",
            "--address",
            "127.0.0.1",
        ],
    );
    assert!(out.contains("added db02"), "{out}");
    let file = lab.machines_dir().join("db02.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(NEW_MAC) && text.contains("centos7-ks"),
        "{text}"
    );
    // Served at once, by the same server, with no signal.
    let (status, body) = curl(&[&ks]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("network --hostname=db02") || body.contains("db02"),
        "{body}"
    );
    // A machine file written by hand (or by git): the server's watch picks it up.
    std::fs::write(
        lab.machines_dir().join("db03.yaml"),
        "mac: 52:54:00:aa:bb:03\nprofile: ubuntu-auto\n",
    )
    .unwrap();
    let api = server.url("/api/v1/machines/db03");
    eventually("db03 loaded from its file", || {
        curl(&["-H", &bearer(READER), &api]).0 == 200
    });
    // A restart keeps both.
    server.stop();
    let server = lab.httpd();
    let (status, _) = curl(&[&server.url(&format!("/ks/{NEW_MAC}"))]);
    assert_eq!(status, 200, "db02 after the restart");
    let list: Value = serde_json::from_str(&lab.ok(&server, &["--json", "machines"])).unwrap();
    let sources: Vec<(String, String)> = list["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().into(),
                m["source"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        sources.contains(&("db02".into(), "api".into())),
        "{sources:?}"
    );
    assert!(
        sources.contains(&("web01".into(), "inventory".into())),
        "{sources:?}"
    );
    // Filters.
    let out = lab.ok(&server, &["machines", "--profile", "ubuntu-auto"]);
    assert!(
        out.contains("db03") && out.contains("ub01") && !out.contains("db02"),
        "{out}"
    );
    // A change (PUT): db03 moves to another profile; the inventory file's web01 cannot.
    let put = |name: &str, body: &str| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            &bearer(ADMIN),
            "-H",
            "Content-Type: application/json",
            "--data",
            body,
            &server.url(&format!("/api/v1/machines/{name}")),
        ])
    };
    let (status, body) = put(
        "db03",
        r#"{"mac": "52:54:00:aa:bb:03", "profile": "debian12-preseed"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let text = std::fs::read_to_string(lab.machines_dir().join("db03.yaml")).unwrap();
    assert!(text.contains("debian12-preseed"), "{text}");
    let out = lab.ok(&server, &["machines", "--profile", "debian12-preseed"]);
    assert!(out.contains("db03"), "{out}");
    let (status, body) = put(
        "web01",
        r#"{"mac": "52:54:00:12:34:56", "profile": "ubuntu-auto"}"#,
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains(r#""field": "name""#), "{body}");
    let out = lab.ok(&server, &["machines", "--name", "db0?"]);
    assert!(
        out.contains("db02") && out.contains("db03") && !out.contains("web01"),
        "{out}"
    );
    // Its answer file was fetched above: it is installing.
    let out = lab.ok(&server, &["machines", "--state", "installing"]);
    assert!(out.contains("db02") && !out.contains("db03"), "{out}");
    // Reinstall: installed first (the admin's callback), then back to pending.
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-H",
        &bearer(ADMIN),
        &server.url("/api/v1/machines/db02/installed"),
    ]);
    assert_eq!(status, 200, "{body}");
    let out = lab.ok(&server, &["machines", "--state", "installed"]);
    assert!(out.contains("db02"), "{out}");
    let out = lab.ok(&server, &["reinstall", "db02"]);
    assert!(
        out.contains("db02: pending") && !out.contains("already"),
        "{out}"
    );
    let show = lab.ok(&server, &["show", "db02"]);
    assert!(show.contains("state    pending"), "{show}");
    // Remove: the file goes, and so does the machine.
    let out = lab.ok(&server, &["remove", "db02"]);
    assert!(out.contains("removed db02"), "{out}");
    assert!(!file.exists());
    assert_eq!(curl(&[&server.url(&format!("/ks/{NEW_MAC}"))]).0, 404);
    // A machine of the inventory file is not the API's to remove.
    let o = lab.pxectl(&server, &lab.admin, &["remove", "web01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("defined in inventory.yaml"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn wrong_tokens_and_bad_input_are_refused_with_the_field_named() {
    let lab = Lab::new();
    let server = lab.httpd();
    let add = ["add", "db02", "--mac", NEW_MAC, "--profile", "centos7-ks"];
    let wrong = lab.dir.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token-of-this-server\n").unwrap();
    let o = lab.pxectl(&server, &wrong, &add);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("401"), "{o:?}");
    let o = lab.pxectl(&server, &lab.reader, &add);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("403"), "{o:?}");
    assert!(!lab.machines_dir().join("db02.yaml").exists());
    // The read-only token reads.
    let o = lab.pxectl(&server, &lab.reader, &["machines"]);
    assert!(o.status.success(), "{o:?}");
    // Bad fields, through pxectl and through curl.
    let o = lab.pxectl(
        &server,
        &lab.admin,
        &["add", "db02", "--mac", NEW_MAC, "--profile", "nope"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("422: field `profile`: profile \"nope\" not found"),
        "{err}"
    );
    let post = |body: &str| {
        let (status, text) = curl(&[
            "-X",
            "POST",
            "-H",
            &bearer(ADMIN),
            "-H",
            "Content-Type: application/json",
            "--data",
            body,
            &server.url("/api/v1/machines"),
        ]);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, v["field"].as_str().map(str::to_owned), v)
    };
    let (status, field, _) = post(r#"{"name":"db02","mac":"52:54:00","profile":"centos7-ks"}"#);
    assert_eq!((status, field.as_deref()), (422, Some("mac")));
    let (status, field, _) = post(
        r#"{"name":"db02","mac":"52:54:00:aa:bb:02","profile":"centos7-ks","address":"10.0.0"}"#,
    );
    assert_eq!((status, field.as_deref()), (422, Some("address")));
    let (status, field, _) =
        post(r#"{"name":"db02","mac":"52:54:00:aa:bb:02","profile":"centos7-ks","colour":"red"}"#);
    assert_eq!((status, field.as_deref()), (400, Some("colour")));
    let (status, field, v) = post("{not json");
    assert_eq!((status, field), (400, None), "{v}");
    let (status, field, _) =
        post(r#"{"name":"../etc","mac":"52:54:00:aa:bb:02","profile":"centos7-ks"}"#);
    assert_eq!((status, field.as_deref()), (422, Some("name")));
    let (status, field, _) =
        post(r#"{"name":"db02","mac":"52:54:00:12:34:56","profile":"centos7-ks"}"#);
    assert_eq!(
        (status, field.as_deref()),
        (409, Some("mac")),
        "web01's MAC"
    );
    assert!(
        std::fs::read_dir(lab.machines_dir()).map_or(true, |mut d| d.next().is_none()),
        "nothing written"
    );
}

#[test]
fn a_conflict_is_shown_not_won() {
    let lab = Lab::new();
    std::fs::create_dir_all(lab.machines_dir()).unwrap();
    // web01 again, by hand, with another MAC: the inventory file's web01 stays.
    std::fs::write(
        lab.machines_dir().join("web01.yaml"),
        "mac: 52:54:00:aa:bb:09\nprofile: ubuntu-auto\n",
    )
    .unwrap();
    let server = lab.httpd();
    assert!(
        server.log().contains("not loaded") && server.log().contains("web01.yaml"),
        "{}",
        server.log()
    );
    let (status, page) = curl(&["-H", &bearer(READER), &server.url("/status")]);
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"problems\"") && page.contains("is also defined in inventory.yaml"),
        "{page}"
    );
    let out = lab.ok(&server, &["machines"]);
    assert!(out.contains("not loaded (conflict)"), "{out}");
    let web01: Value =
        serde_json::from_str(&lab.ok(&server, &["--json", "show", "web01"])).unwrap();
    assert_eq!(
        web01["profile"], "centos7-ks",
        "the inventory file's web01 serves"
    );
    assert_eq!(web01["source"], "inventory");
    // Removing the file settles it.
    lab.ok(&server, &["remove", "web01"]);
    let list: Value = serde_json::from_str(&lab.ok(&server, &["--json", "machines"])).unwrap();
    assert_eq!(list["problems"], serde_json::json!([]));
    let (_, page) = curl(&["-H", &bearer(READER), &server.url("/status")]);
    assert!(!page.contains("id=\"problems\""), "{page}");
}

#[test]
fn show_gives_the_timeline_and_why_a_boot_stalled() {
    let lab = Lab::new();
    let server = lab.httpd();
    lab.ok(
        &server,
        &["add", "db02", "--mac", NEW_MAC, "--profile", "centos7-ks"],
    );
    // As dhcpd would record it: a DHCP answer twenty minutes ago, nothing since.
    let store = pxe_model::FileStore::open(&lab.state).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    store
        .record(
            "db02",
            &pxe_model::state::BootEvent {
                at: now - 1_200_000,
                phase: pxe_model::state::Phase::Dhcp,
                detail: "DHCPACK 10.77.0.60 pxelinux.0".into(),
            },
        )
        .unwrap();
    let show = lab.ok(&server, &["show", "db02"]);
    assert!(show.contains("STAGE") && show.contains("DHCP"), "{show}");
    assert!(
        show.contains("diagnosis (dhcp): stalled for 20 min")
            && show.contains("no file was fetched over TFTP or HTTP"),
        "{show}"
    );
    // Then the loader and the kernel, a minute apart: durations, and the stall moves on.
    for (ago, detail) in [
        (1_140_000, "pxelinux.0 (42 bytes)"),
        (1_080_000, "trees/centos7/images/pxeboot/vmlinuz (9 bytes)"),
    ] {
        store
            .record(
                "db02",
                &pxe_model::state::BootEvent {
                    at: now - ago,
                    phase: pxe_model::state::Phase::Tftp,
                    detail: detail.into(),
                },
            )
            .unwrap();
    }
    let show = lab.ok(&server, &["show", "db02"]);
    assert!(
        show.contains("+1 min 00 s") && show.contains("kernel"),
        "{show}"
    );
    assert!(show.contains("the answer file never was"), "{show}");
}

#[test]
fn import_hosts_adds_machines_and_reports_shadowed_macs() {
    let lab = Lab::new();
    let server = lab.httpd();
    let conf = lab.dir.path().join("dhcpd.conf");
    std::fs::write(
        &conf,
        "subnet 10.77.0.0 netmask 255.255.255.0 {\n  range 10.77.0.100 10.77.0.200;\n\
         \x20 host old-web01 { hardware ethernet 52:54:00:12:34:56; fixed-address 10.77.0.50; }\n\
         \x20 host app01 { hardware ethernet 52:54:00:aa:bb:21; fixed-address 10.77.0.61; }\n}\n\
         host nomac { fixed-address 10.77.0.9; }\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let dry = lab.ok(
        &server,
        &["import-hosts", conf, "--profile", "centos7-ks", "--dry-run"],
    );
    assert!(dry.contains("would import"), "{dry}");
    assert!(!lab.machines_dir().join("app01.yaml").exists());
    let out = lab.ok(
        &server,
        &["--json", "import-hosts", conf, "--profile", "centos7-ks"],
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    let results: Vec<(&str, &str)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["host"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("old-web01", "shadows"),
            ("app01", "imported"),
            ("nomac", "skipped")
        ]
    );
    assert!(
        report[0]["note"]
            .as_str()
            .unwrap()
            .contains("machine web01's"),
        "{report}"
    );
    let app01: Value =
        serde_json::from_str(&lab.ok(&server, &["--json", "show", "app01"])).unwrap();
    assert_eq!(app01["address"], "10.77.0.61");
    assert_eq!(app01["macs"][0], "52:54:00:aa:bb:21");
}

#[test]
fn tftpd_serves_an_added_machine_without_a_signal() {
    let lab = Lab::new();
    let server = lab.httpd();
    let root = lab.dir.path().join("trees/tftp");
    let tftpd = Daemon::start(
        Command::new(bin("tftpd")).args([
            "-L".as_ref(),
            "-a".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--inventory".as_ref(),
            lab.inventory.as_os_str(),
            "--state-dir".as_ref(),
            lab.state.as_os_str(),
            "-s".as_ref(),
            root.as_os_str(),
        ]),
        "listening on udp ",
    );
    let name = "pxelinux.cfg/01-52-54-00-aa-bb-02";
    let fetch = || {
        Command::new("curl")
            .args(["-s", "-o", "-"])
            .arg(format!("tftp://127.0.0.1:{}/{name}", tftpd.port()))
            .output()
            .expect("curl")
    };
    assert!(
        !String::from_utf8_lossy(&fetch().stdout).contains("db02"),
        "not a machine yet"
    );
    lab.ok(
        &server,
        &[
            "add",
            "db02",
            "--mac",
            NEW_MAC,
            "--profile",
            "centos7-ks",
            "--address",
            "127.0.0.1",
        ],
    );
    eventually("tftpd serves db02's pxelinux config", || {
        String::from_utf8_lossy(&fetch().stdout).contains("/ks/52:54:00:aa:bb:02")
    });
    assert!(
        tftpd.log().contains("the inventory changed on disk"),
        "{}",
        tftpd.log()
    );
}

/// A JSON call to the API with the admin token: (status, body).
fn api(server: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut args = vec!["-X", method, "-H", "Content-Type: application/json"];
    let auth = bearer(ADMIN);
    args.extend(["-H", auth.as_str()]);
    if let Some(b) = body {
        args.extend(["--data-binary", b]);
    }
    let url = server.url(path);
    args.push(&url);
    let (status, text) = curl(&args);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn distros_and_profiles_are_kept_beside_the_inventory_and_checked_before_written() {
    let lab = Lab::new();
    let server = lab.httpd();
    let trees = lab.dir.path().join("trees/debian12").display().to_string();
    let distro = format!(
        r#"{{"name": "deb-api", "family": "debian", "tree": "{trees}",
            "kernel": "debian-installer/amd64/linux", "initrd": "debian-installer/amd64/initrd.gz"}}"#
    );
    let (status, doc) = api(&server, "POST", "/api/v1/distros", Some(&distro));
    assert_eq!(status, 201, "{doc}");
    assert!(lab.dir.path().join("distros.d/deb-api.yaml").exists());
    // A profile of the API on a distro of the API, inheriting from the inventory file's.
    let profile = r#"{"name": "web-api", "parent": "debian12-preseed", "distro": "deb-api",
                      "kernel_args": "console=ttyS0 quiet"}"#;
    let (status, doc) = api(&server, "POST", "/api/v1/profiles", Some(profile));
    assert_eq!(status, 201, "{doc}");
    let (_, list) = api(&server, "GET", "/api/v1/profiles", None);
    let web = list["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "web-api")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (web["distro"].as_str(), web["source"].as_str()),
        (Some("deb-api"), Some("api"))
    );
    // A machine on it is served its preseed, which comes from the API's distro.
    lab.ok(
        &server,
        &[
            "add",
            "db02",
            "--mac",
            NEW_MAC,
            "--profile",
            "web-api",
            "--address",
            "127.0.0.1",
        ],
    );
    let (status, preseed) = curl(&[&server.url(&format!("/preseed/{NEW_MAC}"))]);
    assert_eq!(status, 200, "{preseed}");
    assert!(preseed.contains("/trees/deb-api"), "{preseed}");
    // Refused before anything is written: a missing distro, a name of the inventory
    // file, a removal that would leave db02 without its profile, no token.
    let (status, doc) = api(
        &server,
        "POST",
        "/api/v1/profiles",
        Some(r#"{"name": "broken", "distro": "nosuch"}"#),
    );
    assert_eq!(status, 422, "{doc}");
    assert!(
        doc["error"].as_str().unwrap_or("").contains("nosuch"),
        "{doc}"
    );
    assert!(!lab.dir.path().join("profiles.d/broken.yaml").exists());
    // A name that would lead out of the directory (here onto the inventory file itself).
    let before = std::fs::read(&lab.inventory).unwrap();
    for name in ["../inventory", ".hidden", "a/b"] {
        let body = format!(r#"{{"name": "{name}", "distro": "centos7"}}"#);
        let (status, doc) = api(&server, "POST", "/api/v1/profiles", Some(&body));
        assert_eq!(
            (status, doc["field"].as_str()),
            (422, Some("name")),
            "{name}: {doc}"
        );
    }
    assert_eq!(std::fs::read(&lab.inventory).unwrap(), before);
    let (status, doc) = api(
        &server,
        "PUT",
        "/api/v1/profiles/centos7-ks",
        Some(r#"{"distro": "centos7"}"#),
    );
    assert_eq!(status, 409, "{doc}");
    assert!(!lab.dir.path().join("profiles.d/centos7-ks.yaml").exists());
    let (status, doc) = api(&server, "DELETE", "/api/v1/profiles/web-api", None);
    assert_eq!(status, 409, "{doc}");
    assert!(
        doc["error"].as_str().unwrap_or("").contains("web-api"),
        "{doc}"
    );
    assert!(lab.dir.path().join("profiles.d/web-api.yaml").exists());
    let (status, _) = curl(&[
        "-X",
        "DELETE",
        "-H",
        &bearer(READER),
        &server.url("/api/v1/profiles/web-api"),
    ]);
    assert_eq!(status, 403);
    // Changed, kept over a restart, then removed once no machine uses it.
    let (status, doc) = api(
        &server,
        "PUT",
        "/api/v1/profiles/web-api",
        Some(r#"{"distro": "deb-api", "kernel_args": "console=ttyS1"}"#),
    );
    assert_eq!(status, 200, "{doc}");
    drop(server);
    let server = lab.httpd();
    let inv = pxe_model::load(&lab.inventory).unwrap();
    assert_eq!(inv.profiles["web-api"].kernel_args, "console=ttyS1");
    lab.ok(&server, &["remove", "db02"]);
    let (status, doc) = api(&server, "DELETE", "/api/v1/profiles/web-api", None);
    assert_eq!(status, 200, "{doc}");
    let (status, doc) = api(&server, "DELETE", "/api/v1/distros/deb-api", None);
    assert_eq!(status, 200, "{doc}");
    assert!(!lab.dir.path().join("profiles.d/web-api.yaml").exists());
    assert!(!lab.dir.path().join("distros.d/deb-api.yaml").exists());
}

#[test]
fn a_profile_file_in_conflict_is_shown_and_the_inventory_file_wins_nothing_silently() {
    let lab = Lab::new();
    std::fs::create_dir_all(lab.dir.path().join("profiles.d")).unwrap();
    std::fs::write(
        lab.dir.path().join("profiles.d/centos7-ks.yaml"),
        "distro: centos7\nkernel_args: from-the-file\n",
    )
    .unwrap();
    let server = lab.httpd();
    let (_, list) = api(&server, "GET", "/api/v1/profiles", None);
    assert_eq!(list["problems"][0]["name"], "centos7-ks", "{list}");
    assert_eq!(list["problems"][0]["kind"], "conflict", "{list}");
    assert!(server.log().contains("not loaded"), "{}", server.log());
    // Settled from the API's side by removing the file.
    let (status, doc) = api(&server, "DELETE", "/api/v1/profiles/centos7-ks", None);
    assert_eq!(status, 200, "{doc}");
    let (_, list) = api(&server, "GET", "/api/v1/profiles", None);
    assert_eq!(list["problems"], serde_json::json!([]), "{list}");
}

#[path = "../../httpd-tree/tests/real/bmc_sim.rs"]
mod bmc_sim;

/// `pxectl power` and `pxectl reinstall --power-cycle` against httpd-tree and a real BMC
/// (ipmi_sim), the password handed to httpd-tree in its environment (`password_env`).
#[test]
fn power_and_reinstall_with_a_power_cycle_through_ipmi_sim() {
    let lab = Lab::new();
    let bmc = bmc_sim::Bmc::start(&lab.dir.path().join("bmc"));
    let text = std::fs::read_to_string(&lab.inventory).unwrap().replace(
        "    profile: centos7-ks\n  db01:",
        &format!(
            "    profile: centos7-ks\n    power:\n      driver: ipmi\n      address: 127.0.0.1\n      \
             port: {}\n      cipher_suite: 3\n      username: admin\n      password_env: \
             LAB_BMC_PASSWORD\n  db01:",
            bmc.port
        ),
    );
    std::fs::write(&lab.inventory, text).unwrap();
    let server = Daemon::start(
        Command::new(bin("httpd-tree"))
            .args([
                "--listen".as_ref(),
                "127.0.0.1:0".as_ref(),
                "--inventory".as_ref(),
                lab.inventory.as_os_str(),
                "--state-dir".as_ref(),
                lab.state.as_os_str(),
                "--admin-token-file".as_ref(),
                lab.admin.as_os_str(),
            ])
            .env("LAB_BMC_PASSWORD", bmc_sim::PASSWORD),
        "listening on http://",
    );

    let out = lab.ok(&server, &["power", "web01", "status"]);
    assert!(out.starts_with("MACHINE"), "a table: {out}");
    assert!(out.contains("web01") && out.contains("off"), "{out}");
    let out = lab.ok(&server, &["--json", "power", "web01", "on"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["power"], "on", "{out}");
    assert_eq!(bmc.chassis("power"), "1", "the BMC was not switched on");

    let out = lab.ok(&server, &["reinstall", "web01", "--power-cycle"]);
    assert!(out.contains("power cycled (power on)"), "{out}");
    assert_eq!(bmc.chassis("boot"), "pxe");
    assert!(bmc.calls().contains("set power 0"), "{}", bmc.calls());
    assert_eq!(bmc.chassis("power"), "1");

    let out = lab.ok(&server, &["--json", "power", "web01", "off"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["power"], "off");
    assert_eq!(bmc.chassis("power"), "0");

    // A machine without a BMC: refused, exit status 1, nothing switched.
    let o = lab.pxectl(&server, &lab.admin, &["power", "db01", "on"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no power settings"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !server.log().contains(bmc_sim::PASSWORD),
        "the password was logged"
    );
}
