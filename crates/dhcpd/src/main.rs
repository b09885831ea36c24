//! Thin entry point: the ISC command line, then `-t`, `-T` or serving. Exit status: 0 ok,
//! 1 for a configuration or lease-file problem (as ISC), 2 for a runtime failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use dhcpd::cli::{self, Args, Mode};
use dhcpd::lease::{FileStore, FileStoreOptions, LeaseStore};
use dhcpd::server::{self, Control, ServeOptions};

fn main() -> ExitCode {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "{e}\n{}", cli::USAGE);
            return ExitCode::from(1);
        }
    };
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
        Mode::TestConfig => match dhcpd::check::run(&args, &mut err) {
            Ok(code) => ExitCode::from(code as u8),
            Err(_) => ExitCode::from(1),
        },
        Mode::TestLeases => match dhcpd::lease::check::run(&args, &mut err) {
            Ok(code) => ExitCode::from(code as u8),
            Err(_) => ExitCode::from(1),
        },
        Mode::Serve => {
            drop(err);
            match serve(&args) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("dhcpd: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Start-up as ISC: configuration, lease file (read, then rewritten), sockets, detach,
/// privileges, PID file; then serve until SIGTERM.
fn serve(args: &Args) -> anyhow::Result<ExitCode> {
    if !args.quiet {
        eprint!("{}", dhcpd::check::banner());
    }
    let inventory = args.inventory.as_deref().map(PathBuf::from);
    let loaded = match server::load_config(&args.conf, inventory.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            if matches!(e, server::LoadError::Config(_)) {
                eprintln!("Configuration file errors encountered -- exiting");
            }
            eprintln!("\nexiting.");
            return Ok(ExitCode::from(1));
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    if !args.quiet {
        eprintln!("Config file: {}", args.conf);
        eprintln!("Database file: {}", args.leases);
        eprintln!("PID file: {}", args.pid_file);
    }
    let ids = dhcpd::daemon::resolve_ids(args.user.as_deref(), args.group.as_deref())
        .context("looking up -user/-group")?;
    let mut store = FileStore::new(
        &args.leases,
        FileStoreOptions {
            owner: ids,
            ..FileStoreOptions::default()
        },
    );
    let file = match store.load() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n\nexiting.");
            return Ok(ExitCode::from(1));
        }
    };
    let config = loaded.config;
    let (table, log) = server::initial_table(&config, &file);
    for l in &log {
        eprintln!("{l}");
    }
    let now = server::now();
    store
        .compact(&table, now)
        .with_context(|| format!("rewriting {}", args.leases))?;
    let kept = table
        .iter()
        .map(|l| l.settled(now))
        .filter(dhcpd::lease::Lease::worth_writing)
        .count();
    eprintln!("Wrote {kept} leases to leases file.");
    let state = match &args.state_dir {
        Some(d) => Some(
            pxe_model::FileStore::open(Path::new(d))
                .with_context(|| format!("opening state directory {d}"))?,
        ),
        None => None,
    };
    dhcpd::logging::init(args.debug);
    let port = args.port.unwrap_or(67);
    let (listeners, sender) = dhcpd::net::bind(port, &args.interfaces)
        .with_context(|| format!("binding UDP port {port}"))?;
    for l in &listeners {
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
    if !args.foreground {
        dhcpd::daemon::detach().context("detaching")?;
    }
    if let Some((uid, gid)) = ids {
        dhcpd::daemon::drop_privileges(uid, gid).context("dropping privileges")?;
    }
    let pid_file = (!args.no_pid).then(|| PathBuf::from(&args.pid_file));
    if let Some(p) = &pid_file {
        dhcpd::daemon::write_pid(p).with_context(|| format!("writing {}", p.display()))?;
    }
    let opts = ServeOptions {
        conf_path: args.conf.clone(),
        inventory,
        state,
        metrics_file: args.metrics_file.as_deref().map(PathBuf::from),
        reply_to: args.server.as_deref().and_then(server::resolve),
    };
    // Log lines are written by a thread of their own from here on (after the fork).
    if let Err(e) = dhcpd::logging::start_writer() {
        tracing::warn!("no log-writer thread ({e}): lines are written as they come");
    }
    // One thread for the network and the protocol core (the lease committer has its own):
    // no hand-over between threads per packet.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = rt.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(signals(tx));
        tracing::info!("Server starting service.");
        tokio::spawn(pxe_daemon::notify::watchdog_task());
        pxe_daemon::notify::ready("serving");
        let metrics = Arc::new(dhcpd::metrics::Metrics::default());
        server::Server {
            opts,
            config,
            table,
            store,
            sockets: listeners,
            sender,
            metrics,
        }
        .run(rx)
        .await
    });
    dhcpd::logging::stop_writer();
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    result.context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reloads; SIGTERM and SIGINT stop.
async fn signals(tx: tokio::sync::mpsc::Sender<Control>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        let c = tokio::select! {
            _ = hup.recv() => Control::Reload,
            _ = term.recv() => Control::Stop,
            _ = int.recv() => Control::Stop,
        };
        if tx.send(c).await.is_err() || c == Control::Stop {
            return;
        }
    }
}
