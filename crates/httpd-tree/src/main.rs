//! Thin entry point; everything lives in the library.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        #[allow(clippy::print_stdout)] // --help output is the point of this binary for now
        {
            println!("{}", httpd_tree::ABOUT);
        }
        return std::process::ExitCode::SUCCESS;
    }
    eprintln!("httpd-tree: not implemented yet; see --help");
    std::process::ExitCode::from(2)
}
