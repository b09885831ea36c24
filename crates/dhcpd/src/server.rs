//! The running server: a thin tokio shell around [`crate::decide::decide`].
//!
//! One core task reads the sockets (in bursts of whatever is queued, up to [`BURST`] datagrams)
//! and owns the lease table and the configuration: it reads each packet, decides, applies the
//! changed leases to the table and sends replies that need nothing on disk (offers, NAKs,
//! INFORM answers) at once. Replies that depend on a lease go to the committer thread with
//! their leases, a burst's worth at a time; it takes every job waiting, appends all their
//! leases to the lease file with one sync (group commit), and only then logs them and sends
//! the replies: a lease is on disk before its ACK leaves (and before `DHCPACK on …` or
//! `DHCPRELEASE of …` is logged). The committer keeps its own copy of what is on disk and
//! rewrites the file from it when due. It reports which writes are synced, so the core task
//! knows which leases of its table are on disk (`crate::durable`): a reply that writes
//! nothing (ISC's `dhcp-cache-threshold` reuse) but states a lease whose last write is still
//! queued, was dropped or failed goes to the committer with that lease, behind the write.
//! Both hold their log lines for a burst and write them at once
//! ([`pxe_daemon::logging::hold`]).
//!
//! The committer's queue is bounded ([`COMMIT_QUEUE`] bursts): when the disk cannot keep up,
//! further bursts of lease-changing replies are dropped (counted, and logged at most every
//! [`DROP_LOG_EVERY`]); their clients retransmit. The committer's progress feeds systemd's
//! watchdog, so a stuck disk stops the pings and systemd restarts the service instead of
//! the queue growing. A failed commit leaves the file as it was (or rewrites it from the
//! durable table) before any further reply that needs the disk leaves.
//!
//! Programs that `execute` statements ask for ([`crate::hooks`]) go to their own worker from
//! the committer, once the leases queued before them are on disk and their reply has left. Leases with an `on
//! expiry` handler are kept in an index by end time, and expired (written, then their
//! programs run) by a timer each second.
//!
//! An offer that wants a ping (`ping-check`, [`crate::ping`]) is held instead of sent: the
//! echo goes out, and the offer leaves when its wait is over, or the address is abandoned
//! (and written) when the echo is answered.
//!
//! Control messages reload the configuration (a bad one is refused and the old one keeps
//! serving; leases are untouched) or stop the server after the pending commits.

use crate::exchange::Exchange;
use std::collections::{BTreeSet, HashSet};
use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::conf::{Output, ParseOptions, parse_file};
use crate::decide::{BootNote, Change, Dest, Hook, decide, pool_usage};
use crate::durable::{Committed, Durability};
use crate::hooks::HookRunner;
use crate::install_states::InstallStates;
use crate::lease::records::ObjectRecord;
use crate::lease::{Cas, Lease, LeaseStore, LeaseTable, Time};
use crate::metrics::{Event, Metrics};
use crate::model::{Config, ExecuteLimits, add_inventory, compile};
use crate::net::{Bound, Iface, Listener, Received, Sender};
use crate::omapi::objects::Response as OmapiResponse;
use crate::omapi::state::OmapiState;
use crate::omapi::status::Status as OmapiStatus;
use crate::request::{RecvMeta, msg};
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
        // Files of the machines directory that were not loaded (conflicts, errors).
        warnings.extend(inv.problems.iter().map(|p| format!("not loaded: {p}")));
        add_inventory(&mut config, Arc::new(inv));
    }
    Ok(LoadedConfig { config, warnings })
}

/// The leases of a lease file that lie in the configuration's ranges (ISC drops the others
/// with `lease X: no subnet.`), as a table; also returns the log lines.
/// The leases are moved out of `file` into the table (a copy of each would stay behind as
/// freed but resident memory, issue 17).
pub fn initial_table(
    cfg: &Config,
    file: &mut crate::lease::LeaseFile,
) -> (LeaseTable, Vec<String>) {
    let mut log = Vec::new();
    for o in &file.output {
        match o {
            Output::Error(d) => log.push(d.headline()),
            Output::Log(l) => log.push(l.clone()),
        }
    }
    let mut kept = Vec::with_capacity(file.leases.len());
    for mut l in std::mem::take(&mut file.leases) {
        if cfg.pool_of(l.ip).is_some() {
            for events in l.attach_handlers(&cfg.handlers) {
                log.push(format!(
                    "lease {}: its {} statements are not in the configuration: dropped",
                    l.ip,
                    events_text(events)
                ));
            }
            kept.push(l);
        } else {
            log.push(format!("lease {}: no subnet.", l.ip));
        }
    }
    let mut table = LeaseTable::from_leases(kept);
    for (ip, v) in &file.db_versions {
        table.set_db_version(*ip, *v);
    }
    (table, log)
}

/// `on expiry or release`, as the lease file names the events of a block.
fn events_text(events: crate::model::Events) -> String {
    let names: Vec<&str> = [
        (events.commit, "commit"),
        (events.expiry, "expiry"),
        (events.release, "release"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    format!("on {}", names.join(" or "))
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
    pub state: Option<std::sync::Arc<dyn pxe_model::StateStore>>,
    /// Where to write metrics.
    pub metrics_file: Option<PathBuf>,
    /// `-s`: send every reply to this address instead.
    pub reply_to: Option<Ipv4Addr>,
    /// `--proxy`: proxyDHCP, boot information for PXE clients only, no address
    /// ([`crate::decide::decide_proxy`]).
    pub proxy: bool,
}

/// A reply waiting for its leases to be on disk.
struct Job {
    /// The records the core's table holds, shared (issue 17: the committer's durable table
    /// keeps these, not copies).
    leases: Vec<Arc<Lease>>,
    /// Each lease's compare-and-swap, for a shared database (`cas[i]` is `leases[i]`'s).
    cas: Vec<Cas>,
    /// Log lines, written once the leases are on disk.
    log: Vec<String>,
    /// The fields every line of the exchange carries.
    exchange: Exchange,
    reply: Option<Outgoing>,
    boot: Option<BootNote>,
    /// Programs to run once the leases are on disk, with the limits of the configuration
    /// that asked for them.
    hooks: Vec<Hook>,
    limits: ExecuteLimits,
    received: Instant,
    /// Its number for [`Durability`] (0: it writes no lease).
    seq: u64,
    /// Host and group records (OMAPI) to make durable with the leases.
    omapi_records: Vec<ObjectRecord>,
    /// An OMAPI answer that leaves once `hosts` are on disk (else a failure does).
    omapi: Option<(oneshot::Sender<OmapiResponse>, OmapiResponse)>,
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

fn record_boot(state: Option<&dyn pxe_model::StateStore>, note: &BootNote) {
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
    // httpd-tree serves a machine's own files only to the address it was acknowledged.
    if let Some(address) = acked_address(&note.detail)
        && let Err(e) = s.record_ack(&note.machine, address, ev.at)
    {
        tracing::warn!("acked address for {}: {e}", note.machine);
    }
}

/// The address a boot note's `DHCPACK <address> …` or `BOOTREPLY <address> …` gave out
/// (not an OFFER's, and not `0.0.0.0`).
fn acked_address(detail: &str) -> Option<std::net::Ipv4Addr> {
    let mut words = detail.split_whitespace();
    if !matches!(words.next(), Some("DHCPACK" | "BOOTREPLY")) {
        return None;
    }
    let address: std::net::Ipv4Addr = words.next()?.parse().ok()?;
    (!address.is_unspecified()).then_some(address)
}

/// Bursts of lease-changing replies the committer may have waiting; more are dropped.
pub const COMMIT_QUEUE: usize = 64;

/// At most one log line per this long about replies dropped on a full committer queue.
pub const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Rewrite the file from the durable table when an earlier failure left it in doubt.
/// `false` while it cannot be repaired (no commit is attempted then).
fn repair<S: LeaseStore>(store: &mut S, durable: &LeaseTable) -> bool {
    if !store.needs_rewrite() {
        return true;
    }
    match store.compact(durable, now()) {
        Ok(()) => {
            tracing::warn!("lease database rewritten from the durable leases after a failure");
            true
        }
        Err(e) => {
            tracing::error!("can't rewrite lease database after a failure: {e}");
            false
        }
    }
}

/// Where the committer's work goes once the leases are on disk.
struct CommitterOut {
    sender: Sender,
    metrics: Arc<Metrics>,
    state: Option<std::sync::Arc<dyn pxe_model::StateStore>>,
    /// The last time (ms) the committer was not stuck, for the watchdog.
    beat: Arc<AtomicU64>,
    hooks: HookRunner,
    /// Tells the core task which writes are on disk (or failed).
    reports: std_mpsc::Sender<Committed>,
}

/// The committer thread: group commit, then send, then run the hooks, then rewrite the
/// file when due.
fn committer<S: LeaseStore>(
    mut store: S,
    mut durable: LeaseTable,
    rx: std_mpsc::Receiver<Vec<Job>>,
    out: CommitterOut,
) {
    let CommitterOut {
        mut sender,
        metrics,
        state,
        beat,
        hooks,
        reports,
    } = out;
    let mut store_down = false;
    loop {
        beat.store(now_ms(), Ordering::Relaxed);
        let mut batch: Vec<Job> = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(jobs) => jobs,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        };
        // Everything else waiting joins this commit (group commit).
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(jobs) => batch.extend(jobs),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let upto = batch.iter().map(|j| j.seq).max().unwrap_or(0);
            let CommitOutcome {
                mut batch,
                mut left_out,
                fresh,
                committed,
            } = commit_winners(&mut store, &durable, batch, &metrics);
            for row in &fresh {
                if let Some(l) = &row.lease {
                    durable.insert(l.clone());
                }
            }
            let records: Vec<ObjectRecord> = batch
                .iter_mut()
                .flat_map(|j| std::mem::take(&mut j.omapi_records))
                .collect();
            let committed = committed.and_then(|leases| {
                store.commit_records(&records)?;
                Ok(leases)
            });
            if !left_out.is_empty() {
                // Lost their race on the shared database: nothing of theirs is on disk.
                answer_omapi(&mut left_out, false);
                tracing::error!(
                    "database update failed: {} request(s) lost a race to another server; \
                     their replies are not sent (the others of the batch are)",
                    left_out.len()
                );
            }
            answer_omapi(&mut batch, committed.is_ok());
            match committed {
                Ok(leases) => {
                    if !leases.is_empty() {
                        metrics.count(Event::Commit(leases.len()));
                    }
                    note_store_up(&metrics, &mut store_down, true);
                    {
                        // The batch's lines in one write, before its replies leave.
                        let _held = pxe_daemon::logging::hold();
                        for j in &batch {
                            j.exchange.log(&j.log);
                        }
                    }
                    for j in &batch {
                        if let Some(o) = &j.reply {
                            send(&mut sender, &metrics, o);
                            metrics.count(Event::Latency(j.received.elapsed()));
                        }
                    }
                    for b in batch.iter().filter_map(|j| j.boot.as_ref()) {
                        record_boot(state.as_deref(), b);
                    }
                    // On disk and answered: now the `execute` programs (on commit …) run.
                    for j in &mut batch {
                        for h in std::mem::take(&mut j.hooks) {
                            hooks.submit(h, j.limits);
                        }
                    }
                    for l in leases {
                        durable.insert_shared(l);
                    }
                    let lost_jobs = left_out.iter().map(|j| j.seq).collect();
                    report(&reports, upto, true, fresh, lost_jobs);
                }
                Err(e) => {
                    metrics.count(Event::CommitError);
                    tracing::error!(
                        "database update failed: {e}; {} replies not sent",
                        batch.len()
                    );
                    // Repair now (when the disk allows) rather than at the next request.
                    repair(&mut store, &durable);
                    note_store_up(&metrics, &mut store_down, false);
                    report(&reports, upto, false, fresh, Vec::new());
                }
            }
        }
        // What other servers sharing the database wrote, for both tables.
        let observed = store.observed();
        if !observed.is_empty() {
            for row in &observed {
                if let Some(l) = &row.lease {
                    durable.insert(l.clone());
                }
            }
            let _ = reports.send(Committed {
                observed,
                ..Committed::default()
            });
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

/// The store's health for the `dhcpd_lease_store_up` gauge and systemd's status line (a
/// change only: the status is not rewritten at every commit).
fn note_store_up(metrics: &Metrics, down: &mut bool, up: bool) {
    metrics.count(Event::StoreUp(up));
    let was_down = std::mem::replace(down, !up);
    // Down then up, or up then down.
    if was_down == up {
        pxe_daemon::notify::status(if up {
            "serving"
        } else {
            "lease store failing: no ACK is sent until a commit succeeds"
        });
    }
}

/// Send the OMAPI answers of a batch: theirs once the host and group records are on disk (`ok`), an
/// I/O error status otherwise (the host stays in effect until the next start, as in ISC).
fn answer_omapi(batch: &mut [Job], ok: bool) {
    for j in batch {
        if let Some((tx, response)) = j.omapi.take() {
            let response = if ok {
                response
            } else {
                tracing::error!("OMAPI: record not written: answered with an I/O error");
                OmapiResponse::Status {
                    result: OmapiStatus::IO_ERROR,
                    text: None,
                }
            };
            // The connection may be gone: nothing to answer then.
            let _ = tx.send(response);
        }
    }
}

/// Tell the core task that the writes numbered up to `upto` are on disk (`ok`) or not.
fn report(
    reports: &std_mpsc::Sender<Committed>,
    upto: u64,
    ok: bool,
    fresh: Vec<crate::lease::RowNow>,
    lost_jobs: Vec<u64>,
) {
    if upto > 0 || !fresh.is_empty() {
        // The core task gone means the server is stopping: nobody to tell.
        let _ = reports.send(Committed {
            upto,
            ok,
            fresh,
            observed: Vec::new(),
            lost_jobs,
        });
    }
}

/// How many times a batch that lost races is committed again without the losers.
const SPLITS: usize = 4;

/// What committing a batch came to.
struct CommitOutcome {
    /// The jobs whose leases are on disk (when `committed` is `Ok`).
    batch: Vec<Job>,
    /// The jobs left out after losing a race on the shared database.
    left_out: Vec<Job>,
    /// The rows as they are now where races were lost (the winners' leases).
    fresh: Vec<crate::lease::RowNow>,
    /// The leases written, or why nothing was.
    committed: Result<Vec<Arc<Lease>>, crate::lease::StoreError>,
}

/// Commits the leases of `batch`; when some lose their compare-and-swap (another server
/// wrote those rows first), the jobs touching those addresses are left out and the rest is
/// committed again (at most [`SPLITS`] times), so one lost race costs its own request, not
/// the whole batch's.
fn commit_winners<S: LeaseStore>(
    store: &mut S,
    durable: &LeaseTable,
    mut batch: Vec<Job>,
    metrics: &Metrics,
) -> CommitOutcome {
    let mut left_out = Vec::new();
    let mut fresh = Vec::new();
    let mut splits = 0;
    loop {
        let shared: Vec<Arc<Lease>> = batch
            .iter()
            .flat_map(|j| j.leases.iter().cloned())
            .collect();
        // The store writes from plain records; these copies live only for the write.
        let leases: Vec<Lease> = shared.iter().map(|l| Lease::clone(l)).collect();
        let cas: Vec<Cas> = batch.iter().flat_map(|j| j.cas.iter().copied()).collect();
        let result = if repair(store, durable) {
            store.commit_cas(&leases, &cas)
        } else {
            Err(crate::lease::StoreError::NeedsRewrite(PathBuf::from(
                "the lease database",
            )))
        };
        match result {
            Ok(()) => {
                for j in &mut batch {
                    j.leases.clear();
                    j.cas.clear();
                }
                return CommitOutcome {
                    batch,
                    left_out,
                    fresh,
                    committed: Ok(shared),
                };
            }
            Err(crate::lease::StoreError::Conflict(won)) if splits < SPLITS => {
                metrics.count(Event::Conflict(won.len()));
                let lost: HashSet<Ipv4Addr> = won.iter().map(|r| r.ip).collect();
                fresh.extend(won);
                let (losers, rest): (Vec<Job>, Vec<Job>) = batch
                    .into_iter()
                    .partition(|j| j.leases.iter().any(|l| lost.contains(&l.ip)));
                left_out.extend(losers);
                batch = rest;
                splits += 1;
            }
            Err(e) => {
                if let crate::lease::StoreError::Conflict(won) = &e {
                    metrics.count(Event::Conflict(won.len()));
                    fresh.extend(won.iter().cloned());
                }
                batch.append(&mut left_out);
                return CommitOutcome {
                    batch,
                    left_out,
                    fresh,
                    committed: Err(e),
                };
            }
        }
    }
}

/// Pings systemd's watchdog (when `WatchdogSec=` asks for it) only while the committer makes
/// progress: a commit stuck on the disk for longer than the ping period stops the pings, and
/// systemd restarts the service.
async fn committer_watchdog(beat: Arc<AtomicU64>) {
    let Some(period) = pxe_daemon::notify::watchdog_period() else {
        return;
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stalled = false;
    loop {
        tick.tick().await;
        let age = now_ms().saturating_sub(beat.load(Ordering::Relaxed));
        if age <= period.as_millis() as u64 {
            pxe_daemon::notify::watchdog_ping();
            stalled = false;
        } else if !stalled {
            stalled = true;
            tracing::error!("lease committer stuck for {age} ms (disk?): no more watchdog pings");
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
    states: Option<&InstallStates>,
    chaddr: &[u8; 16],
) -> Option<pxe_model::InstallState> {
    let inv = cfg.inventory.as_deref()?;
    let mac = pxe_model::MacAddr(chaddr.get(..6)?.try_into().ok()?);
    let m = inv.machine_by_mac(&mac)?;
    match states {
        Some(s) => s.of(&m.name),
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
    /// With `--proxy`: the sending side of the PXE boot server port's sockets (their
    /// listeners are among `sockets`), so that answers leave from that port.
    pub boot_server: Option<Sender>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The raw ICMP socket for `ping-check` (none: offers go out unpinged).
    pub icmp: Option<socket2::Socket>,
    /// The OMAPI listener (bound when `omapi-port` is set).
    pub omapi: Option<std::net::TcpListener>,
    /// The host and group records of the lease file (already entered into `config`).
    pub object_records: Vec<ObjectRecord>,
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
            boot_server,
            metrics,
            icmp,
            omapi,
            object_records,
        } = self;
        // The raw socket goes through tokio's datagram socket type: the calls are the same
        // (sendto, recvfrom, readiness), and no unsafe registration is needed.
        let icmp = icmp
            .map(|s| IcmpSocket::from_std(std::net::UdpSocket::from(s)))
            .transpose()?
            .map(Arc::new);
        let omapi = Omapi {
            listener: omapi,
            records: object_records,
        };
        serve(
            opts,
            config,
            table,
            store,
            sockets,
            (sender, boot_server),
            control,
            metrics,
            icmp,
            omapi,
        )
        .await
    }
}

/// At most this many datagrams are taken from the sockets before they are handled (and
/// their log lines written, and their jobs handed to the committer, at once).
const BURST: usize = 64;

/// The core task's state: the configuration, the live lease table and the way out.
struct Core {
    opts: ServeOptions,
    cfg: Arc<Config>,
    table: LeaseTable,
    sender: Sender,
    /// With `--proxy`: sends from the PXE boot server port.
    boot_server: Option<Sender>,
    metrics: Arc<Metrics>,
    ifaces: Vec<Iface>,
    /// Leases with an `on expiry` handler, by end time (entries of leases renewed since
    /// are stale and skipped).
    expiring: BTreeSet<(Time, Ipv4Addr)>,
    /// Which leases of `table` are on disk as it holds them.
    durability: Durability,
    /// Offers waiting for their ping, and the socket pings go out on.
    pings: Pings,
    /// Names of pool addresses for `get-lease-hostnames` (when the configuration asks).
    lease_names: Option<crate::lease_names::Shared>,
    /// Handles and host and group records of OMAPI.
    omapi: OmapiState,
    /// An OMAPI client set the `control` object's state to shutdown.
    stop_requested: bool,
    /// Where the row versions of writes come from (see [`Core::queue_write`]).
    versions: fastrand::Rng,
    /// Until when the pools count as contended (a race lost on the shared database).
    contended_until: Option<Instant>,
    /// Where boot plans read install states (none: every machine pending).
    install_states: Option<InstallStates>,
}

/// How long after a race lost on the shared database new clients are spread over the pool.
const CONTENDED_FOR: Duration = Duration::from_secs(60);

/// [`start_lease_names`] off the core task (it waits for the first round of lookups).
async fn lease_names_for(cfg: Arc<Config>) -> Option<crate::lease_names::Shared> {
    tokio::task::spawn_blocking(move || start_lease_names(&cfg))
        .await
        .ok()
        .flatten()
}

/// The lookups `get-lease-hostnames` needs for `cfg`, started (none when no scope sets it).
fn start_lease_names(cfg: &Config) -> Option<crate::lease_names::Shared> {
    if !crate::lease_names::wanted(cfg) {
        return None;
    }
    let addresses = crate::lease_names::pool_addresses(cfg);
    tracing::info!(
        "get-lease-hostnames: looking up the names of {} pool addresses",
        addresses.len()
    );
    match crate::lease_names::start(addresses) {
        Ok(names) => Some(names),
        Err(e) => {
            tracing::error!("get-lease-hostnames: no lookup thread ({e}): no names are given");
            None
        }
    }
}

/// The ICMP side of `ping-check`: the socket (none: offers go out at once), the echo
/// identifier and sequence, and the offers held.
#[derive(Default)]
struct Pings {
    sock: Option<Arc<IcmpSocket>>,
    ident: u16,
    seq: u16,
    held: crate::ping::Held<HeldOffer>,
}

/// The raw ICMP socket, driven as a datagram socket.
type IcmpSocket = tokio::net::UdpSocket;

/// An offer waiting for its ping: the reply, its `DHCPOFFER on …` line, the exchange's
/// fields, and how long the address is abandoned for if the ping is answered.
struct HeldOffer {
    reply: Outgoing,
    lines: Vec<String>,
    exchange: Exchange,
    abandon_secs: i64,
}

impl Pings {
    /// Sends an echo to `ip`; false when it could not leave.
    fn send_echo(&mut self, ip: Ipv4Addr) -> bool {
        let Some(sock) = &self.sock else { return false };
        self.seq = self.seq.wrapping_add(1);
        let echo = crate::ping::echo_request(self.ident, self.seq);
        // Straight to the socket: tokio's try_send_to answers WouldBlock without trying
        // while its reactor has not seen the socket writable since the last full buffer.
        let to = std::net::SocketAddr::from((ip, 0));
        match socket2::SockRef::from(sock.as_ref()).send_to(&echo, &to.into()) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("ping of {ip} not sent: {e}");
                false
            }
        }
    }
}

/// The OMAPI side a server starts with.
struct Omapi {
    listener: Option<std::net::TcpListener>,
    records: Vec<ObjectRecord>,
}

impl Core {
    /// Decide one datagram: send what needs nothing on disk, push the rest to `jobs`.
    fn handle(&mut self, r: &Received, bound: Option<&Iface>, jobs: &mut Vec<Job>) {
        let (meta, ifindex) = meta_for(r, bound, &mut self.ifaces);
        let req = match wire::parse(&r.data, meta) {
            Ok(req) => req,
            Err(e) => {
                self.metrics.count(Event::Malformed);
                tracing::debug!("malformed packet from {}: {e}", r.from);
                return;
            }
        };
        self.metrics.count(Event::Received(req.msg_type()));
        if let Err(first) = crate::decide::admit(&mut self.table, &self.cfg, &req, now()) {
            self.metrics.count(Event::Ignored);
            if let Some(line) = first {
                tracing::warn!("{line}");
            }
            return;
        }
        let received = Instant::now();
        // Leases another server sharing the database wrote first count from now on.
        let (rows, lost_race) = self.durability.settle();
        for row in rows {
            if let Some(l) = row.lease {
                self.table.insert(l);
            }
            self.table.set_db_version(row.ip, row.version);
        }
        if lost_race {
            self.note_lost_race(received);
        }
        let names = self.lease_names.as_ref().and_then(|n| n.read().ok());
        let facts = crate::decide::Facts {
            install_state: install_state(&self.cfg, self.install_states.as_ref(), &req.chaddr),
            lease_hostnames: names.as_deref(),
            contended: self.contended_until.is_some_and(|t| received < t),
        };
        let arrival = if r.port == crate::decide::PXE_BOOT_SERVER_PORT {
            crate::decide::Arrival::BootServer(r.from)
        } else {
            crate::decide::Arrival::Dhcp
        };
        let mut o = if self.opts.proxy {
            crate::decide::decide_proxy(&self.cfg, &self.table, &req, &facts, now(), arrival)
        } else {
            decide(&self.cfg, &self.table, &req, &facts, now())
        };
        drop(names);
        let mut leases = Vec::new();
        for c in std::mem::take(&mut o.changes) {
            let persist = c.persist || self.states_unsaved(o.reply.as_ref(), &c);
            self.note_expiry(&c.lease);
            let held = c.apply_to(&mut self.table);
            if persist {
                leases.push(held);
            }
        }
        // What changes leases is logged once it is on disk (by the committer), the rest at
        // once.
        let exchange = Exchange::of(&req, &o);
        let ping = o
            .ping
            .filter(|_| leases.is_empty() && o.reply.is_some() && self.pings.sock.is_some());
        if leases.is_empty() && ping.is_none() {
            exchange.log(&o.log);
        }
        let reply = o.reply.as_ref().map(|rep| Outgoing {
            bytes: wire::encode(rep),
            dest: self
                .opts
                .reply_to
                .map_or_else(|| rep.dest.clone(), Dest::Unicast),
            ifindex,
            msg_type: rep.msg_type(),
        });
        if reply.is_none() {
            self.metrics.count(Event::Ignored);
        }
        let reply = match (ping, reply) {
            (Some(check), Some(out)) => {
                self.hold_for_ping(check, out, o.log, exchange);
                return;
            }
            (_, reply) => reply,
        };
        if leases.is_empty() {
            if let Some(out) = &reply {
                let sender = match (&mut self.boot_server, arrival) {
                    (Some(s), crate::decide::Arrival::BootServer(_)) => s,
                    _ => &mut self.sender,
                };
                send(sender, &self.metrics, out);
            }
            if o.boot.is_some() || !o.hooks.is_empty() {
                // Through the committer all the same, behind what is on its way to the disk
                // (a renewal answered from the table follows its lease's first commit). The
                // boot event too: writing it may wait on the state store (a database, whose
                // driver must not run on this task), never the packet path.
                jobs.push(Job {
                    leases: Vec::new(),
                    cas: Vec::new(),
                    log: Vec::new(),
                    exchange,
                    reply: None,
                    boot: o.boot,
                    hooks: o.hooks,
                    limits: self.cfg.execute,
                    received,
                    seq: 0,
                    omapi_records: Vec::new(),
                    omapi: None,
                });
            }
        } else {
            let (seq, cas) = self.queue_write(&leases);
            jobs.push(Job {
                leases,
                cas,
                log: o.log,
                exchange,
                reply,
                boot: o.boot,
                hooks: o.hooks,
                limits: self.cfg.execute,
                received,
                seq,
                omapi_records: Vec::new(),
                omapi: None,
            });
        }
    }

    /// A write of ours lost a race on the shared database: for [`CONTENDED_FOR`] from now
    /// new clients are spread over the pool (see [`crate::decide::Facts::contended`]).
    fn note_lost_race(&mut self, at: Instant) {
        if self.contended_until.is_none_or(|t| t <= at) {
            tracing::info!(
                "lease database: another server is allocating from the same pools: new clients \
                 are offered addresses spread over the pool for the next {} s",
                CONTENDED_FOR.as_secs()
            );
        }
        self.contended_until = Some(at + CONTENDED_FOR);
    }

    /// Holds an offer until its address has had `check.timeout_ms` to answer a ping: its
    /// `DHCPOFFER on …` line waits with it, the other lines are written now. An offer of an
    /// address already held replaces that one; with the table full, it goes out at once.
    fn hold_for_ping(
        &mut self,
        check: crate::decide::PingCheck,
        reply: Outgoing,
        log: Vec<String>,
        exchange: Exchange,
    ) {
        let (offer_lines, now_lines): (Vec<String>, Vec<String>) = log
            .into_iter()
            .partition(|l| l.starts_with("DHCPOFFER on "));
        exchange.log(&now_lines);
        let held = HeldOffer {
            reply,
            lines: offer_lines,
            exchange,
            abandon_secs: check.abandon_secs,
        };
        let wait = Duration::from_millis(u64::from(check.timeout_ms));
        match self.pings.held.hold(check.ip, held, Instant::now(), wait) {
            (crate::ping::Hold::Ping, _) => {
                if !self.pings.send_echo(check.ip) {
                    // No ping left: the offer goes when its wait is over all the same.
                    tracing::debug!("offer of {} waits without a ping", check.ip);
                }
            }
            (crate::ping::Hold::Replaced, _) => {}
            (crate::ping::Hold::Full, Some(h)) => self.send_held(h),
            (crate::ping::Hold::Full, None) => {}
        }
    }

    fn send_held(&mut self, h: HeldOffer) {
        h.exchange.log(&h.lines);
        send(&mut self.sender, &self.metrics, &h.reply);
    }

    /// The offers whose ping went unanswered in time leave.
    fn send_unanswered(&mut self) {
        for (_, h) in self.pings.held.due(Instant::now()) {
            self.send_held(h);
        }
    }

    /// `ip` answered the ping of a held offer: the offer is dropped and the address
    /// abandoned (written like any lease change).
    fn pinged(&mut self, ip: Ipv4Addr, jobs: &mut Vec<Job>) {
        let Some(h) = self.pings.held.answered(ip) else {
            tracing::debug!("ICMP Echo Reply for {ip} late or spurious.");
            return;
        };
        let Some(lease) = self.table.get(ip) else {
            return;
        };
        let (abandoned, line) = crate::decide::abandon_pinged(lease, h.abandon_secs, now());
        let abandoned = Arc::new(abandoned);
        self.table.insert_shared(Arc::clone(&abandoned));
        let (seq, cas) = self.queue_write(std::slice::from_ref(&abandoned));
        jobs.push(Job {
            leases: vec![abandoned],
            cas,
            log: vec![line],
            exchange: h.exchange,
            reply: None,
            boot: None,
            hooks: Vec::new(),
            omapi_records: Vec::new(),
            omapi: None,
            limits: self.cfg.execute,
            received: Instant::now(),
            seq,
        });
    }

    /// Does `reply` state the lease of a change that writes nothing (ISC's
    /// `dhcp-cache-threshold` reuse) while the table is ahead of the disk for it (its last
    /// write still queued, dropped or failed)? Then the lease is written again with the
    /// reply, which leaves once it is on disk: behind the pending write, never before it.
    fn states_unsaved(&self, reply: Option<&crate::decide::Reply>, c: &Change) -> bool {
        let Some(r) = reply else { return false };
        let states_lease = matches!(r.msg_type(), Some(msg::ACK) | None);
        states_lease && r.yiaddr == c.lease.ip && !self.durability.is_durable(c.lease.ip)
    }

    /// One OMAPI request: answered at once when it changes nothing on disk, else through the
    /// committer once its records are durable. A host or group change takes effect here, for
    /// the next packet.
    fn omapi(&mut self, job: crate::omapi::listener::Job, jobs: &mut Vec<Job>) {
        let cfg = Arc::make_mut(&mut self.cfg);
        let out = self.omapi.handle(cfg, &self.table, &job.request, now());
        if out.shutdown {
            tracing::info!("OMAPI: shutdown requested: stopping");
            self.stop_requested = true;
        }
        if let Some((lease, lines)) = out.lease {
            self.omapi_lease_changed(lease, lines, (job.reply, out.response), jobs);
            return;
        }
        if out.records.is_empty() {
            let _ = job.reply.send(out.response);
            return;
        }
        for r in &out.records {
            let what = if r.deleted { "deleted" } else { "added" };
            tracing::info!("OMAPI: host {} {what}", r.name);
        }
        jobs.push(Job {
            leases: Vec::new(),
            cas: Vec::new(),
            log: Vec::new(),
            exchange: Exchange::internal("omapi", "HostChanged", None),
            reply: None,
            boot: None,
            hooks: Vec::new(),
            limits: self.cfg.execute,
            received: Instant::now(),
            seq: 0,
            omapi_records: out.records,
            omapi: Some((job.reply, out.response)),
        });
    }

    /// A lease changed over OMAPI: in the table now, and written before the answer (and
    /// its log lines) go out.
    fn omapi_lease_changed(
        &mut self,
        lease: Lease,
        lines: Vec<String>,
        answer: (
            tokio::sync::oneshot::Sender<crate::omapi::objects::Response>,
            crate::omapi::objects::Response,
        ),
        jobs: &mut Vec<Job>,
    ) {
        let ip = lease.ip;
        self.note_expiry(&lease);
        let lease = Arc::new(lease);
        self.table.insert_shared(Arc::clone(&lease));
        let (seq, cas) = self.queue_write(std::slice::from_ref(&lease));
        jobs.push(Job {
            leases: vec![lease],
            cas,
            log: lines,
            exchange: Exchange::internal("omapi", "LeaseChanged", Some(ip)),
            reply: None,
            boot: None,
            hooks: Vec::new(),
            limits: self.cfg.execute,
            received: Instant::now(),
            seq,
            omapi_records: Vec::new(),
            omapi: Some(answer),
        });
    }

    /// A job writing `leases` is made: its number for [`Durability`], and each lease's
    /// compare-and-swap for a shared database, the table now standing for the versions the
    /// writes give the rows (with a lease file of its own, no versions are kept).
    fn queue_write(&mut self, leases: &[Arc<Lease>]) -> (u64, Vec<Cas>) {
        let seq = self.durability.queue(leases.iter().map(|l| l.ip));
        if !self.cfg.shared_leases {
            // A store of one server ignores versions: nothing to keep per address.
            let none = Cas {
                expected: 0,
                written: 0,
            };
            return (seq, vec![none; leases.len()]);
        }
        let cas = leases
            .iter()
            .map(|l| {
                let expected = self.table.db_version(l.ip);
                // Random: two servers never give a row the same version.
                let written = self.versions.i64(1..);
                self.table.set_db_version(l.ip, written);
                Cas { expected, written }
            })
            .collect();
        (seq, cas)
    }

    /// Remember when a lease with an `on expiry` handler ends.
    fn note_expiry(&mut self, lease: &Lease) {
        if lease.on().expiry.is_some() && lease.state == crate::lease::BindingState::Active {
            self.expiring.insert((lease.ends, lease.ip));
        }
    }

    /// ISC's pool timer, for leases with an `on expiry` handler: each one whose end has
    /// passed is expired (its handler's programs run once the expired lease is on disk).
    fn expire_due(&mut self, now: Time, jobs: &mut Vec<Job>) {
        while let Some(&(ends, ip)) = self.expiring.first() {
            if ends > now {
                break;
            }
            self.expiring.pop_first();
            let Some(lease) = self.table.get(ip).filter(|l| l.ends == ends) else {
                continue;
            };
            let Some(expired) = crate::decide::expire(&self.cfg, lease, now) else {
                continue;
            };
            let exchange = Exchange {
                iface: String::new(),
                xid: String::new(),
                mac: lease
                    .hardware
                    .as_ref()
                    .map(|h| h.colon())
                    .unwrap_or_default(),
                client_id: None,
                message_type: "expiry".into(),
                reason: "Expired".into(),
                address: Some(ip),
            };
            let lease = Arc::new(expired.lease);
            self.table.insert_shared(Arc::clone(&lease));
            let (seq, cas) = self.queue_write(std::slice::from_ref(&lease));
            jobs.push(Job {
                leases: vec![lease],
                cas,
                log: expired.log,
                exchange,
                reply: None,
                boot: None,
                hooks: expired.hooks,
                limits: self.cfg.execute,
                received: Instant::now(),
                seq,
                omapi_records: Vec::new(),
                omapi: None,
            });
        }
    }

    async fn reload(&mut self) {
        let conf = self.opts.conf_path.clone();
        let inv = self.opts.inventory.clone();
        let res = tokio::task::spawn_blocking(move || load_config(&conf, inv.as_deref())).await;
        match res {
            Ok(Ok(new)) => {
                for w in &new.warnings {
                    tracing::warn!("{w}");
                }
                let mut config = new.config;
                for w in self.omapi.replay(&mut config) {
                    tracing::warn!("{w}");
                }
                config.shared_leases = self.cfg.shared_leases;
                self.cfg = Arc::new(config);
                self.lease_names = lease_names_for(self.cfg.clone()).await;
                self.metrics.count(Event::Reload(true));
                tracing::info!("configuration reloaded from {}", self.opts.conf_path);
            }
            Ok(Err(e)) => {
                self.metrics.count(Event::Reload(false));
                for line in e.to_string().lines() {
                    tracing::error!("{line}");
                }
                tracing::error!(
                    "configuration reload refused: still serving the previous configuration"
                );
            }
            Err(e) => tracing::error!("configuration reload failed: {e}"),
        }
    }

    fn write_metrics(&self) {
        self.metrics
            .set_pools(pool_usage(&self.cfg, &self.table, now()));
        if let Some(p) = &self.opts.metrics_file
            && let Err(e) = self.metrics.write_file(p)
        {
            tracing::warn!("metrics file {}: {e}", p.display());
        }
    }
}

/// The next OMAPI request (never, without a listener).
async fn next_omapi(
    rx: &mut Option<mpsc::Receiver<crate::omapi::listener::Job>>,
) -> Option<crate::omapi::listener::Job> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How long a shutdown asked for over OMAPI waits for its answer to be written.
const OMAPI_SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// How often leases with an `on expiry` handler are checked for their end.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// The way to the committer: its bounded queue, and the count of bursts dropped since the
/// last line about them.
struct CommitQueue {
    tx: std_mpsc::SyncSender<Vec<Job>>,
    dropped: usize,
    last_drop_log: Option<Instant>,
}

impl CommitQueue {
    /// Hand `jobs` to the committer (dropped, counted and logged when its queue is full).
    /// `false` when the committer has stopped.
    /// The leases of dropped jobs are not on disk: `durability` is told.
    fn push(&mut self, jobs: Vec<Job>, metrics: &Metrics, durability: &mut Durability) -> bool {
        if jobs.is_empty() {
            return true;
        }
        match self.tx.try_send(jobs) {
            Ok(()) => true,
            Err(std_mpsc::TrySendError::Full(jobs)) => {
                metrics.count(Event::QueueFull(jobs.len()));
                durability.dropped(jobs.iter().flat_map(|j| j.leases.iter().map(|l| l.ip)));
                self.dropped += jobs.len();
                if self
                    .last_drop_log
                    .is_none_or(|t| t.elapsed() >= DROP_LOG_EVERY)
                {
                    tracing::error!(
                        "lease committer queue full (slow or stuck disk): {} requests dropped; \
                         their clients retransmit",
                        self.dropped
                    );
                    self.dropped = 0;
                    self.last_drop_log = Some(Instant::now());
                }
                true
            }
            Err(std_mpsc::TrySendError::Disconnected(_)) => {
                tracing::error!("lease committer stopped; exiting");
                false
            }
        }
    }
}

/// Take up to [`BURST`] queued datagrams, one from each socket in turn. Returns the first
/// receive error, if any (the socket that failed is skipped for this burst).
fn take_burst(
    listeners: &[Listener],
    buf: &mut [u8],
    burst: &mut Vec<(Received, usize)>,
) -> Option<std::io::Error> {
    let mut open = vec![true; listeners.len()];
    let mut error = None;
    while burst.len() < BURST && open.iter().any(|o| *o) {
        for (i, l) in listeners.iter().enumerate() {
            if !open[i] || burst.len() >= BURST {
                continue;
            }
            match l.try_recv(buf) {
                Ok(Some(r)) => burst.push((r, i)),
                Ok(None) => open[i] = false,
                Err(e) => {
                    open[i] = false;
                    error.get_or_insert(e);
                }
            }
        }
    }
    error
}

#[allow(clippy::too_many_arguments)] // the fields of `Server`, taken apart once
async fn serve<S: LeaseStore>(
    opts: ServeOptions,
    config: Config,
    table: LeaseTable,
    store: S,
    listeners: Vec<Bound>,
    (sender, boot_server): (Sender, Option<Sender>),
    mut control: mpsc::Receiver<Control>,
    metrics: Arc<Metrics>,
    icmp: Option<Arc<IcmpSocket>>,
    omapi: Omapi,
) -> std::io::Result<()> {
    let mut omapi_rx = match (omapi.listener, config.omapi.as_ref()) {
        (Some(l), Some(settings)) => {
            l.set_nonblocking(true)?;
            let l = tokio::net::TcpListener::from_std(l)?;
            let (tx, rx) = mpsc::channel(crate::omapi::listener::QUEUE);
            let key = settings.key.clone();
            tokio::spawn(crate::omapi::listener::serve(
                l,
                key,
                tx,
                crate::omapi::listener::Bounds::default(),
            ));
            Some(rx)
        }
        _ => None,
    };
    let listeners = listeners
        .into_iter()
        .map(Bound::listen)
        .collect::<std::io::Result<Vec<Listener>>>()?;
    let (job_tx, job_rx) = std_mpsc::sync_channel::<Vec<Job>>(COMMIT_QUEUE);
    let beat = Arc::new(AtomicU64::new(now_ms()));
    let committer_beat = beat.clone();
    tokio::spawn(committer_watchdog(beat));
    let committer_metrics = metrics.clone();
    let committer_state = opts.state.clone();
    let durable = table.record_copy();
    let (committer_hooks, hook_worker) = HookRunner::start(metrics.clone())?;
    let (durability, reports) = Durability::new();
    let mut core = Core {
        opts,
        cfg: Arc::new(config),
        table,
        sender: sender.try_clone()?,
        boot_server,
        metrics,
        ifaces: crate::net::interfaces().unwrap_or_default(),
        expiring: BTreeSet::new(),
        durability,
        pings: Pings {
            sock: icmp.clone(),
            ident: (std::process::id() & 0xffff) as u16,
            ..Pings::default()
        },
        lease_names: None,
        omapi: OmapiState::new(omapi.records),
        stop_requested: false,
        versions: fastrand::Rng::new(),
        contended_until: None,
        install_states: None,
    };
    // After the fork: a remote store's refresh thread runs in the serving process.
    core.install_states = core.opts.state.clone().map(InstallStates::new);
    core.lease_names = lease_names_for(core.cfg.clone()).await;
    // Leases read with `on expiry` statements expire through the timer too.
    let with_expiry: Vec<Lease> = core
        .table
        .iter()
        .filter(|l| l.on().expiry.is_some())
        .cloned()
        .collect();
    for l in &with_expiry {
        core.note_expiry(l);
    }
    let committer = std::thread::Builder::new()
        .name("lease-committer".into())
        .spawn(move || {
            let out = CommitterOut {
                sender,
                metrics: committer_metrics,
                state: committer_state,
                beat: committer_beat,
                hooks: committer_hooks,
                reports,
            };
            committer(store, durable, job_rx, out)
        })?;
    let mut queue = CommitQueue {
        tx: job_tx,
        dropped: 0,
        last_drop_log: None,
    };
    let mut buf = vec![0u8; crate::net::RECV_BUFFER];
    let mut burst = Vec::with_capacity(BURST);
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut expiry_tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        let next_ping_deadline = core.pings.held.next_deadline();
        tokio::select! {
            r = crate::net::any_readable(&listeners) => {
                if let Err(e) = r {
                    tracing::warn!("receive error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                let error = take_burst(&listeners, &mut buf, &mut burst);
                let mut jobs = Vec::new();
                {
                    // The lines of the burst go out in one write, before its jobs reach the
                    // committer (so a client's OFFER is logged before its ACK).
                    let _held = pxe_daemon::logging::hold();
                    for (r, i) in burst.drain(..) {
                        let bound = listeners.get(i).and_then(|l| l.iface.as_ref());
                        core.handle(&r, bound, &mut jobs);
                    }
                    if let Some(e) = &error {
                        tracing::warn!("receive error: {e}");
                    }
                }
                if !queue.push(jobs, &core.metrics, &mut core.durability) {
                    break;
                }
                if error.is_some() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                } else {
                    // Let the other tasks (signals, watchdog) run between bursts.
                    tokio::task::yield_now().await;
                }
            }
            c = control.recv() => match c {
                Some(Control::Reload) => {
                    pxe_daemon::notify::reloading();
                    core.reload().await;
                    pxe_daemon::notify::reloaded("serving");
                }
                Some(Control::Stop) | None => {
                    pxe_daemon::notify::stopping();
                    break;
                }
            },
            ready = icmp_readable(icmp.as_deref()) => {
                let mut jobs = Vec::new();
                match ready {
                    Ok(sock) => {
                        for ip in echo_replies(sock, core.pings.ident) {
                            core.pinged(ip, &mut jobs);
                        }
                    }
                    Err(e) => tracing::warn!("ICMP receive error: {e}"),
                }
                if !queue.push(jobs, &core.metrics, &mut core.durability) {
                    break;
                }
            }
            Some(job) = next_omapi(&mut omapi_rx) => {
                let mut jobs = Vec::new();
                core.omapi(job, &mut jobs);
                if !queue.push(jobs, &core.metrics, &mut core.durability) {
                    break;
                }
                if core.stop_requested {
                    // The answer is on its way to the client; then stop as on SIGTERM.
                    tokio::time::sleep(OMAPI_SHUTDOWN_GRACE).await;
                    pxe_daemon::notify::stopping();
                    break;
                }
            }
            _ = sleep_until(next_ping_deadline) => core.send_unanswered(),
            _ = tick.tick() => core.write_metrics(),
            _ = expiry_tick.tick() => {
                let mut jobs = Vec::new();
                core.expire_due(now(), &mut jobs);
                if !queue.push(jobs, &core.metrics, &mut core.durability) {
                    break;
                }
            }
        }
    }
    drop(queue);
    let _ = tokio::task::spawn_blocking(move || committer.join()).await;
    core.write_metrics();
    // The programs already queued still run (each within its timeout).
    let _ = tokio::task::spawn_blocking(move || hook_worker.join()).await;
    Ok(())
}

/// Waits until the ICMP socket has something to read (never, without one).
async fn icmp_readable(icmp: Option<&IcmpSocket>) -> std::io::Result<&IcmpSocket> {
    match icmp {
        Some(sock) => sock.readable().await.map(|()| sock),
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline` (for ever without one).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The senders of every echo reply to our pings waiting on the socket (read until it
/// would block).
fn echo_replies(sock: &IcmpSocket, ident: u16) -> Vec<Ipv4Addr> {
    let mut from = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        match sock.try_recv(&mut buf) {
            Ok(n) => from.extend(crate::ping::echo_reply_from(&buf[..n], ident)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    from
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use std::net::{SocketAddrV4, UdpSocket};

    const CONF: &str = "
default-lease-time 600;
subnet 10.0.0.0 netmask 255.255.255.0 {
  range 10.0.0.10 10.0.0.20;
}";

    /// A hand-built DHCP packet from 52:54:00:00:00:01 with these options after the magic.
    fn packet(options: &[&[u8]]) -> Received {
        packet_from(1, options)
    }

    /// A hand-built DHCP packet from 52:54:00:00:00:`last` (its own transaction id) with
    /// these options after the magic.
    pub(super) fn packet_from(last: u8, options: &[&[u8]]) -> Received {
        let mut p = vec![0u8; 240];
        p[..3].copy_from_slice(&[1, 1, 6]);
        p[4..8].copy_from_slice(&(0x1200u32 + u32::from(last)).to_be_bytes());
        p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0, 0, last]);
        p[236..240].copy_from_slice(&[99, 130, 83, 99]);
        for o in options {
            p.extend_from_slice(o);
        }
        p.push(255);
        Received {
            data: p,
            from: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            ifindex: None,
            port: 67,
        }
    }

    fn discover() -> Received {
        packet(&[&[53, 1, 1]])
    }

    fn request() -> Received {
        packet(&[&[53, 1, 3], &[50, 4, 10, 0, 0, 10], &[54, 4, 10, 0, 0, 1]])
    }

    pub(super) fn eth1() -> Iface {
        Iface {
            name: "eth1".into(),
            index: 1,
            addrs: vec![Ipv4Addr::new(10, 0, 0, 1)],
            mac: None,
        }
    }

    /// A core serving [`CONF`] whose replies all go (`-s 127.0.0.1`) to the returned socket,
    /// and the committer's end of its reports (no committer runs: it is backed up).
    pub(super) fn core() -> (Core, UdpSocket, std_mpsc::Sender<Committed>) {
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.set_nonblocking(true).unwrap();
        let port = client.local_addr().unwrap().port();
        let loaded = crate::conf::parse_str(
            "test.conf",
            CONF.as_bytes(),
            ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        let cfg = compile(&loaded.config, &crate::model::no_dns).unwrap().0;
        let (durability, reports) = Durability::new();
        let core = Core {
            opts: ServeOptions {
                reply_to: Some(Ipv4Addr::LOCALHOST),
                ..ServeOptions::default()
            },
            cfg: Arc::new(cfg),
            table: LeaseTable::default(),
            sender: Sender::loopback(port).unwrap(),
            boot_server: None,
            metrics: Arc::new(Metrics::default()),
            ifaces: Vec::new(),
            expiring: BTreeSet::new(),
            durability,
            pings: Pings::default(),
            lease_names: None,
            omapi: OmapiState::default(),
            stop_requested: false,
            versions: fastrand::Rng::new(),
            contended_until: None,
            install_states: None,
        };
        (core, client, reports)
    }

    /// The DHCP message types that reached the client so far.
    fn received(client: &UdpSocket) -> Vec<u8> {
        let mut types = Vec::new();
        let mut buf = [0u8; 1500];
        while let Ok(n) = client.recv(&mut buf) {
            types.extend(message_type(&buf[..n]));
        }
        types
    }

    /// Option 53 of a reply (ours puts the options after the magic, not overloaded).
    fn message_type(p: &[u8]) -> Option<u8> {
        let mut i = 240;
        while let Some(&code) = p.get(i) {
            match code {
                0 => i += 1,
                255 => return None,
                53 => return p.get(i + 2).copied(),
                _ => i += 2 + usize::from(*p.get(i + 1)?),
            }
        }
        None
    }

    /// Found by review: with the committer backed up, a retransmitted DHCPREQUEST was
    /// answered from the table (`dhcp-cache-threshold`: the lease is young, so it is reused
    /// without a write) while the first REQUEST's lease still waited for the disk: an ACK
    /// left for a lease that a crash would lose. It must wait behind the write instead.
    #[test]
    fn a_retransmitted_request_is_not_acked_before_its_lease_is_on_disk() {
        let (mut core, client, _reports) = core();
        let iface = eth1();
        let mut jobs = Vec::new();
        core.handle(&discover(), Some(&iface), &mut jobs);
        assert_eq!(received(&client), vec![2], "the OFFER leaves at once");
        core.handle(&request(), Some(&iface), &mut jobs);
        assert_eq!(jobs.len(), 1, "the first ACK waits for the committer");
        // The committer is backed up: that job is not on disk yet. The client retransmits.
        core.handle(&request(), Some(&iface), &mut jobs);
        assert_eq!(
            received(&client),
            Vec::<u8>::new(),
            "an ACK left before the disk"
        );
        let second = jobs
            .get(1)
            .expect("the retransmit's ACK waits for the committer");
        assert!(second.reply.is_some());
        assert_eq!(second.leases.len(), 1, "its lease is written with it");
    }

    /// Once the committer reports the first ACK's lease on disk, a retransmit within the
    /// cache threshold is answered from the table at once, as in ISC (nothing written).
    #[test]
    fn a_retransmit_is_answered_from_the_table_once_the_lease_is_on_disk() {
        let (mut core, client, reports) = core();
        let iface = eth1();
        let mut jobs = Vec::new();
        core.handle(&discover(), Some(&iface), &mut jobs);
        core.handle(&request(), Some(&iface), &mut jobs);
        let first = jobs.first().unwrap().seq;
        reports
            .send(Committed {
                upto: first,
                ok: true,
                ..Committed::default()
            })
            .unwrap();
        assert_eq!(received(&client), vec![2]);
        core.handle(&request(), Some(&iface), &mut jobs);
        assert_eq!(received(&client), vec![5], "answered from the table");
        assert_eq!(jobs.len(), 1, "nothing more for the disk");
    }

    /// A first ACK dropped on a full committer queue never reached the disk: the
    /// retransmit's lease is written (its ACK waits for it), not answered from the table.
    #[test]
    fn a_retransmit_after_a_dropped_write_writes_the_lease() {
        let (mut core, client, reports) = core();
        let iface = eth1();
        let mut jobs = Vec::new();
        core.handle(&discover(), Some(&iface), &mut jobs);
        core.handle(&request(), Some(&iface), &mut jobs);
        let dropped: Vec<Job> = std::mem::take(&mut jobs);
        core.durability
            .dropped(dropped.iter().flat_map(|j| j.leases.iter().map(|l| l.ip)));
        // A later batch on disk does not cover the dropped write.
        let later = core.durability.queue([]);
        reports
            .send(Committed {
                upto: later,
                ok: true,
                ..Committed::default()
            })
            .unwrap();
        core.handle(&request(), Some(&iface), &mut jobs);
        assert_eq!(received(&client), vec![2], "only the OFFER left");
        let job = jobs.first().expect("the ACK waits for the disk");
        assert_eq!(job.leases.len(), 1);
        assert!(job.reply.is_some());
    }

    /// With `--proxy`, the shell decides by the port a packet came in on: a PXE client's
    /// DHCPREQUEST on 4011 gets a DHCPACK (no address, the boot file) back to the address
    /// and port it came from, sent from the boot server socket; a client that is not PXE
    /// gets nothing, and no lease is written either way.
    #[test]
    fn a_proxy_answers_the_boot_server_port_back_to_its_sender() {
        let (mut core, _, _reports) = core();
        let conf = "subnet 10.0.0.0 netmask 255.255.255.0 { }
            class \"pxe\" { match if substring (option vendor-class-identifier, 0, 9) = \"PXEClient\";
                            filename \"pxelinux.0\"; }";
        let loaded = crate::conf::parse_str(
            "proxy.conf",
            conf.as_bytes(),
            ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        core.cfg = Arc::new(compile(&loaded.config, &crate::model::no_dns).unwrap().0);
        core.opts = ServeOptions {
            proxy: true,
            ..ServeOptions::default()
        };
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.set_nonblocking(true).unwrap();
        let from = match client.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            std::net::SocketAddr::V6(_) => unreachable!(),
        };
        core.boot_server = Some(Sender::loopback(0).unwrap());
        let vci = b"PXEClient:Arch:00000:UNDI:002001";
        let mut vci_opt = vec![60, vci.len() as u8];
        vci_opt.extend_from_slice(vci);
        let mut jobs = Vec::new();
        let iface = eth1();
        for (options, answered) in [
            (vec![vec![53, 1, 3], vci_opt.clone()], true),
            (vec![vec![53, 1, 3]], false),
        ] {
            let opts: Vec<&[u8]> = options.iter().map(Vec::as_slice).collect();
            let mut r = packet(&opts);
            r.data[12..16].copy_from_slice(&[127, 0, 0, 1]); // ciaddr
            r.from = from;
            r.port = crate::decide::PXE_BOOT_SERVER_PORT;
            core.handle(&r, Some(&iface), &mut jobs);
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut buf = [0u8; 1500];
            match client.recv(&mut buf) {
                Ok(n) => {
                    assert!(answered, "a client that is not PXE was answered");
                    let p = &buf[..n];
                    assert_eq!(message_type(p), Some(5), "an ACK");
                    assert_eq!(&p[16..20], &[0, 0, 0, 0], "no address (yiaddr)");
                    assert!(p[108..].starts_with(b"pxelinux.0\0"), "the boot file");
                }
                Err(_) => assert!(!answered, "the PXE client got no answer"),
            }
        }
        assert!(
            jobs.iter().all(|j| j.leases.is_empty()),
            "a proxy wrote a lease"
        );
    }
}

#[cfg(test)]
mod split_tests {
    //! A batch that partly lost its races on a real, throwaway PostgreSQL: found by the
    //! two-server benchmark, where one lost row in a burst of hundreds cost the whole burst
    //! its replies, again and again, and the second server acknowledged nothing.

    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::lease::{Hardware, PgStore};

    use super::tests::packet_from as from;

    #[test]
    fn a_lost_race_costs_its_own_request_and_the_rest_of_the_batch_is_committed() {
        let pg = pxe_db::scratch::ScratchServer::start().unwrap();
        let (mut core, _client, _reports) = super::tests::core();
        Arc::make_mut(&mut core.cfg).shared_leases = true;
        let iface = super::tests::eth1();
        // Two clients, each DISCOVER then REQUEST: two jobs, for .10 and for .11.
        let mut jobs = Vec::new();
        for (last, ip) in [(1u8, 10u8), (2, 11)] {
            core.handle(&from(last, &[&[53, 1, 1]]), Some(&iface), &mut jobs);
            let requested: &[u8] = &[50, 4, 10, 0, 0, ip];
            core.handle(
                &from(last, &[&[53, 1, 3], requested, &[54, 4, 10, 0, 0, 1]]),
                Some(&iface),
                &mut jobs,
            );
        }
        assert_eq!(jobs.len(), 2, "two ACKs wait for the disk");
        // Another server wrote .10 first.
        let ten = Ipv4Addr::new(10, 0, 0, 10);
        let mut other = PgStore::new(pg.url().parse().unwrap());
        other.load().unwrap();
        let theirs = Lease {
            ends: i64::from(i32::MAX),
            state: crate::lease::BindingState::Active,
            hardware: Some(Hardware::ethernet([0x52, 0x54, 0, 0, 0, 0x77])),
            ..Lease::virgin(ten)
        };
        other
            .commit_cas(
                &[theirs],
                &[Cas {
                    expected: 0,
                    written: 5,
                }],
            )
            .unwrap();
        let mut ours = PgStore::new(pg.url().parse().unwrap());
        ours.load().unwrap();
        let metrics = Metrics::default();
        let out = commit_winners(&mut ours, &LeaseTable::default(), jobs, &metrics);
        let written: Vec<Ipv4Addr> = out.committed.unwrap().iter().map(|l| l.ip).collect();
        assert_eq!(
            written,
            [Ipv4Addr::new(10, 0, 0, 11)],
            "the winner is on disk"
        );
        assert_eq!(out.batch.len(), 1, "its reply goes out");
        assert_eq!(out.left_out.len(), 1, "the loser's does not");
        assert!(out.left_out[0].leases.iter().all(|l| l.ip == ten));
        assert_eq!(out.fresh.iter().map(|r| r.ip).collect::<Vec<_>>(), [ten]);
    }
}
