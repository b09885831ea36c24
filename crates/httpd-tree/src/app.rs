//! The binary's edge: configuration from flags and files, `--check`, logging, signals,
//! and the runtime. Exit status: 0 ok, 1 configuration invalid, 2 runtime failure.

use crate::access_log::AccessLog;
use crate::cli::{Cli, Command, ServeArgs};
use crate::route::State;
use crate::server::{self, Limits};
use crate::service::{Shared, Store};
use anyhow::{Context, bail};
use pxe_model::state::FileStore;
use pxe_model::{LoadError, Tree};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Runs the command line.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Import(args)) => crate::import_cmd::run(&args),
        None => serve_main(&cli.serve),
    }
}

fn init_logging(args: &ServeArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    pxe_daemon::logging::init(&pxe_daemon::logging::Setup {
        ident: "httpd-tree",
        default_filter: &format!("{level},hyper=warn,hyper_util=warn"),
        text: pxe_daemon::logging::TextStyle::Full,
        route: pxe_daemon::logging::Route::Stderr,
        syslog_socket: std::path::Path::new("/dev/log"),
        facility: pxe_daemon::logging::syslog::FACILITY_DAEMON,
    });
}

/// Reads and checks a token file (`what`: admin, read-only).
fn token_file(path: Option<&std::path::Path>, what: &str) -> anyhow::Result<Option<String>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} token file {}", path.display()))?;
    let token = text.trim().to_owned();
    if token.len() < 16 || token.contains(char::is_whitespace) {
        bail!(
            "{}: the {what} token must be one word of at least 16 characters",
            path.display()
        );
    }
    Ok(Some(token))
}

fn canonical_dir(flag: &str, dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let c = dir
        .canonicalize()
        .with_context(|| format!("{flag} {}", dir.display()))?;
    if !c.is_dir() {
        bail!("{flag} {}: not a directory", dir.display());
    }
    Ok(c)
}

/// Loads everything routing needs. Errors here are configuration errors (exit 1).
/// The install state store the flags name: the database (`--database`, or
/// `PXE_DATABASE_URL`, migrated here) or the state directory; an inventory needs one.
fn open_store(args: &ServeArgs, with_inventory: bool) -> anyhow::Result<Option<Store>> {
    let database = pxe_db::DatabaseUrl::from_arg_or_env(args.database.as_deref())?;
    match (database, &args.state_dir) {
        (Some(_), Some(dir)) => bail!(
            "--state-dir {} and a database (--database or {}) both name the install state: give one",
            dir.display(),
            pxe_db::ENV
        ),
        (Some(url), None) => {
            let url = url.for_application("httpd-tree");
            let store = pxe_db::state::PgStateStore::open(url.clone(), "httpd-tree")
                .with_context(|| format!("cannot open the install state in the database {url}"))?;
            tracing::info!("install state in the database {url}");
            Ok(Some(Arc::new(store)))
        }
        (None, Some(dir)) => Ok(Some(Arc::new(FileStore::open(dir).with_context(|| {
            format!("cannot open the state directory {}", dir.display())
        })?))),
        (None, None) if with_inventory => bail!(
            "--inventory needs --state-dir or --database (install state and the key of the \
             callback tokens)"
        ),
        (None, None) => Ok(None),
    }
}

pub fn load(args: &ServeArgs) -> anyhow::Result<(State, Option<Store>)> {
    if args.inventory.is_none() && args.root.is_none() && args.loaders.is_none() {
        bail!("nothing to serve: give --inventory, --root or --loaders (see --help)");
    }
    let inventory = match &args.inventory {
        None => None,
        Some(path) => match pxe_model::load(path) {
            Ok(inv) => Some(inv),
            Err(LoadError::Invalid(diags)) => bail!("{}", diags.render().trim_end()),
            Err(e) => bail!("{e}"),
        },
    };
    let store = open_store(args, inventory.is_some())?;
    let secret = match &store {
        Some(s) => Some(
            s.secret()
                .context("cannot read or create the token secret")?,
        ),
        None => None,
    };
    let state = State {
        root: args
            .root
            .as_deref()
            .map(|d| canonical_dir("--root", d))
            .transpose()?,
        loaders: args
            .loaders
            .as_deref()
            .map(|d| canonical_dir("--loaders", d))
            .transpose()?,
        inventory,
        inventory_file: args.inventory.clone(),
        secret,
        admin_token: token_file(args.admin_token_file.as_deref(), "admin")?,
        read_token: token_file(args.read_token_file.as_deref(), "read-only")?,
        public_status: args.public_status,
    };
    if state.admin_token.is_some() && state.admin_token == state.read_token {
        bail!("the read-only token must differ from the admin token");
    }
    Ok((state, store))
}

/// Distro trees that are not there now (an ISO not mounted yet): warnings, not errors.
fn missing_trees(state: &State) -> Vec<String> {
    let Some(inv) = &state.inventory else {
        return Vec::new();
    };
    inv.distros
        .values()
        .filter_map(|d| match &d.tree {
            Tree::Dir(p) if !p.is_dir() => Some(format!(
                "distro {}: tree {} is not a directory (yet)",
                d.name,
                p.display()
            )),
            _ => None,
        })
        .collect()
}

#[allow(clippy::print_stdout)] // --check reports to the operator on standard output
fn check(args: &ServeArgs) -> ExitCode {
    match load(args) {
        Ok((state, _)) => {
            for w in missing_trees(&state) {
                println!("warning: {w}");
            }
            let problems = state.inventory.iter().flat_map(|i| &i.problems);
            let mut failed = false;
            for p in problems {
                println!("error: {p}");
                failed = true;
            }
            if failed {
                println!("machines directory: the files above are not loaded");
                return ExitCode::from(1);
            }
            match &state.inventory {
                Some(inv) => println!(
                    "{}: OK ({} distros, {} profiles, {} machines)",
                    inv.source,
                    inv.distros.len(),
                    inv.profiles.len(),
                    inv.machines.len()
                ),
                None => println!("configuration OK"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e:#}");
            ExitCode::from(1)
        }
    }
}

/// SIGHUP reopens the access log (logrotate) and reloads the configuration; SIGTERM and
/// SIGINT stop serving.
fn signals(
    shared: Arc<Shared>,
    args: ServeArgs,
    stop: tokio::sync::watch::Sender<bool>,
) -> impl std::future::Future<Output = ()> {
    // The handlers are installed here, before the caller announces readiness.
    let stopped =
        pxe_daemon::signals::until_stopped(move || reload(Arc::clone(&shared), args.clone()));
    async move {
        stopped.await;
        let _ = stop.send(true);
    }
}

async fn reload(shared: Arc<Shared>, args: ServeArgs) {
    match shared.access_log.reopen() {
        Ok(()) => {
            if let Some(p) = shared.access_log.path() {
                tracing::info!(access_log = %p.display(), "SIGHUP: access log reopened");
            }
        }
        Err(e) => tracing::error!(
            %e,
            "SIGHUP: cannot reopen the access log, it goes on into the old file"
        ),
    }
    reload_config(shared, args).await;
}

/// Loads the configuration again (SIGHUP, or the inventory changed on disk); a bad one
/// is refused and the old one stays.
async fn reload_config(shared: Arc<Shared>, args: ServeArgs) {
    let file = args
        .inventory
        .as_deref()
        .map_or_else(|| "(no inventory)".to_owned(), |p| p.display().to_string());
    let loaded = pxe_daemon::signals::reload_blocking(
        "configuration",
        &file,
        move || load(&args).map_err(|e| format!("{e:#}")),
        |_| "in use".to_owned(),
    )
    .await;
    if let Some((state, _)) = loaded {
        log_problems(&state);
        shared.replace_state(state);
    }
}

/// The machines directory's files that were not loaded: errors for the operator.
fn log_problems(state: &State) {
    for p in state.inventory.iter().flat_map(|i| &i.problems) {
        tracing::error!(file = %p.file, entry = p.entry, name = %p.name, kind = p.kind, "not loaded: {}", p.message.trim_end());
    }
}

/// Watches the inventory and its machines directory; a change reloads as SIGHUP does.
fn watch(shared: &Arc<Shared>, args: &ServeArgs) -> Option<pxe_daemon::watch::Watch> {
    let inventory = args.inventory.as_deref()?;
    let dirs = shared
        .state()
        .inventory
        .as_ref()
        .map(|i| i.entry_dirs())
        .unwrap_or_default();
    let handle = tokio::runtime::Handle::current();
    let (shared, args) = (Arc::clone(shared), args.clone());
    match pxe_daemon::watch::inventory(inventory, &dirs, move || {
        handle.spawn(reload_config(Arc::clone(&shared), args.clone()));
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(%e, "cannot watch the inventory: changes take a SIGHUP");
            None
        }
    }
}

/// With the install state in the database, its announcements feed the console's live
/// updates (a change made through any httpd-tree, tftpd or dhcpd on the database).
fn watch_database(
    shared: &Arc<Shared>,
    args: &ServeArgs,
) -> Option<pxe_db::state_watch::StateWatch> {
    if args.state_dir.is_some() {
        return None;
    }
    let url = pxe_db::DatabaseUrl::from_arg_or_env(args.database.as_deref()).ok()??;
    let sh = Arc::clone(shared);
    Some(pxe_db::state_watch::StateWatch::start(
        url.for_application("httpd-tree"),
        move |heard| sh.console.feed.note_heard(heard),
    ))
}

fn serve_main(args: &ServeArgs) -> ExitCode {
    if args.check {
        return check(args);
    }
    init_logging(args);
    let (state, store) = match load(args) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("httpd-tree: {e:#}");
            return ExitCode::from(1);
        }
    };
    for w in missing_trees(&state) {
        tracing::warn!("{w}");
    }
    log_problems(&state);
    let access_log = match &args.access_log {
        // On standard error, access lines follow the daemon's log format (journal: a
        // priority and no second timestamp; json: one object per line).
        None => AccessLog::stderr_as(
            pxe_daemon::LogFormat::from_env()
                .unwrap_or(pxe_daemon::LogFormat::Text)
                .into(),
        ),
        Some(p) => match AccessLog::file(p) {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "httpd-tree: cannot open the access log {}: {e}",
                    p.display()
                );
                return ExitCode::from(1);
            }
        },
    };
    // The daemon's runtime is the first of the event loops (see `server`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("httpd-tree: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let header_timeout = Duration::from_secs(args.header_timeout.max(1));
    let limits = Limits {
        max_connections: args.max_connections,
        max_per_address: args.max_connections_per_address,
        pacing: crate::write_timeout::Pacing {
            // Idle keep-alive ends before a request head would time out.
            idle: Duration::from_secs(args.keep_alive_timeout.max(1))
                .min(header_timeout.saturating_sub(Duration::from_millis(500)))
                .max(Duration::from_millis(500)),
            min_rate: args.min_send_rate,
            measure_after: Duration::from_secs(10),
        },
        header_timeout,
        send_timeout: Duration::from_secs(args.send_timeout.max(1)),
        max_header_bytes: args.max_header_bytes,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        ..Limits::default()
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let listeners = server::bind(&args.listen)?;
        let shared = Arc::new(Shared::new(state, store, access_log));
        let _state_watch = watch_database(&shared, args);
        let _watch = watch(&shared, args);
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(signals(Arc::clone(&shared), args.clone(), tx));
        tracing::info!("ready");
        tokio::spawn(pxe_daemon::notify::watchdog_task());
        pxe_daemon::notify::ready(&format!("serving {} listener(s)", args.listen.len()));
        let workers = match args.workers {
            0 => server::default_workers(),
            n => n,
        };
        server::serve(shared, listeners, limits, rx, workers).await;
        Ok(())
    });
    // Blocking reads of files still in flight must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("httpd-tree: {e:#}");
            ExitCode::from(2)
        }
    }
}
