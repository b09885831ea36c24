//! Declarations and the statement dispatcher (ISC `parse_statement`): include, host, group,
//! shared-network, subnet, class/subclass, pool, range, hardware, fixed-address,
//! authoritative, option definitions and option statements.

use super::super::ast::{Class, Decl, Host, HostAddr, Item, Permit, PermitKind, Scope, Stmt};
use super::super::lexer::Tok;
use super::Parser;

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
    /// `parse_statement`. Returns the new `declaration` flag.
    pub(crate) fn statement(
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
        match kw {
            "include" => {
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
            "host" => {
                self.skip();
                if ctx.kind != Kind::Host && ctx.kind != Kind::Class {
                    if self.g.host_warning_pending
                        && matches!(ctx.kind, Kind::Subnet | Kind::SharedNet)
                    {
                        self.g.host_warning_pending = false;
                        self.log("WARNING: Host declarations are global.  They are not limited to the scope you declared them in.");
                    }
                    if let Some(h) = self.host_decl(ctx) {
                        scope.items.push(Item::Decl(loc, Decl::Host(h)));
                    }
                } else {
                    self.warn("host declarations not allowed here.");
                    self.skip_to_semi();
                }
                true
            }
            "group" => {
                self.skip();
                if ctx.kind != Kind::Host && ctx.kind != Kind::Class {
                    if let Some(d) = self.group_decl(ctx) {
                        scope.items.push(Item::Decl(loc, d));
                    }
                } else {
                    self.warn("group declarations not allowed here.");
                    self.skip_to_semi();
                }
                true
            }
            "shared-network" => {
                self.skip();
                if matches!(
                    ctx.kind,
                    Kind::SharedNet | Kind::Host | Kind::Subnet | Kind::Class
                ) {
                    self.warn("shared-network parameters not allowed here.");
                    self.skip_to_semi();
                    return false;
                }
                if let Some(d) = self.shared_net_decl(ctx) {
                    scope.items.push(Item::Decl(loc, d));
                }
                true
            }
            "subnet" | "subnet6" => {
                self.skip();
                if matches!(ctx.kind, Kind::Host | Kind::Subnet | Kind::Class) {
                    self.warn("subnet declarations not allowed here.");
                    self.skip_to_semi();
                    return true;
                }
                if kw == "subnet6" {
                    if !self.g.v6 {
                        self.warn("subnet6 statement is only supported in DHCPv6 mode.");
                        self.skip_to_semi();
                    } else {
                        self.skip_to_semi();
                    }
                    return !ctx.in_shared;
                }
                if let Some(d) = self.subnet_decl(ctx) {
                    scope.items.push(Item::Decl(loc, d));
                }
                // ISC returns 1 for an implicit shared network and 0 inside an explicit one.
                !ctx.in_shared
            }
            "vendor-class" | "user-class" | "class" | "subclass" => {
                self.skip();
                if ctx.kind == Kind::Class {
                    self.warn("class declarations not allowed here.");
                    self.skip_to_semi();
                    return false;
                }
                if let Some(d) = self.class_decl(kw, ctx) {
                    scope.items.push(Item::Decl(loc, d));
                }
                true
            }
            "hardware" => {
                self.skip();
                let hw = self.hardware_param();
                match host {
                    Some(h) => {
                        if h.hardware.is_some() {
                            // ISC checks before parsing; the second address is still consumed.
                            self.warn(format!(
                                "Host {} hardware address already configured.",
                                h.name
                            ));
                        } else {
                            h.hardware = hw;
                        }
                    }
                    None => self.warn("hardware address parameter not allowed here."),
                }
                false
            }
            "fixed-address" | "fixed-address6" => {
                self.skip();
                if let Some(addrs) = self.fixed_addr_param(kw == "fixed-address6") {
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
            "pool" | "pool6" => {
                self.skip();
                let six = kw == "pool6";
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
                declaration
            }
            "range" => {
                self.skip();
                if ctx.kind != Kind::Subnet || !ctx.in_subnet {
                    self.warn("range declaration not allowed here.");
                    self.skip_to_semi();
                    return declaration;
                }
                if let Some(d) = self.range_decl() {
                    scope.items.push(Item::Decl(loc, d));
                }
                declaration
            }
            "range6" | "prefix6" => {
                self.skip();
                if ctx.kind != Kind::Subnet || !ctx.in_subnet {
                    self.warn(format!("{kw} declaration not allowed here."));
                    self.skip_to_semi();
                    return declaration;
                }
                if kw == "range6" && !self.g.v6 {
                    self.warn("range6 statement is only supported in DHCPv6 mode.");
                }
                self.skip_to_semi();
                declaration
            }
            "not" => {
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
            "authoritative" => {
                self.skip();
                self.authoritative(scope, ctx, loc, true);
                false
            }
            "server-identifier" => {
                self.skip();
                if let Some(s) =
                    self.option_statement_for("dhcp", 54, super::super::ast::OptionOp::Supersede)
                {
                    scope.items.push(Item::Stmt(loc, s));
                }
                declaration
            }
            "option" => {
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
            "failover" => {
                if ctx.kind != Kind::Root && ctx.kind != Kind::SharedNet {
                    self.warn("failover peers may only be defined in shared-network");
                    self.log("declarations and the outer scope.");
                    self.skip_to_semi();
                    return false;
                }
                self.skip();
                self.g.note_unsupported("failover peer", loc.clone());
                self.skip_block_statement();
                scope.items.push(Item::Stmt(
                    loc,
                    Stmt::Unsupported {
                        keyword: "failover".into(),
                    },
                ));
                false
            }
            _ if t.is_punct(b'%') => {
                self.skip_to_semi();
                false
            }
            _ => {
                match self.executable_statement(ctx.kind == Kind::Root) {
                    Ok(Some(s)) => scope.items.push(Item::Stmt(loc, s)),
                    Ok(None) => {}
                    Err(lose) => {
                        if !lose {
                            if declaration {
                                self.warn("expecting a declaration");
                            } else {
                                self.warn("expecting a parameter or declaration");
                            }
                            self.skip_to_semi();
                        }
                    }
                }
                declaration
            }
        }
    }

    fn authoritative(
        &mut self,
        scope: &mut Scope,
        ctx: Ctx,
        loc: super::super::ast::Loc,
        on: bool,
    ) {
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

    fn host_decl(&mut self, ctx: Ctx) -> Option<Host> {
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
        };
        if !self.lbrace() {
            return None;
        }
        let hctx = ctx.with(Kind::Host);
        let mut declaration = false;
        loop {
            if self.at_block_end() {
                break;
            }
            let t = self.peek();
            if t.is_kw("dynamic") || t.is_kw("deleted") {
                self.skip();
                if !self.semi() {
                    break;
                }
                continue;
            }
            if t.is_kw("group") {
                self.skip();
                let g = self.next();
                if !matches!(g.tok, Tok::Str(_)) && !g.is_identifier() {
                    self.warn("expecting string or identifier.");
                    self.skip_to_rbrace(1);
                    break;
                }
                host.group = Some(g.text.clone());
                if !self.semi() {
                    break;
                }
                continue;
            }
            if t.is_kw("uid") {
                self.skip();
                if host.uid.is_some() {
                    self.warn(format!("Host '{}' already has a uid", host.name));
                    self.skip_to_rbrace(1);
                    break;
                }
                let v = match self.peek().tok {
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
                host.uid = v;
                if !self.semi() {
                    break;
                }
                continue;
            }
            if t.is_kw("host-identifier") {
                self.skip();
                let o = self.next();
                if !o.is_kw("option") {
                    self.warn("host-identifier must be an option or v6relopt");
                    self.skip_to_rbrace(1);
                    break;
                }
                let Some((space, name, info)) = self.option_name(true) else {
                    break;
                };
                let Some(info) = info else {
                    self.warn(format!("unknown option {space}.{name}"));
                    self.skip_to_rbrace(1);
                    break;
                };
                let Some(v) = self.option_data(&info.format) else {
                    self.skip_to_rbrace(1);
                    break;
                };
                if !self.semi() {
                    self.skip_to_rbrace(1);
                    break;
                }
                host.host_identifier = Some((format!("{space}.{name}"), v));
                continue;
            }
            let mut body = std::mem::take(&mut host.body);
            declaration = self.statement(&mut body, hctx, Some(&mut host), declaration);
            host.body = body;
        }
        // `option dhcp-client-identifier` inside a host doubles as its uid, as in ISC.
        if host.uid.is_none() {
            for item in &host.body.items {
                if let Item::Stmt(
                    _,
                    Stmt::Option {
                        name,
                        value: super::super::ast::OptionValue::Atoms(a),
                        ..
                    },
                ) = item
                    && name.eq_ignore_ascii_case("dhcp-client-identifier")
                    && let Some(super::super::ast::Atom::Data(d)) = a.first()
                {
                    host.uid = Some(d.clone());
                }
            }
        }
        Some(host)
    }

    pub(super) fn hardware_param(&mut self) -> Option<(u8, Vec<u8>)> {
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

    fn group_decl(&mut self, ctx: Ctx) -> Option<Decl> {
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
        loop {
            if self.at_block_end() {
                break;
            }
            let t = self.peek();
            if t.is_kw("deleted") || t.is_kw("dynamic") || t.is_kw("static") {
                self.skip();
                self.semi();
            }
            declaration = self.statement(&mut body, gctx, None, declaration);
        }
        Some(Decl::Group { name, body })
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
        loop {
            if self.at_block_end() {
                break;
            }
            let t = self.peek();
            if t.is_kw("dynamic") || t.is_kw("deleted") {
                self.skip();
                if !self.semi() {
                    break;
                }
                continue;
            }
            if t.is_kw("match") {
                if is_sub {
                    self.warn("invalid match in subclass.");
                    self.skip_to_semi();
                    break;
                }
                self.skip();
                if self.peek().is_kw("if") {
                    self.skip();
                    if matched_once {
                        self.warn("A class may only have one 'match if' clause.");
                        self.skip_to_semi();
                        break;
                    }
                    matched_once = true;
                    match self.boolean_expression() {
                        Ok(e) => {
                            class.match_if = Some(e);
                            self.semi();
                        }
                        Err(lose) => {
                            if !lose {
                                self.warn("expecting boolean expr.");
                                self.skip_to_semi();
                            }
                        }
                    }
                    continue;
                }
                if !self.submatch(class, &mut submatched_once) {
                    break;
                }
                continue;
            }
            if t.is_kw("spawn") {
                self.skip();
                if is_sub {
                    self.warn("invalid spawn in subclass.");
                    self.skip_to_semi();
                    break;
                }
                class.spawn = true;
                if !self.next().is_kw("with") {
                    self.warn("expecting with after spawn");
                    self.skip_to_semi();
                    break;
                }
                if !self.submatch(class, &mut submatched_once) {
                    break;
                }
                continue;
            }
            if t.is_kw("lease") {
                self.skip();
                let l = self.next();
                if !l.is_kw("limit") {
                    self.warn("expecting \"limit\"");
                    if !l.is_punct(b';') {
                        self.skip_to_semi();
                    }
                    break;
                }
                let n = self.next();
                if !matches!(n.tok, Tok::Number(_)) {
                    self.warn("expecting a number");
                    if !n.is_punct(b';') {
                        self.skip_to_semi();
                    }
                    break;
                }
                class.lease_limit = Some(atoi(&n.text) as u32);
                self.semi();
                continue;
            }
            let mut body = std::mem::take(&mut class.body);
            declaration = self.statement(&mut body, cctx, None, declaration);
            class.body = body;
        }
    }

    fn submatch(&mut self, class: &mut Class, once: &mut bool) -> bool {
        if *once {
            self.warn("can't override existing submatch/spawn.");
            self.skip_to_semi();
            return false;
        }
        *once = true;
        match self.data_expression() {
            Ok(e) => {
                class.submatch = Some(e);
                self.semi();
            }
            Err(lose) => {
                if !lose {
                    self.warn("expecting data expr.");
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
                self.g.note_unsupported("failover peer", loc.clone());
                if !self.next().is_kw("peer") {
                    self.warn("expecting 'peer'.");
                    self.skip_to_semi();
                    continue;
                }
                if !matches!(self.next().tok, Tok::Str(_)) {
                    self.warn("expecting string.");
                    self.skip_to_semi();
                    continue;
                }
                self.semi();
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

/// C `atoi`: leading digits, 0 if none.
pub(crate) fn atoi(s: &str) -> i64 {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}
