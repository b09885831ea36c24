//! Inventory machines as host reservations: each MAC of each machine becomes a host
//! declaration (with the machine's fixed address when it has one, else it takes a pool
//! address), marked with the machine's name so the core asks `pxe_model::plan` for its boot
//! file, next server and vendor class. A `dhcpd.conf` with a subnet and a range is enough.

use std::sync::Arc;

use pxe_model::Inventory;

use crate::conf::ast::OptionOp;
use crate::lease::Hardware;

use super::{Config, DHCP, Exec, Group, HostDecl, OptVal, ROOT};

/// Add the machines of `inv` to `cfg` as hosts, after the configuration's own hosts (a host
/// of `dhcpd.conf` with the same hardware address is found first, as ISC finds the first
/// declaration).
pub fn add_inventory(cfg: &mut Config, inv: Arc<Inventory>) {
    for m in inv.machines.values() {
        let short = pxe_model::plan::short_hostname(&m.hostname).to_string();
        for mac in &m.macs {
            let mut stmts = Vec::new();
            if !short.is_empty() {
                stmts.push(Exec::Opt {
                    op: OptionOp::Supersede,
                    space: DHCP,
                    code: 12,
                    value: OptVal::Const(short.as_bytes().to_vec()),
                });
            }
            let authoritative = cfg.groups.get(ROOT).is_some_and(|g| g.authoritative);
            let group = cfg.add_group(Group {
                parent: Some(ROOT),
                stmts,
                authoritative,
            });
            cfg.add_host(HostDecl {
                name: m.name.clone(),
                hardware: Some(Hardware::ethernet(mac.0)),
                uid: None,
                fixed: m.address.into_iter().collect(),
                identifier: None,
                group,
                machine: Some(m.name.clone()),
                dynamic: false,
                removed: false,
                named_group: None,
            });
        }
    }
    cfg.inventory = Some(inv);
}
