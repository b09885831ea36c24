//! Two dhcpd on one PostgreSQL database behind two ISC dhcrelay (issue 14 part 5), as a
//! site with a DHCP pair serving routed client segments runs them:
//!
//! ```text
//!   C1 (10.200.N.0/24) ── R1 dhcrelay ──┐                 ┌── A dhcpd 10.199.N.1
//!                                        ├─ backbone bridge ┤
//!   C2 (10.201.N.0/24) ── R2 dhcrelay ──┘  10.199.N.0/24   └── B dhcpd 10.199.N.2
//! ```
//!
//! Each relay forwards every client message to both servers; both answer, the client takes
//! one offer and its REQUEST names that server. perfdhcp storms both segments while A is
//! killed in the middle: no address is acknowledged to two clients (on the wire and in
//! SQL), every ACK is a committed row, and B alone carries both segments afterwards,
//! giving a client of A its own address back.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use pxe_db::scratch::ScratchServer;

use crate::support::{Lab, Proc, need, read_pcap, run};

const WAIT: Duration = Duration::from_secs(30);

/// `ip …`, failing the test when it fails.
fn ip(args: &[&str]) {
    run(Command::new(need("ip", "iproute2")).args(args));
}

/// The namespaces this test adds to the two labs' (deleted when dropped).
struct Routed {
    /// Relays R1 and R2, clients C1 and C2.
    namespaces: Vec<String>,
}

impl Drop for Routed {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The backbone (a bridge in lab A's client namespace joining A's and B's server links)
/// and the two relayed segments, each a relay namespace with `bb` on the backbone and
/// `seg` towards its client namespace's `c0` (not `up` or `down`: words of `ip link`).
fn build(a: &Lab, b: &Lab) -> Routed {
    let n = a.net;
    let backbone = &a.cli;
    ip(&["-n", backbone, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", backbone, "link", "set", "br0", "up"]);
    ip(&["-n", backbone, "link", "set", "c0", "master", "br0"]);
    // B's server link joins the same bridge, with the second server's address.
    ip(&["-n", &b.cli, "link", "set", "c0", "name", "bb0"]);
    ip(&["-n", &b.cli, "link", "set", "bb0", "netns", backbone]);
    ip(&["-n", backbone, "link", "set", "bb0", "master", "br0"]);
    ip(&["-n", backbone, "link", "set", "bb0", "up"]);
    ip(&["-n", &b.srv, "addr", "flush", "dev", "s0"]);
    ip(&[
        "-n",
        &b.srv,
        "addr",
        "add",
        &format!("10.199.{n}.2/24"),
        "dev",
        "s0",
    ]);
    let id = format!("{}{}", std::process::id() % 100_000, n);
    let mut routed = Routed {
        namespaces: Vec::new(),
    };
    for (k, segment) in [(1u8, 200u8), (2, 201)] {
        let relay = format!("dr{k}{id}");
        let client = format!("dk{k}{id}");
        for ns in [&relay, &client] {
            ip(&["netns", "add", ns]);
            routed.namespaces.push(ns.clone());
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // Relay ↔ backbone bridge.
        let (up, port) = (format!("u{k}{id}"), format!("p{k}{id}"));
        ip(&["link", "add", &up, "type", "veth", "peer", "name", &port]);
        ip(&["link", "set", &up, "netns", &relay]);
        ip(&["link", "set", &port, "netns", backbone]);
        ip(&["-n", &relay, "link", "set", &up, "name", "bb"]);
        ip(&["-n", backbone, "link", "set", &port, "master", "br0"]);
        ip(&["-n", backbone, "link", "set", &port, "up"]);
        let relay_addr = format!("10.199.{n}.2{k}");
        ip(&[
            "-n",
            &relay,
            "addr",
            "add",
            &format!("{relay_addr}/24"),
            "dev",
            "bb",
        ]);
        ip(&["-n", &relay, "link", "set", "bb", "up"]);
        // Relay ↔ client segment.
        let (down, c0) = (format!("d{k}{id}"), format!("c{k}{id}"));
        ip(&["link", "add", &down, "type", "veth", "peer", "name", &c0]);
        ip(&["link", "set", &down, "netns", &relay]);
        ip(&["link", "set", &c0, "netns", &client]);
        ip(&["-n", &relay, "link", "set", &down, "name", "seg"]);
        ip(&["-n", &client, "link", "set", &c0, "name", "c0"]);
        ip(&[
            "-n",
            &relay,
            "addr",
            "add",
            &format!("10.{segment}.{n}.1/24"),
            "dev",
            "seg",
        ]);
        ip(&[
            "-n",
            &client,
            "addr",
            "add",
            &format!("10.{segment}.{n}.5/24"),
            "dev",
            "c0",
        ]);
        ip(&["-n", &relay, "link", "set", "seg", "up"]);
        ip(&["-n", &client, "link", "set", "c0", "up"]);
        // perfdhcp acts as a relay agent itself (its giaddr is its own address), so the
        // servers' replies to it are routed through the relay namespace.
        run(Command::new(need("ip", "iproute2"))
            .args(["netns", "exec", &relay, "sh", "-c"])
            .arg("echo 1 > /proc/sys/net/ipv4/ip_forward"));
        let gateway = format!("10.{segment}.{n}.1");
        ip(&["-n", &client, "route", "add", "default", "via", &gateway]);
        // Both servers answer the segment through its relay.
        for server in [&a.srv, &b.srv] {
            let net = format!("10.{segment}.{n}.0/24");
            ip(&["-n", server, "route", "add", &net, "via", &relay_addr]);
        }
    }
    routed
}

fn relay_ns(routed: &Routed, k: usize) -> &str {
    &routed.namespaces[(k - 1) * 2]
}

fn client_ns(routed: &Routed, k: usize) -> &str {
    &routed.namespaces[(k - 1) * 2 + 1]
}

/// Both servers' configuration: the backbone without a pool, the two relayed segments,
/// each with a pool smaller than its storm's clients, so that the servers compete for
/// the same free addresses all the time.
fn conf(lab: &Lab) -> String {
    let n = lab.net;
    let segment = |s: u8| {
        format!(
            "subnet 10.{s}.{n}.0 netmask 255.255.255.0 {{ range 10.{s}.{n}.10 10.{s}.{n}.69; \
             option routers 10.{s}.{n}.1; }}\n"
        )
    };
    format!(
        "authoritative;\nping-check false;\ndefault-lease-time 600;\nmax-lease-time 7200;\n\
         subnet 10.199.{n}.0 netmask 255.255.255.0 {{ }}\n{}{}",
        segment(200),
        segment(201)
    )
}

/// ISC dhcrelay in a relay namespace, forwarding to both servers.
fn dhcrelay(lab: &Lab, relay: &str, k: usize) -> Proc {
    let bin = need("dhcrelay", "isc-dhcp-relay");
    let n = lab.net;
    let (a, b) = (format!("10.199.{n}.1"), format!("10.199.{n}.2"));
    let p = lab.spawn(
        relay,
        &bin,
        &["-4", "-d", "--no-pid", "-id", "seg", "-iu", "bb", &a, &b],
        &format!("dhcrelay{k}.log"),
    );
    assert!(
        crate::support::wait_for(Duration::from_secs(10), || p.log().contains("Sending on")),
        "dhcrelay did not start:\n{}",
        p.log()
    );
    p
}

/// An ACK seen on a client segment: address, client, and the server that sent it.
struct Ack {
    ip: Ipv4Addr,
    mac: [u8; 6],
    server: Option<Ipv4Addr>,
}

fn acks_in(pcap: &std::path::Path) -> Vec<Ack> {
    read_pcap(pcap)
        .iter()
        .filter(|s| s.msg_type == Some(5))
        .map(|s| Ack {
            ip: s.yiaddr,
            mac: s.chaddr,
            server: s.packet.option_ip(54),
        })
        .collect()
}

fn hex(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

/// busybox udhcpc in a client namespace with `mac`: the address it was given, if any.
fn udhcpc(lab: &Lab, ns: &str, mac: &str) -> Option<Ipv4Addr> {
    ip(&["-n", ns, "link", "set", "c0", "address", mac]);
    let out = lab
        .cmd(ns, &need("busybox", "busybox"))
        .args(["udhcpc", "-q", "-f", "-n", "-t", "5", "-T", "1"])
        .args(["-i", "c0", "-s", "/bin/true"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.split("lease of ").nth(1)?.split(' ').next()?.parse().ok())
}

#[test]
fn r14_two_servers_behind_two_relays_in_a_storm_one_killed_never_ack_an_address_twice() {
    let pg = ScratchServer::start().unwrap();
    let a_lab = Lab::new();
    let b_lab = Lab::new_like(&a_lab);
    let routed = build(&a_lab, &b_lab);
    let url = pg.url();
    let args = ["--database", url.as_str()];
    let config = conf(&a_lab);
    let mut a = a_lab.start_ours(&config, &args);
    let b = b_lab.start_ours(&config, &args);
    let _relays: Vec<Proc> = (1..=2)
        .map(|k| dhcrelay(&a_lab, relay_ns(&routed, k), k))
        .collect();
    let tcpdump = need("tcpdump", "tcpdump");
    let perfdhcp = need("perfdhcp", "kea-admin");
    let mut captures = Vec::new();
    for k in 1..=2 {
        let pcap = a_lab
            .path(&format!("segment{k}.pcap"))
            .display()
            .to_string();
        let cap = a_lab.spawn(
            client_ns(&routed, k),
            &tcpdump,
            &[
                "-i",
                "c0",
                "-U",
                "--immediate-mode",
                "-n",
                "-B",
                "32768",
                "-w",
                &pcap,
                "udp port 67 or udp port 68",
            ],
            &format!("segment{k}.tcpdump.log"),
        );
        assert!(
            crate::support::wait_for(Duration::from_secs(10), || cap
                .log()
                .contains("listening on")),
            "{}",
            cap.log()
        );
        captures.push((cap, pcap));
    }
    let mut storms: Vec<Proc> = (1..=2)
        .map(|k| {
            let base = format!("mac=00:1{k}:00:00:00:00");
            a_lab.spawn(
                client_ns(&routed, k),
                &perfdhcp,
                &[
                    "-4", "-l", "c0", "-r", "40", "-R", "150", "-b", &base, "-p", "10",
                ],
                &format!("perfdhcp{k}.log"),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    a.signal("KILL");
    a.wait_exit(WAIT);
    for s in &mut storms {
        assert!(s.wait_exit(WAIT).is_some(), "{}", s.log());
    }
    let mut acks = Vec::new();
    for (cap, pcap) in &mut captures {
        cap.signal("INT");
        cap.wait_exit(WAIT);
        acks.extend(acks_in(std::path::Path::new(pcap)));
    }
    let (from_a, from_b) = (
        Ipv4Addr::new(10, 199, a_lab.net, 1),
        Ipv4Addr::new(10, 199, a_lab.net, 2),
    );
    let by = |s: Ipv4Addr| acks.iter().filter(|x| x.server == Some(s)).count();
    assert!(
        by(from_a) >= 10,
        "A acknowledged {}:\n{}",
        by(from_a),
        a.log()
    );
    assert!(
        by(from_b) >= 40,
        "B acknowledged {}:\n{}",
        by(from_b),
        b.log()
    );
    // On the wire: no address acknowledged to two clients, over both segments.
    let mut owner = std::collections::HashMap::new();
    for x in &acks {
        let first = *owner.entry(x.ip).or_insert(x.mac);
        assert_eq!(first, x.mac, "{} acknowledged to two clients", x.ip);
    }
    // In SQL: every ACK is an active row for its client; no client holds two.
    let mut sql = pg
        .url()
        .parse::<pxe_db::DatabaseUrl>()
        .unwrap()
        .connect()
        .unwrap();
    let rows: std::collections::HashMap<String, String> = sql
        .query(
            "SELECT host(address), encode(hardware_address, 'hex') FROM dhcp_leases
             WHERE binding_state = 'active'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (ip, mac) in &owner {
        assert_eq!(
            rows.get(&ip.to_string()),
            Some(&hex(mac)),
            "ACK of {ip} not in the database"
        );
    }
    // B alone now: a client A acknowledged, asking again through its relay, gets its own
    // address back from B.
    let a_client = acks
        .iter()
        .find(|x| x.server == Some(from_a) && x.ip.octets()[1] == 200)
        .expect("A acknowledged a client of segment 1");
    let mac = a_client
        .mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        udhcpc(&a_lab, client_ns(&routed, 1), &mac),
        Some(a_client.ip),
        "{}",
        b.log()
    );
}
