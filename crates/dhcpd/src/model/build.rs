//! Compiling the syntax tree into [`Config`], following how ISC's parser builds its objects:
//! every declaration clones the enclosing group (copying `authoritative` as it stands), a
//! subnet outside a `shared-network` gets an implicit one, a bare `range` goes into an ad-hoc
//! pool of its shared network (one that refuses dynamic BOOTP clients, or for
//! `range dynamic-bootp` one that permits all clients), and a `pool` is scoped under its
//! shared network's group.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::conf::ast::{
    self, Atom, Decl, Expr, HostAddr, Item, OptionOp, OptionValue, PermitKind, Scope, Stmt,
};
use crate::conf::encode::encode;
use crate::lease::Hardware;

use super::spaces::SERVER;
use super::{
    ClassDecl, Config, Events, Exec, ExecuteLimits, FailoverRole, Group, GroupId, Handler,
    HostDecl, NamedGroup, OptVal, Pool, PoolId, ROOT, Range, SharedId, SharedNet, Spaces, Subclass,
    Subnet, SubnetId,
};

/// Resolves a host name to an address (DNS at the binary's edge; a table in tests).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Option<Ipv4Addr>;

/// A resolver that knows no names.
pub fn no_dns(_: &str) -> Option<Ipv4Addr> {
    None
}

/// Why a configuration cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// `subclass` of a class that does not exist.
    #[error("subclass of unknown class \"{0}\"")]
    UnknownClass(String),
    /// `omapi-key` names no usable `key` block (ISC exits then too).
    #[error("OMAPI key {0}")]
    Omapi(#[from] crate::omapi::settings::SettingsError),
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    shared: Option<SharedId>,
    /// Declared inside an explicit `shared-network`.
    explicit_shared: bool,
    subnet: Option<SubnetId>,
    pool: Option<PoolId>,
}

struct Builder<'r> {
    cfg: Config,
    resolve: Resolver<'r>,
    warnings: Vec<String>,
    /// `failover peer` declarations seen so far: name, and primary (true) or secondary.
    failover_peers: HashMap<String, Option<bool>>,
}

/// Compile `ast`. Returns the configuration and warnings (names that did not resolve).
pub fn compile(
    ast: &ast::Config,
    resolve: Resolver<'_>,
) -> Result<(Config, Vec<String>), CompileError> {
    let mut b = Builder {
        cfg: Config {
            spaces: Spaces::from_registry(&ast.registry),
            ..Config::default()
        },
        resolve,
        warnings: Vec::new(),
        failover_peers: HashMap::new(),
    };
    b.cfg.groups.push(Group::default());
    b.scope(&ast.root, ROOT, Ctx::default())?;
    b.cfg.flood = flood_limit(&ast.root);
    b.cfg.execute = execute_limits(&ast.root);
    b.cfg.log_facility = log_facility(&ast.root);
    b.cfg.omapi = crate::omapi::settings::omapi_settings(ast)?;
    b.cfg.registry = ast.registry.clone();
    Ok((b.cfg, b.warnings))
}

/// Enter one more `host` declaration (an OMAPI-made host, or a host record of
/// dhcpd.leases) into a compiled configuration, as ISC's `enter_host` does: it replaces a
/// host of the same name, and a `deleted` one only removes it. Returns warnings (names
/// that did not resolve). A `group NAME` it names that is not known puts the host in the
/// global scope.
pub fn enter_host(cfg: &mut Config, h: &ast::Host, resolve: Resolver<'_>) -> Vec<String> {
    let mut b = Builder {
        cfg: std::mem::take(cfg),
        resolve,
        warnings: Vec::new(),
        failover_peers: HashMap::new(),
    };
    b.host(h, ROOT);
    *cfg = b.cfg;
    b.warnings
}

/// Enter one more named group (an OMAPI-made group, or a group record of dhcpd.leases) into
/// a compiled configuration, as ISC's `supersede_group` does: it replaces a group of the same
/// name for the hosts entered from now on, and a `deleted` one only removes the name. The
/// hosts already in the old group keep its statements, as in ISC.
pub fn enter_group(cfg: &mut Config, g: &ast::GroupDecl) {
    let Some(name) = &g.name else {
        return;
    };
    cfg.named_groups.remove(name);
    if g.deleted {
        return;
    }
    let mut b = Builder {
        cfg: std::mem::take(cfg),
        resolve: &no_dns,
        warnings: Vec::new(),
        failover_peers: HashMap::new(),
    };
    let id = b.new_group(ROOT);
    let stmts = b.scope_stmts(&g.body);
    b.push_stmts(id, stmts);
    b.cfg.named_groups.insert(
        name.clone(),
        NamedGroup {
            id,
            dynamic: g.dynamic,
        },
    );
    *cfg = b.cfg;
}

/// The option space of pxe-suite's own settings: options declared in it are valid ISC
/// syntax, and ISC ignores them (nothing encapsulates the space).
pub(crate) const PXE_SUITE_SPACE: &str = "pxe-suite";

/// pxe-suite's own settings at the global scope (`option pxe-suite.NAME N;`, constants):
/// name and value.
fn pxe_suite_settings(root: &ast::Scope) -> impl Iterator<Item = (&str, u32)> {
    root.items.iter().filter_map(|item| {
        let ast::Item::Stmt(
            _,
            ast::Stmt::Option {
                space,
                name,
                value: ast::OptionValue::Atoms(atoms),
                ..
            },
        ) = item
        else {
            return None;
        };
        if space != PXE_SUITE_SPACE {
            return None;
        }
        let Some(ast::Atom::Int { value, .. }) = atoms.first() else {
            return None;
        };
        Some((name.as_str(), u32::try_from(*value).unwrap_or(u32::MAX)))
    })
}

/// `option pxe-suite.flood-limit N;` (requests per second from one client before it is
/// ignored; 0 turns the limit off) and `option pxe-suite.flood-hold S;` (for how long), as
/// constants at the global scope; the defaults otherwise.
fn flood_limit(root: &ast::Scope) -> Option<crate::lease::FloodLimit> {
    let mut limit = crate::lease::FloodLimit::default();
    for (name, v) in pxe_suite_settings(root) {
        match name {
            "flood-limit" => limit.rate = v,
            "flood-hold" => limit.hold = i64::from(v),
            _ => {}
        }
    }
    (limit.rate > 0).then_some(limit)
}

/// `option pxe-suite.execute-timeout S;` (seconds a program `execute` runs may take before
/// it is killed) and `option pxe-suite.execute-output N;` (bytes of its output logged).
fn execute_limits(root: &ast::Scope) -> ExecuteLimits {
    let mut limits = ExecuteLimits::default();
    for (name, v) in pxe_suite_settings(root) {
        match name {
            "execute-timeout" => limits.timeout_secs = v.max(1),
            "execute-output" => limits.output_bytes = v,
            _ => {}
        }
    }
    limits
}

/// `log-facility NAME;` at the global scope (the last one wins, as ISC reads it): the
/// facility shifted as syslog's PRI field wants it.
fn log_facility(root: &ast::Scope) -> Option<u8> {
    let mut facility = None;
    for item in &root.items {
        if let ast::Item::Stmt(
            _,
            ast::Stmt::Option {
                name,
                value: ast::OptionValue::Atoms(atoms),
                ..
            },
        ) = item
            && name == "log-facility"
            && let Some(ast::Atom::Enum(_, value)) = atoms.first()
        {
            facility = Some(*value);
        }
    }
    facility
}

fn server_flag_code(what: &str) -> Option<u32> {
    Some(match what {
        "unknown-clients" => 6,
        "dynamic-bootp" => 7,
        "bootp" => 8,
        "booting" => 9,
        "duplicates" => 28,
        "declines" => 29,
        "client-updates" => 40,
        "leasequery" => 49,
        _ => return None,
    })
}

fn ip_text(net: Ipv4Addr, mask: Ipv4Addr) -> String {
    let m = u32::from(mask);
    if m.leading_ones() == m.count_ones() {
        format!("{net}/{}", m.count_ones())
    } else {
        format!("{net}/{mask}")
    }
}

impl Builder<'_> {
    fn new_group(&mut self, parent: GroupId) -> GroupId {
        let authoritative = self.cfg.groups.get(parent).is_some_and(|g| g.authoritative);
        self.cfg.add_group(Group {
            parent: Some(parent),
            stmts: Vec::new(),
            authoritative,
        })
    }

    fn push_stmts(&mut self, group: GroupId, stmts: Vec<Exec>) {
        if let Some(g) = self.cfg.groups.get_mut(group) {
            g.stmts.extend(stmts);
        }
    }

    fn scope(&mut self, scope: &Scope, group: GroupId, ctx: Ctx) -> Result<(), CompileError> {
        for item in &scope.items {
            match item {
                Item::Stmt(_, Stmt::Failover(ast::Failover::Peer { name, primary })) => {
                    self.failover_peers.insert(name.clone(), *primary);
                }
                Item::Stmt(_, s) => {
                    let e = self.exec(s, group == ROOT);
                    self.push_stmts(group, e);
                }
                Item::Authoritative(_, on) => {
                    if let Some(g) = self.cfg.groups.get_mut(group) {
                        g.authoritative = *on;
                    }
                }
                Item::Decl(_, d) => self.decl(d, group, ctx)?,
            }
        }
        Ok(())
    }

    fn decl(&mut self, d: &Decl, group: GroupId, ctx: Ctx) -> Result<(), CompileError> {
        match d {
            Decl::SharedNetwork { name, body } => {
                let g = self.new_group(group);
                let id = self.cfg.shared.len();
                self.cfg.shared.push(SharedNet {
                    name: name.clone(),
                    group: g,
                    subnets: Vec::new(),
                    pools: Vec::new(),
                });
                let inner = Ctx {
                    shared: Some(id),
                    explicit_shared: true,
                    ..Ctx::default()
                };
                self.scope(body, g, inner)?;
            }
            Decl::Subnet { net, mask, body } => {
                let shared = match ctx.shared {
                    Some(s) if ctx.explicit_shared => s,
                    _ => {
                        let g = self.new_group(group);
                        self.cfg.shared.push(SharedNet {
                            name: ip_text(*net, *mask),
                            group: g,
                            subnets: Vec::new(),
                            pools: Vec::new(),
                        });
                        self.cfg.shared.len() - 1
                    }
                };
                let parent = if ctx.explicit_shared {
                    group
                } else {
                    self.cfg.shared.get(shared).map_or(group, |s| s.group)
                };
                let g = self.new_group(parent);
                let id = self.cfg.subnets.len();
                self.cfg.subnets.push(Subnet {
                    net: *net,
                    mask: *mask,
                    shared,
                    group: g,
                });
                if let Some(s) = self.cfg.shared.get_mut(shared) {
                    s.subnets.push(id);
                }
                let inner = Ctx {
                    shared: Some(shared),
                    explicit_shared: ctx.explicit_shared,
                    subnet: Some(id),
                    pool: None,
                };
                self.scope(body, g, inner)?;
            }
            Decl::Pool { permits, body } => {
                let Some(shared) = ctx.shared else {
                    return Ok(());
                };
                let share_group = self.cfg.shared.get(shared).map_or(group, |s| s.group);
                let g = self.new_group(share_group);
                let mut pool = Pool {
                    shared,
                    group: g,
                    ranges: Vec::new(),
                    permit: Vec::new(),
                    prohibit: Vec::new(),
                    explicit: true,
                    failover: self.pool_failover(body),
                };
                for p in permits {
                    if p.allow {
                        pool.permit.push(p.what.clone());
                    } else {
                        pool.prohibit.push(p.what.clone());
                    }
                }
                let id = self.cfg.pools.len();
                self.cfg.pools.push(pool);
                let inner = Ctx {
                    pool: Some(id),
                    ..ctx
                };
                self.scope(body, g, inner)?;
                self.place_explicit_pool(id);
            }
            Decl::Range {
                dynamic_bootp,
                low,
                high,
            } => self.range(*dynamic_bootp, *low, *high, ctx),
            Decl::Host(h) => self.host(h, group),
            Decl::Group(decl) => {
                let g = self.new_group(group);
                if let Some(n) = &decl.name {
                    let named = NamedGroup {
                        id: g,
                        dynamic: false,
                    };
                    self.cfg.named_groups.insert(n.clone(), named);
                }
                self.scope(&decl.body, g, ctx)?;
            }
            Decl::Class(c) => {
                let g = self.new_group(group);
                let stmts = self.scope_stmts(&c.body);
                self.push_stmts(g, stmts);
                let id = self.cfg.classes.len();
                self.cfg.classes.push(ClassDecl {
                    name: c.name.clone(),
                    match_if: c.match_if.clone(),
                    submatch: c.submatch.clone(),
                    spawn: c.spawn,
                    lease_limit: c.lease_limit,
                    group: g,
                    subclasses: HashMap::new(),
                });
                self.cfg.classes_by_name.insert(c.name.clone(), id);
            }
            Decl::Subclass { parent, key, body } => {
                let Some(cid) = self.cfg.class_by_name(parent) else {
                    return Err(CompileError::UnknownClass(parent.clone()));
                };
                let cgroup = self.cfg.classes.get(cid).map_or(ROOT, |c| c.group);
                let g = self.new_group(cgroup);
                if let Some(b) = body {
                    let stmts = self.scope_stmts(b);
                    self.push_stmts(g, stmts);
                }
                if let Some(c) = self.cfg.classes.get_mut(cid) {
                    c.subclasses.insert(key.clone(), Subclass { group: g });
                }
            }
            Decl::Include { .. } => {}
        }
        Ok(())
    }

    /// The statements of a scope that holds no declarations (class bodies).
    /// A pool's `failover peer "NAME";`: this server's role towards that peer (declared
    /// before, at the top or in the shared network); an unknown peer is warned about and
    /// the pool is not split.
    fn pool_failover(&mut self, body: &Scope) -> Option<FailoverRole> {
        let peer = body.items.iter().find_map(|item| match item {
            Item::Stmt(_, Stmt::Failover(ast::Failover::Pool { peer })) => Some(peer),
            _ => None,
        })?;
        match self.failover_peers.get(peer) {
            Some(Some(true)) => Some(FailoverRole::Primary),
            Some(Some(false)) => Some(FailoverRole::Secondary),
            Some(None) => {
                self.warnings.push(format!(
                    "failover peer {peer}: neither primary nor secondary; its pools are not split"
                ));
                None
            }
            None => {
                self.warnings.push(format!(
                    "failover peer {peer}: not declared; its pools are not split"
                ));
                None
            }
        }
    }

    fn scope_stmts(&mut self, scope: &Scope) -> Vec<Exec> {
        let mut out = Vec::new();
        for item in &scope.items {
            if let Item::Stmt(_, s) = item {
                out.extend(self.exec(s, false));
            }
        }
        out
    }

    /// ISC merges an explicit pool into an earlier one with no statements of its own and the
    /// same permit lists; otherwise it goes at the end of its shared network's list.
    fn place_explicit_pool(&mut self, id: PoolId) {
        let Some(pool) = self.cfg.pools.get(id).cloned() else {
            return;
        };
        let no_stmts =
            |b: &Self, g: GroupId| b.cfg.groups.get(g).is_none_or(|g| g.stmts.is_empty());
        let same = |a: &[PermitKind], b: &[PermitKind]| {
            a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
        };
        let existing = self
            .cfg
            .shared
            .get(pool.shared)
            .map(|s| s.pools.clone())
            .unwrap_or_default();
        for pp in existing {
            let Some(other) = self.cfg.pools.get(pp) else {
                continue;
            };
            if no_stmts(self, other.group)
                && no_stmts(self, pool.group)
                && same(&other.permit, &pool.permit)
                && same(&other.prohibit, &pool.prohibit)
                && other.failover == pool.failover
            {
                if let Some(o) = self.cfg.pools.get_mut(pp) {
                    o.ranges.extend(pool.ranges.iter().copied());
                }
                if let Some(p) = self.cfg.pools.get_mut(id) {
                    p.ranges.clear();
                }
                return;
            }
        }
        if let Some(s) = self.cfg.shared.get_mut(pool.shared) {
            s.pools.push(id);
        }
    }

    fn range(&mut self, dynamic: bool, low: Ipv4Addr, high: Ipv4Addr, ctx: Ctx) {
        let Some(shared) = ctx.shared else { return };
        let subnet = match ctx.subnet {
            Some(s) => Some(s),
            None => self.cfg.shared.get(shared).and_then(|sh| {
                sh.subnets.iter().copied().find(|s| {
                    self.cfg
                        .subnets
                        .get(*s)
                        .is_some_and(|sn| u32::from(low) & u32::from(sn.mask) == u32::from(sn.net))
                })
            }),
        };
        let Some(subnet) = subnet else { return };
        let (low, high) = if u32::from(low) <= u32::from(high) {
            (low, high)
        } else {
            (high, low)
        };
        let range = Range { low, high, subnet };
        if let Some(p) = ctx.pool {
            if let Some(pool) = self.cfg.pools.get_mut(p) {
                pool.ranges.push(range);
            }
            return;
        }
        // An ad-hoc pool: ISC looks for one with exactly the right permit list and, through
        // a slip in its loop, files the range in the pool *before* the match when the match
        // is not the first pool. Reproduced, since it decides which pool's permits apply.
        let pools = self
            .cfg
            .shared
            .get(shared)
            .map(|s| s.pools.clone())
            .unwrap_or_default();
        let mut last: Option<PoolId> = None;
        let mut found = None;
        for pid in &pools {
            let Some(p) = self.cfg.pools.get(*pid) else {
                continue;
            };
            let matches = if dynamic {
                p.prohibit.is_empty() && p.permit == [PermitKind::All]
            } else {
                p.permit.is_empty() && p.prohibit == [PermitKind::DynamicBootp]
            };
            if matches {
                found = Some(last.unwrap_or(*pid));
                break;
            }
            last = Some(*pid);
        }
        let pid = match found {
            Some(p) => p,
            None => {
                let share_group = self.cfg.shared.get(shared).map_or(ROOT, |s| s.group);
                let g = self.new_group(share_group);
                let id = self.cfg.pools.len();
                self.cfg.pools.push(Pool {
                    shared,
                    group: g,
                    ranges: Vec::new(),
                    permit: if dynamic {
                        vec![PermitKind::All]
                    } else {
                        Vec::new()
                    },
                    prohibit: if dynamic {
                        Vec::new()
                    } else {
                        vec![PermitKind::DynamicBootp]
                    },
                    explicit: false,
                    failover: None,
                });
                if let Some(s) = self.cfg.shared.get_mut(shared) {
                    s.pools.push(id);
                }
                id
            }
        };
        if let Some(pool) = self.cfg.pools.get_mut(pid) {
            pool.ranges.push(range);
        }
    }

    fn host(&mut self, h: &ast::Host, group: GroupId) {
        // A `deleted` record removes the host of that name (ISC's `delete_host`); a new
        // declaration of a name replaces the earlier one.
        self.cfg.remove_hosts_named(&h.name);
        if h.deleted {
            return;
        }
        let named_group = h
            .group
            .as_ref()
            .filter(|n| self.cfg.named_groups.contains_key(n.as_str()))
            .cloned();
        let parent = named_group
            .as_ref()
            .and_then(|n| self.cfg.named_groups.get(n))
            .map_or(group, |n| n.id);
        let g = self.new_group(parent);
        let stmts = self.scope_stmts(&h.body);
        self.push_stmts(g, stmts);
        let mut fixed = Vec::new();
        for a in &h.fixed_addresses {
            match a {
                HostAddr::Ip(ip) => fixed.push(*ip),
                HostAddr::Name(n) => match (self.resolve)(n) {
                    Some(ip) => fixed.push(ip),
                    None => self
                        .warnings
                        .push(format!("host {}: {n}: host unknown.", h.name)),
                },
            }
        }
        let identifier = h.host_identifier.as_ref().and_then(|(name, v)| {
            let (space, opt) = name.split_once('.')?;
            let sid = self.cfg.spaces.id(space)?;
            let code = self.cfg.spaces.code(sid, opt)?;
            let bytes = self.value(v)?;
            Some((sid, code, bytes))
        });
        let decl = HostDecl {
            name: h.name.clone(),
            hardware: h.hardware.as_ref().and_then(|(t, a)| Hardware::new(*t, a)),
            uid: h.uid.clone(),
            fixed,
            identifier,
            group: g,
            machine: None,
            dynamic: h.dynamic,
            removed: false,
            named_group,
        };
        self.cfg.add_host(decl);
    }

    /// Encode a constant option value, resolving host names.
    fn value(&mut self, v: &OptionValue) -> Option<Vec<u8>> {
        let resolved = match v {
            OptionValue::Atoms(atoms) => {
                let mut out = Vec::with_capacity(atoms.len());
                for a in atoms {
                    match a {
                        Atom::HostName(n) => match (self.resolve)(n) {
                            Some(ip) => out.push(Atom::Ip(ip)),
                            None => {
                                self.warnings.push(format!("{n}: host unknown."));
                                return None;
                            }
                        },
                        other => out.push(other.clone()),
                    }
                }
                OptionValue::Atoms(out)
            }
            other => other.clone(),
        };
        match encode(&resolved) {
            Ok(b) => Some(b),
            Err(e) => {
                self.warnings.push(e.to_string());
                None
            }
        }
    }

    /// The handler of an `on` block, indexed by its text for leases read from a file.
    fn handler(&mut self, body: &[Stmt]) -> Handler {
        let text = crate::conf::print::statements(body, 4);
        let handler = Handler::new(self.exec_list(body), text.clone());
        if let Some(t) = text {
            self.cfg
                .handlers
                .entry(t)
                .or_insert_with(|| handler.clone());
        }
        handler
    }

    fn exec_list(&mut self, stmts: &[Stmt]) -> Vec<Exec> {
        stmts.iter().flat_map(|s| self.exec(s, false)).collect()
    }

    fn exec(&mut self, s: &Stmt, root: bool) -> Vec<Exec> {
        let one = match s {
            Stmt::Option {
                op,
                space,
                code,
                value,
                ..
            } => {
                let Some(sid) = self.cfg.spaces.id(space) else {
                    return Vec::new();
                };
                let value = match value {
                    OptionValue::Expr(e) => OptVal::Expr(e.clone()),
                    v => match self.value(v) {
                        Some(b) => OptVal::Const(b),
                        None => return Vec::new(),
                    },
                };
                Exec::Opt {
                    op: *op,
                    space: sid,
                    code: *code,
                    value,
                }
            }
            Stmt::AllowDeny { what, value } => {
                let Some(code) = server_flag_code(what) else {
                    return Vec::new();
                };
                Exec::Opt {
                    op: OptionOp::Supersede,
                    space: SERVER,
                    code,
                    value: OptVal::Const(vec![*value]),
                }
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => Exec::If {
                cond: cond.clone(),
                then: self.exec_list(then),
                otherwise: self.exec_list(otherwise),
            },
            Stmt::Switch { expr, body } => Exec::Switch {
                expr: expr.clone(),
                body: self.exec_list(body),
            },
            Stmt::Case(e) => Exec::Case(e.clone()),
            Stmt::DefaultCase => Exec::DefaultCase,
            Stmt::Set { name, value } => Exec::Set(name.clone(), value.clone()),
            Stmt::Define { name, value } => {
                if root && matches!(value, Expr::Function(..)) {
                    self.cfg.functions.insert(name.clone(), value.clone());
                }
                Exec::Define(name.clone(), value.clone())
            }
            Stmt::Unset(n) => Exec::Unset(n.clone()),
            Stmt::Eval(e) => Exec::Eval(e.clone()),
            Stmt::Add(c) => Exec::Add(c.clone()),
            Stmt::Break => Exec::Break,
            Stmt::Return(e) => Exec::Return(e.clone()),
            Stmt::Log { priority, expr } => Exec::Log(priority.clone(), expr.clone()),
            Stmt::On { events, body } => {
                let handler = (!body.is_empty()).then(|| self.handler(body));
                Exec::On(
                    Events::from_names(events.iter().map(String::as_str)),
                    handler,
                )
            }
            Stmt::Execute { command, args } => Exec::Execute {
                program: command.clone(),
                args: args.clone(),
            },
            Stmt::Failover(_) | Stmt::Unsupported { .. } => return Vec::new(),
        };
        vec![one]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> Config {
        let loaded = crate::conf::parse_str(
            "t.conf",
            text.as_bytes(),
            crate::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        assert!(loaded.is_ok(), "{:?}", loaded.output);
        let resolve = |n: &str| (n == "boot.example").then_some(Ipv4Addr::new(10, 0, 0, 5));
        compile(&loaded.config, &resolve).expect("compiles").0
    }

    #[test]
    fn implicit_shared_networks_and_ad_hoc_pools() {
        let c = build(
            "authoritative;
             subnet 10.0.0.0 netmask 255.255.255.0 {
               range 10.0.0.10 10.0.0.20;
               range 10.0.0.30 10.0.0.40;
               range dynamic-bootp 10.0.0.100 10.0.0.110;
               option routers 10.0.0.1;
             }
             subnet 10.1.0.0 netmask 255.255.0.0 { not authoritative; }",
        );
        assert_eq!(c.shared.len(), 2);
        assert_eq!(c.shared[0].name, "10.0.0.0/24");
        assert_eq!(
            c.shared[0].pools.len(),
            2,
            "plain ranges share one ad-hoc pool"
        );
        let plain = &c.pools[c.shared[0].pools[0]];
        assert_eq!(plain.ranges.len(), 2);
        assert_eq!(plain.prohibit, vec![PermitKind::DynamicBootp]);
        let dynamic = &c.pools[c.shared[0].pools[1]];
        assert_eq!(dynamic.permit, vec![PermitKind::All]);
        let s0 = &c.subnets[0];
        assert!(c.groups[s0.group].authoritative);
        assert!(!c.groups[c.subnets[1].group].authoritative);
        assert_eq!(c.find_subnet(Ipv4Addr::new(10, 0, 0, 7)), Some(0));
        assert_eq!(c.find_subnet(Ipv4Addr::new(10, 1, 3, 7)), Some(1));
        assert_eq!(c.find_subnet(Ipv4Addr::new(10, 2, 0, 1)), None);
        assert_eq!(
            c.pool_of(Ipv4Addr::new(10, 0, 0, 35)).map(|(p, _)| p),
            Some(c.shared[0].pools[0])
        );
        // Scope chain: root -> implicit shared -> subnet.
        let shared_group = c.shared[0].group;
        assert_eq!(c.groups[s0.group].parent, Some(shared_group));
        assert_eq!(c.groups[shared_group].parent, Some(ROOT));
    }

    #[test]
    fn authoritative_is_copied_when_the_scope_is_declared() {
        let c = build(
            "subnet 10.0.0.0 netmask 255.255.255.0 { }
             authoritative;
             subnet 10.1.0.0 netmask 255.255.255.0 { }",
        );
        assert!(!c.groups[c.subnets[0].group].authoritative);
        assert!(c.groups[c.subnets[1].group].authoritative);
    }

    #[test]
    fn hosts_classes_and_names() {
        let c = build(
            "group lab { next-server 10.0.0.9; }
             class \"pxe\" { match if substring (option vendor-class-identifier, 0, 9) = \"PXEClient\"; filename \"pxelinux.0\"; }
             class \"vendors\" { match option vendor-class-identifier; }
             subclass \"vendors\" \"d-i\" { option domain-name \"install\"; }
             subnet 10.0.0.0 netmask 255.255.255.0 {
               host a { hardware ethernet 52:54:00:00:00:0a; fixed-address 10.0.0.50, boot.example; group lab; }
               host b { option dhcp-client-identifier 01:02:03; }
               pool { deny unknown-clients; range 10.0.0.60 10.0.0.70; }
             }",
        );
        assert_eq!(c.hosts.len(), 2);
        let a = &c.hosts[0];
        assert_eq!(
            a.fixed,
            vec![Ipv4Addr::new(10, 0, 0, 50), Ipv4Addr::new(10, 0, 0, 5)]
        );
        let hw = Hardware::ethernet([0x52, 0x54, 0, 0, 0, 0x0a]);
        assert_eq!(c.hosts_by_hardware(&hw), &[0]);
        assert_eq!(c.hosts_by_uid(&[1, 2, 3]), &[1]);
        let lab = c.groups[a.group].parent.expect("parent");
        assert_eq!(c.groups[lab].stmts.len(), 1, "named group statements");
        assert_eq!(c.classes.len(), 2);
        let v = &c.classes[c.class_by_name("vendors").expect("class")];
        assert!(v.subclasses.contains_key(b"d-i".as_slice()));
        let pool = &c.pools[c.shared[0].pools[0]];
        assert!(pool.explicit);
        assert_eq!(pool.prohibit, vec![PermitKind::UnknownClients]);
        assert_eq!(c.groups[pool.group].parent, Some(c.shared[0].group));
    }
}
