//! Logging set-up: ISC's lines (`DHCPDISCOVER from … via eth1`) as plain messages through
//! `tracing`, to syslog (the `daemon` facility, as ISC) and, with `-d`, to standard error
//! too. Without a syslog socket (containers) messages go to standard error. `PXE_LOG` or
//! `RUST_LOG` override the level (`info` by default).

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Writes each formatted event as one syslog datagram.
#[derive(Debug, Clone)]
pub struct Syslog {
    sock: Arc<UnixDatagram>,
    ident: String,
}

impl Syslog {
    /// Connect to `/dev/log`.
    pub fn connect(ident: &str) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect("/dev/log")?;
        Ok(Syslog {
            sock: Arc::new(sock),
            ident: ident.to_string(),
        })
    }
}

/// One event being written.
#[derive(Debug)]
pub struct SyslogLine {
    target: Syslog,
    buf: Vec<u8>,
}

impl Write for SyslogLine {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        // daemon.info
        let msg = format!("<30>{}[{}]: {text}", self.target.ident, std::process::id());
        let _ = self.target.sock.send(msg.as_bytes());
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogLine {
            target: self.clone(),
            buf: Vec::new(),
        }
    }
}

/// Install the global subscriber. `to_stderr`: `-d` (or no syslog).
pub fn init(to_stderr: bool) {
    let filter = std::env::var("PXE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let syslog = Syslog::connect("dhcpd").ok();
    let stderr_layer = (to_stderr || syslog.is_none()).then(|| {
        tracing_subscriber::fmt::layer()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_writer(io::stderr)
    });
    let syslog_layer = syslog.map(|s| {
        tracing_subscriber::fmt::layer()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .with_writer(s)
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(syslog_layer)
        .try_init();
}
