//! Two httpd-tree on one PostgreSQL (issue 14 parts 4 and 5): install state and the
//! callback tokens' key are the database's, so a token one server rendered is accepted by
//! the other, the same callback sent to both at once is taken once, and rounds of
//! reinstalls and racing callbacks across the two lose no transition. The lab's state
//! directory is moved in first with `pxe-db import-state`'s library call.

use std::sync::{Arc, Barrier};

use pxe_db::scratch::ScratchServer;
use pxe_db::state::PgStateStore;
use pxe_model::InstallState;
use pxe_model::state::StateStore;

use crate::support::{ADMIN_TOKEN, Lab, Server, curl, curl_status, lab};

fn start(lab: &Lab, url: &str) -> Server {
    let inventory = lab.inventory.display().to_string();
    let token = lab.admin_token_file.display().to_string();
    Server::start(&[
        "--inventory",
        &inventory,
        "--database",
        url,
        "--admin-token-file",
        &token,
    ])
}

/// The callback token in web01's kickstart, rendered by `server`.
fn rendered_token(server: &Server) -> String {
    let ks = String::from_utf8(curl(&["-sf", &server.url("/ks/web01")])).expect("utf-8");
    ks.split("Bearer ")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect())
        .unwrap_or_else(|| panic!("no token in\n{ks}"))
}

/// POSTs web01's `installed` callback with `token` to each server at the same moment: the
/// status each answered, in the order of `servers`.
fn callbacks_at_once(servers: &[&Server], token: &str) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(servers.len()));
    let dir = tempfile::tempdir().expect("tempdir");
    let handles: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let url = s.url("/api/v1/machines/web01/installed");
            let header = format!("Authorization: Bearer {token}");
            let out = dir.path().join(format!("out{i}"));
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                curl_status(&["-X", "POST", "-H", &header, &url], &out)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("callback thread"))
        .collect()
}

fn reinstall(server: &Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let url = server.url("/api/v1/machines/web01/reinstall");
    assert_eq!(
        curl_status(&["-X", "POST", "-H", &admin, &url], &dir.path().join("x")),
        200,
        "{}",
        server.log()
    );
}

#[test]
fn two_servers_on_one_database_share_tokens_and_lose_no_transition() {
    let pg = ScratchServer::start().expect("a throwaway PostgreSQL");
    let lab = lab();
    let url = pg.url();
    let db_url: pxe_db::DatabaseUrl = url.parse().expect("url");
    pxe_db::migrate(&mut db_url.connect().expect("connect"), "test").expect("migrate");
    let db = PgStateStore::new(db_url);
    // The lab's directory (dhcpd's acknowledgements to 127.0.0.1) moves into the database.
    let moved = pxe_db::import_state::import_state(&lab.state_dir, &db).expect("import");
    assert!(moved.acked >= 2, "{moved:?}");
    let a = start(&lab, &url);
    let b = start(&lab, &url);
    assert!(
        a.log().contains("install state in the database"),
        "{}",
        a.log()
    );

    // A renders the answer file; its token is accepted by B (one key, the database's).
    let token = rendered_token(&a);
    assert_eq!(
        db.get("web01").expect("state").state,
        InstallState::Installing
    );
    assert_eq!(callbacks_at_once(&[&b], &token), [200], "{}", b.log());
    assert_eq!(
        db.get("web01").expect("state").state,
        InstallState::Installed
    );
    // The same callback sent to A and B at once is taken exactly once.
    reinstall(&b);
    let token = rendered_token(&a);
    let mut answered = callbacks_at_once(&[&a, &b], &token);
    answered.sort_unstable();
    assert_eq!(answered, [200, 401], "{}\n{}", a.log(), b.log());

    // Rounds: a reinstall through one, the answer file from the other, the callback to both
    // at once. Each round is pending → installing → installed, and one callback wins.
    let before = db.get("web01").expect("state").history.len();
    let rounds = 8;
    for round in 0..rounds {
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        reinstall(first);
        let token = rendered_token(second);
        let mut answered = callbacks_at_once(&[&a, &b], &token);
        answered.sort_unstable();
        assert_eq!(answered, [200, 401], "round {round}");
    }
    let after = db.get("web01").expect("state");
    assert_eq!(after.state, InstallState::Installed);
    assert_eq!(
        after.history.len() - before,
        3 * rounds,
        "transitions lost: {:?}",
        after.history
    );
    // Both servers show the same machine from the database.
    let admin = format!("Authorization: Bearer {ADMIN_TOKEN}");
    for s in [&a, &b] {
        let doc: serde_json::Value = serde_json::from_slice(&curl(&[
            "-sf",
            "-H",
            &admin,
            &s.url("/api/v1/machines/web01"),
        ]))
        .expect("json");
        assert_eq!(doc["state"], "installed");
        let history = doc["history"].as_array().map_or(0, Vec::len);
        assert_eq!(history, after.history.len(), "{doc}");
    }
    // A change made through B reaches a console following A, live (A hears the database's
    // announcement; nothing of it happened in A's process).
    let events = std::process::Command::new("curl")
        .args(["-sN", "--max-time", "8", "-H"])
        .arg(format!("Authorization: Bearer {ADMIN_TOKEN}"))
        .arg(a.url("/console/events"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    std::thread::sleep(std::time::Duration::from_secs(2));
    reinstall(&b);
    let streamed = events.wait_with_output().expect("curl's stream");
    let streamed = String::from_utf8_lossy(&streamed.stdout);
    assert!(
        streamed.contains("event: machine") && streamed.contains("\"state\":\"pending\""),
        "A's stream did not carry B's reinstall:\n{streamed}\n{}",
        a.log()
    );
}

#[test]
fn a_state_directory_and_a_database_together_are_refused() {
    let pg = ScratchServer::start().expect("a throwaway PostgreSQL");
    let lab = lab();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_httpd-tree"))
        .arg("--inventory")
        .arg(&lab.inventory)
        .arg("--state-dir")
        .arg(&lab.state_dir)
        .args(["--database", &pg.url(), "--listen", "127.0.0.1:0"])
        .output()
        .expect("run httpd-tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("both name the install state"), "{stderr}");
}
