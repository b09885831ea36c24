//! What a storm measured: per phase, completions, failures, retries and latency
//! percentiles; the time until the last machine had its answer file; the generator's own
//! CPU and memory, so that its cost is not mistaken for the servers'.

use crate::firmware::Firmware;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The steps a machine goes through, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Dhcp,
    Loader,
    Config,
    Kernel,
    Answer,
    Tree,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Dhcp,
        Phase::Loader,
        Phase::Config,
        Phase::Kernel,
        Phase::Answer,
        Phase::Tree,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Dhcp => "dhcp",
            Phase::Loader => "loader",
            Phase::Config => "config",
            Phase::Kernel => "kernel",
            Phase::Answer => "answer",
            Phase::Tree => "tree",
        }
    }
}

/// One phase of one machine.
#[derive(Clone, Debug)]
pub struct Step {
    pub phase: Phase,
    pub took: Duration,
    pub retries: u32,
    pub bytes: u64,
    /// Why it failed; `None` when it succeeded.
    pub failure: Option<String>,
    /// What it fetched, when it failed (a file name or URL).
    pub target: Option<String>,
}

/// One machine's whole boot.
#[derive(Clone, Debug)]
pub struct MachineRun {
    pub mac: String,
    pub firmware: Firmware,
    pub steps: Vec<Step>,
    /// Since the storm's start, when its answer file arrived (or its last phase, when the
    /// storm asks for no answer file).
    pub finished_at: Option<Duration>,
}

impl MachineRun {
    pub fn failed(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.failure.is_some())
    }
}

/// The generator's own cost during the storm.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct OwnCost {
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
    /// UDP datagrams dropped for want of buffer room in the generator's namespace.
    pub udp_drops: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PhaseSummary {
    pub phase: Phase,
    pub done: u64,
    pub failed: u64,
    pub retries: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reason: String,
    pub count: u64,
    pub example: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub machines: u64,
    pub finished: u64,
    pub failed: u64,
    /// From the storm's start until the last machine finished (seconds); `None` if none did.
    pub last_finished_s: Option<f64>,
    /// Per machine: from its arrival until it finished, percentiles (ms).
    pub time_to_answer_p50_ms: f64,
    pub time_to_answer_p99_ms: f64,
    pub phases: Vec<PhaseSummary>,
    pub by_firmware: BTreeMap<String, (u64, u64)>,
    /// The most frequent failure reasons: phase and reason, how many, one example of
    /// what was fetched.
    pub failures: Vec<Failure>,
    pub own: OwnCost,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

pub fn summarize(runs: &[MachineRun], arrivals: &[Duration], own: OwnCost) -> Summary {
    let mut phases = Vec::new();
    for phase in Phase::ALL {
        let steps: Vec<&Step> = runs
            .iter()
            .flat_map(|r| r.steps.iter().filter(move |s| s.phase == phase))
            .collect();
        if steps.is_empty() {
            continue;
        }
        let mut ok: Vec<Duration> = steps
            .iter()
            .filter(|s| s.failure.is_none())
            .map(|s| s.took)
            .collect();
        ok.sort();
        phases.push(PhaseSummary {
            phase,
            done: ok.len() as u64,
            failed: steps.iter().filter(|s| s.failure.is_some()).count() as u64,
            retries: steps.iter().map(|s| u64::from(s.retries)).sum(),
            p50_ms: ms(percentile(&ok, 50.0)),
            p95_ms: ms(percentile(&ok, 95.0)),
            p99_ms: ms(percentile(&ok, 99.0)),
            max_ms: ms(ok.last().copied().unwrap_or_default()),
        });
    }
    let mut to_answer: Vec<Duration> = runs
        .iter()
        .zip(arrivals)
        .filter(|(r, _)| r.failed().is_none())
        .filter_map(|(r, a)| r.finished_at.map(|f| f.saturating_sub(*a)))
        .collect();
    to_answer.sort();
    let mut by_firmware: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut reasons: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
    for r in runs {
        let e = by_firmware.entry(r.firmware.to_string()).or_default();
        match r.failed() {
            None => e.0 += 1,
            Some(s) => {
                e.1 += 1;
                let why = s.failure.clone().unwrap_or_default();
                let e = reasons
                    .entry(format!("{}: {why}", s.phase.name()))
                    .or_default();
                e.0 += 1;
                if e.1.is_none() {
                    e.1.clone_from(&s.target);
                }
            }
        }
    }
    let mut failures: Vec<Failure> = reasons
        .into_iter()
        .map(|(reason, (count, example))| Failure {
            reason,
            count,
            example,
        })
        .collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    failures.truncate(8);
    let finished = runs.iter().filter(|r| r.failed().is_none()).count() as u64;
    Summary {
        machines: runs.len() as u64,
        finished,
        failed: runs.len() as u64 - finished,
        last_finished_s: runs
            .iter()
            .filter(|r| r.failed().is_none())
            .filter_map(|r| r.finished_at)
            .max()
            .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
        time_to_answer_p50_ms: ms(percentile(&to_answer, 50.0)),
        time_to_answer_p99_ms: ms(percentile(&to_answer, 99.0)),
        phases,
        by_firmware,
        failures,
        own,
    }
}

/// The summary as a table for people.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let last = s
        .last_finished_s
        .map_or("-".to_string(), |v| format!("{v:.2} s"));
    let _ = writeln!(
        out,
        "machines {}: {} finished, {} failed; last finished at {last}; per machine to its answer file p50 {:.1} ms, p99 {:.1} ms",
        s.machines, s.finished, s.failed, s.time_to_answer_p50_ms, s.time_to_answer_p99_ms
    );
    let _ = writeln!(
        out,
        "{:<7} {:>7} {:>7} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "PHASE", "DONE", "FAILED", "RETRIES", "P50 ms", "P95 ms", "P99 ms", "MAX ms"
    );
    for p in &s.phases {
        let _ = writeln!(
            out,
            "{:<7} {:>7} {:>7} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            p.phase.name(),
            p.done,
            p.failed,
            p.retries,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.max_ms
        );
    }
    let mix: Vec<String> = s
        .by_firmware
        .iter()
        .map(|(f, (ok, bad))| format!("{f} {ok} ok/{bad} failed"))
        .collect();
    let _ = writeln!(out, "firmware: {}", mix.join(", "));
    for f in &s.failures {
        let example = f
            .example
            .as_ref()
            .map_or(String::new(), |e| format!(" (e.g. {e})"));
        let _ = writeln!(out, "failure ×{}: {}{example}", f.count, f.reason);
    }
    let drops = s
        .own
        .udp_drops
        .map_or("unknown".to_string(), |d| d.to_string());
    let _ = writeln!(
        out,
        "pxe-storm itself: {:.2} s CPU, {:.1} MiB peak resident, {drops} UDP datagrams dropped in its namespace for want of buffer room",
        s.own.cpu_seconds, s.own.peak_rss_mib
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(phase: Phase, ms: u64, failure: Option<&str>) -> Step {
        Step {
            phase,
            took: Duration::from_millis(ms),
            retries: u32::from(failure.is_some()),
            bytes: 0,
            failure: failure.map(str::to_string),
            target: failure.map(|_| "pxelinux.0".to_string()),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn summary_counts_phases_and_failures() {
        let runs = vec![
            MachineRun {
                mac: "a".into(),
                firmware: Firmware::Bios,
                steps: vec![step(Phase::Dhcp, 10, None), step(Phase::Answer, 5, None)],
                finished_at: Some(Duration::from_millis(40)),
            },
            MachineRun {
                mac: "b".into(),
                firmware: Firmware::Uefi,
                steps: vec![step(Phase::Dhcp, 0, Some("no offer"))],
                finished_at: None,
            },
        ];
        let s = summarize(
            &runs,
            &[Duration::from_millis(10), Duration::ZERO],
            OwnCost::default(),
        );
        assert_eq!((s.machines, s.finished, s.failed), (2, 1, 1));
        assert_eq!(s.phases[0].done, 1);
        assert_eq!(s.phases[0].failed, 1);
        assert_eq!(s.phases[0].retries, 1);
        assert_eq!(s.time_to_answer_p50_ms, 30.0);
        assert_eq!(s.last_finished_s, Some(0.04));
        assert_eq!(
            s.failures,
            vec![Failure {
                reason: "dhcp: no offer".into(),
                count: 1,
                example: Some("pxelinux.0".into())
            }]
        );
        assert!(render(&s).contains("failure ×1: dhcp: no offer (e.g. pxelinux.0)"));
    }
}
