//! pxe-storm's manual. Its options come from the clap definition that parses the command
//! line; the sections below are what `--help` prints after them and the rest of
//! pxe-storm(1), so help and manual share one source.

use clap::CommandFactory;
use pxe_daemon::manual::OptGroup;
use pxe_daemon::{Block, Manual, Section, defs, manual_clap};

fn sections() -> Vec<Section> {
    vec![
        Section {
            title: "TEMPLATES".into(),
            blocks: vec![
                Block::Para(
                    "--config, --kernel, --answer and --tree take a template: a TFTP path on \
                     the boot server the DHCP answer named (option 66, then siaddr, then the \
                     server identifier), a tftp://HOST/path or an http:// URL, with these \
                     placeholders:"
                        .into(),
                ),
                defs(&[
                    ("{mac}", "the machine's MAC, aa:bb:cc:dd:ee:ff"),
                    (
                        "{mac_dashes}",
                        "01-aa-bb-cc-dd-ee-ff, as pxelinux names its config",
                    ),
                    ("{ip}", "the leased address"),
                    (
                        "{ip_hex}",
                        "the leased address in upper-case hex (0A4D0009)",
                    ),
                    ("{index}", "the machine's number in the storm, from 0"),
                    ("{firmware}", "bios, uefi, uefi9 or ipxe"),
                    ("{boot_server}", "the boot server's address"),
                ]),
            ],
            in_help: true,
        },
        Section {
            title: "EXAMPLES".into(),
            blocks: vec![Block::Verbatim(
                "pxe-storm -n 1000 --ramp 10 -i eth1 --bind-leased \\\n  \
                 --config bios=pxelinux.cfg/{mac_dashes} --config uefi=grub/grub.cfg \\\n  \
                 --kernel debian/vmlinuz --answer 'http://10.77.0.3:8080/answers/{mac}'"
                    .into(),
            )],
            in_help: true,
        },
        Section {
            title: "EXIT STATUS".into(),
            blocks: vec![defs(&[
                ("0", "every machine finished"),
                ("1", "some machines failed; the summary says where and why"),
                (
                    "2",
                    "the storm could not start (a bad option, port 68 taken)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "SEE ALSO".into(),
            blocks: vec![Block::Para(
                "dhcpd(8), tftpd(8), httpd-tree(8); docs/storm.md".into(),
            )],
            in_help: false,
        },
    ]
}

fn empty() -> Manual {
    Manual {
        name: "pxe-storm".into(),
        section: 1,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "simulated machines network-booting at once, with per-phase latencies".into(),
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

/// pxe-storm(1).
pub fn manual() -> Manual {
    let cmd = crate::cli::Cli::command();
    let options = cmd
        .get_arguments()
        .filter(|a| manual_clap::shown(a))
        .map(manual_clap::opt_of)
        .collect();
    Manual {
        synopsis: vec!["pxe-storm [OPTIONS]".into()],
        description: manual_clap::description(&cmd),
        options: vec![OptGroup {
            title: None,
            options,
        }],
        sections: sections(),
        ..empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_lists_every_flag_of_the_parser() {
        let page = manual().roff();
        for a in crate::cli::Cli::command()
            .get_arguments()
            .filter(|a| manual_clap::shown(a))
        {
            if let Some(l) = a.get_long() {
                let escaped = format!("\\-\\-{}", l.replace('-', "\\-"));
                assert!(page.contains(&escaped), "--{l} missing:\n{page}");
            }
        }
        assert!(page.contains("mac_dashes"), "{page}");
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        pxe_daemon::manual::assert_committed(&page, env!("CARGO_MANIFEST_DIR"), "man1/pxe-storm.1");
    }
}
