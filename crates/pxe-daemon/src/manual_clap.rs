//! Manual pages of the command-line tools whose parser is clap's (pxectl, pxe-db): their
//! synopsis, option groups and description taken from the parser itself, so that `--help`
//! and the page cannot disagree.

use crate::manual::{Block, Opt, OptGroup};

/// An argument as the manual lists it: `-s, --long VALUE` and its help.
pub fn opt_of(a: &clap::Arg) -> Opt {
    let mut names = Vec::new();
    if let Some(s) = a.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("--{l}"));
    }
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(ToString::to_string);
    let flags = if a.is_positional() {
        a.get_id().as_str().to_uppercase()
    } else {
        match (a.get_action().takes_values(), value) {
            (true, Some(v)) => format!("{} {v}", names.join(", ")),
            (true, None) => format!("{} VALUE", names.join(", ")),
            (false, _) => names.join(", "),
        }
    };
    Opt::new(
        flags,
        a.get_help().map(ToString::to_string).unwrap_or_default(),
    )
}

/// Whether an argument appears in the manual (not hidden, not clap's own help/version).
pub fn shown(a: &clap::Arg) -> bool {
    !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version")
}

/// The synopsis lines and option groups of a command with subcommands: the top-level
/// options first (titled `top_title`), then one group per subcommand, titled with its
/// positionals and its about text. `prefix` starts every synopsis line.
pub fn subcommands(
    cmd: &clap::Command,
    prefix: &str,
    top_title: &str,
) -> (Vec<String>, Vec<OptGroup>) {
    let mut options = vec![OptGroup {
        title: Some(top_title.to_owned()),
        options: cmd
            .get_arguments()
            .filter(|a| shown(a))
            .map(opt_of)
            .collect(),
    }];
    let mut synopsis = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let positional: Vec<String> = sub
            .get_positionals()
            .map(|p| p.get_id().as_str().to_uppercase())
            .collect();
        let title = format!("{} {}", sub.get_name(), positional.join(" "));
        let has_options = sub.get_arguments().any(|a| shown(a) && !a.is_positional());
        synopsis.push(format!(
            "{prefix} {}{}",
            title.trim_end(),
            if has_options { " [OPTIONS]" } else { "" }
        ));
        options.push(OptGroup {
            title: Some(format!(
                "{}: {}",
                title.trim_end(),
                sub.get_about().map(ToString::to_string).unwrap_or_default()
            )),
            options: sub
                .get_arguments()
                .filter(|a| shown(a) && !a.is_global_set())
                .map(opt_of)
                .collect(),
        });
    }
    (synopsis, options)
}

/// The command's long about text as paragraphs (blank lines apart, lines joined).
pub fn description(cmd: &clap::Command) -> Vec<Block> {
    cmd.get_long_about()
        .map(ToString::to_string)
        .unwrap_or_default()
        .split("\n\n")
        .map(|p| Block::Para(p.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect()
}
