//! Why a boot stalled, in words an operator acts on: read from the latest install attempt
//! of a machine's boot timeline ([`crate::timeline::attempt`]) and its state.
//!
//! Pure: `now` is passed in. A stage counts as stalled once the next one has not come
//! for longer than that stage can take on a healthy network ([`DHCP_TO_FILE_MS`] and the
//! others); before that, there is nothing to say.

use crate::inventory::Distro;
use crate::state::{BootEvent, InstallState, MachineState, Phase};
use crate::timeline::{attempt, failure, human_ms};
use serde::Serialize;

/// From a DHCP answer to the first file fetched: a PXE ROM asks within seconds.
pub const DHCP_TO_FILE_MS: u64 = 60_000;
/// From the loader to the kernel: a menu with a timeout, at most a few minutes.
pub const LOADER_TO_KERNEL_MS: u64 = 5 * 60_000;
/// From the kernel to the answer file: the installer's initrd boots and fetches it.
pub const KERNEL_TO_ANSWER_MS: u64 = 10 * 60_000;
/// From the answer file to the install-complete callback: a whole install.
pub const ANSWER_TO_CALLBACK_MS: u64 = 3 * 3_600_000;

/// A stalled boot: where it stopped, since when, and what to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stall {
    /// `dhcp`, `loader`, `kernel`, `answer_file`, `refused` or `failed`: the last stage
    /// reached, or what went wrong.
    pub stage: &'static str,
    /// When the last event happened (Unix milliseconds).
    pub since: u64,
    pub message: String,
}

fn is_file(e: &BootEvent) -> bool {
    matches!(e.phase, Phase::Tftp | Phase::Http)
}

/// The stall of the latest attempt, if it stalled.
pub fn diagnose(
    events: &[BootEvent],
    state: &MachineState,
    distro: Option<&Distro>,
    now: u64,
) -> Option<Stall> {
    match state.state {
        InstallState::Installed => return None,
        InstallState::Failed => {
            let why = failure(events, state).unwrap_or("the deploy agent reported a failure");
            return Some(Stall {
                stage: "failed",
                since: state.since,
                message: format!("the install failed: {}", why.lines().next().unwrap_or(why)),
            });
        }
        InstallState::Pending | InstallState::Installing => {}
    }
    let evs = attempt(events, distro);
    let last = evs.last()?;
    let idle = now.saturating_sub(last.at);
    let ago = human_ms(idle);
    if last.phase == Phase::Refused {
        return Some(Stall {
            stage: "refused",
            since: last.at,
            message: format!(
                "{ago} ago a file of this machine was refused ({}): its own files go only to \
                 its address (its fixed address or the one dhcpd acknowledged last); a \
                 requester behind NAT or another DHCP server's lease does not match",
                last.detail
            ),
        });
    }
    let named = |e: &BootEvent, f: fn(&Distro) -> &str| {
        distro.is_some_and(|d| e.detail.contains(f(d).trim_start_matches('/')))
    };
    let answer = evs
        .iter()
        .rfind(|e| matches!(e.phase, Phase::AnswerFile | Phase::DeployPlan));
    let kernel = evs.iter().rfind(|e| is_file(e) && named(e, |d| &d.kernel));
    let file = evs.iter().rfind(|e| is_file(e));
    let dhcp = evs.iter().rfind(|e| e.phase == Phase::Dhcp);
    let (stage, limit, message) = if let Some(a) = answer {
        (
            "answer_file",
            ANSWER_TO_CALLBACK_MS,
            format!(
                "the answer file was fetched ({}) {} ago and no install-complete callback came: \
                 the installer may have stopped (see its console), or its last step cannot \
                 reach httpd-tree",
                a.detail,
                human_ms(now.saturating_sub(a.at))
            ),
        )
    } else if let Some(k) = kernel {
        (
            "kernel",
            KERNEL_TO_ANSWER_MS,
            format!(
                "the kernel was fetched ({}) but the answer file never was: the installer did \
                 not get its answer-file argument, or cannot reach httpd-tree from its network",
                k.detail
            ),
        )
    } else if let Some(f) = file {
        (
            "loader",
            LOADER_TO_KERNEL_MS,
            format!(
                "the boot loader or its menu was fetched (last: {}) but not the kernel: the menu \
                 may wait for a choice, or names a kernel that is not there (file not found)",
                f.detail
            ),
        )
    } else if let Some(d) = dhcp {
        (
            "dhcp",
            DHCP_TO_FILE_MS,
            format!(
                "DHCP answered ({}) but no file was fetched over TFTP or HTTP since: tftpd \
                 not reachable at next-server (UDP 69, a firewall), or the boot file is not \
                 under its root (file not found)",
                d.detail
            ),
        )
    } else {
        return None;
    };
    (idle > limit).then(|| Stall {
        stage,
        since: last.at,
        message: format!("stalled for {ago}: {message}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateEvent;

    const T: u64 = 1_700_000_000_000;

    fn ev(at: u64, phase: Phase, detail: &str) -> BootEvent {
        BootEvent {
            at: T + at,
            phase,
            detail: detail.into(),
        }
    }

    fn lab_distro() -> Distro {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
            distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: images/pxeboot/vmlinuz, initrd: images/pxeboot/initrd.img}\n";
        let inv = crate::load_str("inv.yaml", text, std::path::Path::new(".")).expect("loads");
        inv.distros["c7"].clone()
    }

    fn stage_at(events: &[BootEvent], state: &MachineState, now: u64) -> Option<&'static str> {
        diagnose(events, state, Some(&lab_distro()), T + now).map(|s| s.stage)
    }

    #[test]
    fn each_stalled_stage_is_named_once_its_time_is_up() {
        let pending = MachineState::default();
        let dhcp = vec![ev(0, Phase::Dhcp, "DHCPACK 10.0.0.50 pxelinux.0")];
        assert_eq!(stage_at(&dhcp, &pending, 10_000), None, "still in time");
        assert_eq!(stage_at(&dhcp, &pending, 61_000), Some("dhcp"));
        let mut loader = dhcp.clone();
        loader.push(ev(1_000, Phase::Tftp, "pxelinux.0 (42 bytes)"));
        assert_eq!(stage_at(&loader, &pending, 61_000), None);
        assert_eq!(stage_at(&loader, &pending, 302_000), Some("loader"));
        let mut kernel = loader.clone();
        kernel.push(ev(
            2_000,
            Phase::Tftp,
            "trees/c7/images/pxeboot/vmlinuz (9 bytes)",
        ));
        assert_eq!(stage_at(&kernel, &pending, 302_000), None);
        assert_eq!(stage_at(&kernel, &pending, 603_000), Some("kernel"));
        let mut answer = kernel.clone();
        answer.push(ev(3_000, Phase::AnswerFile, "/ks/web01"));
        let mut installing = MachineState::default();
        installing.apply(StateEvent::AnswerFetched, T + 3_000);
        assert_eq!(stage_at(&answer, &installing, 603_000), None);
        let s = diagnose(&answer, &installing, Some(&lab_distro()), T + 4 * 3_600_000)
            .expect("stalled");
        assert_eq!(s.stage, "answer_file");
        assert!(
            s.message.contains("no install-complete callback"),
            "{}",
            s.message
        );
        let mut installed = installing.clone();
        installed.apply(StateEvent::Installed, T + 5_000);
        assert_eq!(stage_at(&answer, &installed, 9 * 3_600_000), None);
        let mut refused = dhcp.clone();
        refused.push(ev(1_000, Phase::Refused, "/ks/web01 to 10.0.0.99"));
        assert_eq!(stage_at(&refused, &pending, 2_000), Some("refused"));
        assert_eq!(stage_at(&[], &pending, 9_000_000), None, "never booted");
    }
}
