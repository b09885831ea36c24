//! The access log, in the combined log format:
//! `host - - [time] "request line" status bytes "referer" "user agent"`.

use pxe_daemon::time;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What one log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub client: IpAddr,
    /// Unix milliseconds when the request arrived.
    pub at_ms: u64,
    pub method: &'a str,
    /// The request target as received (path and query).
    pub target: &'a str,
    pub version: &'a str,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Appends `s` escaped as Apache does: `"` and `\` with a backslash, control and
/// non-ASCII bytes as `\xhh`, so a line can never be split or forged.
fn push_quoted(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                out.push_str("\\x");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
    }
}

/// Escapes a quoted field (see `push_quoted`).
pub fn quote_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_quoted(&mut out, s);
    out
}

/// Appends one line, without its newline.
pub fn push_line(out: &mut String, e: &Entry<'_>) {
    use std::fmt::Write as _;
    let _ = write!(out, "{} - - [{}] \"", e.client, time::clf(e.at_ms));
    push_quoted(out, e.method);
    out.push(' ');
    push_quoted(out, e.target);
    let _ = write!(out, " {}\" {} ", e.version, e.status);
    if e.bytes == 0 {
        out.push('-');
    } else {
        let _ = write!(out, "{}", e.bytes);
    }
    for field in [e.referer, e.user_agent] {
        out.push_str(" \"");
        match field {
            Some(f) => push_quoted(out, f),
            None => out.push('-'),
        }
        out.push('"');
    }
}

/// How lines look on standard error, chosen like the daemon's log format
/// ([`pxe_daemon::LogFormat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrStyle {
    /// The combined log format, as in a file.
    Combined,
    /// For the journal: a `<6>` priority and no time field (the journal stamps each line).
    Journal,
    /// One JSON object per line.
    Json,
}

impl From<pxe_daemon::LogFormat> for StderrStyle {
    fn from(f: pxe_daemon::LogFormat) -> Self {
        match f {
            pxe_daemon::LogFormat::Text => StderrStyle::Combined,
            pxe_daemon::LogFormat::Journal => StderrStyle::Journal,
            pxe_daemon::LogFormat::Json => StderrStyle::Json,
        }
    }
}

/// One line in `style`, with its newline.
pub fn format_as(style: StderrStyle, e: &Entry<'_>) -> String {
    match style {
        StderrStyle::Combined => {
            let mut line = format(e);
            line.push('\n');
            line
        }
        StderrStyle::Journal => {
            // The combined line minus "- - [time]": the journal has the time already.
            let full = format(e);
            let rest = full.split_once("] ").map_or(full.as_str(), |(_, r)| r);
            format!("<6>{} {rest}\n", e.client)
        }
        StderrStyle::Json => {
            let v = serde_json::json!({
                "timestamp": time::clf(e.at_ms),
                "level": "INFO",
                "target": "httpd_tree::access",
                "client": e.client.to_string(),
                "method": e.method,
                "target_path": e.target,
                "version": e.version,
                "status": e.status,
                "bytes": e.bytes,
                "referer": e.referer,
                "user_agent": e.user_agent,
            });
            format!("{v}\n")
        }
    }
}

/// One line, without its newline.
pub fn format(e: &Entry<'_>) -> String {
    let mut out = String::with_capacity(160);
    push_line(&mut out, e);
    out
}

/// Buffered lines are written once this many bytes are waiting.
pub const FLUSH_AT: usize = 32 * 1024;

/// A log file and the lines not written to it yet.
#[derive(Debug)]
struct Buffered {
    path: PathBuf,
    file: std::fs::File,
    pending: String,
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl Buffered {
    /// Writes the waiting lines with one `write` (whole lines only, appended).
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(self.pending.as_bytes());
        self.pending.clear();
        r
    }
}

/// Where lines go: standard error, one `write` per line (an operator or journald reads
/// along), or a file opened for appending, buffered: lines are written together once
/// [`FLUSH_AT`] bytes are waiting, when [`AccessLog::flush`] is called (the server
/// does every second and when it stops), and when the log is dropped.
#[derive(Debug)]
pub struct AccessLog {
    file: Option<Mutex<Buffered>>,
    style: StderrStyle,
}

impl AccessLog {
    /// Standard error, in the combined log format.
    pub fn stderr() -> AccessLog {
        AccessLog::stderr_as(StderrStyle::Combined)
    }

    /// Standard error, in `style`.
    pub fn stderr_as(style: StderrStyle) -> AccessLog {
        AccessLog { file: None, style }
    }

    /// Whether lines go to a file (`--access-log FILE`), not standard error.
    pub fn is_file(&self) -> bool {
        self.file.is_some()
    }

    /// A file opened for appending (created if missing), in the combined log format.
    pub fn file(path: &Path) -> std::io::Result<AccessLog> {
        let f = open_append(path)?;
        Ok(AccessLog {
            file: Some(Mutex::new(Buffered {
                path: path.to_owned(),
                file: f,
                pending: String::with_capacity(FLUSH_AT + 1024),
            })),
            style: StderrStyle::Combined,
        })
    }

    fn warn(result: std::io::Result<()>) {
        if let Err(err) = result {
            tracing::warn!(%err, "cannot write the access log");
        }
    }

    /// Logs one line (lines never interleave).
    pub fn write(&self, e: &Entry<'_>) {
        match &self.file {
            Some(f) => {
                let mut b = f.lock().unwrap_or_else(|p| p.into_inner());
                push_line(&mut b.pending, e);
                b.pending.push('\n');
                if b.pending.len() >= FLUSH_AT {
                    Self::warn(b.flush());
                }
            }
            None => {
                let line = format_as(self.style, e);
                Self::warn(std::io::stderr().lock().write_all(line.as_bytes()));
            }
        }
    }

    /// Opens the file by its name again (after logrotate moved it away; at SIGHUP): the
    /// lines waiting go to the old file first, later ones to the new. If the name cannot be
    /// opened, logging goes on into the old file and the error is returned.
    pub fn reopen(&self) -> std::io::Result<()> {
        let Some(f) = &self.file else {
            return Ok(());
        };
        let mut b = f.lock().unwrap_or_else(|p| p.into_inner());
        Self::warn(b.flush());
        b.file = open_append(&b.path)?;
        Ok(())
    }

    /// The file's path; `None` on standard error.
    pub fn path(&self) -> Option<PathBuf> {
        self.file
            .as_ref()
            .map(|f| f.lock().unwrap_or_else(|p| p.into_inner()).path.clone())
    }

    /// Writes the lines waiting in the buffer.
    pub fn flush(&self) {
        if let Some(f) = &self.file {
            Self::warn(f.lock().unwrap_or_else(|p| p.into_inner()).flush());
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_format() {
        let e = Entry {
            client: "127.0.0.1".parse().expect("ip"),
            at_ms: 971_186_136_000,
            method: "GET",
            target: "/trees/c7/images/pxeboot/vmlinuz",
            version: "HTTP/1.1",
            status: 206,
            bytes: 2326,
            referer: None,
            user_agent: Some("curl/7.88.1"),
        };
        assert_eq!(
            format(&e),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /trees/c7/images/pxeboot/vmlinuz HTTP/1.1\" 206 2326 \"-\" \"curl/7.88.1\""
        );
        let hostile = Entry {
            bytes: 0,
            user_agent: Some("evil\"\n127.0.0.1 - - [forged]\\"),
            referer: Some("é"),
            ..e
        };
        let line = format(&hostile);
        assert!(!line.contains('\n'));
        assert!(
            line.ends_with(" 206 - \"\\xc3\\xa9\" \"evil\\\"\\x0a127.0.0.1 - - [forged]\\\\\""),
            "{line}"
        );
    }

    fn entry(target: &str) -> Entry<'_> {
        Entry {
            client: "10.0.0.7".parse().expect("ip"),
            at_ms: 971_186_136_000,
            method: "GET",
            target,
            version: "HTTP/1.1",
            status: 200,
            bytes: 4096,
            referer: None,
            user_agent: None,
        }
    }

    #[test]
    fn journal_and_json_styles() {
        let e = entry("/ks/52:54:00:12:34:56");
        let j = format_as(StderrStyle::Journal, &e);
        assert!(
            j.starts_with("<6>10.0.0.7 \"GET /ks/52:54:00:12:34:56 HTTP/1.1\" 200 "),
            "{j}"
        );
        assert!(!j.contains('['), "no time field: {j}");
        assert!(j.ends_with('\n'));
        let v: serde_json::Value =
            serde_json::from_str(format_as(StderrStyle::Json, &e).trim_end()).expect("json");
        assert_eq!(v["status"], 200);
        assert_eq!(v["target_path"], "/ks/52:54:00:12:34:56");
        assert_eq!(
            format_as(StderrStyle::Combined, &e),
            format!("{}\n", format(&e))
        );
    }

    #[test]
    fn file_lines_are_buffered_until_flushed_full_or_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        let read = || std::fs::read_to_string(&path).expect("read the log");
        let log = AccessLog::file(&path).expect("open");
        log.write(&entry("/a"));
        log.write(&entry("/b"));
        assert_eq!(read(), "", "two short lines wait in the buffer");
        log.flush();
        let text = read();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.lines()
                .next()
                .is_some_and(|l| l.contains("\"GET /a HTTP/1.1\" 200 4096"))
        );
        // A full buffer is written without waiting for a flush.
        let long = format!("/{}", "x".repeat(1000));
        let mut n = 2;
        while read().lines().count() == 2 {
            log.write(&entry(&long));
            n += 1;
            assert!(n < 200, "the buffer never got written");
        }
        assert!(n > 10, "written after {n} lines: too early");
        // Dropping the log writes the rest: nothing is lost on a clean stop.
        log.write(&entry("/last"));
        drop(log);
        let text = read();
        assert_eq!(text.lines().count(), n + 1);
        assert!(
            text.ends_with("\"GET /last HTTP/1.1\" 200 4096 \"-\" \"-\"\n"),
            "{text}"
        );
    }

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("access.log");
        let log = AccessLog::file(&path).expect("open");
        let entry = |target| Entry {
            client: "192.0.2.7".parse().expect("ip"),
            at_ms: 971_186_136_000,
            method: "GET",
            target,
            version: "HTTP/1.1",
            status: 200,
            bytes: 1,
            referer: None,
            user_agent: None,
        };
        log.write(&entry("/before"));
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).expect("rotate");
        log.write(&entry("/pending"));
        log.reopen().expect("reopen");
        log.write(&entry("/after"));
        log.flush();
        let old = std::fs::read_to_string(&rotated).expect("read rotated");
        let new = std::fs::read_to_string(&path).expect("read new");
        assert!(old.contains("/before") && old.contains("/pending"), "{old}");
        assert!(!old.contains("/after"), "{old}");
        assert!(new.contains("/after") && !new.contains("/before"), "{new}");
        assert_eq!(log.path(), Some(path));

        std::fs::remove_dir_all(dir.path()).expect("remove the directory");
        assert!(log.reopen().is_err(), "the directory is gone");
        assert!(AccessLog::stderr().reopen().is_ok(), "nothing to reopen");
    }
}
