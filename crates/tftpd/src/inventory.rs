//! The inventory's files over TFTP: a [`Generator`] built on pxe-model.
//!
//! - Boot menus (`pxelinux.cfg/…`, `grub.cfg…`, `*.ipxe`) are rendered by
//!   [`pxe_model::render::boot_file`] on each request, from the inventory and the machine's
//!   install state in the state directory; nothing is written to disk.
//! - `trees/<distro>/<path>` is served from the distro's tree directory with the same checks
//!   as the TFTP root (no `..`, nothing that leads out of the tree, world-readable unless
//!   `-p`; the server opens it with `openat2` beneath the tree), so loaders fetch kernels and
//!   initrds without a copy under the root.
//! - A machine's own files (per-MAC pxelinux and GRUB configs, its iPXE script) go only to
//!   that machine's address ([`crate::owner`]); anyone else gets ERROR 2, a warning naming the
//!   machine, the file and the address, and a `refused` entry in the machine's timeline.
//!   Menus, GRUB's root file and trees go to anyone.
//! - Every file a known machine fetched becomes a boot event in its timeline: the machine is
//!   the one a generated file was made for, or else the one whose fixed address the client
//!   has, or else the one dhcpd last acknowledged the client's address to.
//!
//! The inventory can be replaced while serving ([`InventoryFiles::reload`], on SIGHUP); a
//! request sees either the old or the new one, never a mix.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use pxe_model::state::{BootEvent, Phase, StateStore};
use pxe_model::{FileStore, InstallState, Inventory, LoadError, Tree};

use crate::generated::{Generated, Generator, Served};
use crate::owner::{self, Verdict};
use crate::resolve::{self, Access, Denied, Policy, Roots};

/// Where install state is kept.
#[derive(Debug, Clone)]
pub enum StateSource {
    /// A state directory, opened at each use (after privileges were dropped, so that what
    /// it creates belongs to the server's user).
    Dir(PathBuf),
    /// A store shared by every daemon (the database).
    Shared(Arc<dyn StateStore>),
}

impl From<&Path> for StateSource {
    fn from(dir: &Path) -> StateSource {
        StateSource::Dir(dir.to_owned())
    }
}

/// Boot menus and distro trees from an inventory file, with install state from a state
/// directory or the database.
pub struct InventoryFiles {
    path: PathBuf,
    state: Option<StateSource>,
    current: RwLock<Arc<Inventory>>,
}

impl InventoryFiles {
    /// Loads the inventory at `path`. Without a state directory every machine counts as
    /// pending and no boot event is recorded.
    pub fn load(path: &Path, state: Option<StateSource>) -> Result<InventoryFiles, LoadError> {
        let inv = pxe_model::load(path)?;
        Ok(InventoryFiles::new(path, state, inv))
    }

    /// Wraps an inventory already loaded from `path` (what [`InventoryFiles::reload`] reads).
    pub fn new(path: &Path, state: Option<StateSource>, inventory: Inventory) -> InventoryFiles {
        InventoryFiles {
            path: path.to_owned(),
            state,
            current: RwLock::new(Arc::new(inventory)),
        }
    }

    /// The inventory file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The inventory in use.
    pub fn inventory(&self) -> Arc<Inventory> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the inventory file again. A file that does not load is refused and the one in
    /// use stays.
    pub fn reload(&self) -> Result<Arc<Inventory>, LoadError> {
        let inv = Arc::new(pxe_model::load(&self.path)?);
        match self.current.write() {
            Ok(mut g) => *g = Arc::clone(&inv),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&inv),
        }
        Ok(inv)
    }

    fn store(&self) -> Option<Result<Arc<dyn StateStore>, pxe_model::state::StateError>> {
        Some(match self.state.as_ref()? {
            StateSource::Dir(dir) => {
                FileStore::open(dir).map(|s| Arc::new(s) as Arc<dyn StateStore>)
            }
            StateSource::Shared(store) => Ok(Arc::clone(store)),
        })
    }

    /// A machine's install state; `Pending` (with a warning) when the store cannot say.
    fn state_of(&self, machine: &str) -> InstallState {
        match self.store().map(|s| s.and_then(|s| s.get(machine))) {
            None => InstallState::Pending,
            Some(Ok(m)) => m.state,
            Some(Err(e)) => {
                tracing::warn!(machine, error = %e, "cannot read install state, taking pending");
                InstallState::Pending
            }
        }
    }

    /// The address dhcpd (or `dhcpd -6`, for an IPv6 client) last acknowledged to a
    /// machine; `Err` says why it cannot be known.
    fn acked_address(&self, machine: &str, client: IpAddr) -> Result<Option<IpAddr>, String> {
        match self.store() {
            None => Err("tftpd runs without --state-dir or --database".into()),
            Some(Err(e)) => Err(format!("cannot open the install state: {e}")),
            Some(Ok(s)) => s
                .acked_address_for(machine, client)
                .map_err(|e| e.to_string()),
        }
    }

    /// Lets a request for `machine`'s own file `name` through only from the machine's
    /// address or a listed NAT gateway ([`owner::judge`]); a refusal is logged and put on
    /// the machine's timeline.
    fn only_for_owner(
        &self,
        inv: &Inventory,
        machine: &str,
        client: IpAddr,
        name: &str,
    ) -> Result<(), Denied> {
        let m = inv.machines.get(machine).ok_or(Denied::NotFound)?;
        match owner::judge(&inv.servers, m, client, || {
            self.acked_address(machine, client)
        }) {
            Verdict::Machine => Ok(()),
            Verdict::NatGateway => {
                tracing::debug!(machine, %client, file = %name, "per-machine file to a NAT gateway");
                Ok(())
            }
            Verdict::Refused(reason) => {
                tracing::warn!(machine, %client, file = %name, "per-machine file refused: {reason}");
                self.record(
                    machine,
                    BootEvent {
                        at: crate::server::unix_ms(),
                        phase: Phase::Refused,
                        detail: format!("refused {name} to {client} over TFTP"),
                    },
                );
                Err(Denied::NotTheMachine {
                    machine: machine.to_owned(),
                })
            }
        }
    }

    /// Appends to a machine's timeline, when there is a state directory.
    fn record(&self, machine: &str, event: BootEvent) {
        let store = match self.store() {
            None => return,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot open the state directory");
                return;
            }
        };
        if let Err(e) = store.record(machine, &event) {
            tracing::warn!(%machine, error = %e, "cannot record boot event");
        }
    }

    /// A file of a distro's tree, checked like a file under the root.
    fn tree_file(
        &self,
        distro: &str,
        dir: &Path,
        inside: &str,
        policy: &Policy,
    ) -> Result<Generated, Denied> {
        let tree = Roots::new(&[dir.to_owned()], true).map_err(|e| {
            tracing::warn!(distro, tree = %dir.display(), error = %e, "distro tree unusable");
            Denied::NotFound
        })?;
        resolve::resolve(&tree, inside, Access::Read, policy).map(Generated::File)
    }
}

fn ipv4(client: IpAddr) -> Option<Ipv4Addr> {
    match client.to_canonical() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// The inventory machine whose fixed address `client` has.
pub fn machine_at(inv: &Inventory, client: IpAddr) -> Option<String> {
    ipv4(client)
        .and_then(|ip| inv.machine_by_address(ip))
        .map(|m| m.name.clone())
}

/// Names in the space boot loaders look up their menus in, whether or not the inventory
/// renders this one now: `pxelinux.cfg/*` (pxelinux tries MAC, UUID, hex address prefixes
/// and `default`, so a planted `pxelinux.cfg/C0A8` would catch machines the inventory does
/// not know), `grub.cfg` and `grub.cfg-*`, `*.ipxe`, and everything under `trees/`.
pub fn boot_namespace(name: &str) -> bool {
    let name = name.trim_start_matches('/');
    let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
    let dir_last = dir.rsplit('/').next().unwrap_or(dir);
    let lower = file.to_ascii_lowercase();
    dir_last.eq_ignore_ascii_case("pxelinux.cfg")
        || lower == "grub.cfg"
        || lower.starts_with("grub.cfg-")
        || lower.ends_with(".ipxe")
        || name == "trees"
        || name.starts_with("trees/")
}

impl Generator for InventoryFiles {
    fn generate(&self, client: IpAddr, name: &str, policy: &Policy) -> Result<Generated, Denied> {
        let inv = self.inventory();
        if let Some(kind) = pxe_model::render::classify(&inv, name, ipv4(client)) {
            if let Some(machine) = kind.machine() {
                self.only_for_owner(&inv, machine, client, name)?;
            }
            let state_of = |machine: &str| self.state_of(machine);
            if let Some(g) = pxe_model::render::render(&inv, &kind, &state_of) {
                return Ok(Generated::Content {
                    content: g.content.into_bytes(),
                    machine: g.machine,
                });
            }
        }
        match pxe_model::urls::tree_request(&inv, name) {
            Some((distro, inside)) => match &distro.tree {
                Tree::Dir(dir) => self.tree_file(&distro.name, dir, inside, policy),
                Tree::Url(_) => Err(Denied::NotFound),
            },
            None => Err(Denied::NotFound),
        }
    }

    /// The machine at `client`: by its fixed address, or else the inventory machine dhcpd
    /// last acknowledged that address to (a machine on a pool address).
    fn machine_at(&self, client: IpAddr) -> Option<String> {
        let inv = self.inventory();
        machine_at(&inv, client).or_else(|| {
            let ip = ipv4(client)?;
            match self.store()? {
                Ok(store) => match store.machine_acked_at(ip) {
                    Ok(name) => name.filter(|n| inv.machines.contains_key(n)),
                    Err(e) => {
                        tracing::warn!(%ip, error = %e, "cannot read which machine has this address");
                        None
                    }
                },
                Err(_) => None,
            }
        })
    }

    fn claims(&self, name: &str) -> bool {
        let inv = self.inventory();
        boot_namespace(name)
            || pxe_model::render::boot_file(&inv, name, None, &|_| InstallState::Pending).is_some()
            || pxe_model::urls::tree_request(&inv, name).is_some()
    }

    fn served(&self, served: &Served<'_>, now_ms: u64) {
        if self.state.is_none() {
            return;
        }
        // The machine it was generated for, or the one at the client's address.
        let machine = match served.machine {
            Some(m) => Some(m.to_owned()),
            None => self.machine_at(served.client),
        };
        let Some(machine) = machine else {
            return;
        };
        let event = BootEvent {
            at: now_ms,
            phase: Phase::Tftp,
            detail: format!("{} ({} bytes)", served.name, served.bytes),
        };
        self.record(&machine, event);
    }
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
