//! ISC dhclient and busybox udhcpc: a lease with the right options, a renewal, a release.

use std::time::Duration;

use crate::support::{Lab, need};

const WAIT: Duration = Duration::from_secs(30);

fn conf(lab: &Lab) -> String {
    format!(
        "authoritative;
default-lease-time 600;
max-lease-time 7200;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{
  range {lo} {hi};
  option routers {gw};
  option domain-name-servers {gw};
  option domain-name \"lab.test\";
  option dhcp-renewal-time 2;
}}
",
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(50),
        gw = lab.ip(1)
    )
}

#[test]
fn dhclient_gets_renews_and_releases() {
    let dhclient = need("dhclient", "isc-dhcp-client");
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:42:00:01");
    let server = lab.start_ours(&conf(&lab), &[]);
    let events = lab.path("events.txt");
    let script = lab.path("script.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo \"$reason ip=$new_ip_address mask=$new_subnet_mask routers=$new_routers dns=$new_domain_name_servers domain=$new_domain_name lease=$new_dhcp_lease_time\" >> {ev}\n\
             case $reason in\n\
             BOUND|RENEW|REBIND|REBOOT) ip addr replace $new_ip_address/$new_subnet_mask dev $interface ;;\n\
             EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev $interface ;;\n\
             esac\nexit 0\n",
            ev = events.display()
        ),
    )
    .unwrap();
    crate::support::run(std::process::Command::new("chmod").arg("755").arg(&script));
    let cconf = lab.path("dhclient.conf");
    std::fs::write(
        &cconf,
        "send host-name \"realclient\";\nrequest subnet-mask, routers, domain-name, domain-name-servers, dhcp-lease-time, dhcp-renewal-time;\n",
    )
    .unwrap();
    let cleases = lab.path("dhclient.leases");
    std::fs::write(&cleases, "").unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for (f, p) in [
            ("-cf", &cconf),
            ("-lf", &cleases),
            ("-pf", &lab.path("dhclient.pid")),
            ("-sf", &script),
        ] {
            v.push(f.into());
            v.push(p.display().to_string());
        }
        v.push("c0".into());
        v
    };
    let a = args(&["-d", "-v"]);
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let _client = lab.spawn(&lab.cli, &dhclient, &argv, "dhclient.log");
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        crate::support::wait_for(WAIT, || read().contains("BOUND ")),
        "no lease; dhclient:\n{}\nserver:\n{}",
        std::fs::read_to_string(lab.path("dhclient.log")).unwrap_or_default(),
        server.log()
    );
    let want = format!(
        "BOUND ip={} mask=255.255.255.0 routers={} dns={} domain=lab.test lease=600",
        lab.ip(10),
        lab.ip(1),
        lab.ip(1)
    );
    assert!(read().contains(&want), "got {:?}, want {want:?}", read());
    // T1 is 2 s: dhclient renews by unicast and keeps its address.
    assert!(
        crate::support::wait_for(WAIT, || read().contains("RENEW ")),
        "no renewal:\n{}\nserver:\n{}",
        read(),
        server.log()
    );
    assert!(
        read().contains(&format!("RENEW ip={}", lab.ip(10))),
        "{}",
        read()
    );
    // The lease is on disk, active, for our MAC, with the host name the client sent.
    let table = lab.leases();
    let l = table.get(lab.ip(10)).expect("lease on disk");
    assert_eq!(l.state, dhcpd::lease::BindingState::Active);
    assert_eq!(
        l.hardware.as_ref().map(|h| h.colon()).as_deref(),
        Some("52:54:00:42:00:01")
    );
    assert_eq!(l.client_hostname.as_deref(), Some(&b"realclient"[..]));
    // Release.
    let a = args(&["-r", "-v"]);
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = lab.cmd(&lab.cli, &dhclient).args(&argv).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = format!(
        "DHCPRELEASE of {} from 52:54:00:42:00:01 (realclient) via s0 (found)",
        lab.ip(10)
    );
    assert!(
        server.wait_log(&line, WAIT),
        "no release:\n{}",
        server.log()
    );
    let l = lab
        .leases()
        .get(lab.ip(10))
        .cloned()
        .expect("lease on disk");
    assert_eq!(l.state, dhcpd::lease::BindingState::Free);
}

#[test]
fn udhcpc_gets_renews_and_releases() {
    let busybox = need("busybox", "busybox");
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:42:00:02");
    let server = lab.start_ours(&conf(&lab), &[]);
    let events = lab.path("events.txt");
    let script = lab.path("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo \"$1 ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain lease=$lease\" >> {ev}\n\
             case $1 in\n\
             bound|renew) ip addr replace $ip/$subnet dev $interface ;;\n\
             deconfig) ip addr flush dev $interface ;;\n\
             esac\nexit 0\n",
            ev = events.display()
        ),
    )
    .unwrap();
    crate::support::run(std::process::Command::new("chmod").arg("755").arg(&script));
    let s = script.display().to_string();
    let client = lab.spawn(
        &lab.cli,
        &busybox,
        &[
            "udhcpc",
            "-f",
            "-i",
            "c0",
            "-s",
            &s,
            "-x",
            "hostname:udhcpc-client",
            "-O",
            "domain",
            "-R",
        ],
        "udhcpc.log",
    );
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        crate::support::wait_for(WAIT, || read().contains("bound ")),
        "no lease; udhcpc:\n{}\nserver:\n{}",
        client.log(),
        server.log()
    );
    let want = format!(
        "bound ip={} subnet=255.255.255.0 router={} dns={} domain=lab.test lease=600",
        lab.ip(10),
        lab.ip(1),
        lab.ip(1)
    );
    assert!(read().contains(&want), "got {:?}, want {want:?}", read());
    // SIGUSR1: renew now.
    client.signal("USR1");
    assert!(
        crate::support::wait_for(WAIT, || read().contains("renew ")),
        "no renewal:\n{}\n{}",
        read(),
        server.log()
    );
    assert!(
        read().contains(&format!("renew ip={}", lab.ip(10))),
        "{}",
        read()
    );
    // SIGUSR2: release.
    client.signal("USR2");
    let line = format!("DHCPRELEASE of {} from 52:54:00:42:00:02", lab.ip(10));
    assert!(
        server.wait_log(&line, WAIT),
        "no release:\n{}",
        server.log()
    );
    assert!(server.log().contains("(found)"), "{}", server.log());
    let l = lab
        .leases()
        .get(lab.ip(10))
        .cloned()
        .expect("lease on disk");
    assert_eq!(l.state, dhcpd::lease::BindingState::Free);
    assert_eq!(
        l.hardware.as_ref().map(|h| h.colon()).as_deref(),
        Some("52:54:00:42:00:02")
    );
}
