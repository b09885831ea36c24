//! A machine's boot timeline, reduced to the milestones a person looks for:
//! DHCP → loader → kernel → answer file or deploy plan → deploy steps → installed → first
//! boot.

use pxe_model::state::{BootEvent, MachineState, Phase, StateEvent};
use pxe_model::{Distro, InstallState};

/// When each step of the latest boot happened (Unix milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Milestones {
    pub dhcp: Option<u64>,
    /// The first file fetched that was neither the kernel nor the initrd, and its name.
    pub loader: Option<(u64, String)>,
    pub kernel: Option<u64>,
    pub answer: Option<u64>,
    /// The deploy agent fetched its plan.
    pub plan: Option<u64>,
    /// The deploy agent's latest report (step, progress or failure), and when.
    pub deploy_step: Option<(u64, String)>,
    pub installed: Option<u64>,
    /// The installed system's first boot.
    pub first_boot: Option<u64>,
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

fn is_file(e: &BootEvent) -> bool {
    matches!(e.phase, Phase::Tftp | Phase::Http)
}

fn names(detail: &str, file: &str) -> bool {
    let file = file.trim_start_matches('/');
    !file.is_empty() && detail.trim_end().ends_with(file)
}

/// The milestones of the latest boot attempt: the events since the last DHCP
/// exchange (or since the last reinstall when DHCP was never recorded). `distro` names
/// the kernel and initrd to recognise.
pub fn milestones(
    events: &[BootEvent],
    state: &MachineState,
    distro: Option<&Distro>,
) -> Milestones {
    let start = events
        .iter()
        .rposition(|e| e.phase == Phase::Dhcp)
        .or_else(|| {
            events
                .iter()
                .rposition(|e| e.phase == Phase::Reinstall)
                .map(|i| i + 1)
        })
        .unwrap_or(0);
    let recent = events.get(start..).unwrap_or_default();
    let is_kernel = |e: &BootEvent| distro.is_some_and(|d| names(&e.detail, &d.kernel));
    let is_initrd = |e: &BootEvent| distro.is_some_and(|d| names(&e.detail, &d.initrd));
    let mut m = Milestones {
        dhcp: recent
            .first()
            .filter(|e| e.phase == Phase::Dhcp)
            .map(|e| e.at),
        loader: recent
            .iter()
            .find(|e| is_file(e) && !is_kernel(e) && !is_initrd(e))
            .map(|e| (e.at, e.detail.clone())),
        kernel: recent
            .iter()
            .find(|e| is_file(e) && is_kernel(e))
            .map(|e| e.at),
        answer: recent
            .iter()
            .find(|e| e.phase == Phase::AnswerFile)
            .map(|e| e.at),
        plan: recent
            .iter()
            .find(|e| e.phase == Phase::DeployPlan)
            .map(|e| e.at),
        deploy_step: recent
            .iter()
            .rev()
            .find(|e| matches!(e.phase, Phase::DeployStep | Phase::DeployFailed))
            .map(|e| (e.at, e.detail.clone())),
        installed: recent
            .iter()
            .find(|e| e.phase == Phase::Installed)
            .map(|e| e.at),
        first_boot: events
            .iter()
            .rev()
            .find(|e| e.phase == Phase::FirstBoot)
            .map(|e| e.at)
            .or(state.booted),
    };
    if m.installed.is_none() && state.state == InstallState::Installed {
        // The state history knows when, even if the timeline was trimmed.
        m.installed = state
            .history
            .iter()
            .rev()
            .find(|t| t.event == StateEvent::Installed)
            .map(|t| t.at)
            .or(Some(state.since));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use pxe_model::state::Transition;

    fn ev(at: u64, phase: Phase, detail: &str) -> BootEvent {
        BootEvent {
            at,
            phase,
            detail: detail.into(),
        }
    }

    fn distro() -> Distro {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}\ndistros:\n  c7: {family: redhat, tree: /srv/c7, kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}\n";
        let inv = pxe_model::load_str("t.yaml", text, std::path::Path::new(".")).expect("loads");
        inv.distros["c7"].clone()
    }

    #[test]
    fn latest_boot_only() {
        let d = distro();
        let events = vec![
            ev(1, Phase::Dhcp, "DHCPACK 10.0.0.50"),
            ev(2, Phase::Tftp, "pxelinux.0"),
            ev(10, Phase::Dhcp, "DHCPACK 10.0.0.50"),
            ev(11, Phase::Tftp, "pxelinux.0"),
            ev(12, Phase::Tftp, "pxelinux.cfg/01-52-54-00-12-34-56"),
            ev(13, Phase::Tftp, "trees/c7/images/pxeboot/vmlinuz"),
            ev(14, Phase::Tftp, "trees/c7/images/pxeboot/initrd.img"),
            ev(20, Phase::AnswerFile, "/ks/52:54:00:12:34:56"),
            ev(30, Phase::Installed, "callback"),
        ];
        let m = milestones(&events, &MachineState::default(), Some(&d));
        assert_eq!(
            m,
            Milestones {
                dhcp: Some(10),
                loader: Some((11, "pxelinux.0".into())),
                kernel: Some(13),
                answer: Some(20),
                installed: Some(30),
                ..Milestones::default()
            }
        );
    }

    #[test]
    fn deploy_milestones_and_the_reason_of_a_failure() {
        let d = distro();
        let events = vec![
            ev(10, Phase::Dhcp, "DHCPACK 10.0.0.50"),
            ev(20, Phase::DeployPlan, "/deploy/52:54:00:12:34:56"),
            ev(21, Phase::DeployStep, "image started"),
            ev(22, Phase::DeployStep, "image progress 1/4 bytes (25%)"),
            ev(
                23,
                Phase::DeployFailed,
                "image failed: sha256 mismatch\nlog",
            ),
        ];
        let mut state = MachineState::default();
        state.apply(StateEvent::AnswerFetched, 20);
        let m = milestones(&events, &state, Some(&d));
        assert_eq!(m.plan, Some(20));
        assert_eq!(
            m.deploy_step,
            Some((23, "image failed: sha256 mismatch\nlog".into()))
        );
        assert_eq!(failure(&events, &state), None, "not failed yet");
        state.apply(StateEvent::Failed, 23);
        assert_eq!(
            failure(&events, &state),
            Some("image failed: sha256 mismatch\nlog")
        );
        state.apply(StateEvent::Reinstall, 24);
        assert_eq!(failure(&events, &state), None, "a reinstall clears it");
    }

    #[test]
    fn without_dhcp_events_and_installed_from_state() {
        let d = distro();
        let events = vec![
            ev(5, Phase::AnswerFile, "/ks/x"),
            ev(6, Phase::Reinstall, "admin"),
            ev(7, Phase::Http, "/trees/c7/images/pxeboot/vmlinuz"),
        ];
        let mut state = MachineState {
            state: InstallState::Installed,
            since: 99,
            ..MachineState::default()
        };
        state.history.push(Transition {
            from: InstallState::Pending,
            to: InstallState::Installed,
            event: StateEvent::Installed,
            at: 42,
        });
        let m = milestones(&events, &state, Some(&d));
        assert_eq!(m.dhcp, None);
        assert_eq!(m.loader, None);
        assert_eq!(m.kernel, Some(7));
        assert_eq!(m.answer, None, "the answer before the reinstall is history");
        assert_eq!(m.installed, Some(42));
        assert_eq!(
            milestones(&[], &MachineState::default(), None),
            Milestones::default()
        );
    }
}
