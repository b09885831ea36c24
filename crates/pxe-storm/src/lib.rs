//! pxe-storm: thousands of simulated machines network-booting at once, against any DHCP,
//! TFTP and HTTP servers (ours, ISC dhcpd + tftpd-hpa + nginx, dnsmasq). Each machine
//! does what its firmware would: DHCP with PXE options, TFTP of its loader with the
//! options that firmware negotiates, then its config, kernel, answer file and a tree file.
//! Protocol steps are pure ([`dhcp`], [`tftp`], [`plan`], [`report`]); [`dhcp_port`],
//! [`fetch`] and [`machine`] hold the sockets.

pub mod cli;
pub mod dhcp;
pub mod dhcp_port;
pub mod fetch;
pub mod firmware;
pub mod machine;
pub mod manual;
pub mod plan;
pub mod report;
pub mod storm;
pub mod tftp;
