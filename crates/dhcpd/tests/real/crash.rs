//! SIGKILL during a storm of DORA exchanges, ten times (the rounds are the crash soak's, in
//! `soak`): after each kill, every ACK the client side saw (captured with tcpdump) names a
//! lease that is in the lease file, active, for that client. The server is restarted on the
//! same file between rounds. Also: a lease file on a disk that fills up (no ACK for a lease
//! that is not on disk, the file stays readable), and the capabilities a running dhcpd keeps.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Lab, Proc, Seen, need, read_pcap, run, wait_for};

/// A configuration with a /16 behind the relay: every DISCOVER of a storm is a new lease.
fn storm_conf(lab: &Lab, lease_time: u32) -> String {
    format!(
        "authoritative;
default-lease-time {lease_time};
max-lease-time {lease_time};
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; }}
subnet 10.200.0.0 netmask 255.255.0.0 {{ range 10.200.1.1 10.200.250.250; }}
",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(250),
    )
}

/// perfdhcp through the relay address: `rate` DORAs a second from `clients` MACs after
/// `base`, for `seconds`.
pub(crate) fn storm(lab: &Lab, rate: u32, base: &str, seconds: u32, log: &str) -> Proc {
    let perfdhcp = need("perfdhcp", "kea-admin");
    let relay = lab.relay_ip(1).to_string();
    let to = lab.ip(1).to_string();
    let rate = rate.to_string();
    let seconds = seconds.to_string();
    lab.spawn(
        &lab.cli,
        &perfdhcp,
        &[
            "-4", "-l", &relay, "-r", &rate, "-R", "100000", "-b", base, "-p", &seconds, &to,
        ],
        log,
    )
}

fn acks(seen: &[Seen]) -> Vec<(Ipv4Addr, [u8; 6])> {
    seen.iter()
        .filter(|s| s.msg_type == Some(5))
        .map(|s| (s.yiaddr, s.chaddr))
        .collect()
}

/// The ACKs whose lease is not in `table`, active, for the MAC the ACK named.
fn lost(
    table: &dhcpd::lease::LeaseTable,
    acked: &HashMap<Ipv4Addr, [u8; 6]>,
) -> Vec<(Ipv4Addr, String)> {
    let mut out = Vec::new();
    for (ip, mac) in acked {
        let l = table.get(*ip);
        let ok = l.is_some_and(|l| {
            l.state == dhcpd::lease::BindingState::Active
                && l.hardware.as_ref().map(|h| h.addr()) == Some(&mac[..])
        });
        if !ok {
            out.push((*ip, format!("ACK of {ip} to {mac:02x?}: file has {l:?}")));
        }
    }
    out
}

/// Ten rounds of the crash soak's steady schedule (`soak`): a storm at 500 DORA/s, the server
/// SIGKILLed after 20 to 131 ACKs, restarted on the same file; after each kill every ACK
/// captured so far names an active lease for its client in the file, and after a last restart
/// the file reads without an error.
#[test]
fn every_acked_lease_survives_sigkill() {
    let figures = crate::soak::run(crate::soak::Plan {
        kills: 10,
        schedule: crate::soak::Schedule::Steady,
        budget: None,
    });
    eprintln!("{}", figures.summary());
    figures.assert_nothing_lost();
    assert_eq!(figures.storm_kills, 10);
    assert!(
        figures.ack_packets >= 200,
        "only {} ACKs in ten rounds",
        figures.ack_packets
    );
}

/// A tmpfs of `size`, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at));
        SmallDisk(at.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The lease file on a 64 KiB tmpfs that fills up under a storm: commits fail, and no ACK
/// leaves for a lease that is not in the file; the file stays readable without errors.
#[test]
fn a_full_disk_sends_no_ack_for_a_lease_not_on_disk() {
    let lab = Lab::new();
    lab.client_addresses();
    let disk = SmallDisk::mount(&lab.path("small"), "64k");
    let leases = disk.0.join("dhcpd.leases");
    std::fs::write(&leases, "").unwrap();
    let lf = leases.display().to_string();
    let server = lab.start_ours(&storm_conf(&lab, 600), &["-lf", &lf]);
    let (cap, pcap) = lab.capture_dhcp("full");
    let _storm = storm(&lab, 300, "mac=00:0d:00:00:00:00", 60, "perfdhcp-full.log");
    assert!(
        server.wait_log("database update failed", Duration::from_secs(60)),
        "the disk never filled up:\n{}",
        server.log()
    );
    // Keep the storm on a full disk for a while: retransmissions, repairs, more failures.
    std::thread::sleep(Duration::from_secs(3));
    server.signal("KILL");
    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    let seen = read_pcap(&pcap);
    let acked: HashMap<_, _> = acks(&seen).into_iter().collect();
    assert!(
        acked.len() > 20,
        "only {} ACKs before the disk filled",
        acked.len()
    );
    let file = dhcpd::lease::parse::load(&leases).unwrap();
    assert!(
        file.is_clean(),
        "the lease file has errors: {:?}",
        file.output
    );
    let missing = lost(&file.table(), &acked);
    assert!(
        missing.is_empty(),
        "{} ACKed leases are not in the file, e.g. {:?}\n{}",
        missing.len(),
        missing.first(),
        server.log()
    );
}

/// An 16 MiB ext4 image mounted on a loop device; thawed and unmounted on drop.
struct LoopDisk(PathBuf);

impl LoopDisk {
    fn mount(lab: &Lab, name: &str) -> LoopDisk {
        let img = lab.path(&format!("{name}.img"));
        let at = lab.path(name);
        std::fs::create_dir_all(&at).unwrap();
        run(Command::new("truncate").args(["-s", "16M"]).arg(&img));
        run(Command::new("mkfs.ext4").arg("-q").arg(&img));
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&at));
        LoopDisk(at)
    }

    fn freeze(&self, on: bool) {
        run(Command::new("fsfreeze")
            .arg(if on { "-f" } else { "-u" })
            .arg(&self.0));
    }
}

/// Thaws the disk when dropped: declared after the server, so a failing assertion thaws
/// it before the server is killed (a process blocked on a frozen file system cannot die).
struct Thaw<'a>(&'a LoopDisk);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let _ = Command::new("fsfreeze").arg("-u").arg(&self.0.0).status();
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("fsfreeze").arg("-u").arg(&self.0).status();
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// `WATCHDOG=1` messages that reach `sock` within `wait`.
fn pings(sock: &std::os::unix::net::UnixDatagram, wait: Duration) -> usize {
    let start = Instant::now();
    let mut n = 0;
    let mut buf = [0u8; 512];
    while start.elapsed() < wait {
        if let Ok(len) = sock.recv(&mut buf) {
            n += usize::from(buf[..len].windows(10).any(|w| w == b"WATCHDOG=1"));
        }
    }
    n
}

/// A lease file on a frozen file system (`fsfreeze`: every write blocks, a stuck disk)
/// under a storm: the committer's queue stays bounded (requests are dropped and counted, one
/// log line), the watchdog pings stop while it is stuck and resume once the disk thaws, and
/// no ACK left for a lease that is not in the file.
#[test]
fn a_stuck_disk_stops_the_watchdog_and_bounds_the_queue() {
    let lab = Lab::new();
    lab.client_addresses();
    let disk = LoopDisk::mount(&lab, "frozen");
    let leases = disk.0.join("dhcpd.leases");
    std::fs::write(&leases, "").unwrap();
    let lf = leases.display().to_string();
    let notify = lab.path("notify");
    let sock = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let metrics = lab.path("metrics.txt");
    let mf = metrics.display().to_string();
    let ns = notify.display().to_string();
    let server = lab.start_ours_env(
        &storm_conf(&lab, 600),
        &["-lf", &lf, "--metrics-file", &mf],
        &[("NOTIFY_SOCKET", &ns), ("WATCHDOG_USEC", "1000000")],
    );
    let (cap, pcap) = lab.capture_dhcp("stuck");
    let _storm = storm(&lab, 300, "mac=00:0f:00:00:00:00", 60, "perfdhcp-stuck.log");
    assert!(
        pings(&sock, Duration::from_secs(2)) > 0,
        "no watchdog pings before the freeze"
    );
    let _thaw = Thaw(&disk);
    disk.freeze(true);
    assert!(
        server.wait_log("lease committer stuck", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    assert!(
        server.wait_log("lease committer queue full", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    // Freezing takes a moment (it syncs first): a commit may still finish during it.
    pings(&sock, Duration::from_secs(1));
    let while_stuck = pings(&sock, Duration::from_secs(3));
    // The metrics file is written by the serving task, which a stuck disk does not stop
    // (it lives on another file system).
    assert!(
        wait_for(Duration::from_secs(12), || {
            std::fs::read_to_string(&metrics).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.strip_prefix("dhcpd_lease_commit_queue_drops_total ")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .is_some_and(|v| v > 0.0)
                })
            })
        }),
        "{}",
        std::fs::read_to_string(&metrics).unwrap_or_default()
    );
    let lines = server.log().matches("lease committer queue full").count();
    disk.freeze(false);
    assert_eq!(
        while_stuck, 0,
        "the watchdog was pinged while the disk was stuck"
    );
    assert!(lines <= 2, "{lines} queue-full lines: not rate-limited");
    assert!(
        pings(&sock, Duration::from_secs(3)) > 0,
        "no watchdog pings after the thaw:\n{}",
        server.log()
    );
    std::thread::sleep(Duration::from_secs(1));
    server.signal("KILL");
    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    let acked: HashMap<_, _> = acks(&read_pcap(&pcap)).into_iter().collect();
    assert!(!acked.is_empty());
    let file = dhcpd::lease::parse::load(&leases).unwrap();
    let missing = lost(&file.table(), &acked);
    assert!(missing.is_empty(), "{:?}", missing.first());
}

/// The effective capabilities in `/proc/PID/status`.
fn cap_eff(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

/// Run as root without `-user`, a serving dhcpd has given up `CAP_NET_RAW` (its packet
/// socket is open), `CAP_NET_ADMIN`, `CAP_SYS_ADMIN`, `CAP_NET_BIND_SERVICE`, and every
/// other capability but those for its own files, and still answers.
#[test]
fn a_serving_dhcpd_has_dropped_net_raw() {
    let lab = Lab::new();
    lab.client_addresses();
    let server = lab.start_ours(&crate::perf::two_networks(&lab), &[]);
    let eff = cap_eff(server.pid());
    const NET_BIND_SERVICE: u32 = 10;
    const NET_ADMIN: u32 = 12;
    const NET_RAW: u32 = 13;
    const SYS_ADMIN: u32 = 21;
    const SETUID: u32 = 7;
    for (name, bit) in [
        ("CAP_NET_RAW", NET_RAW),
        ("CAP_NET_ADMIN", NET_ADMIN),
        ("CAP_NET_BIND_SERVICE", NET_BIND_SERVICE),
        ("CAP_SYS_ADMIN", SYS_ADMIN),
        ("CAP_SETUID", SETUID),
    ] {
        assert_eq!(eff & (1 << bit), 0, "{name} kept: CapEff {eff:016x}");
    }
    // It still serves: a DORA through the relay address.
    let perfdhcp = need("perfdhcp", "kea-admin");
    let relay = lab.relay_ip(1).to_string();
    let to = lab.ip(1).to_string();
    let out = lab
        .cmd(&lab.cli, &perfdhcp)
        .args([
            "-4", "-l", &relay, "-r", "10", "-n", "10", "-R", "10", "-d", "10", "-W", "11000000",
            &to,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        crate::perf::stats(&text, "REQUEST-ACK"),
        (10, 10, 0),
        "{text}\n{}",
        server.log()
    );
}
