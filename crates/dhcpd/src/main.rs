//! Thin entry point: parse the ISC command line, run the configuration check.

use std::io::Write;
use std::process::ExitCode;

use dhcpd::cli::{self, Mode};

fn main() -> ExitCode {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "{e}\n{}", cli::USAGE);
            return ExitCode::from(1);
        }
    };
    match args.mode {
        Mode::Help => {
            #[allow(clippy::print_stdout)] // --help prints to stdout by convention
            {
                println!("{}", cli::help_text());
            }
            ExitCode::SUCCESS
        }
        Mode::Version => {
            let _ = writeln!(
                err,
                "pxe-suite-dhcpd-{} (isc-dhcpd-4.4.3 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        Mode::TestConfig => match dhcpd::check::run(&args, &mut err) {
            Ok(code) => ExitCode::from(code as u8),
            Err(_) => ExitCode::from(1),
        },
        Mode::TestLeases => {
            let code = dhcpd::check::run(&args, &mut err).unwrap_or(1);
            if code != 0 {
                return ExitCode::from(code as u8);
            }
            let _ = writeln!(
                err,
                "dhcpd: -T: the lease file check is not implemented yet"
            );
            ExitCode::from(2)
        }
        Mode::Serve => {
            let _ = writeln!(
                err,
                "dhcpd: serving is not implemented yet; use -t to check a configuration"
            );
            ExitCode::from(2)
        }
    }
}
