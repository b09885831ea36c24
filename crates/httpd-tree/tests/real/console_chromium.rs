//! Headless Chromium, driven through chromedriver, uses the web console of the real
//! httpd-tree binary: logs in with the admin token, searches, watches a state change
//! arrive over server-sent events without a reload, reads a machine's page (stall
//! diagnosis, masked answer file), reinstalls a machine and presses a power button.
//! Screenshots go to `$CONSOLE_SCREENSHOTS` (docs/console when making the docs), else
//! to a temporary directory.

use crate::support::{ADMIN_TOKEN, Server, curl, lab};
use crate::webdriver::Browser;
use pxe_model::state::{BootEvent, Phase, StateStore};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Rack machines added to the lab's four, so the list looks like a small site.
const RACK: usize = 36;

fn row_names(b: &Browser) -> Vec<String> {
    let v = b.script(
        "return Array.from(document.querySelectorAll('#machines tbody tr'))\
         .map(r => r.getAttribute('data-machine'));",
    );
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn chromium_uses_the_console() {
    let lab = lab();
    let mut more = String::new();
    for i in 1..=RACK {
        let _ = writeln!(
            more,
            "  rack-n{i:02}:\n    mac: 52:54:00:10:00:{i:02x}\n    profile: {}",
            if i % 3 == 0 {
                "debian12-preseed"
            } else {
                "centos7-ks"
            }
        );
    }
    let mut text = std::fs::read_to_string(&lab.inventory).expect("inventory");
    text.push_str(&more);
    std::fs::write(&lab.inventory, text).expect("inventory");
    // db01's boot stopped after its kernel, long ago: the page says where it stalled.
    let store = pxe_model::state::FileStore::open(&lab.state_dir).expect("state dir");
    for (at, phase, detail) in [
        (
            1_700_000_000_000,
            Phase::Dhcp,
            "DHCPACK 10.77.0.51 pxelinux.0",
        ),
        (1_700_000_001_000, Phase::Tftp, "pxelinux.0"),
        (
            1_700_000_003_000,
            Phase::Tftp,
            "trees/debian12/debian-installer/amd64/linux",
        ),
    ] {
        let e = BootEvent {
            at,
            phase,
            detail: detail.into(),
        };
        store.record("db01", &e).expect("record");
    }
    let server = Server::for_lab(&lab, &[]);
    let shots: PathBuf = std::env::var_os("CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| lab.path("screenshots"));
    let b = Browser::start();

    // Not logged in: the console sends the browser to the login page.
    b.goto(&server.url("/"));
    b.wait_url("/login", 10);
    b.type_into("#token", "not-the-token");
    b.click("#login-form button");
    assert_eq!(b.text("#login-error"), "that is not the admin token");
    b.type_into("#token", ADMIN_TOKEN);
    b.screenshot(&shots.join("login.png"));
    b.click("#login-form button");
    b.find("#machines");
    assert_eq!(row_names(&b).len(), 4 + RACK);
    assert!(
        b.text("#counts").starts_with("40 machines"),
        "{}",
        b.text("#counts")
    );

    // Live updates: web01 fetches its answer file; its row changes without a reload.
    b.wait_text("#live", 15, |t| t == "live");
    b.script("window.notReloaded = true; return null;");
    assert_eq!(b.text("tr[data-machine=\"web01\"] td.state"), "pending");
    curl(&["-sf", "-o", "/dev/null", &server.url("/ks/web01")]);
    b.wait_text("tr[data-machine=\"web01\"] td.state", 15, |t| {
        t == "installing"
    });
    assert_eq!(
        b.script("return window.notReloaded === true;"),
        serde_json::json!(true),
        "the page was not reloaded"
    );
    assert!(
        b.text("tr[data-machine=\"web01\"] td.last-event")
            .contains("/ks/web01")
    );
    // The counts per state follow too.
    b.wait_text("#count-installing", 10, |t| t == "1");
    assert_eq!(b.text("#count-pending"), "39");
    b.screenshot(&shots.join("machines.png"));

    // Search, answered by the server.
    b.type_into("#q", "rack-n1");
    b.click("#search button");
    b.wait_text("#shown", 10, |t| t.starts_with("10 of 40"));
    let names = row_names(&b);
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("rack-n1")), "{names:?}");
    b.type_into("#q", "52:54:00:ab:cd:02");
    b.click("#search button");
    b.wait_text("#shown", 10, |t| t.starts_with("1 of 40"));
    assert_eq!(row_names(&b), ["db01"]);
    assert_eq!(
        b.text("tr[data-machine=\"db01\"] td.mac"),
        "52:54:00:ab:cd:02",
        "the MAC the search matched"
    );
    b.screenshot(&shots.join("search.png"));

    // db01's page: where its boot stalled, its stages, its answer file without secrets.
    b.click("tr[data-machine=\"db01\"] td.machine a");
    let diagnosis = b.text("#diagnosis");
    assert!(diagnosis.starts_with("Stalled at kernel"), "{diagnosis}");
    assert!(b.text("#answer-file").contains("d-i"), "a preseed");
    b.screenshot(&shots.join("machine.png"));
    // tftpd serves db01 its initrd: the entry joins the timeline on the open page.
    b.script("window.notReloaded = true; return null;");
    let e = BootEvent {
        at: 1_700_000_004_000,
        phase: Phase::Tftp,
        detail: "trees/debian12/debian-installer/amd64/initrd.gz".into(),
    };
    store.record("db01", &e).expect("record");
    b.wait_text("#timeline li.live", 15, |t| t.ends_with("initrd.gz"));
    assert_eq!(
        b.script("return window.notReloaded === true;"),
        serde_json::json!(true)
    );

    // web01's page: the answer file's token masked; reinstall sets it back to pending.
    b.goto(&server.url("/console/machines/web01"));
    assert_eq!(b.text("#machine-state"), "installing");
    let answer = b.text("#answer-file");
    assert!(answer.contains("********"), "{answer}");
    b.click("#reinstall button");
    b.wait_text("#machine-state", 10, |t| t == "pending");
    let api = curl(&[
        "-sf",
        "-H",
        &format!("Authorization: Bearer {ADMIN_TOKEN}"),
        &server.url("/api/v1/machines/web01"),
    ]);
    let api: serde_json::Value = serde_json::from_slice(&api).expect("JSON");
    assert_eq!(api["state"], "pending", "the reinstall reached the store");
    // A power button: the API's answer is shown (404 until power control is there, 409
    // for a machine without power settings).
    b.click("button[data-power=\"status\"]");
    let shown = b.wait_text("#power-result", 10, |t| {
        t.split_whitespace()
            .next()
            .is_some_and(|s| s.len() == 3 && s.parse::<u16>().is_ok())
    });
    assert!(
        ["200", "404", "409"].iter().any(|s| shown.starts_with(s)),
        "{shown}"
    );
    b.screenshot(&shots.join("actions.png"));

    // Logged out, the console asks for the token again.
    b.click("#logout");
    b.wait_url("/login", 10);
    b.goto(&server.url("/"));
    b.wait_url("/login", 10);
    assert!(
        server.log().contains("console: operator action"),
        "{}",
        server.log()
    );
    assert!(
        !server.log().contains(ADMIN_TOKEN),
        "the token is never logged"
    );
}
