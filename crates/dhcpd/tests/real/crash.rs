//! SIGKILL during a storm of DORA exchanges, ten times: after each kill, every ACK the
//! client side saw (captured with tcpdump) names a lease that is in the lease file, active,
//! for that client. The server is restarted on the same file between rounds.

use std::time::Duration;

use crate::support::{Lab, need, read_pcap, wait_for};

#[test]
fn every_acked_lease_survives_sigkill() {
    let perfdhcp = need("perfdhcp", "kea-admin");
    let lab = Lab::new();
    lab.client_addresses();
    // A /16 behind the relay: every DISCOVER of the storm is a new client and a new lease.
    let conf = format!(
        "authoritative;
default-lease-time 600;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; }}
subnet 10.200.0.0 netmask 255.255.0.0 {{ range 10.200.1.1 10.200.250.250; }}
",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(250),
    );
    let mut total_acks = 0;
    for round in 0..10u32 {
        let mut server = lab.start_ours(&conf, &[]);
        let (cap, pcap) = lab.capture_dhcp(&format!("round{round}"));
        // A different client population per round, so every ACK is a new lease.
        let base = format!("mac=00:0c:{round:02x}:00:00:00");
        let relay = lab.relay_ip(1).to_string();
        let to = lab.ip(1).to_string();
        let storm = lab.spawn(
            &lab.cli,
            &perfdhcp,
            &[
                "-4", "-l", &relay, "-r", "500", "-R", "100000", "-b", &base, "-p", "30", &to,
            ],
            &format!("perfdhcp{round}.log"),
        );
        // Let ACKs reach the client side, then kill the server in the middle of it.
        let want = 20 + (round as usize % 4) * 37;
        let acked = || {
            read_pcap(&pcap)
                .iter()
                .filter(|s| s.msg_type == Some(5))
                .count()
        };
        assert!(
            wait_for(Duration::from_secs(60), || acked() >= want),
            "round {round}: only {} ACKs seen:\n{}",
            acked(),
            server.log()
        );
        server.signal("KILL");
        assert!(
            server.wait_exit(Duration::from_secs(10)).is_some(),
            "server did not die"
        );
        drop(storm);
        // Give the capture a moment to write what is in flight, then stop it.
        std::thread::sleep(Duration::from_millis(200));
        drop(cap);
        let seen = read_pcap(&pcap);
        let acks: Vec<_> = seen
            .iter()
            .filter(|s| s.msg_type == Some(5))
            .cloned()
            .collect();
        assert!(
            !acks.is_empty(),
            "round {round}: no ACK captured ({} packets, {} bytes of pcap)",
            seen.len(),
            std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0)
        );
        total_acks += acks.len();
        let table = lab.leases();
        for a in &acks {
            let l = table.get(a.yiaddr);
            let ok = l.is_some_and(|l| {
                l.state == dhcpd::lease::BindingState::Active
                    && l.hardware.as_ref().map(|h| h.addr.as_slice()) == Some(&a.chaddr[..])
            });
            assert!(
                ok,
                "round {round}: ACK of {} to {:02x?} not in the lease file: {l:?}",
                a.yiaddr, a.chaddr
            );
        }
    }
    assert!(total_acks >= 200, "only {total_acks} ACKs in ten rounds");
}
