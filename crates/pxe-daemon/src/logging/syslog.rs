//! Log lines as syslog datagrams on a local socket (`/dev/log`), one per event, facility
//! `daemon` as ISC dhcpd and tftpd-hpa use it unless told otherwise (dhcpd's
//! `log-facility`): `<PRI>ident[pid]: message`. Lines go through
//! [`super::held`], so a thread that holds its lines sends them when its burst ends.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use super::held::{self, Held};

/// The `daemon` facility (3), shifted as the PRI field wants it.
pub const FACILITY_DAEMON: u8 = 3 << 3;

/// A connected syslog socket, the name lines carry and their facility.
#[derive(Debug, Clone)]
pub struct Syslog {
    sock: Arc<UnixDatagram>,
    ident: Arc<str>,
    facility: u8,
}

impl Syslog {
    /// Connects to the syslog socket at `path`; lines go to `facility` (already shifted,
    /// as [`FACILITY_DAEMON`]).
    pub fn connect(path: &Path, ident: &str, facility: u8) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        Ok(Syslog {
            sock: Arc::new(sock),
            ident: ident.into(),
            facility,
        })
    }
}

/// The syslog PRI of an event at `level` in `facility` (shifted, as [`FACILITY_DAEMON`]).
pub fn pri(facility: u8, level: &Level) -> u8 {
    (facility & !7) | super::format::priority(level)
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
            pri: pri(self.facility, level),
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
        let syslog = Syslog::connect(&path, "tftpd", FACILITY_DAEMON).unwrap();
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
        assert_eq!(pri(FACILITY_DAEMON, &Level::ERROR), 27);
        assert_eq!(pri(FACILITY_DAEMON, &Level::DEBUG), 31);
        // local7 (23 << 3): ISC's `log-facility local7;`.
        assert_eq!(pri(184, &Level::INFO), 190);
    }
}
