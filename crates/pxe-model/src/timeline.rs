//! A machine's install, built from its boot timeline: DHCP → loader → kernel → answer file
//! or deploy plan → each deploy step with its progress → installed → first boot, each
//! stage with when it began, how long after the install's first event, and how long it
//! took.
//!
//! Pure: the events and the state are read by the caller, and `now` is passed in (it is
//! how long a stage that is still running has been running).
//!
//! Which events are the install: the last answer file or deploy plan fetched (after the
//! last reinstall) starts the installer's run; the boot that led to it is the one whose
//! kernel was fetched last before it, and it starts at the first DHCP exchange since the
//! kernel fetch before that one. So a chain of loaders (a PXE ROM, then iPXE asking DHCP
//! again) counts from its first exchange, a deploy initramfs asking DHCP again does not
//! cut the install in two, and an earlier boot that got its kernel is history. The reboot
//! after the install (DHCP and a local-boot menu) belongs to the "installed" stage, which
//! lasts until the first boot reports.

use crate::deploy_plan::{Report, Step, StepStatus};
use crate::inventory::Distro;
use crate::state::{BootEvent, InstallState, MachineState, Phase, StateEvent};
use serde::Serialize;

/// A stage of an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "stage", content = "step")]
pub enum Stage {
    /// The DHCP exchange that started the boot.
    Dhcp,
    /// The first file fetched that was neither the kernel nor the initrd.
    Loader,
    Kernel,
    /// A classic installer fetched its answer file.
    AnswerFile,
    /// The deploy agent fetched its plan.
    DeployPlan,
    /// A step the deploy agent reported.
    DeployStep(Step),
    /// The installer or the agent called back.
    Installed,
    /// The installed system booted and reported.
    FirstBoot,
}

impl Stage {
    /// Its name on the status page.
    pub fn label(self) -> String {
        match self {
            Stage::Dhcp => "DHCP".to_owned(),
            Stage::Loader => "loader".to_owned(),
            Stage::Kernel => "kernel".to_owned(),
            Stage::AnswerFile => "answer file".to_owned(),
            Stage::DeployPlan => "deploy plan".to_owned(),
            Stage::DeployStep(step) => format!("deploy: {}", step.as_str()),
            Stage::Installed => "installed".to_owned(),
            Stage::FirstBoot => "first boot".to_owned(),
        }
    }
}

/// One stage and its times (Unix milliseconds; durations in milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageEntry {
    #[serde(flatten)]
    pub stage: Stage,
    /// When it began.
    pub at: u64,
    /// How long after the install's first event it began.
    pub since_start_ms: u64,
    /// How long it took: until the next stage began, or for a deploy step until its
    /// `done` or `failed` report; while it runs, until `now`. `None` for the last stage
    /// of a finished install (the first boot, or the point where it failed).
    pub took_ms: Option<u64>,
    /// Still running at `now`.
    pub running: bool,
    /// What was handed out or reported (loader's file name, DHCP reply, step message).
    pub detail: String,
    /// A deploy step's latest status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StepStatus>,
    /// A deploy step's bytes written, of its total when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

impl StageEntry {
    fn new(stage: Stage, at: u64, detail: &str) -> StageEntry {
        StageEntry {
            stage,
            at,
            since_start_ms: 0,
            took_ms: None,
            running: false,
            detail: detail.to_owned(),
            status: None,
            done_bytes: None,
            total_bytes: None,
        }
    }

    /// `done` of `total` bytes as a whole percentage, when both are known.
    pub fn percent(&self) -> Option<u64> {
        match (self.done_bytes, self.total_bytes) {
            (Some(done), Some(total)) if total > 0 => Some(done.saturating_mul(100) / total),
            _ => None,
        }
    }
}

/// A machine's latest install, stage by stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Install {
    /// When its first event happened.
    pub start: Option<u64>,
    /// In the order they began.
    pub stages: Vec<StageEntry>,
    /// From the first event to the install-complete callback.
    pub install_ms: Option<u64>,
    /// From the first event to the first boot's report.
    pub to_first_boot_ms: Option<u64>,
}

impl Install {
    /// The first entry of a stage.
    pub fn stage(&self, stage: Stage) -> Option<&StageEntry> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// The deploy step reported last (its latest report), if any.
    pub fn last_step(&self) -> Option<&StageEntry> {
        self.stages
            .iter()
            .rev()
            .find(|s| matches!(s.stage, Stage::DeployStep(_)))
    }
}

/// Why a `failed` machine failed: the step, its message and log tail, as reported.
pub fn failure<'e>(events: &'e [BootEvent], state: &MachineState) -> Option<&'e str> {
    if state.state != InstallState::Failed {
        return None;
    }
    events
        .iter()
        .rev()
        .find(|e| e.phase == Phase::DeployFailed)
        .map(|e| e.detail.as_str())
}

/// Whether a file's timeline entry names `file`: tftpd writes `trees/c7/vmlinuz (1234
/// bytes)`, httpd-tree the path.
fn names(detail: &str, file: &str) -> bool {
    let detail = detail.trim_end();
    let served = match detail.rsplit_once(" (") {
        Some((name, size)) if size.ends_with(" bytes)") => name,
        _ => detail,
    };
    let file = file.trim_start_matches('/');
    !file.is_empty() && served.ends_with(file)
}

/// The events of the latest install attempt (see the module's documentation).
pub fn attempt<'e>(events: &'e [BootEvent], distro: Option<&Distro>) -> &'e [BootEvent] {
    let from = events
        .iter()
        .rposition(|e| e.phase == Phase::Reinstall)
        .map_or(0, |i| i + 1);
    let evs = events.get(from..).unwrap_or_default();
    let is_kernel = |e: &BootEvent| {
        matches!(e.phase, Phase::Tftp | Phase::Http)
            && distro.is_some_and(|d| names(&e.detail, &d.kernel))
    };
    let run = evs
        .iter()
        .rposition(|e| matches!(e.phase, Phase::AnswerFile | Phase::DeployPlan));
    let start = match run {
        Some(run) => {
            let before = evs.get(..run).unwrap_or_default();
            let kernel = before.iter().rposition(is_kernel);
            // The boot began after the kernel fetch before that one.
            let floor = kernel
                .and_then(|k| before.get(..k).and_then(|b| b.iter().rposition(is_kernel)))
                .map_or(0, |k| k + 1);
            let upto = kernel.unwrap_or(run);
            // Without a DHCP exchange recorded (another DHCP server), from the floor.
            evs.get(floor..upto)
                .and_then(|b| b.iter().position(|e| e.phase == Phase::Dhcp))
                .map_or(floor, |d| floor + d)
        }
        // No installer ran yet: the latest boot.
        None => evs
            .iter()
            .rposition(|e| e.phase == Phase::Dhcp)
            .unwrap_or(0),
    };
    evs.get(start..).unwrap_or_default()
}

/// The latest install of a machine, from its boot timeline (oldest first) and state.
/// `distro` names the kernel and initrd to recognise; `now` is the time of the request.
pub fn build(
    events: &[BootEvent],
    state: &MachineState,
    distro: Option<&Distro>,
    now: u64,
) -> Install {
    let evs = attempt(events, distro);
    let is_named = |e: &BootEvent, file: fn(&Distro) -> &str| {
        distro.is_some_and(|d| names(&e.detail, file(d)))
    };
    let mut stages: Vec<StageEntry> = Vec::new();
    let mut seen_run = false;
    for e in evs {
        let has = |stages: &[StageEntry], s: Stage| stages.iter().any(|x| x.stage == s);
        let installed = has(&stages, Stage::Installed);
        match e.phase {
            Phase::Dhcp if stages.is_empty() => {
                stages.push(StageEntry::new(Stage::Dhcp, e.at, &e.detail));
            }
            Phase::Tftp | Phase::Http if !seen_run && !installed => {
                if is_named(e, |d| &d.kernel) {
                    if !has(&stages, Stage::Kernel) {
                        stages.push(StageEntry::new(Stage::Kernel, e.at, &e.detail));
                    }
                } else if !is_named(e, |d| &d.initrd)
                    && !has(&stages, Stage::Loader)
                    && !has(&stages, Stage::Kernel)
                {
                    stages.push(StageEntry::new(Stage::Loader, e.at, &e.detail));
                }
            }
            Phase::AnswerFile | Phase::DeployPlan if !installed => {
                let stage = if e.phase == Phase::AnswerFile {
                    Stage::AnswerFile
                } else {
                    Stage::DeployPlan
                };
                seen_run = true;
                if !has(&stages, stage) {
                    stages.push(StageEntry::new(stage, e.at, &e.detail));
                }
            }
            Phase::DeployStep | Phase::DeployFailed if !installed => {
                if let Some(r) = Report::from_timeline_detail(&e.detail) {
                    step_report(&mut stages, e.at, &r);
                }
            }
            Phase::Installed if !installed => {
                stages.push(StageEntry::new(Stage::Installed, e.at, &e.detail));
            }
            Phase::FirstBoot if installed && !has(&stages, Stage::FirstBoot) => {
                stages.push(StageEntry::new(Stage::FirstBoot, e.at, &e.detail));
            }
            _ => {}
        }
    }
    // A trimmed timeline: the state knows when the install and the first boot were.
    if state.state == InstallState::Installed && !stages.iter().any(|s| s.stage == Stage::Installed)
    {
        let at = state
            .history
            .iter()
            .rev()
            .find(|t| t.event == StateEvent::Installed)
            .map_or(state.since, |t| t.at);
        stages.push(StageEntry::new(Stage::Installed, at, "installed"));
    }
    if let Some(booted) = state.booted
        && !stages.iter().any(|s| s.stage == Stage::FirstBoot)
        && stages.iter().any(|s| s.stage == Stage::Installed)
    {
        stages.push(StageEntry::new(Stage::FirstBoot, booted, "first boot"));
    }
    times(&mut stages, state, now);
    let start = stages.first().map(|s| s.at);
    let since = |stage: Stage| {
        stages
            .iter()
            .find(|s| s.stage == stage)
            .map(|s| s.since_start_ms)
    };
    Install {
        start,
        install_ms: since(Stage::Installed),
        to_first_boot_ms: since(Stage::FirstBoot),
        stages,
    }
}

/// Folds a step's report into its entry (a new entry at its first report).
fn step_report(stages: &mut Vec<StageEntry>, at: u64, r: &Report) {
    let stage = Stage::DeployStep(r.step);
    let i = match stages.iter().rposition(|s| s.stage == stage) {
        // A step started again after it ended (the agent retried): a new entry.
        Some(i) if !(r.status == StepStatus::Started && stages[i].took_ms.is_some()) => i,
        _ => {
            stages.push(StageEntry::new(stage, at, ""));
            stages.len() - 1
        }
    };
    let entry = &mut stages[i];
    entry.status = Some(r.status);
    if r.done_bytes.is_some() {
        entry.done_bytes = r.done_bytes;
        entry.total_bytes = r.total_bytes.or(entry.total_bytes);
    }
    if !r.message.is_empty() {
        entry.detail = r.message.clone();
    }
    if matches!(r.status, StepStatus::Done | StepStatus::Failed) {
        // Marks the step ended; `times` keeps this duration.
        entry.took_ms = Some(at.saturating_sub(entry.at));
    }
}

/// Fills in each stage's time since the start and how long it took.
fn times(stages: &mut [StageEntry], state: &MachineState, now: u64) {
    let Some(start) = stages.first().map(|s| s.at) else {
        return;
    };
    // Only an install under way has a running stage: a failed one stopped, and an
    // installed machine's last stage is its callback or its first boot.
    let under_way = matches!(
        state.state,
        InstallState::Pending | InstallState::Installing
    );
    let n = stages.len();
    for i in 0..n {
        let next = stages.get(i + 1).map(|s| s.at);
        let s = &mut stages[i];
        s.since_start_ms = s.at.saturating_sub(start);
        let step = matches!(s.stage, Stage::DeployStep(_));
        if step && s.took_ms.is_some() {
            continue; // ended by its own report
        }
        match next {
            // Until the next stage (a step with no end report: the same).
            Some(next) => s.took_ms = Some(next.saturating_sub(s.at)),
            None if !under_way || matches!(s.stage, Stage::Installed | Stage::FirstBoot) => {
                s.took_ms = None;
            }
            None => {
                s.took_ms = Some(now.saturating_sub(s.at));
                s.running = true;
            }
        }
    }
}

/// Milliseconds as a person reads a duration: `850 ms`, `12.4 s`, `3 min 05 s`, `2 h 03 min`.
pub fn human_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1_000, ms % 1_000 / 100)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1_000)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000)
    }
}

/// Bytes as a person reads them: `512 B`, `40.0 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests;
