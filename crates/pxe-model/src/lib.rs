//! pxe-model: what every pxe-suite daemon agrees on.
//!
//! Brief overview: an [`Inventory`] (distros, profiles, machines, servers) is loaded
//! from YAML with every error located and reported at once. From what a DHCP
//! client says ([`ClientInfo`]) and the machine's install state, [`plan`] decides
//! what it boots; the renderers produce the pxelinux, GRUB and iPXE files and the
//! answer files on each request; a [`StateStore`] keeps each machine's install
//! state, so a machine that has installed boots from disk next time; [`owner`] says who
//! may fetch a machine's own files (httpd-tree and tftpd apply it alike).
//!
//! Architecture invariant: this crate does no network I/O. Its only file I/O is
//! loading the inventory and templates, the state store, and reading install trees
//! for import.

pub mod anaconda;
mod build;
mod build_deploy;
mod build_power;
pub mod client;
pub mod deploy;
pub mod deploy_plan;
pub mod diag;
pub mod entry_dir;
pub mod import;
pub mod inventory;
pub mod loader_probes;
pub mod location;
pub mod mac;
pub mod machine_dir;
pub mod menu;
pub mod owner;
pub mod plan;
pub mod power;
pub mod render;
pub mod schema;
pub mod stall;
pub mod state;
pub mod syslinux;
mod template;
pub mod timeline;
pub mod urls;
mod yaml;

pub use client::{ClientArch, ClientInfo, Firmware};
pub use diag::{Diagnostic, Diagnostics, Pos};
pub use inventory::{
    Arch, Chain, Distro, Family, Inventory, Loaders, Machine, Menu, Netboot, Profile, Release,
    ReleaseFrom, Servers, Tree, UnknownPolicy,
};
pub use mac::MacAddr;
pub use plan::{BootFile, BootPlan, NoBoot, Target, plan, plan_v6};
pub use state::{FileStore, InstallState, StateStore};
pub use template::TemplateError;

use std::path::{Path, PathBuf};

/// Why an inventory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read inventory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read; these are the problems in it.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Loads an inventory file, and the machines of its `machines_dir` ([`machine_dir`]);
/// relative template paths are taken from its directory.
pub fn load(path: &Path) -> Result<Inventory, LoadError> {
    load_with(path, &entry_dir::Overrides::default())
}

/// [`load`] as if the files of `overrides` were already written (or removed): how the API
/// checks a change to a distro or profile before it writes it.
pub fn load_with(path: &Path, overrides: &entry_dir::Overrides) -> Result<Inventory, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut inv = build::build(&path.display().to_string(), &text, base, overrides)
        .map_err(LoadError::Invalid)?;
    if let Some(dir) = inv.machines_dir.clone() {
        machine_dir::merge(&mut inv, &dir).map_err(|source| LoadError::Io { path: dir, source })?;
    }
    Ok(inv)
}

/// Loads an inventory from text (tests, stdin). `name` is used in messages.
pub fn load_str(name: &str, text: &str, base_dir: &Path) -> Result<Inventory, Diagnostics> {
    build::build(name, text, base_dir, &entry_dir::Overrides::default())
}
