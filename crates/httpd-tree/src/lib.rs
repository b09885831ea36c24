//! `httpd-tree` of pxe-suite. Skeleton: the command line is still to come.

/// One-paragraph description printed by `--help`.
pub const ABOUT: &str = "pxe-suite httpd-tree (skeleton: not serving yet)";
