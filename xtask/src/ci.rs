//! `cargo xtask ci`: exactly what CI runs.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Root of the workspace (the parent of `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// How long CI runs each fuzz target.
const CI_FUZZ_SECONDS: u64 = 20;

pub(crate) fn run() -> Result<()> {
    let root = workspace_root();
    install_packages(&root.join("xtask/packages.txt"))?;
    cargo(&root, &["fmt", "--all", "--", "--check"])?;
    cargo(
        &root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The tree's own rules: module docs, workspace dependencies, stdout, unused
    // dependencies, the fuzz targets.
    eprintln!("xtask: cargo xtask tidy");
    crate::tidy::run(&[])?;
    // Every fuzz target for a short bounded time (the long runs stay in `cargo xtask fuzz`).
    eprintln!("xtask: cargo xtask fuzz --seconds {CI_FUZZ_SECONDS}");
    crate::fuzz::run(&["--seconds".to_owned(), CI_FUZZ_SECONDS.to_string()])?;
    let (test_passed, test_failed) = test_and_count(&root)?;
    // The deployment: dist installed, units verified and run, xinetd, Containerfiles.
    eprintln!("xtask: cargo xtask ops");
    let (ops_passed, ops_failed) = crate::ops::counts()?;
    let (passed, failed) = (test_passed + ops_passed, test_failed + ops_failed);
    // The lab boots real VMs through the daemons just tested.
    eprintln!("xtask: cargo xtask e2e");
    // The install cases (`cargo xtask e2e --case install`, about 5 minutes each plus the
    // image builds) are run by hand for now: with them CI passes 60 minutes on this machine.
    let (lab_passed, lab_failed) = crate::lab::e2e_counts(&[])?;
    // One closing line for the whole run: the last line cargo prints is a doc-test
    // binary's, often "0 passed", which says nothing about the run.
    println!(
        "ci: {} passed, {} failed",
        passed + lab_passed,
        failed + lab_failed
    );
    if failed + lab_failed > 0 {
        bail!("{failed} test(s) or deployment check(s) and {lab_failed} lab case(s) failed");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

/// Runs the whole test suite, echoing its output; returns the counts summed over
/// every test binary.
fn test_and_count(root: &Path) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: cargo test --workspace --no-fail-fast");
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.context("reading cargo test output")?;
            println!("{line}");
            if let Some((p, f)) = parse_result_line(&line) {
                passed += p;
                failed += f;
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() && failed == 0 {
        // A build failure: no test line says so.
        bail!("cargo test failed ({status})");
    }
    Ok((passed, failed))
}

/// `test result: ok. 12 passed; 0 failed; …` → (12, 0).
fn parse_result_line(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("test result: ")?;
    let mut passed = None;
    let mut failed = None;
    for part in rest.split([';', '.']) {
        let mut words = part.split_whitespace();
        if let (Some(n), Some(what)) = (words.next(), words.next()) {
            match what {
                "passed" => passed = n.parse().ok(),
                "failed" => failed = n.parse().ok(),
                _ => {}
            }
        }
    }
    Some((passed?, failed?))
}

fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Reads the package list (one name per line, `#` comments) and installs the
/// ones `dpkg` does not report as installed. Needs root, as on CI.
pub(crate) fn install_packages(list: &Path) -> Result<()> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("reading package list {}", list.display()))?;
    let wanted: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    install(&wanted)
}

/// Installs the Debian packages of `wanted` that are missing (apt-get, as root).
pub(crate) fn install(wanted: &[&str]) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_result_line;

    #[test]
    fn result_lines() {
        assert_eq!(
            parse_result_line(
                "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.03s"
            ),
            Some((12, 0))
        );
        assert_eq!(
            parse_result_line(
                "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1s"
            ),
            Some((3, 2))
        );
        assert_eq!(parse_result_line("running 3 tests"), None);
    }
}
