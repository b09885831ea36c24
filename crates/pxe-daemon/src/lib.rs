//! The shell that pxe-suite's three daemons share, kept out of `pxe-model` (which holds the
//! inventory and is pure):
//!
//! - [`manual`]: one definition of a command's page, rendered as `--help` text and as a
//!   roff manual page, so the two never drift apart;
//! - [`notify`]: systemd's readiness, reload and watchdog notifications;
//! - [`log_format`]: how log lines look on a terminal, in the journal (no second timestamp,
//!   the level as a syslog priority) and in a container (one JSON object per line).

pub mod inventory_manual;
pub mod log_format;
pub mod manual;
pub mod notify;

pub use log_format::LogFormat;
pub use manual::{Block, Manual, Opt, OptGroup, Section, defs};
