//! A machine's own menus (per-MAC pxelinux and GRUB configs, iPXE scripts) go only to the
//! machine's address, with real clients on loopback: tftp-hpa from 127.0.0.1 and curl,
//! whose `--interface` picks another loopback source address (127.0.0.2 and up), against
//! the render-lab inventory of `inventory.rs` (gw01 at 127.0.0.1, web01 and db01
//! acknowledged there, ub01 with no address).

use std::path::Path;
use std::process::{Command, Output};

use pxe_model::InstallState;
use pxe_model::state::{Phase, StateStore};

use crate::inventory::{Lab, now_ms, tftp_get};
use crate::support::{Server, assert_same, need, run};

const WEB01: &str = "pxelinux.cfg/01-52-54-00-12-34-56";
const GW01: &str = "pxelinux.cfg/01-52-54-00-77-00-01";
const UB01: &str = "52:54:00:ab:cd:10.ipxe";
/// ub01's script by its name: tftp-hpa's `get` reads `52:…` as a host name.
const UB01_BY_NAME: &str = "ub01.ipxe";

/// curl's exit status for a TFTP access violation (CURLE_TFTP_PERM).
const CURL_TFTP_PERM: i32 = 69;

/// Fetches `name` with curl from the loopback address `from`.
fn curl_from(server: &Server, from: &str, name: &str, out: &Path) -> Output {
    let curl = need("curl", "curl");
    run(Command::new(curl)
        .args(["-sS", "--interface", from, "-o"])
        .arg(out)
        .arg(format!("tftp://127.0.0.1:{}/{name}", server.port)))
}

/// Asserts that curl from `from` was refused `name` with an access violation, and that the
/// server logged it: the warning naming the machine, file and address, and the transfer's
/// line with its result. Returns the warning.
#[track_caller]
fn assert_refused(lab: &Lab, server: &Server, from: &str, name: &str, machine: &str) -> String {
    let out = lab
        .tree
        .out(&format!("refused-{from}-{}", name.replace('/', "_")));
    let o = curl_from(server, from, name, &out);
    assert_eq!(
        o.status.code(),
        Some(CURL_TFTP_PERM),
        "{from} {name}: curl said {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::read(&out).map_or(true, |b| b.is_empty()),
        "{from} {name}: bytes were sent"
    );
    server.wait_log(&[
        "transfer",
        &format!("client={from}:"),
        &format!("file={name}"),
        &format!("machine=\"{machine}\""),
        "result=refused: access violation: File is only for its machine's address",
        "error_code=2",
    ]);
    server.wait_log(&[
        "per-machine file refused",
        &format!("machine=\"{machine}\""),
        &format!("client={from}"),
        &format!("file={name}"),
        &format!("{from} is not the address of machine {machine}"),
    ])
}

/// Asserts that curl from `from` got exactly what pxe-model renders for `name`.
#[track_caller]
fn assert_served(lab: &Lab, server: &Server, from: &str, name: &str) {
    let out = lab
        .tree
        .out(&format!("served-{from}-{}", name.replace('/', "_")));
    let o = curl_from(server, from, name, &out);
    assert_same(
        &out,
        lab.rendered(name, InstallState::Pending).as_bytes(),
        &format!("{name} to {from}"),
        &o,
    );
    server.wait_log(&[
        "transfer",
        &format!("client={from}:"),
        &format!("file={name}"),
        "result=ok",
    ]);
}

/// The `refused` entries of a machine's timeline.
fn refusals(lab: &Lab, machine: &str) -> Vec<String> {
    lab.store()
        .events(machine, 100)
        .expect("events")
        .into_iter()
        .filter(|e| e.phase == Phase::Refused)
        .map(|e| e.detail)
        .collect()
}

#[test]
fn another_address_gets_error_2_a_log_line_and_a_timeline_entry() {
    let lab = Lab::new();
    let server = lab.start();
    // tftp-hpa from 127.0.0.1, which is not ub01's: the ERROR as tftp-hpa shows it.
    let out = lab.tree.out("ub01-script");
    let o = tftp_get(&server, UB01_BY_NAME, &out);
    let said =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("Error code 2: File is only for its machine's address"),
        "{said}"
    );
    let warning = server.wait_log(&[
        "per-machine file refused",
        "machine=\"ub01\"",
        "client=127.0.0.1",
        &format!("file={UB01_BY_NAME}"),
    ]);
    assert!(
        warning.contains("WARN")
            && warning.contains("127.0.0.1 is not the address of machine ub01")
            && warning.contains("acknowledged to it (none)"),
        "{warning}"
    );
    // curl from 127.0.0.2: web01's menu (acknowledged at 127.0.0.1) and db01's GRUB file.
    assert_refused(&lab, &server, "127.0.0.2", WEB01, "web01");
    let db01 = "grub/grub.cfg-01-52-54-00-ab-cd-02";
    assert_refused(&lab, &server, "127.0.0.2", db01, "db01");
    // The status page's timeline shows each refusal under the machine it was for.
    assert_eq!(
        refusals(&lab, "ub01"),
        [format!("refused {UB01_BY_NAME} to 127.0.0.1 over TFTP")]
    );
    assert_eq!(
        refusals(&lab, "web01"),
        [format!("refused {WEB01} to 127.0.0.2 over TFTP")]
    );
    assert_eq!(
        refusals(&lab, "db01"),
        [format!("refused {db01} to 127.0.0.2 over TFTP")]
    );
    // Files that are nobody's own still go to anyone.
    for name in ["pxelinux.cfg/default", "grub/grub.cfg", "boot.ipxe"] {
        assert_served(&lab, &server, "127.0.0.2", name);
    }
}

#[test]
fn the_machines_fixed_address_gets_its_file() {
    let lab = Lab::new();
    let server = lab.start();
    // gw01's fixed address is 127.0.0.1 and dhcpd never acknowledged it anything.
    assert_eq!(lab.store().acked_address("gw01").expect("acked"), None);
    let out = lab.tree.out("gw01-menu");
    let o = tftp_get(&server, GW01, &out);
    assert_same(
        &out,
        lab.rendered(GW01, InstallState::Pending).as_bytes(),
        "gw01's menu with tftp-hpa",
        &o,
    );
    server.wait_log(&[
        "transfer",
        &format!("file={GW01}"),
        "machine=\"gw01\"",
        "result=ok",
    ]);
    assert_served(&lab, &server, "127.0.0.1", GW01);
    assert_refused(&lab, &server, "127.0.0.2", GW01, "gw01");
    assert!(!server.log().iter().any(|l| l.contains("127.0.0.1 is not")));
}

#[test]
fn the_address_dhcpd_acknowledged_gets_the_file_and_only_the_last_one() {
    let lab = Lab::new();
    let server = lab.start();
    let store = lab.store();
    assert_refused(&lab, &server, "127.0.0.2", UB01, "ub01");
    // dhcpd acknowledges 127.0.0.2 to ub01: read on the next request, no reload.
    store
        .record_ack("ub01", [127, 0, 0, 2].into(), now_ms())
        .expect("ACK");
    assert_served(&lab, &server, "127.0.0.2", UB01);
    // A later ACK of another address: the old one is refused again.
    store
        .record_ack("ub01", [127, 0, 0, 3].into(), now_ms())
        .expect("ACK");
    assert_served(&lab, &server, "127.0.0.3", UB01);
    assert_refused(&lab, &server, "127.0.0.2", UB01, "ub01");
    server.wait_log(&[
        "per-machine file refused",
        "client=127.0.0.2",
        "acknowledged to it (127.0.0.3)",
    ]);
    assert_eq!(refusals(&lab, "ub01").len(), 2);
}

#[test]
fn a_listed_nat_gateway_gets_every_machines_files() {
    let lab = Lab::new();
    let text = std::fs::read_to_string(&lab.inventory).expect("read inventory");
    std::fs::write(
        &lab.inventory,
        text.replacen(
            "servers:\n",
            "servers:\n  tftp_nat_gateways: 127.0.0.4\n",
            1,
        ),
    )
    .expect("write inventory");
    let server = lab.start();
    for (name, machine) in [
        (WEB01, "web01"),
        (GW01, "gw01"),
        (UB01, "ub01"),
        ("grub/grub.cfg-01-52-54-00-ab-cd-02", "db01"),
    ] {
        assert_served(&lab, &server, "127.0.0.4", name);
        assert_refused(&lab, &server, "127.0.0.5", name, machine);
    }
    for machine in ["web01", "gw01", "ub01", "db01"] {
        let refused = refusals(&lab, machine);
        assert!(
            refused.len() == 1 && refused[0].ends_with(" to 127.0.0.5 over TFTP"),
            "{machine}: {refused:?}"
        );
    }
}

#[test]
fn without_a_state_dir_only_fixed_addresses_are_served() {
    let lab = Lab::new();
    let server = Server::start(&[
        "--inventory",
        &lab.inventory.display().to_string(),
        "-s",
        &lab.tree.root.display().to_string(),
    ]);
    // web01 was acknowledged 127.0.0.1, but without the state directory nobody can know.
    let o = tftp_get(&server, WEB01, &lab.tree.out("web01"));
    let said =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("Error code 2"), "{said}");
    let warning = server.wait_log(&["per-machine file refused", "machine=\"web01\""]);
    assert!(warning.contains("without --state-dir"), "{warning}");
    assert_served(&lab, &server, "127.0.0.1", GW01);
}
