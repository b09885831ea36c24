//! The binary's edge, as tftpd and httpd-tree have it: ISC's command line, then `-t`, `-T`
//! or serving. Start-up follows ISC's order: configuration, lease file (read, then
//! rewritten), sockets, detach, privileges, PID file; then serve until SIGTERM.
//!
//! Exit status: 0 ok, 1 for a configuration or lease-file problem (as ISC), 2 for a
//! runtime failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use pxe_daemon::logging::{self, Route, Setup, TextStyle};

use crate::cli::{self, Args, Mode};
use crate::lease::{FileStore, FileStoreOptions, LeaseStore, LeaseTable};
use crate::model::Config;
use crate::net::{Bound as Listener, Sender};
use crate::server::{self, Control, ServeOptions};

/// Runs the program with these arguments (after the program name).
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    if crate::v6::args::wants_v6(&args) {
        return crate::v6::server::main_with_args(&args);
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let args = match cli::parse(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "{e}\n{}", cli::USAGE);
            return ExitCode::from(1);
        }
    };
    let status = |r: std::io::Result<i32>| ExitCode::from(r.map_or(1, |c| c as u8));
    match args.mode {
        Mode::Help => {
            #[allow(clippy::print_stdout)] // --help prints to stdout by convention
            {
                println!("{}", cli::help_text());
            }
            ExitCode::SUCCESS
        }
        Mode::Version => {
            let _ = writeln!(
                err,
                "pxe-suite-dhcpd-{} (isc-dhcpd-4.4.3 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        Mode::TestConfig => status(crate::check::run(&args, &mut err)),
        Mode::TestLeases => status(crate::check::leases::run(&args, &mut err)),
        Mode::Serve => {
            drop(err);
            match serve(&args) {
                Ok(code) => code,
                Err(e) => {
                    logging::report_fatal("dhcpd", &format!("{e:#}"));
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// The raw socket `ping-check` sends its echoes on; without one (no CAP_NET_RAW) offers go
/// out unpinged, as with `ping-check false`, and a warning says so.
fn open_icmp() -> Option<socket2::Socket> {
    match crate::ping::open() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("No ICMP socket ({e}): offers are sent without a ping check");
            None
        }
    }
}

/// The syslog socket: `DHCPD_SYSLOG_SOCKET`, else `/dev/log`.
fn syslog_socket() -> PathBuf {
    std::env::var_os("DHCPD_SYSLOG_SOCKET").map_or_else(|| PathBuf::from("/dev/log"), PathBuf::from)
}

/// The lease file (`-lf`), read: ISC's refusal is printed when it cannot be.
fn open_lease_file(
    args: &Args,
    owner: Option<(u32, u32)>,
) -> Result<(Box<dyn LeaseStore>, crate::lease::LeaseFile), Refused> {
    let options = FileStoreOptions {
        owner,
        ..FileStoreOptions::default()
    };
    let mut store = FileStore::new(&args.leases, options);
    match store.load() {
        Ok(f) => Ok((Box::new(store), f)),
        Err(e) => {
            eprintln!("{e}\n\nexiting.");
            Err(Refused)
        }
    }
}

/// How long start-up waits between tries while the lease database cannot be reached.
const DATABASE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// The lease database (`--database`), its schema migrated and its leases read, after
/// copying the lease file into it with `--import-leases`. While it cannot be reached, the
/// server waits (it says so once a minute) rather than serve without its leases.
fn open_database(
    url: pxe_db::DatabaseUrl,
    args: &Args,
) -> Result<(Box<dyn LeaseStore>, crate::lease::LeaseFile), Refused> {
    let mut store = crate::lease::PgStore::new(url);
    let mut tries = 0u32;
    let mut file = loop {
        match store.load() {
            Ok(f) => break f,
            Err(e) => {
                if tries.is_multiple_of(30) {
                    eprintln!("{e}: waiting for the lease database");
                }
                tries += 1;
                std::thread::sleep(DATABASE_RETRY);
            }
        }
    };
    if args.import_leases {
        let lease_file = match FileStore::new(&args.leases, FileStoreOptions::default()).load() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("--import-leases: {e}\n\nexiting.");
                return Err(Refused);
            }
        };
        match store.import(&lease_file) {
            Ok(n) => eprintln!(
                "Imported {n} leases from {} into the lease database.",
                args.leases
            ),
            Err(e) => {
                eprintln!("--import-leases: {e}\n\nexiting.");
                return Err(Refused);
            }
        }
        file = match store.load() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{e}\n\nexiting.");
                return Err(Refused);
            }
        };
    }
    // The connection is made again by the committer (after the fork into the background).
    store.disconnect();
    Ok((Box::new(store), file))
}

/// What start-up prepared before the sockets open: configuration, leases, state.
struct Prepared {
    config: Config,
    table: LeaseTable,
    store: Box<dyn LeaseStore>,
    ids: Option<(u32, u32)>,
    state: Option<Arc<dyn pxe_model::StateStore>>,
    /// The host and group records of the lease file (entered into `config`).
    object_records: Vec<crate::lease::records::ObjectRecord>,
}

/// A refusal at start-up that ISC reports on standard error and exits 1 for.
struct Refused;

fn serve(args: &Args) -> anyhow::Result<ExitCode> {
    if !args.quiet {
        eprint!("{}", crate::check::banner());
    }
    let Ok(prepared) = prepare(args)? else {
        return Ok(ExitCode::from(1));
    };
    logging::init(&Setup {
        ident: "dhcpd",
        default_filter: "info",
        text: TextStyle::Bare,
        route: Route::Syslog {
            also_stderr: args.debug,
        },
        syslog_socket: &syslog_socket(),
        facility: prepared
            .config
            .log_facility
            .unwrap_or(logging::syslog::FACILITY_DAEMON),
    });
    let port = args.port.unwrap_or(67);
    let (mut listeners, sender) = crate::net::bind(port, &args.interfaces)
        .with_context(|| format!("binding UDP port {port}"))?;
    log_listeners(&prepared.config, &listeners, &sender, port);
    // proxyDHCP: the PXE boot server port too, where firmware asks for its boot file.
    let boot_server = if args.proxy {
        let bs = crate::decide::PXE_BOOT_SERVER_PORT;
        let (more, bs_sender) = crate::net::bind(bs, &args.interfaces)
            .with_context(|| format!("binding UDP port {bs} (--proxy)"))?;
        tracing::info!("proxyDHCP: PXE clients only, no addresses; boot server on UDP/{bs}");
        listeners.extend(more);
        Some(bs_sender)
    } else {
        None
    };
    // Before privileges go: a raw socket needs CAP_NET_RAW.
    let icmp = open_icmp();
    let omapi = match &prepared.config.omapi {
        Some(s) => Some(bind_omapi(s)?),
        None => None,
    };
    if !args.foreground {
        crate::daemon::detach().context("detaching")?;
    }
    if let Some((uid, gid)) = prepared.ids {
        crate::daemon::drop_privileges(uid, gid).context("dropping privileges")?;
    } else if nix::unistd::Uid::effective().is_root() {
        // Root without -user: the sockets are open, so CAP_NET_RAW and the rest go (before
        // any other thread starts: capabilities are per thread).
        let kept = crate::daemon::drop_capabilities().context("dropping capabilities")?;
        tracing::debug!("capabilities kept: {}", kept.join(", "));
    }
    let pid_file = (!args.no_pid).then(|| PathBuf::from(&args.pid_file));
    if let Some(p) = &pid_file {
        crate::daemon::write_pid(p).with_context(|| format!("writing {}", p.display()))?;
    }
    // Log lines are written by a thread of their own from here on (after the fork).
    if let Err(e) = logging::start_writer() {
        tracing::warn!("no log-writer thread ({e}): lines are written as they come");
    }
    let result = run(
        args,
        prepared,
        listeners,
        (sender, boot_server),
        icmp,
        omapi,
    );
    logging::stop_writer();
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    result.context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// Configuration, lease file (read, then rewritten) and state directory, reported on
/// standard error as ISC does; `Err(Refused)` once the refusal is printed.
fn prepare(args: &Args) -> anyhow::Result<Result<Prepared, Refused>> {
    let inventory = args.inventory.as_deref().map(Path::new);
    let loaded = match server::load_config(&args.conf, inventory) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            if matches!(e, server::LoadError::Config(_)) {
                eprintln!("Configuration file errors encountered -- exiting");
            }
            eprintln!("\nexiting.");
            return Ok(Err(Refused));
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let database = match pxe_db::DatabaseUrl::from_arg_or_env(args.database.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}\n\nexiting.");
            return Ok(Err(Refused));
        }
    };
    if !args.quiet {
        eprintln!("Config file: {}", args.conf);
        match &database {
            Some(url) => eprintln!("Database: {url}"),
            None => eprintln!("Database file: {}", args.leases),
        }
        eprintln!("PID file: {}", args.pid_file);
    }
    let ids = crate::daemon::resolve_ids(args.user.as_deref(), args.group.as_deref())
        .context("looking up -user/-group")?;
    let on_file = database.is_none();
    let state_database = database.clone();
    let opened = match database {
        Some(url) => open_database(url, args),
        None => open_lease_file(args, ids),
    };
    let Ok((mut store, mut file)) = opened else {
        return Ok(Err(Refused));
    };
    let mut config = loaded.config;
    // Peers sharing a database share their failover pools instead of splitting them.
    config.shared_leases = !on_file;
    // Hosts and groups made and deleted over OMAPI, as the lease file records them.
    for problem in crate::omapi::state::replay(&mut config, &file.records) {
        eprintln!("{problem}");
    }
    let (table, log) = server::initial_table(&config, &mut file);
    for l in &log {
        eprintln!("{l}");
    }
    if on_file {
        // The file is rewritten from the table (database rows are kept current as written).
        let now = server::now();
        store
            .compact(&table, now)
            .with_context(|| format!("rewriting {}", args.leases))?;
        let kept = table
            .iter()
            .map(|l| l.settled(now))
            .filter(crate::lease::Lease::worth_writing)
            .count();
        eprintln!("Wrote {kept} leases to leases file.");
    }
    let state: Option<Arc<dyn pxe_model::StateStore>> = match (&args.state_dir, state_database) {
        (Some(d), _) => Some(Arc::new(
            pxe_model::FileStore::open(Path::new(d))
                .with_context(|| format!("opening state directory {d}"))?,
        )),
        // Boot events and acknowledged addresses go where the leases go (the schema was
        // migrated when the leases were read; the connection opens after the fork).
        (None, Some(url)) if config.inventory.is_some() => Some(Arc::new(
            pxe_db::state::PgStateStore::new(url.for_application("dhcpd")),
        )),
        (None, _) => None,
    };
    Ok(Ok(Prepared {
        config,
        table,
        store,
        ids,
        state,
        object_records: file.records,
    }))
}

/// ISC's `Listening on …` lines, and its warning for an interface without a subnet.
fn log_listeners(config: &Config, listeners: &[Listener], sender: &Sender, port: u16) {
    for l in listeners {
        match &l.iface {
            Some(i) => {
                let addr = i.addrs.first().map_or_else(String::new, |a| a.to_string());
                tracing::info!("Listening on UDP/{}/{addr}", i.name);
                if !i.addrs.iter().any(|a| config.find_subnet(*a).is_some()) {
                    tracing::warn!(
                        "No subnet declaration for {} ({addr}). ** Ignoring requests on {}.",
                        i.name,
                        i.name
                    );
                }
            }
            None => tracing::info!("Listening on UDP/0.0.0.0:{port} (all interfaces)"),
        }
    }
    if !sender.can_link_unicast() {
        tracing::info!("Sending replies for clients without an address by broadcast");
    }
}

/// Serves on one thread (network and protocol core; the lease committer has its own, so
/// there is no hand-over between threads per packet) until SIGTERM or SIGINT.
/// The OMAPI listener: on every address, as ISC's; without a key anyone who reaches the
/// port may add and delete hosts, which is said at start.
fn bind_omapi(s: &crate::omapi::settings::OmapiSettings) -> anyhow::Result<std::net::TcpListener> {
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], s.port));
    let l = std::net::TcpListener::bind(addr)
        .with_context(|| format!("binding OMAPI TCP port {}", s.port))?;
    match &s.key {
        Some(k) => tracing::info!("Listening on OMAPI/{addr} (key {})", k.name),
        None => tracing::warn!(
            "OMAPI listens on {addr} without omapi-key: anyone who can reach this port can add and delete hosts"
        ),
    }
    Ok(l)
}

fn run(
    args: &Args,
    prepared: Prepared,
    listeners: Vec<Listener>,
    (sender, boot_server): (Sender, Option<Sender>),
    icmp: Option<socket2::Socket>,
    omapi: Option<std::net::TcpListener>,
) -> anyhow::Result<()> {
    let opts = ServeOptions {
        conf_path: args.conf.clone(),
        inventory: args.inventory.as_deref().map(PathBuf::from),
        state: prepared.state,
        metrics_file: args.metrics_file.as_deref().map(PathBuf::from),
        reply_to: args.server.as_deref().and_then(server::resolve),
        proxy: args.proxy,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let entry_dirs = prepared
        .config
        .inventory
        .as_ref()
        .map(|i| i.entry_dirs())
        .unwrap_or_default();
    rt.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        // A change of the inventory or its directories of entries reloads as SIGHUP does.
        let _watch = opts.inventory.as_deref().and_then(|inv| {
            let tx = tx.clone();
            let reload = move || {
                let _ = tx.blocking_send(Control::Reload);
            };
            pxe_daemon::watch::inventory(inv, &entry_dirs, reload)
                .map_err(
                    |e| tracing::warn!(%e, "cannot watch the inventory: changes take a SIGHUP"),
                )
                .ok()
        });
        // Installed before the ready line, not in the task (which first runs at the first
        // await): a SIGTERM right after readiness stops the server instead of killing it.
        match pxe_daemon::signals::Signals::install() {
            Ok(signals) => {
                tokio::spawn(forward_signals(signals, tx));
            }
            Err(e) => tracing::error!("cannot install signal handlers: {e}"),
        }
        tracing::info!("Server starting service.");
        // The watchdog is fed by the lease committer's progress (in `server`).
        pxe_daemon::notify::ready("serving");
        server::Server {
            opts,
            config: prepared.config,
            table: prepared.table,
            store: prepared.store,
            sockets: listeners,
            sender,
            boot_server,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            icmp,
            omapi,
            object_records: prepared.object_records,
        }
        .run(rx)
        .await
    })?;
    Ok(())
}

/// SIGHUP becomes [`Control::Reload`] (the server reloads between bursts and tells systemd),
/// SIGTERM and SIGINT [`Control::Stop`].
async fn forward_signals(
    mut signals: pxe_daemon::signals::Signals,
    tx: tokio::sync::mpsc::Sender<Control>,
) {
    loop {
        let control = match signals.next().await {
            pxe_daemon::signals::Signal::Reload => Control::Reload,
            pxe_daemon::signals::Signal::Stop(_) => Control::Stop,
        };
        if tx.send(control).await.is_err() || control == Control::Stop {
            return;
        }
    }
}
