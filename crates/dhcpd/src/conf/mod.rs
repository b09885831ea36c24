//! ISC `dhcpd.conf`: lexer, parser, typed syntax tree, option tables and option encoding.
//! Pure code: files are read through a loader the caller passes in, so tests need no disk.

pub mod ast;
pub mod diag;
pub mod encode;
mod keywords;
pub mod lexer;
pub mod options;
pub(crate) mod parse;
pub mod print;
mod std_options;

pub use ast::Config;
pub use diag::Diagnostic;
pub use parse::Output;

/// The outcome of reading a configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The tree (partial when there were errors).
    pub config: Config,
    /// Errors and log lines in ISC's order.
    pub output: Vec<Output>,
    /// A fatal error that stopped the parse (`Can't open ...`), printed last.
    pub fatal: Option<String>,
}

impl Loaded {
    /// True when ISC would accept the file.
    pub fn is_ok(&self) -> bool {
        self.fatal.is_none() && !self.output.iter().any(|o| matches!(o, Output::Error(_)))
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.output.iter().filter_map(|o| match o {
            Output::Error(d) => Some(d),
            Output::Log(_) => None,
        })
    }

    /// The first line ISC prints about the first problem (error headline or fatal message).
    pub fn first_error_line(&self) -> Option<String> {
        self.errors()
            .next()
            .map(Diagnostic::headline)
            .or_else(|| self.fatal.clone())
    }

    /// Warnings for statements we keep but do not act on, one per keyword.
    pub fn unsupported_warnings(&self) -> Vec<String> {
        self.config
            .unsupported
            .iter()
            .map(|u| {
                format!(
                    "{} line {}: warning: `{}` is accepted but not acted on",
                    u.loc.file, u.loc.line, u.keyword
                )
            })
            .collect()
    }
}

/// Options for a parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// DHCPv6 mode (`-6`): accepted by the parser for `subnet6`, but the server refuses it.
    pub v6: bool,
}

/// Parse `text` (named `name`), reading includes with `loader`.
pub fn parse_str(
    name: &str,
    text: &[u8],
    opts: ParseOptions,
    loader: &dyn Fn(&str) -> std::io::Result<Vec<u8>>,
) -> Loaded {
    let mut g = parse::Global::new(loader);
    g.v6 = opts.v6;
    let (root, _) = parse::parse_text(name, text, &mut g);
    let mut config = std::mem::take(&mut g.config);
    config.root = root;
    config.registry = std::mem::take(&mut g.reg);
    Loaded {
        config,
        output: g.out,
        fatal: g.fatal,
    }
}

/// Parse one `host NAME { … }` or `group NAME { … }` declaration (an object made over
/// OMAPI, or its record in dhcpd.leases) with the option spaces and definitions of a
/// configuration already read. `Err`: the first error's headline.
pub fn parse_record(
    registry: &options::Registry,
    name: &str,
    text: &[u8],
) -> Result<ast::Decl, String> {
    let no_includes = |_: &str| Err(std::io::ErrorKind::Unsupported.into());
    let mut g = parse::Global::new(&no_includes);
    g.reg = registry.clone();
    let (root, errors) = parse::parse_text(name, text, &mut g);
    let first_error = g.out.iter().find_map(|o| match o {
        Output::Error(d) => Some(d.headline()),
        Output::Log(_) => None,
    });
    if errors > 0 || first_error.is_some() || g.fatal.is_some() {
        return Err(first_error
            .or(g.fatal)
            .unwrap_or_else(|| format!("{name}: parse error")));
    }
    let mut decls = root.items.into_iter().filter_map(|i| match i {
        ast::Item::Decl(_, d @ (ast::Decl::Host(_) | ast::Decl::Group(_))) => Some(d),
        _ => None,
    });
    match (decls.next(), decls.next()) {
        (Some(d), None) => Ok(d),
        _ => Err(format!("{name}: not one host or group declaration")),
    }
}

/// Read and parse the file at `path` as ISC does: `path` and include paths are used as given
/// (relative ones against the working directory).
pub fn parse_file(path: &str, opts: ParseOptions) -> Loaded {
    let loader = |p: &str| std::fs::read(p);
    match std::fs::read(path) {
        Ok(bytes) => parse_str(path, &bytes, opts, &loader),
        Err(e) => Loaded {
            config: Config::default(),
            output: Vec::new(),
            fatal: Some(format!("Can't open {path}: {}", io_error_text(&e))),
        },
    }
}

/// The C library's `strerror` text for common errors (ISC prints `%m`).
pub(crate) fn io_error_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        std::io::ErrorKind::IsADirectory => "Is a directory".into(),
        _ => {
            let s = e.to_string();
            // Rust appends " (os error N)".
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
