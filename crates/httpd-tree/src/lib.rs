//! `httpd-tree` of pxe-suite: install trees, rendered answer files, boot scripts.
//!
//! Built so far: the pure pieces the server will stand on, byte ranges (`range`) and
//! the mapping of request paths into a tree that never leaves it (`safe_path`). The
//! hyper service, routes and command line are issue 5's remaining work.

pub mod range;
pub mod safe_path;

/// One-paragraph description printed by `--help`.
pub const ABOUT: &str = "pxe-suite httpd-tree (not serving yet: issue 5)";
