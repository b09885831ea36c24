//! Thin entry point: parse, run the storm on a runtime, print the summary.

use clap::Parser;
use pxe_storm::cli::Cli;
use pxe_storm::fetch::Limits;
use pxe_storm::machine::{Script, Settings};
use pxe_storm::report::render;
use pxe_storm::storm::{Shape, raise_file_limit, run};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match storm(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pxe-storm: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("--{name} {v}: not a number of seconds"))
}

fn storm(cli: Cli) -> anyhow::Result<bool> {
    let limit = raise_file_limit().unwrap_or(1024);
    if u64::from(cli.machines) + 64 > limit {
        eprintln!(
            "pxe-storm: warning: {} machines but only {limit} open files allowed; raise the hard limit (ulimit -Hn)",
            cli.machines
        );
    }
    let shape = Shape {
        machines: cli.machines,
        mix: cli.mix.clone(),
        ramp: seconds("ramp", cli.ramp)?,
        mac_prefix: cli.mac_prefix,
    };
    let settings = Settings {
        script: Script {
            config: cli.config.iter().cloned().collect(),
            kernel: cli.kernel.clone(),
            answer: cli.answer.clone(),
            tree: cli.tree.clone(),
        },
        limits: Limits {
            tftp_timeout: seconds("tftp-timeout", cli.tftp_timeout)?,
            tftp_tries: cli.tftp_tries.max(1),
            http_timeout: seconds("http-timeout", cli.http_timeout)?,
        },
        dhcp_timeout: seconds("dhcp-timeout", cli.dhcp_timeout)?,
        dhcp_tries: cli.dhcp_tries.max(1),
        bind_leased: cli.bind_leased,
        tftp_port: cli.tftp_port,
        no_dhcp: cli.no_dhcp.zip(cli.loader.clone()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(run(
        &shape,
        settings,
        cli.interface.as_deref(),
        cli.dhcp_server,
    ))?;
    print!("{}", render(&outcome.summary));
    println!(
        "storm took {:.2} s; {} DHCP packets nobody waited for",
        outcome.took.as_secs_f64(),
        outcome.strays
    );
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&outcome.summary)?;
        std::fs::write(path, text + "\n")?;
    }
    Ok(outcome.summary.failed == 0)
}
