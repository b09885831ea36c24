//! `cargo xtask bench tftp-crowd`: thousands of TFTP transfers at once, against our tftpd
//! on its event loops (the default), our tftpd with a thread per transfer (as it was before
//! the loops), and tftpd-hpa (a process per transfer), in one run on loopback.
//!
//! The load is `pxe-storm --no-dhcp`: N simulated machines, every one at once, each fetching
//! a 64 KiB loader and then a kernel with its firmware's options (the storm's mix: pxelinux's
//! blksize in lockstep, OVMF's windowsize 4, iPXE). Each server's CPU and peak memory (sum of
//! PSS over it and what it forks) are sampled from /proc.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::servers::{Flags, first_line, free_port, spawn_server};
use super::storm::Meter;
use super::{build_release, pseudo_random, workspace_root};

const USAGE: &str =
    "usage: cargo xtask bench tftp-crowd [--machines 1000,10000] [--kernel-mib 1] [--out FILE]";

struct Options {
    machines: Vec<u32>,
    kernel_mib: usize,
    out: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let flags = Flags::parse(args, &["--machines", "--kernel-mib", "--out"], USAGE)?;
    let machines = match flags.get("--machines") {
        Some(v) => v
            .split(',')
            .map(|n| n.trim().parse::<u32>().context(USAGE))
            .collect::<Result<Vec<_>>>()?,
        None => vec![1000, 10_000],
    };
    let kernel_mib = match flags.get("--kernel-mib") {
        Some(v) => v.parse().context(USAGE)?,
        None => 1,
    };
    Ok(Options {
        machines,
        kernel_mib,
        out: flags.get("--out").map(PathBuf::from),
    })
}

/// The servers compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stack {
    Loops,
    Threads,
    Hpa,
}

impl Stack {
    const ALL: [Stack; 3] = [Stack::Loops, Stack::Threads, Stack::Hpa];

    fn title(self) -> &'static str {
        match self {
            Stack::Loops => "ours, event loops (default)",
            Stack::Threads => "ours, a thread per transfer",
            Stack::Hpa => "tftpd-hpa, a process per transfer",
        }
    }
}

/// What one server did for one storm.
struct Sample {
    stack: Stack,
    machines: u32,
    summary: serde_json::Value,
    cpu: f64,
    peak_mib: f64,
}

fn start(
    stack: Stack,
    ours: &Path,
    hpa: &Path,
    root: &Path,
    dir: &Path,
) -> Result<super::servers::Server> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let r = root.display().to_string();
    let log = dir.join("server.log");
    match stack {
        Stack::Loops | Stack::Threads => {
            let mut cmd = Command::new(ours);
            // Every machine is 127.0.0.1 here, so the per-client limit is lifted.
            cmd.args(["-L", "-s", &r, "-a", &listen]).args([
                "--max-transfers",
                "30000",
                "--max-per-client",
                "30000",
            ]);
            if stack == Stack::Threads {
                cmd.args(["--transfer-threads", "30000"]);
            }
            let v = first_line(Command::new(ours).arg("-V"));
            spawn_server("ours", v, cmd, port, log)
        }
        Stack::Hpa => {
            let mut cmd = Command::new(hpa);
            cmd.args(["-L", "-s", &r, "-a", &listen]);
            let v = first_line(Command::new(hpa).arg("-V"));
            spawn_server("tftpd-hpa", v, cmd, port, log)
        }
    }
}

fn one_run(
    stack: Stack,
    machines: u32,
    tools: (&Path, &Path, &Path),
    root: &Path,
    work: &Path,
) -> Result<Sample> {
    let (ours, hpa, storm) = tools;
    let dir = work.join(format!(
        "{}-{machines}",
        stack.title().replace([' ', ','], "-")
    ));
    std::fs::create_dir_all(&dir)?;
    let server = start(stack, ours, hpa, root, &dir)?;
    let meter = Meter::start(vec![server.child.id()]);
    let json = dir.join("storm.json");
    eprintln!(
        "bench tftp-crowd: {machines} machines against {}",
        stack.title()
    );
    let out = Command::new(storm)
        .args(["-n", &machines.to_string(), "--no-dhcp", "127.0.0.1"])
        .args(["--loader", "loader.0", "--kernel", "kernel"])
        .args(["--tftp-port", &server.port.to_string(), "--json"])
        .arg(&json)
        .output()
        .context("running pxe-storm")?;
    let (cpu, peak_mib) = meter.stop();
    drop(server);
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    let summary = super::storm::storm_summary(&out, &json)?;
    Ok(Sample {
        stack,
        machines,
        summary,
        cpu,
        peak_mib,
    })
}

pub(super) fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let root_dir = workspace_root();
    let (ours, target) = build_release(&root_dir, "tftpd")?;
    let (storm, _) = build_release(&root_dir, "pxe-storm")?;
    let hpa = super::servers::find("in.tftpd", "tftpd-hpa")?;
    let work = target.join("bench-tftp-crowd");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    std::fs::create_dir_all(&root)?;
    std::fs::write(root.join("probe.txt"), b"probe\n")?;
    std::fs::write(root.join("loader.0"), pseudo_random(64 << 10, 7))?;
    std::fs::write(root.join("kernel"), pseudo_random(o.kernel_mib << 20, 11))?;
    let mut samples = Vec::new();
    for &machines in &o.machines {
        for stack in Stack::ALL {
            samples.push(one_run(
                stack,
                machines,
                (&ours, &hpa, &storm),
                &root,
                &work,
            )?);
        }
    }
    let text = report(&o, &samples, &ours, &hpa);
    print!("{text}");
    if let Some(path) = &o.out {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn num(v: Option<&serde_json::Value>) -> f64 {
    v.and_then(serde_json::Value::as_f64).unwrap_or(0.0)
}

fn report(o: &Options, samples: &[Sample], ours: &Path, hpa: &Path) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "`cargo xtask bench tftp-crowd --machines {} --kernel-mib {}`; {}; {} and {}; every machine at once, each fetching a 64 KiB loader and a {} MiB kernel with its firmware's options; loopback.\n",
        o.machines
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        o.kernel_mib,
        super::machine_facts(),
        first_line(Command::new(ours).arg("-V")),
        first_line(Command::new(hpa).arg("-V")),
        o.kernel_mib,
    );
    let _ = writeln!(
        r,
        "| machines | server | finished | failed | retries | kernel p99 ms | last done s | server CPU s | server peak MiB (PSS) |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|---|");
    for s in samples {
        let sum = &s.summary;
        let kernel = sum.get("phases").and_then(|p| p.as_array()).and_then(|p| {
            p.iter()
                .find(|x| x.get("phase").and_then(|n| n.as_str()) == Some("kernel"))
        });
        let retries: f64 = sum
            .get("phases")
            .and_then(|p| p.as_array())
            .map(|p| p.iter().map(|x| num(x.get("retries"))).sum())
            .unwrap_or(0.0);
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
            s.machines,
            s.stack.title(),
            num(sum.get("finished")),
            num(sum.get("failed")),
            retries,
            num(kernel.and_then(|k| k.get("p99_ms"))),
            num(sum.get("last_finished_s")),
            s.cpu,
            s.peak_mib,
        );
    }
    r
}
