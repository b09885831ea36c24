//! `cargo xtask bench storm`: pxe-storm's simulated machines against four stacks in one
//! run, in two network namespaces this command creates and deletes:
//!
//! - ours: our dhcpd (the same dhcpd.conf as ISC's), tftpd and httpd-tree;
//! - ISC dhcpd + tftpd-hpa + nginx;
//! - dnsmasq (DHCP and TFTP) + nginx;
//! - Kea (kea-dhcp4) + tftpd-hpa + nginx, when kea-dhcp4 is installed.
//!
//! Every stack hands BIOS clients `pxelinux.0`, UEFI (arch 7 and 9) `grubx64.efi` and iPXE
//! a script URL, and serves one directory: the loaders, their configs, a kernel
//! (`--kernel-mib`, 1 MiB by default so that the largest storm fits in minutes here),
//! a 4 KiB answer file and a tree file. Each machine fetches its loader, its config and
//! the kernel over TFTP and the answer and tree files over HTTP, from its own leased
//! address (the storm's namespace holds the pool as local addresses and ignores pings).
//!
//! For each size (`--machines 100,1000,5000`) every stack runs in turn (the order
//! rotating); the servers' CPU time and peak memory (proportional set size) are sampled from /proc
//! (every process of the stack with the children it forks, such as tftpd-hpa's per
//! transfer). dnsmasq's defaults (1,000 leases, 50 TFTP transfers, a ping before each
//! offer) are raised or turned off as an operator preparing a storm would; ISC's ping check
//! is off for all. The result is a Markdown section for docs/performance.md (`--out FILE`)
//! and an SVG plot of p99 time to answer file (`--svg FILE`).

use super::servers::{descendants, find, first_line, kill_pid};
use super::{build_release, machine_facts, workspace_root};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SERVER_IP: &str = "10.92.0.1";
const CLIENT_IP: &str = "10.92.0.2";
const POOL_FIRST: &str = "10.92.64.1";
const POOL_LAST: &str = "10.92.127.254";
/// The pool as one prefix: local addresses in the storm's namespace.
const POOL_NET: &str = "10.92.64.0/18";
const HTTP_PORT: u16 = 8088;

const USAGE: &str = "cargo xtask bench storm [--machines 100,1000,5000] [--kernel-mib 1] [--ramp SECONDS] [--stacks ours,isc,dnsmasq,kea] [--out FILE] [--svg FILE]";

struct Options {
    machines: Vec<u32>,
    kernel_mib: u64,
    ramp: f64,
    stacks: Vec<Stack>,
    out: Option<PathBuf>,
    svg: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    Ours,
    Isc,
    Dnsmasq,
    Kea,
}

impl Stack {
    fn slug(self) -> &'static str {
        match self {
            Stack::Ours => "ours",
            Stack::Isc => "isc",
            Stack::Dnsmasq => "dnsmasq",
            Stack::Kea => "kea",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Stack::Ours => "ours (dhcpd + tftpd + httpd-tree)",
            Stack::Isc => "ISC dhcpd + tftpd-hpa + nginx",
            Stack::Dnsmasq => "dnsmasq + nginx",
            Stack::Kea => "Kea + tftpd-hpa + nginx",
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        machines: vec![100, 1000, 5000],
        kernel_mib: 1,
        ramp: 0.0,
        stacks: vec![Stack::Ours, Stack::Isc, Stack::Dnsmasq, Stack::Kea],
        out: None,
        svg: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it
            .next()
            .with_context(|| format!("{a} needs a value; usage: {USAGE}"))?;
        match a.as_str() {
            "--machines" => {
                o.machines = v
                    .split(',')
                    .map(|n| n.parse::<u32>().ok().filter(|n| (1..=16000).contains(n)))
                    .collect::<Option<_>>()
                    .with_context(|| format!("--machines {v}: numbers from 1 to 16000"))?;
            }
            "--kernel-mib" => {
                o.kernel_mib = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .with_context(|| format!("--kernel-mib {v}: 1 to 64"))?;
            }
            "--ramp" => {
                o.ramp = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.0..=600.0).contains(s))
                    .with_context(|| format!("--ramp {v}: seconds from 0 to 600"))?;
            }
            "--stacks" => {
                o.stacks = v
                    .split(',')
                    .map(|s| match s {
                        "ours" => Ok(Stack::Ours),
                        "isc" => Ok(Stack::Isc),
                        "dnsmasq" => Ok(Stack::Dnsmasq),
                        "kea" => Ok(Stack::Kea),
                        other => bail!("--stacks: unknown stack {other} (ours, isc, dnsmasq, kea)"),
                    })
                    .collect::<Result<_>>()?;
            }
            "--out" => o.out = Some(PathBuf::from(v)),
            "--svg" => o.svg = Some(PathBuf::from(v)),
            other => bail!("unknown argument `{other}`; usage: {USAGE}"),
        }
    }
    Ok(o)
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The servers' namespace and the storm's, joined by a veth pair; deleted when dropped.
struct Lab {
    srv: String,
    cli: String,
}

impl Lab {
    fn new() -> Result<Lab> {
        let id = std::process::id();
        let lab = Lab {
            srv: format!("pxstorm-s{id}"),
            cli: format!("pxstorm-c{id}"),
        };
        ip(&["netns", "add", &lab.srv])?;
        ip(&["netns", "add", &lab.cli])?;
        let (a, b) = (format!("pxst{id}s"), format!("pxst{id}c"));
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
        ip(&["link", "set", &a, "netns", &lab.srv])?;
        ip(&["link", "set", &b, "netns", &lab.cli])?;
        ip(&["-n", &lab.srv, "link", "set", &a, "name", "s0"])?;
        ip(&["-n", &lab.cli, "link", "set", &b, "name", "c0"])?;
        ip(&[
            "-n",
            &lab.srv,
            "addr",
            "add",
            &format!("{SERVER_IP}/16"),
            "dev",
            "s0",
        ])?;
        ip(&[
            "-n",
            &lab.cli,
            "addr",
            "add",
            &format!("{CLIENT_IP}/16"),
            "dev",
            "c0",
        ])?;
        for (ns, dev) in [(&lab.srv, "s0"), (&lab.cli, "c0")] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // Every pool address is local in the storm's namespace (each machine fetches from
        // its own lease), and nobody there answers pings.
        ip(&[
            "-n", &lab.cli, "route", "add", "local", POOL_NET, "dev", "lo",
        ])?;
        let out = lab
            .cmd(&lab.cli, Path::new("sysctl"))
            .args(["-qw", "net.ipv4.icmp_echo_ignore_all=1"])
            .output()?;
        if !out.status.success() {
            bail!("sysctl in the storm namespace failed");
        }
        Ok(lab)
    }

    fn cmd(&self, ns: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.srv, &self.cli] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// The programs of every stack.
struct Tools {
    dhcpd: PathBuf,
    tftpd: PathBuf,
    httpd: PathBuf,
    storm: PathBuf,
    isc: PathBuf,
    hpa: PathBuf,
    nginx: PathBuf,
    dnsmasq: PathBuf,
    kea: Option<PathBuf>,
}

/// The files every stack serves.
fn write_root(root: &Path, kernel_mib: u64) -> Result<()> {
    let kernel = usize::try_from(kernel_mib << 20)?;
    let files: [(&str, usize); 8] = [
        ("pxelinux.0", 42_000),
        ("grubx64.efi", 1_400_000),
        ("pxelinux.cfg/default", 400),
        ("grub/grub.cfg", 400),
        ("script.ipxe", 300),
        ("vmlinuz", kernel),
        ("answers/common.cfg", 4096),
        ("debian/dists/bookworm/Release", 48_000),
    ];
    for (name, size) in files {
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, super::pseudo_random(size, size as u64))?;
    }
    Ok(())
}

fn isc_conf() -> String {
    format!(
        "# cargo xtask bench storm (ISC syntax: ours and ISC dhcpd)
option arch code 93 = unsigned integer 16;
authoritative;
ping-check false;
default-lease-time 3600;
max-lease-time 7200;
subnet 10.92.0.0 netmask 255.255.0.0 {{
  range {POOL_FIRST} {POOL_LAST};
  next-server {SERVER_IP};
  if exists user-class and option user-class = \"iPXE\" {{
    filename \"http://{SERVER_IP}:{HTTP_PORT}/script.ipxe\";
  }} elsif option arch = 00:07 or option arch = 00:09 {{
    filename \"grubx64.efi\";
  }} else {{
    filename \"pxelinux.0\";
  }}
}}
"
    )
}

fn kea_conf(leases: &Path, log: &Path) -> String {
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "s0" ] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}", "lfc-interval": 0 }},
  "authoritative": true,
  "valid-lifetime": 3600,
  "next-server": "{SERVER_IP}",
  "client-classes": [
    {{ "name": "ipxe", "test": "substring(option[77].hex,0,4) == 'iPXE'",
       "boot-file-name": "http://{SERVER_IP}:{HTTP_PORT}/script.ipxe" }},
    {{ "name": "efi", "test": "not member('ipxe') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)",
       "boot-file-name": "grubx64.efi" }},
    {{ "name": "bios", "test": "not member('ipxe') and not member('efi')",
       "boot-file-name": "pxelinux.0" }}
  ],
  "subnet4": [ {{ "id": 1, "subnet": "10.92.0.0/16",
    "pools": [ {{ "pool": "{POOL_FIRST} - {POOL_LAST}" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "severity": "WARN",
    "output_options": [ {{ "output": "{}" }} ] }} ]
}} }}
"#,
        leases.display(),
        log.display()
    )
}

fn nginx_conf(dir: &Path, root: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
         events {{ worker_connections 16384; }}\n\
         http {{\n  sendfile on;\n  access_log {d}/nginx-access.log;\n\
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           server {{ listen {SERVER_IP}:{HTTP_PORT}; root {}; }}\n}}\n",
        root.display()
    )
}

/// A stack's processes; each stopped by its PID (with what it forked) when dropped.
struct Running {
    children: Vec<Child>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Freeze each server first: nginx's master starts a new worker for every worker
        // that dies, and that one would outlive it.
        for c in &self.children {
            let _ = Command::new("kill")
                .args(["-STOP", &c.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let mut killed = Vec::new();
        for c in &mut self.children {
            for p in descendants(c.id()) {
                kill_pid(p);
                killed.push(p);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Forked children are not ours to reap: wait until they are gone, or the next
        // stack finds their sockets still open.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && killed.iter().any(|p| alive(*p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A process that exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

fn spawn(lab: &Lab, program: &Path, args: &[String], log: &Path) -> Result<Child> {
    let file = std::fs::File::create(log)?;
    lab.cmd(&lab.srv, program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

fn s(v: &Path) -> String {
    v.display().to_string()
}

/// Starts a stack in the servers' namespace, its state in `dir`.
fn start(stack: Stack, lab: &Lab, tools: &Tools, root: &Path, dir: &Path) -> Result<Running> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    wait_free(lab)?;
    let mut children = Vec::new();
    let dhcpd_args = |conf: &Path| -> Result<Vec<String>> {
        std::fs::write(conf, isc_conf())?;
        std::fs::write(dir.join("dhcpd.leases"), "")?;
        Ok(vec![
            "-f".into(),
            "-4".into(),
            "-cf".into(),
            s(conf),
            "-lf".into(),
            s(&dir.join("dhcpd.leases")),
            "-pf".into(),
            s(&dir.join("dhcpd.pid")),
            "s0".into(),
        ])
    };
    let tftp_args = vec![
        "-L".into(),
        "-s".into(),
        "-a".into(),
        format!("{SERVER_IP}:69"),
        s(root),
    ];
    let nginx = |children: &mut Vec<Child>| -> Result<()> {
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir, root))?;
        children.push(spawn(
            lab,
            &tools.nginx,
            &[
                "-c".into(),
                s(&conf),
                "-e".into(),
                s(&dir.join("nginx-error.log")),
            ],
            &dir.join("nginx.out"),
        )?);
        Ok(())
    };
    match stack {
        Stack::Ours => {
            let args = dhcpd_args(&dir.join("dhcpd.conf"))?;
            children.push(spawn(lab, &tools.dhcpd, &args, &dir.join("dhcpd.log"))?);
            children.push(spawn(
                lab,
                &tools.tftpd,
                &tftp_args,
                &dir.join("tftpd.log"),
            )?);
            children.push(spawn(
                lab,
                &tools.httpd,
                &[
                    "--root".into(),
                    s(root),
                    "--listen".into(),
                    format!("{SERVER_IP}:{HTTP_PORT}"),
                    "--access-log".into(),
                    s(&dir.join("access.log")),
                ],
                &dir.join("httpd-tree.log"),
            )?);
        }
        Stack::Isc => {
            let args = dhcpd_args(&dir.join("dhcpd.conf"))?;
            children.push(spawn(lab, &tools.isc, &args, &dir.join("dhcpd.log"))?);
            children.push(spawn(lab, &tools.hpa, &tftp_args, &dir.join("tftpd.log"))?);
            nginx(&mut children)?;
        }
        Stack::Dnsmasq => {
            let ipxe = format!("http://{SERVER_IP}:{HTTP_PORT}/script.ipxe");
            let args: Vec<String> = [
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=s0",
                "--bind-interfaces",
                "--no-ping",
                "--dhcp-authoritative",
                "--dhcp-lease-max=20000",
                "--enable-tftp",
                "--tftp-max=10000",
                "--dhcp-match=set:efi,option:client-arch,7",
                "--dhcp-match=set:efi,option:client-arch,9",
                "--dhcp-userclass=set:ipxe,iPXE",
                "--log-facility=-",
            ]
            .iter()
            .map(|a| (*a).to_string())
            .chain([
                format!("--dhcp-range={POOL_FIRST},{POOL_LAST},255.255.0.0,1h"),
                format!("--dhcp-boot=tag:ipxe,{ipxe}"),
                "--dhcp-boot=tag:!ipxe,tag:efi,grubx64.efi,,".to_string() + SERVER_IP,
                "--dhcp-boot=tag:!ipxe,tag:!efi,pxelinux.0,,".to_string() + SERVER_IP,
                format!("--tftp-root={}", root.display()),
                format!("--dhcp-leasefile={}", dir.join("dnsmasq.leases").display()),
                format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
            ])
            .collect();
            children.push(spawn(lab, &tools.dnsmasq, &args, &dir.join("dnsmasq.log"))?);
            nginx(&mut children)?;
        }
        Stack::Kea => {
            let Some(kea) = &tools.kea else {
                bail!("kea-dhcp4 is not installed");
            };
            let conf = dir.join("kea-dhcp4.json");
            std::fs::write(
                &conf,
                kea_conf(&dir.join("kea-leases4.csv"), &dir.join("kea.log")),
            )?;
            let file = std::fs::File::create(dir.join("kea.out"))?;
            children.push(
                lab.cmd(&lab.srv, kea)
                    .env("KEA_PIDFILE_DIR", dir)
                    .env("KEA_LOCKFILE_DIR", dir)
                    .args(["-c", &s(&conf)])
                    .stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file)
                    .spawn()
                    .context("starting kea-dhcp4")?,
            );
            children.push(spawn(lab, &tools.hpa, &tftp_args, &dir.join("tftpd.log"))?);
            nginx(&mut children)?;
        }
    }
    let mut running = Running { children };
    wait_ready(lab, &mut running, stack)?;
    Ok(running)
}

/// Which of UDP 67, UDP 69 and TCP 8088 (listening) are open in the servers' namespace.
fn ports_open(lab: &Lab) -> [bool; 3] {
    let read = |file: &str| -> String {
        lab.cmd(&lab.srv, Path::new("cat"))
            .arg(file)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    // /proc/net/{udp,tcp}: local address in field 1, state in field 3 (0A: listening).
    let open = |table: &str, port: &str, listening: bool| {
        table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1).is_some_and(|a| a.ends_with(port)) && (!listening || f.get(3) == Some(&"0A"))
        })
    };
    let (udp, tcp) = (read("/proc/net/udp"), read("/proc/net/tcp"));
    [
        open(&udp, ":0043", false),
        open(&udp, ":0045", false),
        open(&tcp, &format!(":{HTTP_PORT:04X}"), true),
    ]
}

/// Waits until the previous stack's sockets are closed.
fn wait_free(lab: &Lab) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ports_open(lab) == [false; 3] {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let holders = lab
        .cmd(&lab.srv, Path::new("ss"))
        .args(["-tulpn"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    bail!("ports 67, 69 or {HTTP_PORT} are still taken in the servers' namespace:\n{holders}")
}

/// Ready when UDP 67, UDP 69 and TCP 8088 are open in the servers' namespace.
fn wait_ready(lab: &Lab, running: &mut Running, stack: Stack) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for c in &mut running.children {
            if let Some(status) = c.try_wait()? {
                bail!("{} exited at start ({status})", stack.title());
            }
        }
        if ports_open(lab) == [true; 3] {
            std::thread::sleep(Duration::from_millis(500));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "{} did not open ports 67, 69 and {HTTP_PORT} within 30 s",
        stack.title()
    )
}

/// CPU time and peak resident memory of a stack's processes and everything they fork,
/// sampled every 20 ms (children that exit between samples lose at most 20 ms of CPU).
pub(super) struct Meter {
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<(HashMap<u32, u64>, u64)>,
    before: HashMap<u32, u64>,
}

/// A process's proportional share of resident memory (KiB): pages shared with other
/// processes (tftpd-hpa's forked children, nginx's workers) are split between them, so
/// the sum over a stack is what it really holds (a sum of RSS counts shared pages once per
/// process: 13 GB for 5,000 forked tftpd-hpa children).
fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

impl Meter {
    pub(super) fn start(roots: Vec<u32>) -> Meter {
        let before: HashMap<u32, u64> = roots
            .iter()
            .map(|p| (*p, super::servers::cpu_ticks(*p).unwrap_or(0)))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let sampler = std::thread::spawn(move || {
            let mut ticks: HashMap<u32, u64> = HashMap::new();
            let mut peak_kib = 0u64;
            for round in 0u64.. {
                let done = flag.load(Ordering::Relaxed);
                let mut all = roots.clone();
                for r in &roots {
                    all.extend(descendants(*r));
                }
                // Memory every 100 ms (reading thousands of smaps costs CPU the servers
                // would miss), CPU every 20 ms (short-lived children).
                let with_memory = round % 5 == 0 || done;
                let mut pss = 0;
                for p in all {
                    if let Some(t) = super::servers::cpu_ticks(p) {
                        ticks.insert(p, t);
                    }
                    if with_memory {
                        pss += pss_kib(p);
                    }
                }
                peak_kib = peak_kib.max(pss);
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (ticks, peak_kib)
        });
        Meter {
            stop,
            sampler,
            before,
        }
    }

    /// (CPU seconds, peak MiB) since `start`.
    pub(super) fn stop(self) -> (f64, f64) {
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, Ordering::Relaxed);
        let (ticks, peak_kib) = self.sampler.join().unwrap_or_default();
        let total: u64 = ticks
            .iter()
            .map(|(p, t)| t.saturating_sub(self.before.get(p).copied().unwrap_or(0)))
            .sum();
        (total as f64 / 100.0, peak_kib as f64 / 1024.0)
    }
}

/// One stack at one size.
struct Sample {
    stack: Stack,
    machines: u32,
    summary: serde_json::Value,
    cpu: f64,
    peak_mib: f64,
    /// Datagrams the servers' namespace lost in this run: (receive buffer full, sends
    /// refused: a full send buffer or no neighbour entry).
    server_udp_drops: (u64, u64),
}

fn storm_args(o: &Options, machines: u32, json: &Path) -> Vec<String> {
    let http = format!("http://{SERVER_IP}:{HTTP_PORT}");
    vec![
        "-n".into(),
        machines.to_string(),
        "--ramp".into(),
        o.ramp.to_string(),
        "-i".into(),
        "c0".into(),
        "--bind-leased".into(),
        "--config".into(),
        "bios=pxelinux.cfg/default".into(),
        "--config".into(),
        "uefi=grub/grub.cfg".into(),
        "--config".into(),
        "uefi9=grub/grub.cfg".into(),
        "--kernel".into(),
        "vmlinuz".into(),
        "--answer".into(),
        format!("{http}/answers/common.cfg?mac={{mac}}"),
        "--tree".into(),
        format!("{http}/debian/dists/bookworm/Release"),
        "--json".into(),
        s(json),
    ]
}

fn one_run(
    lab: &Lab,
    tools: &Tools,
    o: &Options,
    stack: Stack,
    machines: u32,
    work: &Path,
) -> Result<Sample> {
    let dir = work.join(format!("{}-{machines}", stack.slug()));
    let root = work.join("root");
    let running = start(stack, lab, tools, &root, &dir)?;
    let drops_before = udp_drops(&udp_counters(lab, &lab.srv));
    let meter = Meter::start(running.children.iter().map(Child::id).collect());
    let json = dir.join("storm.json");
    eprintln!("bench storm: {machines} machines against {}", stack.title());
    let out = lab
        .cmd(&lab.cli, &tools.storm)
        .args(storm_args(o, machines, &json))
        .output()
        .context("running pxe-storm")?;
    let (cpu, peak_mib) = meter.stop();
    // Where packets were lost, for the log: the link's drops on both sides, and each
    // namespace's UDP counters (buffer errors of the servers' sockets included; the
    // servers' are also the table's column).
    let mut server_udp_drops = (0, 0);
    for (ns, dev) in [(&lab.srv, "s0"), (&lab.cli, "c0")] {
        if let Ok(link) = Command::new("ip")
            .args(["-n", ns, "-s", "link", "show", dev])
            .output()
        {
            eprint!("{ns}: {}", String::from_utf8_lossy(&link.stdout));
        }
        let udp = udp_counters(lab, ns);
        eprint!("{ns}: {udp}");
        if *ns == lab.srv {
            let after = udp_drops(&udp);
            server_udp_drops = (
                after.0.saturating_sub(drops_before.0),
                after.1.saturating_sub(drops_before.1),
            );
        }
    }
    drop(running);
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{text}");
    let summary = storm_summary(&out, &json)?;
    Ok(Sample {
        stack,
        machines,
        summary,
        cpu,
        peak_mib,
        server_udp_drops,
    })
}

/// Namespace `ns`'s UDP counters since it was made, as `nstat -asz Udp*` prints them
/// (empty when nstat cannot run).
fn udp_counters(lab: &Lab, ns: &str) -> String {
    lab.cmd(ns, Path::new("nstat"))
        .args(["-asz", "Udp*"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `UdpRcvbufErrors` and `UdpSndbufErrors` out of [`udp_counters`]' text, zero when it
/// does not say.
fn udp_drops(text: &str) -> (u64, u64) {
    let counter = |name: &str| {
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(name)).then(|| w.next()?.parse::<u64>().ok())?
            })
            .next()
            .unwrap_or(0)
    };
    (counter("UdpRcvbufErrors"), counter("UdpSndbufErrors"))
}

/// pxe-storm's JSON summary of a run (written to `json`), or why it could not run.
pub(super) fn storm_summary(out: &std::process::Output, json: &Path) -> Result<serde_json::Value> {
    if out.status.code() == Some(2) {
        bail!(
            "pxe-storm could not run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_str(
        &std::fs::read_to_string(json).context("reading pxe-storm's summary")?,
    )?)
}

pub(super) fn run(args: &[String]) -> Result<()> {
    let mut o = parse_args(args)?;
    let root_dir = workspace_root();
    let (dhcpd, target) = build_release(&root_dir, "dhcpd")?;
    let (tftpd, _) = build_release(&root_dir, "tftpd")?;
    let (httpd, _) = build_release(&root_dir, "httpd-tree")?;
    let (storm, _) = build_release(&root_dir, "pxe-storm")?;
    let kea = find("kea-dhcp4", "kea-dhcp4-server").ok();
    if kea.is_none() && o.stacks.contains(&Stack::Kea) {
        eprintln!(
            "bench storm: kea-dhcp4 is not installed (apt-get install kea-dhcp4-server); Kea's stack is left out"
        );
        o.stacks.retain(|s| *s != Stack::Kea);
    }
    let tools = Tools {
        dhcpd,
        tftpd,
        httpd,
        storm,
        isc: find("dhcpd", "isc-dhcp-server")?,
        hpa: find("in.tftpd", "tftpd-hpa")?,
        nginx: find("nginx", "nginx-light")?,
        dnsmasq: find("dnsmasq", "dnsmasq-base")?,
        kea,
    };
    let work = target.join("bench-storm");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    write_root(&work.join("root"), o.kernel_mib)?;
    // Every process and the namespaces may read the served files.
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&work)
        .status();
    let lab = Lab::new()?;
    let most = o.machines.iter().copied().max().unwrap_or(0);
    let _arp = super::neighbours::NeighbourRoom::make(u64::from(most))?;
    let mut samples = Vec::new();
    for (round, machines) in o.machines.iter().enumerate() {
        let n = o.stacks.len();
        for k in 0..n {
            let stack = o.stacks[(k + round) % n];
            samples.push(one_run(&lab, &tools, &o, stack, *machines, &work)?);
        }
    }
    let versions: Vec<(Stack, String)> = o
        .stacks
        .iter()
        .map(|s| (*s, version_of(*s, &tools)))
        .collect();
    let text = report(&o, &samples, &versions);
    print!("{text}");
    if let Some(path) = &o.out {
        std::fs::write(path, &text)?;
    }
    if let Some(path) = &o.svg {
        std::fs::write(path, plot(&o, &samples))?;
    }
    Ok(())
}

fn version_of(stack: Stack, t: &Tools) -> String {
    match stack {
        Stack::Ours => first_line(Command::new(&t.dhcpd).arg("--version")),
        Stack::Isc => first_line(Command::new(&t.isc).arg("--version")),
        Stack::Dnsmasq => first_line(Command::new(&t.dnsmasq).arg("--version")),
        Stack::Kea => t
            .kea
            .as_ref()
            .map(|k| format!("Kea {}", first_line(Command::new(k).arg("-v"))))
            .unwrap_or_default(),
    }
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn phase<'a>(s: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    s["phases"]
        .as_array()?
        .iter()
        .find(|p| p["phase"].as_str() == Some(name))
}

fn report(o: &Options, samples: &[Sample], versions: &[(Stack, String)]) -> String {
    let mut r = String::new();
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let _ = writeln!(r, "### Boot storms (`cargo xtask bench storm`), {date}\n");
    let _ = writeln!(
        r,
        "{}; kernel {} MiB over TFTP, ramp {} s; every machine: DHCP, loader, config and kernel over TFTP, answer (4 KiB) and tree file over HTTP.\n",
        machine_facts(),
        o.kernel_mib,
        o.ramp
    );
    for (s, v) in versions {
        let _ = writeln!(r, "- {}: {v}", s.title());
    }
    let _ = writeln!(
        r,
        "\n| machines | stack | finished | failed | retries | DHCP p99 ms | kernel p99 ms | p99 to answer file ms | last answer s | server CPU s | server peak MiB (PSS) | storm's own UDP drops | servers' UDP drops (receive / send) |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in samples {
        let sum = &s.summary;
        let retries: f64 = sum["phases"]
            .as_array()
            .map(|a| a.iter().map(|p| f(&p["retries"])).sum())
            .unwrap_or(0.0);
        let p99 = |name: &str| phase(sum, name).map_or(f64::NAN, |p| f(&p["p99_ms"]));
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {retries} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} / {} |",
            s.machines,
            s.stack.title(),
            sum["finished"],
            sum["failed"],
            p99("dhcp"),
            p99("kernel"),
            f(&sum["time_to_answer_p99_ms"]),
            f(&sum["last_finished_s"]),
            s.cpu,
            s.peak_mib,
            sum["own"]["udp_drops"],
            s.server_udp_drops.0,
            s.server_udp_drops.1
        );
    }
    let _ = writeln!(
        r,
        "\nRatios (ours / best reference at each size; p99 time to answer file, lower is better):\n"
    );
    for m in &o.machines {
        let at: Vec<&Sample> = samples.iter().filter(|s| s.machines == *m).collect();
        let ours = at.iter().find(|s| s.stack == Stack::Ours);
        let best = at
            .iter()
            .filter(|s| s.stack != Stack::Ours && s.summary["failed"].as_u64() == Some(0))
            .map(|s| (s.stack, f(&s.summary["time_to_answer_p99_ms"])))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(ours), Some((stack, best))) = (ours, best) {
            let _ = writeln!(
                r,
                "- {m} machines: ours {:.0} ms, best reference ({}) {best:.0} ms: {:.2}×; ours failed {}",
                f(&ours.summary["time_to_answer_p99_ms"]),
                stack.title(),
                f(&ours.summary["time_to_answer_p99_ms"]) / best,
                ours.summary["failed"]
            );
        }
    }
    let failures: Vec<String> = samples
        .iter()
        .filter(|s| s.summary["failed"].as_u64() != Some(0))
        .map(|s| {
            format!(
                "- {} at {}: {}",
                s.stack.title(),
                s.machines,
                s.summary["failures"]
            )
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(r, "\nFailures:\n\n{}", failures.join("\n"));
    }
    r
}

/// A line plot (SVG) of p99 time to answer file per stack over the storm sizes. Written
/// by hand: a handful of lines and labels does not justify a plotting crate's
/// dependencies (fonts, image codecs) in the workspace.
fn plot(o: &Options, samples: &[Sample]) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 30.0, 190.0);
    let max_y = samples
        .iter()
        .map(|s| f(&s.summary["time_to_answer_p99_ms"]))
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.1;
    let n = o.machines.len().max(2) as f64;
    let x_of = |i: usize| left + (w - left - right) * (i as f64) / (n - 1.0);
    let y_of = |v: f64| h - bottom - (h - bottom - top) * v / max_y;
    let colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">p99 time from power-on to answer file (ms)</text>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for k in 0..=4 {
        let v = max_y * f64::from(k) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
            left - 6.0,
            y_of(v) + 4.0
        );
    }
    for (i, m) in o.machines.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{m}</text>",
            x_of(i),
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">machines</text>",
        (left + w - right) / 2.0,
        h - 10.0
    );
    for (k, stack) in o.stacks.iter().enumerate() {
        let colour = colours[k % colours.len()];
        let points: Vec<String> = o
            .machines
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let s = samples
                    .iter()
                    .find(|s| s.stack == *stack && s.machines == *m)?;
                let v = f(&s.summary["time_to_answer_p99_ms"]);
                v.is_finite()
                    .then(|| format!("{:.1},{:.1}", x_of(i), y_of(v)))
            })
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text>",
            w - right + 10.0,
            top + 20.0 + 18.0 * k as f64,
            stack.title()
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_drops_come_from_the_ipv4_buffer_counters() {
        let text = "#kernel\nUdpInDatagrams 5544369 0.0\nUdpRcvbufErrors 3209 0.0\n\
                    UdpSndbufErrors 17 0.0\nUdpLiteRcvbufErrors 5 0.0\nUdp6RcvbufErrors 9 0.0\n";
        assert_eq!(udp_drops(text), (3209, 17));
        assert_eq!(udp_drops(""), (0, 0));
    }

    #[test]
    fn options_parse_and_refuse() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let o = parse_args(&args(&["--machines", "10,20", "--stacks", "ours,isc"])).expect("ok");
        assert_eq!(o.machines, vec![10, 20]);
        assert_eq!(o.stacks, vec![Stack::Ours, Stack::Isc]);
        assert!(parse_args(&args(&["--machines", "0"])).is_err());
        assert!(parse_args(&args(&["--stacks", "iis"])).is_err());
        assert!(parse_args(&args(&["--kernel-mib"])).is_err());
    }
}
