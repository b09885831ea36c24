//! ISC dhcpd's command line: single-dash long flags (`-cf FILE`), parsed by hand like ISC does,
//! with Debian's default paths, plus our own `--inventory` and `--state-dir`.

use std::fmt;

/// Debian's default configuration file.
pub const DEFAULT_CONF: &str = "/etc/dhcp/dhcpd.conf";
/// Debian's default lease file.
pub const DEFAULT_LEASES: &str = "/var/lib/dhcp/dhcpd.leases";
/// Debian's default PID file.
pub const DEFAULT_PID: &str = "/run/dhcpd.pid";

/// What the invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve (the default).
    Serve,
    /// `-t`: check the configuration and exit.
    TestConfig,
    /// `-T`: check the configuration and the lease file and exit.
    TestLeases,
    /// `--version`.
    Version,
    /// `--help` / `-h`.
    Help,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// What to do.
    pub mode: Mode,
    /// `-cf`.
    pub conf: String,
    /// `-lf`.
    pub leases: String,
    /// `-pf`.
    pub pid_file: String,
    /// `--no-pid`.
    pub no_pid: bool,
    /// `-f`: stay in the foreground.
    pub foreground: bool,
    /// `-d`: foreground, log to stderr.
    pub debug: bool,
    /// `-q`: no banner.
    pub quiet: bool,
    /// `-p PORT`.
    pub port: Option<u16>,
    /// `-s SERVER`: send replies to this address instead of broadcasting (testing).
    pub server: Option<String>,
    /// `-user`.
    pub user: Option<String>,
    /// `-group`.
    pub group: Option<String>,
    /// `-chroot`.
    pub chroot: Option<String>,
    /// `-tf`.
    pub trace_out: Option<String>,
    /// `-play`.
    pub trace_in: Option<String>,
    /// `--inventory FILE` (ours).
    pub inventory: Option<String>,
    /// `--state-dir DIR` (ours).
    pub state_dir: Option<String>,
    /// `--metrics-file FILE` (ours): Prometheus text, rewritten every few seconds.
    pub metrics_file: Option<String>,
    /// `--database URL` (ours): leases in PostgreSQL instead of the lease file.
    pub database: Option<String>,
    /// `--import-leases` (ours): copy the lease file into the database at start.
    pub import_leases: bool,
    /// `--proxy` (ours): proxyDHCP, boot information for PXE clients beside a site DHCP
    /// server, on the DHCP port and the PXE boot server port (4011); no address is leased.
    pub proxy: bool,
    /// Interfaces to listen on.
    pub interfaces: Vec<String>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            mode: Mode::Serve,
            conf: DEFAULT_CONF.into(),
            leases: DEFAULT_LEASES.into(),
            pid_file: DEFAULT_PID.into(),
            no_pid: false,
            foreground: false,
            debug: false,
            quiet: false,
            port: None,
            server: None,
            user: None,
            group: None,
            chroot: None,
            trace_out: None,
            trace_in: None,
            inventory: None,
            state_dir: None,
            metrics_file: None,
            database: None,
            import_leases: false,
            proxy: false,
            interfaces: Vec::new(),
        }
    }
}

/// A command-line error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// A flag that needs a value came last.
    #[error("No argument for command: {0}")]
    NoArgument(String),
    /// An unknown flag.
    #[error("Unknown command {0}")]
    Unknown(String),
    /// `-p` with something that is not a port.
    #[error("{0}: invalid port")]
    BadPort(String),
    /// `-6` or `-4o6`.
    #[error(
        "DHCPv6 ({0}) is not supported: this server speaks DHCPv4 only; run ISC dhcpd -6 for DHCPv6"
    )]
    V6(String),
    /// `-4` and `-6` together.
    #[error("Server cannot run in both IPv4 and IPv6 mode at the same time.")]
    BothFamilies,
}

/// The usage synopsis, ISC's layout.
pub const USAGE: &str = "Usage: dhcpd [-p <UDP port #>] [-f] [-d] [-q] [-t|-T]
             [-4|-6] [-cf config-file] [-lf lease-file]
             [-user user] [-group group] [-chroot dir]
             [-tf trace-output-file]
             [-play trace-input-file]
             [-pf pid-file] [--no-pid] [-s server]
             [--inventory FILE] [--state-dir DIR] [--metrics-file FILE]
             [--database URL [--import-leases]] [--proxy]
             [if0 [...ifN]]
       dhcpd {--version|--help|-h}";

/// The `--help` text, from the same definition as dhcpd(8).
pub fn help_text() -> String {
    crate::manual::manual().help()
}

/// Parse ISC-style arguments (without the program name).
pub fn parse<I, S>(args: I) -> Result<Args, CliError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut a = Args::default();
    let mut family: Option<&'static str> = None;
    let mut it = args.into_iter().map(|s| s.as_ref().to_string());
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| CliError::NoArgument(name.to_string()))
        };
        match arg.as_str() {
            "-p" => {
                let v = value("-p")?;
                a.port = Some(
                    v.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or(CliError::BadPort(v))?,
                );
            }
            "-f" => a.foreground = true,
            "-d" => {
                a.debug = true;
                a.foreground = true;
            }
            "-q" => a.quiet = true,
            "-t" => {
                if a.mode != Mode::TestLeases {
                    a.mode = Mode::TestConfig;
                }
            }
            "-T" => a.mode = Mode::TestLeases,
            "-s" => a.server = Some(value("-s")?),
            "-user" => a.user = Some(value("-user")?),
            "-group" => a.group = Some(value("-group")?),
            "-chroot" => a.chroot = Some(value("-chroot")?),
            "-cf" => a.conf = value("-cf")?,
            "-lf" => a.leases = value("-lf")?,
            "-pf" => a.pid_file = value("-pf")?,
            "--no-pid" => a.no_pid = true,
            "-tf" => a.trace_out = Some(value("-tf")?),
            "-play" => a.trace_in = Some(value("-play")?),
            "--inventory" => a.inventory = Some(value("--inventory")?),
            "--state-dir" => a.state_dir = Some(value("--state-dir")?),
            "--metrics-file" => a.metrics_file = Some(value("--metrics-file")?),
            "--database" => a.database = Some(value("--database")?),
            "--import-leases" => a.import_leases = true,
            "--proxy" => a.proxy = true,
            "-4" => {
                if family == Some("-6") {
                    return Err(CliError::BothFamilies);
                }
                family = Some("-4");
            }
            "-6" | "-4o6" => return Err(CliError::V6(arg)),
            "--version" => {
                a.mode = Mode::Version;
                return Ok(a);
            }
            "--help" | "-h" => {
                a.mode = Mode::Help;
                return Ok(a);
            }
            s if s.starts_with('-') => return Err(CliError::Unknown(arg)),
            _ => a.interfaces.push(arg),
        }
    }
    Ok(a)
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Mode::Serve => "serve",
            Mode::TestConfig => "test configuration",
            Mode::TestLeases => "test configuration and leases",
            Mode::Version => "version",
            Mode::Help => "help",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_debians() {
        let a = parse(Vec::<String>::new()).expect("empty is fine");
        assert_eq!(a.conf, "/etc/dhcp/dhcpd.conf");
        assert_eq!(a.leases, "/var/lib/dhcp/dhcpd.leases");
        assert_eq!(a.pid_file, "/run/dhcpd.pid");
        assert_eq!(a.mode, Mode::Serve);
        assert!(!a.proxy);
    }

    #[test]
    fn proxy_is_a_switch_documented_in_the_help() {
        let a = parse(["--proxy", "-cf", "x.conf", "eth1"]).expect("parses");
        assert!(a.proxy);
        assert_eq!(a.interfaces, ["eth1"]);
        assert!(help_text().contains("--proxy"));
        assert!(USAGE.contains("[--proxy]"));
    }

    #[test]
    fn isc_style_flags() {
        let a = parse([
            "-t",
            "-4",
            "-cf",
            "x.conf",
            "-lf",
            "l",
            "-pf",
            "p",
            "--no-pid",
            "-q",
            "-d",
            "-p",
            "6767",
            "-s",
            "1.2.3.4",
            "-user",
            "dhcpd",
            "-group",
            "dhcpd",
            "-chroot",
            "/var/empty",
            "-tf",
            "t.out",
            "-play",
            "t.in",
            "--inventory",
            "inv.yaml",
            "--state-dir",
            "/var/lib/pxe",
            "eth0",
            "eth1",
        ])
        .expect("valid");
        assert_eq!(a.mode, Mode::TestConfig);
        assert_eq!(a.conf, "x.conf");
        assert_eq!((a.leases.as_str(), a.pid_file.as_str()), ("l", "p"));
        assert!(a.no_pid && a.quiet && a.debug && a.foreground);
        assert_eq!(a.port, Some(6767));
        assert_eq!(a.server.as_deref(), Some("1.2.3.4"));
        assert_eq!(a.user.as_deref(), Some("dhcpd"));
        assert_eq!(a.group.as_deref(), Some("dhcpd"));
        assert_eq!(a.chroot.as_deref(), Some("/var/empty"));
        assert_eq!(a.trace_out.as_deref(), Some("t.out"));
        assert_eq!(a.trace_in.as_deref(), Some("t.in"));
        assert_eq!(a.inventory.as_deref(), Some("inv.yaml"));
        assert_eq!(a.state_dir.as_deref(), Some("/var/lib/pxe"));
        assert_eq!(a.interfaces, vec!["eth0", "eth1"]);
    }

    #[test]
    fn capital_t_wins_over_t() {
        assert_eq!(parse(["-T", "-t"]).expect("ok").mode, Mode::TestLeases);
        assert_eq!(parse(["-t", "-T"]).expect("ok").mode, Mode::TestLeases);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(["-cf"]), Err(CliError::NoArgument("-cf".into())));
        assert_eq!(parse(["--bogus"]), Err(CliError::Unknown("--bogus".into())));
        assert_eq!(parse(["-p", "http"]), Err(CliError::BadPort("http".into())));
        assert!(matches!(parse(["-6"]), Err(CliError::V6(_))));
        assert_eq!(
            CliError::NoArgument("-cf".into()).to_string(),
            "No argument for command: -cf"
        );
    }

    #[test]
    fn help_and_version_stop_parsing() {
        assert_eq!(parse(["--help", "--bogus"]).expect("ok").mode, Mode::Help);
        assert_eq!(parse(["-h"]).expect("ok").mode, Mode::Help);
        assert_eq!(parse(["--version"]).expect("ok").mode, Mode::Version);
        assert!(help_text().contains("-cf FILE"));
    }
}
