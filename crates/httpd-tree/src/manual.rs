//! httpd-tree's manual. The options come from the clap definition that parses the command
//! line; the sections below are the text `--help` prints after the options (clap's
//! `after_help`) and the rest of httpd-tree(8), so help and manual share one source.

use clap::CommandFactory;
use pxe_daemon::{Block, Manual, Opt, OptGroup, Section, defs};

fn sections() -> Vec<Section> {
    vec![
        Section {
            title: "ROUTES".into(),
            blocks: vec![
                Block::Para("With --inventory:".into()),
                defs(&[
                    (
                        "/trees/<distro>/...",
                        "each distro's install tree (a directory or a mounted ISO)",
                    ),
                    (
                        "/ks/<mac>, /preseed/<mac>",
                        "answer files (a MAC in any spelling, or the machine's name); \
                         only to the machine (see ACCESS)",
                    ),
                    (
                        "/autoinstall/<mac>/user-data",
                        "Ubuntu autoinstall (also meta-data and vendor-data)",
                    ),
                    (
                        "/profiles/<profile>/answer",
                        "a profile's answer file, for menu entries (no callback)",
                    ),
                    (
                        "/boot/<mac>.ipxe, /boot.ipxe",
                        "iPXE scripts; grub.cfg and pxelinux.cfg/ names anywhere",
                    ),
                    (
                        "/loaders/<file>",
                        "boot loaders for UEFI HTTP boot (--loaders)",
                    ),
                    (
                        "/api/v1/machines[/<mac>]",
                        "machines, install state and boot timeline as JSON (the admin or \
                         the read-only token, as 'Authorization: Bearer <token>')",
                    ),
                    (
                        "POST /api/v1/machines/<mac>/installed",
                        "the installer's callback (the machine's token of its current \
                         install, as 'Authorization: Bearer <token>'; never in the URL)",
                    ),
                    (
                        "POST /api/v1/machines/<mac>/reinstall",
                        "back to install (the admin token)",
                    ),
                    (
                        "POST /api/v1/machines, PUT and DELETE /api/v1/machines/<name>",
                        "add, replace and remove machines (the admin token; a JSON body \
                         {name, mac, profile, address, hostname, uuid, netboot}): files of the \
                         inventory's machines_dir, served at once; a bad field gets 400, 422 \
                         or 409 with {error, field}. Documented in docs/api.yaml; pxectl(1) \
                         is its client",
                    ),
                    (
                        "/api/v1/profiles, /api/v1/distros",
                        "the profiles and distros as JSON (either token); POST adds one, PUT \
                         and DELETE /api/v1/profiles/<name> (or distros) replace and remove \
                         it (the admin token): files of profiles_dir and distros_dir, \
                         refused with 409 or 422 when the inventory would not load, or would \
                         leave out something loaded now",
                    ),
                    (
                        "/status",
                        "the install status page: counts only, unless --public-status or \
                         a token",
                    ),
                    ("/metrics", "Prometheus metrics (always served)"),
                ]),
                Block::Para("With --root, other paths are files under that directory.".into()),
            ],
            in_help: true,
        },
        Section {
            title: "ACCESS".into(),
            blocks: vec![
                Block::Para(
                    "A machine's own files (its answer files, /boot/<mac>.ipxe, \
                     pxelinux.cfg/01-<mac> and grub.cfg-01-<mac>) carry its callback token \
                     and secrets, so they go only to a client whose address is the \
                     machine's: its fixed address in the inventory, or the address dhcpd \
                     last acknowledged to one of its MACs (dhcpd records it in the shared \
                     --state-dir). Anyone else gets 403, a warning naming the machine and \
                     the address, and a 'refused' entry on the machine's timeline. Trees, \
                     loaders, menus and profile answer files are for anyone. Behind a proxy \
                     or NAT, list it in the inventory's servers.trusted_proxies: its \
                     X-Forwarded-For then names the client (pxe-inventory(5))."
                        .into(),
                ),
                Block::Para(
                    "A machine's callback token is bound to its install generation: a \
                     reinstall issues a new one, and a token that was used, is stale or \
                     belongs to an installed machine gets 401. Tokens are taken only from \
                     the Authorization header; a ?token= in the URL is refused (and \
                     redacted in every log). The token secret (<state-dir>/secret, created \
                     with 32 random bytes, mode 0600: in the packaged layout only \
                     httpd-tree's user pxe-httpd can read it) is refused when shorter than \
                     32 bytes."
                        .into(),
                ),
            ],
            in_help: true,
        },
        Section {
            title: "SIGNALS".into(),
            blocks: vec![defs(&[
                (
                    "SIGTERM, SIGINT",
                    "stop; open responses get --shutdown-grace seconds",
                ),
                (
                    "SIGHUP",
                    "reload the inventory and the admin token, reopen the --access-log file \
                     (for logrotate); the inventory file and its machines_dir, \
                     profiles_dir and distros_dir are also watched, and a change there \
                     reloads them with no signal",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "ENVIRONMENT".into(),
            blocks: vec![defs(&[
                (
                    "PXE_LOG, RUST_LOG",
                    "log level or filter (for example PXE_LOG=debug); -v and -q shift the default",
                ),
                (
                    "PXE_LOG_FORMAT",
                    "text, journal or json (default: journal when standard error is the \
                     systemd journal, else text)",
                ),
                (
                    "NOTIFY_SOCKET, WATCHDOG_USEC",
                    "set by systemd: READY=1 once the listeners are bound, RELOADING=1 around a \
                     SIGHUP reload, WATCHDOG=1 at half the watchdog interval",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "EXIT STATUS".into(),
            blocks: vec![defs(&[
                ("0", "success"),
                ("1", "the configuration is invalid"),
                ("2", "a runtime failure"),
            ])],
            in_help: true,
        },
        Section {
            title: "FILES".into(),
            blocks: vec![defs(&[
                (
                    "/etc/pxe-suite/inventory.yaml",
                    "the inventory (pxe-inventory(5))",
                ),
                (
                    "/var/lib/pxe-suite",
                    "the install state shared with dhcpd and tftpd",
                ),
                ("/lib/systemd/system/httpd-tree.service", "the systemd unit"),
            ])],
            in_help: false,
        },
        Section {
            title: "SEE ALSO".into(),
            blocks: vec![Block::Para("pxe-inventory(5), dhcpd(8), tftpd(8)".into())],
            in_help: false,
        },
    ]
}

/// The text `--help` prints after the options.
pub fn after_help() -> String {
    Manual {
        sections: sections(),
        ..empty()
    }
    .help_sections()
}

fn empty() -> Manual {
    Manual {
        name: "httpd-tree".into(),
        section: 8,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "HTTP server for network installs: trees, answer files, boot scripts, \
                  install state"
            .into(),
        synopsis: Vec::new(),
        description: Vec::new(),
        options: Vec::new(),
        sections: Vec::new(),
    }
}

/// The options of a clap command, as the manual lists them.
fn options_of(cmd: &clap::Command) -> Vec<Opt> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .map(|a| {
            let mut names = Vec::new();
            if let Some(s) = a.get_short() {
                names.push(format!("-{s}"));
            }
            if let Some(l) = a.get_long() {
                names.push(format!("--{l}"));
            }
            let mut flags = names.join(", ");
            let takes_value = a.get_action().takes_values();
            if takes_value {
                let value = a
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map_or_else(|| "VALUE".to_string(), ToString::to_string);
                flags = format!("{flags} {value}");
            }
            let mut help = a.get_help().map(ToString::to_string).unwrap_or_default();
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if takes_value && !defaults.is_empty() {
                help = format!(
                    "{} (default {})",
                    help.trim_end_matches('.'),
                    defaults.join(", ")
                );
            }
            Opt::new(flags, help)
        })
        .collect()
}

/// httpd-tree(8).
pub fn manual() -> Manual {
    let cmd = crate::cli::Cli::command();
    let mut options = vec![OptGroup {
        title: Some("Serving".into()),
        options: options_of(&cmd),
    }];
    let mut synopsis = vec!["httpd-tree [OPTIONS]".to_string()];
    for sub in cmd.get_subcommands() {
        let positional: Vec<String> = sub
            .get_positionals()
            .map(|p| p.get_id().as_str().to_uppercase())
            .collect();
        let title = format!("{} {}", sub.get_name(), positional.join(" "));
        synopsis.push(format!("httpd-tree {title} [OPTIONS]"));
        let mut opts: Vec<Opt> = sub
            .get_positionals()
            .map(|p| {
                Opt::new(
                    p.get_id().as_str().to_uppercase(),
                    p.get_help().map(ToString::to_string).unwrap_or_default(),
                )
            })
            .collect();
        opts.extend(options_of(sub));
        options.push(OptGroup {
            title: Some(format!(
                "{}: {}",
                title.trim_end(),
                sub.get_about().map(ToString::to_string).unwrap_or_default()
            )),
            options: opts,
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
    fn manual_lists_every_flag_of_the_parser() {
        let page = manual().roff();
        let cmd = crate::cli::Cli::command();
        let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
        for c in std::iter::once(&cmd).chain(subs) {
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(l) = a.get_long() {
                    let escaped = format!("\\-\\-{}", l.replace('-', "\\-"));
                    assert!(page.contains(&escaped), "--{l} missing:\n{page}");
                }
            }
        }
        assert!(page.contains(".B \\-\\-listen ADDR:PORT\n"), "{page}");
        assert!(page.contains("(default 0.0.0.0:80)"), "{page}");
        assert!(
            page.contains(".SS import PATH: Read an install tree"),
            "{page}"
        );
        assert!(
            page.contains(".SH DESCRIPTION\npxe\\-suite httpd\\-tree: the HTTP server"),
            "{page}"
        );
        assert!(page.contains(".PP\nServes install trees"), "{page}");
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        pxe_daemon::manual::assert_committed(
            &page,
            env!("CARGO_MANIFEST_DIR"),
            "man8/httpd-tree.8",
        );
    }
}
