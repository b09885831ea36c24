//! Integration tests: the real `tftpd` binary against real TFTP clients on loopback.

mod checks;
mod clients;
mod database;
mod inetd;
mod inventory;
mod ipv6;
mod limits;
mod owner;
mod privileges;
mod protocol;
mod pxelinux_files;
mod remap;
mod support;
