//! pxe-db(8), from the clap definition that parses its command line ([`crate::cli`]) and
//! the sections below, which `--help` also prints.

use clap::CommandFactory;
use pxe_daemon::{Block, Manual, Section, defs, manual_clap};

fn sections() -> Vec<Section> {
    vec![
        Section {
            title: "EXAMPLES".into(),
            blocks: vec![Block::Verbatim(
                "PXE_DATABASE_URL='postgresql://pxe@db.lab/pxe?sslmode=verify-full&sslrootcert=/etc/ssl/lab-ca.pem' \\\n  \
                 PGPASSWORD=... pxe-db status\n\
                 pxe-db --database 'host=/run/postgresql dbname=pxe' migrate"
                    .into(),
            )],
            in_help: true,
        },
        Section {
            title: "ENVIRONMENT".into(),
            blocks: vec![defs(&[
                ("PXE_DATABASE_URL", "the database, when --database is not given"),
                (
                    "PGPASSWORD",
                    "the password, when the URL has none (never printed: logs mask it)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "EXIT STATUS".into(),
            blocks: vec![defs(&[
                ("0", "success; for status, the schema is current"),
                ("1", "the database could not be reached, or a step failed"),
                ("3", "status: steps are pending (pxe-db migrate, or start a daemon)"),
                (
                    "4",
                    "status: the database is newer than this binary (the daemons refuse it too)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "SEE ALSO".into(),
            blocks: vec![Block::Para(
                "dhcpd(8) (--database, --import-leases); docs/deployment.md, Beyond one host".into(),
            )],
            in_help: false,
        },
    ]
}

fn empty() -> Manual {
    Manual {
        name: "pxe-db".into(),
        section: 8,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "the schema of pxe-suite's shared PostgreSQL database: status and migrations"
            .into(),
        synopsis: Vec::new(),
        description: Vec::new(),
        options: Vec::new(),
        sections: Vec::new(),
    }
}

/// The sections `--help` prints after the options.
pub fn after_help() -> String {
    Manual {
        sections: sections(),
        ..empty()
    }
    .help_sections()
}

/// pxe-db(8).
pub fn manual() -> Manual {
    let cmd = crate::cli::Cli::command();
    let (synopsis, options) =
        manual_clap::subcommands(&cmd, "pxe-db [--database URL]", "Every command");
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
    fn manual_lists_every_command_and_the_exit_codes_status_uses() {
        let page = manual().roff();
        for sub in ["status", "migrate"] {
            assert!(
                page.contains(&format!(".SS {sub}")),
                "{sub} missing:\n{page}"
            );
        }
        assert!(page.contains("\\-\\-database"), "{page}");
        assert!(page.contains("PXE_DATABASE_URL"), "{page}");
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        pxe_daemon::manual::assert_committed(&page, env!("CARGO_MANIFEST_DIR"), "man8/pxe-db.8");
    }
}
