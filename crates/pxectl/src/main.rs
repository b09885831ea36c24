//! Thin entry point; everything lives in the library. Exit status: 0 ok, 1 refused (a bad
//! command line, or the server said no), 2 the server could not be reached or failed.

use clap::Parser;

fn main() -> std::process::ExitCode {
    match pxectl::cli::Cli::try_parse() {
        Ok(cli) => pxectl::app::main(cli),
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
