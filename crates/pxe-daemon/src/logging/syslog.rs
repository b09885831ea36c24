//! Log lines as syslog datagrams on a local socket (`/dev/log`), one per event, facility
//! `daemon` as ISC dhcpd and tftpd-hpa use it: `<PRI>ident[pid]: message`. Lines go through
//! [`super::held`], so a thread that holds its lines sends them when its burst ends.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use super::held::{self, Held};

/// The `daemon` facility (3), shifted as the PRI field wants it.
const FACILITY_DAEMON: u8 = 3 << 3;

/// A connected syslog socket and the name lines carry.
#[derive(Debug, Clone)]
pub struct Syslog {
    sock: Arc<UnixDatagram>,
    ident: Arc<str>,
}

impl Syslog {
    /// Connects to the syslog socket at `path`.
    pub fn connect(path: &Path, ident: &str) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        Ok(Syslog {
            sock: Arc::new(sock),
            ident: ident.into(),
        })
    }
}

/// The syslog PRI of an event at `level`, facility daemon.
pub fn pri(level: &Level) -> u8 {
    FACILITY_DAEMON + super::format::priority(level)
}

/// `<PRI>ident[pid]: text`: one datagram.
pub fn datagram(pri: u8, ident: &str, pid: u32, text: &str) -> Vec<u8> {
    format!("<{pri}>{ident}[{pid}]: {text}").into_bytes()
}

/// One event being written; sent (or held) when dropped.
#[derive(Debug)]
pub struct SyslogLine {
    target: Syslog,
    pri: u8,
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
        let msg = datagram(self.pri, &self.target.ident, std::process::id(), text);
        if let Some(msg) = held::keep_syslog(&self.target.sock, msg) {
            held::emit(Held {
                stderr: Vec::new(),
                syslog: vec![(self.target.sock.clone(), msg)],
            });
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> Self::Writer {
        self.line(&Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.line(meta.level())
    }
}

impl Syslog {
    fn line(&self, level: &Level) -> SyslogLine {
        SyslogLine {
            target: self.clone(),
            pri: pri(level),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn one_datagram_per_event_with_facility_and_priority() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let syslog = Syslog::connect(&path, "tftpd").unwrap();
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
        assert_eq!(pri(&Level::ERROR), 27);
        assert_eq!(pri(&Level::DEBUG), 31);
    }
}
