//! The agent binary against the workspace's httpd-tree, with a file as the disk: an
//! image is streamed, verified, grown and configured, every step reaches the server's
//! timeline, and a bad image leaves the machine `failed` with its reason on /status.
//! Needs root (loop devices, mount) and util-linux, e2fsprogs, cloud-guest-utils.

mod deploy;
mod packages;
mod support;
mod vm;
