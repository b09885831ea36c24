//! The sockets: listeners, the connection limits (in all and per client address), header,
//! idle and write timeouts, a minimum send rate, and a graceful stop (in-flight responses
//! finish, up to a grace period).
//!
//! Connections are served by event loops, one per CPU by default (`--workers`), as nginx
//! runs one worker process per CPU: the daemon's own runtime is one of them, each other is a
//! thread with a single-threaded runtime of its own, and every loop accepts on every
//! listener. A connection stays on the loop that accepted it, so a request wakes no other
//! thread (a work-stealing runtime spent a third of its time here switching threads on
//! small files). Limits, metrics, the access log and the graceful stop are shared.

use crate::service::{self, Shared};
use crate::write_timeout::{Pacing, WriteTimeout};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Limits against slow or greedy clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; beyond it, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time to receive a request head, including the wait for the next request on
    /// an idle keep-alive connection.
    pub header_timeout: Duration,
    /// Time a write may make no progress before the connection is dropped.
    pub send_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in a request.
    pub max_headers: usize,
    /// How long a stop waits for in-flight responses.
    pub shutdown_grace: Duration,
    /// Connections open at once from one client address (the inventory's trusted
    /// proxies excepted); more are closed at once. 0: no limit.
    pub max_per_address: usize,
    /// Idle keep-alive limit and minimum send rate.
    pub pacing: Pacing,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            shutdown_grace: Duration::from_secs(10),
            max_per_address: 64,
            pacing: Pacing {
                idle: Duration::from_secs(5),
                min_rate: 1024,
                measure_after: Duration::from_secs(10),
            },
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its address; uncounted when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    addr: IpAddr,
}

impl PerAddress {
    /// Counts a connection from `addr`, unless `cap` are open already.
    fn take(table: &Arc<PerAddress>, addr: IpAddr, cap: usize) -> Option<AddressSlot> {
        let mut t = table.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = t.entry(addr).or_insert(0);
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: Arc::clone(table),
            addr,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.remove(&self.addr);
            }
        }
    }
}

/// Whether `addr` is one of the inventory's trusted proxies (exempt from the
/// per-address cap: many clients share its address).
fn is_trusted_proxy(shared: &Shared, addr: IpAddr) -> bool {
    shared.state().inventory.as_ref().is_some_and(|inv| {
        inv.servers
            .trusted_proxies
            .iter()
            .any(|p| p.to_canonical() == addr)
    })
}

fn builder(limits: &Limits) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_headers(limits.max_headers)
        // Not `max_buf_size`: it also caps the write queue, which would stall streaming.
        .max_header_size(limits.max_header_bytes);
    b
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    slots: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
    per_address: Arc<PerAddress>,
) {
    let http = builder(&limits);
    loop {
        if slots.available_permits() == 0 {
            shared.metrics.connections_limited.inc();
            tracing::warn!(
                limit = limits.max_connections,
                "connection limit reached; new connections wait"
            );
        }
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let addr = peer.ip().to_canonical();
        let slot = if is_trusted_proxy(&shared, addr) {
            None
        } else {
            match PerAddress::take(&per_address, addr, limits.max_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::warn!(
                        client = %addr,
                        limit = limits.max_per_address,
                        "connection refused: {addr} already has {} connections open",
                        limits.max_per_address
                    );
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        shared.metrics.connection_opened();
        let io = TokioIo::new(WriteTimeout::with_pacing(
            stream,
            limits.send_timeout,
            limits.pacing,
        ));
        let svc_shared = Arc::clone(&shared);
        let svc = service_fn(move |req| {
            let shared = Arc::clone(&svc_shared);
            async move { Ok::<_, Infallible>(service::handle(shared, peer, req).await) }
        });
        let conn = graceful.watch(http.serve_connection(io, svc));
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                if let Some(why) = stopped_reading(&e) {
                    tracing::info!(%peer, "dropped a client that stopped reading or reads too slowly: {why}");
                } else {
                    tracing::debug!(%peer, %e, "connection ended with an error");
                }
            }
            shared.metrics.connection_closed();
            drop(slot);
            drop(permit);
        });
    }
}

/// Why a connection failed, when it was because a write made no progress or the client
/// read slower than the minimum rate (see `write_timeout`).
fn stopped_reading(e: &hyper::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return (io.kind() == std::io::ErrorKind::TimedOut).then(|| io.to_string());
        }
        source = s.source();
    }
    None
}

/// What every event loop shares.
#[derive(Clone)]
struct Loop {
    shared: Arc<Shared>,
    limits: Limits,
    slots: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    stop: watch::Receiver<bool>,
    per_address: Arc<PerAddress>,
}

impl Loop {
    /// Accepts on every listener until the stop.
    async fn accept_all(self, listeners: Vec<TcpListener>) {
        let mut tasks = Vec::new();
        for l in listeners {
            let c = self.clone();
            tasks.push(tokio::spawn(accept_loop(
                l,
                c.shared,
                c.limits,
                c.slots,
                c.graceful,
                c.stop,
                c.per_address,
            )));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Starts `count` event loops beside the calling one, each a thread with a
/// single-threaded runtime accepting on its own handle of every listener. Each sends on
/// its channel once it stopped accepting, then keeps its connections running until
/// `done` turns true.
fn start_loops(
    count: usize,
    listeners: &[TcpListener],
    each: &Loop,
    done: &watch::Receiver<bool>,
) -> Vec<tokio::sync::oneshot::Receiver<()>> {
    let mut stopped = Vec::new();
    for n in 1..=count {
        let handles: Vec<std::net::TcpListener> = listeners
            .iter()
            .filter_map(|l| {
                let fd = std::os::fd::AsFd::as_fd(l).try_clone_to_owned().ok()?;
                Some(std::net::TcpListener::from(fd))
            })
            .collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let each = each.clone();
        let mut done = done.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("httpd-loop-{n}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(%e, "event loop {n} not started");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listeners: Vec<TcpListener> = handles
                        .into_iter()
                        .filter_map(|l| TcpListener::from_std(l).ok())
                        .collect();
                    each.accept_all(listeners).await;
                    let _ = tx.send(());
                    let _ = done.wait_for(|d| *d).await;
                });
            });
        match spawned {
            Ok(_) => stopped.push(rx),
            Err(e) => tracing::error!(%e, "event loop {n} not started"),
        }
    }
    stopped
}

/// The default number of event loops: one per CPU this process may run on.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Serves on every listener with `workers` event loops (this one included) until `stop`
/// turns true, then lets in-flight responses finish for up to the grace period.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    limits: Limits,
    stop: watch::Receiver<bool>,
    workers: usize,
) {
    let each = Loop {
        shared: Arc::clone(&shared),
        limits: limits.clone(),
        slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        graceful: Arc::new(GracefulShutdown::new()),
        stop,
        per_address: Arc::new(PerAddress::default()),
    };
    let housekeeping = tokio::spawn(every_second(Arc::clone(&shared)));
    let (done_tx, done_rx) = watch::channel(false);
    let others = start_loops(workers.saturating_sub(1), &listeners, &each, &done_rx);
    let graceful = Arc::clone(&each.graceful);
    each.accept_all(listeners).await;
    for stopped in others {
        let _ = stopped.await;
    }
    // The other loops' connections run on until the grace period is over.
    let _stop_others = DoneOnDrop(done_tx);
    // Event streams never end by themselves: end them, or they hold the grace period.
    shared.console.feed.close();
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
        housekeeping.abort();
        shared.access_log.flush();
        return;
    };
    let open = graceful.count();
    tracing::info!(open, "stopped accepting; finishing open connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace = ?limits.shutdown_grace, "grace period over; closing the rest");
        }
    }
    housekeeping.abort();
    shared.access_log.flush();
}

/// Tells the other event loops to end (dropping their open connections) when dropped.
struct DoneOnDrop(watch::Sender<bool>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// Housekeeping every second: writes the access log's buffered lines (see
/// `AccessLog`) and closes the tree roots kept open (see `safe_path`).
async fn every_second(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        shared.access_log.flush();
        crate::safe_path::close_roots();
        // The console's live updates: what changed in the state directory.
        crate::console::refresh(&shared).await;
    }
}

/// Binds every address, logging the stable `listening on http://ADDR` line for each.
pub fn bind(addrs: &[SocketAddr]) -> anyhow::Result<Vec<TcpListener>> {
    use anyhow::Context as _;
    let mut out = Vec::new();
    for addr in addrs {
        let std =
            std::net::TcpListener::bind(addr).with_context(|| format!("binding TCP {addr}"))?;
        std.set_nonblocking(true)
            .with_context(|| format!("setting {addr} non-blocking"))?;
        let l = TcpListener::from_std(std).with_context(|| format!("registering {addr}"))?;
        let local = l
            .local_addr()
            .with_context(|| format!("local address of {addr}"))?;
        tracing::info!("listening on http://{local}");
        out.push(l);
    }
    Ok(out)
}
