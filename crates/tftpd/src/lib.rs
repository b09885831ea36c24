//! `tftpd` of pxe-suite: a drop-in replacement for tftpd-hpa.
//!
//! Brief overview: [`packet`] is the wire format, [`options`] negotiates RFC 2347 options,
//! [`netascii`] translates text mode, [`source`] reads files by offset, [`transfer`] and
//! [`receive`] are the pure read and write state machines ([`guard`] their time and rate
//! bounds), [`resolve`] and [`remap`] the path policy ([`remap_file`] the `-m` file, re-read
//! on SIGHUP), [`generated`] the hook for generated files and [`inventory`] its pxe-model
//! implementation (boot menus, distro trees, boot events; [`owner`] who may have a machine's
//! own files). [`server`] is the thin tokio shell that drives it all ([`drive`] one
//! transfer's thread, [`crowd`] the event loops for transfers beyond the threads, [`strangers`] its connected socket, [`affinity`] its CPU, [`busy_poll`]
//! when it polls instead of sleeping), [`app`] the binary's edge and [`cli`] tftpd-hpa's
//! command line.

pub mod affinity;
pub mod app;
pub mod busy_poll;
pub mod cli;
pub mod crowd;
pub mod drive;
pub mod files;
pub mod generated;
pub mod guard;
pub mod inventory;
pub mod manual;
pub mod netascii;
pub mod options;
pub mod owner;
pub mod packet;
pub mod pktinfo;
pub mod pxelinux_check;
pub mod receive;
pub mod remap;
pub mod remap_file;
pub mod resolve;
pub mod server;
pub mod source;
pub mod strangers;
pub mod transfer;
pub mod upload;

/// One-paragraph description printed by `--help`.
pub const ABOUT: &str = "pxe-suite tftpd: a TFTP server compatible with tftpd-hpa";
