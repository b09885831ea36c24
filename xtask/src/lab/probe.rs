//! Watching a boot: each phase is a needle in a log (a daemon's, or the VM's serial
//! console), seen after the case started. The first time each is seen is its time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Which log a phase shows up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Dhcp,
    Tftp,
    Http,
    Serial,
}

impl Source {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::Dhcp => "DHCP",
            Source::Tftp => "TFTP",
            Source::Http => "HTTP",
            Source::Serial => "VM",
        }
    }
}

/// A phase to see.
#[derive(Debug, Clone)]
pub(crate) struct Phase {
    pub(crate) label: String,
    pub(crate) source: Source,
    /// Any of these, in the source's log, means the phase happened.
    pub(crate) needles: Vec<String>,
}

impl Phase {
    fn seen_in(&self, logs: &Logs) -> bool {
        let text = logs.text(self.source);
        self.needles.iter().any(|n| text.contains(n.as_str()))
    }
}

pub(crate) fn phase(source: Source, needle: &str, label: &str) -> Phase {
    phase_any(source, &[needle], label)
}

/// A phase logged in one of several spellings (iPXE percent-encodes the colons of a MAC).
pub(crate) fn phase_any(source: Source, needles: &[&str], label: &str) -> Phase {
    Phase {
        label: label.to_owned(),
        source,
        needles: needles.iter().map(|n| (*n).to_owned()).collect(),
    }
}

/// The logs of one case, read from the offsets they had when it started.
pub(crate) struct Logs {
    pub(crate) files: Vec<(Source, PathBuf, u64)>,
}

impl Logs {
    pub(crate) fn new(files: Vec<(Source, PathBuf)>) -> Logs {
        let files = files
            .into_iter()
            .map(|(s, p)| {
                let off = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (s, p, off)
            })
            .collect();
        Logs { files }
    }

    /// The same logs, read from here on (for checks about one case only).
    pub(crate) fn tail(&self) -> Logs {
        Logs::new(self.files.iter().map(|(s, p, _)| (*s, p.clone())).collect())
    }

    /// Everything a source logged since the case started.
    pub(crate) fn text(&self, source: Source) -> String {
        let mut out = String::new();
        for (s, p, off) in &self.files {
            if *s != source {
                continue;
            }
            if let Ok(bytes) = std::fs::read(p) {
                let start = usize::try_from(*off).unwrap_or(0).min(bytes.len());
                out.push_str(&String::from_utf8_lossy(&bytes[start..]));
            }
        }
        out
    }

    /// How many times `needle` appears in a source's new text.
    pub(crate) fn count(&self, source: Source, needle: &str) -> usize {
        self.text(source).matches(needle).count()
    }
}

/// Waits for the phases in order of appearance (any order is accepted), printing each
/// as it is seen, until `done` is seen or `limit` passes. Returns when each was seen.
pub(crate) fn watch(
    logs: &Logs,
    phases: &[Phase],
    done: &Phase,
    limit: Duration,
    interrupted: &dyn Fn() -> bool,
    mut alive: impl FnMut() -> bool,
) -> Vec<Option<Duration>> {
    let start = Instant::now();
    let mut seen: Vec<Option<Duration>> = vec![None; phases.len()];
    loop {
        for (i, p) in phases.iter().enumerate() {
            if seen[i].is_none() && p.seen_in(logs) {
                let t = start.elapsed();
                seen[i] = Some(t);
                println!(
                    "  {:>6.1}s  {:<4}  {}",
                    t.as_secs_f64(),
                    p.source.name(),
                    p.label
                );
            }
        }
        let finished = done.seen_in(logs);
        if finished || start.elapsed() > limit || interrupted() || !alive() {
            // One last look: the log may have grown while we decided to stop.
            for (i, p) in phases.iter().enumerate() {
                if seen[i].is_none() && p.seen_in(logs) {
                    seen[i] = Some(start.elapsed());
                    println!(
                        "  {:>6.1}s  {:<4}  {}",
                        start.elapsed().as_secs_f64(),
                        p.source.name(),
                        p.label
                    );
                }
            }
            return seen;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
