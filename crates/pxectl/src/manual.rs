//! pxectl's manual. The options and commands come from the clap definition that parses the
//! command line; the sections below are what `--help` prints after them and the rest of
//! pxectl(1), so help and manual share one source (as the daemons' do).

use clap::CommandFactory;
use pxe_daemon::{Block, Manual, Opt, OptGroup, Section, defs};

fn sections() -> Vec<Section> {
    vec![
        Section {
            title: "EXAMPLES".into(),
            blocks: vec![Block::Verbatim(
                "export PXECTL_SERVER=http://10.77.0.3:8080 PXECTL_TOKEN_FILE=/etc/pxe-suite/admin-token\n\
                 pxectl add web02 --mac 52:54:00:12:34:57 --profile centos7-ks --address 10.77.0.52\n\
                 pxectl machines --state pending --name 'web*'\n\
                 pxectl reinstall web02\n\
                 pxectl show web02\n\
                 pxectl import-hosts /etc/dhcp/dhcpd.conf --profile centos7-ks --dry-run\n\
                 pxectl remove web02"
                    .into(),
            )],
            in_help: true,
        },
        Section {
            title: "ENVIRONMENT".into(),
            blocks: vec![defs(&[
                ("PXECTL_SERVER", "the base URL of httpd-tree (as --server)"),
                ("PXECTL_TOKEN_FILE", "the token file (as --token-file)"),
            ])],
            in_help: true,
        },
        Section {
            title: "EXIT STATUS".into(),
            blocks: vec![defs(&[
                ("0", "success"),
                (
                    "1",
                    "refused: a bad command line, or the server said no (a bad field, a \
                     conflict, a wrong token); the server's reason is printed",
                ),
                ("2", "the server could not be reached, or failed (5xx)"),
            ])],
            in_help: true,
        },
        Section {
            title: "SEE ALSO".into(),
            blocks: vec![Block::Para(
                "httpd-tree(8), dhcpd(8), tftpd(8), pxe-inventory(5); the API: docs/api.yaml"
                    .into(),
            )],
            in_help: false,
        },
    ]
}

/// The sections `--help` prints after the options.
pub fn after_help() -> String {
    Manual {
        sections: sections(),
        ..empty()
    }
    .help_sections()
}

fn empty() -> Manual {
    Manual {
        name: "pxectl".into(),
        section: 1,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "command-line client of pxe-suite's API: machines, reinstalls, timelines".into(),
        synopsis: Vec::new(),
        description: Vec::new(),
        options: Vec::new(),
        sections: Vec::new(),
    }
}

/// A clap argument as the manual lists it.
fn opt_of(a: &clap::Arg) -> Opt {
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

fn shown(a: &clap::Arg) -> bool {
    !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version")
}

/// pxectl(1).
pub fn manual() -> Manual {
    let cmd = crate::cli::Cli::command();
    let mut options = vec![OptGroup {
        title: Some("Every command".into()),
        options: cmd
            .get_arguments()
            .filter(|a| shown(a) && a.is_global_set())
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
        synopsis.push(format!(
            "pxectl [--server URL] [--token-file FILE] [--json] {} [OPTIONS]",
            title.trim_end()
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
    let description = cmd
        .get_long_about()
        .map(ToString::to_string)
        .unwrap_or_default()
        .split("\n\n")
        .map(|p| Block::Para(p.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    Manual {
        synopsis,
        description,
        options,
        sections: sections(),
        ..empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_lists_every_command_and_flag_of_the_parser() {
        let page = manual().roff();
        let cmd = crate::cli::Cli::command();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = sub.get_name().replace('-', "\\-");
            assert!(
                page.contains(&format!(".SS {name}")),
                "{name} missing:\n{page}"
            );
            for a in sub.get_arguments().filter(|a| shown(a)) {
                if let Some(l) = a.get_long() {
                    let escaped = format!("\\-\\-{}", l.replace('-', "\\-"));
                    assert!(page.contains(&escaped), "--{l} missing:\n{page}");
                }
            }
        }
        assert!(page.contains("PXECTL_TOKEN_FILE"), "{page}");
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        pxe_daemon::manual::assert_committed(&page, env!("CARGO_MANIFEST_DIR"), "man1/pxectl.1");
    }
}
