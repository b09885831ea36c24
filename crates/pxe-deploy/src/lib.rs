//! pxe-deploy: the deploy agent, run from the deploy initramfs.
//!
//! Brief overview: it reads its plan's URL from the kernel command line
//! ([`cmdline`]), fetches the plan httpd-tree rendered for its machine ([`http`]),
//! streams the image to the disk while verifying its SHA-256 ([`stream`]), grows the
//! last partition and its file system ([`disk`]), or partitions the disk and builds
//! Debian on it with debootstrap, its kernel and GRUB ([`packages`]), writes hostname, network, users,
//! keys and a first-boot unit into the installed system ([`configure`]), reports every
//! step to httpd-tree and calls back when installed ([`run`]). A failed step is reported
//! with the log's tail, and the agent does not reboot.

pub mod cmdline;
pub mod configure;
pub mod disk;
pub mod http;
pub mod log;
pub mod packages;
pub mod run;
pub mod stream;

pub use run::{Failure, Options, deploy};
