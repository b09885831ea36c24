//! `httpd-tree` of pxe-suite: install trees, rendered answer files, boot scripts,
//! the install-state API with the install-complete callback, the web console at `/`
//! ([`console`]), a status page and metrics.
//!
//! Brief overview: [`route::route`] is the pure decision (a request and the loaded
//! [`route::State`] in, a [`route::Route`] out: a file inside a tree, an answer file, a
//! boot script, an API call, or a refusal with its reason). [`service`] turns a route
//! into a response (streaming files, rendering, applying state events) and
//! [`server`] owns the sockets: listeners, connection limits, timeouts, signals.
//!
//! Architecture invariants: a path served from disk always went through
//! [`safe_path`]; nothing under `route`, `owner`, `conditional`, `range`, `html`, `status_page`,
//! `console_page`, `api` or `metrics` touches a socket or reads the clock.

pub mod access_log;
pub mod api;
pub mod api_entries;
pub mod api_write;
pub mod app;
pub mod bmc;
pub mod body;
pub mod cli;
pub mod conditional;
pub mod console;
pub mod console_feed;
pub mod console_page;
pub mod console_session;
pub mod deploy;
pub mod html;
pub mod import_cmd;
pub mod import_more;
pub mod manual;
pub mod metrics;
pub mod mime;
pub mod owner;
pub mod power;
pub mod range;
pub mod route;
pub mod safe_path;
pub mod server;
pub mod service;
pub mod static_file;
pub mod status_page;
pub mod write_timeout;
