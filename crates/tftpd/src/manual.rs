//! tftpd's manual: the one definition behind both `tftpd --help` and tftpd(8).

use pxe_daemon::{Block, Manual, Opt, OptGroup, Section, defs};

fn group(title: &str, options: &[(&str, &str)]) -> OptGroup {
    OptGroup {
        title: Some(title.into()),
        options: options.iter().map(|(f, h)| Opt::new(*f, *h)).collect(),
    }
}

/// The manual page, also printed (options and short sections) by `--help`.
pub fn manual() -> Manual {
    let options = vec![
        group(
            "Modes",
            &[
                (
                    "-l, --listen",
                    "standalone: bind the address of -a and serve (detaches)",
                ),
                (
                    "-L, --foreground",
                    "standalone without detaching (implies -l)",
                ),
                (
                    "(neither)",
                    "inetd mode: the UDP socket is standard input (xinetd wait=yes, systemd \
                     StandardInput=socket) or a systemd socket (LISTEN_FDS)",
                ),
                (
                    "-a, --address [ADDR][:PORT]",
                    "address and port to listen on (default all addresses, port 69; IPv6 \
                     addresses in brackets)",
                ),
                ("-4, --ipv4", "IPv4 only"),
                ("-6, --ipv6", "IPv6 only"),
                (
                    "-t, --timeout SECONDS",
                    "inetd mode: exit after this long without a request (default 900)",
                ),
                (
                    "-P, --pidfile FILE",
                    "standalone: write the process id here, removed on exit",
                ),
            ],
        ),
        group(
            "Files",
            &[
                (
                    "directory...",
                    "root directories; without -s a request must be an absolute path under one \
                     of them",
                ),
                (
                    "-s, --secure",
                    "names are relative to the one root directory (a leading / is ignored); \
                     nothing outside it is reachable",
                ),
                (
                    "-c, --create",
                    "let uploads create new files (otherwise only existing world-writable files \
                     can be written)",
                ),
                (
                    "-p, --permissive",
                    "no world-readable / world-writable checks beyond the system's",
                ),
                (
                    "-U, --umask UMASK",
                    "umask (octal) for created files (default 0, or inherited with -p)",
                ),
                (
                    "-m, --map-file FILE",
                    "filename remapping rules (tftpd-hpa syntax); re-read on SIGHUP",
                ),
                (
                    "-u, --user USER",
                    "run as this user after binding and opening the root directories (default \
                     nobody; only when started as root). As with tftpd-hpa's chroot, the roots \
                     are served beneath the directories opened before, so the user needs no \
                     access to their parents",
                ),
            ],
        ),
        group(
            "Protocol",
            &[
                (
                    "-B, --blocksize MAX",
                    "largest block size granted (512 to 65464)",
                ),
                (
                    "-r, --refuse OPTION",
                    "never accept this RFC 2347 option (repeatable)",
                ),
                (
                    "-T, --retransmit USEC",
                    "retransmit timeout in microseconds (default 1000000)",
                ),
                (
                    "-R, --port-range LO:HI",
                    "take transfer ports from this range",
                ),
            ],
        ),
        group(
            "Logging",
            &[
                (
                    "-v, --verbose",
                    "more logging (repeatable); RUST_LOG overrides",
                ),
                ("--verbosity N", "set the verbosity to N"),
            ],
        ),
        group(
            "pxe-suite additions",
            &[
                (
                    "--inventory FILE",
                    "pxe-suite inventory (pxe-inventory(5)): pxelinux.cfg/*, grub.cfg*, *.ipxe \
                     are rendered per machine on each request, trees/<distro>/* is served from \
                     the distro's tree directory; a file on disk under the root wins. A \
                     machine's own files go only to its address (see MACHINE FILES). Re-read \
                     on SIGHUP and whenever it or its machines_dir, profiles_dir or \
                     distros_dir changes on disk (a bad file is refused and the old one \
                     stays); it must stay readable by the -u user",
                ),
                (
                    "--state-dir DIR",
                    "install state of the machines (pxe-suite state directory; its menus boot \
                     from disk once installed), the address dhcpd last acknowledged to each \
                     machine, and where each served or refused file is recorded as a boot \
                     event; the -u user must be able to read machines/ and acked/ and write \
                     events/ (pxe-tftpd, whose group is pxe-state, in the packaged layout; \
                     tftpd keeps only the user's primary group). Without it, a machine's own \
                     files go only to its fixed address. Like the root directories it is \
                     opened before privileges are dropped, so its parent need not be \
                     searchable by that user",
                ),
                (
                    "--database URL",
                    "install state, acknowledged addresses and boot events in PostgreSQL, \
                     shared with every httpd-tree and dhcpd that names it, instead of \
                     --state-dir (a libpq URL or key=value string; else PXE_DATABASE_URL). \
                     The schema is migrated at start; the connection is opened before \
                     privileges are dropped, and opened again (as the -u user) when it breaks",
                ),
                (
                    "--max-transfers N",
                    "concurrent transfers at most (default 20000: 10,000 machines at once, each \
                     of which may hold two for a moment); a request beyond is \
                     refused with ERROR 0 \"Server busy, try again\"",
                ),
                (
                    "--transfer-threads N",
                    "up to N transfers at once run on a thread each, the fastest way to move \
                     a few (default 64); the transfers beyond run on event loops, one per CPU, \
                     at a few KiB each, so that thousands at once cost little memory. 0 puts \
                     every download on the loops; uploads always get a thread",
                ),
                (
                    "--max-per-client N",
                    "concurrent transfers at most from one client address (default 8); a \
                     request beyond is refused with ERROR 0 \"Server busy, try again\"",
                ),
                (
                    "--max-timeout SECONDS",
                    "the longest timeout option granted (default 10, 1 to 255); a longer one \
                     is left out of the OACK and the -T retransmit timeout applies. Retries \
                     are cut so that retries x timeout stays within 60 seconds",
                ),
                (
                    "--max-window BLOCKS",
                    "the largest windowsize option granted (default 64, at most 65535); a \
                     window also never holds more than 4 MiB",
                ),
                (
                    "--min-rate BYTES",
                    "a transfer that moves fewer than this many bytes per second over a 30 \
                     second span is dropped with an ERROR and a log line (default 1024; 0: \
                     never)",
                ),
                (
                    "--max-duration SECONDS",
                    "a transfer still running after this long is dropped with an ERROR and a \
                     log line (default 3600; 0: no limit)",
                ),
                (
                    "--busy-poll MICROSECONDS",
                    "while a transfer runs alone and its client answers from another CPU, poll \
                     this long for each answer before sleeping, as long as that catches most \
                     answers (default 200, at most 1000; 0: never). Costs CPU only while it \
                     pays; see docs/performance.md",
                ),
                (
                    "--check",
                    "validate the configuration (roots, map file, inventory) and exit",
                ),
                ("-V, --version", "print the version and exit"),
                ("-h, --help", "print this help"),
            ],
        ),
    ];
    let sections = vec![
        Section {
            title: "MACHINE FILES".into(),
            blocks: vec![
                Block::Para(
                    "A machine's own files, the per-MAC pxelinux and GRUB configs and its iPXE \
                     script (by MAC, UUID, hex address or name), go only to a client whose \
                     address is the machine's: its fixed address in the inventory, or the \
                     address dhcpd last acknowledged to one of its MACs, read from \
                     --state-dir for each such request. Anyone else gets ERROR 2 \"File is \
                     only for its machine's address\", a warning naming the machine, the \
                     file and the client (per-machine file refused: ...), and a refused \
                     entry on the machine's timeline, which httpd-tree's status page shows. \
                     When the acknowledged address cannot be read (no --state-dir, or a \
                     state directory that cannot be read) the request is refused unless the \
                     fixed address matches."
                        .into(),
                ),
                Block::Para(
                    "Menus and root files (pxelinux.cfg/default, grub.cfg, the menus of \
                     unknown MACs, boot.ipxe), trees and files on disk go to anyone. \
                     Installers behind a NAT reach tftpd from the gateway's address: list it \
                     in the inventory's servers.tftp_nat_gateways and its requests get every \
                     machine's files."
                        .into(),
                ),
            ],
            in_help: true,
        },
        Section {
            title: "SIGNALS".into(),
            blocks: vec![defs(&[
                (
                    "SIGHUP",
                    "re-read the inventory and the -m map file; a file with errors is refused \
                     and the old one keeps serving (the inventory is also re-read when it \
                     changes on disk, with no signal)",
                ),
                ("SIGTERM, SIGINT", "stop; transfers in progress end"),
            ])],
            in_help: true,
        },
        Section {
            title: "ENVIRONMENT".into(),
            blocks: vec![defs(&[
                ("PXE_LOG, RUST_LOG", "log level or filter, overrides -v"),
                (
                    "PXE_LOG_FORMAT",
                    "text, journal or json (default: journal when standard error is the \
                     systemd journal, else text)",
                ),
                (
                    "LISTEN_FDS, LISTEN_PID",
                    "set by systemd socket activation: the socket to serve",
                ),
                (
                    "NOTIFY_SOCKET, WATCHDOG_USEC",
                    "set by systemd: READY=1 once the socket is bound or inherited, WATCHDOG=1 \
                     at half the watchdog interval",
                ),
                (
                    "TFTPD_SYSLOG_SOCKET",
                    "the syslog socket used in inetd mode (default /dev/log)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "EXIT STATUS".into(),
            blocks: vec![defs(&[
                (
                    "0",
                    "success (an inetd-mode server also exits 0 after its idle timeout)",
                ),
                ("1", "the command line or the configuration is invalid"),
                (
                    "2",
                    "a runtime failure (the socket cannot be bound or used)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "FILES".into(),
            blocks: vec![defs(&[
                (
                    "/srv/tftp",
                    "the usual root directory (Debian); /tftpboot under xinetd",
                ),
                (
                    "/lib/systemd/system/tftpd.socket, tftpd.service",
                    "socket activation",
                ),
                (
                    "/lib/systemd/system/tftpd-standalone.service",
                    "standalone service",
                ),
                ("/etc/xinetd.d/tftp", "the xinetd stanza"),
            ])],
            in_help: false,
        },
        Section {
            title: "SEE ALSO".into(),
            blocks: vec![Block::Para(
                "in.tftpd(8), xinetd.conf(5), systemd.socket(5), pxe-inventory(5), dhcpd(8), \
                 httpd-tree(8)"
                    .into(),
            )],
            in_help: false,
        },
    ];
    Manual {
        name: "tftpd".into(),
        section: 8,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "TFTP server for network boots, a drop-in replacement for tftpd-hpa".into(),
        synopsis: vec!["tftpd [options] directory...".into()],
        description: vec![
            Block::Para(crate::ABOUT.into()),
            Block::Para(
                "It takes tftpd-hpa's command line and remap files and runs the same three \
                 ways: under xinetd or a systemd socket (inetd mode, the socket inherited), or \
                 standalone with -l / -L. It implements RFC 1350 with the blksize, tsize, \
                 timeout and windowsize options (RFC 2347, 2348, 2349, 7440), netascii, and \
                 uploads under tftpd-hpa's rules."
                    .into(),
            ),
            Block::Para(
                "No client can hold what others need: requests over 512 bytes or with more \
                 than 16 options are refused with ERROR 4 and a log line; the timeout and \
                 windowsize options are capped (--max-timeout, --max-window), retries x \
                 timeout is bounded, one address runs at most --max-per-client transfers at \
                 once, and a transfer slower than --min-rate or longer than --max-duration is \
                 dropped."
                    .into(),
            ),
            Block::Para(
                "Each transfer runs on its own thread with its own socket, connected to the \
                 client (strangers writing to that port still get ERROR 5). While at most \
                 one transfer per two CPUs is running, the transfer thread follows the CPU \
                 the client's packets arrive on (SO_INCOMING_CPU, sched_setaffinity), so the \
                 two wake each other on one CPU in a lockstep transfer; in a boot storm \
                 nothing is pinned."
                    .into(),
            ),
            Block::Para(
                "With --inventory it also serves per-machine boot menus computed from the \
                 inventory on each request, so there is nothing to regenerate when a machine \
                 is added or has installed; a machine's own menu goes only to that machine."
                    .into(),
            ),
        ],
        options,
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every documented flag parses, with a value exactly when the manual shows one.
    #[test]
    fn documented_flags_parse() {
        let value = |flag: &str| {
            match flag {
                "-a" | "--address" => "127.0.0.1:6969",
                "-U" | "--umask" => "022",
                "-B" | "--blocksize" => "1468",
                "-T" | "--retransmit" => "500000",
                "-R" | "--port-range" => "7000:7100",
                "-t" | "--timeout" | "--verbosity" | "--max-transfers" | "--busy-poll"
                | "--transfer-threads" | "--max-per-client" | "--max-timeout" | "--max-window"
                | "--min-rate" | "--max-duration" => "5",
                _ => "x",
            }
            .to_string()
        };
        for mut argv in manual().flag_invocations(value) {
            if argv[0] == "--state-dir" {
                argv.extend(["--inventory".into(), "inv.yaml".into()]);
            }
            argv.push("/srv/tftp".into());
            let parsed = crate::cli::parse(argv.clone());
            assert!(parsed.is_ok(), "{argv:?}: {parsed:?}");
        }
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        pxe_daemon::manual::assert_committed(&page, env!("CARGO_MANIFEST_DIR"), "man8/tftpd.8");
    }
}
