//! The binary's edge: command line to running server. Binds or inherits the socket, detaches,
//! writes the pid file, drops privileges, sets up logging and the tokio runtime.
//!
//! Exit codes: 0 success, 1 unusable command line or configuration, 2 runtime failure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, bail};
use socket2::{Domain, Protocol, Socket, Type};

use pxe_model::LoadError;

use crate::cli::{self, Command, Config};
use crate::generated::Generator;
use crate::guard::Bounds;
use crate::inventory::{InventoryFiles, StateSource};
use crate::options::{Limits, MAX_BLKSIZE};
use crate::remap_file::RemapFile;
use crate::resolve::{Policy, Roots};
use crate::server::{Lifetime, Server, Settings};

/// Runs the program with these arguments (after the program name).
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let config = match cli::parse(args) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            #[allow(clippy::print_stdout)] // --help prints to stdout by convention
            {
                print!("{}", cli::help());
            }
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            #[allow(clippy::print_stdout)] // --version prints to stdout, as tftpd-hpa -V
            {
                println!(
                    "tftpd (pxe-suite) {}, tftpd-hpa compatible; remap: yes, tcpwrappers: no",
                    env!("CARGO_PKG_VERSION")
                );
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tftpd: {e}\nTry 'tftpd --help'.");
            return ExitCode::from(1);
        }
    };
    init_logging(config.verbosity);
    let prepared = build_settings(&config).and_then(|mut settings| {
        let inventory = load_inventory(&config)?;
        if let Some(inv) = &inventory {
            settings.generator = Some(Arc::clone(inv) as Arc<dyn Generator>);
        }
        Ok((settings, inventory))
    });
    let (settings, inventory) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tftpd: {e:#}");
            return ExitCode::from(1);
        }
    };
    if config.check {
        #[allow(clippy::print_stdout)] // --check reports on stdout, as httpd-tree --check
        {
            println!("configuration ok");
            let inv = inventory.as_ref().map(|i| i.inventory());
            if let Some(inv) = &inv {
                println!("inventory ok: {}", summary(inv));
            }
            let report = crate::pxelinux_check::check(&config.dirs, inv.as_deref());
            for note in &report.notes {
                println!("{note}");
            }
            for e in &report.errors {
                eprintln!("error: {e}");
            }
            if !report.errors.is_empty() {
                eprintln!(
                    "{} problem(s) in hand-written pxelinux files",
                    report.errors.len()
                );
                return ExitCode::from(1);
            }
        }
        return ExitCode::SUCCESS;
    }
    match run(&config, settings, inventory) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            pxe_daemon::logging::report_fatal("tftpd", &format!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Everything that can be checked without a socket (`--check` stops after this).
pub fn build_settings(config: &Config) -> anyhow::Result<Settings> {
    let roots = Roots::new(&config.dirs, config.secure).with_context(|| {
        format!(
            "cannot use root directory {}",
            config
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let remap = match &config.map_file {
        Some(path) => Some(Arc::new(RemapFile::load(path)?)),
        None => None,
    };
    Ok(Settings {
        roots,
        policy: Policy {
            permissive: config.permissive,
            create: config.create,
        },
        remap,
        limits: Limits {
            max_blksize: config.max_blksize.unwrap_or(MAX_BLKSIZE),
            refused: config.refuse.clone(),
            default_timeout: config.retransmit,
            max_timeout: config.max_timeout,
            max_windowsize: config.max_window,
            ..Limits::default()
        },
        max_retries: 5,
        port_range: config.port_range,
        max_transfers: config.max_transfers,
        transfer_threads: config.transfer_threads,
        max_per_client: config.max_per_client,
        bounds: Bounds {
            min_rate: config.min_rate,
            max_duration: config.max_duration,
            ..Bounds::default()
        },
        busy_poll: config.busy_poll,
        generator: None,
    })
}

/// Loads `--inventory` (with `--state-dir`); an invalid one is an error that carries every
/// located problem, rendered with the offending lines.
pub fn load_inventory(config: &Config) -> anyhow::Result<Option<Arc<InventoryFiles>>> {
    let Some(path) = &config.inventory else {
        return Ok(None);
    };
    let state = match (&config.state_dir, shared_store(config)?) {
        (_, Some(store)) => Some(StateSource::Shared(store)),
        (Some(dir), None) => Some(StateSource::Dir(held_dir(dir))),
        (None, None) => None,
    };
    let stateless = state.is_none();
    match InventoryFiles::load(path, state) {
        Ok(files) => {
            if stateless {
                tracing::warn!(
                    "no --state-dir or --database: every machine counts as pending and no boot \
                     event is recorded"
                );
            }
            Ok(Some(Arc::new(files)))
        }
        Err(LoadError::Invalid(d)) => bail!("inventory {}:\n{}", path.display(), d.render()),
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

/// The database named by `--database` or `PXE_DATABASE_URL` (none: no database), migrated
/// and reached once now, before privileges are dropped.
fn shared_store(config: &Config) -> anyhow::Result<Option<Arc<dyn pxe_model::StateStore>>> {
    // An explicit state directory wins over the environment's database (the command line
    // refuses both flags at once).
    if config.state_dir.is_some() {
        return Ok(None);
    }
    let Some(url) = pxe_db::DatabaseUrl::from_arg_or_env(config.database.as_deref())? else {
        return Ok(None);
    };
    let url = url.for_application("tftpd");
    let store = pxe_db::state::PgStateStore::open(url.clone(), "tftpd")
        .with_context(|| format!("cannot open the install state in the database {url}"))?;
    tracing::info!("install state in the database {url}");
    Ok(Some(Arc::new(store)))
}

/// The state directory as the server reaches it after dropping privileges: when started as
/// root, the directory is opened now and reached through its descriptor
/// (`/proc/self/fd/N`), so that, like the roots, it works under a parent the `-u` user
/// cannot search. Otherwise (or without `/proc`) the path itself.
fn held_dir(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::fd::IntoRawFd;
    if !nix::unistd::geteuid().is_root() {
        return dir.to_owned();
    }
    let Ok(file) = pxe_daemon::beneath::open_root(dir) else {
        return dir.to_owned();
    };
    // Held for the life of the process.
    let fd = file.into_raw_fd();
    let through = std::path::PathBuf::from(format!("/proc/self/fd/{fd}"));
    if through.is_dir() {
        tracing::debug!(dir = %dir.display(), fd, "state directory held open");
        through
    } else {
        dir.to_owned()
    }
}

/// `4 machines, 3 profiles, 3 distros`.
fn summary(inv: &pxe_model::Inventory) -> String {
    format!(
        "{} machines, {} profiles, {} distros",
        inv.machines.len(),
        inv.profiles.len(),
        inv.distros.len()
    )
}

/// Where lines go: standard error, or under inetd (standard error is the socket) syslog,
/// as tftpd-hpa. `-v` raises the level; `PXE_LOG` or `RUST_LOG` override it.
fn init_logging(verbosity: u32) {
    let level = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let socket = std::env::var_os("TFTPD_SYSLOG_SOCKET").map_or_else(
        || std::path::PathBuf::from("/dev/log"),
        std::path::PathBuf::from,
    );
    pxe_daemon::logging::init(&pxe_daemon::logging::Setup {
        ident: "tftpd",
        default_filter: level,
        text: pxe_daemon::logging::TextStyle::Full,
        route: pxe_daemon::logging::Route::StderrUnlessInetd,
        syslog_socket: &socket,
        facility: pxe_daemon::logging::syslog::FACILITY_DAEMON,
    });
}

/// Re-reads the inventory and the remap file (a bad file is refused with its errors and the
/// one in use keeps serving).
async fn reload(files: Option<Arc<InventoryFiles>>, remap: Option<Arc<RemapFile>>) {
    use pxe_daemon::signals::reload_blocking;
    if files.is_none() && remap.is_none() {
        tracing::info!("SIGHUP: no --inventory and no -m map file, nothing to reload");
    }
    if let Some(remap) = remap {
        let path = remap.path().display().to_string();
        reload_blocking(
            "map file",
            &path,
            move || remap.reload(),
            |n| format!("rules={n}"),
        )
        .await;
    }
    if let Some(files) = files {
        let path = files.path().display().to_string();
        let load = move || files.reload().map_err(|e| refusal(&e));
        if let Some(inv) = reload_blocking("inventory", &path, load, |inv| summary(inv)).await {
            for p in &inv.problems {
                tracing::error!("not loaded: {p}");
            }
        }
    }
}

/// An inventory's refusal as operators read it: every diagnostic with file, line, column.
fn refusal(e: &LoadError) -> String {
    match e {
        LoadError::Invalid(d) => format!("\n{}", d.render()),
        other => other.to_string(),
    }
}

fn run(
    config: &Config,
    settings: Settings,
    inventory: Option<Arc<InventoryFiles>>,
) -> anyhow::Result<()> {
    // tftpd-hpa: created files get 0666 minus -U; without -U the umask is 0 unless -p.
    match (config.umask, config.permissive) {
        (Some(m), _) => set_umask(m),
        (None, false) => set_umask(0),
        (None, true) => {}
    }
    let (socket, lifetime) = if config.listen {
        (bind_service(config)?, Lifetime::UntilShutdown)
    } else {
        (inherited_socket()?, Lifetime::Idle(config.idle_timeout))
    };
    let local = socket.local_addr().context("socket address")?;
    // Before dropping root: forced past net.core.rmem_max when allowed.
    pxe_daemon::crowd_socket::grow_and_log(&socket, &format!("udp {local}"));
    if config.listen && !config.foreground {
        nix::unistd::daemon(false, false).context("detaching")?;
    }
    if let Some(p) = &config.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", p.display()))?;
    }
    drop_privileges(&config.user)?;
    raise_open_files(config.max_transfers);
    // One worker serves the request socket; transfers run on the blocking pool, one thread
    // each: room for every allowed transfer (plus inventory reloads), with small stacks (a
    // transfer keeps its buffers on the heap).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(config.max_transfers.saturating_add(8))
        .thread_stack_size(512 * 1024)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(async {
        socket.set_nonblocking(true).context("non-blocking socket")?;
        let socket = tokio::net::UdpSocket::from_std(socket).context("registering socket")?;
        let remap = settings.remap.clone();
        // A change of the inventory or its directories of entries reloads as SIGHUP does.
        let _watch = inventory.as_ref().and_then(|files| {
            let handle = tokio::runtime::Handle::current();
            let dirs = files.inventory().entry_dirs();
            let watched = Arc::clone(files);
            let reload = move || {
                handle.spawn(reload(Some(Arc::clone(&watched)), None));
            };
            pxe_daemon::watch::inventory(files.path(), &dirs, reload)
                .map_err(|e| tracing::warn!(%e, "cannot watch the inventory: changes take a SIGHUP"))
                .ok()
        });
        let signals = pxe_daemon::signals::until_stopped(move || reload(inventory.clone(), remap.clone()));
        let server = Server::new(settings);
        tracing::info!(address = %local, mode = if config.listen { "standalone" } else { "inetd" }, "listening on udp {local}");
        tokio::spawn(pxe_daemon::notify::watchdog_task());
        pxe_daemon::notify::ready(&format!("serving on udp {local}"));
        server
            .serve(socket, lifetime, signals)
            .await
            .context("serving")?;
        let s = &server.stats;
        tracing::info!(
            transfers = s.transfers.load(Ordering::Relaxed),
            bytes = s.bytes.load(Ordering::Relaxed),
            retransmits = s.retransmits.load(Ordering::Relaxed),
            errors = s.errors.load(Ordering::Relaxed),
            "exiting"
        );
        anyhow::Ok(())
    });
    // Transfers still running at shutdown are not waited for (they are bounded anyway).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    if let Some(p) = &config.pidfile {
        let _ = std::fs::remove_file(p);
    }
    result
}

fn set_umask(m: u32) {
    let mode = nix::sys::stat::Mode::from_bits_truncate(m as nix::libc::mode_t);
    nix::sys::stat::umask(mode);
}

/// The standalone socket of `-a`, `-4`, `-6`.
fn bind_service(config: &Config) -> anyhow::Result<std::net::UdpSocket> {
    let addr = config.address.unwrap_or(cli::ListenAddr {
        ip: None,
        port: None,
    });
    let ip = addr.ip.unwrap_or(if config.ipv6_only {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    if (config.ipv4_only && ip.is_ipv6()) || (config.ipv6_only && ip.is_ipv4()) {
        bail!("address {ip} does not match -4/-6");
    }
    let sa = SocketAddr::new(ip, addr.port.unwrap_or(69));
    let sock = Socket::new(Domain::for_address(sa), Type::DGRAM, Some(Protocol::UDP))
        .context("creating the UDP socket")?;
    if sa.is_ipv6() {
        sock.set_only_v6(config.ipv6_only)
            .context("setting IPV6_V6ONLY")?;
    }
    // No SO_REUSEADDR, as tftpd-hpa: a second server on the same address and port fails
    // here instead of silently sharing the requests with the first.
    sock.bind(&sa.into())
        .with_context(|| format!("binding udp {sa}"))?;
    Ok(sock.into())
}

/// The socket handed over by systemd (`LISTEN_FDS`) or inetd (standard input).
fn inherited_socket() -> anyhow::Result<std::net::UdpSocket> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() > 0
        && let Some(s) = fds
            .take_udp_socket(0)
            .context("systemd socket (LISTEN_FDS) is not a UDP socket")?
    {
        return Ok(s);
    }
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("no standard input: use -l or -L for standalone mode")?;
    let sock = Socket::from(fd);
    match sock.r#type() {
        Ok(t) if t == Type::DGRAM => Ok(sock.into()),
        _ => bail!("standard input is not a UDP socket: use -l or -L for standalone mode"),
    }
}

/// tftpd-hpa switches to `-u` (default nobody) when started as root.
fn drop_privileges(user: &str) -> anyhow::Result<()> {
    use nix::unistd::{User, geteuid, setgid, setgroups, setuid};
    if !geteuid().is_root() {
        return Ok(());
    }
    let u = User::from_name(user)
        .with_context(|| format!("looking up user {user}"))?
        .with_context(|| format!("no such user: {user}"))?;
    setgroups(&[u.gid]).context("setgroups")?;
    setgid(u.gid).context("setgid")?;
    setuid(u.uid).context("setuid")?;
    tracing::debug!(user, uid = u.uid.as_raw(), "dropped privileges");
    Ok(())
}

/// Raises the soft limit on open files towards the hard one, so that `--max-transfers`
/// transfers (a socket each) fit: the soft limit is often 1024 (systemd's default for
/// services), the hard one far above. A limit that stays too low is said in the log.
fn raise_open_files(max_transfers: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = u64::try_from(max_transfers)
        .unwrap_or(u64::MAX)
        .saturating_add(64);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= want {
        return;
    }
    let raised = want.min(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_err() || raised < want {
        tracing::warn!(
            soft,
            hard,
            max_transfers,
            "the open-file limit (RLIMIT_NOFILE) is below --max-transfers: transfers beyond it fail to get a socket"
        );
    }
}
