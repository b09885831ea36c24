//! The shell around [`super::plan`] in `dhcpd -6`: the inventory (loaded at start, loaded
//! again when it or its directories change), the state directory (install states read,
//! bound addresses recorded), and the log line that says what a machine was given.

use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pxe_model::state::StateStore;
use pxe_model::{FileStore, InstallState, Inventory, NoBoot};

use super::leases::{Binding, State};
use super::plan::{self, MacFrom};
use super::wire::{Message, kind};

/// The inventory and state a `dhcpd -6` with `--inventory` plans from.
pub struct Plans {
    inventory: Arc<Inventory>,
    store: Option<FileStore>,
}

/// Who a message came from, as far as the inventory goes.
pub struct Client {
    pub machine: Option<String>,
    mac: pxe_model::MacAddr,
    from: MacFrom,
}

impl Plans {
    /// Loads the inventory and opens the state directory (created when missing).
    pub fn open(inventory: &str, state_dir: Option<&str>) -> anyhow::Result<Plans> {
        let inv = pxe_model::load(Path::new(inventory)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let store = match state_dir {
            Some(d) => Some(FileStore::open(Path::new(d)).map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        Ok(Plans {
            inventory: Arc::new(inv),
            store,
        })
    }

    /// Watches the inventory and its directories; each settled change loads it into
    /// `plans` again (a broken file is logged and the last good one kept).
    pub fn watch(
        plans: &Arc<Mutex<Option<Plans>>>,
        path: &str,
    ) -> Option<pxe_daemon::watch::Watch> {
        let dirs = plans
            .lock()
            .ok()?
            .as_ref()
            .map(|p| p.inventory.entry_dirs())?;
        let target = Arc::clone(plans);
        let file = path.to_owned();
        let reload = move || match pxe_model::load(Path::new(&file)) {
            Ok(inv) => {
                tracing::info!("Inventory {file} reloaded: {} machines", inv.machines.len());
                if let Ok(mut g) = target.lock()
                    && let Some(p) = g.as_mut()
                {
                    p.inventory = Arc::new(inv);
                }
            }
            Err(e) => tracing::error!("Inventory {file} not reloaded, the last one stays: {e}"),
        };
        pxe_daemon::watch::inventory(Path::new(path), &dirs, reload)
            .map_err(|e| tracing::warn!("cannot watch the inventory {path}: {e}"))
            .ok()
    }

    /// The client's MAC and inventory machine, when its DUID or link-local source names one.
    pub fn client(&self, msg: &Message, source: Ipv6Addr) -> Option<Client> {
        let (mac, from) = plan::client_mac(msg, source)?;
        let machine = self.inventory.machine_by_mac(&mac).map(|m| m.name.clone());
        Some(Client { machine, mac, from })
    }

    fn install_state(&self, machine: Option<&str>) -> InstallState {
        let (Some(store), Some(name)) = (&self.store, machine) else {
            return InstallState::Pending;
        };
        match store.get(name) {
            Ok(m) => m.state,
            Err(e) => {
                tracing::warn!("cannot read the install state of {name}, taking pending: {e}");
                InstallState::Pending
            }
        }
    }

    /// Puts the client's boot plan into `reply`; the log's words for what it got (none
    /// for a client that is not booting).
    pub fn apply(&self, client: &Client, msg: &Message, reply: &mut Message) -> Option<String> {
        let info = plan::client_info(msg, client.mac);
        let state = self.install_state(client.machine.as_deref());
        let who = format!(
            "{} ({} from its {})",
            client.machine.as_deref().unwrap_or("unknown machine"),
            client.mac,
            client.from.as_str()
        );
        match plan::apply(&self.inventory, &info, state, msg, reply) {
            Ok(p) => Some(format!("{who} boots {}", p.boot_file.as_str())),
            Err(NoBoot::NotABootClient | NoBoot::UnknownMachine) => None,
            Err(why) => Some(format!("{who} gets no boot file: {why}")),
        }
    }

    /// Records the address a Reply bound to an inventory machine, so that httpd-tree and
    /// tftpd give its own files to that address, and puts the exchange on the machine's
    /// timeline (`got`: what [`Plans::apply`] said it boots).
    pub fn record_bound(
        &self,
        client: &Client,
        reply: &Message,
        changes: &[(Vec<u8>, Binding)],
        got: Option<&str>,
    ) {
        use pxe_model::state::{BootEvent, Phase};
        let (Some(store), Some(name)) = (&self.store, client.machine.as_deref()) else {
            return;
        };
        if reply.kind != kind::REPLY {
            return;
        }
        let Some((_, bound)) = changes.iter().rev().find(|(_, b)| b.state == State::Active) else {
            return;
        };
        let at = now_ms();
        if let Err(e) = store.record_ack6(name, bound.addr, at) {
            tracing::warn!("cannot record {} as bound to {name}: {e}", bound.addr);
        }
        let detail = match got {
            Some(g) => format!("DHCPv6 Reply {} to {}: {g}", bound.addr, client.mac),
            None => format!("DHCPv6 Reply {} to {}", bound.addr, client.mac),
        };
        let ev = BootEvent {
            at,
            phase: Phase::Dhcp,
            detail,
        };
        if let Err(e) = store.record(name, &ev) {
            tracing::warn!("boot event for {name}: {e}");
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
