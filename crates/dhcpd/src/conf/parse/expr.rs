//! Expressions (ISC `parse_non_binary` / `parse_expression`): the unary forms and functions,
//! then binary operators with ISC's precedence table and its type checks between operands.

use super::super::ast::{BinOp, Expr};
use super::super::lexer::Tok;
use super::{Lose, Parser};

/// Expected kind of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Any,
    Boolean,
    Data,
    Numeric,
    DataOrNumeric,
}

fn is_boolean(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Check(_)
            | Expr::Exists(..)
            | Expr::VariableExists(_)
            | Expr::Not(_)
            | Expr::Known
            | Expr::Static
    ) || matches!(e, Expr::Binary(op, ..) if matches!(op, BinOp::Equal | BinOp::NotEqual | BinOp::RegexMatch | BinOp::IRegexMatch | BinOp::And | BinOp::Or))
}

pub(crate) fn is_data(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Substring(..)
            | Expr::Suffix(..)
            | Expr::Lcase(_)
            | Expr::Ucase(_)
            | Expr::Option(..)
            | Expr::Hardware
            | Expr::ConstData(_)
            | Expr::Packet(..)
            | Expr::Concat(_)
            | Expr::EncodeInt(..)
            | Expr::HostLookup(_)
            | Expr::BinaryToAscii(..)
            | Expr::Filename
            | Expr::ServerName
            | Expr::Reverse(..)
            | Expr::PickFirstValue(_)
            | Expr::HostDeclName
            | Expr::LeasedAddress
            | Expr::ConfigOption(..)
            | Expr::Null
            | Expr::GetHostName
            | Expr::V6Relay(..)
    )
}

fn is_numeric(e: &Expr) -> bool {
    matches!(
        e,
        Expr::ExtractInt(..) | Expr::ConstInt(_) | Expr::LeaseTime | Expr::ClientState
    ) || matches!(e, Expr::Binary(op, ..) if matches!(op, BinOp::Add | BinOp::Subtract | BinOp::Multiply | BinOp::Divide | BinOp::Remainder | BinOp::BinaryAnd | BinOp::BinaryOr | BinOp::BinaryXor))
}

fn context_of(e: &Expr) -> Context {
    if is_data(e) {
        Context::Data
    } else if is_numeric(e) {
        Context::Numeric
    } else if is_boolean(e) {
        Context::Boolean
    } else {
        Context::Any
    }
}

fn op_val(op: Option<BinOp>) -> i32 {
    match op {
        Some(BinOp::Equal | BinOp::NotEqual | BinOp::RegexMatch | BinOp::IRegexMatch) => 4,
        Some(BinOp::And | BinOp::Or) => 3,
        Some(BinOp::Add | BinOp::Subtract) => 2,
        Some(BinOp::Multiply | BinOp::Divide | BinOp::Remainder) => 1,
        _ => 100,
    }
}

fn op_context(op: BinOp) -> Context {
    match op {
        BinOp::Equal | BinOp::NotEqual | BinOp::RegexMatch | BinOp::IRegexMatch => Context::Data,
        BinOp::And | BinOp::Or => Context::Boolean,
        _ => Context::Numeric,
    }
}

fn is_untyped(e: &Expr) -> bool {
    matches!(e, Expr::Variable(_) | Expr::FunCall(..))
}

impl Parser<'_, '_, '_> {
    pub(crate) fn boolean_expression(&mut self) -> Result<Expr, Lose> {
        let e = self.expression(Context::Boolean)?;
        if !is_boolean(&e) && !is_untyped(&e) {
            self.warn("Expecting a boolean expression.");
            return Err(true);
        }
        Ok(e)
    }

    pub(crate) fn data_expression(&mut self) -> Result<Expr, Lose> {
        let e = self.expression(Context::Data)?;
        if !is_data(&e) && !is_untyped(&e) {
            self.warn("Expecting a data expression.");
            return Err(true);
        }
        Ok(e)
    }

    fn numeric_expression(&mut self) -> Result<Expr, Lose> {
        let e = self.expression(Context::Numeric)?;
        if !is_numeric(&e) && !is_untyped(&e) {
            self.warn("Expecting a numeric expression.");
            return Err(true);
        }
        Ok(e)
    }

    fn expect_punct(&mut self, c: u8, msg: &str) -> Result<(), Lose> {
        if self.next().is_punct(c) {
            Ok(())
        } else {
            self.warn(msg);
            Err(true)
        }
    }

    fn lparen(&mut self) -> Result<(), Lose> {
        self.expect_punct(b'(', "left parenthesis expected.")
    }
    fn rparen(&mut self) -> Result<(), Lose> {
        self.expect_punct(b')', "right parenthesis expected.")
    }
    fn comma(&mut self) -> Result<(), Lose> {
        self.expect_punct(b',', "comma expected.")
    }
    /// One or more data arguments separated by commas, and the closing parenthesis.
    fn data_args_to_rparen(&mut self, into: &mut Vec<Expr>) -> Result<(), Lose> {
        loop {
            into.push(*self.data_arg()?);
            let t = self.next();
            if t.is_punct(b',') {
                continue;
            }
            if !t.is_punct(b')') {
                self.warn("right parenthesis expected.");
                return Err(true);
            }
            return Ok(());
        }
    }
    fn data_arg(&mut self) -> Result<Box<Expr>, Lose> {
        self.data_expression().map(Box::new).map_err(|lose| {
            if !lose {
                self.warn("expecting data expression.");
                self.skip_to_semi();
            }
            true
        })
    }
    fn num_arg(&mut self) -> Result<Box<Expr>, Lose> {
        self.numeric_expression().map(Box::new).map_err(|lose| {
            if !lose {
                self.warn("expecting numeric expression.");
                self.skip_to_semi();
            }
            true
        })
    }

    fn int_width(&mut self) -> Result<u8, Lose> {
        let n = self.next();
        if !matches!(n.tok, Tok::Number(_)) {
            self.warn("number expected.");
            return Err(true);
        }
        match super::stmt::atoi(&n.text) {
            8 => Ok(8),
            16 => Ok(16),
            32 => Ok(32),
            v => {
                self.warn(format!("unsupported integer size {v}"));
                self.skip_to_semi();
                Err(true)
            }
        }
    }

    /// `parse_non_binary`, within the nesting limit.
    fn non_binary(&mut self, ctx: Context) -> Result<Expr, Lose> {
        if !self.deeper("expression") {
            return Err(true);
        }
        let e = self.non_binary_at(ctx);
        self.shallower();
        e
    }

    /// `parse_non_binary`.
    fn non_binary_at(&mut self, ctx: Context) -> Result<Expr, Lose> {
        let t = self.peek();
        let kw = if let Tok::Kw(k) = t.tok { k } else { "" };
        let e = match kw {
            "check" => {
                self.skip();
                let s = self.next();
                let Tok::Str(s) = s.tok else {
                    self.warn("string expected.");
                    self.skip_to_semi();
                    return Err(true);
                };
                let s = String::from_utf8_lossy(&s).into_owned();
                if !self.g.classes.contains(&s) {
                    self.warn("unknown collection.");
                    return Err(true);
                }
                Expr::Check(s)
            }
            "not" => {
                self.skip();
                let inner = match self.non_binary(Context::Boolean) {
                    Ok(e) => e,
                    Err(lose) => {
                        if !lose {
                            self.warn("expression expected");
                            self.skip_to_semi();
                        }
                        return Err(true);
                    }
                };
                if !is_boolean(&inner) {
                    self.warn("boolean expression expected");
                    self.skip_to_semi();
                    return Err(true);
                }
                Expr::Not(Box::new(inner))
            }
            "exists" | "option" | "config-option" => {
                self.skip();
                let Some((space, name, _)) = self.option_name(false) else {
                    return Err(true);
                };
                match kw {
                    "exists" => Expr::Exists(space, name),
                    "option" => Expr::Option(space, name),
                    _ => Expr::ConfigOption(space, name),
                }
            }
            "static" => {
                self.skip();
                Expr::Static
            }
            "known" => {
                self.skip();
                Expr::Known
            }
            "substring" => {
                self.skip();
                self.lparen()?;
                let d = self.data_arg()?;
                self.comma()?;
                let o = self.num_arg()?;
                self.comma()?;
                let l = self.num_arg()?;
                self.rparen()?;
                Expr::Substring(d, o, l)
            }
            "suffix" => {
                self.skip();
                self.lparen()?;
                let d = self.data_arg()?;
                self.comma()?;
                let l = self.num_arg()?;
                self.rparen()?;
                Expr::Suffix(d, l)
            }
            "lcase" | "ucase" => {
                self.skip();
                self.lparen()?;
                let d = self.data_arg()?;
                self.rparen()?;
                if kw == "lcase" {
                    Expr::Lcase(d)
                } else {
                    Expr::Ucase(d)
                }
            }
            "concat" => {
                self.skip();
                self.lparen()?;
                let mut parts = vec![*self.data_arg()?];
                self.comma()?;
                self.data_args_to_rparen(&mut parts)?;
                Expr::Concat(parts)
            }
            "binary-to-ascii" => {
                self.skip();
                self.lparen()?;
                let base = self.num_arg()?;
                self.comma()?;
                let width = self.num_arg()?;
                self.comma()?;
                let sep = self.data_arg()?;
                self.comma()?;
                let buf = self.data_arg()?;
                self.rparen()?;
                Expr::BinaryToAscii(base, width, sep, buf)
            }
            "reverse" => {
                self.skip();
                self.lparen()?;
                let w = self.num_arg()?;
                self.comma()?;
                let b = self.data_arg()?;
                self.rparen()?;
                Expr::Reverse(w, b)
            }
            "pick-first-value" => {
                self.skip();
                self.lparen()?;
                let mut v = Vec::new();
                self.data_args_to_rparen(&mut v)?;
                Expr::PickFirstValue(v)
            }
            "hardware" | "leased-address" | "client-state" | "filename" | "server-name"
            | "lease-time" | "null" | "host-decl-name" => {
                self.skip();
                match kw {
                    "hardware" => Expr::Hardware,
                    "leased-address" => Expr::LeasedAddress,
                    "client-state" => Expr::ClientState,
                    "filename" => Expr::Filename,
                    "server-name" => Expr::ServerName,
                    "lease-time" => Expr::LeaseTime,
                    "null" => Expr::Null,
                    _ => Expr::HostDeclName,
                }
            }
            "packet" => {
                self.skip();
                self.lparen()?;
                let o = self.num_arg()?;
                self.comma()?;
                let l = self.num_arg()?;
                self.rparen()?;
                Expr::Packet(o, l)
            }
            "extract-int" | "encode-int" => {
                self.skip();
                self.lparen()?;
                let e = if kw == "extract-int" {
                    self.data_arg()?
                } else {
                    match self.numeric_expression() {
                        Ok(e) => Box::new(e),
                        Err(_) => {
                            self.warn("expecting numeric expression.");
                            self.skip_to_semi();
                            return Err(true);
                        }
                    }
                };
                self.comma()?;
                let w = self.int_width()?;
                self.rparen()?;
                if kw == "extract-int" {
                    Expr::ExtractInt(e, w)
                } else {
                    Expr::EncodeInt(e, w)
                }
            }
            "defined" => {
                self.skip();
                self.lparen()?;
                let n = self.next();
                if !n.is_name() {
                    self.warn(format!("{} can't be a variable name", n.text));
                    self.skip_to_semi();
                    return Err(true);
                }
                self.rparen()?;
                Expr::VariableExists(n.text)
            }
            "gethostname" => {
                self.skip();
                self.lparen()?;
                self.rparen()?;
                Expr::GetHostName
            }
            "gethostbyname" => {
                self.skip();
                self.lparen()?;
                let s = self.next();
                let Tok::Str(s) = s.tok else {
                    self.warn("Expecting quoted literal: \"foo.example.com\"");
                    self.skip_to_semi();
                    return Err(true);
                };
                self.rparen()?;
                Expr::HostLookup(String::from_utf8_lossy(&s).into_owned())
            }
            "v6relay" => {
                self.skip();
                self.lparen()?;
                let n = self.num_arg()?;
                self.comma()?;
                let d = self.data_arg()?;
                self.rparen()?;
                Expr::V6Relay(n, d)
            }
            "booting" | "reboot" | "select" | "request" | "bound" | "renew" | "rebind"
            | "formerr" | "noerror" | "notauth" | "notimp" | "notzone" | "nxdomain" | "nxrrset"
            | "refused" | "servfail" | "yxdomain" | "yxrrset" => {
                self.skip();
                Expr::ConstInt(0)
            }
            _ => return self.non_binary_other(ctx),
        };
        Ok(e)
    }

    fn non_binary_other(&mut self, ctx: Context) -> Result<Expr, Lose> {
        let t = self.peek();
        match &t.tok {
            Tok::Punct(b'(') => {
                self.skip();
                let e = match self.expression(ctx) {
                    Ok(e) => e,
                    Err(lose) => {
                        if !lose {
                            self.warn("expression expected");
                            self.skip_to_semi();
                        }
                        return Err(true);
                    }
                };
                if !self.next().is_punct(b')') {
                    self.warn("right paren expected");
                    self.skip_to_semi();
                    return Err(true);
                }
                Ok(e)
            }
            Tok::Str(s) => {
                self.skip();
                Ok(Expr::ConstData(s.clone()))
            }
            Tok::Number(n) if matches!(ctx, Context::Numeric | Context::DataOrNumeric) => {
                self.skip();
                Ok(Expr::ConstInt(super::stmt::atoi(n)))
            }
            Tok::Number(_) | Tok::NumberOrName(_) => self.cshl().map(Expr::ConstData).ok_or(false),
            Tok::Name(_) => self.variable_or_call(),
            _ => Err(false),
        }
    }

    fn variable_or_call(&mut self) -> Result<Expr, Lose> {
        let n = self.next();
        if !self.peek().is_punct(b'(') {
            return Ok(Expr::Variable(n.text));
        }
        self.skip();
        self.note_call(&n.text);
        let mut args = Vec::new();
        loop {
            match self.expression(Context::Any) {
                Ok(e) => args.push(e),
                Err(lose) => {
                    if !lose {
                        self.warn("expecting expression.");
                    }
                    self.skip_to_semi();
                    return Err(true);
                }
            }
            let t = self.next();
            if t.is_punct(b',') {
                continue;
            }
            if !t.is_punct(b')') {
                self.warn("Right parenthesis expected.");
                self.skip_to_semi();
                return Err(true);
            }
            break;
        }
        Ok(Expr::FunCall(n.text, args))
    }

    /// `parse_expression` entry.
    pub(crate) fn expression(&mut self, ctx: Context) -> Result<Expr, Lose> {
        self.expression_with(ctx, None, None)
    }

    fn binop_ahead(&mut self) -> Result<Option<BinOp>, Lose> {
        let t = self.peek();
        Ok(match t.tok {
            Tok::Punct(b'!') => {
                self.skip();
                if !self.peek().is_punct(b'=') {
                    self.warn("! in boolean context without =");
                    self.skip_to_semi();
                    return Err(true);
                }
                Some(BinOp::NotEqual)
            }
            Tok::Punct(b'=') => Some(BinOp::Equal),
            Tok::Punct(b'~') => {
                self.skip();
                let n = self.peek();
                if n.is_punct(b'~') {
                    Some(BinOp::IRegexMatch)
                } else if n.is_punct(b'=') {
                    Some(BinOp::RegexMatch)
                } else {
                    self.warn("expecting ~= or ~~ operator");
                    self.skip_to_semi();
                    return Err(true);
                }
            }
            Tok::Kw("and") => Some(BinOp::And),
            Tok::Kw("or") => Some(BinOp::Or),
            Tok::Punct(b'+') => Some(BinOp::Add),
            Tok::Number(ref s) | Tok::Name(ref s) if s == "-" => Some(BinOp::Subtract),
            Tok::Punct(b'/') => Some(BinOp::Divide),
            Tok::Punct(b'*') => Some(BinOp::Multiply),
            Tok::Punct(b'%') => Some(BinOp::Remainder),
            Tok::Punct(b'&') => Some(BinOp::BinaryAnd),
            Tok::Punct(b'|') => Some(BinOp::BinaryOr),
            Tok::Punct(b'^') => Some(BinOp::BinaryXor),
            _ => None,
        })
    }

    fn expression_with(
        &mut self,
        mut ctx: Context,
        plhs: Option<Expr>,
        mut binop: Option<BinOp>,
    ) -> Result<Expr, Lose> {
        let mut lhs = plhs;
        loop {
            let rhs = match self.non_binary(ctx) {
                Ok(e) => e,
                Err(lose) => {
                    if lhs.is_some() && !lose {
                        self.warn("expecting right-hand side.");
                        self.skip_to_semi();
                        return Err(true);
                    }
                    return Err(lose);
                }
            };
            let mut next_op = self.binop_ahead()?;
            if next_op.is_some() {
                ctx = context_of(&rhs);
            }
            let Some(l) = lhs.take() else {
                match next_op {
                    None => return Ok(rhs),
                    Some(op) => {
                        lhs = Some(rhs);
                        binop = Some(op);
                        self.skip();
                        continue;
                    }
                }
            };
            let mut rhs = rhs;
            if binop.is_some() && next_op.is_some() && op_val(binop) - op_val(next_op) < 0 {
                self.skip();
                let op = next_op.unwrap_or(BinOp::Equal);
                rhs = match self.expression_with(op_context(op), Some(rhs), Some(op)) {
                    Ok(e) => e,
                    Err(lose) => {
                        if !lose {
                            self.warn("expecting a subexpression");
                        }
                        return Err(true);
                    }
                };
                next_op = None;
            }
            let op = binop.unwrap_or(BinOp::Equal);
            let (rc, lc) = (context_of(&rhs), context_of(&l));
            if rc != Context::Any && lc != Context::Any && rc != lc {
                self.warn("illegal expression relating different types");
                self.skip_to_semi();
                return Err(true);
            }
            let bad = match op {
                BinOp::Equal | BinOp::NotEqual => rc == Context::Boolean,
                BinOp::RegexMatch | BinOp::IRegexMatch => rc != Context::Data,
                BinOp::And | BinOp::Or => !matches!(rc, Context::Boolean | Context::Any),
                _ => !matches!(rc, Context::Numeric | Context::Any),
            };
            if bad {
                let msg = match op {
                    BinOp::Equal | BinOp::NotEqual => "expecting data/numeric expression",
                    BinOp::RegexMatch | BinOp::IRegexMatch => "expecting data expression",
                    BinOp::And | BinOp::Or => "expecting boolean expressions",
                    _ => "expecting numeric expressions",
                };
                self.warn(msg);
                self.skip_to_semi();
                return Err(true);
            }
            let combined = Expr::Binary(op, Box::new(l), Box::new(rhs));
            match next_op {
                None => return Ok(combined),
                Some(n) => {
                    self.skip();
                    lhs = Some(combined);
                    binop = Some(n);
                }
            }
        }
    }
}
