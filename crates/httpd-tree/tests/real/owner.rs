//! A machine's own files (answer files, iPXE scripts, per-MAC pxelinux and GRUB configs)
//! go only to its address: curl from a second loopback address (`--interface 127.0.0.2`)
//! is a stranger and gets 403, a log line naming the machine and the address, and an
//! entry on the machine's timeline; generic files stay public; `X-Forwarded-For` is
//! believed only from the inventory's `trusted_proxies`. The machine API and the full
//! status page need a token.

use crate::support::{OWNER, STRANGER, Server, acknowledge_all, curl_status, lab};
use pxe_model::StateStore;

/// Every kind of per-machine file, with the machine it belongs to.
const OWN_FILES: &[(&str, &str)] = &[
    ("/ks/52:54:00:12:34:56", "web01"),
    ("/ks/web01", "web01"),
    ("/preseed/52-54-00-ab-cd-01", "db01"),
    ("/autoinstall/52:54:00:ab:cd:10/user-data", "ub01"),
    ("/autoinstall/52:54:00:ab:cd:10/meta-data", "ub01"),
    ("/boot/52:54:00:12:34:56.ipxe", "web01"),
    ("/pxelinux.cfg/01-52-54-00-12-34-56", "web01"),
    ("/grub/grub.cfg-01-52-54-00-12-34-56", "web01"),
];

/// Files for anyone: trees, menus without secrets, the chain script.
const PUBLIC_FILES: &[&str] = &[
    "/trees/centos7/.treeinfo",
    "/trees/centos7/images/pxeboot/vmlinuz",
    "/pxelinux.cfg/default",
    "/boot/boot.ipxe",
    "/grub/grub.cfg",
    "/profiles/centos7-ks/answer",
];

fn get(server: &Server, from: &str, path: &str, extra: &[&str], out: &std::path::Path) -> u16 {
    let url = server.url(path);
    let mut args = vec!["--interface", from];
    args.extend_from_slice(extra);
    args.push(&url);
    curl_status(&args, out)
}

#[test]
fn a_stranger_gets_403_and_the_machine_gets_its_files() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body");
    for (path, machine) in OWN_FILES {
        assert_eq!(get(&server, STRANGER, path, &[], &out), 403, "{path}");
        let body = std::fs::read_to_string(&out).expect("body");
        assert!(
            body.contains(STRANGER) && body.contains(machine) && !body.contains("api/v1"),
            "{path}: {body}"
        );
        assert_eq!(get(&server, OWNER, path, &[], &out), 200, "{path}");
    }
    for path in PUBLIC_FILES {
        assert_eq!(get(&server, STRANGER, path, &[], &out), 200, "{path}");
    }
    // The log names the machine and the address, for each refusal.
    let log = server.log();
    for machine in ["web01", "db01", "ub01"] {
        assert!(
            log.lines().any(|l| l.contains("per-machine file refused")
                && l.contains(&format!("machine {machine}"))
                && l.contains(STRANGER)),
            "{machine}: {log}"
        );
    }
    // The refusals are on the machine's timeline, and the status page shows them.
    let store = pxe_model::FileStore::open(&lab.state_dir).expect("state");
    let events = store.events("web01", 100).expect("events");
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.phase == pxe_model::state::Phase::Refused)
        .collect();
    assert_eq!(refused.len(), 5, "{events:#?}");
    assert!(
        refused[0].detail.contains("/ks/") && refused[0].detail.contains(STRANGER),
        "{refused:?}"
    );
    // A refused fetch starts no install.
    assert_eq!(
        store.get("web01").expect("state").state,
        pxe_model::InstallState::Installing,
        "only the owner's fetch started it"
    );
    assert_eq!(
        store.get("db01").expect("state").state,
        pxe_model::InstallState::Installing
    );
}

#[test]
fn the_last_acknowledged_address_is_the_machine() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body");
    // ub01 has no fixed address: only what dhcpd acknowledged names it.
    let path = "/autoinstall/52:54:00:ab:cd:10/user-data";
    assert_eq!(get(&server, OWNER, path, &[], &out), 200);
    assert_eq!(get(&server, STRANGER, path, &[], &out), 403);
    // dhcpd acknowledges it another address: that one is the machine now, not the old.
    acknowledge_all(&lab.inventory, &lab.state_dir, STRANGER);
    assert_eq!(get(&server, STRANGER, path, &[], &out), 200);
    assert_eq!(get(&server, OWNER, path, &[], &out), 403);
    let body = std::fs::read_to_string(&out).expect("body");
    assert!(
        body.contains(&format!("acknowledged to it ({STRANGER})")),
        "{body}"
    );
}

#[test]
fn forwarded_for_is_believed_from_trusted_proxies_only() {
    let lab = lab();
    let text = std::fs::read_to_string(&lab.inventory).expect("read");
    let text = text.replace(
        "  http: http://10.77.0.3:8080\n",
        "  http: http://10.77.0.3:8080\n  trusted_proxies: [127.0.0.3]\n",
    );
    std::fs::write(&lab.inventory, text).expect("write");
    // web01's fixed address is 10.77.0.50; the lab also acknowledged it 127.0.0.1.
    let server = Server::for_lab(&lab, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body");
    let path = "/ks/web01";
    let xff = |v: &str| format!("X-Forwarded-For: {v}");
    // Through the trusted proxy, for the machine's address: served.
    assert_eq!(
        get(
            &server,
            "127.0.0.3",
            path,
            &["-H", &xff("10.77.0.50")],
            &out
        ),
        200
    );
    // Through the proxy for someone else, or with a client-written entry before it.
    assert_eq!(
        get(&server, "127.0.0.3", path, &["-H", &xff("192.0.2.9")], &out),
        403
    );
    assert_eq!(
        get(
            &server,
            "127.0.0.3",
            path,
            &["-H", &xff("10.77.0.50, 192.0.2.9")],
            &out
        ),
        403
    );
    // The proxy itself is nobody's machine.
    assert_eq!(get(&server, "127.0.0.3", path, &[], &out), 403);
    // Anyone else's X-Forwarded-For is ignored: judged by its own address.
    assert_eq!(
        get(&server, STRANGER, path, &["-H", &xff("10.77.0.50")], &out),
        403
    );
    server.wait_for_log("192.0.2.9 is not the address of machine web01");
}

#[test]
fn the_machine_api_and_the_status_page_need_a_token() {
    const READER: &str = "lab-read-only-token-0c4b2e9d";
    let lab = lab();
    let read_file = lab.path("read-token");
    std::fs::write(&read_file, format!("{READER}\n")).expect("write");
    let server = Server::for_lab(
        &lab,
        &["--read-token-file", read_file.to_str().expect("utf-8")],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body");
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    for path in ["/api/v1/machines", "/api/v1/machines/web01"] {
        assert_eq!(curl_status(&[&server.url(path)], &out), 401, "{path}");
        let body = std::fs::read_to_string(&out).expect("body");
        assert!(!body.contains("52:54:00"), "{path}: {body}");
        assert_eq!(
            curl_status(
                &["-H", &bearer("not-the-token-at-all"), &server.url(path)],
                &out
            ),
            401,
            "{path}"
        );
        // Never from the query string.
        let in_query = server.url(&format!("{path}?token={READER}"));
        assert_eq!(curl_status(&[&in_query], &out), 401, "{path}");
        for token in [READER, crate::support::ADMIN_TOKEN] {
            assert_eq!(
                curl_status(&["-H", &bearer(token), &server.url(path)], &out),
                200,
                "{path}"
            );
        }
    }
    // The read-only token changes nothing.
    assert_eq!(
        curl_status(
            &[
                "-X",
                "POST",
                "-H",
                &bearer(READER),
                &server.url("/api/v1/machines/web01/reinstall")
            ],
            &out
        ),
        401
    );
    // /status: counts for anyone, the machines with a token.
    assert_eq!(curl_status(&[&server.url("/status")], &out), 200);
    let summary = std::fs::read_to_string(&out).expect("body");
    assert!(summary.contains("4 machines"), "{summary}");
    for name in ["web01", "db01", "52:54:00"] {
        assert!(!summary.contains(name), "{name} in {summary}");
    }
    assert_eq!(
        curl_status(&["-H", &bearer(READER), &server.url("/status")], &out),
        200
    );
    assert!(
        std::fs::read_to_string(&out)
            .expect("body")
            .contains("web01")
    );
    // The token never reaches the log.
    assert!(!server.log().contains(READER), "{}", server.log());
}

#[test]
fn public_status_shows_the_machines_to_anyone() {
    let lab = lab();
    let server = Server::for_lab(&lab, &["--public-status"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body");
    assert_eq!(curl_status(&[&server.url("/status")], &out), 200);
    assert!(
        std::fs::read_to_string(&out)
            .expect("body")
            .contains("web01")
    );
    // The API still needs a token.
    assert_eq!(curl_status(&[&server.url("/api/v1/machines")], &out), 401);
}
