//! pxectl's manual. The options and commands come from the clap definition that parses the
//! command line; the sections below are what `--help` prints after them and the rest of
//! pxectl(1), so help and manual share one source (as the daemons' do).

use clap::CommandFactory;
use pxe_daemon::{Block, Manual, Section, defs, manual_clap};

fn sections() -> Vec<Section> {
    vec![
        Section {
            title: "EXAMPLES".into(),
            blocks: vec![Block::Verbatim(
                "export PXECTL_SERVER=http://10.77.0.3:8080 PXECTL_TOKEN_FILE=/etc/pxe-suite/admin-token\n\
                 pxectl add web02 --mac 52:54:00:12:34:57 --profile centos7-ks --address 10.77.0.52\n\
                 pxectl machines --state pending --name 'web*'\n\
                 pxectl reinstall web02\n\
                 pxectl reinstall web01 --power-cycle\n\
                 pxectl power web01 status\n\
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

/// pxectl(1).
pub fn manual() -> Manual {
    let cmd = crate::cli::Cli::command();
    let (synopsis, options) = manual_clap::subcommands(
        &cmd,
        "pxectl [--server URL] [--token-file FILE] [--json]",
        "Every command",
    );
    Manual {
        synopsis,
        description: manual_clap::description(&cmd),
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
            for a in sub.get_arguments().filter(|a| manual_clap::shown(a)) {
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
