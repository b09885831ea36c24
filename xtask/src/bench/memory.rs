//! `cargo xtask bench dhcp-memory`: the resident memory of our dhcpd and of ISC dhcpd holding
//! the same leases, side by side in one run (issue 17).
//!
//! Both servers get the same `dhcpd.conf` (one /16 subnet, a pool of 65,024 addresses) and a
//! fresh copy of the same lease file, written here in ISC's `dhcpd.leases` syntax: `--leases`
//! active leases (default 65,000), each with a hardware address, a client identifier and a
//! client host name, as a network of real clients leaves them. Each server is started in a
//! network namespace of its own (`ip netns exec`, which execs it: the child's PID is the
//! server's), given a moment once it listens on port 67, and its `VmRSS` (resident now) and
//! `VmHWM` (resident at most) are read from `/proc/PID/status`; then it is stopped by its PID.
//! The same is done with an empty lease file, so that what the leases cost shows apart from
//! what the program costs anyway. Rounds alternate the order of the servers; the median of
//! `--repeat` rounds counts. The result is a Markdown section for `docs/performance.md` on
//! standard output (and in `--out FILE`).

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::dhcp::{Lab, Running, wait_listening};
use super::servers::{Flags, find, first_line};

const USAGE: &str =
    "usage: cargo xtask bench dhcp-memory [--leases N] [--repeat N] [--fill SECONDS] [--out FILE]";

/// The pool: 10.77.1.0 to 10.77.254.255, in the /16 of the DHCP benchmark's namespaces.
const POOL_FIRST: [u8; 4] = [10, 77, 1, 0];
const POOL_SIZE: u64 = 254 * 256;

fn conf() -> String {
    "# cargo xtask bench dhcp-memory (ours and ISC dhcpd)
authoritative;
ping-check false;
default-lease-time 3600;
max-lease-time 7200;
subnet 10.77.0.0 netmask 255.255.0.0 {
  range 10.77.1.0 10.77.254.255;
  option routers 10.77.0.1;
}
"
    .to_owned()
}

/// A time as ISC writes it in a lease file: `W YYYY/MM/DD HH:MM:SS` (UTC, weekday 0 = Sunday).
fn isc_time(unix: i64) -> Result<String> {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%w %Y/%m/%d %H:%M:%S"])
        .output()
        .context("running date")?;
    if !out.status.success() {
        bail!("date -d @{unix} failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `count` active leases from the start of the pool, in ISC's syntax, bound ten minutes ago
/// for an hour.
fn lease_file(count: u64) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let now = i64::try_from(now)?;
    let (starts, ends) = (isc_time(now - 600)?, isc_time(now + 3000)?);
    let first = u32::from_be_bytes(POOL_FIRST);
    let mut s = String::with_capacity(usize::try_from(count)? * 320);
    s.push_str("# cargo xtask bench dhcp-memory\nauthoring-byte-order little-endian;\n\n");
    for n in 0..count {
        let ip = std::net::Ipv4Addr::from(first + u32::try_from(n)?);
        let m = n.to_be_bytes();
        let mac = format!("52:54:{:02x}:{:02x}:{:02x}:{:02x}", m[4], m[5], m[6], m[7]);
        let _ = write!(
            s,
            "lease {ip} {{\n  starts {starts};\n  ends {ends};\n  cltt {starts};\n  \
             binding state active;\n  next binding state free;\n  \
             rewind binding state free;\n  hardware ethernet {mac};\n  uid \"\\001RT{}\";\n  \
             client-hostname \"host-{n}\";\n}}\n",
            mac_octal(&m[4..])
        );
    }
    Ok(s)
}

/// The last four bytes of a MAC in a quoted uid as ISC writes it (octal escapes for the
/// bytes that are not printable).
fn mac_octal(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
                char::from(c).to_string()
            } else {
                format!("\\{c:03o}")
            }
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ours,
    Isc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Isc => "ISC dhcpd",
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn resident(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// One measurement: the server started on `leases` (copied into `dir`), idle, its memory and
/// how many leases its own file holds once it has started (both servers rewrite the file
/// when they start: proof that they read every lease).
struct Sample {
    rss_kb: u64,
    hwm_kb: u64,
    leases_after: usize,
}

/// What fills the table: the lease file the server starts on, or perfdhcp's clients.
enum Fill<'a> {
    File(&'a str),
    /// perfdhcp (its path) for this many seconds, from an empty lease file.
    Live(&'a Path, u64),
}

fn measure(lab: &Lab, bin: &Path, kind: Kind, dir: &Path, fill: &Fill<'_>) -> Result<Sample> {
    let leases = match fill {
        Fill::File(text) => text,
        Fill::Live(..) => "",
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let (cf, lf, pf, log) = (
        dir.join("dhcpd.conf"),
        dir.join("dhcpd.leases"),
        dir.join("dhcpd.pid"),
        dir.join("server.log"),
    );
    std::fs::write(&cf, conf())?;
    std::fs::write(&lf, leases)?;
    let file = std::fs::File::create(&log)?;
    let mut c = lab.cmd(&lab.srv, bin);
    c.args(["-f", "-4", "-cf"])
        .arg(&cf)
        .arg("-lf")
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg("s0");
    let child = c
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {}", kind.name()))?;
    let mut r = Running { child, log };
    wait_listening(lab, &mut r, kind.name())?;
    if let Fill::Live(perfdhcp, seconds) = fill {
        let out = lab
            .cmd(&lab.cli, perfdhcp)
            .args(["-4", "-l", "c0", "-r", "5000", "-R", "65000"])
            .args(["-p", &seconds.to_string()])
            .stdin(Stdio::null())
            .output()
            .context("running perfdhcp")?;
        std::fs::write(dir.join("perfdhcp.out"), &out.stdout)?;
    }
    // Idle: the start's work (reading, rewriting the file) is over by now.
    std::thread::sleep(Duration::from_secs(2));
    let (rss_kb, hwm_kb) = resident(r.child.id())?;
    let text = std::fs::read_to_string(&lf).unwrap_or_default();
    let leases_after = active_leases(&text);
    drop(r);
    Ok(Sample {
        rss_kb,
        hwm_kb,
        leases_after,
    })
}

/// Addresses whose last record in a lease file is active.
fn active_leases(text: &str) -> usize {
    let mut last = std::collections::HashMap::new();
    let mut ip = "";
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("lease ") {
            ip = rest.split_whitespace().next().unwrap_or("");
            last.insert(ip, false);
        } else if l.trim() == "binding state active;" {
            last.insert(ip, true);
        }
    }
    last.values().filter(|a| **a).count()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub(super) fn run(args: &[String]) -> Result<()> {
    let f = Flags::parse(args, &["--leases", "--repeat", "--fill", "--out"], USAGE)?;
    let fill = f.number("--fill", 0)?;
    let count = f.number("--leases", 65_000)?;
    let repeat = usize::try_from(f.number("--repeat", 3)?)?;
    if count > POOL_SIZE {
        bail!("--leases {count} exceeds the pool ({POOL_SIZE})");
    }
    let root = super::workspace_root();
    let (ours, target) = super::build_release(&root, "dhcpd")?;
    let isc = find("dhcpd", "isc-dhcp-server")?;
    let work = target.join("bench-dhcp-memory");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let full = lease_file(count)?;
    // Kept for `cargo run --release -p dhcpd --example lease_heap -- FILE`.
    std::fs::write(work.join("leases"), &full)?;
    let empty = String::new();
    let lab = Lab::new()?;
    let kinds = [Kind::Ours, Kind::Isc];
    // samples[file][kind]: every round's sample.
    let mut samples: [[Vec<Sample>; 2]; 2] = Default::default();
    for round in 0..repeat {
        for (fi, text) in [&empty, &full].into_iter().enumerate() {
            let text = Fill::File(text);
            for i in 0..kinds.len() {
                let k = (i + round) % kinds.len();
                let kind = kinds[k];
                let bin = if kind == Kind::Ours { &ours } else { &isc };
                let dir = work.join(format!("{k}-{fi}-{round}"));
                let s = measure(&lab, bin, kind, &dir, &text)?;
                eprintln!(
                    "bench dhcp-memory: round {} {} {} leases: VmRSS {:.1} MB, VmHWM {:.1} MB, \
                     {} leases in its file after start",
                    round + 1,
                    kind.name(),
                    if fi == 0 { 0 } else { count },
                    mb(s.rss_kb),
                    mb(s.hwm_kb),
                    s.leases_after
                );
                samples[fi][k].push(s);
            }
        }
    }
    for (k, kind) in kinds.iter().enumerate() {
        let short = samples[1][k]
            .iter()
            .find(|s| u64::try_from(s.leases_after).unwrap_or(0) < count);
        if let Some(s) = short {
            bail!(
                "{} kept {} of the {count} leases in its file after start: it did not read them all",
                kind.name(),
                s.leases_after
            );
        }
    }
    let med = |fi: usize, k: usize, f: fn(&Sample) -> u64| -> u64 {
        median(samples[fi][k].iter().map(f).collect())
    };
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let isc_version = first_line(Command::new(&isc).arg("--version"));
    let mut r = String::new();
    let _ = writeln!(
        r,
        "Measured {date} with `cargo xtask bench dhcp-memory --leases {count} --repeat {repeat}` \
         (as root: it makes a network namespace), ours (release build) and {isc_version}, \
         on {}. Each server started on the same dhcpd.conf (a /16 pool) and a copy of the \
         same dhcpd.leases of {count} active leases (hardware address, uid and client-hostname \
         in each), idle 2 s after it listens; medians of {repeat} rounds.\n",
        super::machine_facts()
    );
    let _ = writeln!(
        r,
        "| lease file | ours VmRSS | ISC VmRSS | ours/ISC | ours VmHWM | ISC VmHWM | ours/ISC |"
    );
    let _ = writeln!(r, "|---|---:|---:|---:|---:|---:|---:|");
    for (fi, label) in [(0, "empty".to_owned()), (1, format!("{count} leases"))] {
        let (or, ir) = (med(fi, 0, |s| s.rss_kb), med(fi, 1, |s| s.rss_kb));
        let (oh, ih) = (med(fi, 0, |s| s.hwm_kb), med(fi, 1, |s| s.hwm_kb));
        let _ = writeln!(
            r,
            "| {label} | {:.1} MB | {:.1} MB | {:.2}× | {:.1} MB | {:.1} MB | {:.2}× |",
            mb(or),
            mb(ir),
            or as f64 / ir.max(1) as f64,
            mb(oh),
            mb(ih),
            oh as f64 / ih.max(1) as f64,
        );
    }
    let per_lease = |k: usize| {
        (med(1, k, |s| s.rss_kb).saturating_sub(med(0, k, |s| s.rss_kb))) as f64 * 1024.0
            / count as f64
    };
    let _ = writeln!(
        r,
        "\nPer lease (VmRSS with the leases minus VmRSS without): ours {:.0} bytes, ISC {:.0} bytes.",
        per_lease(0),
        per_lease(1)
    );
    if fill > 0 {
        let perfdhcp = find("perfdhcp", "kea-admin")?;
        let _ = writeln!(
            r,
            "\nFilled live instead (one round): each server from an empty lease file, perfdhcp \
             `-r 5000 -R 65000 -p {fill}` against it, then idle 2 s; active leases counted in \
             its file.\n\n| server | VmRSS | VmHWM | active leases | bytes a lease over empty |\n\
             |---|---:|---:|---:|---:|"
        );
        for (k, kind) in kinds.iter().enumerate() {
            let bin = if *kind == Kind::Ours { &ours } else { &isc };
            let dir = work.join(format!("{k}-live"));
            let s = measure(&lab, bin, *kind, &dir, &Fill::Live(&perfdhcp, fill))?;
            let over = s.rss_kb.saturating_sub(med(0, k, |s| s.rss_kb)) as f64 * 1024.0
                / s.leases_after.max(1) as f64;
            eprintln!(
                "bench dhcp-memory: live {}: VmRSS {:.1} MB, {} active leases",
                kind.name(),
                mb(s.rss_kb),
                s.leases_after
            );
            let _ = writeln!(
                r,
                "| {} | {:.1} MB | {:.1} MB | {} | {over:.0} |",
                kind.name(),
                mb(s.rss_kb),
                mb(s.hwm_kb),
                s.leases_after
            );
        }
    }
    print!("{r}");
    if let Some(p) = f.path("--out") {
        std::fs::write(&p, &r).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
