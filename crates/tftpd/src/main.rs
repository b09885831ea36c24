//! Thin entry point; everything lives in the library (`tftpd::app`).

fn main() -> std::process::ExitCode {
    tftpd::app::main_with_args(std::env::args_os().skip(1))
}
