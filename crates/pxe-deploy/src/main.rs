//! The deploy agent's binary: options, then [`pxe_deploy::deploy`].
//! Exit status: 0 installed (or rebooting), 1 the deploy failed (reported), 2 no plan.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// The pxe-suite deploy agent: writes its machine's deploy plan to the disk.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The deploy plan's URL (default: pxe.plan= on the kernel command line).
    #[arg(long)]
    plan: Option<String>,
    /// The disk to write, instead of the plan's (a file is attached as a loop device).
    #[arg(long)]
    target: Option<PathBuf>,
    /// Do not reboot once installed.
    #[arg(long)]
    no_reboot: bool,
    /// Where the installed root is mounted.
    #[arg(long, default_value = "/run/pxe-deploy")]
    work_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan_url = match cli.plan {
        Some(p) => p,
        None => {
            let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
            match pxe_deploy::cmdline::plan_url(&cmdline) {
                Some(u) => u.to_owned(),
                None => {
                    eprintln!(
                        "pxe-deploy: no pxe.plan=http://... on the kernel command line and no --plan"
                    );
                    return ExitCode::from(2);
                }
            }
        }
    };
    let opts = pxe_deploy::Options {
        plan_url,
        target: cli.target,
        reboot: !cli.no_reboot,
        work_dir: cli.work_dir,
    };
    let mut log = pxe_deploy::log::Log::default();
    if let Err(e) = pxe_deploy::disk::private_mount_namespace() {
        log.line(format!(
            "{e}: mounting in the shared mount namespace; another process that copies it \
             meanwhile keeps the installed root mounted"
        ));
    }
    match pxe_deploy::deploy(&opts, &mut log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pxe-deploy: {e}; the machine is not installed and does not reboot");
            ExitCode::from(1)
        }
    }
}
