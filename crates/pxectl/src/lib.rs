//! pxectl: the operator's command-line client of httpd-tree's JSON API (docs/api.yaml).
//!
//! - [`cli`]: the command line (clap), also the source of the manual page;
//! - [`client`]: the HTTP client (ureq), the server and token, errors as the API gives them;
//! - [`app`]: each command, with table output for people and `--json` for scripts;
//! - [`hosts`]: ISC `host` blocks of a dhcpd.conf (dhcpd's own parser) as machines;
//! - [`table`]: plain aligned columns.

pub mod app;
pub mod cli;
pub mod client;
pub mod hosts;
pub mod manual;
pub mod table;
