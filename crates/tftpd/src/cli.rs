//! tftpd-hpa's command line (getopt short options with bundling and attached values, and its
//! long forms), plus this server's own `--inventory`, `--state-dir`, `--max-transfers`, the
//! per-transfer bounds (`--max-timeout`, `--max-window`, `--max-per-client`, `--min-rate`,
//! `--max-duration`) and `--check`. Parsing is pure: arguments in, [`Command`] out.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `--busy-poll` when not given: on one machine a lockstep answer comes within tens of
/// microseconds and a window of 16 blocks is acknowledged within 100-200 (`busy_poll.rs`).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);
/// The longest `--busy-poll` accepted.
pub const MAX_BUSY_POLL_US: u64 = 1000;
/// `--transfer-threads` when not given: transfers at once that get a thread each.
pub const DEFAULT_TRANSFER_THREADS: usize = 64;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve (or, with `--check`, only validate).
    Run(Box<Config>),
    /// `--help`.
    Help,
    /// `-V` / `--version`.
    Version,
}

/// `-a [address][:port]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// The address; `None` means all addresses.
    pub ip: Option<IpAddr>,
    /// The port; `None` means 69.
    pub port: Option<u16>,
}

/// `--max-transfers` by default: room for 10,000 machines booting at once. A machine can
/// hold two transfers for a moment (a UEFI size probe still open when its download starts;
/// its last acknowledgement still queued when it asks for the next file), so 10,000 slots
/// refused about 5 % of such a storm with "Server busy" (docs/performance.md, issue 17).
pub const DEFAULT_MAX_TRANSFERS: usize = 20_000;

/// Every setting, with tftpd-hpa's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `-l`: standalone; without it the socket is inherited (inetd, systemd).
    pub listen: bool,
    /// `-L`: standalone without detaching.
    pub foreground: bool,
    /// `-a`.
    pub address: Option<ListenAddr>,
    /// `-s`.
    pub secure: bool,
    /// `-c`.
    pub create: bool,
    /// `-u` (tftpd-hpa's default is `nobody`; applied only when started as root).
    pub user: String,
    /// `-U`, octal.
    pub umask: Option<u32>,
    /// `-p`.
    pub permissive: bool,
    /// `-m`.
    pub map_file: Option<PathBuf>,
    /// `-B`.
    pub max_blksize: Option<u16>,
    /// `-r`, lowercase.
    pub refuse: Vec<String>,
    /// `-t`: idle time before an inetd-mode server exits.
    pub idle_timeout: Duration,
    /// `-T`: retransmit timeout.
    pub retransmit: Duration,
    /// `-R`.
    pub port_range: Option<(u16, u16)>,
    /// `-v` count, or `--verbosity`.
    pub verbosity: u32,
    /// `-4`.
    pub ipv4_only: bool,
    /// `-6`.
    pub ipv6_only: bool,
    /// `-P`.
    pub pidfile: Option<PathBuf>,
    /// Root directories.
    pub dirs: Vec<PathBuf>,
    /// `--inventory FILE`.
    pub inventory: Option<PathBuf>,
    /// `--state-dir DIR`.
    pub state_dir: Option<PathBuf>,
    /// `--database URL` (else `PXE_DATABASE_URL`).
    pub database: Option<String>,
    /// `--max-transfers N`.
    pub max_transfers: usize,
    /// `--transfer-threads N`: transfers at once that get a thread each; the rest run on
    /// the event loops.
    pub transfer_threads: usize,
    /// `--busy-poll MICROSECONDS`: how long a lone transfer polls for its client's answer.
    pub busy_poll: Duration,
    /// `--max-timeout SECONDS`: the longest `timeout` option granted.
    pub max_timeout: Duration,
    /// `--max-window BLOCKS`: the largest `windowsize` option granted.
    pub max_window: u16,
    /// `--max-per-client N`: transfers at once from one client address.
    pub max_per_client: usize,
    /// `--min-rate BYTES`: bytes per second a transfer must move over each 30 s (0: none).
    pub min_rate: u64,
    /// `--max-duration SECONDS`: how long a transfer may last (`None`: no limit, given as 0).
    pub max_duration: Option<Duration>,
    /// `--check`: validate the configuration and exit.
    pub check: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: false,
            foreground: false,
            address: None,
            secure: false,
            create: false,
            user: "nobody".into(),
            umask: None,
            permissive: false,
            map_file: None,
            max_blksize: None,
            refuse: Vec::new(),
            idle_timeout: Duration::from_secs(900),
            retransmit: Duration::from_secs(1),
            port_range: None,
            verbosity: 0,
            ipv4_only: false,
            ipv6_only: false,
            pidfile: None,
            dirs: Vec::new(),
            inventory: None,
            state_dir: None,
            database: None,
            max_transfers: DEFAULT_MAX_TRANSFERS,
            transfer_threads: DEFAULT_TRANSFER_THREADS,
            busy_poll: DEFAULT_BUSY_POLL,
            max_timeout: crate::options::DEFAULT_MAX_TIMEOUT,
            max_window: crate::options::DEFAULT_MAX_WINDOWSIZE,
            max_per_client: crate::server::DEFAULT_MAX_PER_CLIENT,
            min_rate: crate::guard::DEFAULT_MIN_RATE,
            max_duration: Some(crate::guard::DEFAULT_MAX_DURATION),
            check: false,
        }
    }
}

/// A command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(String);

impl From<lexopt::Error> for CliError {
    fn from(e: lexopt::Error) -> Self {
        CliError(e.to_string())
    }
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut c = Config::default();
    while let Some(arg) = p.next()? {
        match arg {
            Short('4') | Long("ipv4") => c.ipv4_only = true,
            Short('6') | Long("ipv6") => c.ipv6_only = true,
            Short('l') | Long("listen") => c.listen = true,
            Short('L') | Long("foreground") => {
                c.listen = true;
                c.foreground = true;
            }
            Short('a') | Long("address") => c.address = Some(parse_address(&text(&mut p)?)?),
            Short('c') | Long("create") => c.create = true,
            Short('s') | Long("secure") => c.secure = true,
            Short('u') | Long("user") => c.user = text(&mut p)?,
            Short('U') | Long("umask") => {
                let v = text(&mut p)?;
                let m = u32::from_str_radix(&v, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| CliError(format!("invalid umask: {v}")))?;
                c.umask = Some(m);
            }
            Short('p') | Long("permissive") => c.permissive = true,
            Short('m') | Long("map-file") => c.map_file = Some(p.value()?.into()),
            Short('B') | Long("blocksize") => {
                let v = text(&mut p)?;
                let b = v
                    .parse::<u16>()
                    .ok()
                    .filter(|b| (512..=65464).contains(b))
                    .ok_or_else(|| CliError(format!("invalid blocksize: {v} (512 to 65464)")))?;
                c.max_blksize = Some(b);
            }
            Short('r') | Long("refuse") => c.refuse.push(text(&mut p)?.to_ascii_lowercase()),
            Short('t') | Long("timeout") => {
                c.idle_timeout = Duration::from_secs(number(&text(&mut p)?, "timeout")?);
            }
            Short('T') | Long("retransmit") => {
                let v = text(&mut p)?;
                let us = number(&v, "retransmit timeout")?;
                if !(10_000..=255_000_000).contains(&us) {
                    return Err(CliError(format!(
                        "invalid retransmit timeout: {v} (10000 to 255000000 microseconds)"
                    )));
                }
                c.retransmit = Duration::from_micros(us);
            }
            Short('R') | Long("port-range") => c.port_range = Some(parse_range(&text(&mut p)?)?),
            Short('v') | Long("verbose") => c.verbosity += 1,
            Long("verbosity") => {
                let v = text(&mut p)?;
                c.verbosity = u32::try_from(number(&v, "verbosity")?)
                    .map_err(|_| CliError(format!("invalid verbosity: {v}")))?;
            }
            Short('P') | Long("pidfile") => c.pidfile = Some(p.value()?.into()),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("inventory") => c.inventory = Some(p.value()?.into()),
            Long("state-dir") => c.state_dir = Some(p.value()?.into()),
            Long("database") => c.database = Some(text(&mut p)?),
            Long("max-transfers") => {
                let v = text(&mut p)?;
                c.max_transfers = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| CliError(format!("invalid --max-transfers: {v}")))?;
            }
            Long("transfer-threads") => {
                let v = text(&mut p)?;
                c.transfer_threads = v
                    .parse::<usize>()
                    .map_err(|_| CliError(format!("invalid --transfer-threads: {v}")))?;
            }
            Long("busy-poll") => {
                let v = text(&mut p)?;
                c.busy_poll = v
                    .parse::<u64>()
                    .ok()
                    .filter(|us| *us <= MAX_BUSY_POLL_US)
                    .map(Duration::from_micros)
                    .ok_or_else(|| {
                        CliError(format!(
                            "invalid --busy-poll: {v} (microseconds, 0 to {MAX_BUSY_POLL_US})"
                        ))
                    })?;
            }
            Long("max-timeout") => {
                let v = text(&mut p)?;
                c.max_timeout = Duration::from_secs(ranged(&v, "--max-timeout", 1, 255)?);
            }
            Long("max-window") => {
                let v = text(&mut p)?;
                c.max_window = u16::try_from(ranged(&v, "--max-window", 1, 65535)?).unwrap_or(1);
            }
            Long("max-per-client") => {
                let v = text(&mut p)?;
                c.max_per_client =
                    usize::try_from(ranged(&v, "--max-per-client", 1, 1_000_000)?).unwrap_or(1);
            }
            Long("min-rate") => {
                let v = text(&mut p)?;
                c.min_rate = ranged(&v, "--min-rate", 0, u64::from(u32::MAX))?;
            }
            Long("max-duration") => {
                let v = text(&mut p)?;
                let secs = ranged(&v, "--max-duration", 0, 86_400 * 365)?;
                c.max_duration = (secs > 0).then(|| Duration::from_secs(secs));
            }
            Long("check") => c.check = true,
            Value(dir) => c.dirs.push(dir.into()),
            other => return Err(other.unexpected().into()),
        }
    }
    if c.ipv4_only && c.ipv6_only {
        return Err(CliError("-4 and -6 exclude each other".into()));
    }
    if c.dirs.is_empty() {
        return Err(CliError("no root directory given".into()));
    }
    if c.state_dir.is_some() && c.inventory.is_none() {
        return Err(CliError("--state-dir needs --inventory".into()));
    }
    if c.database.is_some() && c.state_dir.is_some() {
        return Err(CliError(
            "--state-dir and --database both name the install state: give one".into(),
        ));
    }
    if c.secure && c.dirs.len() > 1 {
        return Err(CliError(
            "with -s (--secure) exactly one directory may be given".into(),
        ));
    }
    Ok(Command::Run(Box::new(c)))
}

fn text(p: &mut lexopt::Parser) -> Result<String, CliError> {
    p.value()?
        .into_string()
        .map_err(|v| CliError(format!("not valid UTF-8: {v:?}")))
}

/// A decimal number within `lo..=hi`, or an error naming the flag and the range.
fn ranged(v: &str, flag: &str, lo: u64, hi: u64) -> Result<u64, CliError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| CliError(format!("invalid {flag}: {v} ({lo} to {hi})")))
}

fn number(v: &str, what: &str) -> Result<u64, CliError> {
    v.parse()
        .map_err(|_| CliError(format!("invalid {what}: {v}")))
}

/// `[address][:port]`, IPv6 in brackets; the port may be the service name `tftp`.
pub fn parse_address(s: &str) -> Result<ListenAddr, CliError> {
    let bad = || CliError(format!("invalid address: {s} (expected [address][:port])"));
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').ok_or_else(bad)?;
        match tail {
            "" => (h, None),
            t => (h, Some(t.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if s.matches(':').count() > 1 {
        (s, None) // a bare IPv6 address
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let ip = match host {
        "" => None,
        h => Some(h.parse::<IpAddr>().map_err(|_| bad())?),
    };
    let port = match port {
        None | Some("") => None,
        Some("tftp") => Some(69),
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
    };
    Ok(ListenAddr { ip, port })
}

fn parse_range(s: &str) -> Result<(u16, u16), CliError> {
    let bad = || CliError(format!("invalid port range: {s} (expected PORT:PORT)"));
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// The `--help` text, from the same definition as tftpd(8).
pub fn help() -> String {
    crate::manual::manual().help()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn run(args: &[&str]) -> Config {
        match parse(args.iter().copied()) {
            Ok(Command::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(e) => e.to_string(),
            other => panic!("{args:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn debian_default_line() {
        // /etc/default/tftpd-hpa + init script
        let c = run(&[
            "--listen",
            "--user",
            "tftp",
            "--address",
            "0.0.0.0:69",
            "--secure",
            "/srv/tftp",
        ]);
        assert!(c.listen && c.secure && !c.foreground);
        assert_eq!(c.user, "tftp");
        assert_eq!(
            c.address,
            Some(ListenAddr {
                ip: Some("0.0.0.0".parse().unwrap()),
                port: Some(69)
            })
        );
        assert_eq!(c.dirs, vec![PathBuf::from("/srv/tftp")]);
    }

    #[test]
    fn bundled_short_options_and_attached_values() {
        let c = run(&[
            "-svvvL",
            "-B1468",
            "-rblksize",
            "-r",
            "TSIZE",
            "-U",
            "022",
            "/t",
        ]);
        assert!(c.secure && c.foreground && c.listen);
        assert_eq!(c.verbosity, 3);
        assert_eq!(c.max_blksize, Some(1468));
        assert_eq!(c.refuse, vec!["blksize", "tsize"]);
        assert_eq!(c.umask, Some(0o22));
    }

    #[test]
    fn xinetd_line_and_defaults() {
        let c = run(&["-s", "/var/lib/tftpboot"]);
        assert!(!c.listen);
        assert_eq!(c.idle_timeout, Duration::from_secs(900));
        assert_eq!(c.retransmit, Duration::from_secs(1));
        assert_eq!(c.user, "nobody");
        assert_eq!(c.max_transfers, 20_000);
        assert_eq!(c.transfer_threads, DEFAULT_TRANSFER_THREADS);
        assert_eq!(c.max_timeout, Duration::from_secs(10));
        assert_eq!(c.max_window, 64);
        assert_eq!(c.max_per_client, 8);
        assert_eq!(c.min_rate, 1024);
        assert_eq!(c.max_duration, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn every_long_form() {
        let c = run(&[
            "--ipv4",
            "--foreground",
            "--create",
            "--permissive",
            "--umask=0",
            "--map-file",
            "/etc/tftp.map",
            "--blocksize",
            "65464",
            "--refuse",
            "windowsize",
            "--timeout",
            "60",
            "--retransmit",
            "250000",
            "--port-range",
            "30000:30100",
            "--verbose",
            "--pidfile",
            "/run/tftpd.pid",
            "--inventory",
            "/etc/pxe/inventory.yaml",
            "--state-dir",
            "/var/lib/pxe",
            "--max-transfers",
            "5",
            "--busy-poll",
            "0",
            "--max-timeout",
            "30",
            "--max-window",
            "16",
            "--max-per-client",
            "2",
            "--min-rate",
            "0",
            "--max-duration",
            "0",
            "--check",
            "/a",
            "/b",
        ]);
        assert!(c.ipv4_only && c.create && c.permissive && c.check);
        assert_eq!(c.map_file, Some("/etc/tftp.map".into()));
        assert_eq!(c.busy_poll, Duration::ZERO);
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.retransmit, Duration::from_millis(250));
        assert_eq!(c.port_range, Some((30000, 30100)));
        assert_eq!(c.pidfile, Some("/run/tftpd.pid".into()));
        assert_eq!(c.max_transfers, 5);
        assert_eq!(c.max_timeout, Duration::from_secs(30));
        assert_eq!(c.max_window, 16);
        assert_eq!(c.max_per_client, 2);
        assert_eq!(c.min_rate, 0);
        assert_eq!(c.max_duration, None);
        assert_eq!(c.dirs.len(), 2);
        assert_eq!(c.verbosity, 1);
        assert_eq!(run(&["--verbosity", "4", "/a"]).verbosity, 4);
    }

    #[test]
    fn addresses() {
        let a = |s: &str| parse_address(s).unwrap();
        assert_eq!(
            a(":6969"),
            ListenAddr {
                ip: None,
                port: Some(6969)
            }
        );
        assert_eq!(
            a("127.0.0.1"),
            ListenAddr {
                ip: Some("127.0.0.1".parse().unwrap()),
                port: None
            }
        );
        assert_eq!(
            a("[::1]:69"),
            ListenAddr {
                ip: Some("::1".parse().unwrap()),
                port: Some(69)
            }
        );
        assert_eq!(
            a("[::]"),
            ListenAddr {
                ip: Some("::".parse().unwrap()),
                port: None
            }
        );
        assert_eq!(
            a("::1"),
            ListenAddr {
                ip: Some("::1".parse().unwrap()),
                port: None
            }
        );
        assert_eq!(a("0.0.0.0:tftp").port, Some(69));
        for bad in [
            "1.2.3.4:x",
            "[::1",
            "[::1]x",
            "host.example:69",
            "1.2.3.4:70000",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals() {
        assert!(err(&["-B", "100", "/t"]).contains("blocksize"));
        assert!(err(&["-B", "70000", "/t"]).contains("blocksize"));
        assert!(err(&["-U", "9", "/t"]).contains("umask"));
        assert!(err(&["-R", "5:4", "/t"]).contains("port range"));
        assert!(err(&["-T", "5", "/t"]).contains("retransmit"));
        assert!(err(&["-4", "-6", "/t"]).contains("exclude"));
        assert!(err(&["-s"]).contains("no root"));
        assert!(err(&["-s", "/a", "/b"]).contains("exactly one"));
        assert!(err(&["--max-transfers", "0", "/t"]).contains("max-transfers"));
        assert!(err(&["--busy-poll", "1001", "/t"]).contains("busy-poll"));
        assert!(err(&["--max-timeout", "256", "/t"]).contains("--max-timeout"));
        assert!(err(&["--max-timeout", "0", "/t"]).contains("--max-timeout"));
        assert!(err(&["--max-window", "0", "/t"]).contains("--max-window"));
        assert!(err(&["--max-per-client", "0", "/t"]).contains("--max-per-client"));
        assert!(err(&["--min-rate", "x", "/t"]).contains("--min-rate"));
        assert!(err(&["--max-duration", "-1", "/t"]).contains("--max-duration"));
        assert!(err(&["--busy-poll", "-1", "/t"]).contains("busy-poll"));
        assert!(!err(&["--bogus", "/t"]).is_empty());
        assert!(!err(&["-a"]).is_empty());
        assert!(err(&["--state-dir", "/var/lib/pxe", "/t"]).contains("needs --inventory"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["--help"]), Ok(Command::Help));
        assert_eq!(parse(["-V"]), Ok(Command::Version));
        let h = help();
        for flag in [
            "--listen",
            "--foreground",
            "--address",
            "--secure",
            "--create",
            "--user",
            "--umask",
            "--permissive",
            "--map-file",
            "--blocksize",
            "--refuse",
            "--timeout",
            "--retransmit",
            "--port-range",
            "--verbose",
            "--ipv4",
            "--ipv6",
            "--pidfile",
            "--version",
            "--inventory",
            "--state-dir",
            "--max-transfers",
            "--check",
        ] {
            assert!(h.contains(flag), "help lacks {flag}");
        }
    }
}
