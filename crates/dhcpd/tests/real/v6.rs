//! `dhcpd -6` against ISC's `dhclient -6` in the lab namespaces: a host known by its
//! DUID gets its fixed-address6 and its own bootfile-url, another client an address from
//! range6 and the global URL; the bindings are in dhcpd6.leases in ISC's format, and after a
//! restart the server still knows them (the next client gets the next address).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{Lab, need, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn addrs(ns: &str, dev: &str) -> String {
    let out = Command::new(need("ip", "iproute2"))
        .args(["-n", ns, "-6", "addr", "show", "dev", dev])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `dev` has a link-local address that passed duplicate address detection.
fn wait_link_local(ns: &str, dev: &str) {
    assert!(
        wait_for(Duration::from_secs(20), || {
            let a = addrs(ns, dev);
            a.contains("fe80") && !a.contains("tentative")
        }),
        "{dev} in {ns}: no usable link-local address:\n{}",
        addrs(ns, dev)
    );
}

fn conf(net: u8) -> String {
    format!(
        r#"default-lease-time 3600;
preferred-lifetime 1800;
option dhcp6.bootfile-url "http://[fd00:77:{net}::1]:8080/loaders/ipxe.efi";
subnet6 fd00:77:{net}::/64 {{
  range6 fd00:77:{net}::100 fd00:77:{net}::1ff;
}}
host web01 {{
  host-identifier option dhcp6.client-id 00:03:00:01:52:54:00:77:00:71;
  fixed-address6 fd00:77:{net}::10;
  option dhcp6.bootfile-url "tftp://[fd00:77:{net}::1]/host.efi";
}}
"#
    )
}

/// Runs `dhclient -6` (DUID-LL from `mac`) until it is bound; its events and lease file.
fn client(lab: &Lab, mac: &str, tag: &str) -> (String, String) {
    let dhclient = need("dhclient", "isc-dhcp-client");
    lab.set_client_mac(mac);
    wait_link_local(&lab.cli, "c0");
    let events = lab.path(&format!("{tag}.events"));
    let script = lab.path(&format!("{tag}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason ip6=$new_ip6_address url=$new_dhcp6_bootfile_url\" >> {}\nexit 0\n",
            events.display()
        ),
    )
    .expect("script");
    crate::support::run(Command::new("chmod").arg("755").arg(&script));
    let cconf = lab.path(&format!("{tag}.conf"));
    std::fs::write(&cconf, "also request dhcp6.bootfile-url;\n").expect("conf");
    let cleases: PathBuf = lab.path(&format!("{tag}.leases"));
    std::fs::write(&cleases, "").expect("leases");
    let paths = [
        ("-cf", &cconf),
        ("-lf", &cleases),
        ("-pf", &lab.path(&format!("{tag}.pid"))),
        ("-sf", &script),
    ];
    let mut argv: Vec<String> = ["-6", "-d", "-v", "-D", "LL"].map(String::from).to_vec();
    for (f, p) in paths {
        argv.push(f.into());
        argv.push(p.display().to_string());
    }
    argv.push("c0".into());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let proc = lab.spawn(&lab.cli, &dhclient, &argv, &format!("{tag}.log"));
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        wait_for(WAIT, || read().contains("BOUND6")),
        "{tag}: not bound; dhclient:\n{}\nserver:\n{}",
        proc.log(),
        std::fs::read_to_string(lab.path("dhcpd.log")).unwrap_or_default()
    );
    drop(proc);
    (
        read(),
        std::fs::read_to_string(&cleases).unwrap_or_default(),
    )
}

#[test]
fn v6_dhclient_gets_host_and_range_addresses_and_urls_kept_over_restart() {
    let lab = Lab::new();
    let n = lab.net;
    let global = format!("fd00:77:{n}::1/64");
    crate::support::run(
        Command::new(need("ip", "iproute2"))
            .args(["-n", &lab.srv, "addr", "add", &global, "dev", "s0", "nodad"]),
    );
    wait_link_local(&lab.srv, "s0");
    let server = lab.start_ours(&conf(n), &["-6"]);

    let (ev, leases) = client(&lab, "52:54:00:77:00:71", "host");
    assert!(
        ev.contains(&format!(
            "ip6=fd00:77:{n}::10 url=tftp://[fd00:77:{n}::1]/host.efi"
        )),
        "{ev}"
    );
    assert!(leases.contains("dhcp6.bootfile-url"), "{leases}");

    let (ev, _) = client(&lab, "52:54:00:77:00:72", "range");
    assert!(
        ev.contains(&format!(
            "ip6=fd00:77:{n}::100 url=http://[fd00:77:{n}::1]:8080/loaders/ipxe.efi"
        )),
        "{ev}"
    );
    let ours = std::fs::read_to_string(lab.path("dhcpd.leases")).expect("dhcpd6.leases");
    assert!(ours.contains("server-duid \""), "{ours}");
    assert!(
        ours.contains(&format!("iaaddr fd00:77:{n}::100 {{")),
        "{ours}"
    );
    assert!(ours.contains("binding state active;"), "{ours}");
    assert!(ours.contains("max-life 3600;"), "{ours}");
    let duid_line = ours
        .lines()
        .find(|l| l.starts_with("server-duid"))
        .map(str::to_owned);
    drop(server);

    // Restarted: the bindings and the server DUID are read back.
    let _server = lab.start_ours(&conf(n), &["-6"]);
    let (ev, _) = client(&lab, "52:54:00:77:00:73", "after-restart");
    assert!(ev.contains(&format!("ip6=fd00:77:{n}::101 ")), "{ev}");
    let ours = std::fs::read_to_string(lab.path("dhcpd.leases")).expect("dhcpd6.leases");
    assert_eq!(
        ours.lines()
            .find(|l| l.starts_with("server-duid"))
            .map(str::to_owned),
        duid_line
    );
}

/// ISC's own `dhcpd -6 -T` reads the configuration this test uses and a lease file written
/// by our writer, and counts its IA_NA (no namespaces needed).
#[test]
fn v6_isc_reads_our_conf_and_lease_records() {
    use dhcpd::v6::leases::{self, Binding, State};
    let isc = need("dhcpd", "isc-dhcp-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let cf = dir.path().join("dhcpd6.conf");
    std::fs::write(&cf, conf(1)).expect("conf");
    assert!(dhcpd::v6::conf::parse(&conf(1)).is_ok());
    let mut text = leases::server_duid_line(&dhcpd::v6::duid::llt(
        [0x52, 0x54, 0, 0x77, 0, 0x70],
        1_796_536_800,
    ));
    for (i, state) in [(7u8, State::Active), (8, State::Released)] {
        // A DUID-LL with bytes that need escaping: '"', '\' and non-printables.
        let key = leases::key([0, 0, 0, i], &[0, 3, 0, 1, b'"', b'\\', 0, 0x77, 0, i]);
        let b = Binding {
            addr: format!("fd00:77:1::{:x}", 0x100 + u16::from(i))
                .parse()
                .expect("addr"),
            state,
            cltt: 1_796_536_800,
            preferred: 1800,
            valid: 3600,
            ends: 1_796_540_400,
        };
        text.push_str(&leases::record(&key, &b));
    }
    let lf = dir.path().join("dhcpd6.leases");
    std::fs::write(&lf, &text).expect("leases");
    let out = Command::new(isc)
        .args(["-6", "-T", "-cf"])
        .arg(&cf)
        .arg("-lf")
        .arg(&lf)
        .output()
        .expect("ISC dhcpd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{text}");
    // ISC keeps the active binding and drops the released one when it rewrites the file.
    assert!(
        err.contains("Wrote 1 NA, 0 TA, 0 PD leases"),
        "{err}\n{text}"
    );
    assert!(!err.contains("No pool found"), "{err}\n{text}");
    // And ours reads back what it wrote.
    let t = leases::parse(&text).expect("ours");
    assert_eq!(t.ias.len(), 2);
}
