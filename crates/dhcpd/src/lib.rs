//! `dhcpd` of pxe-suite: a drop-in replacement for ISC dhcpd 4.4 for PXE networks.
//!
//! Brief overview: `conf` reads ISC's `dhcpd.conf`, `model` compiles it (plus inventory
//! machines) into scopes, pools, hosts and classes; `decide` is the pure protocol core
//! (request, lease table and time in; reply, lease changes and reason out), with `eval` for
//! ISC's expressions and statements; `lease` is the `dhcpd.leases` format, the lease table
//! and the stores; `wire` turns bytes into requests and replies into bytes; `net`, `server`
//! and `app` are the thin tokio shell (logging, metrics and signals from `pxe_daemon`);
//! `hooks` runs the programs `execute` statements ask for, off the packet path; `durable`
//! tracks which leases of the table are on disk yet.
//! `cli` is ISC's command line, `check` its `-t`.

pub mod app;
pub mod check;
pub mod cli;
pub mod conf;
pub mod daemon;
pub mod decide;
mod durable;
pub mod eval;
pub mod exchange;
pub mod hooks;
mod install_states;
pub mod lease;
pub mod lease_names;
pub mod manual;
pub mod metrics;
pub mod model;
pub mod net;
pub mod omapi;
pub mod ping;
pub mod request;
pub mod server;
pub mod text;
pub mod v6;
pub mod wire;

/// One-paragraph description printed by `--help`.
pub const ABOUT: &str = "pxe-suite dhcpd: a drop-in replacement for ISC dhcpd 4.4 for PXE networks";
