//! The Redfish driver against a small HTTP peer written here: no Redfish service runs on
//! this machine (sushy-tools needs libvirt), so this checks what httpd-tree (through curl)
//! really sends over a socket: the URLs, methods, bodies and Basic credentials, and that a
//! refusal (401) becomes a 502. It is not a real BMC; docs/power.md says so.

use crate::support::{ADMIN_TOKEN, Server, curl_status, lab};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "lab-redfish-pw-6a1f";
/// base64("root:lab-redfish-pw-6a1f")
const BASIC: &str = "Basic cm9vdDpsYWItcmVkZmlzaC1wdy02YTFm";

/// What the peer was asked: `METHOD PATH BODY`.
type Log = Arc<Mutex<Vec<String>>>;

/// A Redfish-shaped peer with one system whose power it keeps.
fn peer() -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut on = false;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let mut parts = first.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            seen.lock()
                .expect("log")
                .push(format!("{method} {path} {body}"));
            let (status, answer) = if auth != BASIC {
                (
                    "401 Unauthorized",
                    "{\"error\":\"bad credentials\"}".to_owned(),
                )
            } else {
                match (method.as_str(), path.as_str()) {
                    ("GET", "/redfish/v1/Systems/1") => (
                        "200 OK",
                        format!(
                            "{{\"Id\":\"1\",\"PowerState\":\"{}\"}}",
                            if on { "On" } else { "Off" }
                        ),
                    ),
                    ("POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset") => {
                        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                        match v["ResetType"].as_str() {
                            Some("On" | "ForceRestart") => on = true,
                            Some("ForceOff") => on = false,
                            _ => {}
                        }
                        ("204 No Content", String::new())
                    }
                    ("PATCH", "/redfish/v1/Systems/1") => ("200 OK", "{}".to_owned()),
                    _ => ("404 Not Found", "{}".to_owned()),
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (port, log)
}

#[test]
fn redfish_driver_speaks_to_a_redfish_shaped_peer() {
    let lab = lab();
    let (port, log) = peer();
    let good = lab.path("rf-good.pw");
    std::fs::write(&good, format!("{PASSWORD}\n")).expect("pw");
    let bad = lab.path("rf-bad.pw");
    std::fs::write(&bad, "wrong-redfish-pw\n").expect("pw");
    let power = |pw: &std::path::Path| {
        format!(
            "    power:\n      driver: redfish\n      address: http://127.0.0.1:{port}\n      \
             username: root\n      password_file: {}\n",
            pw.display()
        )
    };
    let text = std::fs::read_to_string(&lab.inventory).expect("inventory");
    let text = text
        .replace(
            "    profile: centos7-ks\n  db01:",
            &format!("    profile: centos7-ks\n{}  db01:", power(&good)),
        )
        .replace(
            "    profile: debian12-preseed\n",
            &format!("    profile: debian12-preseed\n{}", power(&bad)),
        );
    std::fs::write(&lab.inventory, text).expect("inventory");
    let server = Server::for_lab(&lab, &[]);
    let out = lab.path("answer.json");
    let post = |path: &str, body: &str| {
        let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
        let url = server.url(path);
        let s = curl_status(
            &[
                "-X",
                "POST",
                "-H",
                &auth,
                "-H",
                "Content-Type: application/json",
                "--data",
                body,
                &url,
            ],
            &out,
        );
        (s, std::fs::read_to_string(&out).unwrap_or_default())
    };
    let power_of = |b: &str| {
        serde_json::from_str::<serde_json::Value>(b).expect("json")["power"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let (s, b) = post("/api/v1/machines/web01/power", "{\"action\":\"status\"}");
    assert_eq!((s, power_of(&b).as_str()), (200, "off"), "{b}");
    let (s, b) = post("/api/v1/machines/web01/power", "{\"action\":\"cycle\"}");
    assert_eq!(
        (s, power_of(&b).as_str()),
        (200, "on"),
        "a cycle of an off system is On: {b}"
    );
    let (s, b) = post("/api/v1/machines/web01/reinstall", "{\"power_cycle\":true}");
    assert_eq!((s, power_of(&b).as_str()), (200, "on"), "{b}");
    let (s, b) = post("/api/v1/machines/web01/power", "{\"action\":\"off\"}");
    assert_eq!((s, power_of(&b).as_str()), (200, "off"), "{b}");
    let asked = log.lock().expect("log").clone();
    let has = |want: &str| asked.iter().any(|l| l == want);
    let reset = "POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset";
    assert!(
        has(&format!("{reset} {{\"ResetType\":\"On\"}}")),
        "{asked:#?}"
    );
    assert!(
        has(&format!("{reset} {{\"ResetType\":\"ForceRestart\"}}")),
        "{asked:#?}"
    );
    assert!(
        has(&format!("{reset} {{\"ResetType\":\"ForceOff\"}}")),
        "{asked:#?}"
    );
    assert!(
        has(
            "PATCH /redfish/v1/Systems/1 {\"Boot\":{\"BootSourceOverrideEnabled\":\"Once\",\"BootSourceOverrideTarget\":\"Pxe\"}}"
        ),
        "{asked:#?}"
    );
    // The PXE override comes before the restart.
    let patch = asked.iter().position(|l| l.starts_with("PATCH"));
    let restart = asked.iter().position(|l| l.contains("ForceRestart"));
    assert!(patch < restart, "{asked:#?}");

    let (s, b) = post("/api/v1/machines/db01/power", "{\"action\":\"on\"}");
    assert_eq!(s, 502, "{b}");
    assert!(b.contains("401"), "the peer's refusal is named: {b}");
    assert!(
        !b.contains("wrong-redfish-pw") && !server.log().contains(PASSWORD),
        "{b}"
    );
}
