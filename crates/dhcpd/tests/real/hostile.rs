//! Hostile clients: crafted packets from the client namespace that try to take what another
//! client holds, and what the server must do instead (refuse, with a log line, and keep
//! serving the legitimate client).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::support::{Lab, in_netns, wait_for};

const WAIT: Duration = Duration::from_secs(15);

const VICTIM: [u8; 6] = [0x52, 0x54, 0x00, 0x13, 0x00, 0x01];
const STRANGER: [u8; 6] = [0x52, 0x54, 0x00, 0x13, 0x00, 0x66];

fn conf(lab: &Lab) -> String {
    format!(
        "authoritative;
default-lease-time 600;
max-lease-time 7200;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{
  range {lo} {hi};
}}
",
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(20),
    )
}

/// A DHCP message of type `t` from `mac` with the options given.
fn message(t: u8, mac: [u8; 6], xid: u32, opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[28..34].copy_from_slice(&mac);
    p[236..240].copy_from_slice(&dhcpd::wire::MAGIC);
    p.extend_from_slice(&[53, 1, t]);
    for (c, d) in opts {
        p.push(*c);
        p.push(d.len() as u8);
        p.extend_from_slice(d);
    }
    p.push(255);
    p.resize(p.len().max(300), 0);
    p
}

/// Broadcast `bytes` from port 68 on the client side of the lab.
fn broadcast(lab: &Lab, bytes: &[u8]) {
    broadcast_in(&lab.cli, bytes);
}

/// Broadcast `bytes` from port 68 on `c0` of namespace `ns`.
fn broadcast_in(ns: &str, bytes: &[u8]) {
    broadcast_many(ns, &[bytes.to_vec()]);
}

/// Broadcast each packet of `all` from port 68 on `c0` of namespace `ns`, as fast as
/// possible.
fn broadcast_many(ns: &str, all: &[Vec<u8>]) {
    in_netns(ns, || {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind_device(Some(b"c0")).unwrap();
        s.bind(&SockAddr::from(SocketAddr::from((
            Ipv4Addr::UNSPECIFIED,
            68,
        ))))
        .unwrap();
        let to = SockAddr::from(SocketAddr::from((Ipv4Addr::BROADCAST, 67)));
        for bytes in all {
            s.send_to(bytes, &to).unwrap();
        }
    });
}

fn state_of(lab: &Lab, ip: Ipv4Addr) -> Option<(String, Option<String>)> {
    let t = lab.leases();
    let l = t.get(ip)?;
    Some((
        l.state.name().to_string(),
        l.hardware.as_ref().map(dhcpd::lease::Hardware::colon),
    ))
}

#[test]
fn a_strangers_decline_leaves_the_victims_lease_active() {
    let lab = Lab::new();
    let server = lab.start_ours(&conf(&lab), &[]);
    let addr = lab.ip(10);
    let req = vec![(50, addr.octets().to_vec())];
    // The victim takes .10.
    broadcast(&lab, &message(1, VICTIM, 1, &[]));
    assert!(
        server.wait_log("DHCPOFFER on", WAIT),
        "no offer:\n{}",
        server.log()
    );
    broadcast(&lab, &message(3, VICTIM, 2, &req));
    assert!(
        server.wait_log("DHCPACK on", WAIT),
        "no ack:\n{}",
        server.log()
    );
    let victim = Some(("active".to_string(), Some("52:54:00:13:00:01".to_string())));
    assert!(wait_for(WAIT, || state_of(&lab, addr) == victim));
    // A stranger declines it, again and again: each is logged and ignored.
    for xid in 10..15 {
        broadcast(&lab, &message(4, STRANGER, xid, &req));
    }
    assert!(
        server.wait_log(
            &format!(
                "DHCPDECLINE of {addr} from 52:54:00:13:00:66 via s0: ignored (not the lease's client)"
            ),
            WAIT
        ),
        "no refusal logged:\n{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !server.log().contains("Abandoning"),
        "a stranger's decline abandoned the address:\n{}",
        server.log()
    );
    assert_eq!(state_of(&lab, addr), victim, "{}", server.log());
    // The victim renews its address as before.
    broadcast(&lab, &message(3, VICTIM, 20, &req));
    assert!(wait_for(WAIT, || server
        .log()
        .matches("DHCPACK on")
        .count()
        >= 2));
    // Its own decline is honoured (the refusal above was not just deafness).
    broadcast(&lab, &message(4, VICTIM, 21, &req));
    assert!(
        server.wait_log(&format!("Abandoning IP address {addr}: declined."), WAIT),
        "the owner's decline was not honoured:\n{}",
        server.log()
    );
    assert!(wait_for(WAIT, || state_of(&lab, addr)
        .is_some_and(|(s, _)| s == "abandoned")));
}

#[test]
fn nothing_is_answered_on_an_interface_without_a_subnet() {
    let mut lab = Lab::new();
    let second = lab.add_link();
    // s1 (10.201.N.1) has no subnet declaration.
    let server = lab.start_ours(&conf(&lab), &["s1"]);
    assert!(
        server.log().contains("** Ignoring requests on s1."),
        "{}",
        server.log()
    );
    // From s1's segment: a DISCOVER, and one claiming to come through a relay on the
    // served subnet (giaddr 10.199.N.5).
    let mut relayed = message(1, STRANGER, 31, &[]);
    relayed[24..28].copy_from_slice(&lab.ip(5).octets());
    broadcast_in(&second, &message(1, STRANGER, 30, &[]));
    broadcast_in(&second, &relayed);
    std::thread::sleep(Duration::from_millis(300));
    // Then a client on s0, answered: the server has read what came before.
    broadcast(&lab, &message(1, VICTIM, 32, &[]));
    assert!(
        server.wait_log("DHCPOFFER on", WAIT),
        "no offer on s0:\n{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    assert!(!log.contains("via s1"), "{log}");
    assert!(!log.contains("52:54:00:13:00:66"), "{log}");
    assert_eq!(log.matches("DHCPOFFER").count(), 1, "{log}");
}

#[test]
fn a_flooding_mac_is_ignored_and_others_are_served() {
    let lab = Lab::new();
    let conf = format!(
        "option space pxe-suite;
option pxe-suite.flood-limit code 1 = unsigned integer 32;
option pxe-suite.flood-hold code 2 = unsigned integer 32;
option pxe-suite.flood-limit 5;
option pxe-suite.flood-hold 30;
{}",
        conf(&lab)
    );
    let server = lab.start_ours(&conf, &[]);
    let flood: Vec<Vec<u8>> = (0..200)
        .map(|x| message(1, STRANGER, 100 + x, &[]))
        .collect();
    broadcast_many(&lab.cli, &flood);
    let line =
        "52:54:00:13:00:66 via s0: more than 5 requests in one second, ignored for 30 seconds";
    assert!(
        server.wait_log(line, WAIT),
        "no flood line:\n{}",
        server.log()
    );
    // Another client is served while the flood is being ignored.
    broadcast(&lab, &message(1, VICTIM, 400, &[]));
    assert!(
        wait_for(WAIT, || server.log().contains("DHCPOFFER on 10.199.")
            && server.log().contains("to 52:54:00:13:00:01")),
        "{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    assert_eq!(log.matches(line).count(), 1, "logged once:\n{log}");
    let decided = log.matches("DHCPDISCOVER from 52:54:00:13:00:66").count();
    // 5 a second; the 200 may straddle a second boundary or two.
    assert!((5..=15).contains(&decided), "{decided} decided:\n{log}");
}

#[test]
fn a_client_on_the_link_cannot_pick_another_subnet() {
    let lab = Lab::new();
    // A second subnet, reachable only through relays: a client on s0 that names it with
    // option 118 (subnet selection) or option 82 sub-option 5 (link selection) would take
    // an address of a network it is not on (and which other clients there need).
    let conf = format!(
        "{}subnet 10.77.0.0 netmask 255.255.255.0 {{\n  range 10.77.0.10 10.77.0.20;\n}}\n",
        conf(&lab)
    );
    let server = lab.start_ours(&conf, &[]);
    let elsewhere = Ipv4Addr::new(10, 77, 0, 0).octets().to_vec();
    let mut link_selection = vec![5, 4];
    link_selection.extend_from_slice(&elsewhere);
    broadcast(&lab, &message(1, STRANGER, 40, &[(118, elsewhere)]));
    broadcast(&lab, &message(1, VICTIM, 41, &[(82, link_selection)]));
    let offers = || server.log().matches("DHCPOFFER on").count();
    assert!(wait_for(WAIT, || offers() >= 2), "{}", server.log());
    let log = server.log();
    assert!(
        !log.contains("DHCPOFFER on 10.77."),
        "an unrelayed client chose the relayed subnet:\n{log}"
    );
    assert_eq!(
        log.matches(&format!("DHCPOFFER on 10.199.{}.", lab.net))
            .count(),
        2,
        "{log}"
    );
}
