//! `ping-check`, as ISC: an address is pinged before it is offered; one that answers is
//! abandoned (written as such) and the client is offered another on its next try.

use std::time::{Duration, Instant};

use crate::support::{Lab, need, run};

const WAIT: Duration = Duration::from_secs(30);

fn conf(lab: &Lab, extra: &str) -> String {
    format!(
        "authoritative;\n{extra}\nsubnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; }}\n",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(20),
    )
}

/// One DORA with udhcpc (DISCOVER retried every 2 s); its output, and how long it took.
fn lease(lab: &Lab) -> (String, Duration) {
    let busybox = need("busybox", "busybox");
    let script = lab.path("print.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"$1 ip=$ip\"\nexit 0\n").unwrap();
    run(std::process::Command::new("chmod").arg("755").arg(&script));
    let s = script.display().to_string();
    let started = Instant::now();
    let out = lab
        .cmd(&lab.cli, &busybox)
        .args([
            "udhcpc", "-q", "-f", "-n", "-t", "5", "-T", "2", "-i", "c0", "-s", &s,
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, started.elapsed())
}

#[test]
fn an_address_that_answers_a_ping_is_abandoned_and_another_offered() {
    let lab = Lab::new();
    // A squatter on the first address of the range: the client's side answers pings to it.
    let squatter = format!("{}/24", lab.ip(10));
    run(std::process::Command::new(need("ip", "iproute2"))
        .args(["-n", &lab.cli, "addr", "add", &squatter, "dev", "c0"]));
    let mut server = lab.start_ours(&conf(&lab, ""), &[]);
    let (out, _) = lease(&lab);
    server.signal("TERM");
    server.wait_exit(WAIT);
    let log = server.log();
    let expected = format!("bound ip={}", lab.ip(11));
    assert!(out.contains(&expected), "{out}\n{log}");
    let line = format!("Abandoning IP address {}: pinged before offer", lab.ip(10));
    assert!(log.contains(&line), "{log}");
    assert!(
        !log.contains(&format!("DHCPOFFER on {} ", lab.ip(10))),
        "the pinged address was offered:\n{log}"
    );
    let leases = std::fs::read_to_string(lab.path("dhcpd.leases")).unwrap();
    let squatted = leases
        .split("lease ")
        .filter(|l| l.starts_with(&format!("{} ", lab.ip(10))))
        .last()
        .unwrap_or_else(|| panic!("no lease of the pinged address:\n{leases}"));
    assert!(squatted.contains("binding state abandoned;"), "{squatted}");
}

#[test]
fn ping_check_false_offers_at_once_and_the_default_waits_for_the_ping() {
    let lab = Lab::new();
    let mut server = lab.start_ours(&conf(&lab, "ping-check false;"), &[]);
    let (out, quick) = lease(&lab);
    server.signal("TERM");
    server.wait_exit(WAIT);
    assert!(out.contains(&format!("bound ip={}", lab.ip(10))), "{out}");
    // A fresh lease file: the next server offers .10 as a new address again.
    std::fs::write(lab.path("dhcpd.leases"), "").unwrap();
    let mut server = lab.start_ours(&conf(&lab, "ping-timeout-ms 1500;"), &[]);
    let (out, pinged) = lease(&lab);
    server.signal("TERM");
    server.wait_exit(WAIT);
    assert!(out.contains(&format!("bound ip={}", lab.ip(10))), "{out}");
    // The unanswered ping holds the offer for its 1.5 s; the exchange without it takes
    // well under that. (Both bounds are the protocol's timer, not a speed claim.)
    assert!(
        pinged >= Duration::from_millis(1500) && pinged > quick,
        "with the ping {pinged:?}, without {quick:?}"
    );
}
