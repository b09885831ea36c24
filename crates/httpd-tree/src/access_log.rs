//! The access log, in the combined log format:
//! `host - - [time] "request line" status bytes "referer" "user agent"`.

use crate::timefmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
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

/// Escapes a quoted field as Apache does: `"` and `\` with a backslash, control and
/// non-ASCII bytes as `\xhh`, so a line can never be split or forged.
pub fn quote_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// One line, without its newline.
pub fn format(e: &Entry<'_>) -> String {
    let bytes = if e.bytes == 0 {
        "-".to_owned()
    } else {
        e.bytes.to_string()
    };
    format!(
        "{} - - [{}] \"{} {} {}\" {} {bytes} \"{}\" \"{}\"",
        e.client,
        timefmt::clf(e.at_ms),
        quote_field(e.method),
        quote_field(e.target),
        e.version,
        e.status,
        e.referer.map(quote_field).unwrap_or_else(|| "-".into()),
        e.user_agent.map(quote_field).unwrap_or_else(|| "-".into()),
    )
}

/// Where lines go: standard error, or a file opened for appending.
#[derive(Debug)]
pub struct AccessLog {
    file: Option<Mutex<std::fs::File>>,
}

impl AccessLog {
    pub fn stderr() -> AccessLog {
        AccessLog { file: None }
    }

    pub fn file(path: &Path) -> std::io::Result<AccessLog> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AccessLog {
            file: Some(Mutex::new(f)),
        })
    }

    /// Writes one line with one `write` call (lines never interleave).
    pub fn write(&self, e: &Entry<'_>) {
        let mut line = format(e);
        line.push('\n');
        let result = match &self.file {
            Some(f) => f
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(line.as_bytes()),
            None => std::io::stderr().lock().write_all(line.as_bytes()),
        };
        if let Err(err) = result {
            tracing::warn!(%err, "cannot write the access log");
        }
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
}
