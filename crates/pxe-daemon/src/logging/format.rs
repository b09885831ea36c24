//! How a log line looks, by where it goes:
//!
//! - **text** on a terminal or into a file: time, level, message;
//! - **journal** when standard error is systemd's journal stream (`JOURNAL_STREAM` names it):
//!   no timestamp (the journal adds its own) and the level as a `<N>` syslog priority prefix,
//!   which journald turns into the entry's priority, so `journalctl -p warning` works;
//! - **json** for containers and log shippers: one JSON object per line.
//!
//! `PXE_LOG_FORMAT=text|journal|json` chooses explicitly; otherwise journal when standard
//! error is the journal stream, text elsewhere.

use std::fmt;
use std::os::fd::AsFd;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable that chooses the format.
pub const ENV: &str = "PXE_LOG_FORMAT";

/// A log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Time, level, message.
    Text,
    /// `<N>` priority prefix, no time.
    Journal,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text`, `journal` or `json`.
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" => Some(LogFormat::Text),
            "journal" | "journald" => Some(LogFormat::Journal),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    /// From `PXE_LOG_FORMAT`, else by where standard error goes. An unknown value is an
    /// error naming the accepted ones.
    pub fn from_env() -> Result<LogFormat, String> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => LogFormat::parse(&v)
                .ok_or_else(|| format!("{ENV}={v}: expected text, journal or json")),
            _ => Ok(if stderr_is_journal() {
                LogFormat::Journal
            } else {
                LogFormat::Text
            }),
        }
    }

    /// The formatting layer writing to `writer`. `target`: whether lines name the module
    /// they come from (text and journal; JSON always carries it).
    pub fn layer<S, W>(self, writer: W, target: bool) -> Box<dyn Layer<S> + Send + Sync + 'static>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let base = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_target(target)
            .with_writer(writer);
        match self {
            LogFormat::Text => Box::new(base),
            LogFormat::Journal => Box::new(base.event_format(JournalLine { target })),
            LogFormat::Json => Box::new(
                base.json()
                    .with_target(true)
                    .with_current_span(false)
                    .flatten_event(true),
            ),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Journal => "journal",
            LogFormat::Json => "json",
        })
    }
}

/// Whether standard error is the stream systemd connected to the journal: `JOURNAL_STREAM`
/// is `DEVICE:INODE` of that stream, and a child whose stderr was redirected elsewhere still
/// inherits the variable, hence the comparison.
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    journal_stream_matches(&value.to_string_lossy(), st.st_dev, st.st_ino)
}

/// `JOURNAL_STREAM`'s `DEVICE:INODE` against a file's device and inode.
pub fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.split_once(':') else {
        return false;
    };
    d.parse::<u64>() == Ok(dev) && i.parse::<u64>() == Ok(ino)
}

/// The syslog priority journald reads from a `<N>` prefix.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `<6>target: message key=value`: the journal's line format.
#[derive(Debug, Clone, Copy)]
struct JournalLine {
    target: bool,
}

impl<S, N> FormatEvent<S, N> for JournalLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(writer, "<{}>", priority(meta.level()))?;
        if self.target {
            write!(writer, "{}: ", meta.target())?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::capture::Capture;
    use tracing_subscriber::layer::SubscriberExt;

    fn capture(format: LogFormat) -> String {
        let buf = Capture::default();
        let subscriber = tracing_subscriber::registry().with(format.layer(buf.clone(), false));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(mac = "52:54:00:12:34:56", "no lease for client");
            tracing::info!("DHCPACK on 10.0.0.5");
        });
        buf.text()
    }

    #[test]
    fn journal_lines_carry_priority_and_no_time() {
        let out = capture(LogFormat::Journal);
        assert_eq!(
            out,
            "<4>no lease for client mac=\"52:54:00:12:34:56\"\n<6>DHCPACK on 10.0.0.5\n"
        );
    }

    #[test]
    fn json_lines_parse_one_object_each() {
        let out = capture(LogFormat::Json);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].starts_with('{') && lines[0].ends_with('}'),
            "{out}"
        );
        assert!(lines[0].contains("\"level\":\"WARN\""), "{out}");
        assert!(lines[0].contains("\"mac\":\"52:54:00:12:34:56\""), "{out}");
        assert!(lines[0].contains("\"timestamp\":"), "{out}");
        assert!(
            lines[1].contains("\"message\":\"DHCPACK on 10.0.0.5\""),
            "{out}"
        );
    }

    #[test]
    fn text_lines_have_time_and_level() {
        let out = capture(LogFormat::Text);
        let first = out.lines().next().unwrap_or_default();
        assert!(first.contains(" WARN "), "{out}");
        assert!(first.starts_with("20"), "starts with the year: {out}");
    }

    #[test]
    fn names_and_stream_matching() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("journal"), Some(LogFormat::Journal));
        assert_eq!(LogFormat::parse("xml"), None);
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(!journal_stream_matches("8:12345", 8, 12346));
        assert!(!journal_stream_matches("garbage", 8, 12345));
    }
}
