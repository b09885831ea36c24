//! The `dhcpd.leases` grammar (ISC's `lease_file_subparse` and `parse_lease_declaration`),
//! on the same lexer and helpers as `dhcpd.conf`, so errors read as ISC's do. Never panics:
//! anything it does not understand is reported and skipped the way ISC skips it.

use std::net::Ipv4Addr;

use super::records::{ObjectRecord, RecordKind};
use super::time::{DateParts, value};
use super::{BindingState, BindingValue, Hardware, Lease, MAX_TIME, Time, Uid};
use crate::conf::ast::{Decl, GroupDecl};
use crate::conf::lexer::Tok;
use crate::conf::parse::{Global, Output, Parser};

/// What a lease file held.
#[derive(Debug, Clone, Default)]
pub struct LeaseFile {
    /// Every lease declaration that parsed, in file order (an address may repeat: the last
    /// one wins when they are entered in a table).
    pub leases: Vec<Lease>,
    /// `server-duid`.
    pub server_duid: Option<Vec<u8>>,
    /// `authoring-byte-order` as written (`little-endian` / `big-endian`).
    pub byte_order: Option<String>,
    /// Errors and log lines, in the order ISC prints them.
    pub output: Vec<Output>,
    /// Host and group records (of objects made or deleted over OMAPI), in file order.
    pub records: Vec<ObjectRecord>,
    /// Read from a lease database: each address's row version (empty for a file).
    pub db_versions: std::collections::HashMap<Ipv4Addr, i64>,
}

impl LeaseFile {
    /// True when nothing was reported.
    pub fn is_clean(&self) -> bool {
        self.output.is_empty()
    }
}

/// Parse the text of a lease file named `name`.
pub fn parse(name: &str, text: &[u8]) -> LeaseFile {
    let no_includes = |_: &str| Err(std::io::ErrorKind::Unsupported.into());
    let mut g = Global::new(&no_includes);
    let mut file = LeaseFile::default();
    {
        let mut p = Parser::new(name, text, &mut g);
        p.lease_file(&mut file, text);
    }
    file.output = g.out;
    file
}

/// A `seenbit` of ISC's lease parser: which statements a lease already had.
const SEEN_BINDING: u32 = 256;
const SEEN_NEXT: u32 = 128;
const SEEN_REWIND: u32 = 512;
const SEEN_TSTP: u32 = 65536;

impl Parser<'_, '_, '_> {
    /// A `host` or `group` record (after its keyword, which starts at `before`): the
    /// declaration's flags and its whole text. Statements naming options that only the
    /// configuration defines fail here; the record is kept all the same, and judged with the
    /// configuration at start.
    fn object_record(
        &mut self,
        kind: RecordKind,
        before: Option<usize>,
        text: &[u8],
    ) -> Option<ObjectRecord> {
        let (out, errors) = (self.g.out.len(), self.errors);
        let ctx = crate::conf::parse::Ctx::root();
        let decl = match kind {
            RecordKind::Host => self.host_decl(ctx),
            RecordKind::Group => self.group_decl(ctx),
        };
        self.g.out.truncate(out);
        self.errors = errors;
        let (name, dynamic, deleted) = match decl {
            Some(Decl::Host(h)) => (h.name, h.dynamic, h.deleted),
            Some(Decl::Group(GroupDecl {
                name: Some(name),
                dynamic,
                deleted,
                ..
            })) => (name, dynamic, deleted),
            _ => {
                self.skip_to_rbrace(1);
                return None;
            }
        };
        let span = text.get(before?..self.lx.offset()?)?;
        let span = String::from_utf8_lossy(span);
        Some(ObjectRecord {
            kind,
            name,
            dynamic,
            deleted,
            text: format!("{}\n", span.trim()),
        })
    }

    /// `on EVENTS { … }` in a lease (ISC writes `on expiry` and `on release`): kept as text
    /// ([`crate::conf::print`]), to be matched with the configuration's blocks. Statements
    /// that do not parse without the configuration (an option only it defines) are skipped
    /// without a word, as before the handlers were kept.
    fn stored_on(&mut self, lease: &mut Lease) {
        let (saved, out, errors) = (self.lx.clone(), self.g.out.len(), self.errors);
        if let Ok(crate::conf::ast::Stmt::On { events, body }) = self.on_statement()
            && self.errors == errors
        {
            if let Some(text) =
                crate::conf::print::statements(&body, 4).filter(|_| !body.is_empty())
            {
                let events = crate::model::Events::from_names(events.iter().map(String::as_str));
                lease.rare_mut().stored_on.push((events, text));
            }
            return;
        }
        self.lx = saved;
        self.g.out.truncate(out);
        self.errors = errors;
        self.skip_to_rbrace(0);
    }

    fn lease_file(&mut self, file: &mut LeaseFile, text: &[u8]) {
        loop {
            let before = self.lx.offset();
            let t = self.next();
            match t.tok {
                Tok::Eof => break,
                Tok::Kw("lease") => match self.lease_decl() {
                    Some(l) => file.leases.push(l),
                    None => self.warn("possibly corrupt lease file"),
                },
                Tok::Kw("host") => {
                    if let Some(r) = self.object_record(RecordKind::Host, before, text) {
                        file.records.push(r);
                    }
                }
                Tok::Kw("group") => {
                    if let Some(r) = self.object_record(RecordKind::Group, before, text) {
                        file.records.push(r);
                    }
                }
                Tok::Kw("class" | "subclass" | "failover") => {
                    // Declarations ISC keeps in the lease file for OMAPI-made objects and
                    // failover state: not used by this server, skipped whole.
                    self.skip_to_rbrace(0);
                }
                Tok::Kw("server-duid") => file.server_duid = self.server_duid(),
                Tok::Kw("authoring-byte-order") => {
                    let v = self.next();
                    match v.tok {
                        Tok::Kw("little-endian" | "big-endian") => {
                            file.byte_order = Some(v.text.to_ascii_lowercase());
                            self.semi();
                        }
                        _ => {
                            self.warn("authoring-byte-order is invalid:  it must be big-endian or little-endian.");
                            self.skip_to_semi();
                        }
                    }
                }
                _ => {
                    self.log("Corrupt lease file - possible data loss!");
                    self.skip_to_semi();
                }
            }
        }
    }

    fn server_duid(&mut self) -> Option<Vec<u8>> {
        let t = self.peek();
        let v = if let Tok::Str(s) = t.tok {
            self.skip();
            Some(s)
        } else {
            self.numeric_aggregate(0, b':', 16, 8)
        };
        self.semi();
        v
    }

    /// `parse_lease_declaration`, after the `lease` keyword.
    fn lease_decl(&mut self) -> Option<Lease> {
        let octets = self.numeric_aggregate(4, b'.', 10, 8)?;
        let octets: [u8; 4] = octets.get(..4)?.try_into().ok()?;
        let mut lease = Lease::virgin(Ipv4Addr::from(octets));
        if !self.lbrace() {
            return None;
        }
        let mut seen: u32 = 0;
        loop {
            let t = self.next();
            let seenbit: u32;
            match t.tok {
                Tok::Punct(b'}') => break,
                Tok::Eof => {
                    self.warn("unexpected end of file");
                    break;
                }
                Tok::Kw(
                    kw @ ("starts" | "ends" | "timestamp" | "tstp" | "tsfp" | "atsfp" | "cltt"),
                ) => {
                    let when = self.date();
                    seenbit = match kw {
                        "starts" => {
                            lease.starts = when;
                            1
                        }
                        "ends" => {
                            lease.ends = when;
                            2
                        }
                        "tstp" => {
                            lease.tstp = when;
                            SEEN_TSTP
                        }
                        "tsfp" => {
                            lease.edit_rare(|r| r.tsfp = when);
                            131_072
                        }
                        "atsfp" => {
                            lease.edit_rare(|r| r.atsfp = when);
                            262_144
                        }
                        "cltt" => {
                            lease.cltt = when;
                            524_288
                        }
                        // `timestamp` is read and ignored by ISC.
                        _ => 0,
                    };
                }
                Tok::Kw("uid") => {
                    seenbit = 8;
                    match self.peek().tok {
                        Tok::Str(s) => {
                            self.skip();
                            lease.uid = Some(Uid::from(s.as_slice()));
                        }
                        _ => {
                            let v = self.numeric_aggregate(0, b':', 16, 8)?;
                            if v.is_empty() {
                                self.warn("zero-length uid");
                                self.semi();
                                continue;
                            }
                            lease.uid = Some(Uid::from(v.as_slice()));
                        }
                    }
                    self.semi();
                }
                Tok::Kw("class") => {
                    seenbit = 32;
                    let n = self.next();
                    if !n.is_identifier() {
                        if !n.is_punct(b';') {
                            self.skip_to_rbrace(1);
                        }
                        return None;
                    }
                    self.semi();
                }
                Tok::Kw("hardware") => {
                    seenbit = 64;
                    if let Some((htype, addr)) = self.hardware_param() {
                        lease.hardware = Hardware::new(htype, &addr);
                    }
                }
                Tok::Kw("reserved") => {
                    seenbit = 0;
                    lease.reserved = true;
                    self.semi();
                }
                Tok::Kw("dynamic-bootp") => {
                    seenbit = 0;
                    lease.bootp = true;
                    self.semi();
                }
                Tok::Kw("abandoned") => {
                    seenbit = SEEN_BINDING;
                    lease.state = BindingState::Abandoned;
                    lease.next_state = BindingState::Abandoned;
                    self.semi();
                }
                Tok::Kw(kw @ ("next" | "rewind" | "binding")) => {
                    seenbit = match kw {
                        "next" => SEEN_NEXT,
                        "rewind" => SEEN_REWIND,
                        _ => SEEN_BINDING,
                    };
                    if kw != "binding" && !self.next().is_kw("binding") {
                        self.warn("expecting 'binding'");
                        self.skip_to_semi();
                    } else if !self.next().is_kw("state") {
                        self.warn("expecting 'state'");
                        self.skip_to_semi();
                    } else {
                        let s = self.next();
                        let state = match s.tok {
                            Tok::Kw("abandoned") => BindingState::Abandoned,
                            Tok::Kw("free") => BindingState::Free,
                            Tok::Kw("active") => BindingState::Active,
                            Tok::Kw("expired") => BindingState::Expired,
                            Tok::Kw("released") => BindingState::Released,
                            Tok::Kw("reset") => BindingState::Reset,
                            Tok::Kw("backup") => BindingState::Backup,
                            Tok::Kw("reserved") => {
                                lease.reserved = true;
                                BindingState::Active
                            }
                            Tok::Kw("bootp") => {
                                lease.bootp = true;
                                BindingState::Active
                            }
                            _ => {
                                self.warn(format!("{}: expecting a binding state.", s.text));
                                self.skip_to_semi();
                                return None;
                            }
                        };
                        match seenbit {
                            SEEN_BINDING => {
                                lease.state = state;
                                if seen & SEEN_NEXT == 0 {
                                    lease.next_state = state;
                                }
                                if seen & SEEN_REWIND == 0 {
                                    lease.rewind_state = state;
                                }
                            }
                            SEEN_NEXT => lease.next_state = state,
                            _ => lease.rewind_state = state,
                        }
                        self.semi();
                    }
                }
                Tok::Kw("client-hostname") => {
                    seenbit = 1024;
                    if let Tok::Str(s) = self.peek().tok {
                        self.skip();
                        lease.client_hostname = Some(s.into_boxed_slice());
                        self.semi();
                    } else if let Some(h) = self.host_name() {
                        lease.client_hostname = Some(h.into_bytes().into_boxed_slice());
                        self.semi();
                    } else {
                        self.warn("expecting a hostname.");
                        self.skip_to_semi();
                        return None;
                    }
                }
                Tok::Kw("billing") => {
                    seenbit = 2048;
                    // Lease-limit billing is recomputed from the configuration.
                    self.skip_to_semi();
                }
                Tok::Kw("on") => {
                    seenbit = 0;
                    self.stored_on(&mut lease);
                }
                Tok::Kw("option" | "supersede") => {
                    seenbit = 0;
                    self.agent_option(&mut lease);
                }
                Tok::Kw("set") => {
                    seenbit = 0;
                    let n = self.next();
                    if !n.is_name() {
                        self.warn(format!("{} can't be a variable name", n.text));
                        self.skip_to_semi();
                        return None;
                    }
                    if !self.next().is_punct(b'=') {
                        self.warn("expecting '=' in set statement.");
                        self.skip_to_semi();
                        return None;
                    }
                    let v = self.binding_value()?;
                    set_binding(&mut lease, n.text, v);
                    self.semi();
                }
                _ if t.text.eq_ignore_ascii_case("ddns-fwd-name")
                    || t.text.eq_ignore_ascii_case("ddns-rev-name") =>
                {
                    seenbit = if t.text.eq_ignore_ascii_case("ddns-fwd-name") {
                        4096
                    } else {
                        8192
                    };
                    let v = self.binding_value()?;
                    set_binding(&mut lease, t.text.to_ascii_lowercase(), v);
                    self.semi();
                }
                _ => {
                    self.warn("Unexpected configuration directive.");
                    self.skip_to_semi();
                    return None;
                }
            }
            if seen & seenbit != 0 {
                self.warn(format!(
                    "Too many {} parameters in lease {}\n",
                    t.text, lease.ip
                ));
            } else {
                seen |= seenbit;
            }
        }
        if seen & SEEN_BINDING == 0 {
            // ISC makes one up: active if it has not ended yet. "Now" is not known to a pure
            // parser; the lease is active until `ends` either way, which `state_at` applies.
            if lease.ends > 0 {
                lease.state = BindingState::Active;
                lease.next_state = BindingState::Free;
            } else {
                lease.state = BindingState::Free;
                lease.next_state = BindingState::Free;
            }
            lease.rewind_state = lease.state;
        }
        if seen & SEEN_TSTP == 0 {
            lease.tstp = lease.ends;
        }
        Some(lease)
    }

    /// `option agent.NAME VALUE;` (relay agent sub-options stashed with a lease).
    fn agent_option(&mut self, lease: &mut Lease) {
        let space = self.next();
        let dotted = self.peek().is_punct(b'.');
        if !dotted || !space.text.eq_ignore_ascii_case("agent") {
            self.warn("agent option expected.");
            self.skip_to_semi();
            return;
        }
        self.skip();
        let name = self.next();
        let code = match name.text.to_ascii_lowercase().as_str() {
            "circuit-id" => Some(1u8),
            "remote-id" => Some(2),
            "agent-id" => Some(3),
            "docsis-device-class" => Some(4),
            "link-selection" => Some(5),
            "relay-port" => Some(19),
            other => other
                .strip_prefix("unknown-")
                .and_then(|n| n.parse::<u8>().ok()),
        };
        let Some(code) = code else {
            self.warn(format!("no option named {} in space agent", name.text));
            self.skip_to_semi();
            return;
        };
        let data = match self.peek().tok {
            Tok::Str(s) => {
                self.skip();
                Some(s)
            }
            Tok::Number(_) if matches!(code, 3 | 5) => {
                self.ip_addr().map(|ip| ip.octets().to_vec())
            }
            _ => self.numeric_aggregate(0, b':', 16, 8),
        };
        if let Some(d) = data {
            lease.rare_mut().agent_options.push((code, d));
        }
        self.semi();
    }

    /// `parse_binding_value`: a string, hex bytes, `%N` or `true`/`false`.
    fn binding_value(&mut self) -> Option<BindingValue> {
        let t = self.peek();
        match t.tok {
            Tok::Str(s) => {
                self.skip();
                Some(BindingValue::Data(s))
            }
            Tok::Number(_) | Tok::NumberOrName(_) => {
                let v = self.numeric_aggregate(0, b':', 16, 8)?;
                Some(BindingValue::Data(v))
            }
            Tok::Punct(b'%') => {
                self.skip();
                let n = self.next();
                match n.tok {
                    Tok::Number(s) => Some(BindingValue::Number(atol(&s))),
                    _ => {
                        self.warn("expecting decimal number.");
                        if !n.is_punct(b';') {
                            self.skip_to_semi();
                        }
                        None
                    }
                }
            }
            Tok::Name(_) => {
                self.skip();
                if t.text.eq_ignore_ascii_case("true") {
                    Some(BindingValue::Bool(true))
                } else if t.text.eq_ignore_ascii_case("false") {
                    Some(BindingValue::Bool(false))
                } else {
                    self.warn("expecting true or false");
                    self.skip_to_semi();
                    None
                }
            }
            _ => {
                self.warn("expecting a constant value.");
                if !t.is_punct(b';') {
                    self.skip_to_semi();
                }
                None
            }
        }
    }

    /// `parse_date`: a date and its semicolon. Errors give 0, as in ISC.
    fn date(&mut self) -> Time {
        let t = self.date_core();
        if !self.semi() {
            return 0;
        }
        t
    }

    fn date_number(&mut self, what: &str) -> Option<i64> {
        let t = self.peek();
        if let Tok::Number(s) = &t.tok {
            self.skip();
            return Some(atol(s));
        }
        if !t.is_punct(b';') {
            self.skip();
        }
        self.warn(what.to_string());
        None
    }

    fn date_sep(&mut self, sep: u8, what: &str) -> Option<()> {
        let t = self.peek();
        if t.is_punct(sep) {
            self.skip();
            return Some(());
        }
        if !t.is_punct(b';') {
            self.skip();
        }
        self.warn(what.to_string());
        None
    }

    fn date_core(&mut self) -> Time {
        let t = self.peek();
        if t.is_kw("never") {
            self.skip();
            return MAX_TIME;
        }
        if t.is_kw("epoch") {
            self.skip();
            return self
                .date_number("Seconds since epoch expected.")
                .unwrap_or(0);
        }
        self.date_fields().unwrap_or(0)
    }

    fn date_fields(&mut self) -> Option<Time> {
        self.date_number("numeric day of week expected.")?;
        let year = self.date_number("numeric year expected.")?;
        self.date_sep(b'/', "expected slash separating year from month.")?;
        let month = self.date_number("numeric month expected.")?;
        self.date_sep(b'/', "expected slash separating month from day.")?;
        let day = self.date_number("numeric day of month expected.")?;
        let hour = self.date_number("numeric hour expected.")?;
        self.date_sep(b':', "expected colon separating hour from minute.")?;
        let minute = self.date_number("numeric minute expected.")?;
        self.date_sep(b':', "expected colon separating minute from second.")?;
        let second = self.date_number("numeric second expected.")?;
        let t = self.peek();
        let tzoff = if let Tok::Number(s) = &t.tok {
            self.skip();
            atol(s)
        } else if !t.is_punct(b';') {
            self.skip();
            self.warn("Time zone offset or semicolon expected.");
            return None;
        } else {
            0
        };
        Some(value(DateParts {
            year,
            month,
            day,
            hour,
            minute,
            second,
            tzoff,
        }))
    }
}

/// ISC adds a new binding in front of the list and writes the list in order; re-setting an
/// existing name replaces its value in place.
fn set_binding(lease: &mut Lease, name: String, v: BindingValue) {
    let bindings = &mut lease.rare_mut().bindings;
    if let Some(slot) = bindings.iter_mut().find(|(n, _)| *n == name) {
        slot.1 = v;
    } else {
        bindings.insert(0, (name, v));
    }
}

/// C's `atol` on a decimal token: leading digits (and sign), saturating instead of overflowing.
fn atol(s: &str) -> i64 {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -v } else { v }
}
