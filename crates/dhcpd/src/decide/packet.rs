//! The state of one decision: the packet, which shared network it came from (ISC's
//! `locate_network`), which classes it is in (`classify_client`), what ISC's `packet->known`
//! says, and the leases changed so far (later steps see them, as ISC's in-memory leases).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::eval::{Bindings, Effects, Env, OptionState};
use crate::lease::{Lease, LeaseTable, Time};
use crate::model::{ClassId, Config, GroupId, HostDecl, HostId, OnStar, PoolId, SharedId};
use crate::request::{Request, code};

use super::find::Cand;
use super::{Change, Facts, Outcome, Reason};

/// A class the packet matched.
#[derive(Debug, Clone)]
pub(super) struct ClassMatch {
    /// The class (for a subclass: its parent).
    pub(super) class: ClassId,
    /// The group to run: the class's, or the subclass's.
    pub(super) group: GroupId,
    /// The subclass key, for subclasses and spawned classes.
    pub(super) key: Option<Vec<u8>>,
}

/// What running scopes builds up for one answer: the options and the variables.
#[derive(Debug, Default)]
pub(super) struct Scoped {
    pub(super) st: OptionState,
    pub(super) vars: Bindings,
    /// The lease's event handlers, as the `on` statements run so far left them.
    pub(super) on: OnStar,
}

/// A scope to run: a group, and the group at and above which it stops (run already).
pub(super) type ScopeRun = (GroupId, Option<GroupId>);

/// One decision in progress.
pub(super) struct Ctx<'a> {
    pub(super) cfg: &'a Config,
    pub(super) leases: &'a LeaseTable,
    pub(super) req: &'a Request,
    /// What the shell knows about the client.
    pub(super) facts: &'a Facts<'a>,
    pub(super) now: Time,
    /// ISC's `packet->shared_network`.
    pub(super) shared: Option<SharedId>,
    /// ISC's `packet->known`.
    pub(super) known: bool,
    /// Matched classes, in match order.
    pub(super) classes: Vec<ClassMatch>,
    /// Names of the matched classes and of their superclasses (for `members of`, `check`).
    pub(super) class_names: Vec<String>,
    /// Leases changed by this decision so far.
    overlay: HashMap<Ipv4Addr, Lease>,
    /// The outcome being built.
    pub(super) out: Outcome,
    /// ISC's `packet->got_requested_address`.
    pub(super) got_requested_address: bool,
    /// ISC's `dhcp_message`: the text of option 56 in a NAK.
    pub(super) dhcp_message: Option<&'static str>,
    /// The relay agent options came from the lease, not the packet: not echoed.
    pub(super) agent_stashed: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        cfg: &'a Config,
        leases: &'a LeaseTable,
        req: &'a Request,
        facts: &'a Facts<'a>,
        now: Time,
    ) -> Self {
        Ctx {
            cfg,
            leases,
            req,
            facts,
            now,
            shared: None,
            known: false,
            classes: Vec::new(),
            class_names: Vec::new(),
            overlay: HashMap::new(),
            out: Outcome::new(Reason::Ignored(super::Ignore::UnknownMessageType)),
            got_requested_address: false,
            dhcp_message: None,
            agent_stashed: false,
        }
    }

    /// The relay agent options to return in a reply (not stashed ones).
    pub(super) fn agent_echo(&self) -> Option<&'a [u8]> {
        if self.agent_stashed {
            None
        } else {
            self.req.option(code::RELAY_AGENT_INFORMATION)
        }
    }

    pub(super) fn finish(self) -> Outcome {
        self.out
    }

    pub(super) fn log(&mut self, line: impl Into<String>) {
        self.out.log.push(line.into());
    }

    pub(super) fn ignore(&mut self, why: super::Ignore) {
        self.out.reason = Reason::Ignored(why);
    }

    /// Record a changed lease; later lookups in this decision see it.
    pub(super) fn change(&mut self, lease: Lease, persist: bool) {
        self.overlay.insert(lease.ip, lease.clone());
        if let Some(c) = self.out.changes.iter_mut().find(|c| c.lease.ip == lease.ip) {
            c.persist |= persist;
            c.lease = lease;
        } else {
            self.out.changes.push(Change {
                lease,
                persist,
                decline: None,
            });
        }
    }

    /// The lease on `ip` as ISC's `find_lease_by_ip_addr` sees it: only addresses of a
    /// range have leases; a range address never used is a virgin free lease.
    pub(super) fn lease_at(&self, ip: Ipv4Addr) -> Option<Lease> {
        self.cfg.pool_of(ip)?;
        Some(self.stored(ip).unwrap_or_else(|| Lease::virgin(ip)))
    }

    /// The recorded lease on `ip` (changed in this decision, or from the table).
    pub(super) fn stored(&self, ip: Ipv4Addr) -> Option<Lease> {
        self.overlay
            .get(&ip)
            .cloned()
            .or_else(|| self.leases.get(ip).cloned())
    }

    /// No lease changed in this decision yet.
    pub(super) fn overlay_empty(&self) -> bool {
        self.overlay.is_empty()
    }

    /// The lowest address of `[low, high]` with no lease recorded anywhere.
    pub(super) fn first_virgin(&self, low: Ipv4Addr, high: Ipv4Addr) -> Option<Ipv4Addr> {
        let mut from = low;
        loop {
            let ip = self.leases.first_virgin(from, high)?;
            if !self.overlay.contains_key(&ip) {
                return Some(ip);
            }
            if ip >= high {
                return None;
            }
            from = Ipv4Addr::from(u32::from(ip) + 1);
        }
    }

    /// Was the lease on `ip` changed in this decision (the table's is stale)?
    pub(super) fn overlaid(&self, ip: Ipv4Addr) -> bool {
        self.overlay.contains_key(&ip)
    }

    /// The leases in `[low, high]` changed in this decision.
    pub(super) fn overlay_in(&self, low: Ipv4Addr, high: Ipv4Addr) -> Vec<Lease> {
        self.overlay
            .values()
            .filter(|l| crate::lease::in_range(l.ip, low, high))
            .cloned()
            .collect()
    }

    /// Leases of a hardware address / client id, best first, with this decision's changes.
    pub(super) fn leases_of(
        &self,
        hw: Option<&crate::lease::Hardware>,
        uid: Option<&[u8]>,
    ) -> Vec<Lease> {
        let from_table: Vec<&Lease> = match (hw, uid) {
            (Some(h), _) => self.leases.by_hardware(h, self.now),
            (None, Some(u)) => self.leases.by_uid(u, self.now),
            _ => Vec::new(),
        };
        let mut v: Vec<Lease> = from_table
            .into_iter()
            .filter(|l| !self.overlay.contains_key(&l.ip))
            .cloned()
            .collect();
        for l in self.overlay.values() {
            let matches = match (hw, uid) {
                (Some(h), _) => l.hardware.as_ref() == Some(h),
                (None, Some(u)) => l.uid.as_deref() == Some(u),
                _ => false,
            };
            if matches {
                v.push(l.clone());
            }
        }
        // One lease per address (the overlay replaces the table's), all of this client.
        LeaseTable::sort_preferred(&mut v, self.now);
        v
    }

    /// An expression environment for this packet.
    pub(super) fn env<'e>(
        &'e self,
        lease: Option<&'e Lease>,
        host: Option<&'e HostDecl>,
        static_lease: bool,
    ) -> Env<'e> {
        Env {
            cfg: self.cfg,
            req: Some(self.req),
            known: self.known,
            lease,
            static_lease,
            host,
            classes: &self.class_names,
            now: self.now,
        }
    }

    /// Run `scopes` in order for `lease` (a fixed address runs as ISC's static lease) and
    /// `host`, then apply what they `add` and `log`.
    pub(super) fn run_scopes(
        &mut self,
        scopes: &[ScopeRun],
        lease: Option<&Cand>,
        host: Option<&HostDecl>,
        sc: &mut Scoped,
    ) {
        let mut fx = Effects::default();
        let env = self.env(
            lease.map(|c| &c.lease),
            host,
            lease.is_some_and(|c| c.fixed),
        );
        for (group, limit) in scopes {
            env.run_scope(*group, *limit, &mut sc.st, &mut sc.vars, &mut fx);
        }
        super::events::apply_on(&mut sc.on, &fx);
        let ip = lease.map(|c| c.lease.ip);
        self.apply_effects(fx, ip);
    }

    /// Run the class scopes, last matched first (so the first matched wins), each limited
    /// to what the subnet and pool scopes did not run.
    pub(super) fn run_classes(
        &mut self,
        limit: Option<GroupId>,
        lease: Option<&Lease>,
        sc: &mut Scoped,
    ) {
        let mut i = self.classes.len();
        while i > 0 {
            i -= 1;
            let Some(group) = self.classes.get(i).map(|m| m.group) else {
                break;
            };
            let mut fx = Effects::default();
            self.env(lease, None, false)
                .run_scope(group, limit, &mut sc.st, &mut sc.vars, &mut fx);
            super::events::apply_on(&mut sc.on, &fx);
            self.apply_effects(fx, lease.map(|l| l.ip));
        }
    }

    /// A pool's scope, which stops at its shared network's.
    pub(super) fn pool_scope(&self, pool: PoolId) -> Option<ScopeRun> {
        let p = self.cfg.pools.get(pool)?;
        Some((p.group, self.cfg.shared.get(p.shared).map(|s| s.group)))
    }

    /// ISC's `locate_network`: the link-selection sub-option or the subnet-selection option,
    /// else the relay's address, else the receiving interface.
    pub(super) fn locate_network(&mut self) -> bool {
        let selection = if self.agent_stashed {
            self.req.selection_as_sent()
        } else {
            self.req.link_selection()
        };
        let addr = match selection {
            Some(d) => match <[u8; 4]>::try_from(d) {
                Ok(b) => Ipv4Addr::from(b),
                Err(_) => return false,
            },
            None if self.req.giaddr.is_unspecified() => {
                self.shared = self.interface_network();
                return self.shared.is_some();
            }
            None => self.req.giaddr,
        };
        self.shared = self
            .cfg
            .find_subnet(addr)
            .and_then(|s| self.cfg.subnets.get(s))
            .map(|s| s.shared);
        self.shared.is_some()
    }

    /// The shared network of the receiving interface (its first address in a subnet).
    pub(super) fn interface_network(&self) -> Option<SharedId> {
        self.req.meta.iface_addrs.iter().find_map(|a| {
            self.cfg
                .find_subnet(*a)
                .and_then(|s| self.cfg.subnets.get(s))
                .map(|s| s.shared)
        })
    }

    /// Is `group` (a subnet's or shared network's scope) authoritative?
    pub(super) fn authoritative(&self, group: GroupId) -> bool {
        self.cfg.groups.get(group).is_some_and(|g| g.authoritative)
    }

    /// The server's address on the receiving interface.
    pub(super) fn interface_address(&self) -> Option<Ipv4Addr> {
        self.req.meta.iface_addrs.first().copied()
    }

    /// ISC's `classify_client`: every class in declaration order, `match if` first, then
    /// the submatch against subclasses (spawning one if the class spawns). `known` is not
    /// yet known here, as in ISC.
    pub(super) fn classify(&mut self) {
        let mut matched = Vec::new();
        {
            let env = Env {
                cfg: self.cfg,
                req: Some(self.req),
                known: false,
                lease: None,
                static_lease: false,
                host: None,
                classes: &[],
                now: self.now,
            };
            let vars = Bindings::new();
            let st = OptionState::new();
            for (id, c) in self.cfg.classes.iter().enumerate() {
                if let Some(e) = &c.match_if {
                    if env.eval_bool(e, &vars, &st) != Some(true) {
                        continue;
                    }
                    if c.submatch.is_none() {
                        matched.push(ClassMatch {
                            class: id,
                            group: c.group,
                            key: None,
                        });
                        continue;
                    }
                }
                let Some(sub) = &c.submatch else { continue };
                let Some(key) = env.eval_data(sub, &vars, &st).filter(|k| !k.is_empty()) else {
                    continue;
                };
                if let Some(s) = c.subclasses.get(&key) {
                    matched.push(ClassMatch {
                        class: id,
                        group: s.group,
                        key: Some(key),
                    });
                } else if c.spawn {
                    matched.push(ClassMatch {
                        class: id,
                        group: c.group,
                        key: Some(key),
                    });
                }
            }
        }
        for m in matched {
            self.add_class(m);
        }
    }

    pub(super) fn add_class(&mut self, m: ClassMatch) {
        if let Some(c) = self.cfg.classes.get(m.class)
            && !self.class_names.contains(&c.name)
        {
            self.class_names.push(c.name.clone());
        }
        self.classes.push(m);
    }

    /// Apply `add "CLASS";` effects, keep the `log` lines, and the programs `execute`
    /// statements outside `on` blocks asked for (for the lease on `ip`, if any).
    pub(super) fn apply_effects(&mut self, mut fx: Effects, ip: Option<Ipv4Addr>) {
        let hooks = super::events::hooks_of(&mut fx, None, ip);
        self.out.hooks.extend(hooks);
        for name in fx.added_classes {
            if let Some(id) = self.cfg.class_by_name(&name)
                && !self
                    .classes
                    .iter()
                    .any(|m| m.class == id && m.key.is_none())
                && let Some(c) = self.cfg.classes.get(id)
            {
                let group = c.group;
                self.add_class(ClassMatch {
                    class: id,
                    group,
                    key: None,
                });
            }
        }
        for l in fx.logs {
            self.log(l);
        }
    }

    /// The hosts matching the packet, as ISC looks them up in turn: by client identifier,
    /// by hardware address, by `host-identifier` option.
    pub(super) fn host_lookups(&self) -> impl Iterator<Item = Vec<HostId>> + '_ {
        let lookups: [fn(&Self) -> Vec<HostId>; 3] =
            [Self::hosts_by_uid, Self::hosts_by_hw, Self::hosts_by_option];
        lookups.into_iter().map(move |lookup| lookup(self))
    }

    /// The first host without a fixed address that a lookup finds, in lookup order.
    pub(super) fn client_dynamic_host(&self) -> Option<HostId> {
        self.host_lookups()
            .find_map(|hosts| self.dynamic_host(&hosts))
    }

    /// Hosts matching the packet's client identifier.
    pub(super) fn hosts_by_uid(&self) -> Vec<HostId> {
        self.req
            .client_id()
            .map(|u| self.cfg.hosts_by_uid(u).to_vec())
            .unwrap_or_default()
    }

    /// Hosts matching the packet's hardware address.
    pub(super) fn hosts_by_hw(&self) -> Vec<HostId> {
        self.cfg.hosts_by_hardware(&self.req.hardware()).to_vec()
    }

    /// Hosts whose `host-identifier` option the packet carries.
    pub(super) fn hosts_by_option(&self) -> Vec<HostId> {
        self.cfg
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.identifier.as_ref().is_some_and(|(space, code, v)| {
                    crate::eval::packet_option(self.cfg, self.req, *space, *code).as_deref()
                        == Some(v.as_slice())
                })
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The first host without a fixed address among `ids`.
    pub(super) fn dynamic_host(&self, ids: &[HostId]) -> Option<HostId> {
        ids.iter()
            .copied()
            .find(|h| self.cfg.hosts.get(*h).is_some_and(|h| h.fixed.is_empty()))
    }
}
