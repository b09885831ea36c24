//! tftpd-hpa's `-m` remap file: rule syntax, flags and replacement escapes, as a pure function.
//!
//! Each non-comment line is `FLAGS REGEX [REPLACEMENT]`, fields split at unescaped whitespace,
//! `#` starting a comment. Flags (tftpd-hpa 5.2): `r` replace the match, `g` repeat until no
//! match, `i` case-insensitive, `e` end processing if matched, `s` restart from the first
//! rule if matched, `a` refuse the request (the replacement is the message), `G`/`P` get/put
//! only, `4`/`6` IPv4/IPv6 clients only, `~` invert the match (not with `r`). Replacement
//! escapes: `\0`..`\9` groups, `\i` client IP, `\x` client IP in hex, `\\`, `\U`/`\L`/`\E`
//! case; any other escaped character stands for itself. After 4096 rule steps processing
//! fails, as tftpd-hpa's dead-man counter does. The result is checked by `resolve` again.
//!
//! Regexes are POSIX extended in tftpd-hpa and `regex`-crate syntax here; they agree on
//! the usual rules (`^`, `$`, classes, groups, `\.`), but alternations pick the first
//! matching branch here where POSIX picks the longest.

use std::net::IpAddr;

use regex::{Captures, Regex, RegexBuilder};

use crate::resolve::{Access, Denied};

/// Maximum rule steps per name, as tftpd-hpa's `DEADMAN_MAX_STEPS`.
const MAX_STEPS: u32 = 4096;

/// A parsed remap file.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    replacement: String,
    flags: Flags,
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    rewrite: bool,
    global: bool,
    icase: bool,
    exit: bool,
    restart: bool,
    abort: bool,
    invert: bool,
    get_only: bool,
    put_only: bool,
    ipv4_only: bool,
    ipv6_only: bool,
}

/// A remap file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Rules {
    /// Parses the text of a remap file.
    pub fn parse(text: &str) -> Result<Rules, ParseError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| ParseError {
                line: i + 1,
                message,
            };
            let fields = split_fields(line);
            let mut it = fields.into_iter();
            let Some(flags) = it.next() else { continue };
            let Some(regex) = it.next() else {
                return Err(err("no regex".into()));
            };
            let replacement = it.next().unwrap_or_default();
            let mut f = Flags::default();
            for c in flags.chars() {
                match c {
                    'r' => f.rewrite = true,
                    'g' => f.global = true,
                    'i' => f.icase = true,
                    'e' => f.exit = true,
                    's' => f.restart = true,
                    'a' => f.abort = true,
                    '~' => f.invert = true,
                    'G' => f.get_only = true,
                    'P' => f.put_only = true,
                    '4' => f.ipv4_only = true,
                    '6' => f.ipv6_only = true,
                    other => return Err(err(format!("invalid flag {other:?} in {flags:?}"))),
                }
            }
            if f.rewrite && f.invert {
                return Err(err("flags r and ~ cannot be combined".into()));
            }
            let regex = RegexBuilder::new(&unescape_regex(&regex))
                .case_insensitive(f.icase)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| err(format!("bad regex {regex:?}: {e}")))?;
            let rule = Rule {
                regex,
                replacement,
                flags: f,
            };
            rules.push(rule);
        }
        Ok(Rules { rules })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rewrites `name` for a request from `client`.
    pub fn apply(&self, name: &str, access: Access, client: IpAddr) -> Result<String, Denied> {
        let client = client.to_canonical();
        let mut current = name.to_owned();
        let mut steps = 0u32;
        let mut idx = 0;
        while let Some(rule) = self.rules.get(idx) {
            idx += 1;
            let skip = (rule.flags.get_only && access != Access::Read)
                || (rule.flags.put_only && access != Access::Write)
                || (rule.flags.ipv4_only && !client.is_ipv4())
                || (rule.flags.ipv6_only && !client.is_ipv6());
            if skip {
                continue;
            }
            steps += 1;
            if steps > MAX_STEPS {
                return Err(Denied::Remap("Remap table failure".into()));
            }
            let caps = rule.regex.captures(&current);
            if caps.is_some() == rule.flags.invert {
                continue;
            }
            if rule.flags.rewrite
                && let Some(c) = caps
            {
                let mut next = substitute(&current, &c, &rule.replacement, client);
                if rule.flags.global {
                    while let Some(c) = rule.regex.captures(&next) {
                        steps += 1;
                        if steps > MAX_STEPS {
                            return Err(Denied::Remap("Remap table failure".into()));
                        }
                        next = substitute(&next, &c, &rule.replacement, client);
                    }
                }
                current = next;
            }
            if rule.flags.abort {
                let msg = if rule.replacement.is_empty() {
                    "Access denied by remap rule".to_owned()
                } else {
                    expand_literal(&rule.replacement, client)
                };
                return Err(Denied::Remap(msg));
            }
            if rule.flags.exit {
                break;
            }
            if rule.flags.restart {
                idx = 0;
            }
        }
        Ok(current)
    }
}

/// Splits a line into fields at unescaped whitespace; an unescaped `#` ends the line.
/// Escapes are kept (the regex and the replacement interpret them).
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for ch in line.chars() {
        if escaped {
            cur.push(ch);
            escaped = false;
            continue;
        }
        match ch {
            '\\' => {
                cur.push(ch);
                escaped = true;
            }
            '#' => break,
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    fields.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        fields.push(cur);
    }
    fields
}

/// `\ ` and `\#` are file-syntax escapes; the regex gets the plain character.
fn unescape_regex(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && (n == '#' || n.is_whitespace())
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
        if c == '\\'
            && let Some(n) = chars.next()
        {
            out.push(n);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Case {
    Keep,
    Upper,
    Lower,
}

fn push_cased(out: &mut String, s: &str, case: Case) {
    match case {
        Case::Keep => out.push_str(s),
        Case::Upper => out.extend(s.chars().flat_map(char::to_uppercase)),
        Case::Lower => out.extend(s.chars().flat_map(char::to_lowercase)),
    }
}

/// Replaces the match in `input` by the expanded replacement.
fn substitute(input: &str, caps: &Captures<'_>, replacement: &str, client: IpAddr) -> String {
    let Some(whole) = caps.get(0) else {
        return input.to_owned();
    };
    let mut out = String::with_capacity(input.len() + replacement.len());
    out.push_str(input.get(..whole.start()).unwrap_or_default());
    expand(&mut out, replacement, Some(caps), client);
    out.push_str(input.get(whole.end()..).unwrap_or_default());
    out
}

/// Expands a replacement with no match (the message of an `a` rule).
fn expand_literal(replacement: &str, client: IpAddr) -> String {
    let mut out = String::new();
    expand(&mut out, replacement, None, client);
    out
}

fn expand(out: &mut String, replacement: &str, caps: Option<&Captures<'_>>, client: IpAddr) {
    let mut case = Case::Keep;
    let mut chars = replacement.chars();
    let mut buf = [0u8; 4];
    while let Some(c) = chars.next() {
        if c != '\\' {
            push_cased(out, c.encode_utf8(&mut buf), case);
            continue;
        }
        match chars.next() {
            Some(d @ '0'..='9') => {
                let group = d.to_digit(10).unwrap_or(0) as usize;
                if let Some(m) = caps.and_then(|c| c.get(group)) {
                    push_cased(out, m.as_str(), case);
                }
            }
            Some('i') => push_cased(out, &client.to_string(), case),
            Some('x') => push_cased(out, &hex_ip(client), case),
            Some('U') => case = Case::Upper,
            Some('L') => case = Case::Lower,
            Some('E') => case = Case::Keep,
            Some(other) => push_cased(out, other.encode_utf8(&mut buf), case),
            None => out.push('\\'),
        }
    }
}

/// The client address as uppercase hex digits, 8 for IPv4 and 32 for IPv6.
fn hex_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.octets().iter().map(|b| format!("{b:02X}")).collect(),
        IpAddr::V6(v6) => v6.octets().iter().map(|b| format!("{b:02X}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn v4() -> IpAddr {
        "192.0.2.169".parse().unwrap()
    }

    fn run(rules: &str, name: &str) -> Result<String, Denied> {
        Rules::parse(rules).unwrap().apply(name, Access::Read, v4())
    }

    #[test]
    fn backslash_to_slash_global() {
        assert_eq!(run("rg \\\\ /", "a\\b\\c").unwrap(), "a/b/c");
    }

    #[test]
    fn groups_ip_hex_and_case() {
        let rules = "r ^pxelinux\\.cfg/(.*)$ cfg/\\x/\\i/\\U\\1\\E-x";
        assert_eq!(
            run(rules, "pxelinux.cfg/default").unwrap(),
            "cfg/C00002A9/192.0.2.169/DEFAULT-x"
        );
        assert_eq!(run("r ^(.*)$ \\L\\0", "ABC").unwrap(), "abc");
    }

    #[test]
    fn mapped_ipv6_client_is_ipv4() {
        let rules = Rules::parse("r4 ^ \\i/").unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.169".parse().unwrap();
        assert_eq!(
            rules.apply("f", Access::Read, mapped).unwrap(),
            "192.0.2.169/f"
        );
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(rules.apply("f", Access::Read, v6).unwrap(), "f");
        let rules = Rules::parse("r6 ^ \\x/").unwrap();
        assert_eq!(
            rules.apply("f", Access::Read, v6).unwrap(),
            "20010DB8000000000000000000000001/f"
        );
    }

    #[test]
    fn case_insensitive_exit_restart() {
        let rules = "ri ^BOOT boot\nre ^boot/x$ done\nr ^boot/ never/";
        assert_eq!(run(rules, "Boot/x").unwrap(), "done");
        assert_eq!(run(rules, "boot/y").unwrap(), "never/y");
        let rules = "rs ^a b\nr ^b c";
        assert_eq!(run(rules, "aaa").unwrap(), "caa");
    }

    #[test]
    fn abort_get_put_and_invert() {
        let rules = "aP ^ No\\ uploads\nG~ ^ok/ ignored\na~ ^ok/";
        let r = Rules::parse(rules).unwrap();
        assert_eq!(
            r.apply("ok/f", Access::Write, v4()),
            Err(Denied::Remap("No uploads".into()))
        );
        assert_eq!(r.apply("ok/f", Access::Read, v4()).unwrap(), "ok/f");
        assert!(matches!(
            r.apply("other", Access::Read, v4()),
            Err(Denied::Remap(_))
        ));
    }

    #[test]
    fn comments_blank_lines_and_escaped_hash() {
        let rules = "# comment\n\n   r ^a\\#b x\\ y   # trailing\n";
        assert_eq!(run(rules, "a#b").unwrap(), "x y");
    }

    #[test]
    fn endless_rules_hit_the_dead_man() {
        assert_eq!(
            run("rg a aa", "a"),
            Err(Denied::Remap("Remap table failure".into()))
        );
        assert!(run("s ^", "x").is_err());
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = Rules::parse("r ^a b\nrz ^b c").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(Rules::parse("r").is_err());
        assert!(Rules::parse("r~ ^a b").is_err());
        assert!(Rules::parse("r ( x").is_err());
    }
}
