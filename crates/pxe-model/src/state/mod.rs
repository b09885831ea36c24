//! Install state per machine: `pending → installing → installed`, and back by `reinstall`.
//!
//! The transition rules are pure ([`next`]); a [`StateStore`] keeps the states and each
//! machine's boot timeline. The embedded store is [`FileStore`]: one file per machine.

mod file;
mod token;

pub use file::FileStore;
pub(crate) use file::valid_name;
pub use token::{Secret, machine_token, token_matches};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
}

impl InstallState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallState::Pending => "pending",
            InstallState::Installing => "installing",
            InstallState::Installed => "installed",
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
}

/// The pure transition rule. `None`: the event changes nothing.
pub fn next(state: InstallState, event: StateEvent) -> Option<InstallState> {
    use InstallState::*;
    match (state, event) {
        (Pending, StateEvent::AnswerFetched) => Some(Installing),
        (Pending | Installing, StateEvent::Installed) => Some(Installed),
        (Installing | Installed, StateEvent::Reinstall) => Some(Pending),
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
    /// Every change, oldest first.
    pub history: Vec<Transition>,
}

impl MachineState {
    /// Applies an event; returns the transition if the state changed.
    pub fn apply(&mut self, event: StateEvent, at: u64) -> Option<Transition> {
        self.version += 1;
        let to = next(self.state, event)?;
        let t = Transition {
            from: self.state,
            to,
            event,
            at,
        };
        self.state = to;
        self.since = at;
        self.history.push(t.clone());
        Some(t)
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
    #[error("machine name {0:?} cannot name a state file")]
    BadName(String),
}

/// Install state and boot timelines, shared by every daemon.
pub trait StateStore: Send + Sync {
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
    /// Appends to a machine's boot timeline.
    fn record(&self, machine: &str, event: &BootEvent) -> Result<(), StateError>;
    /// A machine's boot timeline, oldest first (the most recent `limit` entries).
    fn events(&self, machine: &str, limit: usize) -> Result<Vec<BootEvent>, StateError>;
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
}
