//! Log output: standard error normally (journald, a terminal, a test harness), syslog when
//! standard error is unusable.
//!
//! xinetd hands an inetd-mode server the socket as standard input, output and error; log lines
//! written there would go nowhere. tftpd-hpa logs only to syslog for that reason. So when fd 2
//! is the same socket as fd 0, or closed, lines go to the syslog socket (`/dev/log`, or the
//! path in `TFTPD_SYSLOG_SOCKET`), one datagram per line, facility daemon; with no syslog
//! socket either, nowhere.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Where the syslog socket is, overridable for tests.
fn syslog_path() -> PathBuf {
    std::env::var_os("TFTPD_SYSLOG_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/log"))
}

/// Whether standard error is closed or is the same file as standard input (inetd).
pub fn stderr_is_unusable() -> bool {
    let err = match nix::sys::stat::fstat(io::stderr().as_fd()) {
        Ok(s) => s,
        Err(_) => return true,
    };
    match nix::sys::stat::fstat(io::stdin().as_fd()) {
        Ok(inp) => inp.st_dev == err.st_dev && inp.st_ino == err.st_ino,
        Err(_) => false,
    }
}

/// Sets up the global subscriber; `verbosity` is the `-v` count, `RUST_LOG` overrides it.
pub fn init(verbosity: u32) {
    let level = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("PXE_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .map_or_else(tracing_subscriber::EnvFilter::try_from_default_env, Ok)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter.clone())
        .with_ansi(false);
    if stderr_is_unusable() {
        match Syslog::connect() {
            Some(syslog) => {
                let _ = builder
                    .without_time()
                    .with_target(false)
                    .with_writer(syslog)
                    .try_init();
            }
            // No syslog either (a container, a minimal host): lines written to the socket
            // would fail, and tracing-subscriber reports a failed write on standard error,
            // which is that socket again and panics. Nothing is logged.
            None => {
                let _ = builder.with_writer(io::sink).try_init();
            }
        }
        return;
    }
    match pxe_daemon::LogFormat::from_env() {
        Ok(pxe_daemon::LogFormat::Text) => {
            let _ = builder.with_writer(io::stderr).try_init();
        }
        Ok(format) => {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(format.layer(io::stderr, true))
                .try_init();
        }
        Err(e) => {
            let _ = builder.with_writer(io::stderr).try_init();
            tracing::warn!("{e}; using text");
        }
    }
}

/// A connected syslog socket.
#[derive(Debug)]
pub struct Syslog {
    sock: UnixDatagram,
}

impl Syslog {
    /// Connects to the syslog socket, if there is one.
    pub fn connect() -> Option<Syslog> {
        let sock = UnixDatagram::unbound().ok()?;
        sock.connect(syslog_path()).ok()?;
        Some(Syslog { sock })
    }
}

/// One log line on its way to syslog; sent when dropped.
pub struct SyslogLine<'a> {
    sock: &'a UnixDatagram,
    priority: u8,
    buf: Vec<u8>,
}

impl Write for SyslogLine<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine<'_> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let line = format!(
            "<{}>tftpd[{}]: {}",
            self.priority,
            std::process::id(),
            text.trim_end()
        );
        let _ = self.sock.send(line.as_bytes());
    }
}

/// Facility daemon (3) times 8, plus the severity.
fn priority(level: &Level) -> u8 {
    let severity = match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    };
    3 * 8 + severity
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogLine {
            sock: &self.sock,
            priority: priority(&Level::INFO),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        SyslogLine {
            sock: &self.sock,
            priority: priority(meta.level()),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn one_datagram_per_line_with_priority() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.connect(&path).unwrap();
        let syslog = Syslog { sock: client };
        {
            let mut w = syslog.make_writer();
            write!(w, "transfer ").unwrap();
            writeln!(w, "result=ok").unwrap();
        }
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(buf.get(..n).unwrap());
        assert!(got.starts_with("<30>tftpd["), "{got}");
        assert!(got.ends_with("]: transfer result=ok"), "{got}");
        assert_eq!(priority(&Level::ERROR), 27);
    }
}
