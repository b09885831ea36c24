//! Logging set-up for the three daemons, in one place: the filter (`PXE_LOG`, then
//! `RUST_LOG`, then the daemon's default), the line format ([`format`]: text, journal, JSON),
//! where lines go (standard error, syslog, or both), and one way of reporting a bad setting:
//! a warning logged through the subscriber just installed, so it lands where every other line
//! lands.
//!
//! - [`capture`]: lines kept in memory, for tests;
//! - [`format`]: how a line looks on a terminal, in the journal, in a container;
//! - [`held`]: lines held per burst and written by a thread of their own;
//! - [`syslog`]: the `/dev/log` datagram writer (facility daemon).

pub mod capture;
pub mod format;
pub mod held;
pub mod syslog;

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use format::LogFormat;
pub use held::{Hold, StderrLines, hold, start_writer, stop_writer};
pub use syslog::Syslog;

/// How a text line looks on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextStyle {
    /// Time, level, module, message, fields.
    Full,
    /// The message and its fields only, as ISC dhcpd writes them with `-d`.
    Bare,
}

/// Where lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Standard error.
    Stderr,
    /// Syslog, and standard error as well when `also_stderr` (dhcpd's `-d`) or when there
    /// is no syslog socket. JSON lines go to standard error only (containers collect it).
    Syslog { also_stderr: bool },
    /// Standard error, unless it is unusable (inetd hands the socket over as standard
    /// error, or it is closed): then syslog, or nowhere when there is no syslog socket.
    StderrUnlessInetd,
}

/// What a daemon asks of its logging.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// The program's name in syslog lines (`dhcpd[123]: …`).
    pub ident: &'a str,
    /// The filter when neither `PXE_LOG` nor `RUST_LOG` is set (`info`, `debug,hyper=warn`).
    pub default_filter: &'a str,
    /// Text lines, full or bare.
    pub text: TextStyle,
    /// Standard error, syslog, or both.
    pub route: Route,
    /// The syslog socket, normally `/dev/log`.
    pub syslog_socket: &'a Path,
    /// The syslog facility, shifted as the PRI field wants it ([`syslog::FACILITY_DAEMON`]
    /// unless the configuration names another).
    pub facility: u8,
}

/// The filter: `PXE_LOG`, then `RUST_LOG`, then `default`. A value that does not parse is
/// reported (the second element) and the default used.
pub fn filter(default: &str) -> (EnvFilter, Option<String>) {
    for var in ["PXE_LOG", "RUST_LOG"] {
        let Ok(value) = std::env::var(var) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        return match EnvFilter::try_new(&value) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(default),
                Some(format!("{var}={value}: {e}; using {default}")),
            ),
        };
    }
    (EnvFilter::new(default), None)
}

/// Installs the global subscriber as `setup` says. Bad `PXE_LOG_FORMAT`, `PXE_LOG` or
/// `RUST_LOG` values are logged as warnings once it is installed.
pub fn init(setup: &Setup<'_>) {
    let (filter, bad_filter) = filter(setup.default_filter);
    let (format, bad_format) = match LogFormat::from_env() {
        Ok(f) => (f, None),
        Err(e) => (LogFormat::Text, Some(format!("{e}; using text"))),
    };
    let (stderr, syslog) = destinations(setup, format);
    LOGS_ON_STDERR.store(stderr, std::sync::atomic::Ordering::Relaxed);
    let stderr_layer = stderr.then(|| stderr_layer(format, setup.text));
    let syslog_layer = syslog.map(|s| match setup.text {
        TextStyle::Bare => message_only_layer(s),
        TextStyle::Full => tracing_subscriber::fmt::layer()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .with_writer(s)
            .boxed(),
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(syslog_layer)
        .try_init();
    for problem in [bad_format, bad_filter].into_iter().flatten() {
        tracing::warn!("{problem}");
    }
}

/// Whether lines go to standard error, and the syslog socket they go to.
fn destinations(setup: &Setup<'_>, format: LogFormat) -> (bool, Option<Syslog>) {
    let connect = || Syslog::connect(setup.syslog_socket, setup.ident, setup.facility).ok();
    match setup.route {
        Route::Stderr => (true, None),
        Route::Syslog { also_stderr } => {
            let syslog = (format != LogFormat::Json).then(connect).flatten();
            (also_stderr || syslog.is_none(), syslog)
        }
        // No syslog either (a container, a minimal host): nothing is logged. Writing to the
        // socket would fail, and tracing-subscriber reports a failed write on standard
        // error, which is that socket again.
        Route::StderrUnlessInetd if stderr_is_unusable() => (false, connect()),
        Route::StderrUnlessInetd => (true, None),
    }
}

fn stderr_layer<S>(
    format: LogFormat,
    text: TextStyle,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    match (format, text) {
        (LogFormat::Text, TextStyle::Bare) => message_only_layer(StderrLines),
        (format, text) => format.layer(StderrLines, text == TextStyle::Full),
    }
}

/// Lines of the message alone, no time, level or fields: ISC's own text, which tools parse.
/// The fields stay for the journal and JSON formats.
pub fn message_only_layer<S, W>(writer: W) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let message = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        if field.name() == "message" {
            write!(w, "{value:?}")
        } else {
            Ok(())
        }
    });
    tracing_subscriber::fmt::layer()
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .fmt_fields(message)
        .with_writer(writer)
        .boxed()
}

/// Whether standard error is closed or is the same file as standard input (inetd).
pub fn stderr_is_unusable() -> bool {
    let Ok(err) = nix::sys::stat::fstat(io::stderr().as_fd()) else {
        return true;
    };
    match nix::sys::stat::fstat(io::stdin().as_fd()) {
        Ok(inp) => inp.st_dev == err.st_dev && inp.st_ino == err.st_ino,
        Err(_) => false,
    }
}

/// Whether [`init`] sent lines to standard error.
static LOGS_ON_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A fatal error: logged, and also printed on standard error as `ident: error` when
/// standard error is usable and log lines do not go there already.
pub fn report_fatal(ident: &str, error: &dyn std::fmt::Display) {
    tracing::error!("{error:#}");
    let logged_there = LOGS_ON_STDERR.load(std::sync::atomic::Ordering::Relaxed);
    if !logged_there && !stderr_is_unusable() {
        eprintln!("{ident}: {error:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_is_reported_and_the_default_used() {
        // SAFETY of the test: env changes are process-wide; this test owns PXE_LOG and
        // restores it.
        let old = std::env::var_os("PXE_LOG");
        set_env("PXE_LOG", Some("info,=[bad".as_ref()));
        let (f, problem) = filter("warn");
        set_env("PXE_LOG", old.as_deref());
        let problem = problem.unwrap_or_default();
        assert!(problem.starts_with("PXE_LOG=info,=[bad: "), "{problem}");
        assert!(problem.ends_with("; using warn"), "{problem}");
        assert_eq!(f.to_string(), "warn");
    }

    fn set_env(name: &str, value: Option<&std::ffi::OsStr>) {
        #[allow(unsafe_code)]
        // SAFETY: the test harness reads no environment while this test runs; no other test
        // of this crate touches PXE_LOG.
        unsafe {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}
