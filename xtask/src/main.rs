//! `cargo xtask`: project tasks, so that "works here" means "passes CI".
//!
//! - `ci`: installs what the tests need, then fmt, clippy and the whole test suite.
//! - `demo`: the lab (see README).

mod ci;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      install test dependencies (apt-get, as root), then cargo fmt --check,
          cargo clippy --all-targets -D warnings, and cargo test --workspace
  demo    the PXE lab: boot a VM through dhcpd, tftpd and httpd-tree
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("demo") => Err(anyhow::anyhow!(
            "the lab is not built yet (issue 6); `cargo xtask ci` runs the tests"
        )),
        Some("-h" | "--help") | None => {
            eprint!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
