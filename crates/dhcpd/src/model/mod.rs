//! The configuration as the protocol core uses it: the `dhcpd.conf` syntax tree compiled into
//! ISC's runtime objects. Scopes become [`Group`]s chained to their parents (ISC's
//! `group->next`), so a packet's options are computed by running groups from the outermost in;
//! subnets, shared networks, pools (explicit and ISC's ad-hoc ones), hosts and classes are
//! indexed for lookup. Option values are encoded to bytes once, here; expressions stay
//! expressions and are evaluated per packet.
//!
//! Compiling does no I/O: host names (in `fixed-address` and option values) are resolved by
//! a resolver the caller passes in.

mod build;
mod events;
mod inventory;
mod spaces;

pub use build::{CompileError, Resolver, compile, enter_group, enter_host, no_dns};
pub use events::{Events, Handler, OnStar};
pub use inventory::add_inventory;
pub use spaces::{AGENT, DHCP, SERVER, SpaceId, SpaceInfo, Spaces};

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::conf::ast::{Expr, OptionOp, PermitKind};
use crate::lease::Hardware;

/// Index of a [`Group`] in [`Config::groups`].
pub type GroupId = usize;
/// Index of a [`SharedNet`].
pub type SharedId = usize;
/// Index of a [`Subnet`].
pub type SubnetId = usize;
/// Index of a [`Pool`].
pub type PoolId = usize;
/// Index of a [`HostDecl`].
pub type HostId = usize;
/// Index of a [`ClassDecl`].
pub type ClassId = usize;

/// The root group (global scope).
pub const ROOT: GroupId = 0;

/// A scope: its statements and the scope it is nested in.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// The enclosing group (`None` for the root).
    pub parent: Option<GroupId>,
    /// Statements, in order.
    pub stmts: Vec<Exec>,
    /// `authoritative` as it stood for this scope (inherited from the parent when the scope
    /// was declared, as ISC's `clone_group` copies it).
    pub authoritative: bool,
}

/// A compiled executable statement.
#[derive(Debug, Clone)]
pub enum Exec {
    /// An option or server parameter.
    Opt {
        /// How it combines with an earlier value.
        op: OptionOp,
        /// The option's space.
        space: SpaceId,
        /// The option's code.
        code: u32,
        /// The value.
        value: OptVal,
    },
    /// `if` / `elsif` / `else`.
    If {
        /// Condition.
        cond: Expr,
        /// Taken when true.
        then: Vec<Exec>,
        /// Taken otherwise.
        otherwise: Vec<Exec>,
    },
    /// `switch (expr) { … }`.
    Switch {
        /// The value switched on.
        expr: Expr,
        /// Cases and statements, flat, as ISC keeps them.
        body: Vec<Exec>,
    },
    /// `case EXPR:`.
    Case(Expr),
    /// `default:`.
    DefaultCase,
    /// `set NAME = EXPR;`.
    Set(String, Expr),
    /// `define NAME = EXPR;` (or a function).
    Define(String, Expr),
    /// `unset NAME;`.
    Unset(String),
    /// `add "CLASS";`.
    Add(String),
    /// `break;`.
    Break,
    /// `return EXPR;`.
    Return(Expr),
    /// `log (PRIORITY, EXPR);`.
    Log(String, Expr),
    /// `eval EXPR;` and bare expressions: evaluated, result dropped.
    Eval(Expr),
    /// `on EVENTS { … }`: sets the lease's handlers (`None`: clears them).
    On(Events, Option<Handler>),
    /// `execute ("PROGRAM", ARG...);`.
    Execute {
        /// The program (argv\[0\], looked up in `PATH`).
        program: Vec<u8>,
        /// Data expressions, one per argument.
        args: Vec<Expr>,
    },
}

/// The value of an option statement.
#[derive(Debug, Clone, PartialEq)]
pub enum OptVal {
    /// Encoded at load time.
    Const(Vec<u8>),
    /// `option X = EXPR;`: evaluated per packet.
    Expr(Expr),
}

/// A shared network (explicit, or the implicit one around a lone subnet).
#[derive(Debug, Clone)]
pub struct SharedNet {
    /// Name (ISC names an implicit one after its subnet: `10.0.0.0/24`).
    pub name: String,
    /// Its scope.
    pub group: GroupId,
    /// Its subnets, in declaration order.
    pub subnets: Vec<SubnetId>,
    /// Its pools, in ISC's order.
    pub pools: Vec<PoolId>,
}

/// A subnet.
#[derive(Debug, Clone)]
pub struct Subnet {
    /// Network number.
    pub net: Ipv4Addr,
    /// Netmask (ISC accepts non-contiguous ones).
    pub mask: Ipv4Addr,
    /// Its shared network.
    pub shared: SharedId,
    /// Its scope.
    pub group: GroupId,
}

impl Subnet {
    /// Does `ip` belong to this subnet?
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.mask) == u32::from(self.net)
    }
}

/// An address range of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First address.
    pub low: Ipv4Addr,
    /// Last address.
    pub high: Ipv4Addr,
    /// The subnet the range lies in.
    pub subnet: SubnetId,
}

/// A pool: ranges with permit and prohibit lists.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Its shared network.
    pub shared: SharedId,
    /// Its scope.
    pub group: GroupId,
    /// Ranges.
    pub ranges: Vec<Range>,
    /// `allow` list (a client must match one entry when it is not empty).
    pub permit: Vec<PermitKind>,
    /// `deny` list (a client matching an entry is refused).
    pub prohibit: Vec<PermitKind>,
    /// Declared with `pool { }` (ad-hoc pools are made for bare ranges).
    pub explicit: bool,
    /// `failover peer "NAME";`: this server's role towards that peer.
    pub failover: Option<FailoverRole>,
}

/// This server's role in a `failover peer` declaration. With its own lease file each peer
/// allocates only its half of a failover pool (the primary the even addresses, the
/// secondary the odd ones: both compute it from the configuration alone), so the two never
/// hand one address to two clients; with a shared lease database they share the whole pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverRole {
    /// `primary;`.
    Primary,
    /// `secondary;`.
    Secondary,
}

impl FailoverRole {
    /// Is `ip` in this server's half of a failover pool?
    pub fn owns(self, ip: Ipv4Addr) -> bool {
        let even = u32::from(ip) % 2 == 0;
        even == (self == FailoverRole::Primary)
    }
}

/// A host declaration (from `dhcpd.conf` or from the inventory).
#[derive(Debug, Clone)]
pub struct HostDecl {
    /// The name after `host`.
    pub name: String,
    /// `hardware ethernet …`.
    pub hardware: Option<Hardware>,
    /// `uid` / `option dhcp-client-identifier`.
    pub uid: Option<Vec<u8>>,
    /// `fixed-address` (resolved).
    pub fixed: Vec<Ipv4Addr>,
    /// `host-identifier option SPACE.NAME VALUE`: space, code, value.
    pub identifier: Option<(SpaceId, u32, Vec<u8>)>,
    /// Its scope.
    pub group: GroupId,
    /// For an inventory machine: its machine name in the inventory.
    pub machine: Option<String>,
    /// Made over OMAPI (or read from a `dynamic` record of dhcpd.leases).
    pub dynamic: bool,
    /// Deleted (over OMAPI, or by a `deleted` record): it matches no client any more.
    pub removed: bool,
    /// The named group it is in (`group NAME;`), when that group was found.
    pub named_group: Option<String>,
}

/// A named group: `group NAME { … }` of dhcpd.conf, or one made over OMAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedGroup {
    /// Its scope.
    pub id: GroupId,
    /// Made over OMAPI (or read from a `dynamic` record of dhcpd.leases).
    pub dynamic: bool,
}

/// A subclass of a class: its key and its scope.
#[derive(Debug, Clone)]
pub struct Subclass {
    /// Its scope (parent: the class's group).
    pub group: GroupId,
}

/// A class declaration.
#[derive(Debug, Clone)]
pub struct ClassDecl {
    /// Name.
    pub name: String,
    /// `match if`.
    pub match_if: Option<Expr>,
    /// `match` / `spawn with`.
    pub submatch: Option<Expr>,
    /// `spawn with`.
    pub spawn: bool,
    /// `lease limit`.
    pub lease_limit: Option<u32>,
    /// Its scope.
    pub group: GroupId,
    /// Subclasses by key.
    pub subclasses: HashMap<Vec<u8>, Subclass>,
}

/// Bounds on the programs `execute` statements run (`option pxe-suite.execute-timeout S;`,
/// `option pxe-suite.execute-output N;` at the global scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteLimits {
    /// Seconds before the program (and its process group) is killed.
    pub timeout_secs: u32,
    /// Bytes of its standard output and error kept and logged.
    pub output_bytes: u32,
}

impl Default for ExecuteLimits {
    fn default() -> Self {
        ExecuteLimits {
            timeout_secs: 30,
            output_bytes: 4096,
        }
    }
}

/// The compiled configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Every scope; index 0 is the global scope.
    pub groups: Vec<Group>,
    /// Shared networks.
    pub shared: Vec<SharedNet>,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Pools.
    pub pools: Vec<Pool>,
    /// Hosts.
    pub hosts: Vec<HostDecl>,
    /// Classes, in declaration order.
    pub classes: Vec<ClassDecl>,
    /// Option spaces.
    pub spaces: Spaces,
    /// Functions defined with `define NAME (args) { … }` at the global scope.
    pub functions: HashMap<String, Expr>,
    /// The inventory, when machines come from one (`--inventory`).
    pub inventory: Option<std::sync::Arc<pxe_model::Inventory>>,
    /// The per-client flood limit (`option pxe-suite.flood-limit N;` and
    /// `option pxe-suite.flood-hold S;` at the global scope), `None` when set to 0.
    pub flood: Option<crate::lease::FloodLimit>,
    /// How long programs run by `execute` may take and how much of their output is logged.
    pub execute: ExecuteLimits,
    /// The syslog facility of the log lines (`log-facility NAME;`; `daemon` without it),
    /// shifted as syslog's PRI field wants it.
    pub log_facility: Option<u8>,
    /// The `on` blocks by their text (`conf::print`), to give leases read from a file the
    /// handlers written with them.
    pub handlers: HashMap<String, Handler>,
    /// The option spaces and definitions the configuration declared, to parse the host
    /// statements OMAPI sends (and host and group records of dhcpd.leases) as it would.
    pub registry: crate::conf::options::Registry,
    /// The OMAPI listener's settings (`omapi-port`, `omapi-key`), when it is on.
    pub omapi: Option<crate::omapi::settings::OmapiSettings>,
    /// The named groups hosts can be put in, by name (those removed are gone from here).
    pub named_groups: HashMap<String, NamedGroup>,
    /// Leases live in a database shared with the other servers (`--database`): failover
    /// pools are not split, the peers share them.
    pub shared_leases: bool,
    hosts_by_hw: HashMap<Hardware, Vec<HostId>>,
    hosts_by_uid: HashMap<Vec<u8>, Vec<HostId>>,
    classes_by_name: HashMap<String, ClassId>,
}

impl Config {
    /// May this server allocate `ip` (a failover pool's other half is its peer's, unless
    /// the peers share a lease database)?
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        if self.shared_leases {
            return true;
        }
        match self.pool_of(ip) {
            Some((pool, _)) => self
                .pools
                .get(pool)
                .and_then(|p| p.failover)
                .is_none_or(|role| role.owns(ip)),
            None => true,
        }
    }

    /// The subnet `ip` belongs to (the most specific one, as ISC keeps them ordered).
    pub fn find_subnet(&self, ip: Ipv4Addr) -> Option<SubnetId> {
        self.subnets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.contains(ip))
            .max_by_key(|(i, s)| (u32::from(s.mask).count_ones(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    }

    /// The subnet of shared network `share` that `ip` belongs to.
    pub fn find_grouped_subnet(&self, share: SharedId, ip: Ipv4Addr) -> Option<SubnetId> {
        self.shared
            .get(share)?
            .subnets
            .iter()
            .copied()
            .find(|s| self.subnets.get(*s).is_some_and(|s| s.contains(ip)))
    }

    /// The pool (and range) that holds `ip`, if any.
    pub fn pool_of(&self, ip: Ipv4Addr) -> Option<(PoolId, &Range)> {
        self.pools.iter().enumerate().find_map(|(i, p)| {
            p.ranges
                .iter()
                .find(|r| crate::lease::in_range(ip, r.low, r.high))
                .map(|r| (i, r))
        })
    }

    /// Hosts with this hardware address, in declaration order.
    pub fn hosts_by_hardware(&self, hw: &Hardware) -> &[HostId] {
        self.hosts_by_hw.get(hw).map_or(&[], Vec::as_slice)
    }

    /// Hosts with this client identifier, in declaration order.
    pub fn hosts_by_uid(&self, uid: &[u8]) -> &[HostId] {
        self.hosts_by_uid.get(uid).map_or(&[], Vec::as_slice)
    }

    /// A class by name.
    pub fn class_by_name(&self, name: &str) -> Option<ClassId> {
        self.classes_by_name.get(name).copied()
    }

    /// Add a host after compilation (inventory machines) and index it.
    pub fn add_host(&mut self, h: HostDecl) -> HostId {
        let id = self.hosts.len();
        if let Some(hw) = &h.hardware {
            self.hosts_by_hw.entry(hw.clone()).or_default().push(id);
        }
        if let Some(uid) = &h.uid {
            self.hosts_by_uid.entry(uid.clone()).or_default().push(id);
        }
        self.hosts.push(h);
        id
    }

    /// The host named `name` that is not removed.
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| !h.removed && h.name == name)
    }

    /// Remove the hosts named `name`: they stay in the list (ids do not move) but match no
    /// client and no lookup. Returns how many were removed.
    pub fn remove_hosts_named(&mut self, name: &str) -> usize {
        let mut n = 0;
        for id in 0..self.hosts.len() {
            let Some(h) = self.hosts.get_mut(id) else {
                continue;
            };
            if h.removed || h.name != name {
                continue;
            }
            h.removed = true;
            h.identifier = None;
            n += 1;
            for index in [
                h.hardware
                    .as_ref()
                    .and_then(|hw| self.hosts_by_hw.get_mut(hw)),
                h.uid.as_ref().and_then(|u| self.hosts_by_uid.get_mut(u)),
            ]
            .into_iter()
            .flatten()
            {
                index.retain(|i| *i != id);
            }
        }
        n
    }

    /// Add a group and return its id.
    pub fn add_group(&mut self, g: Group) -> GroupId {
        self.groups.push(g);
        self.groups.len() - 1
    }

    /// Is `group` the same as `other` or nested inside it?
    pub fn is_within(&self, mut group: GroupId, other: GroupId) -> bool {
        loop {
            if group == other {
                return true;
            }
            match self.groups.get(group).and_then(|g| g.parent) {
                Some(p) => group = p,
                None => return false,
            }
        }
    }

    /// Every address range of every pool, as `(low, high)`.
    pub fn ranges(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        self.pools
            .iter()
            .flat_map(|p| p.ranges.iter().map(|r| (r.low, r.high)))
            .collect()
    }
}
