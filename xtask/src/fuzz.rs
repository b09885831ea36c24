//! `cargo xtask fuzz [--seconds N] [TARGET...]`: builds the cargo-fuzz targets in `fuzz/` and
//! runs each for a bounded time (default 30 s); any crash, timeout or leak fails the task.
//!
//! Only the stable toolchain exists here. `cargo fuzz build` with its default AddressSanitizer
//! passes `-Zsanitizer=address`, which stable rustc refuses; `RUSTC_BOOTSTRAP=1` lets it
//! through, and that is what this task sets. (`cargo fuzz build -s none` works on plain
//! stable, since the coverage flags `-Cpasses=sancov-module -Cllvm-args=…` are stable; use
//! `--sanitizer none` for faster runs without ASan.) cargo-fuzz is installed from crates.io
//! with `cargo install cargo-fuzz --locked` when it is missing.
//!
//! Corpora grow in `fuzz/corpus/<target>` (ignored by git); seeds come from `fuzz/seeds/<target>`
//! and, for the dhcpd parser, from the dhcpd crate's configuration fixtures. Crashes land in
//! `fuzz/artifacts/<target>/`, and cargo-fuzz prints the command that reproduces them.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every target, in the order they run.
const TARGETS: &[&str] = &[
    "tftp_request",
    "tftp_path",
    "dhcpd_conf",
    "dhcp_packet",
    "omapi_message",
];

/// Extra seed directories per target, relative to the workspace root.
fn seed_dirs(target: &str) -> Vec<&'static str> {
    match target {
        "tftp_request" => vec!["fuzz/seeds/tftp_request"],
        "dhcpd_conf" => vec!["crates/dhcpd/tests/fixtures/conf"],
        _ => vec![],
    }
}

struct Options {
    seconds: u64,
    sanitizer: String,
    targets: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        seconds: 30,
        sanitizer: "address".into(),
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().context("--seconds needs a number")?;
                o.seconds = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .with_context(|| format!("--seconds: not a positive number: {v}"))?;
            }
            "--sanitizer" => {
                o.sanitizer = it.next().context("--sanitizer needs a value")?.clone();
            }
            t if TARGETS.contains(&t) => o.targets.push(t.to_owned()),
            other => bail!(
                "fuzz: unknown argument `{other}` (usage: cargo xtask fuzz [--seconds N] [--sanitizer address|none] [{}])",
                TARGETS.join("|")
            ),
        }
    }
    if o.targets.is_empty() {
        o.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
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

fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    eprintln!("xtask fuzz: cargo-fuzz missing, running `cargo install cargo-fuzz --locked`");
    let status = Command::new(cargo())
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed ({status})");
    }
    Ok(())
}

/// `cargo fuzz <args>` in `fuzz/`, with the flags stable rustc needs.
fn cargo_fuzz(fuzz_dir: &Path, args: &[String], tmp: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new(cargo());
    cmd.arg("fuzz")
        .args(args)
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1");
    if let Some(t) = tmp {
        cmd.env("TMPDIR", t);
    }
    eprintln!("xtask fuzz: cargo fuzz {}", args.join(" "));
    let status = cmd.status().context("running cargo fuzz")?;
    if !status.success() {
        bail!("cargo fuzz {} failed ({status})", args.join(" "));
    }
    Ok(())
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    ensure_cargo_fuzz()?;
    let common = [
        "--sanitizer".to_owned(),
        o.sanitizer.clone(),
        // Debug assertions (and with them overflow checks) on: a wrapped counter is a bug.
        "--debug-assertions".to_owned(),
    ];
    let mut build = vec!["build".to_owned()];
    build.extend(common.iter().cloned());
    cargo_fuzz(&fuzz_dir, &build, None)?;

    let mut failed = Vec::new();
    for target in &o.targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        // Targets that build a file tree do it under TMPDIR: a scratch directory removed
        // after the run.
        let tmp = fuzz_dir.join("artifacts").join(format!("tmp-{target}"));
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut run = vec!["run".to_owned()];
        run.extend(common.iter().cloned());
        run.push(target.clone());
        run.push(corpus.display().to_string());
        for seeds in seed_dirs(target) {
            let dir = root.join(seeds);
            if dir.is_dir() {
                run.push(dir.display().to_string());
            }
        }
        run.extend([
            "--".to_owned(),
            format!("-max_total_time={}", o.seconds),
            "-timeout=10".to_owned(),
            "-rss_limit_mb=2048".to_owned(),
            "-print_final_stats=1".to_owned(),
        ]);
        let result = cargo_fuzz(&fuzz_dir, &run, Some(&tmp));
        let _ = std::fs::remove_dir_all(&tmp);
        if let Err(e) = result {
            eprintln!("xtask fuzz: {target}: {e:#}");
            failed.push(target.clone());
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/<target>/)",
            failed.join(", ")
        );
    }
    eprintln!(
        "xtask fuzz: {} targets, {} s each, no crash",
        o.targets.len(),
        o.seconds
    );
    Ok(())
}

/// Removes what `cargo fuzz` built (sanitized, instrumented binaries and their
/// dependencies, about 1 GiB) once CI has run the targets: nothing later uses it, and CI's
/// disk ran out in the lab twice. `cargo fuzz` builds in `fuzz/` (its own workspace) and
/// always for an explicit target triple, so its output is `<its target dir>/<triple>/`,
/// beside (never inside) a shared target directory's `debug/` and `release/`.
pub(crate) fn remove_build(root: &Path) -> Result<()> {
    let built = crate::dist::target_dir(&root.join("fuzz")).join(host_triple()?);
    if built.is_dir() {
        eprintln!("xtask: removing the fuzz build {}", built.display());
        std::fs::remove_dir_all(&built).with_context(|| format!("removing {}", built.display()))?;
    }
    Ok(())
}

/// The host's target triple, as `rustc -vV` prints it on its `host:` line.
fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|t| t.trim().to_owned())
        .context("rustc -vV printed no host line")
}
