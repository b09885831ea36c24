//! Network namespaces for real-client tests: a server namespace and a client namespace joined
//! by a veth pair, addresses `10.199.X.*` that exist only there, torn down on drop; our
//! `dhcpd` (or ISC's) started inside, killed by PID; client programs run in the client
//! namespace; a tiny pcap reader for `tcpdump -w` captures.

#![allow(dead_code, unreachable_pub)] // each test uses a different subset; a test module

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A program the tests need, or a failure naming its Debian package.
pub fn need(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is not installed: apt-get install {package}");
}

/// Run a command, panicking with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) {
    run(Command::new(need("ip", "iproute2")).args(args));
}

/// Wait until `f` is true, checking every 50 ms, for at most `limit` (a guard against a hung
/// test, not a performance assertion).
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A started process, killed (by its PID) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait for `needle` in the log.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_for(limit, || self.log().contains(needle))
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Wait for the process to exit; its status code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Two namespaces and a veth pair: `srv` (`s0`, 10.199.X.1/24) and `cli` (`c0`).
pub struct Lab {
    pub srv: String,
    pub cli: String,
    /// The third octet of this lab's network.
    pub net: u8,
    pub dir: tempfile::TempDir,
    /// More client namespaces (`add_link`).
    pub extra: Vec<String>,
}

impl Lab {
    pub fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Lab::with_net(n, 10 + ((std::process::id() + n * 7) % 200) as u8)
    }

    /// A second lab numbered as `other` (its namespaces are its own, so the same addresses
    /// do not meet): two servers with one configuration, as on one network.
    pub fn new_like(other: &Lab) -> Lab {
        Lab::with_net(NEXT.fetch_add(1, Ordering::SeqCst), other.net)
    }

    fn with_net(n: u32, net: u8) -> Lab {
        let id = format!("{}{n}", std::process::id() % 100_000);
        let srv = format!("dhs{id}");
        let cli = format!("dhc{id}");
        let lab = Lab {
            srv,
            cli,
            net,
            dir: tempfile::tempdir().expect("tempdir"),
            extra: Vec::new(),
        };
        ip(&["netns", "add", &lab.srv]);
        ip(&["netns", "add", &lab.cli]);
        let (a, b) = (format!("v{id}s"), format!("v{id}c"));
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "netns", &lab.srv]);
        ip(&["link", "set", &b, "netns", &lab.cli]);
        ip(&["-n", &lab.srv, "link", "set", &a, "name", "s0"]);
        ip(&["-n", &lab.cli, "link", "set", &b, "name", "c0"]);
        let addr = format!("{}/24", lab.ip(1));
        ip(&["-n", &lab.srv, "addr", "add", &addr, "dev", "s0"]);
        for (ns, dev) in [(&lab.srv, "s0"), (&lab.cli, "c0")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// A second link: server interface `s1` with `10.201.net.1/24`, a new client namespace
    /// (returned) with interface `c0`.
    pub fn add_link(&mut self) -> String {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let ns = format!("dhx{id}");
        ip(&["netns", "add", &ns]);
        self.extra.push(ns.clone());
        let (a, b) = (format!("v{id}s"), format!("v{id}c"));
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "netns", &self.srv]);
        ip(&["link", "set", &b, "netns", &ns]);
        ip(&["-n", &self.srv, "link", "set", &a, "name", "s1"]);
        ip(&["-n", &ns, "link", "set", &b, "name", "c0"]);
        let addr = format!("10.201.{}.1/24", self.net);
        ip(&["-n", &self.srv, "addr", "add", &addr, "dev", "s1"]);
        ip(&["-n", &self.srv, "link", "set", "s1", "up"]);
        ip(&["-n", &ns, "link", "set", "c0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// `10.199.net.host`.
    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 199, self.net, host)
    }

    /// An address in the lab's second (relayed) network, `10.200.net.host`.
    pub fn relay_ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.net, host)
    }

    /// Give the client side an address on the lab network and one on the relay network
    /// (routed from the server side), so a relay or perfdhcp can run there.
    pub fn client_addresses(&self) {
        let a = format!("{}/24", self.ip(2));
        let r = format!("{}/24", self.relay_ip(1));
        ip(&["-n", &self.cli, "addr", "add", &a, "dev", "c0"]);
        ip(&["-n", &self.cli, "addr", "add", &r, "dev", "c0"]);
        let net = format!("10.200.{}.0/24", self.net);
        ip(&[
            "-n",
            &self.srv,
            "route",
            "add",
            &net,
            "via",
            &self.ip(2).to_string(),
        ]);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Set the client interface's MAC address.
    pub fn set_client_mac(&self, mac: &str) {
        ip(&["-n", &self.cli, "link", "set", "c0", "down"]);
        ip(&["-n", &self.cli, "link", "set", "c0", "address", mac]);
        ip(&["-n", &self.cli, "link", "set", "c0", "up"]);
    }

    /// A command run in namespace `ns`.
    pub fn cmd(&self, ns: &str, program: &Path) -> Command {
        let mut c = Command::new(need("ip", "iproute2"));
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// Start a process in a namespace with its output in `log_name`.
    pub fn spawn(&self, ns: &str, program: &Path, args: &[&str], log_name: &str) -> Proc {
        self.spawn_env(ns, program, args, &[], log_name)
    }

    /// [`Lab::spawn`] with environment variables set for the process.
    pub fn spawn_env(
        &self,
        ns: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log_name: &str,
    ) -> Proc {
        let log = self.path(log_name);
        let f = std::fs::File::create(&log).expect("log file");
        let f2 = f.try_clone().expect("log file");
        let child = self
            .cmd(ns, program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .spawn()
            .unwrap_or_else(|e| panic!("{program:?}: {e}"));
        Proc { child, log }
    }

    /// tcpdump on the client's side of the link (`c0`) writing the DHCP packets it sees to
    /// `<tag>.pcap` as they come; returns once it listens. Dropping the process stops it.
    pub fn capture_dhcp(&self, tag: &str) -> (Proc, PathBuf) {
        self.capture(tag, "udp port 67 or udp port 68", &[])
    }

    /// [`Lab::capture_dhcp`] of the packets the pcap filter `filter` selects, with a kernel
    /// buffer of 32 MiB so that a storm loses none (`packets dropped by kernel` when
    /// tcpdump stops says if it did).
    pub fn capture_storm(&self, tag: &str, filter: &str) -> (Proc, PathBuf) {
        self.capture(tag, filter, &["-B", "32768"])
    }

    fn capture(&self, tag: &str, filter: &str, extra: &[&str]) -> (Proc, PathBuf) {
        let tcpdump = need("tcpdump", "tcpdump");
        let pcap = self.path(&format!("{tag}.pcap"));
        let p = pcap.display().to_string();
        let mut args = vec!["-i", "c0", "-U", "--immediate-mode", "-n"];
        args.extend_from_slice(extra);
        args.extend(["-w", &p, filter]);
        let cap = self.spawn(&self.cli, &tcpdump, &args, &format!("{tag}.tcpdump.log"));
        assert!(
            wait_for(Duration::from_secs(10), || cap
                .log()
                .contains("listening on")),
            "tcpdump did not start: {}",
            cap.log()
        );
        (cap, pcap)
    }

    /// Write `dhcpd.conf` (and an empty lease file unless one exists) and start our dhcpd in
    /// the server namespace, in the foreground, listening on `s0`. Waits until it serves.
    pub fn start_ours(&self, conf: &str, extra: &[&str]) -> Proc {
        self.start_ours_env(conf, extra, &[])
    }

    /// [`Lab::start_ours`] with environment variables (`PXE_LOG_FORMAT`, …) for dhcpd.
    pub fn start_ours_env(&self, conf: &str, extra: &[&str], env: &[(&str, &str)]) -> Proc {
        let p = self.spawn_ours(conf, extra, env);
        assert!(
            p.wait_log("Server starting service.", Duration::from_secs(20)),
            "our dhcpd did not start:\n{}",
            p.log()
        );
        p
    }

    /// [`Lab::start_ours_env`] without waiting: returns as soon as the process is spawned.
    pub fn spawn_ours(&self, conf: &str, extra: &[&str], env: &[(&str, &str)]) -> Proc {
        std::fs::write(self.path("dhcpd.conf"), conf).expect("conf");
        let leases = self.path("dhcpd.leases");
        if !leases.exists() {
            std::fs::write(&leases, "").expect("leases");
        }
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_dhcpd"));
        let cf = self.path("dhcpd.conf");
        let pf = self.path("dhcpd.pid");
        let mut args: Vec<String> = vec![
            "-d".into(),
            "-cf".into(),
            cf.display().to_string(),
            "-lf".into(),
            leases.display().to_string(),
            "-pf".into(),
            pf.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        if !extra.contains(&"--all-interfaces") {
            args.push("s0".into());
        } else {
            args.retain(|a| a != "--all-interfaces");
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn_env(&self.srv, &bin, &argv, env, "dhcpd.log")
    }

    /// The lease file as a table (last entry per address wins).
    pub fn leases(&self) -> dhcpd::lease::LeaseTable {
        let f = dhcpd::lease::parse::load(&self.path("dhcpd.leases")).expect("lease file");
        f.table()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        for ns in [&self.srv, &self.cli].into_iter().chain(self.extra.iter()) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A DHCP packet seen in a capture.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Ethernet destination.
    pub eth_dst: [u8; 6],
    /// IPv4 destination.
    pub ip_dst: Ipv4Addr,
    /// UDP destination port.
    pub dport: u16,
    pub flags: u16,
    pub msg_type: Option<u8>,
    pub yiaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    pub xid: u32,
    /// The whole packet, read as a request would be (op 2 for replies).
    pub packet: dhcpd::request::Request,
}

/// The BOOTP/DHCP packets (UDP port 67/68) of an Ethernet pcap file.
pub fn read_pcap(path: &Path) -> Vec<Seen> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    if data.len() < 24 {
        return out;
    }
    let le = data[0..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32at = |d: &[u8], i: usize| -> u32 {
        let b = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut i = 24;
    while i + 16 <= data.len() {
        let caplen = u32at(&data, i + 8) as usize;
        let start = i + 16;
        let end = start + caplen;
        if end > data.len() {
            break;
        }
        let frame = &data[start..end];
        i = end;
        // Ethernet, IPv4, UDP.
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [8, 0] {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        if frame[14 + 9] != 17 {
            continue;
        }
        let udp = 14 + ihl;
        let payload = udp + 8;
        let sport = u16::from_be_bytes([frame[udp], frame[udp + 1]]);
        let dport = u16::from_be_bytes([frame[udp + 2], frame[udp + 3]]);
        if ![67, 68].contains(&sport) || ![67, 68].contains(&dport) {
            continue;
        }
        let Ok(req) = dhcpd::wire::parse(&frame[payload..], dhcpd::request::RecvMeta::default())
        else {
            continue;
        };
        let mut chaddr = [0u8; 6];
        chaddr.copy_from_slice(&req.chaddr[..6]);
        let mut eth_dst = [0u8; 6];
        eth_dst.copy_from_slice(&frame[..6]);
        out.push(Seen {
            eth_dst,
            ip_dst: Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]),
            dport,
            flags: req.flags,
            msg_type: req.msg_type(),
            yiaddr: req.yiaddr,
            chaddr,
            xid: req.xid,
            packet: req,
        });
    }
    out
}

/// Run `f` on a thread that has entered network namespace `ns` (a namespace is per thread,
/// so the rest of the test process is unaffected).
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("netns file");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    })
}
