//! Power control against a real BMC: OpenIPMI's `ipmi_sim` on a loopback UDP port,
//! spoken to by the real `ipmitool -I lanplus` that httpd-tree runs. The simulated
//! chassis's power and boot device are handled by a `chassis_control` script of the
//! test, which keeps them in files: the test reads the state the BMC really set, not
//! what httpd-tree says it set.

use crate::bmc_sim::{Bmc, PASSWORD};
use crate::support::{ADMIN_TOKEN, Server, curl_status, lab};
use std::path::Path;
use std::process::Command;

const WRONG_PASSWORD: &str = "not-the-bmc-pw-81d2";

/// `POST` with the admin token and a JSON body: the status and the body.
fn post(server: &Server, path: &str, body: &str, out: &Path, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec![
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        body,
    ];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    let url = server.url(path);
    args.push(&url);
    let status = curl_status(&args, out);
    (status, std::fs::read_to_string(out).unwrap_or_default())
}

fn field(body: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    match &v[key] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn power_control_through_ipmi_sim() {
    let lab = lab();
    let bmc = Bmc::start(&lab.path("bmc"));
    let good_pw = lab.path("bmc-web01.pw");
    std::fs::write(&good_pw, format!("{PASSWORD}\n")).expect("pw");
    let bad_pw = lab.path("bmc-db01.pw");
    std::fs::write(&bad_pw, format!("{WRONG_PASSWORD}\n")).expect("pw");
    let power = |pw: &Path| {
        format!(
            "    power:\n      driver: ipmi\n      address: 127.0.0.1\n      port: {}\n      \
             cipher_suite: 3\n      username: admin\n      password_file: {}\n",
            bmc.port,
            pw.display()
        )
    };
    let text = std::fs::read_to_string(&lab.inventory).expect("inventory");
    let text = text
        .replace(
            "    profile: centos7-ks\n  db01:",
            &format!("    profile: centos7-ks\n{}  db01:", power(&good_pw)),
        )
        .replace(
            "    profile: debian12-preseed\n",
            &format!("    profile: debian12-preseed\n{}", power(&bad_pw)),
        );
    std::fs::write(&lab.inventory, text).expect("inventory");
    let server = Server::for_lab(&lab, &[]);
    let out = lab.path("answer.json");
    let act = |machine: &str, action: &str| {
        post(
            &server,
            &format!("/api/v1/machines/{machine}/power"),
            &format!("{{\"action\":\"{action}\"}}"),
            &out,
            Some(ADMIN_TOKEN),
        )
    };

    let (s, b) = act("web01", "status");
    assert_eq!((s, field(&b, "power").as_str()), (200, "off"), "{b}");
    let (s, b) = act("web01", "on");
    assert_eq!(s, 200, "{b}");
    assert_eq!(field(&b, "power"), "on", "{b}");
    assert_eq!(field(&b, "action"), "on");
    assert_eq!(bmc.chassis("power"), "1", "the BMC was not switched on");
    let (s, b) = act("web01", "off");
    assert_eq!((s, field(&b, "power").as_str()), (200, "off"), "{b}");
    assert_eq!(bmc.chassis("power"), "0");

    // Reinstall with a power cycle of a running machine: next boot pxe, off, on.
    act("web01", "on");
    let before = bmc.calls().lines().count();
    let (s, b) = post(
        &server,
        "/api/v1/machines/web01/reinstall",
        "{\"power_cycle\": true}",
        &out,
        Some(ADMIN_TOKEN),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(field(&b, "state"), "pending", "{b}");
    assert_eq!(field(&b, "power"), "on", "{b}");
    assert_eq!(
        bmc.chassis("boot"),
        "pxe",
        "next boot not set to the network"
    );
    let calls: Vec<String> = bmc
        .calls()
        .lines()
        .skip(before)
        .map(str::to_owned)
        .collect();
    let pos = |c: &str| calls.iter().position(|l| l == c);
    let (boot, off, on) = (
        pos("0x20 set boot pxe"),
        pos("0x20 set power 0"),
        pos("0x20 set power 1"),
    );
    assert!(
        boot.is_some() && off > boot && on > off,
        "expected boot pxe, power off, power on in that order: {calls:?}"
    );
    assert_eq!(bmc.chassis("power"), "1");

    // The actions are on the machine's timeline.
    let o = Command::new("curl")
        .args(["-s", "-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .arg(server.url("/api/v1/machines/web01"))
        .output()
        .expect("curl");
    let machine = String::from_utf8_lossy(&o.stdout);
    assert!(
        machine.contains("\"power\""),
        "no power line on the timeline: {machine}"
    );
    assert!(machine.contains("power on by the operator"), "{machine}");
    assert!(
        machine.contains("reinstall: next boot from the network"),
        "{machine}"
    );

    // Wrong BMC password: 502 saying what ipmitool said, and no password anywhere.
    let (s, b) = act("db01", "status");
    assert_eq!(s, 502, "{b}");
    assert!(b.contains("ipmitool failed") && b.contains("RMCP+"), "{b}");
    for text in [&b, &server.log()] {
        assert!(
            !text.contains(WRONG_PASSWORD) && !text.contains(PASSWORD),
            "a password leaked: {text}"
        );
    }

    // Refusals.
    assert_eq!(act("ub01", "on").0, 409);
    assert_eq!(act("web01", "reboot").0, 422);
    assert_eq!(act("nosuch", "on").0, 404);
    let (s, _) = post(
        &server,
        "/api/v1/machines/web01/power",
        "{\"action\":\"off\"}",
        &out,
        None,
    );
    assert_eq!(s, 401);
    let (s, _) = post(
        &server,
        "/api/v1/machines/web01/power",
        "{\"action\":\"off\"}",
        &out,
        Some("wrong-token"),
    );
    assert_eq!(s, 401);
    assert_eq!(
        bmc.chassis("power"),
        "1",
        "a refused request switched the machine"
    );
    let (s, _) = post(
        &server,
        "/api/v1/machines/ub01/reinstall",
        "{\"power_cycle\": true}",
        &out,
        Some(ADMIN_TOKEN),
    );
    assert_eq!(s, 409);
}
