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

/// The install case CI runs (`cargo xtask e2e --case install-image-bios`).
const CI_INSTALL_CASE: &str = "install-image-bios";

/// `cargo xtask ci`; `--install-only` runs just its last step, the install case (the
/// rest of CI takes most of an hour).
pub(crate) fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {}
        Some("--install-only") if args.len() == 1 => {
            install_packages(&workspace_root().join("xtask/packages.txt"))?;
            let (passed, failed) = install_case()?;
            println!("ci: {passed} passed, {failed} failed");
            if failed > 0 {
                bail!("the install case failed");
            }
            return Ok(());
        }
        Some(other) => bail!("ci: unknown option {other} (options: --install-only)"),
    }
    let root = workspace_root();
    eprintln!("xtask: {}", disk_free(&root));
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
    crate::fuzz::remove_build(&root)?;
    eprintln!("xtask: {}", disk_free(&root));
    let (test_passed, test_failed) = test_and_count(&root)?;
    eprintln!("xtask: {}", disk_free(&root));
    // The deployment: dist installed, units verified and run, xinetd, Containerfiles.
    eprintln!("xtask: cargo xtask ops");
    let (ops_passed, ops_failed) = crate::ops::counts()?;
    let (passed, failed) = (test_passed + ops_passed, test_failed + ops_failed);
    eprintln!("xtask: {}", disk_free(&root));
    // The lab boots real VMs through the daemons just tested.
    eprintln!("xtask: cargo xtask e2e");
    let (mut lab_passed, mut lab_failed) = crate::lab::e2e_counts(&[])?;
    // One real install, from an empty disk to a boot of it with no network device.
    eprintln!("xtask: {}", disk_free(&root));
    let (p, f) = install_case()?;
    lab_passed += p;
    lab_failed += f;
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

/// Runs the install case in a process of its own: a second lab set-up in this process
/// (namespaces, daemons, signal handling) is what failed before, and a child gets a
/// clean one. The child builds what the case needs when it is missing (the mirror from
/// the package registry, the Debian 12 image, the deploy initramfs; all cached under
/// target/lab). Returns (passed, failed) for the summary line.
fn install_case() -> Result<(u64, u64)> {
    let exe = std::env::current_exe().context("the xtask binary's path")?;
    let args = ["e2e", "--case", CI_INSTALL_CASE];
    eprintln!(
        "xtask: cargo xtask {} (a process of its own)",
        args.join(" ")
    );
    let started = std::time::Instant::now();
    let status = Command::new(&exe)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("running {} {}", exe.display(), args.join(" ")))?;
    eprintln!(
        "xtask: {CI_INSTALL_CASE} {} in {:.0} s (images included)",
        if status.success() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    Ok(if status.success() { (1, 0) } else { (0, 1) })
}

/// "disk: N free of M on MOUNT (PATH)", from df; CI keeps only what was printed, and a
/// full disk shows up elsewhere as a tool's odd failure (mmdebstrap's SIGPIPE, say).
pub(crate) fn disk_free(path: &Path) -> String {
    let out = Command::new("df")
        .args(["-h", "--output=avail,size,target"])
        .arg(path)
        .output();
    let text = match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => return format!("disk: df failed ({})", out.status),
        Err(e) => return format!("disk: df did not run ({e})"),
    };
    match text.lines().nth(1).map(str::split_whitespace) {
        Some(mut fields) => match (fields.next(), fields.next(), fields.next()) {
            (Some(avail), Some(size), Some(mount)) => {
                format!(
                    "disk: {avail} free of {size} on {mount} ({})",
                    path.display()
                )
            }
            _ => format!("disk: df said {text:?}"),
        },
        None => format!("disk: df said {text:?}"),
    }
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
    let missing = not_installed(wanted);
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
    apt_install(&missing)?;
    // An install may remove a listed package that conflicts with a new one: this machine
    // image's qemu-utils from bookworm-backports goes when Debian's qemu-system-x86 comes,
    // and with it qemu-img, which tests need. Installing it again takes the version that
    // fits.
    let removed = not_installed(wanted);
    if removed.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: the install removed {}; installing again",
        removed.join(" ")
    );
    apt_install(&removed)?;
    let still = not_installed(&removed);
    if !still.is_empty() {
        bail!("apt-get did not install {}", still.join(" "));
    }
    Ok(())
}

/// The packages of `wanted` that dpkg does not report as installed.
fn not_installed<'a>(wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect()
}

fn apt_install(packages: &[&str]) -> Result<()> {
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
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
