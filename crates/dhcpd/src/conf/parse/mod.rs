//! The `dhcpd.conf` parser: a recursive-descent parser that follows ISC dhcpd 4.4's grammar and,
//! deliberately, its error recovery (`skip_to_semi`, `skip_to_rbrace`), so that the same input
//! yields the same errors, in the same order, at the same lines. This module holds the parser
//! state and the small helpers every grammar rule uses.

mod exec;
mod expr;
mod optdata;
mod stmt;
pub(crate) use stmt::Ctx;

use std::net::Ipv4Addr;

use super::ast::{Config, Loc, Unsupported};
use super::diag::Diagnostic;
use super::lexer::{Lexer, Tok, Token};
use super::options::Registry;

/// Reads an included file. Returns the bytes or an I/O error.
pub(crate) type Loader<'l> = &'l dyn Fn(&str) -> std::io::Result<Vec<u8>>;

/// One line of parser output, in the order ISC prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A `parse_warn` error (makes the configuration invalid).
    Error(Diagnostic),
    /// A plain log line that does not fail the parse (ISC `log_error`).
    Log(String),
}

/// State shared by a file and the files it includes.
pub(crate) struct Global<'l> {
    pub(crate) reg: Registry,
    pub(crate) out: Vec<Output>,
    pub(crate) fatal: Option<String>,
    pub(crate) classes: Vec<String>,
    pub(crate) encapsulated: Vec<String>,
    pub(crate) config: Config,
    pub(crate) host_warning_pending: bool,
    pub(crate) loader: Loader<'l>,
    pub(crate) v6: bool,
    pub(crate) depth: usize,
    /// How deeply the statement or expression being read is nested (see [`MAX_NESTING`]).
    pub(crate) nesting: u32,
    /// The functions defined so far (`define f (…) { … }`) and the functions each calls.
    pub(crate) functions: std::collections::HashMap<String, Vec<String>>,
    /// The functions being defined (innermost last), with the calls read in each so far.
    pub(crate) defining: Vec<(String, Vec<String>)>,
}

/// How deeply statements and expressions may nest (`if` in `if`, `group` in `group`,
/// parentheses, `not`, function arguments, counted together). ISC has no limit and
/// overflows its stack on deep nesting (dhcpd -t dies with SIGSEGV); real configurations
/// stay far below this.
pub(crate) const MAX_NESTING: u32 = 100;

/// The chain of calls from `from` to `to` through the functions defined so far, if any.
fn call_path(
    functions: &std::collections::HashMap<String, Vec<String>>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    // Depth-first, with an explicit stack of (function, path to it).
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    while let Some((f, path)) = stack.pop() {
        if f == to {
            return Some(path);
        }
        if !seen.insert(f.clone()) {
            continue;
        }
        for c in functions.get(&f).into_iter().flatten() {
            let mut p = path.clone();
            p.push(c.clone());
            stack.push((c.clone(), p));
        }
    }
    None
}

impl<'l> Global<'l> {
    pub(crate) fn new(loader: Loader<'l>) -> Self {
        Global {
            reg: Registry::new(),
            out: Vec::new(),
            fatal: None,
            classes: Vec::new(),
            encapsulated: Vec::new(),
            config: Config::default(),
            host_warning_pending: true,
            loader,
            v6: false,
            depth: 0,
            nesting: 0,
            functions: std::collections::HashMap::new(),
            defining: Vec::new(),
        }
    }

    pub(crate) fn note_unsupported(&mut self, keyword: &str, loc: Loc) {
        if !self.config.unsupported.iter().any(|u| u.keyword == keyword) {
            self.config.unsupported.push(Unsupported {
                keyword: keyword.to_string(),
                loc,
            });
        }
    }
}

/// Parser over one file.
pub(crate) struct Parser<'a, 'g, 'l> {
    pub(crate) lx: Lexer<'a>,
    pub(crate) g: &'g mut Global<'l>,
    pub(crate) errors: usize,
}

/// Why an expression or statement parse failed: `lose` means an error was already reported.
pub(crate) type Lose = bool;

impl<'a, 'g, 'l> Parser<'a, 'g, 'l> {
    pub(crate) fn new(name: &str, input: &'a [u8], g: &'g mut Global<'l>) -> Self {
        Parser {
            lx: Lexer::new(name, input),
            g,
            errors: 0,
        }
    }

    fn drain_lexer(&mut self) {
        for d in std::mem::take(&mut self.lx.diags) {
            if self.g.fatal.is_none() {
                self.errors += 1;
                self.g.out.push(Output::Error(d));
            }
        }
    }

    fn eof(&self) -> Token {
        Token {
            tok: Tok::Eof,
            text: String::new(),
            line: self.lx.line(),
            col: 0,
        }
    }

    pub(crate) fn next(&mut self) -> Token {
        if self.g.fatal.is_some() {
            return self.eof();
        }
        let t = self.lx.next();
        self.drain_lexer();
        t
    }

    pub(crate) fn peek(&mut self) -> Token {
        if self.g.fatal.is_some() {
            return self.eof();
        }
        let t = self.lx.peek();
        self.drain_lexer();
        t
    }

    pub(crate) fn skip(&mut self) {
        self.next();
    }

    /// `parse_warn`.
    pub(crate) fn warn(&mut self, msg: impl Into<String>) {
        if self.g.fatal.is_some() {
            return;
        }
        let d = self.lx.warn(msg);
        self.errors += 1;
        self.g.out.push(Output::Error(d));
    }

    /// One level deeper; past [`MAX_NESTING`] an error at the current token, and the parse
    /// stops there (everything after reads as the end of the file). Each `true` must be
    /// matched by a [`Parser::shallower`].
    pub(crate) fn deeper(&mut self, what: &str) -> bool {
        if self.g.nesting >= MAX_NESTING {
            self.peek();
            self.warn(format!(
                "{what} nested too deeply (more than {MAX_NESTING} levels)."
            ));
            self.fatal("Configuration file errors encountered -- exiting");
            return false;
        }
        self.g.nesting += 1;
        true
    }

    /// A call of `callee` read: inside a function definition, an error at the call when it
    /// closes a loop of calls back to the function being defined (a recursive function
    /// would exhaust the evaluator's depth on every packet that reaches it; ISC's
    /// overflows its stack).
    pub(crate) fn note_call(&mut self, callee: &str) {
        let Some((current, _)) = self.g.defining.last() else {
            return;
        };
        let current = current.clone();
        if let Some(path) = call_path(&self.g.functions, callee, &current) {
            self.warn(format!(
                "recursive function {current}: {current} -> {}.",
                path.join(" -> ")
            ));
        }
        if let Some((_, calls)) = self.g.defining.last_mut() {
            calls.push(callee.to_string());
        }
    }

    /// Back from a [`Parser::deeper`].
    pub(crate) fn shallower(&mut self) {
        self.g.nesting = self.g.nesting.saturating_sub(1);
    }

    /// `log_error`: printed, does not fail the parse.
    pub(crate) fn log(&mut self, msg: impl Into<String>) {
        if self.g.fatal.is_none() {
            self.g.out.push(Output::Log(msg.into()));
        }
    }

    /// `log_fatal`: printed, then nothing else is parsed.
    pub(crate) fn fatal(&mut self, msg: impl Into<String>) {
        if self.g.fatal.is_none() {
            self.g.fatal = Some(msg.into());
        }
    }

    pub(crate) fn loc(&self, t: &Token) -> Loc {
        Loc {
            file: self.lx.name.clone(),
            line: t.line,
            col: t.col,
        }
    }

    /// `skip_to_rbrace`: skip to the end of the statement, balancing braces.
    pub(crate) fn skip_to_rbrace(&mut self, mut count: u32) {
        loop {
            let t = self.peek();
            if t.is_punct(b'}') {
                count = count.saturating_sub(1);
                if count == 0 {
                    self.skip();
                    return;
                }
            } else if t.is_punct(b'{') {
                count += 1;
            } else if t.is_punct(b';') && count == 0 {
                self.skip();
                return;
            }
            if self.next().tok == Tok::Eof {
                return;
            }
        }
    }

    pub(crate) fn skip_to_semi(&mut self) {
        self.skip_to_rbrace(0);
    }

    /// `parse_semi`.
    pub(crate) fn semi(&mut self) -> bool {
        if self.next().is_punct(b';') {
            true
        } else {
            self.warn("semicolon expected.");
            self.skip_to_semi();
            false
        }
    }

    /// `parse_lbrace`.
    pub(crate) fn lbrace(&mut self) -> bool {
        if self.next().is_punct(b'{') {
            true
        } else {
            self.warn("expecting left brace.");
            self.skip_to_semi();
            false
        }
    }

    /// `parse_numeric_aggregate` with a fixed count (`max` > 0) or any count (`max` == 0).
    /// Numbers are converted with `base` into `size`-bit values.
    pub(crate) fn numeric_aggregate(
        &mut self,
        max: usize,
        sep: u8,
        base: u32,
        size: u32,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut count = 0usize;
        loop {
            if count > 0 {
                let t = self.peek();
                if !t.is_punct(sep) {
                    if max == 0 {
                        break;
                    }
                    let t = if t.is_punct(b'}') || t.is_punct(b'{') {
                        t
                    } else {
                        self.next()
                    };
                    self.warn("too few numbers.");
                    if !t.is_punct(b';') {
                        self.skip_to_semi();
                    }
                    return None;
                }
                self.skip();
            }
            let t = self.next();
            if t.tok == Tok::Eof {
                self.warn("unexpected end of file");
                break;
            }
            let ok = matches!(t.tok, Tok::Number(_))
                || (base == 16 && matches!(t.tok, Tok::NumberOrName(_)));
            if !ok {
                self.warn("expecting numeric value.");
                self.skip_to_semi();
                return None;
            }
            let v = self.convert_num(&t.text, base, size);
            push_be(&mut out, v, size);
            count += 1;
            if count == max {
                break;
            }
        }
        Some(out)
    }

    /// `convert_num`: parse with ISC's base rules, warning as ISC does on bad digits and overflow.
    pub(crate) fn convert_num(&mut self, s: &str, base: u32, size: u32) -> u64 {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (base, digits) = if base == 0 {
            if let Some(h) = digits.strip_prefix("0x") {
                (16, h)
            } else if digits.len() > 1
                && digits.starts_with('0')
                && digits.as_bytes()[1].is_ascii_digit()
            {
                (8, &digits[1..])
            } else {
                (10, digits)
            }
        } else {
            (base, digits)
        };
        let mut val: u64 = 0;
        for b in digits.bytes() {
            let d = if b >= b'a' {
                u32::from(b - b'a') + 10
            } else if b >= b'A' {
                u32::from(b - b'A') + 10
            } else if b >= b'0' {
                u32::from(b - b'0')
            } else {
                self.warn(format!("Bogus number: {s}."));
                break;
            };
            if d >= base {
                self.warn(format!("Bogus number {s}: digit {d} not in base {base}"));
                break;
            }
            val = val.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d)) & 0xffff_ffff;
        }
        let half = 1u64 << (size - 1);
        let max = if neg { half } else { half + (half - 1) };
        if val > max {
            let sign = if neg { "-" } else { "" };
            let shown = match base {
                8 => format!("{val:o}"),
                16 => format!("{val:x}"),
                _ => format!("{val}"),
            };
            self.warn(format!(
                "{sign}{shown} exceeds max ({}) for precision.",
                max as i32
            ));
        }
        let mask = if size >= 32 {
            u64::from(u32::MAX)
        } else {
            (1u64 << size) - 1
        };
        if neg {
            val.wrapping_neg() & mask
        } else {
            val & mask
        }
    }

    /// `parse_host_name`: dotted identifiers (and numbers).
    pub(crate) fn host_name(&mut self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut trailing_dot = false;
        loop {
            let t = self.peek();
            if !t.is_identifier() && !matches!(t.tok, Tok::Number(_)) {
                break;
            }
            self.skip();
            parts.push(t.text);
            if self.peek().is_punct(b'.') {
                self.skip();
                trailing_dot = true;
            } else {
                trailing_dot = false;
                break;
            }
        }
        if parts.is_empty() {
            return None;
        }
        let mut s = parts.join(".");
        if trailing_dot {
            s.push('.');
        }
        Some(s)
    }

    /// `parse_ip_addr`.
    pub(crate) fn ip_addr(&mut self) -> Option<Ipv4Addr> {
        let v = self.numeric_aggregate(4, b'.', 10, 8)?;
        // Short at end of file (the aggregate stops there after its warning).
        let octets: [u8; 4] = v.get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(octets))
    }

    /// `parse_ip_addr_or_hostname`.
    pub(crate) fn ip_addr_or_hostname(&mut self) -> Option<super::ast::HostAddr> {
        use super::ast::HostAddr;
        let t = self.peek();
        if matches!(t.tok, Tok::Number(_)) {
            let saved = self.lx.clone();
            self.skip();
            let is_ip = self.next().is_punct(b'.') && matches!(self.next().tok, Tok::Number(_));
            self.lx = saved;
            if is_ip {
                return self.ip_addr().map(HostAddr::Ip);
            }
        }
        if t.is_identifier() || matches!(t.tok, Tok::Number(_)) {
            return self.host_name().map(HostAddr::Name);
        }
        let t = if t.is_punct(b'}') || t.is_punct(b'{') {
            t
        } else {
            self.next()
        };
        let code = token_code(&t);
        self.warn(format!(
            "{} ({code}): expecting IP address or hostname",
            t.text
        ));
        if !t.is_punct(b';') {
            self.skip_to_semi();
        }
        None
    }

    /// `parse_cshl`: colon-separated hex bytes.
    pub(crate) fn cshl(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let t = self.next();
            if !matches!(t.tok, Tok::Number(_) | Tok::NumberOrName(_)) {
                self.warn("expecting hexadecimal number.");
                self.skip_to_semi();
                return None;
            }
            let v = self.convert_num(&t.text, 16, 8);
            out.push(v as u8);
            if !self.peek().is_punct(b':') {
                break;
            }
            self.skip();
        }
        Some(out)
    }
}

fn push_be(out: &mut Vec<u8>, v: u64, size: u32) {
    match size {
        8 => out.push(v as u8),
        16 => out.extend_from_slice(&(v as u16).to_be_bytes()),
        _ => out.extend_from_slice(&(v as u32).to_be_bytes()),
    }
}

/// ISC's numeric token code, which some of its messages print (`%s (%d)`).
fn token_code(t: &Token) -> i64 {
    match &t.tok {
        Tok::Punct(b) => i64::from(*b as i8),
        Tok::Eof => 607,
        Tok::Str(_) => 258,
        Tok::Number(_) => 259,
        Tok::NumberOrName(_) => 260,
        Tok::Name(_) => 261,
        Tok::Kw(_) => 0,
    }
}

/// Parse a whole file's text into `g`, returning how many errors it had.
pub(crate) fn parse_text(
    name: &str,
    text: &[u8],
    g: &mut Global<'_>,
) -> (super::ast::Scope, usize) {
    let mut p = Parser::new(name, text, g);
    let mut scope = super::ast::Scope::default();
    let ctx = stmt::Ctx::root();
    let mut declaration = false;
    loop {
        if p.peek().tok == Tok::Eof {
            break;
        }
        declaration = p.statement(&mut scope, ctx, None, declaration);
    }
    p.skip();
    (scope, p.errors)
}
