//! Executable statements printed back as `dhcpd.conf` text, one statement a line: how a
//! lease's `on expiry` / `on release` statements are written into `dhcpd.leases` (as ISC's
//! `write_statements` does) and compared with the configuration's when the file is read
//! again. Printing then parsing gives the same tree, so a statement list has one text.
//! Statements whose text would not parse again outside the configuration (option
//! statements, `add`, function definitions) are not printed: `None`.

use std::fmt::Write as _;

use super::ast::{BinOp, Expr, Stmt};

/// The statements as lines of text, each indented by `indent` spaces.
pub fn statements(stmts: &[Stmt], indent: usize) -> Option<String> {
    let mut out = String::new();
    for s in stmts {
        statement(&mut out, s, indent)?;
    }
    Some(out)
}

fn line(out: &mut String, indent: usize, text: &str) {
    out.push('\n');
    out.push_str(&" ".repeat(indent));
    out.push_str(text);
}

fn statement(out: &mut String, s: &Stmt, indent: usize) -> Option<()> {
    match s {
        Stmt::Set { name, value } => line(out, indent, &format!("set {name} = {};", expr(value)?)),
        Stmt::Define { name, value } if !matches!(value, Expr::Function(..)) => {
            line(out, indent, &format!("define {name} = {};", expr(value)?));
        }
        Stmt::Unset(name) => line(out, indent, &format!("unset {name};")),
        Stmt::Eval(e) => line(out, indent, &format!("eval {};", expr(e)?)),
        Stmt::Break => line(out, indent, "break;"),
        Stmt::Return(e) => line(out, indent, &format!("return {};", expr(e)?)),
        Stmt::Log { priority, expr: e } => {
            line(out, indent, &format!("log ({priority}, {});", expr(e)?));
        }
        Stmt::Execute { command, args } => {
            let mut text = format!("execute ({}", quoted(command));
            for a in args {
                let _ = write!(text, ", {}", expr(a)?);
            }
            text.push_str(");");
            line(out, indent, &text);
        }
        Stmt::On { events, body } => {
            let names = events.join(" or ");
            if body.is_empty() {
                line(out, indent, &format!("on {names};"));
            } else {
                line(out, indent, &format!("on {names} {{"));
                out.push_str(&statements(body, indent + 2)?);
                line(out, indent, "}");
            }
        }
        Stmt::If {
            cond,
            then,
            otherwise,
        } => {
            line(out, indent, &format!("if {} {{", expr(cond)?));
            out.push_str(&statements(then, indent + 2)?);
            if otherwise.is_empty() {
                line(out, indent, "}");
            } else {
                line(out, indent, "} else {");
                out.push_str(&statements(otherwise, indent + 2)?);
                line(out, indent, "}");
            }
        }
        Stmt::Switch { expr: e, body } => {
            line(out, indent, &format!("switch ({}) {{", expr(e)?));
            out.push_str(&statements(body, indent + 2)?);
            line(out, indent, "}");
        }
        Stmt::Case(e) => line(out, indent, &format!("case {}:", expr(e)?)),
        Stmt::DefaultCase => line(out, indent, "default:"),
        Stmt::Option { .. }
        | Stmt::AllowDeny { .. }
        | Stmt::Define { .. }
        | Stmt::Add(_)
        | Stmt::Failover(_)
        | Stmt::Unsupported { .. } => return None,
    }
    Some(())
}

/// A string constant as the lexer reads it back: `"`, `\` and unprintable bytes escaped.
fn quoted(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(*b)),
            _ => {
                let _ = write!(s, "\\{b:03o}");
            }
        }
    }
    s.push('"');
    s
}

/// Data: a string when every byte is printable, else colon-separated hex (as ISC's
/// `print_hex` writes it).
fn data(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return quoted(bytes);
    }
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn option_name(space: &str, name: &str) -> String {
    if space == "dhcp" {
        name.to_string()
    } else {
        format!("{space}.{name}")
    }
}

fn list(items: &[Expr]) -> Option<String> {
    let parts: Option<Vec<String>> = items.iter().map(expr).collect();
    Some(parts?.join(", "))
}

fn binop(op: BinOp) -> &'static str {
    match op {
        BinOp::Equal => "=",
        BinOp::NotEqual => "!=",
        BinOp::RegexMatch => "~=",
        BinOp::IRegexMatch => "~~",
        BinOp::And => "and",
        BinOp::Or => "or",
        BinOp::Add => "+",
        BinOp::Subtract => "-",
        BinOp::Multiply => "*",
        BinOp::Divide => "/",
        BinOp::Remainder => "%",
        BinOp::BinaryAnd => "&",
        BinOp::BinaryOr => "|",
        BinOp::BinaryXor => "^",
    }
}

/// An expression as text (`None`: one that is not printed).
pub fn expr(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Check(c) => format!("check {}", quoted(c.as_bytes())),
        Expr::Not(x) => format!("not {}", expr(x)?),
        Expr::Exists(space, name) => format!("exists {}", option_name(space, name)),
        Expr::Known => "known".into(),
        Expr::Static => "static".into(),
        Expr::Substring(d, o, l) => format!("substring ({}, {}, {})", expr(d)?, expr(o)?, expr(l)?),
        Expr::Suffix(d, l) => format!("suffix ({}, {})", expr(d)?, expr(l)?),
        Expr::Lcase(d) => format!("lcase ({})", expr(d)?),
        Expr::Ucase(d) => format!("ucase ({})", expr(d)?),
        Expr::Concat(parts) => format!("concat ({})", list(parts)?),
        Expr::BinaryToAscii(b, w, s, d) => format!(
            "binary-to-ascii ({}, {}, {}, {})",
            expr(b)?,
            expr(w)?,
            expr(s)?,
            expr(d)?
        ),
        Expr::Reverse(w, d) => format!("reverse ({}, {})", expr(w)?, expr(d)?),
        Expr::PickFirstValue(v) => format!("pick-first-value ({})", list(v)?),
        Expr::Option(space, name) => format!("option {}", option_name(space, name)),
        Expr::ConfigOption(space, name) => format!("config-option {}", option_name(space, name)),
        Expr::Hardware => "hardware".into(),
        Expr::LeasedAddress => "leased-address".into(),
        Expr::ClientState => "client-state".into(),
        Expr::Filename => "filename".into(),
        Expr::ServerName => "server-name".into(),
        Expr::LeaseTime => "lease-time".into(),
        Expr::Null => "null".into(),
        Expr::HostDeclName => "host-decl-name".into(),
        Expr::Packet(o, l) => format!("packet ({}, {})", expr(o)?, expr(l)?),
        Expr::ConstData(d) => data(d),
        Expr::ConstInt(n) => n.to_string(),
        Expr::ExtractInt(d, bits) => format!("extract-int ({}, {bits})", expr(d)?),
        Expr::EncodeInt(n, bits) => format!("encode-int ({}, {bits})", expr(n)?),
        Expr::VariableExists(n) => format!("defined ({n})"),
        Expr::Variable(n) => n.clone(),
        Expr::FunCall(name, args) => format!("{name} ({})", list(args)?),
        Expr::GetHostName => "gethostname ()".into(),
        Expr::HostLookup(name) => format!("gethostbyname ({})", quoted(name.as_bytes())),
        Expr::Binary(op, a, b) => format!("({} {} {})", expr(a)?, binop(*op), expr(b)?),
        Expr::V6Relay(..) | Expr::Function(..) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::ast::Item;
    use crate::conf::{ParseOptions, parse_str};

    /// The statements of `text` (a configuration of statements only).
    fn parse(text: &str) -> Vec<Stmt> {
        let loaded = parse_str("t.conf", text.as_bytes(), ParseOptions::default(), &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        });
        assert!(loaded.is_ok(), "{text}\n{:?}", loaded.output);
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
    fn printed_statements_parse_back_to_the_same_tree() {
        let text = "
            set clhw = binary-to-ascii(16, 8, \":\", substring(hardware, 1, 6));
            set cllt = binary-to-ascii(10, 32, \"\", encode-int(lease-time, 32));
            set clht = pick-first-value(option agent.remote-id, option host-name, \"\");
            execute(\"/usr/sbin/helper\", \"notify\", clhw, 61:62:00:63, 5, \"a\\\"b\\\\c\");
            if option host-name = \"x\" and not (known) { log (info, concat(\"x\", \"y\")); }
            elsif exists agent.circuit-id { unset clip; } else { define d = lcase(suffix(filename, 3)); }
            switch (option host-name) { case \"a\": break; default: eval foo; }
            on commit or release { execute (\"/bin/x\"); }
            on expiry;
            set n = extract-int(option dhcp-lease-time, 32) + (3 * 4);
            if config-option server.filename ~~ \"^pxe\" { log (debug, \"pxe\"); }
            return reverse(1, packet(0, 4));";
        let tree = parse(text);
        let printed = statements(&tree, 0).expect("printable");
        assert_eq!(parse(&printed), tree, "{printed}");
        assert_eq!(
            statements(&parse(&printed), 0).as_deref(),
            Some(printed.as_str())
        );
    }

    #[test]
    fn isc_s_own_layout_reads_as_the_same_statements() {
        // How ISC 4.4.3 wrote MAAS's `on expiry` statements into dhcpd.leases.
        let isc = "set clhw = \n       binary-to-ascii (16, 8, \":\", \n                        substring (hardware, 1, 6)) ;
    execute (\"/bin/true\", \"notify\", \"--mac\", clhw, 61:62:00:63, 05);
    if option host-name = \"x\" {
      log (info, \n          concat (\"x\", \"y\"));
    } else {
      unset clip ;
    }";
        let ours = "set clhw = binary-to-ascii(16, 8, \":\", substring(hardware, 1, 6));
            execute(\"/bin/true\", \"notify\", \"--mac\", clhw, 61:62:00:63, 5);
            if option host-name = \"x\" { log (info, concat(\"x\", \"y\")); } else { unset clip; }";
        assert_eq!(
            statements(&parse(isc), 4),
            statements(&parse(ours), 4),
            "the same text, so a lease written by ISC finds the configuration's block"
        );
    }

    #[test]
    fn what_does_not_parse_outside_the_configuration_is_not_printed() {
        assert_eq!(statements(&parse("option domain-name \"x\";"), 0), None);
        assert_eq!(
            statements(&parse("class \"c\" { } add \"c\";")[..], 0),
            None
        );
    }
}
