//! A command's manual: synopsis, description, options in groups and further sections, written
//! once and rendered twice, as the `--help` text and as a roff page for `man`.

use std::fmt::Write as _;

/// One option: how it is written (`-cf FILE`, `-l, --listen`) and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    /// The flags and value name, as typed.
    pub flags: String,
    /// What it does, one or more sentences.
    pub help: String,
}

impl Opt {
    /// An option.
    pub fn new(flags: impl Into<String>, help: impl Into<String>) -> Opt {
        Opt {
            flags: flags.into(),
            help: help.into(),
        }
    }
}

/// Options under one heading (`Modes`, `Files`), or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptGroup {
    /// The heading; `None` for a plain list.
    pub title: Option<String>,
    /// The options.
    pub options: Vec<Opt>,
}

/// A piece of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A paragraph of running text.
    Para(String),
    /// Terms and what they mean (files, signals, variables).
    Defs(Vec<(String, String)>),
    /// Lines shown as they are (examples, configuration snippets).
    Verbatim(String),
}

/// A section after the options (`FILES`, `SIGNALS`, `EXIT STATUS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading, in capitals as manual pages write them.
    pub title: String,
    /// Its content.
    pub blocks: Vec<Block>,
    /// Whether `--help` shows it too (long reference sections stay in the manual).
    pub in_help: bool,
}

/// A [`Block::Defs`] from `(term, text)` pairs.
pub fn defs(items: &[(&str, &str)]) -> Block {
    Block::Defs(
        items
            .iter()
            .map(|(t, d)| ((*t).to_string(), (*d).to_string()))
            .collect(),
    )
}

/// A whole manual page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manual {
    /// The command or file name (`dhcpd`, `pxe-inventory`).
    pub name: String,
    /// The manual section (8 for daemons, 5 for file formats).
    pub section: u8,
    /// The version printed in the page footer.
    pub version: String,
    /// One line: what it is.
    pub summary: String,
    /// Usage lines, without the leading "Usage:".
    pub synopsis: Vec<String>,
    /// What it does, in paragraphs.
    pub description: Vec<Block>,
    /// The options.
    pub options: Vec<OptGroup>,
    /// Everything after the options.
    pub sections: Vec<Section>,
}

/// Width of the `--help` text.
const HELP_WIDTH: usize = 100;
/// Column where option descriptions start in `--help`.
const HELP_INDENT: usize = 26;

impl Manual {
    /// The `--help` text: summary, synopsis, options and the sections marked for it (the
    /// description is the manual's).
    pub fn help(&self) -> String {
        let mut out = format!("{} - {}\n\n", self.name, self.summary);
        for (i, line) in self.synopsis.iter().enumerate() {
            let lead = if i == 0 { "Usage: " } else { "       " };
            let _ = writeln!(out, "{lead}{line}");
        }
        for group in &self.options {
            out.push('\n');
            let title = group.title.as_deref().unwrap_or("Options");
            let _ = writeln!(out, "{title}:");
            for o in &group.options {
                help_def(&mut out, &o.flags, &o.help);
            }
        }
        for s in self.sections.iter().filter(|s| s.in_help) {
            let _ = write!(out, "\n{}:\n", sentence_case(&s.title));
            for block in &s.blocks {
                help_block(&mut out, block, 2);
            }
        }
        out
    }

    /// Each documented flag as a command line: the flag alone, or with `value(flag)` when
    /// the manual shows a value name (`-a, --address [ADDR][:PORT]`: the name follows the
    /// last spelling and belongs to all of them). Entries that are not flags (`directory...`,
    /// `if0 ... ifN`) are left out. Tests hand these to the real parser.
    pub fn flag_invocations(&self, value: impl Fn(&str) -> String) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for o in self.options.iter().flat_map(|g| &g.options) {
            if !o.flags.starts_with('-') {
                continue;
            }
            let takes_value = o
                .flags
                .rsplit(", ")
                .next()
                .is_some_and(|last| last.split_whitespace().count() > 1);
            for spelling in o.flags.split(", ") {
                let flag = spelling.split_whitespace().next().unwrap_or_default();
                let mut argv = vec![flag.to_string()];
                if takes_value {
                    argv.push(value(flag));
                }
                out.push(argv);
            }
        }
        out
    }

    /// The text after the option list in `--help` (for commands whose option list clap
    /// prints).
    pub fn help_sections(&self) -> String {
        let mut out = String::new();
        for s in self.sections.iter().filter(|s| s.in_help) {
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}:", sentence_case(&s.title));
            for block in &s.blocks {
                help_block(&mut out, block, 2);
            }
        }
        out.trim_end().to_string()
    }

    /// The roff source of the manual page.
    pub fn roff(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            ".TH {} {} \"\" \"pxe-suite {}\" \"{}\"",
            quote_arg(&self.name.to_uppercase()),
            self.section,
            escape(&self.version),
            match self.section {
                1 => "User Commands",
                5 => "File Formats",
                _ => "System Administration",
            }
        );
        let _ = writeln!(
            out,
            ".SH NAME\n{} \\- {}",
            escape(&self.name),
            escape(&self.summary)
        );
        if !self.synopsis.is_empty() {
            out.push_str(".SH SYNOPSIS\n.nf\n");
            for line in &self.synopsis {
                let _ = writeln!(out, "{}", escape_line(line));
            }
            out.push_str(".fi\n");
        }
        if !self.description.is_empty() {
            out.push_str(".SH DESCRIPTION\n");
            roff_blocks(&mut out, &self.description);
        }
        for group in &self.options {
            match &group.title {
                None => out.push_str(".SH OPTIONS\n"),
                Some(t) if std::ptr::eq(group, &self.options[0]) => {
                    let _ = writeln!(out, ".SH OPTIONS\n.SS {}", escape(t));
                }
                Some(t) => {
                    let _ = writeln!(out, ".SS {}", escape(t));
                }
            }
            for o in &group.options {
                let _ = writeln!(
                    out,
                    ".TP\n.B {}\n{}",
                    escape_line(&o.flags),
                    escape_line(&o.help)
                );
            }
        }
        for s in &self.sections {
            let _ = writeln!(out, ".SH {}", quote_arg(&s.title.to_uppercase()));
            roff_blocks(&mut out, &s.blocks);
        }
        out
    }
}

/// Checks that the committed page at `path` is `generated`, or writes it when `PXE_BLESS`
/// is set (`cargo xtask man`). The error names the file, the first differing line and the
/// command that brings the file up to date.
pub fn check_committed(generated: &str, path: &std::path::Path) -> Result<(), String> {
    if std::env::var_os("PXE_BLESS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(path, generated).map_err(|e| format!("{}: {e}", path.display()));
    }
    let committed = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e}; generate it with `cargo xtask man`",
            path.display()
        )
    })?;
    if committed == generated {
        return Ok(());
    }
    let line = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    Err(format!(
        "{} is not what the --help definitions generate (first difference at line {}):\n  \
         committed: {:?}\n  generated: {:?}\nrun `cargo xtask man` and commit the result",
        path.display(),
        line + 1,
        committed.lines().nth(line).unwrap_or("(end of file)"),
        generated.lines().nth(line).unwrap_or("(end of file)"),
    ))
}

/// [`check_committed`] for a test: panics with its message. `page` is the path under
/// `deploy/man/` of the workspace that holds `crate_dir`.
pub fn assert_committed(generated: &str, crate_dir: &str, page: &str) {
    let path = std::path::Path::new(crate_dir)
        .join("../../deploy/man")
        .join(page);
    if let Err(e) = check_committed(generated, &path) {
        panic!("{e}");
    }
}

fn sentence_case(title: &str) -> String {
    let lower = title.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn help_block(out: &mut String, block: &Block, indent: usize) {
    match block {
        Block::Para(text) => {
            for line in wrap(text, HELP_WIDTH - indent) {
                let _ = writeln!(out, "{:indent$}{line}", "");
            }
        }
        Block::Defs(defs) => {
            for (term, text) in defs {
                help_def(out, term, text);
            }
        }
        Block::Verbatim(text) => {
            for line in text.lines() {
                let _ = writeln!(out, "{:w$}{line}", "", w = indent + 2);
            }
        }
    }
}

/// `  term      text wrapped at the description column`.
fn help_def(out: &mut String, term: &str, text: &str) {
    let lines = wrap(text, HELP_WIDTH - HELP_INDENT);
    let head = format!("  {term}");
    let mut rest = lines.iter();
    if head.len() + 1 < HELP_INDENT {
        let first = rest.next().map_or("", String::as_str);
        let _ = writeln!(out, "{head:HELP_INDENT$}{first}");
    } else {
        let _ = writeln!(out, "{head}");
    }
    for line in rest {
        let _ = writeln!(out, "{:HELP_INDENT$}{line}", "");
    }
}

/// Greedy word wrap; a word longer than the width gets a line of its own.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn roff_blocks(out: &mut String, blocks: &[Block]) {
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Block::Para(text) => {
                if i > 0 {
                    out.push_str(".PP\n");
                }
                let _ = writeln!(out, "{}", escape_line(text));
            }
            Block::Defs(defs) => {
                for (term, text) in defs {
                    let _ = writeln!(out, ".TP\n.B {}\n{}", escape_line(term), escape_line(text));
                }
                out.push_str(".PP\n");
            }
            Block::Verbatim(text) => {
                out.push_str(".PP\n.RS 4\n.nf\n");
                for line in text.lines() {
                    let _ = writeln!(out, "{}", escape_line(line));
                }
                out.push_str(".fi\n.RE\n");
            }
        }
    }
}

/// Escapes text for roff: backslashes, and hyphens as real minus signs (so flags can be
/// searched and copied).
fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\e"),
            '-' => s.push_str("\\-"),
            c => s.push(c),
        }
    }
    s
}

/// [`escape`], and a line starting with `.` or `'` is not taken as a request.
fn escape_line(text: &str) -> String {
    let s = escape(text);
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A macro argument: quoted when it holds spaces.
fn quote_arg(text: &str) -> String {
    let s = escape(text);
    if s.contains(' ') {
        format!("\"{s}\"")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Manual {
        Manual {
            name: "demo".into(),
            section: 8,
            version: "1.2.3".into(),
            summary: "a demonstration daemon".into(),
            synopsis: vec!["demo [-x] dir...".into()],
            description: vec![Block::Para("Serves things.".into())],
            options: vec![OptGroup {
                title: None,
                options: vec![
                    Opt::new("-x, --extra", "does more"),
                    Opt::new(
                        "--a-very-long-flag-name VALUE",
                        "a description long enough to be wrapped onto a second line when it is \
                         printed at a width of one hundred columns, which this is",
                    ),
                ],
            }],
            sections: vec![
                Section {
                    title: "EXIT STATUS".into(),
                    blocks: vec![Block::Defs(vec![("0".into(), "success".into())])],
                    in_help: true,
                },
                Section {
                    title: "EXAMPLE".into(),
                    blocks: vec![Block::Verbatim(".hidden \\ line".into())],
                    in_help: false,
                },
            ],
        }
    }

    #[test]
    fn help_lists_options_aligned_and_wrapped() {
        let h = page().help();
        assert!(h.starts_with("demo - a demonstration daemon\n\nUsage: demo [-x] dir...\n"));
        assert!(h.contains("\n  -x, --extra             does more\n"), "{h}");
        // The long flag gets its own line, the text starts at the description column.
        assert!(
            h.contains(
                "\n  --a-very-long-flag-name VALUE\n                          a description"
            ),
            "{h}"
        );
        assert!(h.lines().all(|l| l.len() <= HELP_WIDTH), "{h}");
        assert!(h.contains("Exit status:\n  0"), "{h}");
        assert!(!h.contains("hidden"), "sections not in help stay out: {h}");
    }

    #[test]
    fn roff_escapes_and_structures() {
        let r = page().roff();
        assert!(r.starts_with(".TH DEMO 8 \"\" \"pxe-suite 1.2.3\" \"System Administration\"\n"));
        assert!(r.contains(".SH NAME\ndemo \\- a demonstration daemon\n"));
        assert!(r.contains(".TP\n.B \\-x, \\-\\-extra\ndoes more\n"));
        assert!(r.contains(".SH \"EXIT STATUS\"\n"));
        // A line starting with a dot is protected, a backslash escaped.
        assert!(r.contains("\\&.hidden \\e line\n"), "{r}");
    }

    #[test]
    fn committed_pages_are_compared() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("demo.8");
        let page = page().roff();
        let missing = check_committed(&page, &path).expect_err("no file yet");
        assert!(missing.contains("cargo xtask man"), "{missing}");
        std::fs::write(&path, page.replace("does more", "does less")).expect("write");
        let stale = check_committed(&page, &path).expect_err("stale");
        assert!(stale.contains("line 13"), "{stale}");
        assert!(stale.contains("does less"), "{stale}");
        std::fs::write(&path, &page).expect("write");
        assert_eq!(check_committed(&page, &path), Ok(()));
    }

    #[test]
    fn flags_come_with_values_where_documented() {
        let got = page().flag_invocations(|f| format!("<{f}>"));
        assert_eq!(
            got,
            vec![
                vec!["-x".to_string()],
                vec!["--extra".to_string()],
                vec![
                    "--a-very-long-flag-name".to_string(),
                    "<--a-very-long-flag-name>".to_string()
                ],
            ]
        );
    }

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh ij", 4), vec!["abcdefgh", "ij"]);
        assert!(wrap("   ", 10).is_empty());
    }
}
