//! The shell around the core: reload on SIGHUP (a bad file is refused, the old one keeps
//! serving), clean exit on SIGTERM, one socket for every interface learning the arrival
//! interface, privileges dropped after binding, the metrics file, boot events of inventory
//! machines.

use std::time::Duration;

use crate::support::{Lab, need, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// One DORA with udhcpc (exits after the lease with -q); returns its output.
pub(crate) fn one_lease(lab: &Lab, extra: &[&str]) -> String {
    one_lease_in(lab, &lab.cli, extra)
}

fn one_lease_in(lab: &Lab, ns: &str, extra: &[&str]) -> String {
    let busybox = need("busybox", "busybox");
    let script = lab.path("quiet.sh");
    if !script.exists() {
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"$1 ip=$ip boot_file=$boot_file siaddr=$siaddr\"\nexit 0\n",
        )
        .unwrap();
        crate::support::run(std::process::Command::new("chmod").arg("755").arg(&script));
    }
    let s = script.display().to_string();
    let mut args = vec![
        "udhcpc", "-q", "-f", "-n", "-t", "4", "-T", "2", "-i", "c0", "-s", &s,
    ];
    args.extend_from_slice(extra);
    let out = lab.cmd(ns, &busybox).args(&args).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) fn simple(lab: &Lab, domain: &str) -> String {
    format!(
        "authoritative;\nsubnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; option domain-name \"{domain}\"; filename \"{domain}.0\"; }}\n",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(20),
    )
}

#[test]
fn sighup_reloads_and_a_bad_file_is_refused() {
    let lab = Lab::new();
    let mut server = lab.start_ours(&simple(&lab, "first"), &[]);
    let out = one_lease(&lab, &[]);
    assert!(out.contains("boot_file=first.0"), "{out}");
    std::fs::write(lab.path("dhcpd.conf"), simple(&lab, "second")).unwrap();
    server.signal("HUP");
    assert!(
        server.wait_log("configuration reloaded", WAIT),
        "{}",
        server.log()
    );
    let out = one_lease(&lab, &[]);
    assert!(out.contains("boot_file=second.0"), "{out}");
    // A broken file: the error is reported and the previous configuration keeps serving.
    std::fs::write(
        lab.path("dhcpd.conf"),
        "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.1 10.0.0.5 }\n",
    )
    .unwrap();
    server.signal("HUP");
    assert!(
        server.wait_log("configuration reload refused", WAIT),
        "{}",
        server.log()
    );
    assert!(
        server.log().contains("semicolon expected."),
        "{}",
        server.log()
    );
    let out = one_lease(&lab, &[]);
    assert!(out.contains("boot_file=second.0"), "{out}");
    // The leases were not touched by the reloads.
    assert!(lab.leases().get(lab.ip(10)).is_some());
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    assert!(!lab.path("dhcpd.pid").exists(), "PID file left behind");
}

#[test]
fn privileges_are_dropped_after_binding_and_metrics_are_written() {
    let lab = Lab::new();
    crate::support::run(
        std::process::Command::new("chmod")
            .arg("777")
            .arg(lab.dir.path()),
    );
    let metrics = lab.path("dhcpd.prom");
    let m = metrics.display().to_string();
    let server = lab.start_ours(
        &simple(&lab, "priv"),
        &["-user", "nobody", "-group", "nogroup", "--metrics-file", &m],
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == nobody.to_string()),
        "{uid_line}"
    );
    let out = one_lease(&lab, &[]);
    assert!(
        out.contains(&format!("ip={}", lab.ip(10))),
        "{out}\n{}",
        server.log()
    );
    // Written as nobody after the drop: the ACK went to disk.
    assert!(lab.leases().get(lab.ip(10)).is_some(), "{}", server.log());
    assert!(
        wait_for(WAIT, || std::fs::read_to_string(&metrics)
            .is_ok_and(|t| t.contains("dhcpd_sent_total{type=\"ack\"} 1"))),
        "{:?}",
        std::fs::read_to_string(&metrics)
    );
    let t = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        t.contains("dhcpd_received_total{type=\"discover\"} 1"),
        "{t}"
    );
    assert!(t.contains("dhcpd_pool_leases_active{pool=\""), "{t}");
}

#[test]
fn inventory_machines_get_their_boot_file_and_a_boot_event() {
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:77:00:10");
    let inv = write_bios_vm_inventory(&lab);
    let state = lab.path("state");
    let (i, s) = (inv.display().to_string(), state.display().to_string());
    let server = lab.start_ours(
        &simple(&lab, "conf"),
        &["--inventory", &i, "--state-dir", &s],
    );
    let out = one_lease(
        &lab,
        &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"],
    );
    assert!(
        out.contains("boot_file=pxelinux.0"),
        "{out}\n{}",
        server.log()
    );
    assert!(out.contains(&format!("siaddr={}", lab.ip(5))), "{out}");
    let events = state.join("events/bios-vm.jsonl");
    assert!(
        wait_for(WAIT, || std::fs::read_to_string(&events)
            .is_ok_and(|t| t.contains("dhcp"))),
        "no boot event: {:?}\n{}",
        std::fs::read_to_string(&events),
        server.log()
    );
    let t = std::fs::read_to_string(&events).unwrap();
    assert!(
        t.contains(&format!("DHCPACK {} pxelinux.0", lab.ip(10))),
        "{t}"
    );
}

/// An inventory with one BIOS machine, bios-vm (52:54:00:77:00:10), booting pxelinux from
/// the lab's .5: its path.
pub(crate) fn write_bios_vm_inventory(lab: &Lab) -> std::path::PathBuf {
    let inv = lab.path("inventory.yaml");
    std::fs::write(
        &inv,
        format!(
            "servers:\n  tftp: {tftp}\n  http: http://{tftp}:8080\nunknown_machines: menu\n\
             loaders:\n  bios: pxelinux.0\n  uefi_x64: grubnetx64.efi\n  ipxe_bios: undionly.kpxe\n  ipxe_uefi: ipxe.efi\n\
             distros:\n  deb:\n    arch: x86_64\n    family: debian\n    tree: trees/deb\n    kernel: linux\n    initrd: initrd.gz\n\
             profiles:\n  classic:\n    distro: deb\n    chain: classic\n\
             machines:\n  bios-vm:\n    mac: 52:54:00:77:00:10\n    profile: classic\n",
            tftp = lab.ip(5)
        ),
    )
    .unwrap();
    inv
}

#[test]
fn one_socket_for_all_interfaces_answers_on_the_arrival_interface() {
    let mut lab = Lab::new();
    let second = lab.add_link();
    let conf = format!(
        "authoritative;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; filename \"first.0\"; }}
subnet 10.201.{n}.0 netmask 255.255.255.0 {{ range 10.201.{n}.10 10.201.{n}.20; filename \"second.0\"; }}
",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(20),
    );
    let server = lab.start_ours(&conf, &["--all-interfaces"]);
    assert!(server.log().contains("all interfaces"), "{}", server.log());
    let out = one_lease_in(&lab, &lab.cli, &[]);
    assert!(
        out.contains(&format!("ip={} boot_file=first.0", lab.ip(10))),
        "{out}\n{}",
        server.log()
    );
    let out = one_lease_in(&lab, &second, &[]);
    assert!(
        out.contains(&format!("ip=10.201.{}.10 boot_file=second.0", lab.net)),
        "{out}\n{}",
        server.log()
    );
    assert!(server.log().contains("via s1"), "{}", server.log());
}

#[test]
fn clients_without_an_address_get_link_layer_unicast() {
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:42:00:09");
    let server = lab.start_ours(&simple(&lab, "uni"), &[]);
    let (cap, pcap) = lab.capture_dhcp("uni");
    let out = one_lease(&lab, &[]);
    assert!(
        out.contains(&format!("ip={}", lab.ip(10))),
        "{out}\n{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    let seen = crate::support::read_pcap(&pcap);
    let offer = seen
        .iter()
        .find(|s| s.msg_type == Some(2))
        .expect("an OFFER in the capture");
    assert_eq!(offer.flags & 0x8000, 0);
    assert_eq!(offer.eth_dst, [0x52, 0x54, 0, 0x42, 0, 9], "{offer:?}");
    assert_eq!(offer.ip_dst, lab.ip(10), "{offer:?}");
    assert_eq!(offer.dport, 68);
    let ack = seen
        .iter()
        .find(|s| s.msg_type == Some(5))
        .expect("an ACK in the capture");
    assert_eq!(ack.eth_dst, [0x52, 0x54, 0, 0x42, 0, 9], "{ack:?}");
}

#[test]
fn another_port_with_dash_p() {
    let dhclient = need("dhclient", "isc-dhcp-client");
    let lab = Lab::new();
    let server = lab.start_ours(&simple(&lab, "port"), &["-p", "1067"]);
    let events = lab.path("port.events");
    let script = lab.path("port.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason ip=$new_ip_address file=$new_filename\" >> {}\nexit 0\n",
            events.display()
        ),
    )
    .unwrap();
    crate::support::run(std::process::Command::new("chmod").arg("755").arg(&script));
    let leases = lab.path("port.leases");
    std::fs::write(&leases, "").unwrap();
    // dhclient on port 1068 sends to port 1067 (ours with -p 1067; replies go to 1068).
    let (sc, lf, pf) = (
        script.display().to_string(),
        leases.display().to_string(),
        lab.path("port.pid").display().to_string(),
    );
    let client = lab.spawn(
        &lab.cli,
        &dhclient,
        &[
            "-d", "-1", "-p", "1068", "-sf", &sc, "-lf", &lf, "-pf", &pf, "c0",
        ],
        "port-dhclient.log",
    );
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        wait_for(WAIT, || read().contains("BOUND")),
        "{}\n{}\n{}",
        read(),
        client.log(),
        server.log()
    );
    assert!(
        read().contains(&format!("BOUND ip={} file=port.0", lab.ip(10))),
        "{}",
        read()
    );
}

#[test]
fn without_dash_f_it_detaches_and_writes_its_pid() {
    let lab = Lab::new();
    std::fs::write(lab.path("dhcpd.conf"), simple(&lab, "daemon")).unwrap();
    std::fs::write(lab.path("dhcpd.leases"), "").unwrap();
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dhcpd"));
    let (cf, lf, pf) = (
        lab.path("dhcpd.conf"),
        lab.path("dhcpd.leases"),
        lab.path("daemon.pid"),
    );
    let out = lab
        .cmd(&lab.srv, &bin)
        .args(["-q", "-cf"])
        .arg(&cf)
        .arg("-lf")
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg("s0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_for(WAIT, || std::fs::read_to_string(&pf)
        .is_ok_and(|t| !t.trim().is_empty())));
    let pid: u32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The detached server is ours to stop, by the PID it wrote.
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .arg(self.0.to_string())
                .status();
        }
    }
    let _stop = Stop(pid);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let out = one_lease(&lab, &[]);
    assert!(out.contains("boot_file=daemon.0"), "{out}");
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    assert!(
        wait_for(WAIT, || !pf.exists()),
        "PID file left after SIGTERM"
    );
}

/// JSON log lines carry each exchange's fields: `jq` picks out what one machine asked and got
/// by its MAC, and another client's lines are not among them.
#[test]
fn json_log_lines_can_be_filtered_by_mac_with_jq() {
    let jq = need("jq", "jq");
    let lab = Lab::new();
    let mut server = lab.start_ours_env(&simple(&lab, "json"), &[], &[("PXE_LOG_FORMAT", "json")]);
    lab.set_client_mac("52:54:00:aa:bb:01");
    let first = one_lease(&lab, &[]);
    assert!(first.contains("boot_file=json.0"), "{first}");
    lab.set_client_mac("52:54:00:aa:bb:02");
    let second = one_lease(&lab, &[]);
    assert!(second.contains("boot_file=json.0"), "{second}");
    assert!(server.wait_log("DHCPACK on", WAIT), "{}", server.log());
    let select = |mac: &str| {
        let filter = format!(
            "fromjson? | select(.mac == \"{mac}\") | [.message_type, .reason, .address, .xid, .iface] | @tsv"
        );
        let out = std::process::Command::new(&jq)
            .args(["-r", "-R", &filter])
            .arg(lab.path("dhcpd.log"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let one = select("52:54:00:aa:bb:01");
    let lines: Vec<&str> = one.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("DHCPDISCOVER\tOffer\t")),
        "{one}\n{}",
        server.log()
    );
    assert!(
        lines.iter().any(|l| l.starts_with("DHCPREQUEST\tAck\t")),
        "{one}\n{}",
        server.log()
    );
    assert!(lines.iter().all(|l| l.ends_with("\ts0")), "{one}");
    let (mine, other) = (leased(&first), leased(&second));
    assert!(one.contains(&format!("\t{mine}\t")), "{one} vs {first}");
    assert!(
        mine != other && !one.contains(&format!("\t{other}\t")),
        "{one}"
    );
    assert!(!select("52:54:00:aa:bb:02").is_empty());
    server.signal("TERM");
    let _ = server.wait_exit(WAIT);
}

/// The address udhcpc's script reported when bound (`bound ip=…`).
fn leased(udhcpc_out: &str) -> String {
    udhcpc_out
        .lines()
        .filter(|l| l.starts_with("bound "))
        .flat_map(str::split_whitespace)
        .find_map(|w| w.strip_prefix("ip="))
        .unwrap_or("no address")
        .to_owned()
}

/// The syslog datagrams `sock` has received so far (waits up to `limit` for the first).
fn syslog_lines(sock: &std::os::unix::net::UnixDatagram, limit: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    lines
}

#[test]
fn log_facility_names_the_syslog_facility_of_every_line() {
    let lab = Lab::new();
    let socket_path = lab.path("syslog.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    let conf = format!("log-facility local7;\n{}", simple(&lab, "seven"));
    let socket_text = socket_path.display().to_string();
    let mut server = lab.start_ours_env(&conf, &[], &[("DHCPD_SYSLOG_SOCKET", &socket_text)]);
    let out = one_lease(&lab, &[]);
    assert!(out.contains("boot_file=seven.0"), "{out}");
    assert!(server.wait_log("DHCPACK", WAIT), "{}", server.log());
    let lines = syslog_lines(&syslog, WAIT);
    server.signal("TERM");
    server.wait_exit(WAIT);
    // local7 is facility 23: PRI 23 * 8 + 6 (info) = 190, where daemon would give 30.
    let ack = lines
        .iter()
        .find(|l| l.contains("DHCPACK on"))
        .unwrap_or_else(|| panic!("no DHCPACK line in syslog: {lines:?}"));
    assert!(ack.starts_with("<190>dhcpd["), "{ack}");
    let facility = |line: &str| -> Option<u32> {
        let pri = line.strip_prefix('<')?.split_once('>')?.0;
        Some(pri.parse::<u32>().ok()? >> 3)
    };
    assert!(
        lines.iter().all(|l| facility(l) == Some(23)),
        "a line in another facility: {lines:?}"
    );
}

/// A machine added beside the inventory after the start (a file of its machines_dir, as
/// httpd-tree's API writes it) gets its fixed address: dhcpd watches the directory and
/// reloads, with no signal.
#[test]
fn a_machine_added_to_machines_dir_is_served_without_a_signal() {
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:77:00:11");
    let inv = lab.path("inventory.yaml");
    std::fs::write(
        &inv,
        format!(
            "servers:\n  tftp: {tftp}\n  http: http://{tftp}:8080\n\
             loaders:\n  bios: pxelinux.0\n\
             distros:\n  deb:\n    arch: x86_64\n    family: debian\n    tree: trees/deb\n    kernel: linux\n    initrd: initrd.gz\n\
             profiles:\n  classic:\n    distro: deb\n    chain: classic\n\
             machines_dir: machines.d\n",
            tftp = lab.ip(5)
        ),
    )
    .unwrap();
    let state = lab.path("state");
    let (i, s) = (inv.display().to_string(), state.display().to_string());
    let server = lab.start_ours(
        &simple(&lab, "conf"),
        &["--inventory", &i, "--state-dir", &s],
    );
    let loaded = pxe_model::load(&inv).unwrap();
    let body = serde_json::json!({
        "name": "added-vm", "mac": "52:54:00:77:00:11", "profile": "classic",
        "address": lab.ip(42).to_string(),
    });
    let spec = pxe_model::machine_dir::spec_from_json(&loaded, &body, None).unwrap();
    pxe_model::machine_dir::write(&lab.path("machines.d"), &spec).unwrap();
    assert!(
        wait_for(WAIT, || server.log().contains("configuration reloaded")),
        "{}",
        server.log()
    );
    let out = one_lease(
        &lab,
        &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"],
    );
    assert!(
        out.contains(&format!("ip={} boot_file=pxelinux.0", lab.ip(42))),
        "{out}\n{}",
        server.log()
    );
}
