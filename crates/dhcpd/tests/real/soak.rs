//! The crash soak: our dhcpd killed with SIGKILL round after round, each round restarting it
//! on the lease file the last kill left, and every DHCPACK a client saw looked up in that file.
//!
//! A storm round starts the server (timed from spawn to `Server starting service.`), captures
//! the DHCP packets on the client side with tcpdump, runs a perfdhcp DORA storm through the
//! relay address, and SIGKILLs the server once a given number of ACKs has been captured. A
//! start-up round kills the server while it starts, that is while it reads, cuts and rewrites
//! the lease file. After every kill the file is read the way the server reads it, and every
//! ACKed lease still running must be in it: active, for the client the ACK named, ending no
//! earlier than the ACK said ([`ledger`]). After the last kill the server is started once more,
//! stopped cleanly, and the file must read without a single error, by the test and by
//! `dhcpd -T`, and no rewrite temporary may be left beside it (each start removes those a
//! kill left). [`figures`] holds what was counted.
//!
//! `crash::every_acked_lease_survives_sigkill` runs ten rounds of the steady schedule in the
//! normal suite, [`twenty_varied_kills_lose_nothing`] twenty of the varied one with a fixed
//! seed; [`sigkill_soak`] (ignored: `cargo xtask soak`) runs `PXE_SOAK_KILLS` rounds
//! (default 1000) of the varied one and writes its figures as JSON to `PXE_SOAK_REPORT`.

mod figures;
mod ledger;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dhcpd::lease::Time;

use crate::support::{Lab, Proc, Seen, in_netns, read_pcap};
pub(crate) use figures::Figures;
use ledger::{Ledger, read_as_server, unix_now};

/// Lease time of the soak's configuration: short, so that within a long run addresses run
/// out, are freed and go to other clients.
const LEASE_SECS: Time = 45;

/// What dhcpd logs once it serves.
const READY_LINE: &str = "Server starting service.";

/// What dhcpd logs when it cuts off a torn last record at start (`dhcpd::lease::file`).
const TORN_LINE: &str = "dropped an unterminated last record";

/// What dhcpd logs when it removes a rewrite's temporary at start (`dhcpd::lease::temporary`).
const REMOVED_LINE: &str = "a lease-file rewrite a crash interrupted";

/// What a start's log says it repaired.
#[derive(Debug, Clone, Copy)]
struct Repairs {
    /// Torn last records dropped.
    torn: usize,
    /// Rewrite temporaries of an earlier run removed.
    removed: usize,
}

impl Repairs {
    fn in_log(log: &str) -> Repairs {
        Repairs {
            torn: log.matches(TORN_LINE).count(),
            removed: log.matches(REMOVED_LINE).count(),
        }
    }
}

/// The xid of the packet that closes a round's capture.
const MARKER_XID: u32 = 0x5eed_0f0f;

/// Limit for anything a round waits for (a guard against a hung run, not a measurement).
const PATIENCE: Duration = Duration::from_secs(60);

/// A /16 of 16 000 addresses behind the relay, leases of [`LEASE_SECS`].
fn soak_conf(lab: &Lab) -> String {
    format!(
        "authoritative;
default-lease-time {LEASE_SECS};
max-lease-time {LEASE_SECS};
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {a} {b}; }}
subnet 10.200.0.0 netmask 255.255.0.0 {{ range 10.200.1.1 10.200.64.250; }}
",
        n = lab.net,
        a = lab.ip(10),
        b = lab.ip(250),
    )
}

/// How the kills of a soak are placed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Schedule {
    /// Every round a storm of 500 DORA/s killed after 20, 57, 94 or 131 ACKs in turn.
    Steady,
    /// Storm rates, ACK counts and start-up kills drawn from a generator seeded with `seed`.
    Varied { seed: u64 },
}

/// Where one round's kill lands.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// During the start-up, before the server serves.
    StartUp(Moment),
    /// In a storm of `rate` DORA/s, once `acks` ACKs were captured.
    Storm { rate: u32, acks: usize },
}

/// When in the start-up.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after the spawn.
    AfterSpawn(Duration),
    /// This long after the lease file's rewrite created its temporary file.
    IntoRewrite(Duration),
}

/// SplitMix64: a well-spread 64-bit value for each input.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Schedule {
    /// The kill of round `round`; `start` is how long a start has taken so far (median).
    fn kill(self, round: u32, start: Duration) -> Kill {
        match self {
            Schedule::Steady => Kill::Storm {
                rate: 500,
                acks: 20 + (round as usize % 4) * 37,
            },
            Schedule::Varied { seed } => {
                let h = splitmix(seed ^ u64::from(round).wrapping_mul(0x1000_0001));
                varied(h, round, start)
            }
        }
    }
}

/// One round in eight (not the first: its file is empty) kills the start-up: half of them at
/// a moment spread over the time a start takes, half 0 to 10 ms after the rewrite of the lease
/// file began. The others kill a storm of 200 to 2000 DORA/s after 1 to 250 ACKs.
fn varied(h: u64, round: u32, start: Duration) -> Kill {
    if round > 0 && h.is_multiple_of(8) {
        let share = ((h >> 8) % 1000) as f64 / 1000.0;
        return Kill::StartUp(if (h >> 40).is_multiple_of(2) {
            Moment::AfterSpawn(start.mul_f64(share))
        } else {
            Moment::IntoRewrite(Duration::from_millis(10).mul_f64(share))
        });
    }
    const RATES: [u32; 4] = [200, 500, 1000, 2000];
    Kill::Storm {
        rate: RATES[((h >> 16) % 4) as usize],
        acks: 1 + ((h >> 24) % 250) as usize,
    }
}

/// Check `f` every `every` until it holds or `limit` passes.
fn poll(limit: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// The last `n` lines of a log, for failure messages (a storm's log is long).
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// SIGKILL `p` now (no `kill` process in between: start-up kills are timed) and reap it.
fn sigkill(p: &mut Proc) {
    let pid = nix::unistd::Pid::from_raw(p.pid() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    assert!(
        p.wait_exit(Duration::from_secs(10)).is_some(),
        "dhcpd did not die"
    );
}

/// The pcap filter for what the server sends (its replies, and the marker sent from its side).
fn from_server(lab: &Lab) -> String {
    format!("udp and src host {}", lab.ip(1))
}

/// `(address, client)` of each DHCPACK, in capture order.
fn acks(seen: &[Seen]) -> Vec<(Ipv4Addr, [u8; 6])> {
    seen.iter()
        .filter(|s| s.msg_type == Some(5))
        .map(|s| (s.yiaddr, s.chaddr))
        .collect()
}

/// A BOOTP reply with [`MARKER_XID`]: a packet the capture parses like the others.
fn marker_packet() -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[0] = 2; // BOOTREPLY
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&MARKER_XID.to_be_bytes());
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p.push(255);
    p
}

/// Close a capture: once the server is dead, send a marker from the server's side over the
/// same link; when tcpdump has written it, it has written every packet the server sent.
/// The packets, and how many the kernel dropped before tcpdump read them.
fn drain_capture(lab: &Lab, capture: Proc, pcap: &Path) -> (Vec<Seen>, usize) {
    let to = SocketAddrV4::new(lab.ip(2), 68);
    in_netns(&lab.srv, || {
        let sock = UdpSocket::bind("0.0.0.0:68").expect("bind 68 for the marker");
        sock.send_to(&marker_packet(), to).expect("send the marker");
    });
    let has_marker = || read_pcap(pcap).iter().any(|s| s.xid == MARKER_XID);
    assert!(
        poll(
            Duration::from_secs(10),
            Duration::from_millis(5),
            has_marker
        ),
        "the capture never saw the marker: {}",
        capture.log()
    );
    let dropped = stop_capture(capture);
    (read_pcap(pcap), dropped)
}

/// Stop tcpdump with SIGINT (it then prints its counters); how many packets the kernel
/// dropped before tcpdump could read them.
fn stop_capture(mut capture: Proc) -> usize {
    capture.signal("INT");
    capture.wait_exit(Duration::from_secs(10));
    let log = capture.log();
    log.lines()
        .find_map(|l| l.strip_suffix(" packets dropped by kernel"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// `dhcpd.leases.<time>.<random>` files in `dir`: rewrites that never got renamed.
fn temporaries(dir: &Path) -> HashSet<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashSet::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("dhcpd.leases.") && n.matches('.').count() == 3)
        })
        .collect()
}

/// Wait until `server` serves: the time from `spawned`, and what it repaired on the way.
fn wait_ready(server: &mut Proc, spawned: Instant, round: u32) -> (Duration, Repairs) {
    let ready = poll(PATIENCE, Duration::from_millis(2), || {
        matches!(server.child.try_wait(), Ok(Some(_))) || server.log().contains(READY_LINE)
    });
    let took = spawned.elapsed();
    let log = server.log();
    assert!(
        ready && log.contains(READY_LINE),
        "round {round}: dhcpd did not start:\n{}",
        tail(&log, 40)
    );
    (took, Repairs::in_log(&log))
}

/// One lab, one lease file, the kills so far.
struct Soak {
    lab: Lab,
    conf: String,
    schedule: Schedule,
    ledger: Ledger,
    figures: Figures,
}

impl Soak {
    fn new(schedule: Schedule) -> Soak {
        let lab = Lab::new();
        lab.client_addresses();
        let conf = soak_conf(&lab);
        Soak {
            lab,
            conf,
            schedule,
            ledger: Ledger::default(),
            figures: Figures {
                seed: match schedule {
                    Schedule::Steady => None,
                    Schedule::Varied { seed } => Some(seed),
                },
                ..Figures::default()
            },
        }
    }

    fn leases(&self) -> PathBuf {
        self.lab.path("dhcpd.leases")
    }

    /// The median start so far (a guess before the first).
    fn typical_start(&self) -> Duration {
        let (median, _) = self.figures.restart_times();
        if median.is_zero() {
            Duration::from_millis(100)
        } else {
            median
        }
    }

    fn spawn_server(&self) -> (Proc, Instant) {
        let at = Instant::now();
        (self.lab.spawn_ours(&self.conf, &[], &[]), at)
    }

    /// Count what a start (whole or killed) repaired.
    fn note_repairs(&mut self, r: Repairs) {
        self.figures.torn_dropped_on_start += r.torn;
        self.figures.temporaries_removed_on_start += r.removed;
    }

    /// Count a start that reached service: what it repaired, and its time as a restart
    /// unless it is the first.
    fn note_start(&mut self, round: u32, (took, repairs): (Duration, Repairs)) {
        self.note_repairs(repairs);
        if round > 0 {
            self.figures.restarts.push(took);
        }
    }

    fn round(&mut self, round: u32) {
        match self.schedule.kill(round, self.typical_start()) {
            Kill::StartUp(moment) => self.kill_start_up(round, moment),
            Kill::Storm { rate, acks } => self.kill_in_storm(round, rate, acks),
        }
        self.check_file(round);
    }

    /// Kill the server at `moment` of its start-up; a kill that leaves a rewrite's temporary
    /// file behind landed in the middle of the rewrite.
    fn kill_start_up(&mut self, round: u32, moment: Moment) {
        let dir = self.lab.dir.path().to_path_buf();
        let before = temporaries(&dir);
        let (mut server, spawned) = self.spawn_server();
        match moment {
            Moment::AfterSpawn(after) => {
                std::thread::sleep(after.saturating_sub(spawned.elapsed()));
            }
            Moment::IntoRewrite(after) => {
                let rewriting = || temporaries(&dir).difference(&before).count() > 0;
                let over = |p: &mut Proc| {
                    matches!(p.child.try_wait(), Ok(Some(_))) || p.log().contains(READY_LINE)
                };
                let seen = poll(PATIENCE, Duration::from_millis(1), || {
                    rewriting() || over(&mut server)
                });
                assert!(
                    seen,
                    "round {round}: no rewrite, no service within {PATIENCE:?}"
                );
                std::thread::sleep(after);
            }
        }
        sigkill(&mut server);
        let log = server.log();
        self.note_repairs(Repairs::in_log(&log));
        if log.contains(READY_LINE) {
            self.figures.idle_kills += 1;
            return;
        }
        self.figures.startup_kills += 1;
        if temporaries(&dir).difference(&before).count() > 0 {
            self.figures.mid_rewrite_kills += 1;
        }
    }

    /// Start the server and a capture, storm it at `rate` DORA/s, kill it once `want` ACKs
    /// were captured, and record every ACK the capture holds.
    fn kill_in_storm(&mut self, round: u32, rate: u32, want: usize) {
        let started = unix_now();
        let (mut server, spawned) = self.spawn_server();
        let lab = &self.lab;
        let (start, (capture, pcap)) = std::thread::scope(|s| {
            let capture = s.spawn(|| lab.capture_storm("soak", &from_server(lab)));
            let start = wait_ready(&mut server, spawned, round);
            (start, capture.join().expect("capture thread"))
        });
        self.note_start(round, start);
        let base = format!("mac=0e:{:02x}:{:02x}:00:00:00", round >> 8, round & 0xff);
        let storm = crate::crash::storm(&self.lab, rate, &base, 60, "perfdhcp.log");
        let acked = || acks(&read_pcap(&pcap)).len() >= want;
        if !poll(PATIENCE, Duration::from_millis(10), acked) {
            panic!(
                "round {round}: fewer than {want} ACKs in {PATIENCE:?}\n{}\nperfdhcp:\n{}",
                tail(&server.log(), 40),
                tail(&storm.log(), 20)
            );
        }
        sigkill(&mut server);
        drop(storm);
        let (seen, dropped) = drain_capture(&self.lab, capture, &pcap);
        self.figures.capture_drops += dropped;
        let acked = acks(&seen);
        self.figures.storm_kills += 1;
        self.figures.ack_packets += acked.len();
        self.figures.acked_leases += acked.iter().collect::<HashSet<_>>().len();
        let twice = self
            .ledger
            .record(round, (started, unix_now()), LEASE_SECS, &acked);
        self.figures.double_grants.extend(twice);
    }

    /// Read the lease file as the server would and hold it to every running promise.
    fn check_file(&mut self, round: u32) {
        let read = read_as_server(&self.leases());
        self.figures.torn_after_kill += usize::from(read.torn);
        if !read.file.is_clean() {
            self.figures
                .file_errors
                .push(format!("after kill {round}: {:?}", read.file.output));
        }
        let (checked, broken) = self.ledger.check(&read.file.table(), unix_now());
        self.figures.lookups += checked;
        if !broken.is_empty() {
            let kept = self.keep_evidence(round);
            self.figures.lost.extend(
                broken
                    .into_iter()
                    .map(|b| format!("after kill {round}: {b} (files in {})", kept.display())),
            );
        }
        self.figures.file_bytes = read.bytes;
        self.figures.file_leases = read.file.leases.len();
    }

    /// Copy the lease files, the server's log and the capture of round `round` out of the
    /// lab (which is deleted at the end); where they went.
    fn keep_evidence(&self, round: u32) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("pxe-soak-evidence-{}", std::process::id()))
            .join(format!("round-{round}"));
        std::fs::create_dir_all(&dir).expect("evidence directory");
        for name in ["dhcpd.leases", "dhcpd.leases~", "dhcpd.log", "soak.pcap"] {
            let _ = std::fs::copy(self.lab.path(name), dir.join(name));
        }
        dir
    }

    /// The restart after the last kill, a clean stop, then the file must read without an
    /// error, here and with `dhcpd -T`.
    fn finish(&mut self, rounds: u32) {
        let (mut server, spawned) = self.spawn_server();
        let start = wait_ready(&mut server, spawned, rounds);
        self.note_start(rounds, start);
        server.signal("TERM");
        assert_eq!(
            server.wait_exit(Duration::from_secs(20)),
            Some(0),
            "dhcpd did not stop cleanly:\n{}",
            tail(&server.log(), 40)
        );
        self.check_file(rounds);
        let last = read_as_server(&self.leases());
        if last.torn {
            self.figures
                .file_errors
                .push("after the clean stop: the file ends in a torn record".into());
        }
        self.test_with_dhcpd();
        self.check_no_temporaries();
    }

    /// After the final restart no rewrite temporary may be left: each start removes those an
    /// earlier kill left, and the last run stopped cleanly.
    fn check_no_temporaries(&mut self) {
        let mut left: Vec<_> = temporaries(self.lab.dir.path()).into_iter().collect();
        left.sort();
        self.figures.temporaries_left = left.len();
        if !left.is_empty() {
            self.figures.file_errors.push(format!(
                "{} rewrite temporaries left after the final restart: {left:?}",
                left.len()
            ));
        }
    }

    /// `dhcpd -T` on the final file: exit 0, every lease of the file kept, no lease without
    /// its subnet.
    fn test_with_dhcpd(&mut self) {
        let out = Command::new(env!("CARGO_BIN_EXE_dhcpd"))
            .arg("-T")
            .arg("-cf")
            .arg(self.lab.path("dhcpd.conf"))
            .arg("-lf")
            .arg(self.leases())
            .output()
            .expect("dhcpd -T");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let leases = read_as_server(&self.leases()).file.table().len();
        let fine = out.status.success()
            && text.contains(&format!("Wrote {leases} leases to leases file."))
            && text.contains("Lease file test successful")
            && !text.contains("no subnet");
        if !fine {
            self.figures.file_errors.push(format!(
                "dhcpd -T ({}), expected {leases} leases:\n{text}",
                out.status
            ));
        }
    }
}

/// What a soak runs: `kills` rounds placed by `schedule`, fewer if `budget` runs out first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) kills: u32,
    pub(crate) schedule: Schedule,
    pub(crate) budget: Option<Duration>,
}

/// A progress line this often (in rounds).
const PROGRESS_EVERY: u32 = 50;

/// The plan's kills on one lease file, then a last restart and check. No round starts once
/// the budget is spent. A round that fails prints the figures so far before its panic goes on.
pub(crate) fn run(plan: Plan) -> Figures {
    let start = Instant::now();
    let mut soak = Soak::new(plan.schedule);
    soak.figures.requested = plan.kills;
    let mut round = 0;
    loop {
        let spent = plan.budget.is_some_and(|b| start.elapsed() >= b);
        let last = round == plan.kills || spent;
        soak.figures.stopped_by_budget = spent && round < plan.kills;
        let step = catch_unwind(AssertUnwindSafe(|| {
            if last {
                soak.finish(round);
            } else {
                soak.round(round);
            }
        }));
        if let Err(panic) = step {
            soak.figures.wall = start.elapsed();
            eprintln!("the soak stopped in round {round}; the figures so far:");
            soak.figures.report();
            resume_unwind(panic);
        }
        if last {
            break;
        }
        round += 1;
        if round.is_multiple_of(PROGRESS_EVERY) {
            eprintln!("{}", soak.figures.progress(start.elapsed()));
        }
    }
    soak.figures.wall = start.elapsed();
    soak.figures
}

/// A number from the environment, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

/// A seed whose first twenty rounds hold eight start-up kills, seven of them aimed into the
/// lease file's rewrite (and twelve storm kills).
const SHORT_SEED: u64 = 2798;

/// The soak's short form, in the normal suite (about 20 s): twenty rounds of the varied
/// schedule with [`SHORT_SEED`], so that kills during start-up and in the middle of a rewrite
/// are tried on every run, not only by `cargo xtask soak`. Nothing lost, no temporary left.
#[test]
fn twenty_varied_kills_lose_nothing() {
    let figures = run(Plan {
        kills: 20,
        schedule: Schedule::Varied { seed: SHORT_SEED },
        budget: None,
    });
    eprintln!("{}", figures.summary());
    figures.assert_nothing_lost();
    assert_eq!(figures.kills(), 20);
    assert_eq!(figures.storm_kills, 12, "the seed's storm rounds");
}

/// `PXE_SOAK_KILLS` rounds (default 1000) of the varied schedule, seeded with
/// `PXE_SOAK_SEED` (default: the clock), for at most `PXE_SOAK_MAX_SECS` if set (then the
/// figures say how many kills ran); no ACKed lease may be lost.
#[test]
#[ignore = "long: run by `cargo xtask soak`"]
fn sigkill_soak() {
    let kills = u32::try_from(env_number("PXE_SOAK_KILLS", 1000)).expect("PXE_SOAK_KILLS");
    let clock = unix_now() as u64;
    let seed = env_number("PXE_SOAK_SEED", clock);
    let budget = std::env::var("PXE_SOAK_MAX_SECS")
        .is_ok()
        .then(|| Duration::from_secs(env_number("PXE_SOAK_MAX_SECS", 0)));
    let figures = run(Plan {
        kills,
        schedule: Schedule::Varied { seed },
        budget,
    });
    figures.report();
    figures.assert_nothing_lost();
    if !figures.stopped_by_budget {
        assert_eq!(figures.kills(), kills, "every round kills once");
    }
}
