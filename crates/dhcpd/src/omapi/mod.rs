//! OMAPI, the object management protocol through which omshell, Foreman's smart-proxy and
//! MAAS drive ISC dhcpd (TCP, port 7911 by convention).
//!
//! Brief overview: `wire` is the pure codec (the 8-byte startup, the 24-byte header, the
//! message and object name/value lists, the trailing signature); `sign` the HMAC
//! authenticators keyed by a `key` block of dhcpd.conf; `status` ISC's result codes with the
//! texts omshell prints; `objects` what requests do to hosts (`host`), named groups
//! (`group`) and leases (`lease`).
//! None of them touches a socket.

mod group;
mod host;
mod lease;
pub mod listener;
pub mod objects;
pub mod session;
pub mod settings;
pub mod sign;
pub mod state;
pub mod status;
pub mod wire;

#[cfg(test)]
mod tests;
