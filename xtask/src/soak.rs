//! `cargo xtask soak [--kills N] [--seed N] [--max-minutes M]`: the crash soak. Runs the
//! ignored test `soak::sigkill_soak` of dhcpd's real-client tests, which SIGKILLs our dhcpd
//! N times (default 1000) in DORA storms and during its start-up, restarts it on the lease
//! file each kill left, and looks up every DHCPACK captured on the wire in that file. Then
//! prints the figures from the test's JSON report (`target/soak/report.json`) and fails if
//! any ACKed lease was lost. With `--max-minutes`, no kill starts after M minutes: the
//! figures then say how many ran, and the task fails because the soak was not whole.
//!
//! Not part of `cargo xtask ci` (about 2 s a kill in a debug build, 35 minutes for 1000):
//! run it before resolving anything that touches the lease committer or the lease file, and
//! put its figures in `docs/performance.md`. Needs root (network namespaces), perfdhcp and
//! tcpdump, as the real-client tests do.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "cargo xtask soak [--kills N] [--seed N] [--max-minutes M]";

struct Options {
    kills: u64,
    seed: Option<u64>,
    max_minutes: Option<u64>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        kills: 1000,
        seed: None,
        max_minutes: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = || -> Result<u64> {
            let v = it.next().with_context(|| format!("{a} needs a number"))?;
            v.parse().with_context(|| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--kills" => o.kills = number()?,
            "--seed" => o.seed = Some(number()?),
            "--max-minutes" => o.max_minutes = Some(number()?),
            other => bail!("soak: unknown argument `{other}` (usage: {USAGE})"),
        }
    }
    if o.kills == 0 {
        bail!("soak: --kills must be at least 1");
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

/// The test run, with the soak's settings in its environment.
fn soak_command(root: &Path, o: &Options, report: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .args([
            "test",
            "-p",
            "dhcpd",
            "--test",
            "real",
            "soak::sigkill_soak",
        ])
        .args(["--", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("PXE_SOAK_KILLS", o.kills.to_string())
        .env("PXE_SOAK_REPORT", report);
    if let Some(seed) = o.seed {
        cmd.env("PXE_SOAK_SEED", seed.to_string());
    }
    if let Some(m) = o.max_minutes {
        cmd.env("PXE_SOAK_MAX_SECS", (m * 60).to_string());
    }
    cmd
}

/// A field of the report as text (`?` when missing).
fn field(report: &Value, name: &str) -> String {
    match report.get(name) {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.fract() != 0.0)
            .map_or_else(|| n.to_string(), |f| format!("{f:.1}")),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "?".into(),
    }
}

/// The figures, one line each.
fn summary(r: &Value) -> String {
    let f = |name| field(r, name);
    format!(
        "xtask soak: {} kills of {} asked for ({} in a storm, {} during start-up of which {} mid-rewrite, {} just after it), {} build, seed {}
  ACKs captured: {} ({} leases), lease lookups: {}
  ACKed leases lost: {}, addresses ACKed twice: {}, lease-file errors: {}
  torn records dropped on start: {} (files torn after a kill: {}), rewrite temporaries removed on start: {}
  restart (spawn to ready): median {} ms, max {} ms over {} restarts
  lease file at the end: {} bytes, {} leases, rewrite temporaries left: {}
  wall time: {} s",
        f("kills"),
        f("requested"),
        f("storm_kills"),
        f("startup_kills"),
        f("mid_rewrite_kills"),
        f("idle_kills"),
        f("build"),
        f("seed"),
        f("ack_packets"),
        f("acked_leases"),
        f("lease_lookups"),
        f("lost"),
        r.get("double_grants")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        r.get("file_errors")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        f("torn_dropped_on_start"),
        f("torn_after_kill"),
        f("rewrite_temporaries_removed_on_start"),
        f("restart_median_ms"),
        f("restart_max_ms"),
        f("restarts"),
        f("lease_file_bytes"),
        f("lease_file_leases"),
        f("rewrite_temporaries_left"),
        f("wall_s"),
    )
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let root = workspace_root();
    let dir = root.join("target").join("soak");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let report_path = dir.join("report.json");
    let _ = std::fs::remove_file(&report_path);
    eprintln!(
        "xtask soak: {} kills; the test's own summary follows its log",
        o.kills
    );
    let status = soak_command(&root, &o, &report_path)
        .status()
        .context("running cargo test")?;
    let text = std::fs::read_to_string(&report_path).with_context(|| {
        format!(
            "no report at {} (the soak stopped before its end: {status})",
            report_path.display()
        )
    })?;
    let report: Value = serde_json::from_str(&text)
        .with_context(|| format!("reading {}", report_path.display()))?;
    eprintln!("{}", summary(&report));
    verdict(&report, status.success(), o.kills)
        .with_context(|| format!("report: {}", report_path.display()))
}

/// Whether the soak passed: nothing lost, the test green, every kill asked for done.
fn verdict(report: &Value, test_passed: bool, asked: u64) -> Result<()> {
    if report.get("lost").and_then(Value::as_u64) != Some(0) {
        bail!("{} ACKed leases lost", field(report, "lost"));
    }
    if !test_passed {
        bail!("the soak test failed (see its output above)");
    }
    if report.get("kills").and_then(Value::as_u64) != Some(asked) {
        bail!(
            "{} of {asked} kills ran (time budget: {}): not a whole soak",
            field(report, "kills"),
            field(report, "stopped_by_budget")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments() {
        let o = parse_args(&args(&[])).expect("defaults");
        assert_eq!((o.kills, o.seed, o.max_minutes), (1000, None, None));
        let o = parse_args(&args(&[
            "--kills",
            "20",
            "--seed",
            "7",
            "--max-minutes",
            "60",
        ]))
        .expect("parses");
        assert_eq!((o.kills, o.seed, o.max_minutes), (20, Some(7), Some(60)));
        assert!(parse_args(&args(&["--kills", "0"])).is_err());
        assert!(parse_args(&args(&["--kills"])).is_err());
        assert!(parse_args(&args(&["--rounds", "3"])).is_err());
    }

    #[test]
    fn verdicts() {
        let r = |text: &str| -> Value { serde_json::from_str(text).expect("json") };
        let whole = r(r#"{"kills": 5, "lost": 0, "stopped_by_budget": false}"#);
        assert!(verdict(&whole, true, 5).is_ok());
        assert!(verdict(&whole, false, 5).is_err(), "the test failed");
        let lost = r(r#"{"kills": 5, "lost": 2, "stopped_by_budget": false}"#);
        assert!(verdict(&lost, true, 5).is_err());
        let short = r(r#"{"kills": 3, "lost": 0, "stopped_by_budget": true}"#);
        let e = verdict(&short, true, 5).expect_err("not whole");
        assert!(e.to_string().contains("3 of 5 kills ran"), "{e}");
        assert!(verdict(&r("{}"), true, 5).is_err(), "no figures, no pass");
    }

    #[test]
    fn summary_names_every_figure() {
        let r: Value = serde_json::from_str(
            r#"{"kills": 3, "requested": 5, "lost": 0, "restart_median_ms": 91.26, "double_grants": [],
                "file_errors": ["x"]}"#,
        )
        .expect("json");
        let s = summary(&r);
        assert!(s.contains("3 kills of 5 asked for"), "{s}");
        assert!(s.contains("median 91.3 ms"), "{s}");
        assert!(s.contains("lease-file errors: 1"), "{s}");
        assert!(s.contains("ACKed leases lost: 0"), "{s}");
    }
}
