//! `cargo xtask bench dhcp`: Kea's perfdhcp against our dhcpd, ISC dhcpd and Kea's
//! kea-dhcp4, in one run, in two network namespaces this command creates (server side and
//! client side, joined by a veth pair) and deletes at the end.
//!
//! Every server gets the same /16 subnet and the same pool and a fresh lease file in a
//! temporary directory for each run. Each round measures two setups, every server in turn
//! (a rotating order):
//!
//! - durable for all: the lease files live in a directory carrying the file system's
//!   synchronous attribute (`chattr +S`, inherited by every file created in it), so every
//!   `write(2)` to a lease file reaches the disk before it returns. Kea's memfile backend
//!   never syncs (it writes each lease to the page cache before replying); here that write
//!   is durable too, as ours (write + fdatasync per batch) and ISC's (fsync per lease) are
//!   anyway. This is the comparison the target is about.
//! - as configured: the same without the attribute (Kea's lease writes stay in the page
//!   cache), reported next to it so nothing is hidden.
//!
//! Server logs and perfdhcp's output are written outside the synchronous directory. Each
//! run starts the server, runs `perfdhcp -r RATE -R CLIENTS -p SECONDS` against it from the
//! client namespace (perfdhcp acting as a relay on the client address), records perfdhcp's
//! rate of completed DORA exchanges, drops and delays, and the server's CPU time, then stops
//! the server by its PID. The median counts; the result is a Markdown section for
//! `docs/performance.md` on standard output (and in `--out FILE`).
//!
//! `--database` measures one setup instead: ours (`--database`) and Kea (its PostgreSQL
//! lease backend, schema from `kea-admin db-init pgsql`) on one throwaway PostgreSQL server
//! with fsync on, a fresh database per run, and the database's own CPU time (server and
//! backends) beside the servers'; ISC dhcpd, which has no database backend, runs with its
//! lease file for reference.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::servers::{Flags, cpu_ticks, find, first_line, kill_pid};
use crate::lab::net::ip;
use pxe_db::DatabaseUrl;
use pxe_db::scratch::ScratchServer;

struct Options {
    repeat: usize,
    seconds: u64,
    rate: u64,
    clients: u64,
    out: Option<PathBuf>,
    /// Leases in PostgreSQL: ours with `--database`, Kea with its PostgreSQL backend.
    database: bool,
}

const USAGE: &str = "usage: cargo xtask bench dhcp [--database] [--repeat N] [--seconds N] [--rate N] [--clients N] [--out FILE]";

fn parse_args(args: &[String]) -> Result<Options> {
    let database = args.iter().any(|a| a == "--database");
    let args: Vec<String> = args
        .iter()
        .filter(|a| *a != "--database")
        .cloned()
        .collect();
    let f = Flags::parse(
        &args,
        &["--repeat", "--seconds", "--rate", "--clients", "--out"],
        USAGE,
    )?;
    let o = Options {
        database,
        repeat: usize::try_from(f.number("--repeat", 3)?)?,
        seconds: f.number("--seconds", 10)?,
        rate: f.number("--rate", 10_000)?,
        clients: f.number("--clients", 20_000)?,
        out: f.path("--out"),
    };
    if o.clients > u64::from(POOL_SIZE) {
        bail!("--clients {} exceeds the pool ({POOL_SIZE})", o.clients);
    }
    if o.database && 2 * o.clients > u64::from(POOL_SIZE) {
        bail!(
            "--clients {}: the two servers' clients together exceed the pool ({POOL_SIZE})",
            o.clients
        );
    }
    Ok(o)
}

/// The subnet every server serves: 10.77.0.0/16, server 10.77.0.1, perfdhcp 10.77.0.2.
const SERVER_IP: &str = "10.77.0.1";
const CLIENT_IP: &str = "10.77.0.2";
const POOL_FIRST: &str = "10.77.1.0";
const POOL_LAST: &str = "10.77.200.255";
const POOL_SIZE: u32 = 200 * 256;

/// The two namespaces and their veth pair; deleted when dropped.
pub(super) struct Lab {
    pub(super) srv: String,
    pub(super) cli: String,
}

impl Lab {
    pub(super) fn new() -> Result<Lab> {
        Lab::tagged("")
    }

    /// A second lab of the same addresses on a link of its own (`tag` tells the names apart):
    /// where a second server sharing the database serves clients of its own.
    fn tagged(tag: &str) -> Result<Lab> {
        let id = std::process::id();
        let lab = Lab {
            srv: format!("pxbench-dhs{id}{tag}"),
            cli: format!("pxbench-dhc{id}{tag}"),
        };
        ip(&["netns", "add", &lab.srv])?;
        ip(&["netns", "add", &lab.cli])?;
        let (a, b) = (format!("pxb{id}{tag}s"), format!("pxb{id}{tag}c"));
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
        Ok(lab)
    }

    pub(super) fn cmd(&self, ns: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        for ns in [&self.srv, &self.cli] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Where the lease files live (see the module documentation).
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// A directory with the synchronous attribute: every lease write is durable.
    Durable,
    /// An ordinary directory: each server's own durability.
    AsConfigured,
    /// `--database`: ours and Kea keep their leases in one durable PostgreSQL server
    /// (fsync on, a fresh database per run); ISC, which has no database backend, keeps its
    /// lease file as configured, for reference.
    Database,
}

const SETUPS: [Setup; 2] = [Setup::Durable, Setup::AsConfigured];

/// The PostgreSQL server of a `--database` run, and how many databases it has made.
struct Db {
    server: ScratchServer,
    made: std::cell::Cell<u32>,
}

impl Db {
    /// A fresh, empty database named after `who`: its name and our URL for it.
    fn fresh(&self, who: &str) -> Result<(String, String)> {
        let n = self.made.get() + 1;
        self.made.set(n);
        let name = format!("bench_{who}_{n}");
        let admin: DatabaseUrl = self.server.url().parse()?;
        admin
            .connect()?
            .batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = self
            .server
            .url()
            .replacen("/postgres?", &format!("/{name}?"), 1);
        Ok((name, url))
    }

    /// CPU time (in ticks) of the server and its backends so far.
    fn cpu_ticks(&self) -> u64 {
        let Some(pm) = self.server.pid() else {
            return 0;
        };
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| parent_of(*pid) == Some(pm));
        cpu_ticks(pm).unwrap_or(0) + children.filter_map(cpu_ticks).sum::<u64>()
    }

    /// Distinct leased addresses in a database: ours (`dhcp_leases`) or Kea's (`lease4`).
    fn leases(&self, url: &str, table: &str) -> usize {
        let count = || -> Result<i64> {
            let url: DatabaseUrl = url.parse()?;
            let row = url
                .connect()?
                .query_one(&format!("SELECT count(DISTINCT address) FROM {table}"), &[])?;
            Ok(row.get(0))
        };
        count().map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }
}

/// A process's parent, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl Setup {
    fn slug(self) -> &'static str {
        match self {
            Setup::Durable => "durable",
            Setup::AsConfigured => "as-configured",
            Setup::Database => "database",
        }
    }

    /// Creates the (empty) lease directory `dir`, with the synchronous attribute if asked.
    fn lease_dir(self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        if self == Setup::Durable {
            let out = Command::new("chattr")
                .arg("+S")
                .arg(dir)
                .output()
                .context("running chattr (e2fsprogs)")?;
            if !out.status.success() {
                bail!(
                    "chattr +S {}: {} (the durable setup needs a file system with the \
                     synchronous attribute, such as ext4; set CARGO_TARGET_DIR to one)",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        Ok(())
    }
}

/// Fails unless every file in `dir` carries the synchronous attribute (`lsattr` shows `S`):
/// proof that the server's lease writes in the durable setup were synchronous.
fn check_synchronous(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let out = Command::new("lsattr")
            .arg("-d")
            .arg(&path)
            .output()
            .context("running lsattr (e2fsprogs)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let flags = text.split_whitespace().next().unwrap_or("");
        if !out.status.success() || !flags.contains('S') {
            bail!(
                "{} lacks the synchronous attribute ({}): the durable setup did not hold",
                path.display(),
                text.trim()
            );
        }
    }
    Ok(())
}

/// The file system holding `path`, from /proc/mounts: its type, and `type on device
/// (options)`.
fn file_system_of(path: &Path) -> (String, String) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, at, fstype, opts) = (f.first()?, f.get(1)?, f.get(2)?, f.get(3)?);
            path.starts_with(at).then(|| {
                (
                    at.len(),
                    (fstype.to_string(), format!("{fstype} on {dev} ({opts})")),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(
            || ("unknown".to_owned(), "unknown".to_owned()),
            |(_, fs)| fs,
        )
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ours,
    Isc,
    Kea,
}

struct Tools {
    ours: PathBuf,
    isc: PathBuf,
    kea: PathBuf,
    kea_admin: PathBuf,
    perfdhcp: PathBuf,
}

/// A server running in the server namespace (`ip netns exec` execs it, so the child's PID
/// is the server's); stopped by its PID when dropped.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            kill_pid(self.child.id());
            let _ = self.child.wait();
        }
    }
}

fn isc_conf() -> String {
    format!(
        "# cargo xtask bench dhcp (ISC syntax: ours and ISC dhcpd)
authoritative;
ping-check false;
default-lease-time 3600;
max-lease-time 7200;
subnet 10.77.0.0 netmask 255.255.0.0 {{
  range {POOL_FIRST} {POOL_LAST};
  option routers {SERVER_IP};
}}
"
    )
}

/// Kea's configuration; `lease_database` is the JSON of its `lease-database` map.
fn kea_conf(lease_database: &str, log: &Path) -> String {
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "s0" ] }},
  "lease-database": {lease_database},
  "authoritative": true,
  "valid-lifetime": 3600,
  "max-valid-lifetime": 7200,
  "subnet4": [ {{
    "id": 1,
    "subnet": "10.77.0.0/16",
    "pools": [ {{ "pool": "{POOL_FIRST} - {POOL_LAST}" }} ],
    "option-data": [ {{ "name": "routers", "data": "{SERVER_IP}" }} ]
  }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "severity": "WARN",
    "output_options": [ {{ "output": "{}" }} ] }} ]
}} }}
"#,
        log.display()
    )
}

/// Kea's memfile backend writing `leases`.
fn kea_memfile(leases: &Path) -> String {
    format!(
        r#"{{ "type": "memfile", "persist": true, "name": "{}", "lfc-interval": 0 }}"#,
        leases.display()
    )
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Isc => "ISC dhcpd",
            Kind::Kea => "Kea",
        }
    }

    /// Writes a fresh configuration into `dir`, an empty lease file into `leases` (made by
    /// `setup`), and starts the server.
    fn start(
        self,
        lab: &Lab,
        tools: &Tools,
        dir: &Path,
        leases: &Path,
        setup: Setup,
        db: Option<(&Db, Shared<'_>)>,
    ) -> Result<(Running, Stored)> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        setup.lease_dir(leases)?;
        let log = dir.join("server.log");
        let (mut cmd, leases) = match self {
            Kind::Ours | Kind::Isc => {
                let (cf, lf, pf) = (
                    dir.join("dhcpd.conf"),
                    leases.join("dhcpd.leases"),
                    dir.join("dhcpd.pid"),
                );
                std::fs::write(&cf, isc_conf())?;
                std::fs::write(&lf, "")?;
                let bin = if self == Kind::Ours {
                    &tools.ours
                } else {
                    &tools.isc
                };
                let mut c = lab.cmd(&lab.srv, bin);
                c.args(["-f", "-4", "-cf"])
                    .arg(&cf)
                    .arg("-lf")
                    .arg(&lf)
                    .arg("-pf")
                    .arg(&pf);
                let stored = match (self, db) {
                    (Kind::Ours, Some((db, shared))) => {
                        let url = match shared {
                            Shared::With(url) => url.to_owned(),
                            Shared::Alone => db.fresh("ours")?.1,
                        };
                        c.arg("--database").arg(&url);
                        Stored::Database(url, "dhcp_leases")
                    }
                    _ => Stored::File(lf),
                };
                c.arg("s0");
                (c, stored)
            }
            Kind::Kea => {
                let lf = leases.join("kea-leases4.csv");
                let cf = dir.join("kea-dhcp4.json");
                let (lease_database, stored) = match db {
                    Some((db, _)) => {
                        let (name, url) = db.fresh("kea")?;
                        kea_admin_init(tools, db, &name)?;
                        let json = format!(
                            r#"{{ "type": "postgresql", "name": "{name}", "host": "{}", "port": {}, "user": "postgres" }}"#,
                            db.server.socket_dir().display(),
                            db.server.port()
                        );
                        (json, Stored::Database(url, "lease4"))
                    }
                    None => (kea_memfile(&lf), Stored::File(lf)),
                };
                std::fs::write(&cf, kea_conf(&lease_database, &dir.join("kea.log")))?;
                let mut c = lab.cmd(&lab.srv, &tools.kea);
                // Its PID and lock files in the temporary directory, not /run/kea.
                c.env("KEA_PIDFILE_DIR", dir)
                    .env("KEA_LOCKFILE_DIR", dir)
                    .arg("-c")
                    .arg(&cf);
                (c, stored)
            }
        };
        let file = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", self.name()))?;
        let mut r = Running { child, log };
        wait_listening(lab, &mut r, self.name())?;
        Ok((r, leases))
    }
}

/// Whether a server of ours gets a database of its own or shares one.
#[derive(Clone, Copy)]
enum Shared<'a> {
    /// A fresh database, its own.
    Alone,
    /// This database, with another server.
    With(&'a str),
}

/// Where a run's leases ended up.
enum Stored {
    File(PathBuf),
    /// Our URL for the database, and the table of leases.
    Database(String, &'static str),
}

/// Kea's schema in a fresh database, made by Kea's own tool.
fn kea_admin_init(tools: &Tools, db: &Db, name: &str) -> Result<()> {
    let out = Command::new(&tools.kea_admin)
        .args(["db-init", "pgsql", "-u", "postgres", "-n", name, "-h"])
        .arg(db.server.socket_dir())
        .args(["-P", &db.server.port().to_string()])
        .output()
        .context("running kea-admin")?;
    if !out.status.success() {
        bail!(
            "kea-admin db-init pgsql: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Waits until a UDP socket on port 67 exists in the server namespace (the servers bind it
/// once their configuration and lease file are loaded).
pub(super) fn wait_listening(lab: &Lab, r: &mut Running, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = r.child.try_wait()? {
            let log = std::fs::read_to_string(&r.log).unwrap_or_default();
            bail!("{name} exited at start ({status}):\n{log}");
        }
        let out = lab
            .cmd(&lab.srv, Path::new("cat"))
            .arg("/proc/net/udp")
            .output()?;
        let table = String::from_utf8_lossy(&out.stdout);
        if table.lines().skip(1).any(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(":0043"))
        }) {
            // A moment for the rest of the start (Kea opens its sockets before the last
            // steps of its configuration).
            std::thread::sleep(Duration::from_millis(500));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} did not open UDP port 67 within 30 s")
}

/// What perfdhcp reported for one run, plus the server's CPU time and its lease file.
#[derive(Clone, Default)]
struct Sample {
    /// perfdhcp's "Rate:" line, completed 4-way exchanges per second.
    rate: f64,
    discovers: u64,
    acks: u64,
    /// Drops of both exchanges (DISCOVER-OFFER + REQUEST-ACK).
    drops: u64,
    /// Average and maximum delay of REQUEST-ACK, milliseconds.
    ack_avg_ms: f64,
    ack_max_ms: f64,
    /// Average DISCOVER-OFFER delay, milliseconds.
    offer_avg_ms: f64,
    cpu: f64,
    /// CPU seconds of the database server and its backends (`--database` runs).
    db_cpu: f64,
    /// Distinct addresses in the lease file (or database) after the run.
    on_disk: usize,
}

/// One field of one exchange's statistics section.
fn stat(out: &str, exchange: &str, key: &str) -> Option<f64> {
    let start = out.find(&format!("***Statistics for: {exchange}***"))?;
    out[start..]
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn parse_perfdhcp(out: &str) -> Result<Sample> {
    let rate = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Rate:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no rate in perfdhcp's output:\n{out}"))?;
    let need = |ex: &str, key: &str| {
        stat(out, ex, key).with_context(|| format!("no `{key}` for {ex} in:\n{out}"))
    };
    Ok(Sample {
        rate,
        discovers: need("DISCOVER-OFFER", "sent packets:")? as u64,
        acks: need("REQUEST-ACK", "received packets:")? as u64,
        drops: (need("DISCOVER-OFFER", "drops:")? + need("REQUEST-ACK", "drops:")?) as u64,
        ack_avg_ms: need("REQUEST-ACK", "avg delay:")?,
        ack_max_ms: need("REQUEST-ACK", "max delay:")?,
        offer_avg_ms: need("DISCOVER-OFFER", "avg delay:")?,
        ..Sample::default()
    })
}

/// Distinct leased addresses in a lease file: ISC's format (`lease A.B.C.D {`) or Kea's CSV
/// (address in the first column).
fn leases_on_disk(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut addrs: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("lease ") {
                rest.split_whitespace().next()
            } else {
                l.split(',').next().filter(|a| a.starts_with("10.77."))
            }
        })
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    addrs.len()
}

fn one_run(
    lab: &Lab,
    tools: &Tools,
    o: &Options,
    kind: Kind,
    setup: Setup,
    dir: &Path,
    db: Option<&Db>,
) -> Result<Sample> {
    let lease_dir = dir.join("leases");
    let db = db.filter(|_| kind != Kind::Isc);
    let (server, leases) = kind.start(
        lab,
        tools,
        dir,
        &lease_dir,
        setup,
        db.map(|d| (d, Shared::Alone)),
    )?;
    let pid = server.child.id();
    let before = cpu_ticks(pid).unwrap_or(0);
    let db_before = db.map_or(0, Db::cpu_ticks);
    let out = lab
        .cmd(&lab.cli, &tools.perfdhcp)
        .args(["-4", "-l", "c0"])
        .args(["-r", &o.rate.to_string()])
        .args(["-R", &o.clients.to_string()])
        .args(["-p", &o.seconds.to_string()])
        .args(["-W", "2000000"])
        .stdin(Stdio::null())
        .output()
        .context("running perfdhcp")?;
    let cpu = cpu_ticks(pid).unwrap_or(0).saturating_sub(before) as f64 / 100.0;
    let db_cpu = db.map_or(0, Db::cpu_ticks).saturating_sub(db_before) as f64 / 100.0;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("perfdhcp.out"), &text)?;
    drop(server);
    if setup == Setup::Durable {
        check_synchronous(&lease_dir)?;
    }
    let mut s = parse_perfdhcp(&text)?;
    s.cpu = cpu;
    s.db_cpu = db_cpu;
    s.on_disk = match (&leases, db) {
        (Stored::File(path), _) => leases_on_disk(path),
        (Stored::Database(url, table), Some(db)) => db.leases(url, table),
        (Stored::Database(..), None) => 0,
    };
    Ok(s)
}

/// Two of ours on one fresh database, each on a link of its own with a perfdhcp of its own
/// (the full rate and client count each, MAC bases 00:0a:… and 00:0b:… so the clients are
/// different machines): the two reports summed (rates, ACKs, drops, both servers' CPU),
/// the worse delays, and the distinct addresses in the database.
fn pair_run(labs: [&Lab; 2], tools: &Tools, o: &Options, dir: &Path, db: &Db) -> Result<Sample> {
    let (_, url) = db.fresh("ours2")?;
    let mut servers = Vec::new();
    for (lab, tag) in labs.iter().zip(["a", "b"]) {
        let d = dir.join(tag);
        let (server, _) = Kind::Ours.start(
            lab,
            tools,
            &d,
            &d.join("leases"),
            Setup::Database,
            Some((db, Shared::With(&url))),
        )?;
        servers.push(server);
    }
    let before: Vec<u64> = servers
        .iter()
        .map(|s| cpu_ticks(s.child.id()).unwrap_or(0))
        .collect();
    let db_before = db.cpu_ticks();
    let storms = labs
        .iter()
        .zip(["mac=00:0a:00:00:00:00", "mac=00:0b:00:00:00:00"])
        .map(|(lab, base)| {
            lab.cmd(&lab.cli, &tools.perfdhcp)
                .args(["-4", "-l", "c0", "-b", base])
                .args(["-r", &o.rate.to_string()])
                .args(["-R", &o.clients.to_string()])
                .args(["-p", &o.seconds.to_string()])
                .args(["-W", "2000000"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running perfdhcp")
        })
        .collect::<Result<Vec<_>>>()?;
    let mut texts = Vec::new();
    for storm in storms {
        let out = storm.wait_with_output().context("waiting for perfdhcp")?;
        texts.push(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let cpu: u64 = servers
        .iter()
        .zip(&before)
        .map(|(s, b)| cpu_ticks(s.child.id()).unwrap_or(0).saturating_sub(*b))
        .sum();
    let db_cpu = db.cpu_ticks().saturating_sub(db_before);
    drop(servers);
    std::fs::write(dir.join("perfdhcp.out"), texts.join("\n----\n"))?;
    let parts = texts
        .iter()
        .map(|t| parse_perfdhcp(t))
        .collect::<Result<Vec<_>>>()?;
    let n = parts.len().max(1) as f64;
    Ok(Sample {
        rate: parts.iter().map(|p| p.rate).sum(),
        discovers: parts.iter().map(|p| p.discovers).sum(),
        acks: parts.iter().map(|p| p.acks).sum(),
        drops: parts.iter().map(|p| p.drops).sum(),
        ack_avg_ms: parts.iter().map(|p| p.ack_avg_ms).sum::<f64>() / n,
        ack_max_ms: parts.iter().map(|p| p.ack_max_ms).fold(0.0, f64::max),
        offer_avg_ms: parts.iter().map(|p| p.offer_avg_ms).sum::<f64>() / n,
        cpu: cpu as f64 / 100.0,
        db_cpu: db_cpu as f64 / 100.0,
        on_disk: db.leases(&url, "dhcp_leases"),
    })
}

const KINDS: [Kind; 3] = [Kind::Ours, Kind::Kea, Kind::Isc];

pub(super) fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let root = super::workspace_root();
    let (ours, _) = super::build_release(&root, "dhcpd")?;
    let tools = Tools {
        isc: find("dhcpd", "isc-dhcp-server")?,
        kea: find("kea-dhcp4", "kea-dhcp4-server")?,
        perfdhcp: find("perfdhcp", "kea-admin")?,
        kea_admin: find("kea-admin", "kea-admin")?,
        ours,
    };
    let target = tools
        .ours
        .parent()
        .and_then(Path::parent)
        .context("binary outside a target directory")?;
    let work = target.join("bench-dhcp");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let facts = super::machine_facts();
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let versions = [
        "ours (release build)".to_owned(),
        format!("Kea {}", first_line(Command::new(&tools.kea).arg("-v"))),
        first_line(Command::new(&tools.isc).arg("--version")),
    ];
    let perf_version = first_line(Command::new(&tools.perfdhcp).arg("-v"));
    let (fs_type, fs) = file_system_of(&work);
    if matches!(fs_type.as_str(), "tmpfs" | "ramfs") {
        bail!(
            "{} is on {fs_type}, where a sync costs nothing: the lease files must be on a disk \
             (set CARGO_TARGET_DIR to one)",
            work.display()
        );
    }
    let setups: &[Setup] = if o.database {
        &[Setup::Database]
    } else {
        &SETUPS
    };
    let db = if o.database {
        Some(Db {
            server: ScratchServer::start_durable()?,
            made: std::cell::Cell::new(0),
        })
    } else {
        None
    };
    let lab = Lab::new()?;
    let second = if o.database {
        Some(Lab::tagged("b")?)
    } else {
        None
    };
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); KINDS.len()]; setups.len()];
    let mut pairs: Vec<Sample> = Vec::new();
    for round in 0..o.repeat {
        if let (Some(b), Some(db)) = (&second, &db) {
            let dir = work.join(format!("database-ours-pair-{round}"));
            let s = pair_run([&lab, b], &tools, &o, &dir, db)?;
            eprintln!(
                "bench: round {round} database     ours ×2    {:8.0} DORA/s, {} ACKs, {} drops, ACK delay avg {:.2} ms max {:.1} ms, CPU {:.2} s (database {:.2} s), {} leases stored",
                s.rate, s.acks, s.drops, s.ack_avg_ms, s.ack_max_ms, s.cpu, s.db_cpu, s.on_disk
            );
            pairs.push(s);
        }
        for (si, setup) in setups.iter().enumerate() {
            for k in 0..KINDS.len() {
                let i = (k + round) % KINDS.len();
                let kind = KINDS[i];
                let dir = work.join(format!(
                    "{}-{}-{round}",
                    setup.slug(),
                    kind.name().replace(' ', "-")
                ));
                let s = one_run(&lab, &tools, &o, kind, *setup, &dir, db.as_ref())?;
                eprintln!(
                    "bench: round {round} {:13} {:10} {:8.0} DORA/s, {} ACKs, {} drops, ACK delay avg {:.2} ms max {:.1} ms, CPU {:.2} s (database {:.2} s), {} leases stored",
                    setup.slug(),
                    kind.name(),
                    s.rate,
                    s.acks,
                    s.drops,
                    s.ack_avg_ms,
                    s.ack_max_ms,
                    s.cpu,
                    s.db_cpu,
                    s.on_disk
                );
                samples[si][i].push(s);
            }
        }
    }
    drop(lab);
    drop(second);
    let run = RunFacts {
        date: &date,
        facts: &facts,
        fs: &fs,
        versions: &versions,
        perf_version: &perf_version,
    };
    let report = if o.database {
        database_report(&o, &run, &samples[0], &pairs)
    } else {
        report(&o, &run, &samples)
    };
    print!("{report}");
    if let Some(p) = &o.out {
        std::fs::write(p, &report).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// A row of the table: label, value of a sample, decimals.
type Column = (&'static str, fn(&Sample) -> f64, usize);

/// A measure compared as a ratio: label, value of a sample.
type Measure = (&'static str, fn(&Sample) -> f64);

/// What the report says about the run besides the samples.
struct RunFacts<'a> {
    date: &'a str,
    facts: &'a str,
    /// The file system of the lease files.
    fs: &'a str,
    versions: &'a [String],
    perf_version: &'a str,
}

/// Median of ours/other DORA/s, paired by round.
fn paired_ratio(samples: &[Vec<Sample>], other: usize) -> f64 {
    paired(samples, other, |s| s.rate)
}

/// Median of ours/other of one measure, paired by round (rounds where the other is 0 left out).
fn paired(samples: &[Vec<Sample>], other: usize, f: fn(&Sample) -> f64) -> f64 {
    let r: Vec<f64> = samples[0]
        .iter()
        .zip(&samples[other])
        .filter(|(_, b)| f(b) > 0.0)
        .map(|(a, b)| f(a) / f(b))
        .collect();
    super::median(&r)
}

fn report(o: &Options, run: &RunFacts<'_>, samples: &[Vec<Vec<Sample>>]) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "Run on {} with `cargo xtask bench dhcp --repeat {} --seconds {} --rate {} --clients {}`; \
         perfdhcp {}. Machine: {}. Lease files on {}.\n",
        run.date, o.repeat, o.seconds, o.rate, o.clients, run.perf_version, run.facts, run.fs
    );
    let _ = writeln!(
        r,
        "Targets (durable for all): ours/Kea {:.2}× (≥ 1), ours/ISC {:.2}× (≥ 10). \
         As configured (Kea in the page cache): ours/Kea {:.2}×, ours/ISC {:.2}×.\n",
        paired_ratio(&samples[0], 1),
        paired_ratio(&samples[0], 2),
        paired_ratio(&samples[1], 1),
        paired_ratio(&samples[1], 2)
    );
    for (si, setup) in SETUPS.iter().enumerate() {
        let heading = match setup {
            Setup::Durable => {
                "Durable for all: lease files in a directory with the synchronous attribute \
                 (`chattr +S`), so every lease write reaches the disk before the server \
                 goes on (Kea's too)"
            }
            Setup::AsConfigured | Setup::Database => {
                "As configured: lease files in an ordinary directory (ours and ISC sync \
                 before the ACK, Kea's lease writes stay in the page cache)"
            }
        };
        let _ = writeln!(r, "#### {heading}\n");
        setup_table(&mut r, run.versions, &samples[si]);
    }
    r
}

fn setup_table(r: &mut String, versions: &[String], samples: &[Vec<Sample>]) {
    let med = |i: usize, f: fn(&Sample) -> f64| -> f64 {
        super::median(&samples[i].iter().map(f).collect::<Vec<_>>())
    };
    let _ = writeln!(
        r,
        "| | {} | {} | {} |\n|---|---|---|---|",
        versions[0], versions[1], versions[2]
    );
    let rows: [Column; 8] = [
        ("DORA/s (median)", |s| s.rate, 0),
        ("DISCOVERs sent per run", |s| s.discovers as f64, 0),
        ("ACKs per run", |s| s.acks as f64, 0),
        ("drops per run", |s| s.drops as f64, 0),
        ("OFFER delay avg, ms", |s| s.offer_avg_ms, 2),
        ("ACK delay avg, ms", |s| s.ack_avg_ms, 2),
        ("ACK delay max, ms", |s| s.ack_max_ms, 1),
        ("server CPU s per run", |s| s.cpu, 2),
    ];
    for (label, f, prec) in rows {
        let _ = write!(r, "| {label} |");
        for i in 0..KINDS.len() {
            let _ = write!(r, " {:.*} |", prec, med(i, f));
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(r, "\nMedian ratios, paired by round (ours/other):\n");
    let ratios: [Measure; 4] = [
        ("DORA/s", |s| s.rate),
        ("drops", |s| s.drops as f64),
        ("ACK delay avg", |s| s.ack_avg_ms),
        ("server CPU s per ACK", |s| s.cpu / s.acks.max(1) as f64),
    ];
    for (label, f) in ratios {
        let _ = writeln!(
            r,
            "- {label}: ours/Kea {:.2}×, ours/ISC {:.2}×",
            paired(samples, 1, f),
            paired(samples, 2, f)
        );
    }
    let _ = writeln!(r);
    let _ = writeln!(
        r,
        "Every round (DORA/s; ACKs; leases in the file after the run):\n"
    );
    for (i, kind) in KINDS.iter().enumerate() {
        let runs: Vec<String> = samples[i]
            .iter()
            .map(|s| format!("{:.0}; {}; {}", s.rate, s.acks, s.on_disk))
            .collect();
        let _ = writeln!(r, "- {}: {}", kind.name(), runs.join(" / "));
    }
    let _ = writeln!(r);
}

/// The report of a `--database` run: ours and Kea on one PostgreSQL server, ISC with its
/// lease file for reference.
fn database_report(
    o: &Options,
    run: &RunFacts<'_>,
    samples: &[Vec<Sample>],
    pairs: &[Sample],
) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "Run on {} with `cargo xtask bench dhcp --database --repeat {} --seconds {} --rate {} \
         --clients {}`; perfdhcp {}. Machine: {}. PostgreSQL from Debian's package, fsync on, \
         a fresh database per run, on {}; Kea's schema made by `kea-admin db-init pgsql`. One \
         server each, then two of ours sharing one database, each with a perfdhcp of its own \
         at the same rate and client count (different MACs).\n",
        run.date, o.repeat, o.seconds, o.rate, o.clients, run.perf_version, run.facts, run.fs
    );
    let _ = writeln!(
        r,
        "Ours/Kea on PostgreSQL: {:.2}× the DORA/s with one server each.\n",
        paired_ratio(samples, 1)
    );
    if !pairs.is_empty() {
        let kea: Vec<f64> = samples[1].iter().map(|s| s.rate).collect();
        let per_round: Vec<f64> = pairs
            .iter()
            .zip(&kea)
            .map(|(p, k)| p.rate / k.max(1.0))
            .collect();
        let med = |v: Vec<f64>| super::median(&v);
        let _ = writeln!(
            r,
            "Two of ours on one database: {:.0} DORA/s in all (median of {} rounds; per round \
             {}), {:.2}× Kea's one server (issue 14 aims at 3×); {} drops; both servers' CPU \
             {:.2} s; database CPU per ACK {:.0} µs; distinct addresses stored per round: {}.\n",
            med(pairs.iter().map(|p| p.rate).collect()),
            pairs.len(),
            pairs
                .iter()
                .map(|p| format!("{:.0}", p.rate))
                .collect::<Vec<_>>()
                .join(" / "),
            med(per_round),
            med(pairs.iter().map(|p| p.drops as f64).collect()),
            med(pairs.iter().map(|p| p.cpu).collect()),
            med(pairs
                .iter()
                .map(|p| p.db_cpu / p.acks.max(1) as f64 * 1e6)
                .collect()),
            pairs
                .iter()
                .map(|p| p.on_disk.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
        );
    }
    let _ = writeln!(
        r,
        "#### Leases in PostgreSQL (ours: `--database`; Kea: `lease-database` type \
         postgresql; ISC dhcpd: its lease file, as configured)\n"
    );
    setup_table(&mut r, run.versions, samples);
    let med = |i: usize, f: fn(&Sample) -> f64| -> f64 {
        super::median(&samples[i].iter().map(f).collect::<Vec<_>>())
    };
    let per_ack = |s: &Sample| s.db_cpu / s.acks.max(1) as f64 * 1e6;
    let _ = writeln!(
        r,
        "Database CPU per ACK (server and backends), µs: ours {:.0}, Kea {:.0}.\n",
        med(0, per_ack),
        med(1, per_ack)
    );
    r
}
