//! Leases in PostgreSQL (issue 14 part 2) with real clients: dhclient and udhcpc against our
//! dhcpd on a throwaway PostgreSQL server. Leases are rows (checked in SQL), not lines of
//! the lease file, and outlive a restart; while the database is down nothing is
//! acknowledged, and the server recovers by itself when it returns; `--import-leases`
//! copies an ISC lease file in.

use std::time::Duration;

use pxe_db::scratch::ScratchServer;

use crate::omapi::{conf, dhclient_run};
use crate::support::{Lab, need, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn sql(pg: &ScratchServer) -> postgres::Client {
    pg.url()
        .parse::<pxe_db::DatabaseUrl>()
        .unwrap()
        .connect()
        .unwrap()
}

/// The active leases in the database: address and hardware address, by address.
fn active_rows(pg: &ScratchServer) -> Vec<(String, String)> {
    sql(pg)
        .query(
            "SELECT host(address), encode(hardware_address, 'hex') FROM dhcp_leases
             WHERE binding_state = 'active' ORDER BY address",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// One DHCP exchange with busybox udhcpc (3 tries, 1 s apart; client identifier 01 and the
/// MAC): the address it got.
fn udhcpc_address(lab: &Lab) -> Option<std::net::Ipv4Addr> {
    let busybox = need("busybox", "busybox");
    let out = lab
        .cmd(&lab.cli, &busybox)
        .args(["udhcpc", "-q", "-f", "-n", "-t", "3", "-T", "1"])
        .args(["-i", "c0", "-s", "/bin/true"])
        .output()
        .unwrap();
    // "udhcpc: lease of 10.199.7.10 obtained from 10.199.7.1, lease time 600"
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.split("lease of ").nth(1)?.split(' ').next()?.parse().ok())
}

fn udhcpc_bound(lab: &Lab) -> bool {
    udhcpc_address(lab).is_some()
}

#[test]
fn r14_leases_are_rows_in_postgresql_and_outlive_a_restart() {
    let pg = ScratchServer::start().unwrap();
    let lab = Lab::new();
    let conf = conf(&lab);
    let url = pg.url();
    let args = ["--database", url.as_str()];
    lab.set_client_mac("52:54:00:14:00:01");
    let mut server = lab.start_ours(&conf, &args);
    assert_eq!(
        dhclient_run(&lab),
        format!("{} \n", lab.ip(10)),
        "{}",
        server.log()
    );
    assert_eq!(
        active_rows(&pg),
        vec![(lab.ip(10).to_string(), "525400140001".to_string())]
    );
    let file = std::fs::read_to_string(lab.path("dhcpd.leases")).unwrap();
    assert!(
        !file.contains("lease "),
        "the lease file got a lease:\n{file}"
    );
    // After a restart the lease is still the first client's: a second client gets the next
    // address.
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    let server = lab.start_ours(&conf, &args);
    lab.set_client_mac("52:54:00:14:00:02");
    assert_eq!(
        dhclient_run(&lab),
        format!("{} \n", lab.ip(11)),
        "{}",
        server.log()
    );
    assert_eq!(active_rows(&pg).len(), 2, "{}", server.log());
}

#[test]
fn r14_nothing_is_acknowledged_while_the_database_is_down_and_the_server_recovers_alone() {
    let mut pg = ScratchServer::start().unwrap();
    let lab = Lab::new();
    let url = pg.url();
    let metrics = lab.path("metrics.txt").display().to_string();
    let server = lab.start_ours(
        &conf(&lab),
        &[
            "--database",
            url.as_str(),
            "--metrics-file",
            metrics.as_str(),
        ],
    );
    let store_up = |v: &str| {
        wait_for(Duration::from_secs(15), || {
            std::fs::read_to_string(&metrics)
                .is_ok_and(|m| m.contains(&format!("dhcpd_lease_store_up {v}\n")))
        })
    };
    lab.set_client_mac("52:54:00:14:00:11");
    assert!(udhcpc_bound(&lab), "{}", server.log());
    pg.stop().unwrap();
    lab.set_client_mac("52:54:00:14:00:12");
    assert!(
        !udhcpc_bound(&lab),
        "acknowledged without a database:\n{}",
        server.log()
    );
    assert!(
        server.wait_log("unreachable", WAIT),
        "the outage is not logged:\n{}",
        server.log()
    );
    assert!(store_up("0"), "the metric does not show the outage");
    // The database returns; the same server acknowledges again, without a restart.
    pg.start_server().unwrap();
    assert!(udhcpc_bound(&lab), "{}", server.log());
    assert!(server.wait_log("reachable again", WAIT), "{}", server.log());
    assert!(store_up("1"), "the metric does not show the recovery");
    let rows = active_rows(&pg);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].1, "525400140012");
}

#[test]
fn r14_import_leases_copies_an_isc_lease_file_into_the_database() {
    let pg = ScratchServer::start().unwrap();
    let lab = Lab::new();
    let conf = conf(&lab);
    std::fs::write(
        lab.path("dhcpd.leases"),
        format!(
            "lease {} {{\n  starts 4 2026/12/03 10:00:00;\n  ends never;\n  binding state active;\n  \
             next binding state free;\n  hardware ethernet 52:54:00:14:00:21;\n}}\n",
            lab.ip(10)
        ),
    )
    .unwrap();
    let url = pg.url();
    let mut server = lab.start_ours(&conf, &["--database", url.as_str(), "--import-leases"]);
    assert!(
        server.log().contains("Imported 1 leases from"),
        "{}",
        server.log()
    );
    assert_eq!(
        active_rows(&pg),
        vec![(lab.ip(10).to_string(), "525400140021".to_string())]
    );
    // The imported lease is honoured: another client gets the next address.
    lab.set_client_mac("52:54:00:14:00:22");
    assert_eq!(
        dhclient_run(&lab),
        format!("{} \n", lab.ip(11)),
        "{}",
        server.log()
    );
    // Importing again copies nothing over the database's own rows.
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    let server = lab.start_ours(&conf, &["--database", url.as_str(), "--import-leases"]);
    assert!(
        server.log().contains("Imported 0 leases from"),
        "{}",
        server.log()
    );
    assert_eq!(active_rows(&pg).len(), 2);
}

/// The rows of the database by address: hardware address of each (no address twice, as the
/// key says; no hardware address on two active rows either).
fn assert_one_client_per_address(pg: &ScratchServer) {
    let twice: i64 = sql(pg)
        .query_one(
            "SELECT count(*) FROM (SELECT hardware_address FROM dhcp_leases
             WHERE binding_state = 'active' GROUP BY hardware_address HAVING count(*) > 1) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "a client holds two active leases");
}

#[test]
fn r14_two_servers_on_one_database_never_give_one_address_twice_and_carry_on_for_each_other() {
    let pg = ScratchServer::start().unwrap();
    // Two servers with one configuration, each on its own copy of the network.
    let a_lab = Lab::new();
    let b_lab = Lab::new_like(&a_lab);
    let conf = conf(&a_lab);
    let url = pg.url();
    let args = ["--database", url.as_str()];
    let mut a = a_lab.start_ours(&conf, &args);
    let b = b_lab.start_ours(&conf, &args);
    a_lab.set_client_mac("52:54:00:14:00:31");
    assert_eq!(
        dhclient_run(&a_lab),
        format!("{} \n", a_lab.ip(10)),
        "{}",
        a.log()
    );
    // B hears of A's lease as it is written (LISTEN/NOTIFY), and gives its client the next
    // address without losing a race first.
    std::thread::sleep(Duration::from_secs(3));
    b_lab.set_client_mac("52:54:00:14:00:32");
    assert_eq!(
        dhclient_run(&b_lab),
        format!("{} \n", a_lab.ip(11)),
        "{}",
        b.log()
    );
    assert!(!b.log().contains(LOST_RACE), "{}", b.log());
    assert!(!b.log().contains(SPREADING), "{}", b.log());
    assert_eq!(
        active_rows(&pg),
        vec![
            (a_lab.ip(10).to_string(), "525400140031".to_string()),
            (a_lab.ip(11).to_string(), "525400140032".to_string()),
        ]
    );
    // A dies; its client comes to B, which gives it back its own address.
    a.signal("KILL");
    a.wait_exit(WAIT);
    b_lab.set_client_mac("52:54:00:14:00:31");
    assert_eq!(
        dhclient_run(&b_lab),
        format!("{} \n", a_lab.ip(10)),
        "{}",
        b.log()
    );
    assert_eq!(active_rows(&pg).len(), 2, "{}", b.log());
    assert_one_client_per_address(&pg);
}

/// What a server logs when a write of it lost its compare-and-swap.
const LOST_RACE: &str = "not as this server last saw them";

#[test]
fn r14_a_write_the_server_never_heard_of_costs_a_retransmission_not_an_address_twice() {
    let pg = ScratchServer::start().unwrap();
    let lab = Lab::new();
    let url = pg.url();
    let server = lab.start_ours(&conf(&lab), &["--database", url.as_str()]);
    // Another server's lease the server does not hear of (announcements off for this write,
    // as when its listener was disconnected).
    let lease = format!(
        "lease {} {{\n  starts 4 2026/12/03 10:00:00;\n  ends never;\n  binding state active;\n  \
         next binding state free;\n  hardware ethernet 52:54:00:14:00:41;\n}}\n",
        lab.ip(10)
    );
    sql(&pg)
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO dhcp_leases (address, binding_state, next_binding_state, starts, ends,
                 tstp, cltt, hardware_type, hardware_address, lease, version, written_by)
             VALUES ('{}', 'active', 'free', 0, 2147483647, 0, 0, 1,
                 '\\x525400140041', '{lease}', 7, 'elsewhere')",
            lab.ip(10)
        ))
        .unwrap();
    lab.set_client_mac("52:54:00:14:00:42");
    let got = dhclient_run(&lab);
    assert!(server.log().contains(LOST_RACE), "{}", server.log());
    // Having lost a race, the server spreads new clients over the pool: the client gets
    // an address other than the taken one, its own row.
    assert!(
        server.log().contains(SPREADING),
        "the lost race did not turn spreading on:\n{}",
        server.log()
    );
    let got = got.trim();
    assert_ne!(got, lab.ip(10).to_string(), "{}", server.log());
    assert!(
        active_rows(&pg).contains(&(got.to_string(), "525400140042".to_string())),
        "{got} is not the client's row: {:?}",
        active_rows(&pg)
    );
    assert_one_client_per_address(&pg);
    assert_eq!(active_rows(&pg).len(), 2);
}

/// What a server logs when, having lost a race, it spreads new clients over the pool.
const SPREADING: &str = "offered addresses spread over the pool";

/// perfdhcp on the link of `lab`: `rate` DORAs a second for `seconds`, from up to 200 MACs
/// after `base`.
fn link_storm(lab: &Lab, base: &str, seconds: u32, log: &str) -> crate::support::Proc {
    let perfdhcp = need("perfdhcp", "kea-admin");
    let seconds = seconds.to_string();
    lab.spawn(
        &lab.cli,
        &perfdhcp,
        &[
            "-4", "-l", "c0", "-r", "50", "-R", "200", "-b", base, "-p", &seconds,
        ],
        log,
    )
}

/// ACKs on the wire from `a_lab` and `b_lab` while both run a link storm of `seconds` (from
/// MACs 00:0a:… and 00:0b:…); `meanwhile` runs once both storms are going.
fn storm_both(
    a_lab: &Lab,
    b_lab: &Lab,
    seconds: u32,
    meanwhile: impl FnOnce(),
) -> (Vec<Ack>, Vec<Ack>) {
    let filter = "udp port 67 or udp port 68";
    let (mut a_cap, a_pcap) = a_lab.capture_storm("a", filter);
    let (mut b_cap, b_pcap) = b_lab.capture_storm("b", filter);
    let mut a_storm = link_storm(a_lab, "mac=00:0a:00:00:00:00", seconds, "a-perfdhcp.log");
    let mut b_storm = link_storm(b_lab, "mac=00:0b:00:00:00:00", seconds, "b-perfdhcp.log");
    meanwhile();
    for storm in [&mut a_storm, &mut b_storm] {
        assert!(storm.wait_exit(WAIT).is_some(), "{}", storm.log());
    }
    for cap in [&mut a_cap, &mut b_cap] {
        cap.signal("INT");
        cap.wait_exit(WAIT);
    }
    (acks_in(&a_pcap), acks_in(&b_pcap))
}

/// An acknowledged address and the client hardware address it went to.
type Ack = (std::net::Ipv4Addr, [u8; 6]);

/// Every address acknowledged to one client only, across both servers' ACKs: by address,
/// its client.
fn one_client_each(acks: &[&[Ack]]) -> std::collections::HashMap<std::net::Ipv4Addr, [u8; 6]> {
    let mut owner = std::collections::HashMap::new();
    for (ip, mac) in acks.iter().flat_map(|a| a.iter()) {
        let first = *owner.entry(*ip).or_insert(*mac);
        assert_eq!(first, *mac, "{ip} acknowledged to two clients");
    }
    owner
}

/// Every acknowledged address (by address, its client) is an active row of the database
/// for that client: nothing was acknowledged without its commit.
fn assert_acks_are_rows(
    pg: &ScratchServer,
    owner: &std::collections::HashMap<std::net::Ipv4Addr, [u8; 6]>,
) {
    let rows: std::collections::HashMap<String, String> = active_rows(pg).into_iter().collect();
    for (ip, mac) in owner {
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            rows.get(&ip.to_string()),
            Some(&hex),
            "{ip} was acknowledged but is not in the database"
        );
    }
}

/// The ACKs of a capture: address and client hardware address.
fn acks_in(pcap: &std::path::Path) -> Vec<(std::net::Ipv4Addr, [u8; 6])> {
    crate::support::read_pcap(pcap)
        .iter()
        .filter(|s| s.msg_type == Some(5))
        .map(|s| (s.yiaddr, s.chaddr))
        .collect()
}

#[test]
fn r14_two_servers_in_a_storm_one_killed_never_ack_an_address_to_two_clients() {
    let pg = ScratchServer::start().unwrap();
    let a_lab = Lab::new();
    let b_lab = Lab::new_like(&a_lab);
    a_lab.client_addresses();
    b_lab.client_addresses();
    let conf = crate::perf::two_networks(&a_lab);
    let url = pg.url();
    let args = ["--database", url.as_str()];
    let mut a = a_lab.start_ours(&conf, &args);
    let b = b_lab.start_ours(&conf, &args);
    // Both servers' clients compete for one pool; A is killed in the middle.
    let (a_acks, b_acks) = storm_both(&a_lab, &b_lab, 8, || {
        std::thread::sleep(Duration::from_secs(3));
        a.signal("KILL");
        a.wait_exit(WAIT);
    });
    assert!(
        a_acks.len() >= 20,
        "A acknowledged {}: {}",
        a_acks.len(),
        a.log()
    );
    assert!(
        b_acks.len() >= 60,
        "B acknowledged {}: {}",
        b_acks.len(),
        b.log()
    );
    // Races were lost, and the servers spread their clients over the pool from then on.
    assert!(
        a.log().contains(SPREADING) || b.log().contains(SPREADING),
        "no server spread its clients:\n{}\n{}",
        a.log(),
        b.log()
    );
    // On the wire: no address acknowledged to two clients.
    let owner = one_client_each(&[&a_acks, &b_acks]);
    // In SQL: every acknowledged lease is there, active, for its client.
    assert_acks_are_rows(&pg, &owner);
    assert_one_client_per_address(&pg);
    // B carries A's clients: one of them (busybox udhcpc sends the client identifier
    // perfdhcp sent, 01 and the MAC), asking B, gets its own address back.
    let (ip, mac) = a_acks[0];
    let mac = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    b_lab.set_client_mac(&mac);
    assert_eq!(udhcpc_address(&b_lab), Some(ip), "{}", b.log());
}

/// The database stopped and started again in the middle of a perfdhcp storm: every ACK
/// seen on the wire is a committed row afterwards (nothing acknowledged without its
/// commit), the outage and the recovery are logged, and the same process, never restarted,
/// acknowledges again.
#[test]
fn r14_the_database_restarted_under_load_loses_no_acknowledged_lease_and_the_server_recovers() {
    let mut pg = ScratchServer::start().unwrap();
    let lab = Lab::new();
    lab.client_addresses();
    let url = pg.url();
    let server = lab.start_ours(
        &crate::perf::two_networks(&lab),
        &["--database", url.as_str()],
    );
    let pid = server.pid();
    let (mut cap, pcap) = lab.capture_storm("storm", "udp port 67 or udp port 68");
    let mut storm = link_storm(&lab, "mac=00:0c:00:00:00:00", 12, "perfdhcp.log");
    std::thread::sleep(Duration::from_secs(3));
    pg.stop().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    pg.start_server().unwrap();
    assert!(storm.wait_exit(WAIT).is_some(), "{}", storm.log());
    cap.signal("INT");
    cap.wait_exit(WAIT);
    let acks = acks_in(&pcap);
    assert!(acks.len() >= 40, "{} ACKs: {}", acks.len(), server.log());
    // Every ACK on the wire is a row, active, for its client.
    assert_acks_are_rows(&pg, &one_client_each(&[&acks]));
    assert_one_client_per_address(&pg);
    assert!(server.wait_log("unreachable", WAIT), "{}", server.log());
    assert!(server.wait_log("reachable again", WAIT), "{}", server.log());
    // The same process serves a new client now.
    assert_eq!(server.pid(), pid);
    lab.set_client_mac("52:54:00:14:00:77");
    assert!(udhcpc_bound(&lab), "{}", server.log());
}

/// A failover pair's configuration (MAAS renders this shape) for one side.
fn failover_conf(lab: &Lab, role: &str) -> String {
    format!(
        "failover peer \"failover-vlan-5001\" {{
  {role};
  address {me}; peer address {peer};
  port 647; peer port 647;
  max-response-delay 60; max-unacked-updates 10; load balance max seconds 3;
  mclt 3600; split 255;
}}
authoritative;
ping-check false;
default-lease-time 600;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{
  pool {{ failover peer \"failover-vlan-5001\"; range {lo} {hi}; }}
}}
",
        me = lab.ip(1),
        peer = lab.ip(3),
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(250),
    )
}

#[test]
fn r14_a_failover_pair_with_its_own_lease_files_splits_the_pool_and_never_acks_an_address_twice() {
    let a_lab = Lab::new();
    let b_lab = Lab::new_like(&a_lab);
    a_lab.client_addresses();
    b_lab.client_addresses();
    let a = a_lab.start_ours(&failover_conf(&a_lab, "primary"), &[]);
    let b = b_lab.start_ours(&failover_conf(&b_lab, "secondary"), &[]);
    let (a_acks, b_acks) = storm_both(&a_lab, &b_lab, 4, || {});
    assert!(
        a_acks.len() >= 40,
        "primary acknowledged {}: {}",
        a_acks.len(),
        a.log()
    );
    assert!(
        b_acks.len() >= 40,
        "secondary acknowledged {}: {}",
        b_acks.len(),
        b.log()
    );
    let even = |ip: &std::net::Ipv4Addr| u32::from(*ip) % 2 == 0;
    assert!(a_acks.iter().all(|(ip, _)| even(ip)), "{a_acks:?}");
    assert!(b_acks.iter().all(|(ip, _)| !even(ip)), "{b_acks:?}");
    one_client_each(&[&a_acks, &b_acks]);
}

/// With an inventory and no `--state-dir`, the boot events and acknowledged addresses of
/// inventory machines go to the database with the leases, where tftpd and httpd-tree on
/// other hosts read them; the install state written there steers the boot plan.
#[test]
fn r14_boot_events_and_acknowledged_addresses_go_to_the_database_with_the_leases() {
    use pxe_model::state::StateStore;
    let pg = ScratchServer::start().unwrap();
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:77:00:10");
    let inv = crate::shell::write_bios_vm_inventory(&lab);
    let (i, url) = (inv.display().to_string(), pg.url());
    let server = lab.start_ours(
        &crate::shell::simple(&lab, "conf"),
        &["--inventory", &i, "--database", &url],
    );
    let out = crate::shell::one_lease(
        &lab,
        &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"],
    );
    assert!(
        out.contains("boot_file=pxelinux.0"),
        "{out}\n{}",
        server.log()
    );
    let db = pxe_db::state::PgStateStore::new(url.parse().unwrap());
    let acked = || db.acked_address("bios-vm").ok().flatten();
    assert!(
        wait_for(WAIT, || acked().is_some()),
        "no acknowledged address in the database:\n{}",
        server.log()
    );
    assert_eq!(acked(), Some(lab.ip(10)));
    assert_eq!(
        db.machine_acked_at(lab.ip(10)).unwrap().as_deref(),
        Some("bios-vm")
    );
    let events: Vec<String> = db
        .events("bios-vm", 10)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert!(
        events
            .iter()
            .any(|d| d.contains(&format!("DHCPACK {} pxelinux.0", lab.ip(10)))),
        "{events:?}"
    );
    assert!(!lab.path("state").exists(), "a state directory was made");
    // Again at once: the young lease is answered from the table (nothing written), so the
    // boot event is recorded off the packet path too (found by the failover lab case: the
    // database driver on the core's runtime panicked there).
    let again = crate::shell::one_lease(
        &lab,
        &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"],
    );
    assert!(
        again.contains("boot_file=pxelinux.0"),
        "{again}
{}",
        server.log()
    );
    let acks = || {
        db.events("bios-vm", 10)
            .unwrap()
            .iter()
            .filter(|e| e.detail.starts_with("DHCPACK"))
            .count()
    };
    assert!(wait_for(WAIT, || acks() >= 2), "{}", server.log());
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
