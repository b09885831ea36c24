//! Executable statements (ISC `parse_executable_statement`): option statements with their
//! operator, allow/deny/ignore, if/elsif/else, switch/case/default, set/define/unset, eval, add,
//! break, return, log, on-events, execute, zone and key blocks, server parameters by name, and the
//! bare-name statement ISC accepts as an expression evaluation (`authorative;`).

use super::super::ast::{OptionOp, Stmt};
use super::super::lexer::Tok;
use super::{Lose, Parser};

/// Server parameters that are parsed and kept but not acted on yet.
const UNSUPPORTED_PARAMS: &[&str] = &[
    "ddns-",
    "update-",
    "do-forward-updates",
    "do-reverse-updates",
    "fqdn-reply",
    "ldap-",
    "dhcpv6-",
    "preferred-lifetime",
    "limit-addrs-per-ia",
    "limit-prefs-per-ia",
    "delayed-ack",
    "max-ack-delay",
    "dont-use-fsync",
    "log-threshold-",
    "prefix-length-mode",
    "use-eui-64",
    "persist-eui-64-leases",
    "release-on-roam",
    "local-address6",
    "bind-local-address6",
    "ping-cltt-secs",
    "adaptive-lease-time-threshold",
    "infinite-is-reserved",
    "leasequery",
    "use-lease-addr-for-default-route",
    "check-secs-byte-order",
];

impl Parser<'_, '_, '_> {
    /// Statements until one fails to start (`parse_executable_statements`).
    pub(crate) fn executable_statements(
        &mut self,
        case_ctx: Option<super::expr::Context>,
    ) -> Result<Vec<Stmt>, Lose> {
        let mut out = Vec::new();
        loop {
            match self.exec_one(case_ctx) {
                Ok(Some(s)) => out.push(s),
                Ok(None) => {}
                Err(true) => return Err(true),
                Err(false) => return Ok(out),
            }
        }
    }

    /// `parse_executable_statement` in the any-context of a declaration scope.
    pub(crate) fn executable_statement(&mut self, _root: bool) -> Result<Option<Stmt>, Lose> {
        self.exec_one(None)
    }

    fn exec_one(&mut self, case_ctx: Option<super::expr::Context>) -> Result<Option<Stmt>, Lose> {
        if !self.deeper("statement") {
            return Err(true);
        }
        let s = self.exec_one_at(case_ctx);
        self.shallower();
        s
    }

    fn exec_one_at(
        &mut self,
        case_ctx: Option<super::expr::Context>,
    ) -> Result<Option<Stmt>, Lose> {
        let t = self.peek();
        let loc = self.loc(&t);
        let kw = if let Tok::Kw(k) = t.tok { k } else { "" };
        match kw {
            "db-time-format" => {
                self.skip();
                let v = self.next();
                if !v.is_kw("default") && !v.is_kw("local") {
                    self.warn("Expecting 'local' or 'default'.");
                    if !v.is_punct(b';') {
                        self.skip_to_semi();
                    }
                    return Err(true);
                }
                if !self.next().is_punct(b';') {
                    self.warn("Expecting a semicolon.");
                    return Err(true);
                }
                Ok(None)
            }
            "if" => {
                self.skip();
                self.if_statement().map(Some)
            }
            "add" => {
                self.skip();
                let c = self.next();
                let Tok::Str(c) = c.tok else {
                    self.warn("expecting class name.");
                    self.skip_to_semi();
                    return Err(true);
                };
                let c = String::from_utf8_lossy(&c).into_owned();
                if !self.g.classes.contains(&c) {
                    self.warn(format!("class {c}: not found"));
                    self.skip_to_semi();
                    return Err(true);
                }
                if !self.semi() {
                    return Err(true);
                }
                Ok(Some(Stmt::Add(c)))
            }
            "break" => {
                self.skip();
                if !self.semi() {
                    return Err(true);
                }
                Ok(Some(Stmt::Break))
            }
            "send" | "supersede" | "option" | "prepend" | "append" => {
                self.skip();
                let op = match kw {
                    "send" => OptionOp::Send,
                    "prepend" => OptionOp::Prepend,
                    "append" => OptionOp::Append,
                    _ => OptionOp::Supersede,
                };
                let Some((space, _name, Some(info))) = self.option_name(false) else {
                    return Err(true);
                };
                self.option_statement(&space, info, op)
                    .map(Some)
                    .ok_or(false)
            }
            "default" => {
                self.skip();
                if self.peek().is_punct(b':') {
                    self.skip();
                    if case_ctx.is_none() {
                        self.warn("switch default statement in inappropriate scope.");
                        return Err(true);
                    }
                    return Ok(Some(Stmt::DefaultCase));
                }
                let Some((space, _name, Some(info))) = self.option_name(false) else {
                    return Err(true);
                };
                self.option_statement(&space, info, OptionOp::Default)
                    .map(Some)
                    .ok_or(false)
            }
            "allow" | "deny" | "ignore" => {
                self.skip();
                let value = match kw {
                    "allow" => 1,
                    "deny" => 0,
                    _ => 2,
                };
                let w = self.next();
                let what = match w.tok {
                    Tok::Kw(
                        k @ ("bootp" | "booting" | "dynamic-bootp" | "unknown-clients"
                        | "duplicates" | "declines" | "client-updates" | "leasequery"),
                    ) => k,
                    _ => {
                        self.warn("expecting allow/deny key");
                        self.skip_to_semi();
                        return Err(false);
                    }
                };
                if what == "client-updates" || what == "leasequery" {
                    self.g.note_unsupported(&format!("{kw} {what}"), loc);
                }
                self.semi();
                Ok(Some(Stmt::AllowDeny {
                    what: what.to_string(),
                    value,
                }))
            }
            "on" => {
                self.skip();
                self.on_statement().map(Some)
            }
            "switch" => {
                self.skip();
                self.switch_statement().map(Some)
            }
            "case" => {
                self.skip();
                let Some(cctx) = case_ctx else {
                    self.warn("case statement in inappropriate scope.");
                    self.skip_to_semi();
                    return Err(true);
                };
                let e = match self.expression(cctx) {
                    Ok(e) => e,
                    Err(lose) => {
                        if !lose {
                            let what = if cctx == super::expr::Context::Data {
                                "data"
                            } else {
                                "numeric"
                            };
                            self.warn(format!("expecting {what} expression."));
                        }
                        self.skip_to_semi();
                        return Err(true);
                    }
                };
                if !self.next().is_punct(b':') {
                    self.warn("colon expected.");
                    self.skip_to_semi();
                    return Err(true);
                }
                Ok(Some(Stmt::Case(e)))
            }
            "define" | "set" => {
                self.skip();
                self.set_statement(kw == "define").map(Some)
            }
            "unset" => {
                self.skip();
                let n = self.next();
                if !n.is_name() {
                    self.warn(format!("{} can't be a variable name", n.text));
                    self.skip_to_semi();
                    return Err(true);
                }
                if !self.semi() {
                    return Err(true);
                }
                Ok(Some(Stmt::Unset(n.text)))
            }
            "eval" | "return" => {
                self.skip();
                match self.expression(super::expr::Context::Data) {
                    Ok(e) => {
                        if !self.semi() {
                            return Err(true);
                        }
                        Ok(Some(if kw == "eval" {
                            Stmt::Eval(e)
                        } else {
                            Stmt::Return(e)
                        }))
                    }
                    Err(lose) => {
                        if !lose {
                            self.warn("expecting data expression.");
                        }
                        self.skip_to_semi();
                        Err(true)
                    }
                }
            }
            "execute" => {
                self.skip();
                self.execute_statement()
            }
            "log" => {
                self.skip();
                self.log_statement()
            }
            "key" => {
                self.skip();
                let words = self.block_words();
                if let Some(k) = key_decl(&words, loc) {
                    self.g.config.keys.push(k);
                }
                // ISC takes BIND 8's `key NAME { … };` (MAAS and Foreman write it).
                if self.peek().is_punct(b';') {
                    self.skip();
                }
                Ok(None)
            }
            "zone" => {
                self.skip();
                self.g.note_unsupported(kw, loc);
                self.skip_block_statement();
                // ISC takes BIND 8's `key NAME { … };` (MAAS and Foreman write it).
                if kw == "key" && self.peek().is_punct(b';') {
                    self.skip();
                }
                Ok(Some(Stmt::Unsupported {
                    keyword: kw.to_string(),
                }))
            }
            "parse-vendor-option" => {
                self.skip();
                if !self.semi() {
                    return Err(true);
                }
                Ok(None)
            }
            _ => self.exec_default(&t, loc),
        }
    }

    fn exec_default(
        &mut self,
        t: &super::super::lexer::Token,
        loc: super::super::ast::Loc,
    ) -> Result<Option<Stmt>, Lose> {
        if t.is_identifier()
            && let Some(info) = self
                .g
                .reg
                .space("server")
                .and_then(|s| s.by_name(&t.text))
                .cloned()
        {
            self.skip();
            let lname = info.name.to_ascii_lowercase();
            if UNSUPPORTED_PARAMS.iter().any(|p| {
                if p.ends_with('-') {
                    lname.starts_with(p)
                } else {
                    lname == *p
                }
            }) {
                self.g.note_unsupported(&info.name, loc);
            }
            return self
                .option_statement("server", info, OptionOp::Supersede)
                .map(Some)
                .ok_or(false);
        }
        if t.is_name() {
            return match self.expression(super::expr::Context::Data) {
                Ok(e) => {
                    if !self.semi() {
                        return Err(true);
                    }
                    if let super::super::ast::Expr::Variable(v) = &e {
                        self.g
                            .note_unsupported(&format!("bare identifier `{v}`"), loc);
                    }
                    Ok(Some(Stmt::Eval(e)))
                }
                Err(lose) => {
                    if !lose {
                        self.warn("expecting function call.");
                    }
                    self.skip_to_semi();
                    Err(true)
                }
            };
        }
        Err(false)
    }

    fn if_statement(&mut self) -> Result<Stmt, Lose> {
        let paren = self.peek().is_punct(b'(');
        if paren {
            self.skip();
        }
        let cond = match self.boolean_expression() {
            Ok(e) => e,
            Err(lose) => {
                if !lose {
                    self.warn("boolean expression expected.");
                }
                return Err(true);
            }
        };
        if paren && !self.next().is_punct(b')') {
            self.warn("expecting right paren.");
            return Err(true);
        }
        let then = self.braced_body()?;
        let t = self.peek();
        let otherwise = if t.is_kw("else") {
            self.skip();
            let t = self.peek();
            if t.is_kw("if") {
                self.skip();
                match self.if_statement() {
                    Ok(s) => vec![s],
                    Err(lose) => {
                        if !lose {
                            self.warn("expecting if statement");
                        }
                        return Err(true);
                    }
                }
            } else if !t.is_punct(b'{') {
                self.warn("left brace or if expected.");
                self.skip_to_semi();
                return Err(true);
            } else {
                self.skip();
                let v = self.executable_statements(None)?;
                if !self.next().is_punct(b'}') {
                    self.warn("right brace expected.");
                    self.skip_to_semi();
                    return Err(true);
                }
                v
            }
        } else if t.is_kw("elsif") {
            self.skip();
            match self.if_statement() {
                Ok(s) => vec![s],
                Err(lose) => {
                    if !lose {
                        self.warn("expecting conditional.");
                    }
                    return Err(true);
                }
            }
        } else {
            Vec::new()
        };
        Ok(Stmt::If {
            cond,
            then,
            otherwise,
        })
    }

    fn switch_statement(&mut self) -> Result<Stmt, Lose> {
        if !self.next().is_punct(b'(') {
            self.warn("expecting left brace.");
            self.skip_to_semi();
            return Err(true);
        }
        let expr = match self.expression(super::expr::Context::DataOrNumeric) {
            Ok(e) => e,
            Err(lose) => {
                if !lose {
                    self.warn("expecting data or numeric expression.");
                    self.skip_to_semi();
                }
                return Err(true);
            }
        };
        if !self.next().is_punct(b')') {
            self.warn("right paren expected.");
            self.skip_to_semi();
            return Err(true);
        }
        if !self.next().is_punct(b'{') {
            self.warn("left brace expected.");
            self.skip_to_semi();
            return Err(true);
        }
        let cctx = if super::expr::is_data(&expr) {
            super::expr::Context::Data
        } else {
            super::expr::Context::Numeric
        };
        let body = match self.executable_statements(Some(cctx)) {
            Ok(v) => v,
            Err(_) => {
                self.skip_to_rbrace(1);
                return Err(true);
            }
        };
        if !self.next().is_punct(b'}') {
            self.warn("right brace expected.");
            self.skip_to_semi();
            return Err(true);
        }
        Ok(Stmt::Switch { expr, body })
    }

    /// `{ statements }` after an `if` condition. A body with an error
    /// is skipped up to a closing brace (or the end of the file), as ISC dhcpd does.
    fn braced_body(&mut self) -> Result<Vec<Stmt>, Lose> {
        if !self.next().is_punct(b'{') {
            self.warn("left brace expected.");
            self.skip_to_semi();
            return Err(true);
        }
        self.statements_to_rbrace()
    }

    /// The statements after a `{` and the closing `}`.
    fn statements_to_rbrace(&mut self) -> Result<Vec<Stmt>, Lose> {
        let body = match self.executable_statements(None) {
            Ok(v) => v,
            Err(_) => {
                loop {
                    let t = self.next();
                    if t.tok == Tok::Eof || t.is_punct(b'}') {
                        break;
                    }
                }
                return Err(true);
            }
        };
        if !self.next().is_punct(b'}') {
            self.warn("right brace expected.");
            self.skip_to_semi();
            return Err(true);
        }
        Ok(body)
    }

    fn set_statement(&mut self, define: bool) -> Result<Stmt, Lose> {
        let n = self.next();
        if !n.is_name() {
            self.warn(format!("{} can't be a variable name", n.text));
            self.skip_to_semi();
            return Err(true);
        }
        let name = n.text;
        let t = self.next();
        if t.is_punct(b'(') {
            let mut args = Vec::new();
            let mut t = self.next();
            while !t.is_punct(b')') {
                if !t.is_name() {
                    self.warn("expecting argument name");
                    self.skip_to_rbrace(0);
                    return Err(true);
                }
                args.push(t.text);
                t = self.next();
                if t.is_punct(b',') {
                    t = self.next();
                } else {
                    break;
                }
            }
            if !t.is_punct(b')') {
                self.warn("expecting right paren.");
                self.skip_to_semi();
                return Err(true);
            }
            if !self.next().is_punct(b'{') {
                self.warn("expecting left brace.");
                self.skip_to_semi();
                return Err(true);
            }
            self.g.defining.push((name.clone(), Vec::new()));
            let body = self.executable_statements(None);
            let calls = self.g.defining.pop().map(|(_, c)| c).unwrap_or_default();
            let body = body.inspect_err(|_| self.skip_to_semi())?;
            self.g.functions.insert(name.clone(), calls);
            if !self.next().is_punct(b'}') {
                self.warn("expecting rigt brace.");
                self.skip_to_semi();
                return Err(true);
            }
            let value = super::super::ast::Expr::Function(args, body);
            return Ok(Stmt::Define { name, value });
        }
        if !t.is_punct(b'=') {
            self.warn(format!(
                "expecting '=' in {} statement.",
                if define { "define" } else { "set" }
            ));
            self.skip_to_semi();
            return Err(true);
        }
        let value = match self.expression(super::expr::Context::Any) {
            Ok(e) => e,
            Err(lose) => {
                if !lose {
                    self.warn("expecting expression.");
                }
                self.skip_to_semi();
                return Err(true);
            }
        };
        if !self.semi() {
            return Err(true);
        }
        Ok(if define {
            Stmt::Define { name, value }
        } else {
            Stmt::Set { name, value }
        })
    }

    fn log_statement(&mut self) -> Result<Option<Stmt>, Lose> {
        if !self.next().is_punct(b'(') {
            self.warn("left parenthesis expected.");
            self.skip_to_semi();
            return Err(true);
        }
        let t = self.peek();
        let mut priority = "debug".to_string();
        if ["fatal", "error", "debug", "info"]
            .iter()
            .any(|k| t.is_kw(k))
        {
            self.skip();
            priority = t.text.to_ascii_lowercase();
            if !self.next().is_punct(b',') {
                self.warn("comma expected.");
                self.skip_to_semi();
                return Err(true);
            }
        }
        let Ok(expr) = self.data_expression() else {
            self.skip_to_semi();
            return Err(true);
        };
        if !self.next().is_punct(b')') {
            self.warn("right parenthesis expected.");
            self.skip_to_semi();
            return Err(true);
        }
        if !self.next().is_punct(b';') {
            self.warn("semicolon expected.");
            self.skip_to_semi();
            return Err(true);
        }
        Ok(Some(Stmt::Log { priority, expr }))
    }

    /// `on EVENT [or EVENT]... { statements }` or, with no statements, `on EVENT;`
    /// (`parse_on_statement`). `transmission` is accepted and never fires on a server.
    pub(crate) fn on_statement(&mut self) -> Result<Stmt, Lose> {
        let mut events = Vec::new();
        let after = loop {
            let t = self.next();
            let Some(event) = ["expiry", "commit", "release", "transmission"]
                .into_iter()
                .find(|k| t.is_kw(k))
            else {
                self.warn("expecting a lease event type");
                self.skip_to_semi();
                return Err(true);
            };
            events.push(event.to_string());
            let t = self.next();
            if !t.is_kw("or") {
                break t;
            }
        };
        if after.is_punct(b';') {
            return Ok(Stmt::On {
                events,
                body: Vec::new(),
            });
        }
        if !after.is_punct(b'{') {
            self.warn("left brace expected.");
            self.skip_to_semi();
            return Err(true);
        }
        let body = self.statements_to_rbrace()?;
        Ok(Stmt::On { events, body })
    }

    /// `execute ("PROGRAM" [, DATA-EXPR]...);` as Debian's ISC dhcpd (built with
    /// `ENABLE_EXECUTE`) parses it.
    fn execute_statement(&mut self) -> Result<Option<Stmt>, Lose> {
        if !self.next().is_punct(b'(') {
            self.warn("left parenthesis expected.");
            self.skip_to_semi();
            return Err(true);
        }
        let Tok::Str(command) = self.next().tok else {
            self.warn("Expecting a quoted string.");
            self.skip_to_semi();
            return Err(true);
        };
        let mut args = Vec::new();
        let mut t = self.next();
        while t.is_punct(b',') {
            match self.data_expression() {
                Ok(e) => args.push(e),
                Err(lose) => {
                    if !lose {
                        self.warn("expecting expression.");
                    }
                    self.skip_to_semi();
                    return Err(true);
                }
            }
            t = self.next();
        }
        if !t.is_punct(b')') {
            self.warn("right parenthesis expected.");
            self.skip_to_semi();
            return Err(true);
        }
        if !self.semi() {
            // ISC reports the error but goes on with the next statement (the block's `}`
            // was skipped with the rest of the line, so a `right brace expected.` follows).
            return Ok(None);
        }
        Ok(Some(Stmt::Execute { command, args }))
    }
}

impl Parser<'_, '_, '_> {
    /// Like `skip_block_statement`, but keeps the token texts it passes, with `;`, `{` and
    /// `}` as words of their own.
    fn block_words(&mut self) -> Vec<String> {
        let mut words = Vec::new();
        let mut depth = 0u32;
        loop {
            let t = self.peek();
            if t.tok == super::super::lexer::Tok::Eof {
                self.warn("unexpected end of file");
                return words;
            }
            self.skip();
            if t.is_punct(b';') && depth == 0 {
                return words;
            }
            if t.is_punct(b'{') {
                depth += 1;
            } else if t.is_punct(b'}') {
                depth = depth.saturating_sub(1);
                words.push(t.text);
                if depth == 0 {
                    return words;
                }
                continue;
            }
            words.push(t.text);
        }
    }
}

/// A key block from its words: `NAME { algorithm WORDS ; secret WORDS ; }`.
fn key_decl(words: &[String], loc: super::super::ast::Loc) -> Option<super::super::ast::KeyDecl> {
    let open = words.iter().position(|w| w == "{")?;
    let name: String = words.get(..open)?.concat();
    let mut k = super::super::ast::KeyDecl {
        name: name.trim_end_matches('.').to_string(),
        algorithm: None,
        secret: None,
        loc,
    };
    for stmt in words.get(open + 1..)?.split(|w| w == ";" || w == "}") {
        let Some((first, rest)) = stmt.split_first() else {
            continue;
        };
        match first.to_ascii_lowercase().as_str() {
            "algorithm" => k.algorithm = Some(rest.concat()),
            "secret" => k.secret = Some(rest.concat()),
            _ => {}
        }
    }
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::super::super::ast::{Expr, Item, Stmt};
    use crate::conf::{Loaded, ParseOptions, parse_str};

    fn parse(text: &str) -> Loaded {
        parse_str("t.conf", text.as_bytes(), ParseOptions::default(), &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
    }

    /// Every error as (line, column, message).
    fn errors(text: &str) -> Vec<(Option<u32>, u32, String)> {
        parse(text)
            .errors()
            .map(|d| (d.line, d.col, d.message.clone()))
            .collect()
    }

    fn statements(text: &str) -> Vec<Stmt> {
        let loaded = parse(text);
        assert!(loaded.is_ok(), "{:?}", loaded.output);
        loaded
            .config
            .root
            .items
            .into_iter()
            .filter_map(|i| match i {
                Item::Stmt(_, s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn on_without_a_body_is_accepted() {
        let s = statements("on expiry;\non commit or release ;\non transmission { }\n");
        assert_eq!(
            s,
            vec![
                Stmt::On {
                    events: vec!["expiry".into()],
                    body: vec![]
                },
                Stmt::On {
                    events: vec!["commit".into(), "release".into()],
                    body: vec![]
                },
                Stmt::On {
                    events: vec!["transmission".into()],
                    body: vec![]
                },
            ]
        );
    }

    #[test]
    fn execute_takes_a_program_and_data_expressions() {
        let s = statements(
            "on commit { execute (\"/bin/notify\", \"commit\", binary-to-ascii (10, 8, \".\", leased-address)); execute (\"/bin/x\"); }",
        );
        let [Stmt::On { events, body }] = s.as_slice() else {
            panic!("{s:?}");
        };
        assert_eq!(events, &["commit".to_string()]);
        let [
            Stmt::Execute {
                command: first,
                args,
            },
            Stmt::Execute {
                command: second,
                args: none,
            },
        ] = body.as_slice()
        else {
            panic!("{body:?}");
        };
        assert_eq!(
            (first.as_slice(), second.as_slice()),
            (&b"/bin/notify"[..], &b"/bin/x"[..])
        );
        assert_eq!(args.len(), 2);
        assert_eq!(args[0], Expr::ConstData(b"commit".to_vec()));
        assert!(none.is_empty());
    }

    /// An error: line, column, message.
    type Expected = (u32, u32, &'static str);

    #[test]
    fn execute_errors_are_isc_s_at_isc_s_place() {
        let cases: [(&str, Vec<Expected>); 7] = [
            (
                "on commit { execute (foo); }",
                vec![(1, 22, "Expecting a quoted string.")],
            ),
            (
                "on commit { execute (\"a\" \"b\"); }",
                vec![(1, 26, "right parenthesis expected.")],
            ),
            (
                "on commit { execute (\"a\", ); }",
                vec![(1, 25, "expecting expression.")],
            ),
            (
                "on commit {\n  execute \"a\"; }",
                vec![(2, 11, "left parenthesis expected.")],
            ),
            (
                "on commit { execute (\"a\", lease-time); }",
                vec![(1, 27, "Expecting a data expression.")],
            ),
            (
                "on commit { execute (\"a\") }",
                vec![
                    (1, 27, "semicolon expected."),
                    (1, 27, "right brace expected."),
                ],
            ),
            ("on lease { }", vec![(1, 4, "expecting a lease event type")]),
        ];
        for (text, want) in cases {
            let want: Vec<_> = want
                .into_iter()
                .map(|(l, c, m)| (Some(l), c, m.to_string()))
                .collect();
            assert_eq!(errors(text), want, "{text}");
        }
    }
}
