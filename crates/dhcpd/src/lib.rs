//! `dhcpd` of pxe-suite: a drop-in replacement for ISC dhcpd 4.4. So far: the ISC `dhcpd.conf`
//! parser (`conf`), the ISC command line (`cli`) and the `-t` configuration check (`check`).

pub mod check;
pub mod cli;
pub mod conf;

/// One-paragraph description printed by `--help`.
pub const ABOUT: &str =
    "pxe-suite dhcpd: a drop-in replacement for ISC dhcpd 4.4 (configuration check only so far)";
