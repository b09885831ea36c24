//! `dhcpd -t`: read the configuration, print what ISC prints (banner, errors with carets, the
//! closing lines) and give ISC's exit status. Output goes to a writer so tests can capture it.

use std::io::Write;

use crate::cli::Args;
use crate::conf::{Loaded, Output, ParseOptions, parse_file};

pub mod leases;

/// The banner, in ISC's four-line layout.
pub fn banner() -> String {
    format!(
        "pxe-suite dhcpd {} (ISC DHCP Server 4.4.3 compatible)\nCopyright pxe-suite contributors.\nAll rights reserved.\nFor info, please visit https://www.isc.org/software/dhcp/\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Write the report for a parsed configuration; returns the exit status (0 valid, 1 not).
pub fn report(args: &Args, loaded: &Loaded, err: &mut dyn Write) -> std::io::Result<i32> {
    for o in &loaded.output {
        match o {
            Output::Error(d) => err.write_all(&d.render(true))?,
            Output::Log(l) => writeln!(err, "{l}")?,
        }
    }
    if let Some(f) = &loaded.fatal {
        writeln!(err, "{f}")?;
        writeln!(err, "\nexiting.")?;
        return Ok(1);
    }
    if !loaded.is_ok() {
        writeln!(err, "Configuration file errors encountered -- exiting")?;
        writeln!(err, "\nexiting.")?;
        return Ok(1);
    }
    for w in loaded.unsupported_warnings() {
        writeln!(err, "{w}")?;
    }
    // ISC reads `omapi-key` when it sets up OMAPI, also under -t, and stops without its key.
    if let Err(e) = crate::omapi::settings::omapi_settings(&loaded.config) {
        writeln!(err, "OMAPI key {e}")?;
        writeln!(err, "\nexiting.")?;
        return Ok(1);
    }
    if !args.quiet {
        writeln!(err, "Config file: {}", args.conf)?;
        writeln!(err, "Database file: {}", args.leases)?;
        writeln!(err, "PID file: {}", args.pid_file)?;
    }
    Ok(0)
}

/// Run the `-t` check for `args`, writing to `err`; returns the exit status.
/// Like ISC, `-q` silences standard error completely (ISC then logs only to syslog).
pub fn run(args: &Args, err: &mut dyn Write) -> std::io::Result<i32> {
    let loaded = parse_file(&args.conf, ParseOptions::default());
    if args.quiet {
        return report(args, &loaded, &mut std::io::sink());
    }
    err.write_all(banner().as_bytes())?;
    report(args, &loaded, err)
}
