//! Options in the grammar: option names (`[space.]name`), `option space`, option code
//! definitions (`option NAME code N = TYPE;`) and option values parsed by the option's ISC
//! format string (`IA`, `BA`, `t`, `X`, `Nsyslog-facilities.`, `Sa`, ...).

use super::super::ast::{Atom, OptionDef, OptionOp, OptionValue, SpaceDecl, Stmt};
use super::super::lexer::Tok;
use super::super::options::{OptionInfo, enumeration};
use super::Parser;
use super::stmt::{Ctx, Kind, atoi};

impl Parser<'_, '_, '_> {
    /// `parse_option_name`. Returns space, name and the definition if known. With `allocate`
    /// an unknown name is returned without a definition (it may be about to be defined);
    /// without, it is an error.
    pub(crate) fn option_name(
        &mut self,
        allocate: bool,
    ) -> Option<(String, String, Option<OptionInfo>)> {
        let t = self.next();
        if !t.is_identifier() {
            self.warn("expecting identifier after option keyword.");
            if !t.is_punct(b';') {
                self.skip_to_semi();
            }
            return None;
        }
        let (space, name) = if self.peek().is_punct(b'.') {
            self.skip();
            let n = self.next();
            if !n.is_identifier() {
                self.warn("expecting identifier after '.'");
                if !n.is_punct(b';') {
                    self.skip_to_semi();
                }
                return None;
            }
            match self.g.reg.space(&t.text) {
                Some(s) => (s.name.clone(), n.text),
                None => {
                    self.warn(format!("no option space named {}.", t.text));
                    self.skip_to_semi();
                    return None;
                }
            }
        } else {
            ("dhcp".to_string(), t.text)
        };
        let info = self
            .g
            .reg
            .space(&space)
            .and_then(|s| s.by_name(&name))
            .cloned();
        if info.is_some() {
            return Some((space, name, info));
        }
        if name.len() > 8 && name[..8].eq_ignore_ascii_case("unknown-") {
            let code = atoi(&name[8..]) as u32;
            let end = 255;
            if code == 0 || code == end {
                self.warn(format!(
                    "Option codes 0 and {end} are illegal in the {space} space."
                ));
                self.skip_to_semi();
                return None;
            }
            let info = self
                .g
                .reg
                .space(&space)
                .and_then(|s| s.by_code(code))
                .cloned()
                .unwrap_or(OptionInfo {
                    name: name.clone(),
                    code,
                    format: "X".into(),
                });
            return Some((space, name, Some(info)));
        }
        if allocate {
            return Some((space, name, None));
        }
        self.warn(format!("no option named {name} in space {space}"));
        self.skip_to_semi();
        None
    }

    /// After `option` in a declaration context: a definition or a value.
    pub(crate) fn top_option(&mut self, ctx: Ctx) -> Option<Stmt> {
        let (space, name, info) = self.option_name(true)?;
        if self.peek().is_kw("code") {
            if ctx.kind != Kind::Root {
                self.warn("option definitions may not be scoped.");
                self.skip_to_semi();
                return None;
            }
            self.skip();
            if info.is_some()
                && let Some(s) = self.g.reg.space_mut(&space)
            {
                s.remove(&name);
            }
            self.option_code_definition(&space, &name);
            return None;
        }
        let Some(info) = info else {
            self.warn(format!("unknown option {space}.{name}"));
            self.skip_to_semi();
            return None;
        };
        self.option_statement(&space, info, OptionOp::Supersede)
    }

    /// An option statement for a known option of a space (used by `server-identifier`).
    pub(crate) fn option_statement_for(
        &mut self,
        space: &str,
        code: u32,
        op: OptionOp,
    ) -> Option<Stmt> {
        let info = self
            .g
            .reg
            .space(space)
            .and_then(|s| s.by_code(code))
            .cloned()?;
        self.option_statement(space, info, op)
    }

    /// `parse_option_statement`.
    pub(crate) fn option_statement(
        &mut self,
        space: &str,
        info: OptionInfo,
        op: OptionOp,
    ) -> Option<Stmt> {
        let t = self.peek();
        let value = if t.is_punct(b';') && !info.format.starts_with('Z') {
            self.skip();
            return Some(self.make_option(space, info, op, OptionValue::Empty));
        } else if t.is_punct(b'=') {
            self.skip();
            match self.data_expression() {
                Ok(e) => OptionValue::Expr(e),
                Err(lose) => {
                    if !lose {
                        self.warn("expecting a data expression.");
                        self.skip_to_semi();
                    }
                    return None;
                }
            }
        } else {
            self.option_data(&info.format)?
        };
        if !self.semi() {
            return None;
        }
        Some(self.make_option(space, info, op, value))
    }

    fn make_option(
        &mut self,
        space: &str,
        info: OptionInfo,
        op: OptionOp,
        value: OptionValue,
    ) -> Stmt {
        Stmt::Option {
            op,
            space: space.to_string(),
            name: info.name,
            code: info.code,
            value,
        }
    }

    /// `parse_option_data`: values following the format, with ISC's array rules.
    pub(crate) fn option_data(&mut self, format: &str) -> Option<OptionValue> {
        let f: Vec<u8> = format.bytes().collect();
        let mut atoms = Vec::new();
        let mut i: usize = 0;
        let mut started = false;
        loop {
            // Where to (re)start in the format for the next array element.
            if started && i < f.len() && f[i] == b'a' && i > 0 {
                i -= 1;
            } else if !started || f.get(i) == Some(&b'A') {
                i = 0;
            }
            started = true;
            let uniform =
                f.first() != Some(&b'Z') && f.get(1).is_some_and(|c| c.eq_ignore_ascii_case(&b'a'));
            while i < f.len() {
                let c = f[i];
                if c == b'A' || c == b'a' {
                    break;
                }
                if c == b'o' {
                    i += 1;
                    continue;
                }
                let optional = f.get(i + 1) == Some(&b'o');
                if optional && self.peek().is_punct(b';') {
                    i += 1;
                    continue;
                }
                match self.option_token(&f, &mut i, uniform) {
                    Some(a) => atoms.push(a),
                    None if optional => {}
                    None => return None,
                }
                i += 1;
            }
            let at = f.get(i).copied();
            if at == Some(b'A') || at == Some(b'a') {
                if self.peek().is_punct(b',') {
                    self.skip();
                    continue;
                }
                if at == Some(b'A') || i + 1 >= f.len() {
                    break;
                }
                i += 1;
                continue;
            }
            break;
        }
        Some(OptionValue::Atoms(atoms))
    }

    /// `parse_option_token`: one value of format letter `f[*i]`.
    fn option_token(&mut self, f: &[u8], i: &mut usize, _uniform: bool) -> Option<Atom> {
        let optional = f.get(*i + 1) == Some(&b'o');
        let c = f[*i];
        match c {
            b'U' => {
                let t = self.next();
                if !t.is_identifier() {
                    if !optional {
                        self.warn("expecting identifier.");
                        if !t.is_punct(b';') {
                            self.skip_to_semi();
                        }
                    }
                    return None;
                }
                Some(Atom::Ident(t.text))
            }
            b'E' | b'X' => {
                if c == b'E' {
                    let rest = &f[*i..];
                    match rest.iter().position(|&b| b == b'.') {
                        Some(p) => *i += p,
                        None => {
                            self.warn("malformed encapsulation format (bug!)");
                            self.skip_to_semi();
                            return None;
                        }
                    }
                }
                let t = self.peek();
                if matches!(t.tok, Tok::Number(_) | Tok::NumberOrName(_)) {
                    return self.cshl().map(Atom::Data);
                }
                let t = self.next();
                if let Tok::Str(s) = t.tok {
                    return Some(Atom::Data(s));
                }
                if !optional {
                    self.warn("expecting string or hexadecimal data.");
                    self.skip_to_semi();
                }
                None
            }
            b'D' => {
                let compress = f.get(*i + 1) == Some(&b'c');
                if compress {
                    *i += 1;
                }
                let mut names = Vec::new();
                loop {
                    let t = self.next();
                    let Tok::Str(s) = t.tok else {
                        self.warn("Expecting a domain string.");
                        if !optional {
                            self.skip_to_semi();
                        }
                        return None;
                    };
                    names.push(String::from_utf8_lossy(&s).into_owned());
                    if self.peek().is_punct(b',') {
                        self.skip();
                    } else {
                        break;
                    }
                }
                Some(Atom::DomainList(names, compress))
            }
            b'd' => match self.host_name() {
                Some(n) => Some(Atom::DomainName(n)),
                None => {
                    self.warn("not a valid domain name.");
                    self.skip_to_semi();
                    None
                }
            },
            b't' => {
                let t = self.next();
                match t.tok {
                    Tok::Str(s) => Some(Atom::Text(s)),
                    _ if t.is_identifier() => Some(Atom::Text(t.text.into_bytes())),
                    _ => {
                        if !optional {
                            self.warn("expecting string.");
                            if !t.is_punct(b';') {
                                self.skip_to_semi();
                            }
                        }
                        None
                    }
                }
            }
            b'k' => {
                if let Tok::Str(s) = self.peek().tok {
                    self.skip();
                    return Some(Atom::Key(String::from_utf8_lossy(&s).into_owned()));
                }
                match self.host_name() {
                    Some(n) => Some(Atom::Key(n)),
                    None => {
                        self.warn("not a valid key name.");
                        self.skip_to_semi();
                        None
                    }
                }
            }
            b'N' => {
                let rest = &f[*i + 1..];
                let Some(p) = rest.iter().position(|&b| b == b'.') else {
                    self.warn("malformed enumeration format (bug!)");
                    self.skip_to_semi();
                    return None;
                };
                let ename = String::from_utf8_lossy(&rest[..p]).into_owned();
                *i += p + 1;
                let t = self.next();
                if !t.is_identifier() {
                    self.warn("identifier expected");
                    self.skip_to_semi();
                    return None;
                }
                match enumeration(&ename, &t.text) {
                    Some(v) => Some(Atom::Enum(t.text.to_ascii_lowercase(), v)),
                    None => {
                        self.warn("unknown value");
                        self.skip_to_semi();
                        None
                    }
                }
            }
            b'I' => match self.ip_addr_or_hostname()? {
                super::super::ast::HostAddr::Ip(a) => Some(Atom::Ip(a)),
                super::super::ast::HostAddr::Name(n) => Some(Atom::HostName(n)),
            },
            b'6' => {
                // IPv6 literals: kept as text up to the next separator.
                let mut s = String::new();
                while !matches!(
                    self.peek().tok,
                    Tok::Punct(b';') | Tok::Punct(b',') | Tok::Eof
                ) {
                    s.push_str(&self.next().text);
                }
                Some(Atom::Ip6(s))
            }
            b'T' | b'L' | b'l' | b'S' | b's' | b'B' | b'b' => {
                let t = self.next();
                if c == b'T' && t.is_kw("infinite") {
                    return Some(Atom::Time(u32::MAX));
                }
                if !matches!(t.tok, Tok::Number(_) | Tok::NumberOrName(_)) {
                    if !optional {
                        self.warn("expecting number.");
                        if !t.is_punct(b';') {
                            self.skip_to_semi();
                        }
                    }
                    return None;
                }
                let (bits, signed) = match c {
                    b'T' | b'L' => (32, false),
                    b'l' => (32, true),
                    b'S' => (16, false),
                    b's' => (16, true),
                    b'B' => (8, false),
                    _ => (8, true),
                };
                let v = self.convert_num(&t.text, 0, bits);
                if c == b'T' {
                    return Some(Atom::Time(v as u32));
                }
                let value = if signed {
                    let shift = 64 - bits;
                    ((v << shift) as i64) >> shift
                } else {
                    v as i64
                };
                Some(Atom::Int {
                    value,
                    bits: bits as u8,
                    signed,
                })
            }
            b'f' => {
                let t = self.next();
                if !t.is_identifier() {
                    if !optional {
                        self.warn("expecting identifier.");
                        if !t.is_punct(b';') {
                            self.skip_to_semi();
                        }
                    }
                    return None;
                }
                let v = match t.text.to_ascii_lowercase().as_str() {
                    "true" | "on" => 1,
                    "false" | "off" => 0,
                    "ignore" => 2,
                    _ => {
                        if !optional {
                            self.warn("expecting boolean.");
                            if !t.is_punct(b';') {
                                self.skip_to_semi();
                            }
                        }
                        return None;
                    }
                };
                Some(Atom::Bool(v))
            }
            b'Z' => {
                if !self.peek().is_punct(b';') {
                    self.warn("semicolon expected.");
                    self.skip_to_semi();
                }
                Some(Atom::Data(Vec::new()))
            }
            other => {
                self.warn(format!(
                    "Bad format '{}' in parse_option_token.",
                    other as char
                ));
                self.skip_to_semi();
                None
            }
        }
    }

    /// `parse_option_space_decl` (after `option`, at `space`).
    pub(crate) fn option_space_decl(&mut self) {
        self.skip();
        let t = self.next();
        if !t.is_identifier() {
            self.warn("expecting identifier.");
            self.skip_to_semi();
            return;
        }
        let name = t.text;
        let (mut tsize, mut lsize) = (1u8, 1u8);
        loop {
            let t = self.next();
            if t.is_punct(b';') {
                break;
            }
            if t.is_kw("code") || t.is_kw("length") {
                let is_code = t.is_kw("code");
                if !self.next().is_kw("width") {
                    self.warn("expecting width token.");
                    return;
                }
                let n = self.next();
                if !matches!(n.tok, Tok::Number(_)) {
                    self.warn(if is_code {
                        "expecting number 1, 2, 4."
                    } else {
                        "expecting number 1 or 2."
                    });
                    return;
                }
                let v = atoi(&n.text);
                if is_code {
                    if ![1, 2, 4].contains(&v) {
                        self.warn(format!("invalid code width ({v}), expecting a 1, 2 or 4."));
                        return;
                    }
                    tsize = v as u8;
                } else {
                    if v != 1 && v != 2 {
                        self.warn(format!("invalid length width ({v}) expecting 1 or 2."));
                        return;
                    }
                    lsize = v as u8;
                }
            } else if t.is_kw("hash") {
                if !self.next().is_kw("size") {
                    self.warn("expecting size token.");
                    return;
                }
                if !matches!(self.next().tok, Tok::Number(_)) {
                    self.warn("expecting a 10base number");
                    return;
                }
            } else {
                self.warn("Unexpected token.");
                if t.tok == Tok::Eof {
                    return;
                }
            }
        }
        self.g.reg.add_space(&name, tsize, lsize);
        self.g.config.spaces.push(SpaceDecl {
            name,
            code_width: tsize,
            length_width: lsize,
        });
    }

    /// `parse_option_code_definition` (after `code`).
    fn option_code_definition(&mut self, space: &str, name: &str) {
        let t = self.next();
        if !matches!(t.tok, Tok::Number(_)) {
            self.warn("expecting option code number.");
            self.skip_to_semi();
            return;
        }
        let code = atoi(&t.text) as u32;
        if !self.next().is_punct(b'=') {
            self.warn("expecting \"=\"");
            self.skip_to_semi();
            return;
        }
        let Some(format) = self.type_spec() else {
            return;
        };
        let info = OptionInfo {
            name: name.to_string(),
            code,
            format: format.clone(),
        };
        if let Some(s) = self.g.reg.space_mut(space) {
            s.define(info);
        }
        self.g.config.option_defs.push(OptionDef {
            space: space.to_string(),
            name: name.to_string(),
            code,
            format,
        });
    }

    /// The type after `=`: returns the ISC format string, or `None` after reporting.
    fn type_spec(&mut self) -> Option<String> {
        let mut arrayp: u8 = 0;
        let mut recordp: u8 = 0;
        let mut fmt = String::new();
        let mut no_more_in_record = false;
        let mut has_encapsulation = false;
        let mut encapsulated: Option<String> = None;
        let mut t = self.next();
        if t.is_kw("array") {
            if !self.next().is_kw("of") {
                self.warn("expecting \"of\".");
                self.skip_to_semi();
                return None;
            }
            arrayp = 1;
            t = self.next();
        }
        if t.is_punct(b'{') {
            recordp = 1;
            t = self.next();
        }
        loop {
            if has_encapsulation {
                self.warn("encapsulate must always be the last item.");
                self.skip_to_semi();
                return None;
            }
            let bail = |p: &mut Self, msg: String| {
                p.warn(msg);
                p.skip_to_rbrace(u32::from(recordp));
                if recordp > 0 {
                    p.skip_to_semi();
                }
            };
            let ty: char = match t.tok {
                Tok::Kw("array") => {
                    if arrayp > 0 {
                        bail(self, "no nested arrays.".into());
                        return None;
                    }
                    if !self.next().is_kw("of") {
                        self.warn("expecting \"of\".");
                        self.skip_to_semi();
                        return None;
                    }
                    arrayp = recordp + 1;
                    t = self.next();
                    if recordp > 0 && t.is_punct(b'{') {
                        self.warn("only uniform array inside record.");
                        self.skip_to_rbrace(u32::from(recordp) + 1);
                        self.skip_to_semi();
                        return None;
                    }
                    continue;
                }
                Tok::Kw("boolean") => 'f',
                Tok::Kw("integer") | Tok::Kw("signed") | Tok::Kw("unsigned") => {
                    let signed = !t.is_kw("unsigned");
                    if !t.is_kw("integer") && !self.next().is_kw("integer") {
                        bail(self, "expecting \"integer\" keyword.".into());
                        return None;
                    }
                    let n = self.next();
                    if !matches!(n.tok, Tok::Number(_)) {
                        bail(self, "expecting number.".into());
                        return None;
                    }
                    match (atoi(&n.text), signed) {
                        (8, true) => 'b',
                        (8, false) => 'B',
                        (16, true) => 's',
                        (16, false) => 'S',
                        (32, true) => 'l',
                        (32, false) => 'L',
                        _ => {
                            bail(self, format!("{} bit precision is not supported.", n.text));
                            return None;
                        }
                    }
                }
                Tok::Kw("ip-address") => 'I',
                Tok::Kw("ip6-address") => '6',
                Tok::Kw("domain-name")
                | Tok::Kw("domain-list")
                | Tok::Kw("text")
                | Tok::Kw("string") => {
                    let ty = match t.tok {
                        Tok::Kw("domain-name") => 'd',
                        Tok::Kw("domain-list") => {
                            if self.peek().is_kw("compressed") {
                                self.skip();
                                fmt.push('D');
                                'c'
                            } else {
                                'D'
                            }
                        }
                        Tok::Kw("text") => 't',
                        _ => 'X',
                    };
                    if arrayp > 0 {
                        bail(self, "arrays of text strings not yet supported.".into());
                        return None;
                    }
                    no_more_in_record = true;
                    ty
                }
                Tok::Kw("encapsulate") => {
                    let n = self.next();
                    if !n.is_identifier() {
                        self.warn("expecting option space identifier");
                        self.skip_to_semi();
                        return None;
                    }
                    if self.g.reg.space(&n.text).is_none() {
                        self.warn(format!("unknown option space {}", n.text));
                        self.skip_to_semi();
                        return None;
                    }
                    encapsulated = Some(n.text.to_ascii_lowercase());
                    fmt.push('E');
                    fmt.push_str(&n.text);
                    has_encapsulation = true;
                    '.'
                }
                Tok::Kw("zerolen") => {
                    if arrayp > 0 {
                        bail(self, "array incompatible with zerolen.".into());
                        return None;
                    }
                    no_more_in_record = true;
                    'Z'
                }
                _ => {
                    bail(self, format!("unknown data type {}", t.text));
                    return None;
                }
            };
            fmt.push(ty);
            if recordp > 0 {
                let n = self.next();
                if arrayp > recordp {
                    arrayp = 0;
                    fmt.push('a');
                }
                if n.is_punct(b',') {
                    if no_more_in_record {
                        self.warn(format!(
                            "{} must be at end of record.",
                            if ty == 't' { "text" } else { "string" }
                        ));
                        self.skip_to_rbrace(1);
                        self.skip_to_semi();
                        return None;
                    }
                    t = self.next();
                    continue;
                }
                if !n.is_punct(b'}') {
                    self.warn("expecting right brace.");
                    self.skip_to_rbrace(1);
                    self.skip_to_semi();
                    return None;
                }
            }
            break;
        }
        if !self.semi() {
            self.warn("semicolon expected.");
            self.skip_to_semi();
            if recordp > 0 {
                self.skip_to_semi();
            }
            return None;
        }
        if has_encapsulation && arrayp > 0 {
            self.warn("Arrays of encapsulations don't make sense.");
            return None;
        }
        if arrayp > 0 {
            fmt.push(if arrayp > recordp { 'a' } else { 'A' });
        }
        if let Some(space) = encapsulated {
            // ISC keeps one encapsulating option per space; a second one trips an internal
            // consistency check and the server exits.
            if self.g.encapsulated.contains(&space) {
                self.fatal("Internal inconsistency: storage value has not been initialized to zero (from parse.c:1849).");
                return None;
            }
            self.g.encapsulated.push(space);
        }
        Some(fmt)
    }
}
