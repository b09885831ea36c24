//! Declarations and the statement dispatcher (ISC `parse_statement`): include, host, group,
//! shared-network, subnet, class/subclass, pool, range, hardware, fixed-address,
//! authoritative, option definitions and option statements.

use super::super::ast::{
    Atom, Class, Decl, Failover, GroupDecl, Host, HostAddr, Item, Loc, OptionOp, OptionValue,
    Permit, PermitKind, Scope, Stmt,
};
use super::super::lexer::{Tok, Token};
use super::{Lose, Parser};

/// The kind of scope being parsed (ISC's `ROOT_GROUP`, `SUBNET_DECL`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Root,
    SharedNet,
    Subnet,
    Pool,
    Host,
    Class,
    Group,
}

/// Where we are: the scope kind and whether a shared network / subnet encloses it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) kind: Kind,
    pub(crate) in_shared: bool,
    pub(crate) in_subnet: bool,
}

impl Ctx {
    pub(crate) fn root() -> Self {
        Ctx {
            kind: Kind::Root,
            in_shared: false,
            in_subnet: false,
        }
    }
    fn with(self, kind: Kind) -> Self {
        Ctx { kind, ..self }
    }
}

impl Parser<'_, '_, '_> {
    /// `parse_statement`: one declaration or parameter, by its keyword. Returns the new
    /// `declaration` flag.
    pub(crate) fn statement(
        &mut self,
        scope: &mut Scope,
        ctx: Ctx,
        host: Option<&mut Host>,
        declaration: bool,
    ) -> bool {
        if !self.deeper("declaration") {
            return declaration;
        }
        let d = self.statement_at(scope, ctx, host, declaration);
        self.shallower();
        d
    }

    fn statement_at(
        &mut self,
        scope: &mut Scope,
        ctx: Ctx,
        host: Option<&mut Host>,
        declaration: bool,
    ) -> bool {
        let t = self.peek();
        let loc = self.loc(&t);
        let kw = match t.tok {
            Tok::Kw(k) => k,
            _ => "",
        };
        if let Some(flag) = self.declaration_stmt(scope, ctx, &loc, kw, declaration) {
            return flag;
        }
        match kw {
            "hardware" => self.hardware_stmt(host),
            "fixed-address" | "fixed-address6" => {
                self.fixed_address_stmt(host, kw == "fixed-address6")
            }
            "not" => self.not_stmt(scope, ctx, loc),
            "authoritative" => {
                self.skip();
                self.authoritative(scope, ctx, loc, true);
                false
            }
            "server-identifier" => {
                self.server_identifier_stmt(scope, loc);
                declaration
            }
            "option" => self.option_stmt(scope, ctx, loc, declaration),
            "failover" => self.failover_stmt(scope, ctx, loc),
            _ if t.is_punct(b'%') => {
                self.skip_to_semi();
                false
            }
            _ => {
                self.parameter_stmt(scope, ctx, loc, declaration);
                declaration
            }
        }
    }

    /// A declaration (`include`, `host`, `group`, `shared-network`, `subnet`, the classes,
    /// `pool`, `range`), where it may stand. Returns the new `declaration` flag, or `None`
    /// when `kw` starts no declaration.
    fn declaration_stmt(
        &mut self,
        scope: &mut Scope,
        ctx: Ctx,
        loc: &Loc,
        kw: &str,
        declaration: bool,
    ) -> Option<bool> {
        let loc = loc.clone();
        let in_host_or_class = matches!(ctx.kind, Kind::Host | Kind::Class);
        Some(match kw {
            "include" => self.include_stmt(scope, ctx, loc),
            "host" => {
                let not_allowed = "host declarations not allowed here.";
                self.decl_stmt(scope, loc, !in_host_or_class, not_allowed, |p| {
                    p.host_decl(ctx)
                });
                true
            }
            "group" => {
                let not_allowed = "group declarations not allowed here.";
                self.decl_stmt(scope, loc, !in_host_or_class, not_allowed, |p| {
                    p.group_decl(ctx)
                });
                true
            }
            "shared-network" => {
                let allowed =
                    !in_host_or_class && !matches!(ctx.kind, Kind::SharedNet | Kind::Subnet);
                let not_allowed = "shared-network parameters not allowed here.";
                self.decl_stmt(scope, loc, allowed, not_allowed, |p| p.shared_net_decl(ctx))
            }
            "subnet" | "subnet6" => self.subnet_stmt(scope, ctx, loc, kw == "subnet6"),
            "vendor-class" | "user-class" | "class" | "subclass" => {
                let not_allowed = "class declarations not allowed here.";
                let allowed = ctx.kind != Kind::Class;
                self.decl_stmt(scope, loc, allowed, not_allowed, |p| p.class_decl(kw, ctx))
            }
            "pool" | "pool6" => {
                self.pool_stmt(scope, ctx, loc, kw == "pool6");
                declaration
            }
            "range" => {
                let allowed = ctx.kind == Kind::Subnet && ctx.in_subnet;
                let not_allowed = "range declaration not allowed here.";
                self.decl_stmt(scope, loc, allowed, not_allowed, Self::range_decl);
                declaration
            }
            "range6" | "prefix6" => {
                self.range6_stmt(ctx, kw);
                declaration
            }
            _ => return None,
        })
    }

    /// `include "FILE";`: the file's statements go into this scope.
    fn include_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc) -> bool {
        self.skip();
        let f = self.next();
        match f.tok {
            Tok::Str(bytes) => {
                let path = String::from_utf8_lossy(&bytes).into_owned();
                scope
                    .items
                    .push(Item::Decl(loc, Decl::Include { path: path.clone() }));
                if !self.include(&path, scope, ctx) {
                    self.warn(format!("{path}: bad parse."));
                }
                self.semi();
            }
            _ => {
                self.warn("filename string expected.");
                self.skip_to_semi();
            }
        }
        true
    }

    /// A declaration after its keyword: parsed by `decl` into `scope` where it is
    /// `allowed`, else warned about (`not_allowed`) and skipped. Returns `allowed`.
    fn decl_stmt(
        &mut self,
        scope: &mut Scope,
        loc: Loc,
        allowed: bool,
        not_allowed: &str,
        decl: impl FnOnce(&mut Self) -> Option<Decl>,
    ) -> bool {
        self.skip();
        if !allowed {
            self.warn(not_allowed);
            self.skip_to_semi();
            return false;
        }
        if let Some(d) = decl(self) {
            scope.items.push(Item::Decl(loc, d));
        }
        true
    }

    /// `subnet NET netmask MASK { ... }` (`subnet6` is skipped). ISC returns 1 for an
    /// implicit shared network and 0 inside an explicit one.
    fn subnet_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc, six: bool) -> bool {
        self.skip();
        if matches!(ctx.kind, Kind::Host | Kind::Subnet | Kind::Class) {
            self.warn("subnet declarations not allowed here.");
            self.skip_to_semi();
            return true;
        }
        if six {
            if !self.g.v6 {
                self.warn("subnet6 statement is only supported in DHCPv6 mode.");
            }
            self.skip_to_semi();
            return !ctx.in_shared;
        }
        if let Some(d) = self.subnet_decl(ctx) {
            scope.items.push(Item::Decl(loc, d));
        }
        !ctx.in_shared
    }

    /// `hardware TYPE ADDRESS;`, a host's only.
    fn hardware_stmt(&mut self, host: Option<&mut Host>) -> bool {
        self.skip();
        let hw = self.hardware_param();
        match host {
            // ISC checks before parsing; the second address is still consumed.
            Some(h) if h.hardware.is_some() => self.warn(format!(
                "Host {} hardware address already configured.",
                h.name
            )),
            Some(h) => h.hardware = hw,
            None => self.warn("hardware address parameter not allowed here."),
        }
        false
    }

    /// `fixed-address ADDRESS, ...;`, once per host.
    fn fixed_address_stmt(&mut self, host: Option<&mut Host>, six: bool) -> bool {
        self.skip();
        if let Some(addrs) = self.fixed_addr_param(six) {
            match host {
                Some(h) if !h.fixed_addresses.is_empty() => {
                    self.warn("Only one fixed address declaration per host.")
                }
                Some(h) => h.fixed_addresses = addrs,
                None => self.warn("fixed-address parameter not allowed here."),
            }
        }
        false
    }

    /// `pool { ... }` in a subnet or shared network (`pool6` is skipped).
    fn pool_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc, six: bool) {
        self.skip();
        if ctx.kind == Kind::Pool {
            self.warn(if six {
                "pool6 declared within pool."
            } else {
                "pool declared within pool."
            });
            self.skip_to_semi();
        } else if ctx.kind != Kind::Subnet && (six || ctx.kind != Kind::SharedNet) {
            self.warn(if six {
                "pool6 declared outside of network"
            } else {
                "pool declared outside of network"
            });
            self.skip_to_semi();
        } else if six {
            self.skip_to_rbrace(0);
        } else if let Some(d) = self.pool_decl(ctx) {
            scope.items.push(Item::Decl(loc, d));
        }
    }

    /// `range6` and `prefix6`, in a subnet: skipped.
    fn range6_stmt(&mut self, ctx: Ctx, kw: &str) {
        self.skip();
        if ctx.kind != Kind::Subnet || !ctx.in_subnet {
            self.warn(format!("{kw} declaration not allowed here."));
            self.skip_to_semi();
            return;
        }
        if kw == "range6" && !self.g.v6 {
            self.warn("range6 statement is only supported in DHCPv6 mode.");
        }
        self.skip_to_semi();
    }

    /// `not authoritative;`.
    fn not_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc) -> bool {
        self.skip();
        let n = self.next();
        if n.is_kw("authoritative") {
            self.authoritative(scope, ctx, loc, false);
        } else {
            self.warn("expecting assertion");
            self.skip_to_semi();
        }
        false
    }

    /// `server-identifier ADDRESS;`: option 54, superseding.
    fn server_identifier_stmt(&mut self, scope: &mut Scope, loc: Loc) {
        self.skip();
        if let Some(s) = self.option_statement_for("dhcp", 54, OptionOp::Supersede) {
            scope.items.push(Item::Stmt(loc, s));
        }
    }

    /// `option space ...;` (at the top only) or an option statement.
    fn option_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc, declaration: bool) -> bool {
        self.skip();
        if self.peek().is_kw("space") {
            if ctx.kind != Kind::Root {
                self.warn("option space definitions may not be scoped.");
                self.skip_to_semi();
                return false;
            }
            self.option_space_decl();
            return declaration;
        }
        if let Some(s) = self.top_option(ctx) {
            scope.items.push(Item::Stmt(loc, s));
        }
        declaration
    }

    /// `failover peer "NAME" { … }`: the name and its role (`primary;` or `secondary;`) are
    /// kept; the other statements of the block (addresses, ports, mclt, split…) are read
    /// past, as this server has no failover protocol: peers share a lease database, or split
    /// each failover pool between them.
    fn failover_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc) -> bool {
        if ctx.kind != Kind::Root && ctx.kind != Kind::SharedNet {
            self.warn("failover peers may only be defined in shared-network");
            self.log("declarations and the outer scope.");
            self.skip_to_semi();
            return false;
        }
        self.skip();
        if !self.peek().is_kw("peer") {
            self.warn("expecting \"peer\"");
            self.skip_block_statement();
            return false;
        }
        self.skip();
        let name = match self.peek().tok {
            Tok::Str(_) => self.next().text,
            _ => {
                self.warn("expecting string.");
                self.skip_block_statement();
                return false;
            }
        };
        let primary = self.failover_role();
        scope.items.push(Item::Stmt(
            loc,
            Stmt::Failover(Failover::Peer { name, primary }),
        ));
        false
    }

    /// The rest of a `failover peer` declaration: its role, from the `primary;` or
    /// `secondary;` statement of its block.
    fn failover_role(&mut self) -> Option<bool> {
        let mut role = None;
        if !self.peek().is_punct(b'{') {
            self.skip_block_statement();
            return None;
        }
        self.skip();
        let mut depth = 1;
        let mut at_statement = true;
        while depth > 0 {
            let t = self.next();
            match t.tok {
                Tok::Eof => {
                    self.warn("unexpected end of file");
                    break;
                }
                Tok::Punct(b'{') => depth += 1,
                Tok::Punct(b'}') => depth -= 1,
                _ if at_statement && depth == 1 && t.is_kw("primary") => role = Some(true),
                _ if at_statement && depth == 1 && t.is_kw("secondary") => role = Some(false),
                _ => {}
            }
            at_statement = matches!(t.tok, Tok::Punct(b';' | b'{' | b'}'));
        }
        role
    }

    /// Any other statement: a parameter or executable statement.
    fn parameter_stmt(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc, declaration: bool) {
        match self.executable_statement(ctx.kind == Kind::Root) {
            Ok(Some(s)) => scope.items.push(Item::Stmt(loc, s)),
            Ok(None) => {}
            Err(true) => {}
            Err(false) => {
                if declaration {
                    self.warn("expecting a declaration");
                } else {
                    self.warn("expecting a parameter or declaration");
                }
                self.skip_to_semi();
            }
        }
    }

    fn authoritative(&mut self, scope: &mut Scope, ctx: Ctx, loc: Loc, on: bool) {
        if ctx.kind == Kind::Host {
            self.warn("authority makes no sense here.");
        }
        if self.semi() {
            scope.items.push(Item::Authoritative(loc, on));
        }
    }

    /// At the end of a `{ ... }` body: a closing brace, or the end of the file (warned, as ISC
    /// dhcpd does). Consumes it and returns true; otherwise leaves the token.
    fn at_block_end(&mut self) -> bool {
        let t = self.peek();
        if t.is_punct(b'}') {
            self.skip();
            return true;
        }
        if t.tok == Tok::Eof {
            self.skip();
            self.warn("unexpected end of file");
            return true;
        }
        false
    }

    /// Skip `NAME ... { ... }` or `NAME ... ;` (failover peers, keys, zones we keep but ignore).
    pub(crate) fn skip_block_statement(&mut self) {
        loop {
            let t = self.peek();
            if t.tok == Tok::Eof {
                self.warn("unexpected end of file");
                return;
            }
            if t.is_punct(b';') {
                self.skip();
                return;
            }
            if t.is_punct(b'{') {
                self.skip();
                self.skip_to_rbrace(1);
                return;
            }
            self.skip();
        }
    }

    fn include(&mut self, path: &str, scope: &mut Scope, ctx: Ctx) -> bool {
        if self.g.depth > 32 {
            self.fatal(format!("Can't open {path}: Too many levels of includes"));
            return true;
        }
        let bytes = match (self.g.loader)(path) {
            Ok(b) => b,
            Err(e) => {
                self.fatal(format!(
                    "Can't open {path}: {}",
                    super::super::io_error_text(&e)
                ));
                return true;
            }
        };
        self.g.depth += 1;
        let mut sub = Parser::new(path, &bytes, &mut *self.g);
        let mut declaration = false;
        loop {
            if sub.peek().tok == Tok::Eof {
                break;
            }
            declaration = sub.statement(scope, ctx, None, declaration);
        }
        sub.skip();
        let errors = sub.errors;
        self.g.depth -= 1;
        self.errors += errors;
        errors == 0
    }

    /// A `{ ... }` body of declarations and parameters, ending at `}` (ISC's per-scope loops).
    fn body(&mut self, ctx: Ctx, mut host: Option<&mut Host>) -> Scope {
        let mut scope = Scope::default();
        let mut declaration = false;
        loop {
            if self.at_block_end() {
                break;
            }
            let t = self.peek();
            if matches!(ctx.kind, Kind::Subnet | Kind::SharedNet) && t.is_kw("interface") {
                self.skip();
                self.next();
                if !self.semi() {
                    break;
                }
                continue;
            }
            declaration = self.statement(&mut scope, ctx, host.as_deref_mut(), declaration);
        }
        scope
    }

    /// The items of a host or class body up to its closing brace, the `dynamic;` and
    /// `deleted;` flags (of declarations written by OMAPI) skipped; `item` parses the others
    /// and says whether to go on.
    fn flagged_body(&mut self, mut item: impl FnMut(&mut Self, &Token) -> bool) -> Flags {
        let mut flags = Flags::default();
        loop {
            if self.at_block_end() {
                break;
            }
            let t = self.peek();
            if t.is_kw("dynamic") || t.is_kw("deleted") {
                flags.dynamic |= t.is_kw("dynamic");
                flags.deleted |= t.is_kw("deleted");
                self.skip();
                if !self.semi() {
                    break;
                }
                continue;
            }
            if !item(self, &t) {
                break;
            }
        }
        flags
    }

    /// `host NAME { ... }` (hosts are global: declared in a subnet or shared network, ISC
    /// warns once).
    pub(crate) fn host_decl(&mut self, ctx: Ctx) -> Option<Decl> {
        if self.g.host_warning_pending && matches!(ctx.kind, Kind::Subnet | Kind::SharedNet) {
            self.g.host_warning_pending = false;
            self.log("WARNING: Host declarations are global.  They are not limited to the scope you declared them in.");
        }
        let Some(name) = self.host_name() else {
            self.warn("expecting a name for host declaration.");
            self.skip_to_semi();
            return None;
        };
        let mut host = Host {
            name,
            hardware: None,
            fixed_addresses: Vec::new(),
            uid: None,
            host_identifier: None,
            group: None,
            body: Scope::default(),
            dynamic: false,
            deleted: false,
        };
        if !self.lbrace() {
            return None;
        }
        let hctx = ctx.with(Kind::Host);
        let mut declaration = false;
        let flags = self.flagged_body(|p, t| {
            if t.is_kw("group") {
                return p.host_group(&mut host);
            }
            if t.is_kw("uid") {
                return p.host_uid(&mut host);
            }
            if t.is_kw("host-identifier") {
                return p.host_identifier(&mut host);
            }
            let mut body = std::mem::take(&mut host.body);
            declaration = p.statement(&mut body, hctx, Some(&mut host), declaration);
            host.body = body;
            true
        });
        host.dynamic = flags.dynamic;
        host.deleted = flags.deleted;
        // `option dhcp-client-identifier` inside a host doubles as its uid, as in ISC.
        if host.uid.is_none() {
            host.uid = client_id_option(&host.body);
        }
        Some(Decl::Host(host))
    }

    /// A host's `group NAME;`. False: the host's body ends here.
    fn host_group(&mut self, host: &mut Host) -> bool {
        self.skip();
        let g = self.next();
        if !matches!(g.tok, Tok::Str(_)) && !g.is_identifier() {
            self.warn("expecting string or identifier.");
            self.skip_to_rbrace(1);
            return false;
        }
        host.group = Some(g.text.clone());
        self.semi()
    }

    /// A host's `uid "TEXT";` or `uid HEX:LIST;`, once. False: the host's body ends here.
    fn host_uid(&mut self, host: &mut Host) -> bool {
        self.skip();
        if host.uid.is_some() {
            self.warn(format!("Host '{}' already has a uid", host.name));
            self.skip_to_rbrace(1);
            return false;
        }
        host.uid = match self.peek().tok {
            Tok::Str(s) => {
                self.skip();
                Some(s)
            }
            _ => {
                let v = self.numeric_aggregate(0, b':', 16, 8);
                if v.is_none() {
                    self.warn("expecting hex list.");
                    self.skip_to_semi();
                }
                v
            }
        };
        self.semi()
    }

    /// A host's `host-identifier option NAME VALUE;`. False: the host's body ends here.
    fn host_identifier(&mut self, host: &mut Host) -> bool {
        self.skip();
        let o = self.next();
        if !o.is_kw("option") {
            self.warn("host-identifier must be an option or v6relopt");
            self.skip_to_rbrace(1);
            return false;
        }
        let Some((space, name, info)) = self.option_name(true) else {
            return false;
        };
        let Some(info) = info else {
            self.warn(format!("unknown option {space}.{name}"));
            self.skip_to_rbrace(1);
            return false;
        };
        let Some(v) = self.option_data(&info.format) else {
            self.skip_to_rbrace(1);
            return false;
        };
        if !self.semi() {
            self.skip_to_rbrace(1);
            return false;
        }
        host.host_identifier = Some((format!("{space}.{name}"), v));
        true
    }

    pub(crate) fn hardware_param(&mut self) -> Option<(u8, Vec<u8>)> {
        let t = self.next();
        let htype = match t.tok {
            Tok::Kw("ethernet") => 1,
            Tok::Kw("token-ring") => 6,
            Tok::Kw("fddi") => 8,
            Tok::Kw("infiniband") => 32,
            _ if t.text.starts_with("unknown-") => t.text[8..].parse::<u8>().unwrap_or(0),
            _ => {
                self.warn("expecting a network hardware type");
                self.skip_to_semi();
                return None;
            }
        };
        let mut addr = Vec::new();
        if !self.peek().is_punct(b';') {
            let v = self.numeric_aggregate(0, b':', 16, 8)?;
            if v.len() + 1 > 21 {
                self.warn("hardware address too long");
            } else {
                addr = v;
            }
        }
        if !self.next().is_punct(b';') {
            self.warn("expecting semicolon.");
            self.skip_to_semi();
        }
        Some((htype, addr))
    }

    fn fixed_addr_param(&mut self, six: bool) -> Option<Vec<HostAddr>> {
        let mut out = Vec::new();
        loop {
            if six {
                // Kept as a name; DHCPv6 is not served.
                let n = self.host_name()?;
                out.push(HostAddr::Name(n));
            } else {
                out.push(self.ip_addr_or_hostname()?);
            }
            if self.peek().is_punct(b',') {
                self.skip();
            } else {
                break;
            }
        }
        if !self.semi() {
            return None;
        }
        Some(out)
    }

    /// `group [NAME] { ... }`, with the `dynamic;`, `static;` and `deleted;` flags of the
    /// records ISC writes to dhcpd.leases.
    pub(crate) fn group_decl(&mut self, ctx: Ctx) -> Option<Decl> {
        let t = self.peek();
        let name = if t.is_identifier() || matches!(t.tok, Tok::Str(_)) {
            self.skip();
            Some(t.text)
        } else {
            None
        };
        if !self.lbrace() {
            return None;
        }
        let gctx = ctx.with(Kind::Group);
        let mut body = Scope::default();
        let mut declaration = false;
        let (mut dynamic, mut deleted) = (false, false);
        loop {
            if self.at_block_end() {
                break;
            }
            let t = self.peek();
            if t.is_kw("deleted") || t.is_kw("dynamic") || t.is_kw("static") {
                dynamic |= t.is_kw("dynamic");
                deleted |= t.is_kw("deleted");
                self.skip();
                self.semi();
                continue;
            }
            declaration = self.statement(&mut body, gctx, None, declaration);
        }
        Some(Decl::Group(GroupDecl {
            name,
            body,
            dynamic,
            deleted,
        }))
    }

    fn shared_net_decl(&mut self, ctx: Ctx) -> Option<Decl> {
        let t = self.peek();
        let name = if let Tok::Str(s) = &t.tok {
            self.skip();
            if s.is_empty() {
                self.warn("zero-length shared network name");
                "<no-name-given>".to_string()
            } else {
                String::from_utf8_lossy(s).into_owned()
            }
        } else {
            match self.host_name() {
                Some(n) => n,
                None => {
                    self.warn("expecting a name for shared-network");
                    self.skip_to_semi();
                    return None;
                }
            }
        };
        if !self.lbrace() {
            return None;
        }
        let sctx = Ctx {
            kind: Kind::SharedNet,
            in_shared: true,
            in_subnet: false,
        };
        let _ = ctx;
        let mut body = Scope::default();
        let mut declaration = false;
        loop {
            let t = self.peek();
            if t.is_punct(b'}') {
                self.skip();
                let has_subnet = body
                    .items
                    .iter()
                    .any(|i| matches!(i, Item::Decl(_, Decl::Subnet { .. })));
                if !has_subnet {
                    self.warn("empty shared-network decl");
                }
                return Some(Decl::SharedNetwork { name, body });
            }
            if t.tok == Tok::Eof {
                self.skip();
                self.warn("unexpected end of file");
                break;
            }
            if t.is_kw("interface") {
                self.skip();
                self.next();
                if !self.semi() {
                    break;
                }
                continue;
            }
            declaration = self.statement(&mut body, sctx, None, declaration);
        }
        Some(Decl::SharedNetwork { name, body })
    }

    fn subnet_decl(&mut self, ctx: Ctx) -> Option<Decl> {
        let net = self.ip_addr()?;
        if !self.next().is_kw("netmask") {
            self.warn("Expecting netmask");
            self.skip_to_semi();
            return None;
        }
        let mask = self.ip_addr()?;
        if u32::from(net) & !u32::from(mask) != 0 {
            self.warn(format!(
                "subnet {net} netmask {mask}: bad subnet number/mask combination."
            ));
            self.skip_to_semi();
            return None;
        }
        if !self.lbrace() {
            return None;
        }
        let sctx = Ctx {
            kind: Kind::Subnet,
            in_shared: ctx.in_shared,
            in_subnet: true,
        };
        let body = self.body(sctx, None);
        Some(Decl::Subnet { net, mask, body })
    }

    fn class_decl(&mut self, kw: &str, ctx: Ctx) -> Option<Decl> {
        let t = self.next();
        let Tok::Str(name) = t.tok else {
            self.warn("Expecting class name");
            self.skip_to_semi();
            return None;
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        let exists = self.g.classes.contains(&name);
        if kw != "class" && !exists && kw == "subclass" {
            self.warn(format!("no class named {name}"));
            self.skip_to_semi();
            return None;
        }
        if kw == "vendor-class" || kw == "user-class" {
            // Old-style implicit classes: ISC needs the implicit parent, which does not exist.
            self.warn(format!("no class named {name}"));
            self.skip_to_semi();
            return None;
        }
        let cctx = ctx.with(Kind::Class);
        if kw == "subclass" {
            let key = match self.peek().tok {
                Tok::Str(s) => {
                    self.skip();
                    s
                }
                Tok::Number(_) | Tok::NumberOrName(_) => self.cshl()?,
                _ => {
                    self.warn("Expecting string or hex list.");
                    return None;
                }
            };
            if self.peek().is_punct(b';') {
                self.skip();
                return Some(Decl::Subclass {
                    parent: name,
                    key,
                    body: None,
                });
            }
            if !self.lbrace() {
                return None;
            }
            let mut class = Class {
                name: name.clone(),
                match_if: None,
                submatch: None,
                spawn: false,
                lease_limit: None,
                body: Scope::default(),
            };
            self.class_body(&mut class, cctx, true);
            return Some(Decl::Subclass {
                parent: name,
                key,
                body: Some(class.body),
            });
        }
        if !exists {
            self.g.classes.push(name.clone());
        }
        if !self.lbrace() {
            return None;
        }
        let mut class = Class {
            name,
            match_if: None,
            submatch: None,
            spawn: false,
            lease_limit: None,
            body: Scope::default(),
        };
        self.class_body(&mut class, cctx, false);
        Some(Decl::Class(class))
    }

    fn class_body(&mut self, class: &mut Class, cctx: Ctx, is_sub: bool) {
        let mut declaration = false;
        let mut matched_once = false;
        let mut submatched_once = false;
        self.flagged_body(|p, t| {
            if t.is_kw("match") {
                return p.class_match(class, is_sub, &mut matched_once, &mut submatched_once);
            }
            if t.is_kw("spawn") {
                return p.class_spawn(class, is_sub, &mut submatched_once);
            }
            if t.is_kw("lease") {
                return p.class_lease_limit(class);
            }
            let mut body = std::mem::take(&mut class.body);
            declaration = p.statement(&mut body, cctx, None, declaration);
            class.body = body;
            true
        });
    }

    /// A class's `match if EXPR;` (once) or `match EXPR;` (its submatch). False: the class's
    /// body ends here.
    fn class_match(
        &mut self,
        class: &mut Class,
        is_sub: bool,
        matched_once: &mut bool,
        submatched_once: &mut bool,
    ) -> bool {
        if is_sub {
            self.warn("invalid match in subclass.");
            self.skip_to_semi();
            return false;
        }
        self.skip();
        if !self.peek().is_kw("if") {
            return self.submatch(class, submatched_once);
        }
        self.skip();
        self.class_clause(
            matched_once,
            "A class may only have one 'match if' clause.",
            Self::boolean_expression,
            "expecting boolean expr.",
            &mut class.match_if,
        )
    }

    /// A class's `spawn with EXPR;`. False: the class's body ends here.
    fn class_spawn(&mut self, class: &mut Class, is_sub: bool, submatched_once: &mut bool) -> bool {
        self.skip();
        if is_sub {
            self.warn("invalid spawn in subclass.");
            self.skip_to_semi();
            return false;
        }
        class.spawn = true;
        if !self.next().is_kw("with") {
            self.warn("expecting with after spawn");
            self.skip_to_semi();
            return false;
        }
        self.submatch(class, submatched_once)
    }

    /// A class's `lease limit N;`. False: the class's body ends here.
    fn class_lease_limit(&mut self, class: &mut Class) -> bool {
        self.skip();
        let l = self.next();
        if !l.is_kw("limit") {
            self.warn("expecting \"limit\"");
            if !l.is_punct(b';') {
                self.skip_to_semi();
            }
            return false;
        }
        let n = self.next();
        if !matches!(n.tok, Tok::Number(_)) {
            self.warn("expecting a number");
            if !n.is_punct(b';') {
                self.skip_to_semi();
            }
            return false;
        }
        class.lease_limit = Some(atoi(&n.text) as u32);
        self.semi();
        true
    }

    /// A class's submatch (`match EXPR;`, `spawn with EXPR;`), once.
    fn submatch(&mut self, class: &mut Class, once: &mut bool) -> bool {
        self.class_clause(
            once,
            "can't override existing submatch/spawn.",
            Self::data_expression,
            "expecting data expr.",
            &mut class.submatch,
        )
    }

    /// A clause a class may have once: its expression (read by `parse`) into `slot`, or the
    /// warning `expected`. False: `once` says it was seen before (warned with `again`), and
    /// the class's body ends here.
    fn class_clause<E>(
        &mut self,
        once: &mut bool,
        again: &str,
        parse: impl FnOnce(&mut Self) -> Result<E, Lose>,
        expected: &str,
        slot: &mut Option<E>,
    ) -> bool {
        if *once {
            self.warn(again);
            self.skip_to_semi();
            return false;
        }
        *once = true;
        match parse(self) {
            Ok(e) => {
                *slot = Some(e);
                self.semi();
            }
            Err(lose) => {
                if !lose {
                    self.warn(expected);
                    self.skip_to_semi();
                }
            }
        }
        true
    }

    fn pool_decl(&mut self, ctx: Ctx) -> Option<Decl> {
        if !self.lbrace() {
            return None;
        }
        let pctx = ctx.with(Kind::Pool);
        let mut body = Scope::default();
        let mut permits = Vec::new();
        let mut declaration = false;
        let mut has_range = false;
        loop {
            let t = self.peek();
            let loc = self.loc(&t);
            if t.is_kw("no") {
                self.skip();
                let f = self.next();
                if !f.is_kw("failover") || !self.next().is_kw("peer") {
                    self.warn("expecting \"failover peer\".");
                    self.skip_to_semi();
                    continue;
                }
                // ISC then treats the rest (";") as the next statement.
            } else if t.is_kw("failover") {
                self.skip();
                if !self.next().is_kw("peer") {
                    self.warn("expecting 'peer'.");
                    self.skip_to_semi();
                    continue;
                }
                let name = self.next();
                if !matches!(name.tok, Tok::Str(_)) {
                    self.warn("expecting string.");
                    self.skip_to_semi();
                    continue;
                }
                if self.semi() {
                    body.items.push(Item::Stmt(
                        loc,
                        Stmt::Failover(Failover::Pool { peer: name.text }),
                    ));
                }
            } else if t.is_kw("range") {
                self.skip();
                if let Some(d) = self.range_decl() {
                    has_range = true;
                    body.items.push(super::super::ast::Item::Decl(loc, d));
                }
            } else if t.is_kw("allow") || t.is_kw("deny") {
                self.skip();
                if let Some(what) = self.permit() {
                    permits.push(Permit {
                        allow: t.is_kw("allow"),
                        what,
                    });
                }
            } else if t.is_punct(b'}') {
                self.skip();
                break;
            } else if t.tok == Tok::Eof {
                self.warn("unexpected end of file");
                return Some(Decl::Pool { permits, body });
            } else {
                declaration = self.statement(&mut body, pctx, None, declaration);
            }
        }
        if !has_range {
            self.warn("Pool declaration with no address range.");
            self.log("Pool declarations must always contain at least");
            self.log("one range statement.");
        }
        Some(Decl::Pool { permits, body })
    }

    /// `get_permit`.
    fn permit(&mut self) -> Option<PermitKind> {
        let t = self.next();
        let mut need_clients = true;
        let kind = match t.tok {
            Tok::Kw("unknown") => PermitKind::UnknownClients,
            Tok::Kw("known-clients") => {
                need_clients = false;
                PermitKind::KnownClients
            }
            Tok::Kw("unknown-clients") => {
                need_clients = false;
                PermitKind::UnknownClients
            }
            Tok::Kw("known") => PermitKind::KnownClients,
            Tok::Kw("authenticated") => PermitKind::Authenticated,
            Tok::Kw("unauthenticated") => PermitKind::Unauthenticated,
            Tok::Kw("all") => PermitKind::All,
            Tok::Kw("dynamic") => {
                if !self.next().is_kw("bootp") {
                    self.warn("expecting \"bootp\"");
                    self.skip_to_semi();
                    return None;
                }
                PermitKind::DynamicBootp
            }
            Tok::Kw("members") => {
                need_clients = false;
                if !self.next().is_kw("of") {
                    self.warn("expecting \"of\"");
                    self.skip_to_semi();
                    return None;
                }
                let c = self.next();
                let Tok::Str(c) = c.tok else {
                    self.warn("expecting class name.");
                    self.skip_to_semi();
                    return None;
                };
                let c = String::from_utf8_lossy(&c).into_owned();
                if !self.g.classes.contains(&c) {
                    self.warn(format!("no such class: {c}"));
                }
                PermitKind::MembersOf(c)
            }
            Tok::Kw("after") => {
                need_clients = false;
                let mut text = Vec::new();
                while !self.peek().is_punct(b';') && self.peek().tok != Tok::Eof {
                    text.push(self.next().text);
                }
                PermitKind::After(text.join(" "))
            }
            _ => {
                self.warn("expecting permit type.");
                self.skip_to_semi();
                return None;
            }
        };
        if need_clients && !self.next().is_kw("clients") {
            self.warn("expecting \"clients\"");
            self.skip_to_semi();
            return None;
        }
        self.semi();
        Some(kind)
    }

    fn range_decl(&mut self) -> Option<Decl> {
        let mut dynamic_bootp = false;
        if self.peek().is_kw("dynamic-bootp") {
            self.skip();
            dynamic_bootp = true;
        }
        let low = self.ip_addr()?;
        let high = if self.peek().is_punct(b';') {
            low
        } else {
            self.ip_addr()?
        };
        if !self.next().is_punct(b';') {
            self.warn("semicolon expected.");
            self.skip_to_semi();
            return None;
        }
        Some(Decl::Range {
            dynamic_bootp,
            low,
            high,
        })
    }
}

/// The data of a host's `option dhcp-client-identifier`, the last one if several.
fn client_id_option(body: &Scope) -> Option<Vec<u8>> {
    body.items.iter().rev().find_map(|item| match item {
        Item::Stmt(
            _,
            Stmt::Option {
                name,
                value: OptionValue::Atoms(a),
                ..
            },
        ) if name.eq_ignore_ascii_case("dhcp-client-identifier") => match a.first() {
            Some(Atom::Data(d)) => Some(d.clone()),
            _ => None,
        },
        _ => None,
    })
}

/// C `atoi`: leading digits, 0 if none.
pub(crate) fn atoi(s: &str) -> i64 {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}
/// The `dynamic;` and `deleted;` flags of a host or class body.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    dynamic: bool,
    deleted: bool,
}
