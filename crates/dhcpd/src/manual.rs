//! dhcpd's manual: the one definition behind both `dhcpd --help` and dhcpd(8).

use crate::cli::{DEFAULT_CONF, DEFAULT_LEASES, DEFAULT_PID};
use pxe_daemon::{Block, Manual, Opt, OptGroup, Section, defs};

/// The manual page, also printed (options and short sections) by `--help`.
pub fn manual() -> Manual {
    let options = vec![
        OptGroup {
            title: Some("Files".into()),
            options: vec![
                Opt::new(
                    "-cf FILE",
                    format!("configuration file in ISC dhcpd.conf syntax (default {DEFAULT_CONF})"),
                ),
                Opt::new(
                    "-lf FILE",
                    format!("lease file in ISC dhcpd.leases format (default {DEFAULT_LEASES})"),
                ),
                Opt::new("-pf FILE", format!("PID file (default {DEFAULT_PID})")),
                Opt::new("--no-pid", "do not write a PID file"),
            ],
        },
        OptGroup {
            title: Some("Running".into()),
            options: vec![
                Opt::new(
                    "-f",
                    "run in the foreground instead of as a daemon (under systemd)",
                ),
                Opt::new(
                    "-d",
                    "run in the foreground and log to standard error as well",
                ),
                Opt::new("-q", "do not print the banner and file names at start-up"),
                Opt::new(
                    "-t",
                    "test the configuration file: parse it, report errors as ISC dhcpd does, \
                     exit 0 (valid) or 1",
                ),
                Opt::new("-T", "test the configuration and the lease file, then exit"),
                Opt::new("-4", "DHCPv4 (the default)"),
                Opt::new(
                    "-6",
                    "DHCPv6, as ISC's second process: reads dhcpd6.conf (subnet6, range6, \
                     hosts by dhcp6.client-id with fixed-address6, dhcp6.bootfile-url) and \
                     writes dhcpd6.leases; takes -cf, -lf, -pf, --no-pid, -f, -d, -q, -t, -p, \
                     the interfaces, and --inventory and --state-dir: an inventory machine \
                     (known by the MAC in its DUID-LL or DUID-LLT, else in its link-local \
                     address) gets its boot plan as dhcp6.bootfile-url (a loader as \
                     tftp://[servers.tftp6]/FILE, HTTP boot and iPXE as http URLs), and the \
                     address bound to it is recorded so that httpd-tree and tftpd hand its \
                     own files to that address; the inventory is watched as with -4",
                ),
                Opt::new(
                    "-p PORT",
                    "listen on UDP PORT instead of 67 (replies go to PORT+1)",
                ),
                Opt::new(
                    "-s SERVER",
                    "send replies to SERVER instead of the client (testing)",
                ),
                Opt::new(
                    "-user USER",
                    "drop privileges to USER after opening sockets",
                ),
                Opt::new(
                    "-group GROUP",
                    "drop privileges to GROUP after opening sockets",
                ),
                Opt::new(
                    "-chroot DIR",
                    "accepted and ignored: use systemd's RootDirectory= or a container instead",
                ),
                Opt::new(
                    "-tf FILE",
                    "record a trace of the session to FILE (accepted, not implemented)",
                ),
                Opt::new(
                    "-play FILE",
                    "replay a trace from FILE (accepted, not implemented)",
                ),
                Opt::new(
                    "if0 ... ifN",
                    "interfaces to listen on (default: every interface with a matching subnet)",
                ),
            ],
        },
        OptGroup {
            title: Some("pxe-suite".into()),
            options: vec![
                Opt::new(
                    "--inventory FILE",
                    "also read machines, profiles and boot plans from a pxe-suite inventory \
                     (pxe-inventory(5)): listed machines get their address and boot file",
                ),
                Opt::new(
                    "--state-dir DIR",
                    "directory for pxe-suite state (install progress per machine), shared \
                     with tftpd and httpd-tree; dhcpd writes the address it acknowledged to \
                     each inventory machine in acked/ and boot events in events/ (the \
                     packaged unit runs it as pxe-dhcpd with the group pxe-state)",
                ),
                Opt::new(
                    "--metrics-file FILE",
                    "write counters in the Prometheus text format to FILE every 5 s",
                ),
                Opt::new(
                    "--database URL",
                    "keep leases (and OMAPI hosts) in this PostgreSQL database instead of the \
                     lease file, shared with every dhcpd that names it (also PXE_DATABASE_URL; \
                     a libpq URL such as postgresql://pxe@db/pxe?sslmode=verify-full&\
                     sslrootcert=/etc/ssl/db-ca.pem, or a key=value string). The schema is \
                     made or migrated at start; no ACK leaves before its lease is committed; \
                     while the database is unreachable nothing is acknowledged and the server \
                     waits for it. With --inventory and no --state-dir, the inventory \
                     machines' boot events and acknowledged addresses are written there too, \
                     and their install states are read from a copy refreshed every second",
                ),
                Opt::new(
                    "--import-leases",
                    "with --database: copy the lease file (-lf) into the database at start \
                     (addresses it does not hold yet, and the OMAPI records when it has none)",
                ),
                Opt::new(
                    "--proxy",
                    "proxyDHCP: answer PXE clients (vendor class PXEClient) with boot \
                     information only, beside a site DHCP server that gives the addresses. A \
                     DHCPDISCOVER gets an offer without an address (the boot file, \
                     next-server, server identifier, option 60 PXEClient, and option 43 when \
                     configured); a DHCPREQUEST to the PXE boot server port, UDP 4011, gets a \
                     DHCPACK with the same. Other clients are ignored without a log line and \
                     no lease is ever made. The boot file comes from dhcpd.conf (subnet, \
                     class and host scopes; subnets need no range) and the inventory",
                ),
                Opt::new("--version", "print the version and exit"),
                Opt::new("--help, -h", "print this help and exit"),
            ],
        },
    ];
    let sections = vec![
        Section {
            title: "SIGNALS".into(),
            blocks: vec![defs(&[
                (
                    "SIGHUP",
                    "re-read the configuration (and the inventory) without restarting; a file \
                     with errors is refused, logged, and the running configuration keeps \
                     serving. The inventory file and its machines_dir, profiles_dir and \
                     distros_dir are also watched: a change there reloads them with no signal",
                ),
                (
                    "SIGTERM, SIGINT",
                    "finish the lease writes in progress, remove the PID file, exit",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "ENVIRONMENT".into(),
            blocks: vec![defs(&[
                ("PXE_LOG, RUST_LOG", "log level or filter (default info)"),
                (
                    "PXE_LOG_FORMAT",
                    "text, journal or json for lines on standard error (default: journal when \
                     standard error is the systemd journal, else text); with json no syslog \
                     copy is sent. Journal and JSON lines carry each exchange's fields (iface, \
                     xid, mac, client_id, message_type, reason, address); text and syslog \
                     lines are ISC's words alone",
                ),
                (
                    "DHCPD_SYSLOG_SOCKET",
                    "the syslog socket lines are sent to (default /dev/log), in the facility \
                     log-facility names (default daemon)",
                ),
                (
                    "NOTIFY_SOCKET, WATCHDOG_USEC",
                    "set by systemd: READY=1 is sent once the sockets are bound, RELOADING=1 \
                     around a SIGHUP reload, WATCHDOG=1 at half the watchdog interval while the \
                     lease committer makes progress (a stuck disk stops the pings)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "LIMITS".into(),
            blocks: vec![defs(&[
                (
                    "flood limit",
                    "a client (by hardware address) sending more than 20 requests in one second \
                     is ignored for 60 seconds, with one log line; set in dhcpd.conf with \
                     option pxe-suite.flood-limit N (0: off) and option pxe-suite.flood-hold S \
                     at the global scope",
                ),
                (
                    "execute()",
                    "programs that on commit, on release and on expiry run with execute() wait \
                     in a queue of 64 (a full queue drops one, logged) for one worker, run \
                     after the lease is on disk, and are killed with their process group after \
                     30 seconds (option pxe-suite.execute-timeout S); the first 4096 bytes of \
                     their output are logged (option pxe-suite.execute-output N)",
                ),
                (
                    "DHCPDECLINE",
                    "honoured only from the lease's owner, for the address it holds or was just \
                     offered, once per client per minute; others are logged and ignored",
                ),
                (
                    "relay selection",
                    "option 82 sub-option 5 and option 118 count only on relayed packets; \
                     packets on an interface without a subnet declaration are ignored",
                ),
                (
                    "configuration depth",
                    "scopes and expressions nest at most 100 deep; a recursive function is an \
                     error at -t with its line",
                ),
                (
                    "lease commits",
                    "at most 64 bursts wait for the disk; more are dropped (their clients \
                     retransmit) and counted; no ACK leaves before its lease is synced",
                ),
            ])],
            in_help: false,
        },
        Section {
            title: "EXIT STATUS".into(),
            blocks: vec![defs(&[
                ("0", "success (or -t/-T found no error)"),
                (
                    "1",
                    "the command line, the configuration or the lease file is invalid",
                ),
                (
                    "2",
                    "a runtime failure (a socket cannot be bound, a write fails)",
                ),
            ])],
            in_help: true,
        },
        Section {
            title: "FILES".into(),
            blocks: vec![defs(&[
                (DEFAULT_CONF, "the configuration"),
                (
                    DEFAULT_LEASES,
                    "the lease database (RHEL: /var/lib/dhcpd/dhcpd.leases)",
                ),
                (DEFAULT_PID, "the PID file"),
                (
                    "/etc/pxe-suite/inventory.yaml",
                    "the inventory, with --inventory",
                ),
                ("/lib/systemd/system/dhcpd.service", "the systemd unit"),
            ])],
            in_help: false,
        },
        Section {
            title: "SEE ALSO".into(),
            blocks: vec![Block::Para(
                "dhcpd.conf(5), dhcpd.leases(5), pxe-inventory(5), tftpd(8), httpd-tree(8)".into(),
            )],
            in_help: false,
        },
    ];
    Manual {
        name: "dhcpd".into(),
        section: 8,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "DHCP server for PXE networks, a drop-in replacement for ISC dhcpd".into(),
        synopsis: crate::cli::USAGE
            .lines()
            .enumerate()
            .map(|(i, l)| match i {
                0 => l.trim_start_matches("Usage: ").to_string(),
                _ => l.get(7..).unwrap_or(l).to_string(),
            })
            .collect(),
        description: vec![
            Block::Para(
                "dhcpd reads ISC dhcpd's dhcpd.conf and dhcpd.leases as they are and \
                     answers DHCPv4 and BOOTP clients as ISC dhcpd 4.4 would: the same \
                     declarations, conditionals, classes and options, the same allocation and \
                     the same reply layout. PXE clients get an address, next-server and a boot \
                     file per firmware (BIOS, UEFI, UEFI HTTP boot, iPXE)."
                    .into(),
            ),
            Block::Para(
                "Every lease is on disk before its DHCPACK leaves: lease changes are \
                     appended to the lease file in groups, each group made durable with one \
                     fdatasync, then its replies are sent. The file is rewritten (compacted) \
                     at start and periodically, keeping the previous one as dhcpd.leases~."
                    .into(),
            ),
            Block::Para(
                "Log lines are ISC's (DHCPDISCOVER from ... via ...), sent to syslog with \
                     the daemon facility; with -d also to standard error."
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

    /// Every flag the manual documents is one the parser takes, with a value exactly when
    /// the manual shows one.
    #[test]
    fn documented_flags_parse() {
        let value = |flag: &str| {
            if flag == "-p" {
                "6767".into()
            } else {
                "x".into()
            }
        };
        for argv in manual().flag_invocations(value) {
            let parsed = crate::cli::parse(&argv);
            match argv[0].as_str() {
                // -6 goes to the DHCPv6 process before the DHCPv4 command line is read.
                "-6" => assert!(crate::v6::args::parse(&argv).is_ok(), "{argv:?}"),
                _ => assert!(parsed.is_ok(), "{argv:?}: {parsed:?}"),
            }
            if argv.len() == 2 {
                let missing = crate::cli::parse(&argv[..1]);
                assert!(missing.is_err(), "{} without its value must fail", argv[0]);
            }
        }
    }

    #[test]
    fn help_shows_the_synopsis_and_sections() {
        let h = crate::cli::help_text();
        assert!(h.contains("Usage: dhcpd [-p <UDP port #>]"), "{h}");
        assert!(h.contains("  -cf FILE"), "{h}");
        assert!(h.contains("Signals:\n  SIGHUP"), "{h}");
        assert!(h.contains("Exit status:"), "{h}");
        let man = manual().roff();
        assert!(man.contains(".SH DESCRIPTION\n"), "{man}");
        assert!(man.contains(".B \\-cf FILE\n"), "{man}");
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        pxe_daemon::manual::assert_committed(&page, env!("CARGO_MANIFEST_DIR"), "man8/dhcpd.8");
    }
}
