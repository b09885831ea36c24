//! Real clients against our dhcpd, in network namespaces the tests create: ISC `dhclient`,
//! busybox `udhcpc`, Kea's `perfdhcp` (directly and as a relay), a crash test that kills the
//! server during a storm (and its long form, the ignored crash soak run by `cargo xtask
//! soak`), two servers on one database behind two ISC dhcrelay, on-commit/release hooks run by `execute()`, and the shell's own behaviour (reload,
//! interfaces, privileges, metrics, boot events). Needs root (namespaces) and the Debian
//! packages each test names.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod support;

mod clients;
mod crash;
mod database;
mod hostile;
mod omapi;
mod omapi_groups;
mod on_events;
mod perf;
mod ping_check;
mod relays;
mod shell;
mod side_by_side;
mod soak;
mod v6;
