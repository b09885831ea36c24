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
    /// The firmware's debug port (SeaBIOS says there which device it boots).
    Firmware,
    /// The machine's timeline in the state directory (`events/<machine>.jsonl`): the
    /// deploy agent's steps and the first-boot report.
    Timeline,
    /// A lab BMC's own log (its chassis script says what it did to the VM's power).
    Bmc,
}

impl Source {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::Dhcp => "DHCP",
            Source::Tftp => "TFTP",
            Source::Http => "HTTP",
            Source::Serial => "VM",
            Source::Firmware => "BIOS",
            Source::Timeline => "STEP",
            Source::Bmc => "BMC",
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
    pub(crate) fn seen_in(&self, logs: &Logs) -> bool {
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
    alive: impl FnMut() -> bool,
) -> Vec<Option<Duration>> {
    watch_until(logs, phases, done, &[], limit, interrupted, alive).0
}

/// As [`watch`], and stops at once when one of `fatal` shows: then returns the line
/// (with its source) that showed it. A `done` without needles ([`all_seen`]) ends the
/// watch once every phase was seen.
pub(crate) fn watch_until(
    logs: &Logs,
    phases: &[Phase],
    done: &Phase,
    fatal: &[Phase],
    limit: Duration,
    interrupted: &dyn Fn() -> bool,
    mut alive: impl FnMut() -> bool,
) -> (Vec<Option<Duration>>, Option<String>) {
    let start = Instant::now();
    let mut seen: Vec<Option<Duration>> = vec![None; phases.len()];
    let look = |seen: &mut Vec<Option<Duration>>| {
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
    };
    loop {
        look(&mut seen);
        if let Some(line) = fatal_line(logs, fatal) {
            look(&mut seen);
            return (seen, Some(line));
        }
        let finished = if done.needles.is_empty() {
            seen.iter().all(Option::is_some)
        } else {
            done.seen_in(logs)
        };
        if finished || start.elapsed() > limit || interrupted() || !alive() {
            // One last look: the log may have grown while we decided to stop.
            look(&mut seen);
            let fatal = fatal_line(logs, fatal);
            return (seen, fatal);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The `done` of [`watch_until`] that waits for every phase, in whatever order they come.
pub(crate) fn all_seen() -> Phase {
    Phase {
        label: String::new(),
        source: Source::Serial,
        needles: Vec::new(),
    }
}

/// The first line of a log that holds one of `fatal`'s needles, as `SOURCE: line`.
fn fatal_line(logs: &Logs, fatal: &[Phase]) -> Option<String> {
    for f in fatal {
        let text = logs.text(f.source);
        if let Some(line) = text
            .lines()
            .find(|l| f.needles.iter().any(|n| l.contains(n.as_str())))
        {
            let line: String = line.trim().chars().take(300).collect();
            return Some(format!("{}: {line}", f.source.name()));
        }
    }
    None
}
