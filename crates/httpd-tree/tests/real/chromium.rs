//! Headless Chromium loads `/status`; the test reads the machine table from the DOM
//! Chromium built.

use crate::support::{ADMIN_TOKEN, Server, curl, lab, run};
use pxe_model::state::{BootEvent, Phase, StateStore};

/// (machine, cells) for each row of `<table id="machines">`.
fn rows(dom: &str) -> Vec<(String, Vec<String>)> {
    let table_start = dom
        .find("<table id=\"machines\">")
        .expect("the machines table");
    let table = &dom[table_start..];
    let table = &table[..table.find("</table>").expect("table end")];
    let mut out = Vec::new();
    for row in table.split("<tr data-machine=\"").skip(1) {
        let name = row.split('"').next().unwrap_or_default().to_owned();
        let cells: Vec<String> = row
            .split("<td")
            .skip(1)
            .map(|c| {
                let inner = &c[c.find('>').map_or(0, |i| i + 1)..];
                let inner = &inner[..inner.find("</td>").unwrap_or(inner.len())];
                // Strip tags inside the cell.
                let mut text = String::new();
                let mut in_tag = false;
                for ch in inner.chars() {
                    match ch {
                        '<' => in_tag = true,
                        '>' => in_tag = false,
                        c if !in_tag => text.push(c),
                        _ => {}
                    }
                }
                text.trim().to_owned()
            })
            .collect();
        assert_eq!(cells.len(), 11, "eleven columns in {row}");
        out.push((name, cells));
    }
    out
}

#[test]
fn chromium_reads_the_machine_table() {
    let lab = lab();
    // A browser sends no bearer token: the operator shows the full page to anyone.
    let server = Server::for_lab(&lab, &["--public-status"]);
    // web01 fetches its answer file (installing); the operator marks ub01 installed.
    curl(&["-sf", "-o", "/dev/null", &server.url("/ks/web01")]);
    curl(&[
        "-sf",
        "-o",
        "/dev/null",
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {ADMIN_TOKEN}"),
        &server.url("/api/v1/machines/ub01/installed"),
    ]);
    // dhcpd and tftpd write db01's timeline into the same state directory.
    let store = pxe_model::state::FileStore::open(&lab.state_dir).expect("state dir");
    let events = [
        (
            1_700_000_000_000,
            Phase::Dhcp,
            "DHCPACK 10.77.0.51 pxelinux.0",
        ),
        (1_700_000_001_000, Phase::Tftp, "pxelinux.0"),
        (
            1_700_000_002_000,
            Phase::Tftp,
            "pxelinux.cfg/01-52-54-00-ab-cd-01",
        ),
        (
            1_700_000_003_000,
            Phase::Tftp,
            "trees/debian12/debian-installer/amd64/linux",
        ),
        (
            1_700_000_004_000,
            Phase::Tftp,
            "trees/debian12/debian-installer/amd64/initrd.gz",
        ),
    ];
    for (at, phase, detail) in events {
        let e = BootEvent {
            at,
            phase,
            detail: detail.into(),
        };
        store.record("db01", &e).expect("record");
    }
    let profile = tempfile::tempdir().expect("profile dir");
    let user_data = format!("--user-data-dir={}", profile.path().display());
    let url = server.url("/status");
    let o = run(
        "timeout",
        "coreutils",
        &[
            "180",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &user_data,
            "--dump-dom",
            &url,
        ],
    );
    if o.status.code() == Some(127) {
        panic!("chromium is not installed: apt-get install chromium");
    }
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "chromium: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let rows = rows(&dom);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["db01", "gw01", "ub01", "web01"], "{dom}");
    let cells = |m: &str| {
        rows.iter()
            .find(|r| r.0 == m)
            .map(|r| r.1.clone())
            .expect(m)
    };
    let state = |m: &str| cells(m)[3].clone();
    assert_eq!(state("web01"), "installing");
    assert_eq!(state("ub01"), "installed");
    assert_eq!(state("db01"), "pending");
    assert_eq!(state("gw01"), "pending");
    let web01 = cells("web01");
    assert!(
        web01[7].ends_with('Z') && web01[7].len() == 20,
        "answer-file time: {web01:?}"
    );
    assert_eq!(web01[1], "52:54:00:12:34:56");
    assert_eq!(web01[2], "centos7-ks");
    // db01's boot: DHCP → loader → kernel, as the other daemons recorded it, each with
    // the time since the boot's first event.
    let db01 = cells("db01");
    assert_eq!(db01[4], "2023-11-14 22:13:20Z", "DHCP: {db01:?}");
    assert_eq!(
        db01[5], "2023-11-14 22:13:21Z +1.0 s pxelinux.0",
        "loader: {db01:?}"
    );
    assert_eq!(db01[6], "2023-11-14 22:13:23Z +3.0 s", "kernel: {db01:?}");
    assert_eq!(db01[7], "–", "no answer file yet: {db01:?}");
    assert_eq!(db01[8], "–", "no deploy step: {db01:?}");
    assert!(cells("ub01")[9].ends_with('Z'), "installed time");
    // Chromium's request is in the access log like any other.
    assert!(
        server.log().contains("\"GET /status HTTP/1.1\" 200"),
        "{}",
        server.log()
    );
}
