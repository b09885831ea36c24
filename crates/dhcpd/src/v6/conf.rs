//! The `dhcpd6.conf` subset for IPv6 netboot, in ISC's syntax:
//!
//! ```text
//! default-lease-time 3600; preferred-lifetime 1800;
//! option dhcp6.client-arch-type code 61 = array of unsigned integer 16;
//! option dhcp6.bootfile-url "tftp://[fd00::1]/loaders/ipxe.efi";
//! subnet6 fd00::/64 { range6 fd00::100 fd00::1ff; }
//! host web01 { host-identifier option dhcp6.client-id 00:04:…; fixed-address6 fd00::10; }
//! if option dhcp6.client-arch-type = 00:10 { option dhcp6.bootfile-url "http://…"; }
//! class "uefi-http" { match if option dhcp6.client-arch-type = 00:10; option …; }
//! ```
//!
//! Tokens are words separated by white space, quoted strings, `;`, `{`, `}` and `#` comments;
//! an IPv6 address or `00:07` is one word. Anything else is refused with its line.

use std::net::Ipv6Addr;

use super::wire::code;

/// A statement of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// `option NAME VALUE;`, encoded.
    Option { code: u16, data: Vec<u8> },
    /// `if TEST { … } elsif TEST { … } else { … }`, or a `class` with `match if` (its
    /// options beat the subnet's, as ISC's class scope does).
    If {
        arms: Vec<(Test, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
        class: bool,
    },
}

/// `option NAME = VALUE` (the option's raw data compared with the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub code: u16,
    pub equals: Vec<u8>,
}

/// `subnet6 PREFIX/LEN { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet6 {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub ranges: Vec<(Ipv6Addr, Ipv6Addr)>,
    pub stmts: Vec<Stmt>,
}

impl Subnet6 {
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.len))
        };
        u128::from(a) & mask == u128::from(self.prefix) & mask
    }
}

/// `host NAME { … }` identified by its client DUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host6 {
    pub name: String,
    pub client_id: Vec<u8>,
    pub fixed: Option<Ipv6Addr>,
    pub stmts: Vec<Stmt>,
}

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config6 {
    pub default_lease_time: u32,
    pub preferred_lifetime: u32,
    /// Global statements and the classes, in file order.
    pub stmts: Vec<Stmt>,
    pub subnets: Vec<Subnet6>,
    pub hosts: Vec<Host6>,
}

impl Default for Config6 {
    fn default() -> Self {
        // ISC's defaults: 43200 s lease time, preferred lifetime 5/8 of it.
        Config6 {
            default_lease_time: 43200,
            preferred_lifetime: 27000,
            stmts: Vec::new(),
            subnets: Vec::new(),
            hosts: Vec::new(),
        }
    }
}

/// A refusal: file line and message, as ISC prints them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ConfError {
    pub line: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(Vec<u8>),
    Semi,
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(u32, Tok)>, ConfError> {
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            ';' => out.push((line, Tok::Semi)),
            '{' => out.push((line, Tok::Open)),
            '}' => out.push((line, Tok::Close)),
            '"' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(ConfError {
                                line: start,
                                message: "eof in string constant".into(),
                            });
                        }
                        Some('"') => break,
                        Some('\\') => s.extend(chars.next()),
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            s.push(c);
                        }
                    }
                }
                out.push((start, Tok::Str(s.into_bytes())));
            }
            c => {
                let mut w = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '{' | '}' | '"' | '#') {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push((line, Tok::Word(w)));
            }
        }
    }
    Ok(out)
}

/// How an option's value is written and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// RFC 5970 bootfile-param: each string with a 2-byte length.
    TextList,
    U16s,
    U8,
    Addrs,
    Hex,
}

/// The DHCPv6 options ISC predefines that netboot uses (names without `dhcp6.`).
fn known(name: &str) -> Option<(u16, Kind)> {
    Some(match name {
        "bootfile-url" => (code::BOOTFILE_URL, Kind::Text),
        "bootfile-param" => (code::BOOTFILE_PARAM, Kind::TextList),
        "client-arch-type" => (code::CLIENT_ARCH_TYPE, Kind::U16s),
        "client-id" => (code::CLIENT_ID, Kind::Hex),
        "vendor-class" => (code::VENDOR_CLASS, Kind::Hex),
        "preference" => (code::PREFERENCE, Kind::U8),
        "name-servers" => (23, Kind::Addrs),
        _ => return None,
    })
}

struct Parser {
    toks: Vec<(u32, Tok)>,
    pos: usize,
    /// Options declared with `option dhcp6.NAME code N = TYPE;` beyond the known ones.
    declared: Vec<(String, u16, Kind)>,
}

/// Reads `text`; the first error stops it.
pub fn parse(text: &str) -> Result<Config6, ConfError> {
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
        declared: Vec::new(),
    };
    let mut c = Config6::default();
    while p.pos < p.toks.len() {
        p.top_stmt(&mut c)?;
    }
    Ok(c)
}

impl Parser {
    fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.0)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ConfError> {
        Err(ConfError {
            line: self.line(),
            message: message.into(),
        })
    }

    fn next(&mut self) -> Result<Tok, ConfError> {
        match self.toks.get(self.pos) {
            Some((_, t)) => {
                self.pos += 1;
                Ok(t.clone())
            }
            None => self.err("unexpected end of file"),
        }
    }

    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some((_, Tok::Word(w))) => Some(w),
            _ => None,
        }
    }

    fn word(&mut self) -> Result<String, ConfError> {
        match self.next()? {
            Tok::Word(w) => Ok(w),
            t => {
                self.pos -= 1;
                self.err(format!("expecting a word, not {t:?}"))
            }
        }
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ConfError> {
        let t = self.next()?;
        if t == want {
            Ok(())
        } else {
            self.pos -= 1;
            self.err(format!("{what} expected."))
        }
    }

    fn top_stmt(&mut self, c: &mut Config6) -> Result<(), ConfError> {
        match self.peek_word() {
            Some("subnet6") => {
                self.pos += 1;
                let s = self.subnet()?;
                c.subnets.push(s);
            }
            Some("host") => {
                self.pos += 1;
                let h = self.host()?;
                c.hosts.push(h);
            }
            Some("class") => {
                self.pos += 1;
                let s = self.class()?;
                c.stmts.push(s);
            }
            Some("default-lease-time") => {
                self.pos += 1;
                c.default_lease_time = self.number()?;
                self.expect(Tok::Semi, "semicolon")?;
            }
            Some("preferred-lifetime") => {
                self.pos += 1;
                c.preferred_lifetime = self.number()?;
                self.expect(Tok::Semi, "semicolon")?;
            }
            Some("authoritative" | "ddns-update-style" | "log-facility" | "max-lease-time") => {
                // Accepted and not acted on.
                while self.next()? != Tok::Semi {}
            }
            _ => {
                if let Some(s) = self.scope_stmt()? {
                    c.stmts.push(s);
                }
            }
        }
        Ok(())
    }

    fn number(&mut self) -> Result<u32, ConfError> {
        let w = self.word()?;
        w.parse().or_else(|_| self.err(format!("bad number {w}")))
    }

    fn addr(&mut self) -> Result<Ipv6Addr, ConfError> {
        let w = self.word()?;
        w.parse()
            .or_else(|_| self.err(format!("bad IPv6 address {w}")))
    }

    /// `option …;` or `if …`: the statements every scope may hold. `None` for a declaration.
    fn scope_stmt(&mut self) -> Result<Option<Stmt>, ConfError> {
        match self.peek_word() {
            Some("option") => {
                self.pos += 1;
                self.option()
            }
            Some("if") => {
                self.pos += 1;
                self.if_stmt().map(Some)
            }
            Some(w) => {
                let w = w.to_string();
                self.err(format!("{w}: not supported in dhcpd6.conf here"))
            }
            None => self.err("expecting a statement"),
        }
    }

    fn option_name(&mut self) -> Result<(u16, Kind, String), ConfError> {
        let full = self.word()?;
        let Some(name) = full.strip_prefix("dhcp6.") else {
            return self.err(format!("no option named {full} in space dhcp6"));
        };
        if let Some((_, c, k)) = self.declared.iter().find(|d| d.0 == name) {
            return Ok((*c, *k, full));
        }
        match known(name) {
            Some((c, k)) => Ok((c, k, full)),
            None => self.err(format!("no option named {name} in space dhcp6")),
        }
    }

    fn option(&mut self) -> Result<Option<Stmt>, ConfError> {
        // A definition: `option dhcp6.NAME code N = TYPE;`.
        if self.toks.get(self.pos + 1).map(|t| &t.1) == Some(&Tok::Word("code".into())) {
            let full = self.word()?;
            let Some(name) = full.strip_prefix("dhcp6.").map(str::to_string) else {
                return self.err(format!("option {full}: only space dhcp6 here"));
            };
            self.pos += 1;
            let n = self.number()?;
            let code = u16::try_from(n).or_else(|_| self.err("option code above 65535"))?;
            if self.word()? != "=" {
                return self.err("= expected.");
            }
            let mut ty = Vec::new();
            loop {
                match self.next()? {
                    Tok::Semi => break,
                    Tok::Word(w) => ty.push(w),
                    _ => return self.err("bad option type"),
                }
            }
            let kind = match ty.join(" ").as_str() {
                "string" | "text" => Kind::Text,
                "array of unsigned integer 16" | "unsigned integer 16" => Kind::U16s,
                "unsigned integer 8" => Kind::U8,
                "ip6-address" | "array of ip6-address" => Kind::Addrs,
                _ => Kind::Hex,
            };
            self.declared.push((name, code, kind));
            return Ok(None);
        }
        let (code, kind, full) = self.option_name()?;
        let data = self.value(kind, &full)?;
        self.expect(Tok::Semi, "semicolon")?;
        Ok(Some(Stmt::Option { code, data }))
    }

    fn value(&mut self, kind: Kind, name: &str) -> Result<Vec<u8>, ConfError> {
        let mut items = Vec::new();
        loop {
            match self.toks.get(self.pos).map(|t| t.1.clone()) {
                Some(Tok::Word(w)) => {
                    self.pos += 1;
                    let w = w.trim_end_matches(',').to_string();
                    if !w.is_empty() {
                        items.push(Tok::Word(w));
                    }
                }
                Some(Tok::Str(s)) => {
                    self.pos += 1;
                    items.push(Tok::Str(s));
                }
                _ => break,
            }
        }
        let line = self.line();
        let bad = || ConfError {
            line,
            message: format!("bad value for option {name}"),
        };
        let mut data = Vec::new();
        match kind {
            Kind::Text => match items.as_slice() {
                [Tok::Str(s)] => data.extend_from_slice(s),
                _ => return Err(bad()),
            },
            Kind::TextList => {
                for i in &items {
                    let Tok::Str(s) = i else { return Err(bad()) };
                    let len = u16::try_from(s.len()).map_err(|_| bad())?;
                    data.extend_from_slice(&len.to_be_bytes());
                    data.extend_from_slice(s);
                }
            }
            Kind::U16s | Kind::U8 => {
                for i in &items {
                    let Tok::Word(w) = i else { return Err(bad()) };
                    if kind == Kind::U8 {
                        data.push(w.parse::<u8>().map_err(|_| bad())?);
                    } else {
                        data.extend_from_slice(&w.parse::<u16>().map_err(|_| bad())?.to_be_bytes());
                    }
                }
            }
            Kind::Addrs => {
                for i in &items {
                    let Tok::Word(w) = i else { return Err(bad()) };
                    let a: Ipv6Addr = w.parse().map_err(|_| bad())?;
                    data.extend_from_slice(&a.octets());
                }
            }
            Kind::Hex => match items.as_slice() {
                [Tok::Word(w)] => data = hex(w).ok_or_else(bad)?,
                [Tok::Str(s)] => data.extend_from_slice(s),
                _ => return Err(bad()),
            },
        }
        if data.is_empty() && kind != Kind::TextList {
            return Err(bad());
        }
        Ok(data)
    }

    /// `option dhcp6.NAME = VALUE` after `if`/`match if`; the value is colon-separated hex
    /// (`00:07`) or a string.
    fn test(&mut self) -> Result<Test, ConfError> {
        if self.word()? != "option" {
            return self.err("only `option dhcp6.NAME = VALUE` tests are supported");
        }
        let (code, _, _) = self.option_name()?;
        if self.word()? != "=" {
            return self.err("= expected.");
        }
        let equals = match self.next()? {
            Tok::Word(w) => match hex(&w) {
                Some(b) => b,
                None => return self.err(format!("bad hex value {w}")),
            },
            Tok::Str(s) => s,
            _ => return self.err("expecting a value"),
        };
        Ok(Test { code, equals })
    }

    fn block(&mut self) -> Result<Vec<Stmt>, ConfError> {
        self.expect(Tok::Open, "left brace")?;
        let mut out = Vec::new();
        loop {
            if self.toks.get(self.pos).map(|t| &t.1) == Some(&Tok::Close) {
                self.pos += 1;
                return Ok(out);
            }
            if let Some(s) = self.scope_stmt()? {
                out.push(s);
            }
        }
    }

    fn if_stmt(&mut self) -> Result<Stmt, ConfError> {
        let mut arms = vec![(self.test()?, self.block()?)];
        let mut otherwise = Vec::new();
        loop {
            match self.peek_word() {
                Some("elsif") => {
                    self.pos += 1;
                    arms.push((self.test()?, self.block()?));
                }
                Some("else") => {
                    self.pos += 1;
                    if self.peek_word() == Some("if") {
                        self.pos += 1;
                        arms.push((self.test()?, self.block()?));
                    } else {
                        otherwise = self.block()?;
                        break;
                    }
                }
                _ => break,
            }
        }
        Ok(Stmt::If {
            arms,
            otherwise,
            class: false,
        })
    }

    fn class(&mut self) -> Result<Stmt, ConfError> {
        let _name = self.next()?;
        self.expect(Tok::Open, "left brace")?;
        let mut test = None;
        let mut body = Vec::new();
        loop {
            if self.toks.get(self.pos).map(|t| &t.1) == Some(&Tok::Close) {
                self.pos += 1;
                break;
            }
            if self.peek_word() == Some("match") {
                self.pos += 1;
                if self.word()? != "if" {
                    return self.err("only `match if` is supported");
                }
                test = Some(self.test()?);
                self.expect(Tok::Semi, "semicolon")?;
            } else if let Some(s) = self.scope_stmt()? {
                body.push(s);
            }
        }
        match test {
            Some(t) => Ok(Stmt::If {
                arms: vec![(t, body)],
                otherwise: Vec::new(),
                class: true,
            }),
            None => self.err("class without match if"),
        }
    }

    fn subnet(&mut self) -> Result<Subnet6, ConfError> {
        let w = self.word()?;
        let Some((net, len)) = w.split_once('/') else {
            return self.err(format!("subnet6 {w}: expecting PREFIX/LENGTH"));
        };
        let (Ok(prefix), Ok(len)) = (net.parse::<Ipv6Addr>(), len.parse::<u8>()) else {
            return self.err(format!("subnet6 {w}: bad prefix"));
        };
        if len > 128 {
            return self.err(format!("subnet6 {w}: bad prefix length"));
        }
        let mut s = Subnet6 {
            prefix,
            len,
            ranges: Vec::new(),
            stmts: Vec::new(),
        };
        self.expect(Tok::Open, "left brace")?;
        loop {
            if self.toks.get(self.pos).map(|t| &t.1) == Some(&Tok::Close) {
                self.pos += 1;
                return Ok(s);
            }
            if self.peek_word() == Some("range6") {
                let line = self.line();
                self.pos += 1;
                let a = self.addr()?;
                let b = self.addr()?;
                self.expect(Tok::Semi, "semicolon")?;
                if !s.contains(a) || !s.contains(b) || a > b {
                    return Err(ConfError {
                        line,
                        message: format!("range6 {a} {b} is not inside subnet6 {w}"),
                    });
                }
                s.ranges.push((a, b));
            } else if let Some(st) = self.scope_stmt()? {
                s.stmts.push(st);
            }
        }
    }

    fn host(&mut self) -> Result<Host6, ConfError> {
        let name = self.word()?;
        self.expect(Tok::Open, "left brace")?;
        let mut h = Host6 {
            name,
            client_id: Vec::new(),
            fixed: None,
            stmts: Vec::new(),
        };
        loop {
            if self.toks.get(self.pos).map(|t| &t.1) == Some(&Tok::Close) {
                self.pos += 1;
                break;
            }
            match self.peek_word() {
                Some("host-identifier") => {
                    self.pos += 1;
                    if self.word()? != "option" {
                        return self.err("host-identifier: only `option dhcp6.client-id`");
                    }
                    let (code, _, _) = self.option_name()?;
                    if code != code::CLIENT_ID {
                        return self.err("host-identifier: only `option dhcp6.client-id`");
                    }
                    h.client_id = self.value(Kind::Hex, "dhcp6.client-id")?;
                    self.expect(Tok::Semi, "semicolon")?;
                }
                Some("fixed-address6") => {
                    self.pos += 1;
                    h.fixed = Some(self.addr()?);
                    self.expect(Tok::Semi, "semicolon")?;
                }
                _ => {
                    if let Some(s) = self.scope_stmt()? {
                        h.stmts.push(s);
                    }
                }
            }
        }
        if h.client_id.is_empty() {
            return self.err(format!("host {}: no host-identifier", h.name));
        }
        Ok(h)
    }
}

/// `00:04:ab` (one or two hex digits per byte) as bytes.
fn hex(w: &str) -> Option<Vec<u8>> {
    w.split(':')
        .map(|b| {
            if b.is_empty() || b.len() > 2 {
                None
            } else {
                u8::from_str_radix(b, 16).ok()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# netboot over IPv6
default-lease-time 3600;
preferred-lifetime 1800;
option dhcp6.client-arch-type code 61 = array of unsigned integer 16;
option dhcp6.bootfile-url "tftp://[fd00:77::1]/loaders/bootx64.efi";
if option dhcp6.client-arch-type = 00:10 {
  option dhcp6.bootfile-url "http://[fd00:77::1]:8080/loaders/ipxe.efi";
} else {
  option dhcp6.bootfile-param "console=ttyS0" "quiet";
}
class "bios" { match if option dhcp6.client-arch-type = 00:00; option dhcp6.preference 255; }
subnet6 fd00:77::/64 {
  range6 fd00:77::100 fd00:77::1ff;
}
host web01 {
  host-identifier option dhcp6.client-id 00:04:5a:1b:00:01;
  fixed-address6 fd00:77::10;
}
"#;

    #[test]
    fn sample_reads() {
        let c = parse(SAMPLE).expect("parse");
        assert_eq!((c.default_lease_time, c.preferred_lifetime), (3600, 1800));
        assert_eq!(c.subnets.len(), 1);
        assert_eq!(c.subnets[0].len, 64);
        assert_eq!(
            c.subnets[0].ranges,
            vec![(
                "fd00:77::100".parse().expect("a"),
                "fd00:77::1ff".parse().expect("b")
            )]
        );
        assert_eq!(c.hosts[0].client_id, vec![0, 4, 0x5a, 0x1b, 0, 1]);
        assert_eq!(c.hosts[0].fixed, Some("fd00:77::10".parse().expect("f")));
        assert_eq!(c.stmts.len(), 3);
        let Stmt::If {
            arms, otherwise, ..
        } = &c.stmts[1]
        else {
            panic!("{:?}", c.stmts[1])
        };
        assert_eq!(
            arms[0].0,
            Test {
                code: 61,
                equals: vec![0, 0x10]
            }
        );
        assert_eq!(
            otherwise[0],
            Stmt::Option {
                code: 60,
                data: b"\x00\x0dconsole=ttyS0\x00\x05quiet".to_vec()
            }
        );
    }

    #[test]
    fn refusals_name_the_line() {
        let cases = [
            ("subnet6 fd00::/64 {\n range6 fe80::1 fe80::2;\n}", 2),
            ("option dhcp6.nonsense \"x\";", 1),
            ("\n\nfoo bar;", 3),
            ("host h {\n fixed-address6 fd00::1;\n}", 3),
            ("option dhcp6.bootfile-url \"x", 1),
            ("subnet6 fd00::/64 {", 1),
        ];
        for (text, line) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text}: {e}");
        }
    }
}
