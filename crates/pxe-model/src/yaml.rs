//! A located YAML tree, read with serde-saphyr, and a checked reader over it.
//!
//! Plain serde structs stop at the first error. An inventory must report
//! every error at once (unknown keys, bad values, dangling references), so
//! the YAML is first read into a tree where every node keeps its position,
//! and `Fields` walks that tree, collecting errors into `Diagnostics`.

use crate::diag::{At, Diagnostics, Pos};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned};
use std::fmt;

/// A YAML node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    /// A scalar as written (numbers and booleans keep their source spelling).
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What serde hands us before positions are attached.
enum Raw {
    Null,
    Text(String),
    /// A typed scalar (bool, number): its text is taken from the source.
    Typed(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Spanned<Raw>>()? {
            v.push(x);
        }
        Ok(Raw::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut v = Vec::new();
        while let Some(entry) = a.next_entry::<Spanned<Raw>, Spanned<Raw>>()? {
            v.push(entry);
        }
        Ok(Raw::Map(v))
    }
}

fn pos_of(loc: &serde_saphyr::Location, src: u16) -> Pos {
    Pos {
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        src,
    }
}

fn to_node(raw: Spanned<Raw>, source: &str, src: u16) -> Node {
    let pos = pos_of(&raw.referenced, src);
    let kind = match raw.value {
        Raw::Null => Kind::Null,
        Raw::Text(s) => Kind::Scalar(s),
        Raw::Typed(fallback) => {
            // Keep the spelling the operator wrote: `9.10` stays "9.10", not "9.1".
            let span = raw.defined.span();
            let text = span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(o, l)| source.get(o as usize..(o + l) as usize))
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
                .unwrap_or(fallback);
            Kind::Scalar(text)
        }
        Raw::Seq(items) => Kind::Seq(items.into_iter().map(|x| to_node(x, source, src)).collect()),
        Raw::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (to_node(k, source, src), to_node(v, source, src)))
                .collect(),
        ),
    };
    Node { kind, pos }
}

/// Parses YAML text into a located tree. A syntax error is one diagnostic.
pub(crate) fn parse(source: &str, diags: &mut Diagnostics) -> Option<Node> {
    parse_in(source, 0, diags)
}

/// [`parse`] for another source of the same diagnostics ([`Diagnostics::add_source`]).
pub(crate) fn parse_in(source: &str, src: u16, diags: &mut Diagnostics) -> Option<Node> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(source, options) {
        Ok(raw) => Some(to_node(raw, source, src)),
        Err(err) => {
            let pos = err.location().map(|l| pos_of(&l, src)).unwrap_or(Pos {
                line: 1,
                col: 1,
                src,
            });
            let inner = err.without_snippet();
            let msg = serde_saphyr::DefaultMessageFormatter.format_message(inner);
            diags.error(pos, format!("YAML syntax: {msg}"));
            None
        }
    }
}

impl Node {
    pub(crate) fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Scalar(_) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The node as text, or an error naming what was expected.
    pub(crate) fn text(&self, what: &str, d: &mut Diagnostics) -> Option<At<String>> {
        match &self.kind {
            Kind::Scalar(s) => Some(At::new(s.clone(), self.pos)),
            _ => {
                d.error(
                    self.pos,
                    format!("expected {what}, found {}", self.describe()),
                );
                None
            }
        }
    }

    /// The entries of a mapping (an empty or null node is an empty mapping).
    pub(crate) fn entries(&self, what: &str, d: &mut Diagnostics) -> Vec<(At<String>, &Node)> {
        match &self.kind {
            Kind::Null => Vec::new(),
            Kind::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| k.text("a name", d).map(|k| (k, v)))
                .collect(),
            _ => {
                d.error(
                    self.pos,
                    format!("expected {what} (a mapping), found {}", self.describe()),
                );
                Vec::new()
            }
        }
    }

    /// One item or a list of items, each as text.
    pub(crate) fn text_list(&self, what: &str, d: &mut Diagnostics) -> Vec<At<String>> {
        match &self.kind {
            Kind::Seq(items) => items.iter().filter_map(|n| n.text(what, d)).collect(),
            _ => self.text(what, d).into_iter().collect(),
        }
    }
}

/// A mapping being read as a record with known keys. Unknown keys are
/// reported when it is opened; every accessor reports its own type errors.
pub(crate) struct Fields<'a> {
    entries: Vec<(At<String>, &'a Node)>,
    pub(crate) pos: Pos,
}

impl<'a> Fields<'a> {
    /// Opens `node` as a `what` with the given keys; `pos` is where missing keys are
    /// reported (the entry's name).
    pub(crate) fn open(
        node: &'a Node,
        pos: Pos,
        what: &str,
        known: &[&str],
        d: &mut Diagnostics,
    ) -> Fields<'a> {
        let entries = node.entries(what, d);
        for (key, _) in &entries {
            if !known.contains(&key.value.as_str()) {
                d.error(
                    key.pos,
                    format!(
                        "unknown key `{}` in {what}{}, expected one of: {}",
                        key.value,
                        suggest(&key.value, known)
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default(),
                        known.join(", ")
                    ),
                );
            }
        }
        Fields { entries, pos }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    pub(crate) fn text(&self, key: &str, d: &mut Diagnostics) -> Option<At<String>> {
        self.get(key).and_then(|n| n.text(&format!("`{key}`"), d))
    }

    pub(crate) fn required_text(
        &self,
        key: &str,
        what: &str,
        d: &mut Diagnostics,
    ) -> Option<At<String>> {
        if self.get(key).is_none() {
            d.error(self.pos, format!("{what} needs `{key}`"));
            return None;
        }
        self.text(key, d)
    }

    /// A value parsed by `parse`, whose error message says what was expected.
    pub(crate) fn parsed<T>(
        &self,
        key: &str,
        d: &mut Diagnostics,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<At<T>> {
        let t = self.text(key, d)?;
        match parse(&t.value) {
            Ok(v) => Some(At::new(v, t.pos)),
            Err(e) => {
                d.error(t.pos, format!("`{key}`: {e}"));
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub(crate) fn choice(
        &self,
        key: &str,
        words: &[&str],
        d: &mut Diagnostics,
    ) -> Option<At<String>> {
        self.parsed(key, d, |s| {
            if words.contains(&s) {
                Ok(s.to_owned())
            } else {
                Err(format!(
                    "expected one of {}, found \"{s}\"",
                    words.join(", ")
                ))
            }
        })
    }
}

/// The closest known key, for a "did you mean" hint.
fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(dist, k)| *dist <= (k.len() / 3).max(1))
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(src: &str) -> Node {
        let mut d = Diagnostics::new("t.yaml", src);
        let n = parse(src, &mut d);
        assert!(d.is_empty(), "{}", d.render());
        n.expect("parsed")
    }

    #[test]
    fn numbers_keep_their_spelling() {
        let n = tree("a: 9.10\nb: 0x1F\nc: yes\n");
        let mut d = Diagnostics::new("t.yaml", "");
        let f = Fields::open(&n, n.pos, "test", &["a", "b", "c"], &mut d);
        assert_eq!(
            f.text("a", &mut d).map(|t| t.value).as_deref(),
            Some("9.10")
        );
        assert_eq!(
            f.text("b", &mut d).map(|t| t.value).as_deref(),
            Some("0x1F")
        );
        assert_eq!(f.text("c", &mut d).map(|t| t.value).as_deref(), Some("yes"));
        assert!(d.is_empty());
    }

    #[test]
    fn unknown_keys_are_all_reported_with_positions() {
        let src = "a: 1\nbb: 2\ncc: 3\n";
        let n = tree(src);
        let mut d = Diagnostics::new("t.yaml", src);
        let _ = Fields::open(&n, n.pos, "test", &["a", "b"], &mut d);
        let got: Vec<String> = d.items.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "t.yaml:2:1: unknown key `bb` in test (did you mean `b`?), expected one of: a, b",
                "t.yaml:3:1: unknown key `cc` in test, expected one of: a, b",
            ]
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let src = "a: [1, 2\nb: 3\n";
        let mut d = Diagnostics::new("t.yaml", src);
        assert!(parse(src, &mut d).is_none());
        assert_eq!(d.len(), 1);
        assert!(d.items[0].message.starts_with("YAML syntax:"), "{d}");
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("mac", "mac"), 0);
    }
}
