//! `cargo xtask bench http`: our httpd-tree against nginx, in one run on loopback.
//!
//! - a 4 KiB file under load: wrk with 64 connections for 10 s per server and round,
//!   requests per second;
//! - a 1 GiB file downloaded by one curl, bytes per second, from a warm page cache
//!   (the bench reads the file through before each download).
//!
//! Rounds alternate the order of the servers (ours first, then nginx first, ...) and the
//! median of the per-round ratios ours/nginx counts, which keeps most of a shared
//! machine's drift out. Both servers serve the same fresh directory under the target
//! directory, with their access log written to a file in it. nginx runs from a
//! configuration written there (`worker_processes 2`, `sendfile on`, 127.0.0.1 only, pid
//! and logs in that directory), in the foreground. Every process the benchmark starts
//! (servers, nginx's workers, clients) is killed by its PID at the end.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::servers::{Flags, Server, cpu_ticks, descendants, find, first_line, kill_pid, start};
use super::{chmod, machine_facts, median, paired_ratio, pseudo_random, workspace_root};

const MIB: u64 = 1 << 20;
const SMALL: &str = "small.bin";
const BIG: &str = "big.bin";
const SMALL_BYTES: usize = 4096;

struct Options {
    repeat: usize,
    seconds: u64,
    connections: usize,
    big_mib: u64,
    out: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let f = Flags::parse(
        args,
        &[
            "--repeat",
            "--seconds",
            "--connections",
            "--big-mib",
            "--out",
        ],
        USAGE,
    )?;
    Ok(Options {
        repeat: usize::try_from(f.number("--repeat", 5)?)?,
        seconds: f.number("--seconds", 10)?,
        connections: usize::try_from(f.number("--connections", 64)?)?,
        big_mib: f.number("--big-mib", 1024)?,
        out: f.path("--out"),
    })
}

const USAGE: &str = "cargo xtask bench http [--repeat N] [--seconds N] [--connections N] [--big-mib N] [--out FILE]";

struct Tools {
    ours: PathBuf,
    nginx: PathBuf,
    wrk: PathBuf,
    curl: PathBuf,
}

/// A free TCP port on 127.0.0.1 (bound, then released).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// CPU ticks of a server and everything it forked (nginx's workers), now.
fn tree_ticks(pid: u32) -> u64 {
    let own = cpu_ticks(pid).unwrap_or(0);
    own + descendants(pid)
        .into_iter()
        .filter_map(cpu_ticks)
        .sum::<u64>()
}

/// Stops a server: SIGTERM first, so that nginx's master takes its workers down rather
/// than forking new ones for workers killed under it; then SIGKILL, master before the
/// workers it had, to whatever is left.
fn stop(mut s: Server) {
    let pid = s.child.id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    for _ in 0..50 {
        if matches!(s.child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = descendants(pid);
    let _ = s.child.kill();
    let _ = s.child.wait();
    for p in left {
        kill_pid(p);
    }
}

/// Waits until the server returns the small file intact.
fn wait_ready(tools: &Tools, server: &mut Server, small: &[u8]) -> Result<()> {
    let url = format!("http://127.0.0.1:{}/{SMALL}", server.port);
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait()? {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            bail!("{} exited at start ({status}):\n{log}", server.name);
        }
        let o = Command::new(&tools.curl)
            .args(["-sf", "--max-time", "2", &url])
            .stdin(Stdio::null())
            .output()
            .context("running curl")?;
        if o.status.success() {
            if o.stdout == small {
                return Ok(());
            }
            bail!("{}: {url} differs from the file on disk", server.name);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{} does not answer on {url}", server.name)
}

fn spawn(
    tools: &Tools,
    name: &'static str,
    version: String,
    cmd: Command,
    port: u16,
    log: PathBuf,
    small: &[u8],
) -> Result<Server> {
    let mut server = start(name, version, cmd, port, log)?;
    if let Err(e) = wait_ready(tools, &mut server, small) {
        stop(server);
        return Err(e);
    }
    eprintln!(
        "bench: {name} ({}) on 127.0.0.1:{port}, pid {}",
        server.version,
        server.child.id()
    );
    Ok(server)
}

fn nginx_conf(prefix: &Path, root: &Path, port: u16) -> String {
    let p = prefix.display();
    format!(
        "worker_processes 2;\n\
         pid {p}/nginx.pid;\n\
         error_log {p}/nginx-error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   types {{ application/octet-stream bin; }}\n\
         \x20   default_type application/octet-stream;\n\
         \x20   sendfile on;\n\
         \x20   access_log {p}/nginx-access.log combined buffer=32k flush=1s;\n\
         \x20   client_body_temp_path {p}/client_body;\n\
         \x20   proxy_temp_path {p}/proxy;\n\
         \x20   fastcgi_temp_path {p}/fastcgi;\n\
         \x20   uwsgi_temp_path {p}/uwsgi;\n\
         \x20   scgi_temp_path {p}/scgi;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       root {};\n\
         \x20   }}\n\
         }}\n",
        root.display()
    )
}

fn start_servers(tools: &Tools, root: &Path, work: &Path, small: &[u8]) -> Result<Vec<Server>> {
    let mut servers = Vec::new();

    let port = free_port()?;
    let mut cmd = Command::new(&tools.ours);
    cmd.arg("--root")
        .arg(root)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--access-log"])
        .arg(work.join("ours-access.log"));
    let v = first_line(Command::new(&tools.ours).arg("--version"));
    servers.push(spawn(
        tools,
        "ours",
        v,
        cmd,
        port,
        work.join("ours.log"),
        small,
    )?);

    let port = free_port()?;
    let prefix = work.join("nginx");
    std::fs::create_dir_all(&prefix)?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&prefix, root, port))?;
    let mut cmd = Command::new(&tools.nginx);
    cmd.arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(prefix.join("nginx-error.log"))
        .args(["-g", "daemon off;"]);
    let v = first_line(Command::new(&tools.nginx).arg("-v"));
    servers.push(spawn(
        tools,
        "nginx",
        v,
        cmd,
        port,
        work.join("nginx.out"),
        small,
    )?);
    Ok(servers)
}

/// One wrk run: (requests/s, server CPU seconds, errors and non-2xx responses).
fn wrk(tools: &Tools, o: &Options, s: &Server, seconds: u64) -> Result<(f64, f64, u64)> {
    let before = tree_ticks(s.child.id());
    let child = Command::new(&tools.wrk)
        .args([
            "-t2",
            &format!("-c{}", o.connections),
            &format!("-d{seconds}s"),
            &format!("http://127.0.0.1:{}/{SMALL}", s.port),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting wrk")?;
    let pid = child.id();
    let out = child.wait_with_output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            kill_pid(pid);
            return Err(e).context("waiting for wrk");
        }
    };
    let cpu = tree_ticks(s.child.id()).saturating_sub(before) as f64 / 100.0;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk against {} failed ({}): {text}{}",
            s.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let mut errors = 0;
    for l in text.lines().map(str::trim) {
        if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(v) = l.strip_prefix("Socket errors:") {
            errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok((rps, cpu, errors))
}

/// Reads a file through once, so that it is in the page cache. The machine's page
/// cache does not keep the big file through the minutes of small-file load (other work
/// runs too): without this, whichever server downloads first reads it from disk and
/// warms the cache for the other (ours, in the first round, always).
fn warm(path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    std::io::copy(&mut f, &mut std::io::sink())?;
    Ok(())
}

/// One curl download of the big file, from a warm page cache: (bytes/s, server CPU seconds).
fn download(tools: &Tools, s: &Server, big: &Path, size: u64) -> Result<(f64, f64)> {
    warm(big)?;
    let before = tree_ticks(s.child.id());
    let out = Command::new(&tools.curl)
        .args([
            "-s",
            "--max-time",
            "300",
            "-o",
            "/dev/null",
            "-w",
            "%{speed_download} %{size_download} %{http_code}",
            &format!("http://127.0.0.1:{}/{BIG}", s.port),
        ])
        .stdin(Stdio::null())
        .output()
        .context("running curl")?;
    let cpu = tree_ticks(s.child.id()).saturating_sub(before) as f64 / 100.0;
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    let (Some(speed), Some(got), Some(code)) = (f.first(), f.get(1), f.get(2)) else {
        bail!("{}: unexpected curl output `{text}`", s.name);
    };
    if !out.status.success() || *code != "200" || got.parse::<u64>().ok() != Some(size) {
        bail!(
            "{}: download of {BIG} failed ({}, HTTP {code}, {got} of {size} bytes)",
            s.name,
            out.status
        );
    }
    let speed = speed
        .parse::<f64>()
        .with_context(|| format!("curl speed `{speed}`"))?;
    Ok((speed, cpu))
}

/// Per server: every round's (value, server CPU seconds).
type Series = Vec<Vec<(f64, f64)>>;

struct Results {
    small: Series,
    errors: Vec<u64>,
    big: Series,
}

fn run_all(o: &Options, tools: &Tools, servers: &[Server], big: &Path) -> Result<Results> {
    let n = servers.len();
    let mut r = Results {
        small: vec![Vec::new(); n],
        errors: vec![0; n],
        big: vec![Vec::new(); n],
    };
    eprintln!("bench: warm-up, 2 s of wrk and one download per server");
    for s in servers {
        wrk(tools, o, s, 2)?;
        download(tools, s, big, o.big_mib * MIB)?;
    }
    eprintln!(
        "bench: {SMALL_BYTES} B file, {} connections, {} s",
        o.connections, o.seconds
    );
    for round in 0..o.repeat {
        for k in 0..n {
            let i = (k + round) % n;
            let s = servers.get(i).context("server index")?;
            let (rps, cpu, errors) = wrk(tools, o, s, o.seconds)?;
            eprintln!(
                "bench:   {:6} {rps:.0} requests/s, server CPU {cpu:.1} s, {errors} errors",
                s.name
            );
            r.small.get_mut(i).context("server index")?.push((rps, cpu));
            *r.errors.get_mut(i).context("server index")? += errors;
        }
    }
    eprintln!("bench: {} MiB file, one curl", o.big_mib);
    for round in 0..o.repeat {
        for k in 0..n {
            let i = (k + round) % n;
            let s = servers.get(i).context("server index")?;
            let (speed, cpu) = download(tools, s, big, o.big_mib * MIB)?;
            eprintln!(
                "bench:   {:6} {:.0} MiB/s, server CPU {cpu:.2} s",
                s.name,
                speed / MIB as f64
            );
            r.big.get_mut(i).context("server index")?.push((speed, cpu));
        }
    }
    Ok(r)
}

/// Writes the big file in 1 MiB pseudo-random chunks.
fn write_big(path: &Path, mib: u64) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..mib {
        f.write_all(&pseudo_random(MIB as usize, i + 3))?;
    }
    f.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("writing {}", path.display()))
}

pub(super) fn http(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let root_dir = workspace_root();
    let (ours, target) = super::build_release(&root_dir, "httpd-tree")?;
    let tools = Tools {
        ours,
        nginx: find("nginx", "nginx")?,
        wrk: find("wrk", "wrk")?,
        curl: find("curl", "curl")?,
    };
    let work = target.join("bench-http");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    std::fs::create_dir_all(&root)?;
    for d in [&work, &root] {
        chmod(d, 0o755)?;
    }
    let small = pseudo_random(SMALL_BYTES, 2);
    std::fs::write(root.join(SMALL), &small)?;
    eprintln!("bench: writing a {} MiB file", o.big_mib);
    write_big(&root.join(BIG), o.big_mib)?;
    for f in [SMALL, BIG] {
        chmod(&root.join(f), 0o644)?;
    }
    let facts = machine_facts();
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let outcome = start_servers(&tools, &root, &work, &small).and_then(|servers| {
        let desc: Vec<(String, String)> = servers
            .iter()
            .map(|s| (s.name.to_owned(), s.version.clone()))
            .collect();
        let results = run_all(&o, &tools, &servers, &root.join(BIG));
        for s in servers {
            stop(s);
        }
        results.map(|r| (desc, r))
    });
    // The big file is only needed while the servers run.
    let _ = std::fs::remove_file(root.join(BIG));
    let (desc, results) = outcome?;
    let report = report(&o, &date, &facts, &desc, &results);
    print!("{report}");
    if let Some(p) = &o.out {
        std::fs::write(p, &report).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn values(s: &[(f64, f64)], f: fn(&(f64, f64)) -> f64) -> Vec<f64> {
    s.iter().map(f).collect()
}

fn report(
    o: &Options,
    date: &str,
    facts: &str,
    servers: &[(String, String)],
    res: &Results,
) -> String {
    let mut r = String::new();
    let get = |s: &Series, i: usize, f: fn(&(f64, f64)) -> f64| {
        s.get(i).map(|v| values(v, f)).unwrap_or_default()
    };
    // paired_ratio(a, b) is the median of b[r] / a[r]: nginx first gives ours/nginx.
    let small_ratio = paired_ratio(&get(&res.small, 1, |t| t.0), &get(&res.small, 0, |t| t.0));
    let big_ratio = paired_ratio(&get(&res.big, 1, |t| t.0), &get(&res.big, 0, |t| t.0));
    let met = |ratio: f64, target: f64| {
        if ratio >= target {
            "met"
        } else {
            "**not met**"
        }
    };
    let _ = writeln!(r, "### Targets (issue 5)\n");
    let _ = writeln!(r, "| Target | Result in this run | |");
    let _ = writeln!(r, "|---|---|---|");
    let _ = writeln!(
        r,
        "| ≥ 0.8× nginx's requests/s on a {SMALL_BYTES} B file, {} connections | {small_ratio:.2}× | {} |",
        o.connections,
        met(small_ratio, 0.8)
    );
    let _ = writeln!(
        r,
        "| ≥ 0.9× nginx's throughput on a {} MiB file | {big_ratio:.2}× | {} |",
        o.big_mib,
        met(big_ratio, 0.9)
    );
    let _ = writeln!(r, "\n### Run of {date}\n");
    super::servers::report_header(
        &mut r,
        &format!("Run on {date} with `cargo xtask bench http` on loopback (127.0.0.1)."),
        facts,
        servers,
    );
    let _ = writeln!(
        r,
        "{} rounds, each round both servers in alternating order; medians over the rounds, \
         ratio = median over the rounds of ours / nginx in the same round (above 1: ours is \
         faster). Server CPU seconds include nginx's worker processes.\n",
        o.repeat
    );
    let _ = writeln!(r, "| | ours | nginx | ours/nginx |");
    let _ = writeln!(r, "|---|---|---|---|");
    let med = |s: &Series, i: usize, f: fn(&(f64, f64)) -> f64| median(&get(s, i, f));
    let _ = writeln!(
        r,
        "| {SMALL_BYTES} B file, wrk `-t2 -c{} -d{}s`, requests/s | {:.0} | {:.0} | {small_ratio:.2}× |",
        o.connections,
        o.seconds,
        med(&res.small, 0, |t| t.0),
        med(&res.small, 1, |t| t.0),
    );
    let _ = writeln!(
        r,
        "| same, server CPU seconds per run | {:.1} | {:.1} | |",
        med(&res.small, 0, |t| t.1),
        med(&res.small, 1, |t| t.1),
    );
    let _ = writeln!(
        r,
        "| same, socket errors and non-2xx responses (all rounds) | {} | {} | |",
        res.errors.first().copied().unwrap_or(0),
        res.errors.get(1).copied().unwrap_or(0),
    );
    let mib = MIB as f64;
    let _ = writeln!(
        r,
        "| {} MiB file, one curl, MiB/s | {:.0} | {:.0} | {big_ratio:.2}× |",
        o.big_mib,
        med(&res.big, 0, |t| t.0) / mib,
        med(&res.big, 1, |t| t.0) / mib,
    );
    let _ = writeln!(
        r,
        "| same, server CPU seconds per download | {:.2} | {:.2} | |",
        med(&res.big, 0, |t| t.1),
        med(&res.big, 1, |t| t.1),
    );
    let _ = writeln!(r, "\nEvery round:\n");
    let list = |s: &Series, i: usize, scale: f64, prec: usize| {
        get(s, i, |t| t.0)
            .iter()
            .map(|v| format!("{:.prec$}", v / scale))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        r,
        "- {SMALL_BYTES} B file, requests/s: ours {}; nginx {}",
        list(&res.small, 0, 1.0, 0),
        list(&res.small, 1, 1.0, 0)
    );
    let _ = writeln!(
        r,
        "- {} MiB file, MiB/s: ours {}; nginx {}",
        o.big_mib,
        list(&res.big, 0, mib, 0),
        list(&res.big, 1, mib, 0)
    );
    r
}
