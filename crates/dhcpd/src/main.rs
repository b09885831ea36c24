//! Thin entry point: everything is in [`dhcpd::app`], where tests can drive it.

fn main() -> std::process::ExitCode {
    dhcpd::app::main_with_args(std::env::args().skip(1))
}
