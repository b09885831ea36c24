//! Diagnostics: located, collected configuration errors.
//!
//! Every error in an inventory names its file, line and column, and all of
//! them are reported at once, so an operator fixes a file in one pass.

use std::fmt;

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    /// Which of the [`Diagnostics`]' sources the position is in: 0 for the file it was
    /// made for, others added with [`Diagnostics::add_source`] (the files of the
    /// inventory's `profiles_dir` and `distros_dir`).
    pub src: u16,
}

impl Pos {
    /// A position in the first source.
    pub fn at(line: u32, col: u32) -> Self {
        Pos { line, col, src: 0 }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> At<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        At { value, pos }
    }
}

/// One error, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }
}

/// All errors found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// The files and their texts (the first is the one the diagnostics were made for),
    /// so that `render` can show the offending lines.
    sources: Vec<(String, String)>,
}

impl Diagnostics {
    pub(crate) fn new(file: &str, source: &str) -> Self {
        Diagnostics {
            items: Vec::new(),
            sources: vec![(file.to_owned(), source.to_owned())],
        }
    }

    /// Another file read in the same load; positions in it carry the number returned.
    pub(crate) fn add_source(&mut self, file: &str, source: &str) -> u16 {
        self.sources.push((file.to_owned(), source.to_owned()));
        u16::try_from(self.sources.len() - 1).unwrap_or(u16::MAX)
    }

    pub(crate) fn file(&self) -> &str {
        self.sources.first().map_or("<input>", |(f, _)| f.as_str())
    }

    /// The file a position is in.
    pub(crate) fn file_of(&self, pos: Pos) -> &str {
        self.sources
            .get(usize::from(pos.src))
            .map_or_else(|| self.file(), |(f, _)| f.as_str())
    }

    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        let file = self.file_of(pos).to_owned();
        self.error_in(&file, pos, message);
    }

    /// An error in another file (a template the inventory names).
    pub(crate) fn error_in(&mut self, file: &str, pos: Pos, message: impl Into<String>) {
        self.items.push(Diagnostic {
            file: file.to_owned(),
            pos,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Sorts by position and drops exact repeats.
    pub(crate) fn finish(&mut self) {
        self.items
            .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        self.items.dedup();
    }

    /// The report an operator reads: each error as `file:line:col: message`,
    /// then the line it points at and a caret under the column, then a count.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&format!("error: {d}\n"));
            let idx = d.pos.line as usize;
            let source = self.sources.iter().find(|(f, _)| *f == d.file);
            if let Some(text) = idx
                .checked_sub(1)
                .zip(source)
                .and_then(|(i, (_, s))| s.lines().nth(i))
            {
                let gutter = " ".repeat(idx.to_string().len());
                let caret_pad: String = text
                    .chars()
                    .take(d.pos.col.saturating_sub(1) as usize)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!("{idx} | {text}\n{gutter} | {caret_pad}^\n"));
            }
        }
        let n = self.items.len();
        out.push_str(&format!(
            "{n} error{}; inventory not loaded\n",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Lists names for a "not found" message: `(defined: a, b, c)`.
pub(crate) fn defined_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "(none defined)".to_owned()
    } else {
        format!("(defined: {})", v.join(", "))
    }
}
