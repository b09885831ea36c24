//! The running server: a thin tokio shell around [`crate::decide::decide`].
//!
//! Receiving tasks (one per socket) hand datagrams to one core task, which owns the lease
//! table and the configuration: it reads the packet, decides, applies the changed leases to
//! the table and sends replies that need nothing on disk (offers, NAKs, INFORM answers)
//! at once. Replies that depend on a lease go to the committer thread with their leases; it
//! takes every job waiting, appends all their leases to the lease file with one sync (group
//! commit), and only then logs them and sends the replies: a lease is on disk before its ACK
//! leaves (and before `DHCPACK on …` or `DHCPRELEASE of …` is logged). The
//! committer keeps its own copy of what is on disk and rewrites the file from it when due.
//!
//! Control messages reload the configuration (a bad one is refused and the old one keeps
//! serving; leases are untouched) or stop the server after the pending commits.

use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::conf::{Output, ParseOptions, parse_file};
use crate::decide::{BootNote, Dest, decide, pool_usage};
use crate::lease::{Lease, LeaseStore, LeaseTable, Time};
use crate::metrics::{Event, Metrics};
use crate::model::{Config, add_inventory, compile};
use crate::net::{Bound, Iface, Received, Sender};
use crate::request::RecvMeta;
use crate::wire;

/// Unix seconds now (the shell's clock; the core takes it as an argument).
pub fn now() -> Time {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as Time)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// `dhcpd.conf` has errors; the text is ISC's report.
    #[error("{0}")]
    Config(String),
    /// The configuration cannot be served.
    #[error("{0}")]
    Compile(#[from] crate::model::CompileError),
    /// The inventory could not be loaded.
    #[error("{0}")]
    Inventory(#[from] pxe_model::LoadError),
}

/// A loaded configuration and what was said about it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The compiled configuration.
    pub config: Config,
    /// Warnings (unsupported statements, names that did not resolve).
    pub warnings: Vec<String>,
}

/// Resolve a host name to its first IPv4 address (the shell does DNS; the core does not).
pub fn resolve(name: &str) -> Option<Ipv4Addr> {
    (name, 0)
        .to_socket_addrs()
        .ok()?
        .find_map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
}

/// Read `dhcpd.conf` (and the inventory) and compile them.
pub fn load_config(conf: &str, inventory: Option<&Path>) -> Result<LoadedConfig, LoadError> {
    let loaded = parse_file(conf, ParseOptions::default());
    if !loaded.is_ok() {
        let mut text = Vec::new();
        for o in &loaded.output {
            match o {
                Output::Error(d) => text.extend_from_slice(&d.render(true)),
                Output::Log(l) => {
                    text.extend_from_slice(l.as_bytes());
                    text.push(b'\n');
                }
            }
        }
        if let Some(f) = &loaded.fatal {
            text.extend_from_slice(f.as_bytes());
            text.push(b'\n');
        }
        return Err(LoadError::Config(
            String::from_utf8_lossy(&text).trim_end().to_string(),
        ));
    }
    let (mut config, mut warnings) = compile(&loaded.config, &resolve)?;
    warnings.splice(0..0, loaded.unsupported_warnings());
    if let Some(p) = inventory {
        let inv = pxe_model::load(p)?;
        add_inventory(&mut config, Arc::new(inv));
    }
    Ok(LoadedConfig { config, warnings })
}

/// The leases of a lease file that lie in the configuration's ranges (ISC drops the others
/// with `lease X: no subnet.`), as a table; also returns the log lines.
pub fn initial_table(cfg: &Config, file: &crate::conf::LeaseFile) -> (LeaseTable, Vec<String>) {
    let mut log = Vec::new();
    for o in &file.output {
        match o {
            Output::Error(d) => log.push(d.headline()),
            Output::Log(l) => log.push(l.clone()),
        }
    }
    let mut kept = Vec::with_capacity(file.leases.len());
    for l in &file.leases {
        if cfg.pool_of(l.ip).is_some() {
            kept.push(l.clone());
        } else {
            log.push(format!("lease {}: no subnet.", l.ip));
        }
    }
    (LeaseTable::from_leases(kept), log)
}

/// Control messages for a running server (the binary sends them on signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Re-read the configuration and inventory (SIGHUP).
    Reload,
    /// Finish pending commits and stop (SIGTERM, SIGINT).
    Stop,
}

/// What the server needs besides its sockets, store and initial state.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `dhcpd.conf`, re-read on reload.
    pub conf_path: String,
    /// The inventory, re-read on reload.
    pub inventory: Option<PathBuf>,
    /// The install-state store (boot events, install state of inventory machines).
    pub state: Option<pxe_model::FileStore>,
    /// Where to write metrics.
    pub metrics_file: Option<PathBuf>,
    /// `-s`: send every reply to this address instead.
    pub reply_to: Option<Ipv4Addr>,
}

/// A reply waiting for its leases to be on disk.
struct Job {
    leases: Vec<Lease>,
    /// Log lines, written once the leases are on disk.
    log: Vec<String>,
    reply: Option<Outgoing>,
    boot: Option<BootNote>,
    received: Instant,
}

struct Outgoing {
    bytes: Vec<u8>,
    dest: Dest,
    ifindex: Option<u32>,
    msg_type: Option<u8>,
}

fn send(sender: &mut Sender, metrics: &Metrics, o: &Outgoing) {
    match sender.send(&o.bytes, &o.dest, o.ifindex) {
        Ok(_) => metrics.count(Event::Sent(o.msg_type)),
        Err(e) => {
            metrics.count(Event::SendError);
            tracing::error!("Failed to send {} byte long packet: {e}", o.bytes.len());
        }
    }
}

fn record_boot(state: Option<&pxe_model::FileStore>, note: &BootNote) {
    use pxe_model::StateStore;
    use pxe_model::state::{BootEvent, Phase};
    let Some(s) = state else { return };
    let ev = BootEvent {
        at: now_ms(),
        phase: Phase::Dhcp,
        detail: note.detail.clone(),
    };
    if let Err(e) = s.record(&note.machine, &ev) {
        tracing::warn!("boot event for {}: {e}", note.machine);
    }
}

/// The committer thread: group commit, then send, then rewrite the file when due.
fn committer<S: LeaseStore>(
    mut store: S,
    mut durable: LeaseTable,
    rx: std_mpsc::Receiver<Job>,
    mut sender: Sender,
    metrics: Arc<Metrics>,
    state: Option<pxe_model::FileStore>,
) {
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(j) => Some(j),
            Err(std_mpsc::RecvTimeoutError::Timeout) => None,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch: Vec<Job> = first.into_iter().collect();
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let leases: Vec<Lease> = batch
                .iter()
                .flat_map(|j| j.leases.iter().cloned())
                .collect();
            match store.commit(&leases) {
                Ok(()) => {
                    metrics.count(Event::Commit(leases.len()));
                    durable.apply(leases.iter());
                    for j in &batch {
                        for line in &j.log {
                            tracing::info!("{line}");
                        }
                        if let Some(o) = &j.reply {
                            send(&mut sender, &metrics, o);
                            metrics.count(Event::Latency(j.received.elapsed()));
                        }
                        if let Some(b) = &j.boot {
                            record_boot(state.as_ref(), b);
                        }
                    }
                }
                Err(e) => {
                    metrics.count(Event::CommitError);
                    tracing::error!(
                        "database update failed: {e}; {} replies not sent",
                        batch.len()
                    );
                }
            }
        }
        let t = now();
        if store.compaction_due(t) {
            match store.compact(&durable, t) {
                Ok(()) => {
                    metrics.count(Event::Rewrite);
                    let n = durable
                        .iter()
                        .map(|l| l.settled(t))
                        .filter(Lease::worth_writing)
                        .count();
                    tracing::info!("Wrote {n} leases to leases file.");
                }
                Err(e) => tracing::error!("can't rewrite lease database: {e}"),
            }
        }
    }
}

/// Everything the core task knows about interfaces: the bound one, or a cache by index.
fn meta_for(
    r: &Received,
    bound: Option<&Iface>,
    cache: &mut Vec<Iface>,
) -> (RecvMeta, Option<u32>) {
    let iface = bound.cloned().or_else(|| {
        let idx = r.ifindex?;
        if let Some(i) = cache.iter().find(|i| i.index == idx) {
            return Some(i.clone());
        }
        *cache = crate::net::interfaces().unwrap_or_default();
        cache.iter().find(|i| i.index == idx).cloned()
    });
    let meta = RecvMeta {
        iface: iface
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |i| i.name.clone()),
        iface_addrs: iface.as_ref().map(|i| i.addrs.clone()).unwrap_or_default(),
        src: *r.from.ip(),
    };
    (meta, iface.map(|i| i.index).or(r.ifindex))
}

fn install_state(
    cfg: &Config,
    state: Option<&pxe_model::FileStore>,
    chaddr: &[u8; 16],
) -> Option<pxe_model::InstallState> {
    use pxe_model::StateStore;
    let inv = cfg.inventory.as_deref()?;
    let mac = pxe_model::MacAddr(chaddr.get(..6)?.try_into().ok()?);
    let m = inv.machine_by_mac(&mac)?;
    match state {
        Some(s) => s.get(&m.name).map(|st| st.state).ok(),
        None => Some(pxe_model::InstallState::Pending),
    }
}

/// Everything a running server owns.
pub struct Server<S: LeaseStore> {
    /// Paths and switches.
    pub opts: ServeOptions,
    /// The configuration to start with.
    pub config: Config,
    /// The leases read at start.
    pub table: LeaseTable,
    /// Where leases are kept.
    pub store: S,
    /// The bound sockets.
    pub sockets: Vec<Bound>,
    /// The sending side of the sockets.
    pub sender: Sender,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl<S: LeaseStore> Server<S> {
    /// Serve until a [`Control::Stop`] (or the control channel closes).
    pub async fn run(self, control: mpsc::Receiver<Control>) -> std::io::Result<()> {
        let Server {
            opts,
            config,
            table,
            store,
            sockets,
            sender,
            metrics,
        } = self;
        serve(
            opts, config, table, store, sockets, sender, control, metrics,
        )
        .await
    }
}

#[allow(clippy::too_many_arguments)] // the fields of `Server`, taken apart once
async fn serve<S: LeaseStore>(
    opts: ServeOptions,
    config: Config,
    table: LeaseTable,
    store: S,
    listeners: Vec<Bound>,
    sender: Sender,
    mut control: mpsc::Receiver<Control>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let mut cfg = Arc::new(config);
    let mut table = table;
    let (pkt_tx, mut pkt_rx) = mpsc::channel::<(Received, Option<Iface>)>(4096);
    let mut tasks = Vec::new();
    for b in listeners {
        let l = b.listen()?;
        let tx = pkt_tx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match l.recv().await {
                    Ok(r) => {
                        if tx.send((r, l.iface.clone())).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("receive error: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    drop(pkt_tx);
    let mut core_sender = sender.try_clone()?;
    let (job_tx, job_rx) = std_mpsc::channel::<Job>();
    let committer_metrics = metrics.clone();
    let committer_state = opts.state.clone();
    let durable = table.clone();
    let committer = std::thread::Builder::new()
        .name("lease-committer".into())
        .spawn(move || {
            committer(
                store,
                durable,
                job_rx,
                sender,
                committer_metrics,
                committer_state,
            )
        })?;
    let mut ifaces = crate::net::interfaces().unwrap_or_default();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            p = pkt_rx.recv() => {
                let Some((r, bound)) = p else { break };
                let (meta, ifindex) = meta_for(&r, bound.as_ref(), &mut ifaces);
                let mut req = match wire::parse(&r.data, meta) {
                    Ok(req) => req,
                    Err(e) => {
                        metrics.count(Event::Malformed);
                        tracing::debug!("malformed packet from {}: {e}", r.from);
                        continue;
                    }
                };
                metrics.count(Event::Received(req.msg_type()));
                req.install_state = install_state(&cfg, opts.state.as_ref(), &req.chaddr);
                let received = Instant::now();
                let o = decide(&cfg, &table, &req, now());
                table.apply(o.changes.iter().map(|c| &c.lease));
                let leases: Vec<Lease> = o.changes.iter().filter(|c| c.persist).map(|c| c.lease.clone()).collect();
                // What changes leases is logged once it is on disk (by the committer), the
                // rest at once.
                if leases.is_empty() {
                    for line in &o.log {
                        tracing::info!("{line}");
                    }
                }
                let reply = o.reply.as_ref().map(|rep| Outgoing {
                    bytes: wire::encode(rep),
                    dest: opts.reply_to.map_or_else(|| rep.dest.clone(), Dest::Unicast),
                    ifindex,
                    msg_type: rep.msg_type(),
                });
                if reply.is_none() {
                    metrics.count(Event::Ignored);
                }
                if leases.is_empty() {
                    if let Some(out) = &reply {
                        send(&mut core_sender, &metrics, out);
                    }
                    if let Some(b) = &o.boot {
                        record_boot(opts.state.as_ref(), b);
                    }
                } else if job_tx
                    .send(Job { leases, log: o.log, reply, boot: o.boot, received })
                    .is_err()
                {
                    tracing::error!("lease committer stopped; exiting");
                    break;
                }
            }
            c = control.recv() => match c {
                Some(Control::Reload) => {
                    let conf = opts.conf_path.clone();
                    let inv = opts.inventory.clone();
                    let res = tokio::task::spawn_blocking(move || load_config(&conf, inv.as_deref())).await;
                    match res {
                        Ok(Ok(new)) => {
                            for w in &new.warnings {
                                tracing::warn!("{w}");
                            }
                            cfg = Arc::new(new.config);
                            metrics.count(Event::Reload(true));
                            tracing::info!("configuration reloaded from {}", opts.conf_path);
                        }
                        Ok(Err(e)) => {
                            metrics.count(Event::Reload(false));
                            for line in e.to_string().lines() {
                                tracing::error!("{line}");
                            }
                            tracing::error!("configuration reload refused: still serving the previous configuration");
                        }
                        Err(e) => tracing::error!("configuration reload failed: {e}"),
                    }
                }
                Some(Control::Stop) | None => break,
            },
            _ = tick.tick() => {
                metrics.set_pools(pool_usage(&cfg, &table, now()));
                if let Some(p) = &opts.metrics_file
                    && let Err(e) = metrics.write_file(p)
                {
                    tracing::warn!("metrics file {}: {e}", p.display());
                }
            }
        }
    }
    for t in &tasks {
        t.abort();
    }
    drop(job_tx);
    let _ = tokio::task::spawn_blocking(move || committer.join()).await;
    metrics.set_pools(pool_usage(&cfg, &table, now()));
    if let Some(p) = &opts.metrics_file {
        let _ = metrics.write_file(p);
    }
    Ok(())
}
