//! The command line: the server's flags, `--check`, and the `import` subcommand.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// pxe-suite httpd-tree: the HTTP server of a network-install suite.
///
/// Serves install trees, answer files rendered for each machine (kickstart, preseed,
/// autoinstall), iPXE scripts and GRUB configs, an API with the installer's
/// "installed" callback (so a machine that has installed boots from disk next time),
/// a status page and Prometheus metrics. With only --root, it is a plain static file
/// server with ranges, conditional requests and directory listings.
#[derive(Debug, Parser)]
#[command(name = "httpd-tree", version, after_help = crate::manual::after_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (repeat for several; port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:80")]
    pub listen: Vec<SocketAddr>,
    /// The inventory (distros, profiles, machines), as for dhcpd and tftpd.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Install state directory shared with dhcpd and tftpd (with --inventory, this or
    /// --database).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Install state (and the callback tokens' key) in PostgreSQL, shared by every
    /// httpd-tree, tftpd and dhcpd that names it, instead of --state-dir; a libpq URL or
    /// key=value string (else PXE_DATABASE_URL). The schema is migrated at start.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// A plain directory served at / (with or without an inventory).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Boot loaders served at /loaders/ for UEFI HTTP boot.
    #[arg(long, value_name = "DIR")]
    pub loaders: Option<PathBuf>,
    /// File holding the operator's token for POST .../reinstall and for reading the
    /// machine API and the full status page (at least 16 characters).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding a read-only token: the machine API (/api/v1/machines...) and the
    /// full status page, nothing that changes state (at least 16 characters).
    #[arg(long, value_name = "FILE")]
    pub read_token_file: Option<PathBuf>,
    /// Show every machine on /status to anyone (default: counts only without a token).
    #[arg(long)]
    pub public_status: bool,
    /// Write the access log (combined log format) to FILE instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// Validate the inventory and directories, print what is wrong, and exit (0 or 1).
    #[arg(long)]
    pub check: bool,
    /// Connections served at once; more wait in the kernel's accept queue.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections open at once from one client address (trusted proxies excepted); more
    /// are closed at once (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_address: usize,
    /// Event loops serving connections, each on a thread of its own accepting on every
    /// listener (0: one per CPU the process may run on, as nginx's `worker_processes auto`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub workers: usize,
    /// Seconds to receive a request head.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub header_timeout: u64,
    /// Seconds a keep-alive connection may stay idle after a response (kept below
    /// --header-timeout).
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub keep_alive_timeout: u64,
    /// Bytes per second a response must average once it has been sending for 10 seconds;
    /// slower readers are dropped (0: no minimum).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub min_send_rate: u64,
    /// Seconds a response write may make no progress before the connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub send_timeout: u64,
    /// Largest request head (request line and headers) in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16384)]
    pub max_header_bytes: usize,
    /// Seconds a stop waits for open responses to finish.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read an install tree, a Debian archive or a disk image and print its inventory
    /// entry (or add it to an inventory).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What to import: an install tree (a copied DVD, a mounted ISO, a netboot
    /// directory), a Debian archive (dists/<suite>/Release), or a disk image file (raw,
    /// .zst, .xz, .gz, qcow2).
    pub path: PathBuf,
    /// The name in the inventory: the distro's, or the tree's for an archive or the
    /// directory of an image.
    #[arg(long, visible_alias = "distro", value_name = "NAME")]
    pub name: String,
    /// The architecture, when the tree has several (x86_64, i386, aarch64).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Copy the tree or archive to DIR/<NAME> first (with a progress bar) and import the
    /// copy.
    #[arg(long, value_name = "DIR")]
    pub copy_to: Option<PathBuf>,
    /// Add the distro (or the tree) to this inventory file instead of printing it.
    #[arg(long, value_name = "INVENTORY")]
    pub write: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags() {
        let c = Cli::try_parse_from([
            "httpd-tree",
            "--listen",
            "127.0.0.1:8080",
            "--listen",
            "[::1]:0",
            "--inventory",
            "inv.yaml",
            "--state-dir",
            "/var/lib/pxe",
            "--admin-token-file",
            "tok",
        ])
        .expect("parses");
        assert_eq!(c.serve.listen.len(), 2);
        assert_eq!(c.serve.listen[1].port(), 0);
        assert!(c.command.is_none());
        let c = Cli::try_parse_from(["httpd-tree", "import", "/mnt/iso", "--distro", "rocky9"])
            .expect("parses");
        match c.command {
            Some(Command::Import(a)) => {
                assert_eq!(a.name, "rocky9");
                assert_eq!(a.path, PathBuf::from("/mnt/iso"));
            }
            None => panic!("import expected"),
        }
        let c = Cli::try_parse_from(["httpd-tree", "import", "/srv/mirror", "--name", "m"])
            .expect("parses");
        assert!(matches!(c.command, Some(Command::Import(a)) if a.name == "m"));
        assert!(Cli::try_parse_from(["httpd-tree", "--listen", "nonsense"]).is_err());
    }
}
