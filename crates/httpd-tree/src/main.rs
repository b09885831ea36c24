//! Thin entry point; everything lives in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    httpd_tree::app::main(httpd_tree::cli::Cli::parse())
}
