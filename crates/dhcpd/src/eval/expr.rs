//! Evaluating ISC expressions (dhcp-eval(5)) against a packet, with ISC's three kinds of
//! values (data, numbers, booleans) and its NULL: an absent option is NULL, `=` between two
//! NULLs is true, `and`/`or` short-circuit the way `evaluate_boolean_expression` does, and
//! anything built from a NULL (`concat`, `substring`, arithmetic) is NULL.

use crate::conf::ast::{BinOp, Expr, Stmt};
use crate::lease::{Lease, Time};
use crate::model::{AGENT, Config, DHCP, HostDecl, SERVER, SpaceId};
use crate::request::Request;

use super::state::{OptionState, Sv};

/// A value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// Bytes.
    Data(Vec<u8>),
    /// A number.
    Num(i64),
    /// A boolean.
    Bool(bool),
    /// A function (`define f (a, b) { … }`).
    Func(Vec<String>, Vec<Stmt>),
}

/// Variables (`set`, `define`): name and value, the latest binding first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bindings {
    vars: Vec<(String, Val)>,
}

impl Bindings {
    /// No variables.
    pub fn new() -> Bindings {
        Bindings::default()
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Bind (or rebind) a variable.
    pub fn set(&mut self, name: &str, v: Val) {
        if let Some(slot) = self.vars.iter_mut().find(|(n, _)| n == name) {
            slot.1 = v;
        } else {
            self.vars.push((name.to_string(), v));
        }
    }

    /// Forget a variable.
    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    /// The bindings in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &Val)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v))
    }
}

/// How deeply user functions may call one another while one expression is evaluated.
pub const MAX_CALL_DEPTH: u32 = 32;

thread_local! {
    /// The depth of user function calls on this thread (evaluation is synchronous, so the
    /// count returns to zero when the outermost call returns).
    static CALL_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// What an expression can look at.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The configuration (option names, functions, classes).
    pub cfg: &'a Config,
    /// The packet, if evaluating for one.
    pub req: Option<&'a Request>,
    /// ISC's `packet->known`: a host declaration matched (false during classification).
    pub known: bool,
    /// The lease being handed out, if chosen yet.
    pub lease: Option<&'a Lease>,
    /// The lease is a fixed-address one.
    pub static_lease: bool,
    /// The host declaration, if any.
    pub host: Option<&'a HostDecl>,
    /// The classes the packet is in (names), for `check`.
    pub classes: &'a [String],
    /// Now.
    pub now: Time,
}

/// An option of the packet, in any space: `dhcp` directly, `agent` from option 82, spaces a
/// DHCP option encapsulates (`option space ipxe; … encapsulate ipxe`) from that option.
pub fn packet_option(cfg: &Config, req: &Request, space: SpaceId, code: u32) -> Option<Vec<u8>> {
    if space == DHCP {
        let c = u8::try_from(code).ok()?;
        return req.option(c).map(<[u8]>::to_vec);
    }
    if space == AGENT {
        let c = u8::try_from(code).ok()?;
        return req
            .agent_options()
            .into_iter()
            .find(|(sc, _)| *sc == c)
            .map(|(_, d)| d.to_vec());
    }
    let (outer, _) = cfg.spaces.encapsulations().find(|(_, s)| *s == space)?;
    let data = req.option(u8::try_from(outer).ok()?)?;
    let info = cfg.spaces.get(space)?;
    sub_option(data, info.code_width, info.length_width, code)
}

/// Read a big-endian unsigned integer of `w` bytes.
fn read_be(d: &[u8], w: u8) -> Option<(u32, &[u8])> {
    let w = usize::from(w);
    if d.len() < w {
        return None;
    }
    let v = d[..w]
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    Some((v, &d[w..]))
}

/// Find sub-option `code` in TLV data with the given widths (repeats concatenated).
pub fn sub_option(mut data: &[u8], code_w: u8, len_w: u8, code: u32) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    while !data.is_empty() {
        let (c, rest) = read_be(data, code_w.max(1))?;
        if code_w == 1 && (c == 0 || c == 255) {
            // Pad and end in one-byte spaces.
            if c == 255 {
                break;
            }
            data = rest;
            continue;
        }
        let (len, rest) = if len_w == 0 {
            (u32::try_from(rest.len()).ok()?, rest)
        } else {
            read_be(rest, len_w)?
        };
        let len = usize::try_from(len).ok()?;
        if len > rest.len() {
            return out;
        }
        if c == code {
            out.get_or_insert_with(Vec::new)
                .extend_from_slice(&rest[..len]);
        }
        data = &rest[len..];
    }
    out
}

fn to_bool(v: Option<Val>) -> Option<bool> {
    match v? {
        Val::Bool(b) => Some(b),
        _ => None,
    }
}

fn to_data(v: Option<Val>) -> Option<Vec<u8>> {
    match v? {
        Val::Data(d) => Some(d),
        // A number where data is wanted: ISC's parser does not allow it; be lenient.
        Val::Num(n) => Some((n as u32).to_be_bytes().to_vec()),
        Val::Bool(b) => Some(vec![u8::from(b)]),
        Val::Func(..) => None,
    }
}

fn to_num(v: Option<Val>) -> Option<i64> {
    match v? {
        Val::Num(n) => Some(n),
        Val::Data(d) if d.len() <= 4 => Some(i64::from(
            d.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
        )),
        Val::Bool(b) => Some(i64::from(b)),
        _ => None,
    }
}

/// `binary-to-ascii`: each `width`-bit number of `data` in `base`, joined by `sep`.
fn binary_to_ascii(base: i64, width: i64, sep: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if !(2..=16).contains(&base) {
        return None;
    }
    let step = match width {
        8 => 1,
        16 => 2,
        32 => 4,
        _ => return None,
    };
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(step).enumerate() {
        if chunk.len() < step {
            break;
        }
        if i > 0 {
            out.extend_from_slice(sep);
        }
        let mut v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let mut digits = Vec::new();
        loop {
            let d = (v % base as u64) as u8;
            digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
            v /= base as u64;
            if v == 0 {
                break;
            }
        }
        digits.reverse();
        out.extend_from_slice(&digits);
    }
    Some(out)
}

impl Env<'_> {
    /// Evaluate to a boolean; `None` is ISC's NULL (treated as false by `if`).
    pub fn eval_bool(&self, e: &Expr, vars: &Bindings, out: &OptionState) -> Option<bool> {
        to_bool(self.eval(e, vars, out))
    }

    /// Evaluate to data.
    pub fn eval_data(&self, e: &Expr, vars: &Bindings, out: &OptionState) -> Option<Vec<u8>> {
        to_data(self.eval(e, vars, out))
    }

    /// Evaluate to a number.
    pub fn eval_num(&self, e: &Expr, vars: &Bindings, out: &OptionState) -> Option<i64> {
        to_num(self.eval(e, vars, out))
    }

    fn option_code(&self, space: &str, name: &str) -> Option<(SpaceId, u32)> {
        let sid = self.cfg.spaces.id(space)?;
        Some((sid, self.cfg.spaces.code(sid, name)?))
    }

    /// Evaluate an expression. `None` is ISC's NULL.
    pub fn eval(&self, e: &Expr, vars: &Bindings, out: &OptionState) -> Option<Val> {
        let data = |x: &Expr| self.eval_data(x, vars, out);
        let num = |x: &Expr| self.eval_num(x, vars, out);
        Some(match e {
            Expr::Check(c) => Val::Bool(self.classes.iter().any(|n| n == c)),
            Expr::Not(x) => Val::Bool(!self.eval_bool(x, vars, out)?),
            Expr::Exists(space, name) => {
                let req = self.req?;
                let (sid, code) = self.option_code(space, name)?;
                Val::Bool(packet_option(self.cfg, req, sid, code).is_some())
            }
            Expr::Known => {
                self.req?;
                Val::Bool(self.known)
            }
            Expr::Static => Val::Bool(self.static_lease),
            Expr::Substring(d, off, len) => {
                let d = data(d)?;
                let off = usize::try_from(num(off)?).ok()?;
                let len = usize::try_from(num(len)?).ok()?;
                if off >= d.len() {
                    Val::Data(Vec::new())
                } else {
                    let end = off.saturating_add(len).min(d.len());
                    Val::Data(d[off..end].to_vec())
                }
            }
            Expr::Suffix(d, len) => {
                let d = data(d)?;
                let len = usize::try_from(num(len)?).ok()?;
                let start = d.len().saturating_sub(len);
                Val::Data(d[start..].to_vec())
            }
            Expr::Lcase(d) => Val::Data(data(d)?.to_ascii_lowercase()),
            Expr::Ucase(d) => Val::Data(data(d)?.to_ascii_uppercase()),
            Expr::Concat(parts) => {
                let mut v = Vec::new();
                for p in parts {
                    v.extend_from_slice(&data(p)?);
                }
                Val::Data(v)
            }
            Expr::BinaryToAscii(base, width, sep, d) => Val::Data(binary_to_ascii(
                num(base)?,
                num(width)?,
                &data(sep)?,
                &data(d)?,
            )?),
            Expr::Reverse(width, d) => {
                let w = usize::try_from(num(width)?).ok()?;
                let d = data(d)?;
                if w == 0 || d.len() % w != 0 {
                    return None;
                }
                let mut v = Vec::with_capacity(d.len());
                for chunk in d.chunks(w).rev() {
                    v.extend_from_slice(chunk);
                }
                Val::Data(v)
            }
            Expr::PickFirstValue(list) => {
                return list.iter().find_map(&data).map(Val::Data);
            }
            Expr::Option(space, name) => {
                let req = self.req?;
                let (sid, code) = self.option_code(space, name)?;
                Val::Data(packet_option(self.cfg, req, sid, code)?)
            }
            Expr::ConfigOption(space, name) => {
                let (sid, code) = self.option_code(space, name)?;
                Val::Data(out.get(sid, code)?.to_vec())
            }
            Expr::Hardware => {
                // The packet's, else (an expiry has no packet) the lease's, as ISC: empty
                // for a lease without one (an abandoned lease).
                let hw = match self.req {
                    Some(req) => req.hardware(),
                    None => match &self.lease?.hardware {
                        Some(hw) => hw.clone(),
                        None => return Some(Val::Data(Vec::new())),
                    },
                };
                let mut v = vec![hw.htype];
                v.extend_from_slice(hw.addr());
                Val::Data(v)
            }
            Expr::LeasedAddress => Val::Data(self.lease?.ip.octets().to_vec()),
            Expr::ClientState => return None,
            Expr::Filename => Val::Data(out.get(SERVER, Sv::Filename)?.to_vec()),
            Expr::ServerName => Val::Data(out.get(SERVER, Sv::ServerName)?.to_vec()),
            Expr::LeaseTime => {
                let l = self.lease?;
                if l.ends < self.now {
                    return None;
                }
                Val::Num(l.ends - self.now)
            }
            Expr::Null => return None,
            Expr::HostDeclName => Val::Data(self.host?.name.as_bytes().to_vec()),
            Expr::Packet(off, len) => {
                let raw = &self.req?.raw;
                let off = usize::try_from(num(off)?).ok()?;
                let len = usize::try_from(num(len)?).ok()?;
                if off >= raw.len() {
                    Val::Data(Vec::new())
                } else {
                    Val::Data(raw[off..off.saturating_add(len).min(raw.len())].to_vec())
                }
            }
            Expr::ConstData(d) => Val::Data(d.clone()),
            Expr::ConstInt(n) => Val::Num(*n),
            Expr::ExtractInt(d, bits) => {
                let d = data(d)?;
                let w = usize::from(*bits / 8);
                if w == 0 || d.len() < w {
                    return None;
                }
                Val::Num(i64::from(
                    d[..w]
                        .iter()
                        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
                ))
            }
            Expr::EncodeInt(n, bits) => {
                let n = num(n)? as u32;
                let bytes = n.to_be_bytes();
                let w = usize::from(*bits / 8).clamp(1, 4);
                Val::Data(bytes[4 - w..].to_vec())
            }
            Expr::VariableExists(n) => Val::Bool(vars.get(n).is_some()),
            Expr::Variable(n) => return vars.get(n).cloned(),
            Expr::FunCall(name, args) => return self.call(name, args, vars, out),
            // Name service lookups are not made by the pure core.
            Expr::GetHostName | Expr::HostLookup(_) | Expr::V6Relay(..) => return None,
            Expr::Function(args, body) => Val::Func(args.clone(), body.clone()),
            Expr::Binary(op, a, b) => return self.binary(*op, a, b, vars, out),
        })
    }

    fn binary(
        &self,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        vars: &Bindings,
        out: &OptionState,
    ) -> Option<Val> {
        Some(match op {
            BinOp::Equal | BinOp::NotEqual => {
                let l = self.eval(a, vars, out);
                let r = self.eval(b, vars, out);
                let same = match (&l, &r) {
                    (Some(x), Some(y)) => x == y,
                    (None, None) => true,
                    _ => false,
                };
                Val::Bool(same == (op == BinOp::Equal))
            }
            BinOp::RegexMatch | BinOp::IRegexMatch => {
                let l = self.eval_data(a, vars, out)?;
                let r = self.eval_data(b, vars, out)?;
                let pattern = String::from_utf8_lossy(&r);
                let re = regex::bytes::RegexBuilder::new(&pattern)
                    .case_insensitive(op == BinOp::IRegexMatch)
                    .build();
                // The subject ends at its first NUL, as regexec() sees it.
                let subject = l.split(|c| *c == 0).next().unwrap_or(&[]);
                Val::Bool(re.is_ok_and(|re| re.is_match(subject)))
            }
            BinOp::And => {
                // ISC: a false or NULL left side makes the whole `and` NULL (which `if`
                // treats as false); only a true left side looks at the right one.
                if self.eval_bool(a, vars, out) != Some(true) {
                    return None;
                }
                Val::Bool(self.eval_bool(b, vars, out)?)
            }
            BinOp::Or => {
                let l = self.eval_bool(a, vars, out);
                if l == Some(true) {
                    return Some(Val::Bool(true));
                }
                let r = self.eval_bool(b, vars, out);
                match (l, r) {
                    (_, Some(x)) => Val::Bool(x),
                    (Some(x), None) => Val::Bool(x),
                    (None, None) => return None,
                }
            }
            _ => {
                let l = self.eval_num(a, vars, out)?;
                let r = self.eval_num(b, vars, out)?;
                Val::Num(match op {
                    BinOp::Add => l.wrapping_add(r),
                    BinOp::Subtract => l.wrapping_sub(r),
                    BinOp::Multiply => l.wrapping_mul(r),
                    BinOp::Divide => l.checked_div(r)?,
                    BinOp::Remainder => l.checked_rem(r)?,
                    BinOp::BinaryAnd => l & r,
                    BinOp::BinaryOr => l | r,
                    BinOp::BinaryXor => l ^ r,
                    _ => return None,
                })
            }
        })
    }

    /// Call a user function: its arguments bound in a fresh scope over the caller's, its body
    /// run until `return`.
    /// Calls nested deeper than [`MAX_CALL_DEPTH`] evaluate to NULL: the parser refuses a
    /// function that calls itself, and this bounds the stack whatever reaches here.
    fn call(&self, name: &str, args: &[Expr], vars: &Bindings, out: &OptionState) -> Option<Val> {
        let depth = CALL_DEPTH.with(std::cell::Cell::get);
        if depth >= MAX_CALL_DEPTH {
            return None;
        }
        CALL_DEPTH.with(|d| d.set(depth + 1));
        let v = self.call_at(name, args, vars, out);
        CALL_DEPTH.with(|d| d.set(depth));
        v
    }

    fn call_at(
        &self,
        name: &str,
        args: &[Expr],
        vars: &Bindings,
        out: &OptionState,
    ) -> Option<Val> {
        let f = match vars.get(name) {
            Some(Val::Func(params, body)) => (params.clone(), body.clone()),
            _ => match self.cfg.functions.get(name) {
                Some(Expr::Function(params, body)) => (params.clone(), body.clone()),
                _ => return None,
            },
        };
        let (params, body) = f;
        let mut local = vars.clone();
        for (p, a) in params.iter().zip(args) {
            match self.eval(a, vars, out) {
                Some(v) => local.set(p, v),
                None => local.unset(p),
            }
        }
        self.run_function(&body, &mut local, out, 0)
    }

    fn run_function(
        &self,
        body: &[Stmt],
        vars: &mut Bindings,
        out: &OptionState,
        depth: u32,
    ) -> Option<Val> {
        if depth > 32 {
            return None;
        }
        for s in body {
            match s {
                Stmt::Return(e) => return self.eval(e, vars, out),
                Stmt::Set { name, value } | Stmt::Define { name, value } => {
                    match self.eval(value, vars, out) {
                        Some(v) => vars.set(name, v),
                        None => vars.unset(name),
                    }
                }
                Stmt::Unset(n) => vars.unset(n),
                Stmt::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let branch = if self.eval_bool(cond, vars, out) == Some(true) {
                        then
                    } else {
                        otherwise
                    };
                    if let Some(v) = self.run_function(branch, vars, out, depth + 1) {
                        return Some(v);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_to_ascii_like_isc() {
        let mac = [1u8, 0x52, 0x54, 0, 0x12, 0x34, 0x56];
        assert_eq!(
            binary_to_ascii(16, 8, b":", &mac),
            Some(b"1:52:54:0:12:34:56".to_vec())
        );
        assert_eq!(
            binary_to_ascii(10, 8, b".", &[10, 0, 0, 1]),
            Some(b"10.0.0.1".to_vec())
        );
        assert_eq!(binary_to_ascii(10, 16, b"", &[1, 0]), Some(b"256".to_vec()));
        assert_eq!(binary_to_ascii(1, 8, b"", &[1]), None);
    }

    #[test]
    fn recursion_is_bounded_at_run_time() {
        use crate::conf::ast::Stmt;
        // `define spin (arg) { return spin (arg); }`, as the parser would refuse it.
        let mut cfg = Config::default();
        let call = Expr::FunCall("spin".into(), vec![Expr::Variable("arg".into())]);
        cfg.functions.insert(
            "spin".into(),
            Expr::Function(vec!["arg".into()], vec![Stmt::Return(call.clone())]),
        );
        let v = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let env = Env {
                    cfg: &cfg,
                    req: None,
                    known: false,
                    lease: None,
                    static_lease: false,
                    host: None,
                    classes: &[],
                    now: 0,
                };
                let v = env.eval(&call, &Bindings::new(), &OptionState::new());
                (v, CALL_DEPTH.with(std::cell::Cell::get))
            })
            .and_then(|t| t.join().map_err(|_| std::io::ErrorKind::Other.into()));
        assert_eq!(v.ok(), Some((None, 0)), "NULL, and the depth back to zero");
    }

    #[test]
    fn sub_options() {
        let d = [1u8, 2, 0xaa, 0xbb, 0, 6, 1, 7, 255, 9, 1, 1];
        assert_eq!(sub_option(&d, 1, 1, 1), Some(vec![0xaa, 0xbb]));
        assert_eq!(sub_option(&d, 1, 1, 6), Some(vec![7]));
        assert_eq!(sub_option(&d, 1, 1, 9), None, "after the end marker");
        assert_eq!(sub_option(&[1, 9, 0], 1, 1, 1), None, "truncated");
        assert_eq!(sub_option(&[0, 1, 0, 2, 5, 6], 2, 2, 1), Some(vec![5, 6]));
    }
}
