//! Install state per machine: `pending → installing → installed`, and back by `reinstall`.
//!
//! The transition rules are pure ([`next`]); a [`StateStore`] keeps the states and each
//! machine's boot timeline. The embedded store is [`FileStore`]: one file per machine.

mod file;
mod token;

pub(crate) use file::valid_name;
pub use file::{EVENTS_COMPACT_BYTES, EVENTS_KEEP, FileStore, MIN_SECRET};
pub use token::{Secret, machine_token, token_matches, token_shaped};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Where a machine is in its install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InstallState {
    /// Will install at its next network boot.
    #[default]
    Pending,
    /// Its answer file was fetched: the installer is running.
    Installing,
    /// Its installer called back: it boots from disk.
    Installed,
    /// The deploy agent reported a failed step; the timeline says which and why. The
    /// machine is not marked installed, so it never boots a half-written disk as if it
    /// were done; a reinstall (or its next plan fetch) starts over.
    Failed,
}

impl InstallState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallState::Pending => "pending",
            InstallState::Installing => "installing",
            InstallState::Installed => "installed",
            InstallState::Failed => "failed",
        }
    }
}

/// What happened to a machine that may change its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateEvent {
    /// Its answer file was served.
    AnswerFetched,
    /// Its installer reported completion.
    Installed,
    /// An operator asked for a new install.
    Reinstall,
    /// The deploy agent reported a failed step.
    Failed,
    /// The installed system booted for the first time (changes no state; see
    /// [`MachineState::booted`]).
    Booted,
}

/// The pure transition rule. `None`: the event changes nothing.
pub fn next(state: InstallState, event: StateEvent) -> Option<InstallState> {
    use InstallState::*;
    match (state, event) {
        (Pending | Failed, StateEvent::AnswerFetched) => Some(Installing),
        (Pending | Installing | Failed, StateEvent::Installed) => Some(Installed),
        (Installing | Installed | Failed, StateEvent::Reinstall) => Some(Pending),
        (Pending | Installing, StateEvent::Failed) => Some(Failed),
        // An answer fetched again while installing, or by hand after the install,
        // and repeated callbacks or reinstall requests change nothing.
        _ => None,
    }
}

/// One state change, as kept in the machine's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: InstallState,
    pub to: InstallState,
    pub event: StateEvent,
    /// Unix time in milliseconds.
    pub at: u64,
}

/// A machine's stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MachineState {
    pub state: InstallState,
    /// Unix time in milliseconds of the last change (0: never changed).
    pub since: u64,
    /// How many events were applied, changing or not; never goes back.
    pub version: u64,
    /// The install generation: 0 at first, one more at each reinstall. The callback
    /// token is bound to it, so a reinstall makes every earlier token stale.
    #[serde(default)]
    pub generation: u64,
    /// Every change, oldest first.
    pub history: Vec<Transition>,
    /// Unix time in milliseconds of the installed system's first boot, in this
    /// generation (reset by a reinstall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booted: Option<u64>,
}

impl MachineState {
    /// Applies an event; returns the transition if the state changed.
    pub fn apply(&mut self, event: StateEvent, at: u64) -> Option<Transition> {
        self.version += 1;
        if event == StateEvent::Booted && self.state == InstallState::Installed {
            self.booted.get_or_insert(at);
        }
        let to = next(self.state, event)?;
        let t = Transition {
            from: self.state,
            to,
            event,
            at,
        };
        self.state = to;
        self.since = at;
        if event == StateEvent::Reinstall {
            self.generation += 1;
            self.booted = None;
        }
        self.history.push(t.clone());
        Some(t)
    }

    /// Whether `presented` may report this install complete: the machine's token for its
    /// current generation, while the install is not over (a used token, and an installed
    /// machine's token, no longer work).
    pub fn accepts_token(&self, secret: &Secret, machine: &str, presented: &str) -> bool {
        self.state != InstallState::Installed
            && token_matches(secret, machine, self.generation, presented)
    }

    /// Whether `presented` may report the installed system's first boot: the token of
    /// the current generation, once the install is over and only once.
    pub fn accepts_boot_token(&self, secret: &Secret, machine: &str, presented: &str) -> bool {
        self.state == InstallState::Installed
            && self.booted.is_none()
            && token_matches(secret, machine, self.generation, presented)
    }
}

/// The phases of a network install, for the boot timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// DHCP handed out an address and boot file.
    Dhcp,
    /// A file was served over TFTP (loader, menu, kernel, initrd).
    Tftp,
    /// A file was served over HTTP (script, kernel, initrd, tree).
    Http,
    /// The answer file was served.
    AnswerFile,
    /// The installer called back.
    Installed,
    /// An operator asked for a reinstall.
    Reinstall,
    /// A per-machine file (answer file, boot script, per-MAC boot config) or a callback
    /// was refused to a requester that is not the machine.
    Refused,
    /// The deploy agent fetched its plan.
    DeployPlan,
    /// The deploy agent reported a step (started, progress, done).
    DeployStep,
    /// The deploy agent reported a failed step, with its log tail.
    DeployFailed,
    /// The installed system booted for the first time and reported it.
    FirstBoot,
    /// The operator switched the machine through its BMC (on, off, cycle, next boot
    /// from the network), with what the BMC answered.
    Power,
}

/// One entry of a machine's boot timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEvent {
    /// Unix time in milliseconds.
    pub at: u64,
    pub phase: Phase,
    /// What was handed out (`pxelinux.0`, `DHCPACK 10.0.0.50`, …).
    pub detail: String,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: corrupt state file: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(
        "{path}: the token secret is {len} bytes, shorter than the 32 required; remove the \
         file to have a new random one created, or write at least 32 random bytes into it"
    )]
    WeakSecret {
        path: std::path::PathBuf,
        len: usize,
    },
    #[error("machine name {0:?} cannot name a state file")]
    BadName(String),
    /// A store other than the files (the database) failed; the message says what and why.
    #[error("state database: {0}")]
    Backend(String),
}

/// Install state and boot timelines, shared by every daemon.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// A machine's state; `Pending` with no history if it never changed.
    fn get(&self, machine: &str) -> Result<MachineState, StateError>;
    /// Every machine that has a stored state.
    fn all(&self) -> Result<BTreeMap<String, MachineState>, StateError>;
    /// Applies an event atomically (read, change, write), safe against other processes.
    fn apply(
        &self,
        machine: &str,
        event: StateEvent,
        at: u64,
    ) -> Result<(MachineState, Option<Transition>), StateError>;
    /// Applies an event atomically, if `allowed` says yes to the state read under the
    /// lock; `None` when it said no (nothing is written then).
    fn apply_if(
        &self,
        machine: &str,
        event: StateEvent,
        at: u64,
        allowed: &dyn Fn(&MachineState) -> bool,
    ) -> Result<Option<(MachineState, Option<Transition>)>, StateError>;
    /// Appends to a machine's boot timeline.
    fn record(&self, machine: &str, event: &BootEvent) -> Result<(), StateError>;
    /// A machine's boot timeline, oldest first (the most recent `limit` entries).
    fn events(&self, machine: &str, limit: usize) -> Result<Vec<BootEvent>, StateError>;
    /// Records the address dhcpd acknowledged to one of a machine's MACs (the last one
    /// wins), so that httpd-tree serves the machine's own files to that address.
    fn record_ack(&self, machine: &str, address: Ipv4Addr, at: u64) -> Result<(), StateError>;
    /// The address dhcpd last acknowledged to one of the machine's MACs, if any.
    fn acked_address(&self, machine: &str) -> Result<Option<Ipv4Addr>, StateError>;
    /// Records the address `dhcpd -6` last bound to one of the machine's MACs (kept apart
    /// from the IPv4 one: a dual-stack machine has both).
    fn record_ack6(&self, machine: &str, address: Ipv6Addr, at: u64) -> Result<(), StateError>;
    /// The address `dhcpd -6` last bound to one of the machine's MACs, if any.
    fn acked_address6(&self, machine: &str) -> Result<Option<Ipv6Addr>, StateError>;
    /// The acknowledged address of `client`'s family: what the owner rule compares a
    /// requester with ([`crate::owner::is_machine`]).
    fn acked_address_for(
        &self,
        machine: &str,
        client: std::net::IpAddr,
    ) -> Result<Option<std::net::IpAddr>, StateError> {
        Ok(match crate::owner::canonical(client) {
            std::net::IpAddr::V4(_) => self.acked_address(machine)?.map(Into::into),
            std::net::IpAddr::V6(_) => self.acked_address6(machine)?.map(Into::into),
        })
    }
    /// The machine whose last acknowledged address is `address`, if any: how tftpd and
    /// httpd-tree put a file fetched from a pool address into the right timeline.
    fn machine_acked_at(&self, address: Ipv4Addr) -> Result<Option<String>, StateError>;
    /// The key of the machines' callback tokens: read, or created once (32 random bytes)
    /// by whichever process asks first; every process sharing the store gets the same.
    fn secret(&self) -> Result<Secret, StateError>;
    /// Every stored machine's install state, without histories (what a boot plan needs).
    fn install_states(&self) -> Result<BTreeMap<String, InstallState>, StateError> {
        Ok(self
            .all()?
            .into_iter()
            .map(|(name, m)| (name, m.state))
            .collect())
    }
    /// Reached over the network (a database), so that a caller on a packet path reads a
    /// copy refreshed off that path instead of asking at each packet.
    fn remote(&self) -> bool {
        false
    }
    /// The directory holding the store's files, for a reader that looks for changed files
    /// itself (none: a database, whose changes are announced instead).
    fn local_dir(&self) -> Option<&std::path::Path> {
        None
    }
}

/// The address dhcpd last acknowledged to a machine, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    pub address: Ipv4Addr,
    /// Unix time in milliseconds.
    pub at: u64,
}

/// The address `dhcpd -6` last bound to a machine, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked6 {
    pub address: Ipv6Addr,
    /// Unix time in milliseconds.
    pub at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstallState::*;

    #[test]
    fn transition_table() {
        let cases = [
            (Pending, StateEvent::AnswerFetched, Some(Installing)),
            (Pending, StateEvent::Installed, Some(Installed)),
            (Pending, StateEvent::Reinstall, None),
            (Installing, StateEvent::AnswerFetched, None),
            (Installing, StateEvent::Installed, Some(Installed)),
            (Installing, StateEvent::Reinstall, Some(Pending)),
            (Installed, StateEvent::AnswerFetched, None),
            (Installed, StateEvent::Installed, None),
            (Installed, StateEvent::Reinstall, Some(Pending)),
            (Pending, StateEvent::Failed, Some(Failed)),
            (Installing, StateEvent::Failed, Some(Failed)),
            (Installed, StateEvent::Failed, None),
            (Failed, StateEvent::Failed, None),
            (Failed, StateEvent::Reinstall, Some(Pending)),
            (Failed, StateEvent::AnswerFetched, Some(Installing)),
            (Failed, StateEvent::Installed, Some(Installed)),
            (Installing, StateEvent::Booted, None),
            (Installed, StateEvent::Booted, None),
        ];
        for (from, ev, want) in cases {
            assert_eq!(next(from, ev), want, "{from:?} + {ev:?}");
        }
    }

    #[test]
    fn apply_keeps_history_and_version() {
        let mut s = MachineState::default();
        assert!(s.apply(StateEvent::AnswerFetched, 10).is_some());
        assert!(s.apply(StateEvent::AnswerFetched, 11).is_none());
        assert!(s.apply(StateEvent::Installed, 12).is_some());
        assert_eq!(s.state, Installed);
        assert_eq!(s.since, 12);
        assert_eq!(s.version, 3);
        assert_eq!(s.history.len(), 2);
    }

    #[test]
    fn a_reinstall_starts_a_new_generation_and_tokens_follow_it() {
        let secret = Secret::from_bytes(&[1u8; 32]);
        let mut s = MachineState::default();
        let t0 = machine_token(&secret, "web01", 0);
        assert!(s.accepts_token(&secret, "web01", &t0));
        s.apply(StateEvent::AnswerFetched, 1);
        assert!(s.accepts_token(&secret, "web01", &t0));
        assert!(!s.accepts_token(&secret, "web02", &t0));
        s.apply(StateEvent::Installed, 2);
        assert!(!s.accepts_token(&secret, "web01", &t0), "used");
        s.apply(StateEvent::Reinstall, 3);
        assert_eq!(s.generation, 1);
        assert!(!s.accepts_token(&secret, "web01", &t0), "stale");
        let t1 = machine_token(&secret, "web01", 1);
        assert!(s.accepts_token(&secret, "web01", &t1));
        // A reinstall that changes nothing (already pending) starts no new generation.
        s.apply(StateEvent::Reinstall, 4);
        assert_eq!(s.generation, 1);
        // The first boot is reported once per generation, after the install.
        let t1_boot = machine_token(&secret, "web01", 1);
        assert!(
            !s.accepts_boot_token(&secret, "web01", &t1_boot),
            "not installed yet"
        );
        s.apply(StateEvent::Installed, 5);
        assert!(s.accepts_boot_token(&secret, "web01", &t1_boot));
        assert!(!s.accepts_boot_token(&secret, "web01", &t0), "stale");
        s.apply(StateEvent::Booted, 6);
        assert_eq!(s.booted, Some(6));
        assert!(
            !s.accepts_boot_token(&secret, "web01", &t1_boot),
            "only once"
        );
        s.apply(StateEvent::Reinstall, 7);
        assert_eq!(s.booted, None, "a new generation boots anew");
        // Stored states from before generations read as generation 0.
        let old: MachineState =
            serde_json::from_str(r#"{"state":"installed","since":5,"version":2,"history":[]}"#)
                .expect("old state file");
        assert_eq!(old.generation, 0);
    }
}
