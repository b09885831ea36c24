//! `cargo xtask bench tftp`: our tftpd against tftpd-hpa, dnsmasq's TFTP and atftpd, in one
//! run on loopback, with real clients (curl, atftp):
//!
//! - one 64 MiB file at blksize 512 and at 1468 (curl), every server;
//! - the same file at blksize 1468 with windowsize 16 (atftp), ours and atftpd (the only
//!   reference with RFC 7440);
//! - 50 and 200 concurrent curl clients each fetching an 8 MiB file (blksize 1468), every
//!   server, counting failed or corrupt transfers.
//!
//! Every download is compared with the original. Single transfers run `--repeat` rounds
//! (default 5), the servers in a rotating order, and the median counts; besides wall time
//! the server's CPU time is measured (from /proc, children included), which on a shared or
//! virtual machine is steadier than wall time. The result is a
//! Markdown section for `docs/performance.md` on standard output (and in `--out FILE`).
//!
//! Servers run on 127.0.0.1 only, each with its package defaults apart from address, port
//! and root: ours `-L -s`, tftpd-hpa `in.tftpd -L -s`, dnsmasq with DNS off (`--port=0`), no
//! DHCP, bound to 127.0.0.1 (its TFTP port is always 69), atftpd `--daemon --no-fork`.
//! Every process the benchmark starts is killed by its PID at the end, with any children
//! the servers forked. tftpd-hpa and atftpd conflict as Debian packages: atftpd is taken
//! from its `.deb` (`apt-get download`, unpacked under the target directory) when it is not
//! installed.

mod crowd;
mod dhcp;
mod http;
mod memory;
mod neighbours;
mod servers;
mod storm;

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use servers::{Clients, CpuMeter, Server, Tools, atftpd, find, first_line, start_servers};

const MIB: usize = 1 << 20;

/// The benchmarks `cargo xtask bench` runs.
const BENCHES: &[&str] = &["tftp", "tftp-crowd", "http", "dhcp", "dhcp-memory", "storm"];

pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.first().is_some_and(|a| BENCHES.contains(&a.as_str())) {
        // What every benchmark compares against, so that each runs on a fresh machine.
        crate::ci::install_packages(&crate::ci::workspace_root().join("xtask/bench-packages.txt"))?;
    }
    match args.first().map(String::as_str) {
        Some("tftp") => tftp(&args[1..]),
        Some("http") => http::http(&args[1..]),
        Some("dhcp") => dhcp::run(&args[1..]),
        Some("dhcp-memory") => memory::run(&args[1..]),
        Some("storm") => storm::run(&args[1..]),
        Some("tftp-crowd") => crowd::run(&args[1..]),
        _ => bail!(
            "usage: cargo xtask bench tftp|tftp-crowd|http|dhcp|dhcp-memory|storm [options]; cargo xtask bench tftp [--repeat N] [--big-mib N] [--small-mib N] [--clients 50,200] [--out FILE]"
        ),
    }
}

struct Options {
    repeat: usize,
    big_mib: usize,
    small_mib: usize,
    clients: Vec<usize>,
    out: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        repeat: 5,
        big_mib: 64,
        small_mib: 8,
        clients: vec![50, 200],
        out: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        let number = |v: &String| -> Result<usize> {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{a}: not a positive number: {v}"))
        };
        match a.as_str() {
            "--repeat" => o.repeat = number(value()?)?,
            "--big-mib" => o.big_mib = number(value()?)?,
            "--small-mib" => o.small_mib = number(value()?)?,
            "--clients" => {
                o.clients = value()?
                    .split(',')
                    .map(|c| number(&c.to_owned()))
                    .collect::<Result<_>>()?;
            }
            "--out" => o.out = Some(value()?.into()),
            other => bail!("bench tftp: unknown argument `{other}`"),
        }
    }
    Ok(o)
}

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds one of our daemons in release mode; returns the binary and the target
/// directory. Every `bench` subcommand measures release builds through this.
fn build_release(root: &Path, package: &str) -> Result<(PathBuf, PathBuf)> {
    eprintln!("bench: cargo build --release -p {package}");
    let out = Command::new(cargo())
        .args(["build", "--release", "-p", package, "--message-format=json"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !out.status.success() {
        bail!("cargo build --release -p {package} failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let suffix = format!("/{package}");
    let exe = text
        .lines()
        .filter_map(|l| l.split("\"executable\":\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .find(|p| p.ends_with(&suffix))
        .with_context(|| format!("cargo build did not report the {package} binary"))?;
    let exe = PathBuf::from(exe);
    let target = exe
        .parent()
        .and_then(Path::parent)
        .context("binary outside a target directory")?
        .to_path_buf();
    Ok((exe, target))
}

/// Deterministic pseudo-random bytes (xorshift).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn chmod(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", p.display()))
}

/// How a client fetches.
#[derive(Clone, Copy)]
enum Fetch {
    Curl { blksize: u16 },
    Atftp { blksize: u16, windowsize: u16 },
}

fn client(tools: &Tools, how: Fetch, port: u16, file: &str, out: &Path) -> Command {
    match how {
        Fetch::Curl { blksize } => {
            let mut c = Command::new(&tools.curl);
            c.args([
                "-sS",
                "--max-time",
                "120",
                "--tftp-blksize",
                &blksize.to_string(),
                "-o",
            ])
            .arg(out)
            .arg(format!("tftp://127.0.0.1:{port}/{file}"));
            c
        }
        Fetch::Atftp {
            blksize,
            windowsize,
        } => {
            let mut c = Command::new(&tools.atftp);
            c.args([
                "--option",
                &format!("blksize {blksize}"),
                "--option",
                &format!("windowsize {windowsize}"),
                "-g",
                "-r",
                file,
                "-l",
            ])
            .arg(out)
            .args(["127.0.0.1", &port.to_string()]);
            c
        }
    }
}

fn same_file(path: &Path, want: &[u8]) -> bool {
    let ok = std::fs::read(path).map(|got| got == want).unwrap_or(false);
    let _ = std::fs::remove_file(path);
    ok
}

/// One timed download, checked against the original: (wall seconds, server CPU seconds).
fn single(
    tools: &Tools,
    s: &Server,
    how: Fetch,
    file: &str,
    want: &[u8],
    out: &Path,
) -> Result<(f64, f64)> {
    let _ = std::fs::remove_file(out);
    let cpu = CpuMeter::start(s.child.id());
    let started = Instant::now();
    let o = client(tools, how, s.port, file, out)
        .stdin(Stdio::null())
        .output()
        .context("running the client")?;
    let secs = started.elapsed().as_secs_f64();
    if !o.status.success() || !same_file(out, want) {
        bail!(
            "{}: download of {file} failed or differs ({}): {}",
            s.name,
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok((secs, cpu.stop()))
}

/// What `n` concurrent clients saw.
#[derive(Clone, Copy)]
struct Crowd {
    wall: f64,
    cpu: f64,
    failed: usize,
}

/// `n` clients at once.
fn concurrent(
    tools: &Tools,
    s: &Server,
    n: usize,
    file: &str,
    want: &[u8],
    outs: &Path,
) -> Result<Crowd> {
    let cpu = CpuMeter::start(s.child.id());
    let started = Instant::now();
    let mut clients = Clients(Vec::new());
    for i in 0..n {
        let out = outs.join(format!("c{i}"));
        let _ = std::fs::remove_file(&out);
        let child = client(tools, Fetch::Curl { blksize: 1468 }, s.port, file, &out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a client")?;
        clients.0.push((child, Instant::now()));
    }
    let mut failed = 0;
    for (i, (c, _)) in clients.0.iter_mut().enumerate() {
        let ok = c.wait().map(|st| st.success()).unwrap_or(false);
        let out = outs.join(format!("c{i}"));
        if !ok || !same_file(&out, want) {
            failed += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    Ok(Crowd {
        wall,
        cpu: cpu.stop(),
        failed,
    })
}

/// Median over rounds of `theirs[r] / ours[r]`.
fn paired_ratio(ours: &[f64], theirs: &[f64]) -> f64 {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| b / a)
        .collect();
    median(&ratios)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Row {
    what: String,
    /// Per server (by index), every round's (wall, server CPU) seconds.
    times: Vec<Option<Vec<(f64, f64)>>>,
}

fn machine_facts() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    let kernel = first_line(Command::new("uname").arg("-r"));
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {mem_gib} GiB, Linux {kernel}, load average {load} at the start"
    )
}

fn tftp(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let root_dir = workspace_root();
    let (ours, target) = build_release(&root_dir, "tftpd")?;
    let tools = Tools {
        ours,
        hpa: find("in.tftpd", "tftpd-hpa")?,
        dnsmasq: find("dnsmasq", "dnsmasq-base")?,
        atftpd: atftpd(&target)?,
        curl: find("curl", "curl")?,
        atftp: find("atftp", "atftp")?,
    };

    let work = target.join("bench-tftp");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    let logs = work.join("logs");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&logs)?;
    for d in [&work, &root] {
        chmod(d, 0o755)?;
    }
    let shm = Path::new("/dev/shm");
    let outs = if shm.is_dir() {
        shm.join(format!("pxe-bench-tftp-{}", std::process::id()))
    } else {
        work.join("out")
    };
    std::fs::create_dir_all(&outs)?;
    let big = pseudo_random(o.big_mib * MIB, 1);
    let small = pseudo_random(o.small_mib * MIB, 2);
    for (name, data) in [
        ("big.bin", &big[..]),
        ("small.bin", &small[..]),
        ("probe.txt", b"ok\n"),
    ] {
        let p = root.join(name);
        std::fs::write(&p, data)?;
        chmod(&p, 0o644)?;
    }
    let facts = machine_facts();
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let result = run_all(&o, &tools, &root, &logs, &outs, &big, &small);
    let _ = std::fs::remove_dir_all(&outs);
    let (servers_desc, rows, conc) = result?;
    let report = report(&o, &date, &facts, &servers_desc, &rows, &conc);
    print!("{report}");
    if let Some(p) = &o.out {
        std::fs::write(p, &report).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// (server name, version), rows of single transfers, and concurrency results
/// (clients, per server (wall seconds, failed)).
type Outcome = (Vec<(String, String)>, Vec<Row>, Vec<(usize, Vec<Crowd>)>);

fn run_all(
    o: &Options,
    tools: &Tools,
    root: &Path,
    logs: &Path,
    outs: &Path,
    big: &[u8],
    small: &[u8],
) -> Result<Outcome> {
    let servers = start_servers(tools, root, logs)?;
    let desc = servers
        .iter()
        .map(|s| (s.name.to_owned(), s.version.clone()))
        .collect();
    let n = servers.len();
    let scenarios: [(String, Fetch, &[&str]); 3] = [
        (
            format!("{} MiB, blksize 512 (curl)", o.big_mib),
            Fetch::Curl { blksize: 512 },
            &["ours", "tftpd-hpa", "dnsmasq", "atftpd"],
        ),
        (
            format!("{} MiB, blksize 1468 (curl)", o.big_mib),
            Fetch::Curl { blksize: 1468 },
            &["ours", "tftpd-hpa", "dnsmasq", "atftpd"],
        ),
        (
            format!("{} MiB, blksize 1468, windowsize 16 (atftp)", o.big_mib),
            Fetch::Atftp {
                blksize: 1468,
                windowsize: 16,
            },
            &["ours", "atftpd"],
        ),
    ];
    let mut rows = Vec::new();
    for (what, how, who) in scenarios {
        eprintln!("bench: {what}");
        let mut times: Vec<Option<Vec<(f64, f64)>>> = vec![None; n];
        for round in 0..o.repeat {
            for k in 0..n {
                let i = (k + round) % n;
                let Some(s) = servers.get(i).filter(|s| who.contains(&s.name)) else {
                    continue;
                };
                let (secs, cpu) = single(tools, s, how, "big.bin", big, &outs.join("single"))?;
                eprintln!("bench:   {:10} {secs:.2} s, server CPU {cpu:.2} s", s.name);
                times
                    .get_mut(i)
                    .context("server index")?
                    .get_or_insert_with(Vec::new)
                    .push((secs, cpu));
            }
        }
        rows.push(Row { what, times });
    }
    let mut conc = Vec::new();
    for &clients in &o.clients {
        eprintln!("bench: {clients} concurrent clients x {} MiB", o.small_mib);
        let mut per = Vec::new();
        for s in &servers {
            let c = concurrent(tools, s, clients, "small.bin", small, outs)?;
            eprintln!(
                "bench:   {:10} {:.2} s, server CPU {:.2} s, {} failed",
                s.name, c.wall, c.cpu, c.failed
            );
            per.push(c);
        }
        conc.push((clients, per));
    }
    Ok((desc, rows, conc))
}

fn report(
    o: &Options,
    date: &str,
    facts: &str,
    servers: &[(String, String)],
    rows: &[Row],
    conc: &[(usize, Vec<Crowd>)],
) -> String {
    let mut r = String::new();
    let names: Vec<&str> = servers.iter().map(|(n, _)| n.as_str()).collect();
    let _ = writeln!(r, "## TFTP\n");
    servers::report_header(
        &mut r,
        &format!(
            "Run on {date} with `cargo xtask bench tftp` on loopback; every download was \
             compared with the original."
        ),
        facts,
        servers,
    );
    let _ = writeln!(
        r,
        "Single transfers, {} rounds, each round every server once in a rotating order: median \
         wall seconds (MiB/s) and median server CPU seconds; ratio = median over the rounds of \
         their time / ours in the same round (above 1: ours is faster or cheaper). Pairing by \
         round keeps out most of the drift of a shared machine, whose speed can change by a \
         factor of three within minutes.\n",
        o.repeat
    );
    let header = |r: &mut String| {
        let _ = write!(r, "| |");
        for n in &names {
            let _ = write!(r, " {n} |");
        }
        for n in names.iter().skip(1) {
            let _ = write!(r, " ours/{n} |");
        }
        let _ = writeln!(r);
        let _ = writeln!(r, "|---|{}", "---|".repeat(names.len() * 2 - 1));
    };
    header(&mut r);
    let mb = o.big_mib as f64;
    for row in rows {
        let pick = |f: fn(&(f64, f64)) -> f64| -> Vec<Option<Vec<f64>>> {
            row.times
                .iter()
                .map(|t| t.as_ref().map(|v| v.iter().map(f).collect()))
                .collect()
        };
        for (label, series, speed) in [
            ("wall", pick(|t| t.0), true),
            ("server CPU", pick(|t| t.1), false),
        ] {
            let _ = write!(r, "| {}, {label} |", row.what);
            for v in &series {
                let _ = match v.as_deref().map(median) {
                    Some(s) if speed => write!(r, " {s:.2} s ({:.1}) |", mb / s),
                    Some(s) => write!(r, " {s:.2} s |"),
                    None => write!(r, " n/a |"),
                };
            }
            let ours = series.first().cloned().flatten();
            for v in series.iter().skip(1) {
                let _ = match (&ours, v) {
                    (Some(a), Some(b)) => write!(r, " {:.2}× |", paired_ratio(a, b)),
                    _ => write!(r, " |"),
                };
            }
            let _ = writeln!(r);
        }
    }
    let _ = writeln!(
        r,
        "\n{} MiB per client, all started at once (curl, blksize 1468, a transfer unfinished after 120 s fails): \
         wall seconds, aggregate MiB/s, server CPU seconds, failed transfers; ratio of wall times.\n",
        o.small_mib
    );
    header(&mut r);
    for (clients, per) in conc {
        let _ = write!(r, "| {clients} clients |");
        let total = (*clients * o.small_mib) as f64;
        for c in per {
            let _ = write!(
                r,
                " {:.1} s, {:.0} MiB/s, CPU {:.1} s, {} failed |",
                c.wall,
                total / c.wall,
                c.cpu,
                c.failed
            );
        }
        let ours = per.first().map(|c| c.wall);
        for c in per.iter().skip(1) {
            if let Some(a) = ours {
                let _ = write!(r, " {:.2}× |", c.wall / a);
            }
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(r, "\nEvery round (wall/CPU seconds):\n");
    for row in rows {
        let parts: Vec<String> = row
            .times
            .iter()
            .zip(&names)
            .filter_map(|(t, n)| {
                t.as_ref().map(|v| {
                    format!(
                        "{n} {}",
                        v.iter()
                            .map(|(w, c)| format!("{w:.2}/{c:.2}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                })
            })
            .collect();
        let _ = writeln!(r, "- {}: {}", row.what, parts.join("; "));
    }
    r
}
