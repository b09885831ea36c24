//! `cargo xtask tidy`: the rules of this tree that rustc, clippy and rustfmt do not check.
//! CI runs it right after clippy.
//!
//! 1. Every Rust file of the workspace and of the fuzz targets opens with a `//!` doc: the
//!    crates' `src/`, `tests/`, `benches/` and `examples/`, `xtask/src/`, `tests/` (the
//!    cross-service test crate) and `fuzz/fuzz_targets/`. Test files are included: each one
//!    is a module someone has to find their way around.
//! 2. Every dependency of every member's `Cargo.toml` (normal, dev, build, per target) comes
//!    from `[workspace.dependencies]`, so each crate is named and versioned in one place.
//! 3. The daemon crates write nothing to standard output outside their command-line paths
//!    (`--help`, `--version`, `--check`, `import`): stdout may be a socket, the journal or a
//!    terminal nobody reads. Each such place is listed in [`STDOUT_ALLOWED`] with its
//!    reason, and each write sits under `#[allow(clippy::print_stdout)] // reason`.
//!    `#[cfg(test)]` code is exempt.
//! 4. No unused dependency: `cargo machete` (installed with `cargo install cargo-machete
//!    --locked` when missing).
//! 5. The fuzz targets (`fuzz/`, outside the workspace) still build: `cargo check --locked`
//!    of their crate, which needs no nightly and no sanitizer.
//!
//! Every problem is printed as `file:line: what is wrong`; the task fails if there is any.
//! The checks on text are pure functions over the file's contents, tested below.

use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One problem, printed as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    file: String,
    line: usize,
    message: String,
}

impl Finding {
    fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// A place where a daemon crate may write to standard output.
pub(crate) struct StdoutUse {
    /// Path from the workspace root.
    file: &'static str,
    /// The function the writes are in.
    function: &'static str,
    /// Why this output belongs on stdout.
    reason: &'static str,
}

/// The command-line paths of the daemon crates: the only places that write to stdout.
pub(crate) const STDOUT_ALLOWED: &[StdoutUse] = &[
    StdoutUse {
        file: "crates/dhcpd/src/app.rs",
        function: "main_with_args",
        reason: "`dhcpd --help`, by convention (-t, -T and --version use stderr, as ISC's)",
    },
    StdoutUse {
        file: "crates/tftpd/src/app.rs",
        function: "main_with_args",
        reason: "`tftpd --help`, `--version`, and the `--check` verdict",
    },
    StdoutUse {
        file: "crates/httpd-tree/src/app.rs",
        function: "check",
        reason: "`httpd-tree --check` reports to the operator on stdout",
    },
    StdoutUse {
        file: "crates/httpd-tree/src/import_cmd.rs",
        function: "run",
        reason: "`httpd-tree import` prints the distro entry it read: that is its output",
    },
];

/// The crates whose `src/` must keep stdout quiet.
const DAEMON_CRATES: &[&str] = &["dhcpd", "tftpd", "httpd-tree", "pxe-daemon", "pxe-model"];

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut with_tools = true;
    for a in args {
        match a.as_str() {
            // Only the checks on text: no cargo-machete, no fuzz build.
            "--quick" => with_tools = false,
            other => bail!("tidy: unknown argument `{other}` (usage: cargo xtask tidy [--quick])"),
        }
    }
    let root = crate::ci::workspace_root();
    let mut total = 0;
    total += report("module docs", &doc_check(&root)?);
    total += report("workspace dependencies", &manifest_check(&root)?);
    total += report("stdout in daemons", &stdout_check(&root)?);
    if with_tools {
        total += report(
            "unused dependencies (cargo machete)",
            &machete_check(&root)?,
        );
        total += report("fuzz targets build", &fuzz_check(&root)?);
    }
    if total > 0 {
        bail!("tidy: {total} problem(s)");
    }
    eprintln!("xtask tidy: ok");
    Ok(())
}

/// Prints one check's findings; returns how many there were.
fn report(check: &str, findings: &[Finding]) -> usize {
    if findings.is_empty() {
        eprintln!("xtask tidy: {check}: ok");
    } else {
        eprintln!("xtask tidy: {check}: {} problem(s)", findings.len());
        for f in findings {
            eprintln!("{f}");
        }
    }
    findings.len()
}

// ---- files ---------------------------------------------------------------------------------

/// The `crates/*` directories, sorted.
fn crate_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("crates");
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Every `.rs` file under `dir` (none when it does not exist), skipping `target/`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The path of `path` from the root, with `/`, as findings name files.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

// ---- 1. module docs ------------------------------------------------------------------------

fn doc_check(root: &Path) -> Result<Vec<Finding>> {
    let mut files = Vec::new();
    for krate in crate_dirs(root)? {
        for sub in ["src", "tests", "benches", "examples"] {
            rust_files(&krate.join(sub), &mut files)?;
        }
        let build = krate.join("build.rs");
        if build.is_file() {
            files.push(build);
        }
    }
    rust_files(&root.join("xtask/src"), &mut files)?;
    rust_files(&root.join("tests"), &mut files)?;
    rust_files(&root.join("fuzz/fuzz_targets"), &mut files)?;
    files.sort();
    let mut findings = Vec::new();
    for path in files {
        findings.extend(doc_finding(&relative(root, &path), &read(&path)?));
    }
    Ok(findings)
}

/// A module must open with an inner doc comment (`//!` or `/*!`): its first line that is not
/// blank. An inner attribute such as `#![allow(…)]` goes after the doc.
pub(crate) fn doc_finding(file: &str, text: &str) -> Option<Finding> {
    let Some((n, line)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        return Some(Finding::new(
            file,
            1,
            "empty file: a module opens with a `//!` doc saying what it holds",
        ));
    };
    let line = line.trim_start();
    if line.starts_with("//!") || line.starts_with("/*!") {
        return None;
    }
    Some(Finding::new(
        file,
        n + 1,
        "no `//!` doc at the top of the module: say what it holds (and what it must not do)",
    ))
}

// ---- 2. workspace dependencies -------------------------------------------------------------

fn manifest_check(root: &Path) -> Result<Vec<Finding>> {
    let mut manifests: Vec<PathBuf> = crate_dirs(root)?
        .into_iter()
        .map(|d| d.join("Cargo.toml"))
        .collect();
    manifests.push(root.join("xtask/Cargo.toml"));
    manifests.push(root.join("tests/Cargo.toml"));
    let mut findings = Vec::new();
    for path in manifests {
        findings.extend(manifest_findings(&relative(root, &path), &read(&path)?));
    }
    Ok(findings)
}

/// The dependency tables of a manifest, by the name cargo accepts for them.
const DEPENDENCY_TABLES: &[&str] = &[
    "dependencies",
    "dev-dependencies",
    "dev_dependencies",
    "build-dependencies",
    "build_dependencies",
];

/// Every dependency that is not `name.workspace = true` (with or without further keys such as
/// `features` or `optional`).
pub(crate) fn manifest_findings(file: &str, text: &str) -> Vec<Finding> {
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let line = e.span().map_or(1, |s| line_of_offset(text, s.start));
            let msg = e.message().to_owned();
            return vec![Finding::new(file, line, format!("not valid TOML: {msg}"))];
        }
    };
    // (where, e.g. "[dependencies]", header prefix the table's own header starts with, deps)
    let mut sections: Vec<(String, Option<String>, &toml::Table)> = Vec::new();
    for kind in DEPENDENCY_TABLES {
        if let Some(deps) = table.get(*kind).and_then(toml::Value::as_table) {
            sections.push(((*kind).to_owned(), None, deps));
        }
    }
    if let Some(targets) = table.get("target").and_then(toml::Value::as_table) {
        for (cfg, t) in targets {
            for kind in DEPENDENCY_TABLES {
                if let Some(deps) = t.get(*kind).and_then(toml::Value::as_table) {
                    sections.push(((*kind).to_owned(), Some(cfg.clone()), deps));
                }
            }
        }
    }
    let mut findings = Vec::new();
    for (kind, target, deps) in sections {
        for (name, spec) in deps {
            let from_workspace = spec
                .as_table()
                .and_then(|t| t.get("workspace"))
                .and_then(toml::Value::as_bool)
                == Some(true);
            if from_workspace {
                continue;
            }
            let section = match &target {
                Some(cfg) => format!("[target.{cfg}.{kind}]"),
                None => format!("[{kind}]"),
            };
            findings.push(Finding::new(
                file,
                dependency_line(text, &kind, target.is_some(), name),
                format!(
                    "dependency `{name}` in {section} is not from [workspace.dependencies]: \
                     declare it in the root Cargo.toml's table and write \
                     `{name}.workspace = true` here"
                ),
            ));
        }
    }
    findings
}

/// 1-based line of a byte offset.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line that declares dependency `name` in a `kind` table (a top-level one, or one under
/// `[target.…]`): `name = …` / `name.key = …` inside the table, or the header
/// `[kind.name]`. 1 when it cannot be found.
fn dependency_line(text: &str, kind: &str, under_target: bool, name: &str) -> usize {
    let in_section = |header: &str| {
        if under_target {
            header.starts_with("target.") && header.ends_with(&format!(".{kind}"))
        } else {
            header == kind
        }
    };
    let names_dep = |rest: &str| {
        let rest = rest.trim_start();
        rest.starts_with('=') || rest.starts_with('.')
    };
    let mut header = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            let h = h.split(']').next().unwrap_or("").trim();
            // `[dependencies.foo]`
            if let Some(parent) = h.strip_suffix(name).and_then(|p| p.strip_suffix('.'))
                && in_section(parent)
            {
                return n + 1;
            }
            header = h.to_owned();
            continue;
        }
        if !in_section(&header) {
            continue;
        }
        for quoted in [name.to_owned(), format!("\"{name}\"")] {
            if let Some(rest) = line.strip_prefix(quoted.as_str())
                && names_dep(rest)
            {
                return n + 1;
            }
        }
    }
    1
}

// ---- 3. stdout in daemons ------------------------------------------------------------------

fn stdout_check(root: &Path) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut used = vec![false; STDOUT_ALLOWED.len()];
    for krate in DAEMON_CRATES {
        let mut files = Vec::new();
        rust_files(&root.join("crates").join(krate).join("src"), &mut files)?;
        files.sort();
        for path in files {
            let file = relative(root, &path);
            findings.extend(stdout_findings(
                &file,
                &read(&path)?,
                STDOUT_ALLOWED,
                &mut used,
            ));
        }
    }
    for (entry, used) in STDOUT_ALLOWED.iter().zip(used) {
        if !used {
            findings.push(Finding::new(
                entry.file,
                1,
                format!(
                    "STDOUT_ALLOWED in xtask/src/tidy.rs lists `fn {}` here ({}), which no \
                     longer writes to stdout: remove or update the entry",
                    entry.function, entry.reason
                ),
            ));
        }
    }
    Ok(findings)
}

/// The stdout writes of one file checked against the allow list; `used[i]` is set for each
/// entry of `allowed` that a write matched.
pub(crate) fn stdout_findings(
    file: &str,
    text: &str,
    allowed: &[StdoutUse],
    used: &mut [bool],
) -> Vec<Finding> {
    let scan = scan_stdout(text);
    let mut findings = Vec::new();
    for line in scan.unexplained_allows {
        findings.push(Finding::new(
            file,
            line,
            "`#[allow(clippy::print_stdout)]` without a reason: add `// why this goes to stdout`",
        ));
    }
    for w in scan.writes {
        if w.in_test {
            continue;
        }
        let function = w.function.as_deref().unwrap_or("");
        let entry = allowed
            .iter()
            .position(|a| a.file == file && a.function == function);
        let Some(i) = entry else {
            let place = if function.is_empty() {
                "outside any function".to_owned()
            } else {
                format!("in `fn {function}`")
            };
            findings.push(Finding::new(
                file,
                w.line,
                format!(
                    "`{}` {place}, which is not a command-line path: a daemon reports through \
                     tracing (stdout may be a socket, the journal or nobody's terminal); if this \
                     is --help/--version/--check output, list it in STDOUT_ALLOWED \
                     (xtask/src/tidy.rs) with its reason",
                    w.what
                ),
            ));
            continue;
        };
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        if !w.marked {
            findings.push(Finding::new(
                file,
                w.line,
                format!(
                    "`{}` in `fn {function}` (a command-line path: {}) is not under \
                     `#[allow(clippy::print_stdout)] // reason`",
                    w.what, allowed[i].reason
                ),
            ));
        }
    }
    findings
}

/// One write to standard output found in a file.
#[derive(Debug, PartialEq, Eq)]
struct StdoutWrite {
    line: usize,
    /// `println!`, `print!` or `stdout()`.
    what: &'static str,
    /// The innermost named function around it.
    function: Option<String>,
    /// Under `#[allow(clippy::print_stdout)]` (or `expect`), on an enclosing item or block.
    marked: bool,
    /// Inside `#[cfg(test)]` code.
    in_test: bool,
}

#[derive(Debug, Default)]
struct StdoutScan {
    writes: Vec<StdoutWrite>,
    /// Lines of `#[allow(clippy::print_stdout)]` attributes with no `//` reason beside or above.
    unexplained_allows: Vec<usize>,
}

/// An attribute seen but not yet attached to the item, block or statement that follows it.
#[derive(Default)]
struct Pending {
    function: Option<String>,
    allow: bool,
    test: bool,
}

/// A `{ … }` being read.
struct Frame {
    function: Option<String>,
    allow: bool,
    test: bool,
    /// Open `(` and `[` inside this block.
    parens: usize,
}

/// Finds the writes to stdout in Rust source, with the function, `allow` marker and
/// `cfg(test)` around each. A token scan over the source with comments and literals blanked,
/// tracking braces: an outer attribute applies to the next `{` opened before the `;` (or the
/// top-level `,`) that ends its statement, and to everything inside that block.
fn scan_stdout(text: &str) -> StdoutScan {
    let code = blank_comments_and_literals(text);
    let tokens = tokenize(&code);
    let raw_lines: Vec<&str> = text.lines().collect();
    let mut scan = StdoutScan::default();
    let mut stack = vec![Frame {
        function: None,
        allow: false,
        test: false,
        parens: 0,
    }];
    let mut pending = Pending::default();
    let mut i = 0;
    while i < tokens.len() {
        let (line, tok) = tokens[i];
        let next = tokens.get(i + 1).map(|t| t.1);
        let top = stack.len() - 1;
        match tok {
            "#" => {
                let inner = next == Some("!");
                let open = if inner { i + 2 } else { i + 1 };
                if tokens.get(open).map(|t| t.1) == Some("[") {
                    let close = matching_bracket(&tokens, open);
                    let attr: Vec<&str> = tokens[open + 1..close].iter().map(|t| t.1).collect();
                    let allow = matches!(attr.first(), Some(&("allow" | "expect")))
                        && attr.contains(&"print_stdout");
                    let test = attr.first() == Some(&"cfg")
                        && attr.contains(&"test")
                        && !attr.contains(&"not");
                    if allow && !has_reason(&raw_lines, line) {
                        scan.unexplained_allows.push(line);
                    }
                    if inner {
                        stack[top].allow |= allow;
                        stack[top].test |= test;
                    } else {
                        pending.allow |= allow;
                        pending.test |= test;
                    }
                    i = close + 1;
                    continue;
                }
            }
            "fn" => {
                if let Some(name) = next.filter(|n| is_ident(n)) {
                    pending.function = Some(name.to_owned());
                    i += 2;
                    continue;
                }
            }
            "{" => {
                let parent = &stack[top];
                let frame = Frame {
                    function: pending.function.take().or_else(|| parent.function.clone()),
                    allow: parent.allow || pending.allow,
                    test: parent.test || pending.test,
                    parens: 0,
                };
                pending = Pending::default();
                stack.push(frame);
            }
            "}" => {
                if stack.len() > 1 {
                    stack.pop();
                }
                pending = Pending::default();
            }
            "(" | "[" => stack[top].parens += 1,
            ")" | "]" => stack[top].parens = stack[top].parens.saturating_sub(1),
            ";" => pending = Pending::default(),
            "," if stack[top].parens == 0 && pending.function.is_none() => {
                pending = Pending::default();
            }
            "print" | "println" if next == Some("!") => {
                let prev = i.checked_sub(1).map(|p| tokens[p].1);
                // `print!` itself, not a path ending in it (`my::print!`) nor a field.
                if prev != Some(".") {
                    let frame = &stack[top];
                    scan.writes.push(StdoutWrite {
                        line,
                        what: if tok == "print" { "print!" } else { "println!" },
                        function: frame.function.clone(),
                        marked: frame.allow || pending.allow,
                        in_test: frame.test || pending.test,
                    });
                }
            }
            "stdout" if next == Some("(") => {
                let prev = i.checked_sub(1).map(|p| tokens[p].1);
                // `io::stdout()` or `stdout()`, not `Command::stdout(…)` called as a method.
                if prev != Some(".") && prev != Some("fn") {
                    let frame = &stack[top];
                    scan.writes.push(StdoutWrite {
                        line,
                        what: "stdout()",
                        function: frame.function.clone(),
                        marked: frame.allow || pending.allow,
                        in_test: frame.test || pending.test,
                    });
                }
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

/// Whether an attribute on 1-based `line` has a `//` reason after it on that line or a `//`
/// comment on the line above.
fn has_reason(raw_lines: &[&str], line: usize) -> bool {
    let here = raw_lines.get(line - 1).copied().unwrap_or("");
    let after_attr = here
        .find("print_stdout")
        .and_then(|p| here[p..].split_once(']'))
        .map_or("", |(_, rest)| rest);
    if after_attr.trim_start().starts_with("//") {
        return true;
    }
    line >= 2
        && raw_lines
            .get(line - 2)
            .is_some_and(|l| l.trim_start().starts_with("//"))
}

/// Index of the `]` closing the `[` at `open` (or the last token).
fn matching_bracket(tokens: &[(usize, &str)], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, (_, t)) in tokens.iter().enumerate().skip(open) {
        match *t {
            "[" => depth += 1,
            "]" => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers and numbers as one token each, every other non-space character as its own;
/// each with its 1-based line.
fn tokenize(code: &str) -> Vec<(usize, &str)> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut chars = code.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push((line, &code[start..end]));
        } else if !c.is_whitespace() {
            tokens.push((line, &code[start..start + c.len_utf8()]));
        }
    }
    tokens
}

/// The source with comments and the contents of string and character literals replaced by
/// spaces (newlines kept, so lines still count), leaving only code to scan.
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            out.push('r');
            for _ in 0..hashes {
                out.push('#');
            }
            out.push('"');
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..].iter().take_while(|&&h| h == '#').count() >= hashes
                {
                    out.push('"');
                    for _ in 0..hashes {
                        out.push('#');
                    }
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' => {
                        out.push(' ');
                        if let Some(&e) = chars.get(i + 1) {
                            blank(&mut out, e);
                        }
                        i += 2;
                    }
                    '"' => {
                        out.push('"');
                        i += 1;
                        break;
                    }
                    other => {
                        blank(&mut out, other);
                        i += 1;
                    }
                }
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{…}'), or else a lifetime or label ('a).
            let close = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&d| d == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    out.push('\'');
                    for &d in &chars[i + 1..end] {
                        blank(&mut out, d);
                    }
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At `chars[i] == 'r'` opening a raw string (`r"`, `r#"`, also as in `br"` or `cr"`), the
/// number of its `#`s; `None` for anything else (`r#ident`, a name ending in `r`).
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != 'r' {
        return None;
    }
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    let starts_token = match i.checked_sub(1).map(|p| chars[p]) {
        None => true,
        Some('b' | 'c') => i < 2 || !ident_char(chars[i - 2]),
        Some(p) => !ident_char(p),
    };
    let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
    (starts_token && chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

// ---- 4. unused dependencies ----------------------------------------------------------------

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo` for a subcommand, without `CARGO_PKG_NAME` (set by `cargo run` for xtask): when it
/// is set, cargo-machete takes its own name and arguments for directories to scan.
fn cargo_command() -> Command {
    let mut cmd = Command::new(cargo());
    cmd.env_remove("CARGO_PKG_NAME");
    cmd
}

/// Installs `cargo <subcommand>` from crates.io (`cargo install PACKAGE --locked`) when
/// `cargo <subcommand> --version` does not answer.
fn ensure_cargo_tool(subcommand: &str, package: &str) -> Result<()> {
    let present = cargo_command()
        .args([subcommand, "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    eprintln!("xtask tidy: {package} missing, running `cargo install {package} --locked`");
    let status = Command::new(cargo())
        .args(["install", package, "--locked"])
        .status()
        .with_context(|| format!("running cargo install {package}"))?;
    if !status.success() {
        bail!("cargo install {package} failed ({status})");
    }
    Ok(())
}

fn machete_check(root: &Path) -> Result<Vec<Finding>> {
    ensure_cargo_tool("machete", "cargo-machete")?;
    eprintln!("xtask tidy: cargo machete");
    let out = cargo_command()
        .arg("machete")
        .current_dir(root)
        .output()
        .context("running cargo machete")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut findings = machete_findings(&stdout, |manifest| {
        std::fs::read_to_string(root.join(manifest)).ok()
    });
    if !out.status.success() && findings.is_empty() {
        // Not a list of unused dependencies: an error of cargo machete itself.
        findings.push(Finding::new(
            "Cargo.toml",
            1,
            format!(
                "cargo machete failed ({}): {}{}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(findings)
}

/// Reads cargo machete's report:
///
/// ```text
/// cargo-machete found the following unused dependencies in this directory:
/// dhcpd -- ./crates/dhcpd/Cargo.toml:
///         regex
/// ```
///
/// into one finding per dependency, at its line in the manifest (`manifest_text` reads a
/// manifest by its path from the root).
pub(crate) fn machete_findings(
    report: &str,
    manifest_text: impl Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut manifest: Option<(String, String)> = None;
    for line in report.lines() {
        if let Some((_, path)) = line.split_once(" -- ")
            && let Some(path) = path.trim().strip_suffix(':')
        {
            let path = path.trim_start_matches("./").to_owned();
            let text = manifest_text(&path).unwrap_or_default();
            manifest = Some((path, text));
            continue;
        }
        let dep = line.trim();
        let indented = line.starts_with([' ', '\t']);
        if let (true, false, Some((path, text))) = (indented, dep.is_empty(), &manifest) {
            // A dependency name, possibly followed by a note in parentheses.
            let name = dep.split_whitespace().next().unwrap_or(dep);
            let at = ["dependencies", "dev-dependencies", "build-dependencies"]
                .iter()
                .map(|kind| dependency_line(text, kind, false, name))
                .find(|&l| l > 1)
                .unwrap_or(1);
            findings.push(Finding::new(
                path,
                at,
                format!(
                    "dependency `{name}` is unused (cargo machete): remove it (if it is used \
                     in a way machete cannot see, add it to [package.metadata.cargo-machete] \
                     ignored, with a comment)"
                ),
            ));
        } else if !indented {
            manifest = manifest.filter(|_| dep.is_empty());
        }
    }
    findings
}

// ---- 5. fuzz targets -----------------------------------------------------------------------

/// `cargo check --locked` of the fuzz crate's binaries: they build on stable without
/// cargo-fuzz, which would add nightly-only sanitizer flags. The workspace's `target/` is
/// shared so the daemons' crates are not built twice.
fn fuzz_check(root: &Path) -> Result<Vec<Finding>> {
    let args = [
        "check",
        "--locked",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bins",
        "--target-dir",
        "target",
    ];
    eprintln!("xtask tidy: cargo {}", args.join(" "));
    let out = Command::new(cargo())
        .args(args)
        .current_dir(root)
        .output()
        .context("running cargo check on fuzz/")?;
    if out.status.success() {
        return Ok(Vec::new());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    let message = if stderr.contains("--locked") {
        "fuzz/Cargo.lock lacks what the crates the fuzz targets use now depend on: run \
         `cargo check --manifest-path fuzz/Cargo.toml --bins` (it adds the missing entries and \
         keeps the rest) and commit the lock file"
            .to_owned()
    } else {
        format!(
            "the fuzz targets do not build ({}; cargo's errors above): fix them along with the \
             API they call",
            out.status
        )
    };
    Ok(vec![Finding::new("fuzz/Cargo.toml", 1, message)])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn doc_must_open_the_file() {
        assert_eq!(
            doc_finding("a.rs", "//! What this holds.\n\nuse x;\n"),
            None
        );
        assert_eq!(doc_finding("a.rs", "\n\n//! After blank lines.\n"), None);
        assert_eq!(doc_finding("a.rs", "/*! Block doc. */\n"), None);
        let f = doc_finding("a.rs", "use x;\n//! too late\n").unwrap();
        assert_eq!((f.file.as_str(), f.line), ("a.rs", 1));
        // An outer doc comment documents the next item, not the module.
        assert_eq!(
            doc_finding("a.rs", "\n/// An item.\nfn f() {}\n")
                .unwrap()
                .line,
            2
        );
        // Nor does a plain comment or an inner attribute stand in for the doc.
        assert!(doc_finding("a.rs", "// licence\n//! doc\n").is_some());
        assert!(doc_finding("a.rs", "#![allow(clippy::unwrap_used)]\n//! doc\n").is_some());
        assert_eq!(doc_finding("a.rs", "  \n").unwrap().line, 1);
        assert_eq!(
            doc_finding("src/x.rs", "fn main() {}\n")
                .unwrap()
                .to_string(),
            "src/x.rs:1: no `//!` doc at the top of the module: say what it holds (and what it \
             must not do)"
        );
    }

    const MANIFEST: &str = r#"[package]
name = "demo"
version.workspace = true

[dependencies]
anyhow.workspace = true
nix = { workspace = true, features = ["fs"] }
ctrlc = "3"
"quoted" = { version = "1" }

[dev-dependencies]
tempfile.workspace = true
proptest = { path = "../proptest" }

[dependencies.serde]
version = "1"

[build-dependencies.cc]
workspace = true

[target.'cfg(unix)'.dependencies]
libc = "0.2"
"#;

    #[test]
    fn dependencies_must_come_from_the_workspace() {
        let found: Vec<(usize, String)> = manifest_findings("crates/demo/Cargo.toml", MANIFEST)
            .into_iter()
            .map(|f| {
                (
                    f.line,
                    f.message.split(" is not").next().unwrap().to_owned(),
                )
            })
            .collect();
        let want = [
            (8, "dependency `ctrlc` in [dependencies]"),
            (9, "dependency `quoted` in [dependencies]"),
            (15, "dependency `serde` in [dependencies]"),
            (13, "dependency `proptest` in [dev-dependencies]"),
            (22, "dependency `libc` in [target.cfg(unix).dependencies]"),
        ];
        let want: Vec<(usize, String)> = want.iter().map(|(l, m)| (*l, (*m).to_owned())).collect();
        assert_eq!(found, want);
    }

    #[test]
    fn a_manifest_that_is_not_toml_is_a_finding() {
        let f = manifest_findings("Cargo.toml", "[package]\nname = \n");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert!(
            f[0].message.starts_with("not valid TOML"),
            "{}",
            f[0].message
        );
        assert!(manifest_findings("Cargo.toml", "[dependencies]\nx.workspace = true\n").is_empty());
    }

    const ALLOWED: &[StdoutUse] = &[
        StdoutUse {
            file: "app.rs",
            function: "main_with_args",
            reason: "--help",
        },
        StdoutUse {
            file: "app.rs",
            function: "never_prints",
            reason: "stale",
        },
    ];

    fn stdout_lines(text: &str) -> (Vec<(usize, String)>, Vec<bool>) {
        let mut used = vec![false; ALLOWED.len()];
        let found = stdout_findings("app.rs", text, ALLOWED, &mut used)
            .into_iter()
            .map(|f| (f.line, f.message))
            .collect();
        (found, used)
    }

    #[test]
    fn stdout_only_in_listed_functions_under_the_marker() {
        let text = r#"//! doc
pub fn main_with_args() -> u8 {
    if help {
        #[allow(clippy::print_stdout)] // --help goes to stdout
        {
            println!("{}", help());
        }
    }
    println!("unmarked");
    0
}

fn serve() {
    print!("a daemon printing");
    let s = "println!(\"in a string\")";
    // println!("in a comment");
    /* print!("in a /* nested */ block comment"); */
    let c = '"'; let l: &'static str = "x";
    cmd.stdout(Stdio::piped());
    let _ = writeln!(std::io::stdout(), "x");
    eprintln!("stderr is fine");
}

#[cfg(test)]
mod tests {
    fn t() { println!("tests may print"); }
}
"#;
        let (found, used) = stdout_lines(text);
        let lines: Vec<usize> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, [9, 14, 20], "{found:#?}");
        assert!(
            found[0]
                .1
                .contains("is not under `#[allow(clippy::print_stdout)]")
        );
        assert!(
            found[1]
                .1
                .starts_with("`print!` in `fn serve`, which is not a command-line")
        );
        assert!(found[2].1.starts_with("`stdout()` in `fn serve`"));
        assert_eq!(used, [true, false]);
    }

    #[test]
    fn the_marker_covers_a_function_and_needs_a_reason() {
        let text = "//! doc
// --check reports on stdout
#[allow(clippy::print_stdout)]
fn main_with_args(a: u8, b: u8) -> u8 {
    match a {
        0 => println!(\"x\"),
        _ => { print!(\"y\") }
    }
}

#[allow(clippy::print_stdout)]
fn other() {
    println!(\"z\");
}
";
        let (found, _) = stdout_lines(text);
        let lines: Vec<usize> = found.iter().map(|f| f.0).collect();
        // Line 11: a marker with no reason; line 13: `other` is not listed, marker or not.
        assert_eq!(lines, [11, 13], "{found:#?}");
        assert!(found[0].1.contains("without a reason"));
    }

    #[test]
    fn an_attribute_ends_with_its_statement() {
        // The allow on `let` ends at its `;`: the later block is not covered; a test
        // attribute on a match arm ends at its `,` and does not leak into the next arm.
        let text = "//! doc
fn main_with_args() {
    #[allow(clippy::print_stdout)] // reason
    let x = 1;
    { println!(\"not covered\"); }
}
fn f(x: u8) {
    match x {
        #[cfg(test)]
        0 => 1,
        _ => { print!(\"counted\") }
    }
}
";
        let (found, _) = stdout_lines(text);
        let lines: Vec<usize> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, [5, 11], "{found:#?}");
        assert!(found[1].1.starts_with("`print!` in `fn f`"), "{found:#?}");
    }

    #[test]
    fn blanking_keeps_lines_and_code() {
        let src = "let a = r#\"x \"quoted\" y\"#; // c\nlet b = b'\\n'; 'outer: loop {}\nlet q = b'\"'; let r = br\"\\\"; let t = 1;\nlet d = '\\\"'; let u = 2;\n";
        let out = blank_comments_and_literals(src);
        assert_eq!(out.lines().count(), 4);
        // `b'"'`, the raw `br"\"` and `'\"'` open no string: the code after them is code.
        assert!(out.contains("let t = 1;"), "{out}");
        assert!(out.contains("let u = 2;"), "{out}");
        assert!(!out.contains("quoted"));
        assert!(out.contains("'outer: loop {}"));
        assert!(out.contains("let b"));
    }

    #[test]
    fn machete_report_to_findings() {
        let report = "Analyzing dependencies of crates in this directory...
cargo-machete found the following unused dependencies in this directory:
dhcpd -- ./crates/dhcpd/Cargo.toml:
\tregex
\tsocket2
xtask -- ./xtask/Cargo.toml:
\tctrlc

If you believe cargo-machete has detected an unused dependency incorrectly,
you can add the dependency to the list of dependencies to ignore in the
`[package.metadata.cargo-machete]` section of the appropriate Cargo.toml.
";
        let manifest = |path: &str| {
            Some(match path {
                "crates/dhcpd/Cargo.toml" => {
                    "[package]\n\n[dependencies]\nsocket2.workspace = true\nregex.workspace = true\n"
                        .to_owned()
                }
                _ => "[dependencies]\nctrlc = \"3\"\n".to_owned(),
            })
        };
        let found: Vec<String> = machete_findings(report, manifest)
            .iter()
            .map(|f| {
                format!(
                    "{}:{}:{}",
                    f.file,
                    f.line,
                    f.message.split(' ').nth(1).unwrap()
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                "crates/dhcpd/Cargo.toml:5:`regex`",
                "crates/dhcpd/Cargo.toml:4:`socket2`",
                "xtask/Cargo.toml:2:`ctrlc`",
            ]
        );
        assert!(
            machete_findings(
                "cargo-machete didn't find any unused dependencies.\n",
                |_| None
            )
            .is_empty()
        );
    }
}
