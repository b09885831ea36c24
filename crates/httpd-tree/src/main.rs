//! Thin entry point; everything lives in the library. A command line that cannot be used
//! exits 1 like an invalid configuration (clap's own default would be 2, which this
//! daemon keeps for runtime failures); --help and --version exit 0.

use clap::Parser;

fn main() -> std::process::ExitCode {
    match httpd_tree::cli::Cli::try_parse() {
        Ok(cli) => httpd_tree::app::main(cli),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                std::process::ExitCode::from(1)
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
    }
}
