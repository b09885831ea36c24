//! The shell that pxe-suite's three daemons share, kept out of `pxe-model` (which holds the
//! inventory and is pure):
//!
//! - [`manual`]: one definition of a command's page, rendered as `--help` text and as a
//!   roff manual page, so the two never drift apart;
//! - [`notify`]: systemd's readiness, reload and watchdog notifications;
//! - [`logging`]: the subscriber, line formats (text, journal, JSON), syslog, held lines;
//! - [`metrics`]: one Prometheus registry each daemon registers its metrics into;
//! - [`signals`]: SIGHUP reloads and SIGTERM/SIGINT stops, with systemd told of each;
//! - [`time`]: calendar times for logs, pages and the API;
//! - [`secret`]: constant-time comparison of secrets;
//! - [`beneath`]: opening a file beneath a root directory without leaving it;
//! - [`crowd_socket`]: receive buffers that hold a crowd's first datagrams;
//! - [`watch`]: reloads without a signal when the inventory or its machines directory
//!   changes.

pub mod beneath;
pub mod crowd_socket;
pub mod inventory_manual;
pub mod logging;
pub mod manual;
pub mod manual_clap;
pub mod metrics;
pub mod notify;
pub mod secret;
pub mod signals;
pub mod time;
pub mod watch;

pub use logging::LogFormat;
pub use manual::{Block, Manual, Opt, OptGroup, Section, defs};
