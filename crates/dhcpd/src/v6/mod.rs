//! DHCPv6 (`dhcpd -6`): ISC's second process, serving IPv6 addresses and netboot URLs.
//!
//! `wire` reads and writes RFC 8415 messages (defensively: any malformed input is an error,
//! never a panic); `conf` reads the `dhcpd6.conf` subset for netboot (`subnet6`, `range6`,
//! hosts by `dhcp6.client-id`, `fixed-address6`, options and `if`/`class` tests on options);
//! `duid` makes and stores the server DUID; `leases` is the table and ISC's `dhcpd6.leases`
//! format; `decide` is the pure core (message, configuration, table and time in; reply and
//! lease changes out); `plan` puts the inventory's boot plans into replies (`--inventory`);
//! `server` is the socket shell on UDP 547.

pub mod args;
pub mod boot;
pub mod conf;
pub mod decide;
pub mod duid;
pub mod leases;
pub mod plan;
pub mod server;
pub mod wire;
