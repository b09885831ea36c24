//! The sockets: listeners, the connection limit, header and write timeouts, and a
//! graceful stop (in-flight responses finish, up to a grace period).

use crate::service::{self, Shared};
use crate::write_timeout::WriteTimeout;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
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
        }
    }
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
        let _ = stream.set_nodelay(true);
        shared.metrics.connection_opened();
        let io = TokioIo::new(WriteTimeout::new(stream, limits.send_timeout));
        let svc_shared = Arc::clone(&shared);
        let svc = service_fn(move |req| {
            let shared = Arc::clone(&svc_shared);
            async move { Ok::<_, Infallible>(service::handle(shared, peer, req).await) }
        });
        let conn = graceful.watch(http.serve_connection(io, svc));
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                if stopped_reading(&e) {
                    tracing::info!(%peer, "dropped a client that stopped reading");
                } else {
                    tracing::debug!(%peer, %e, "connection ended with an error");
                }
            }
            shared.metrics.connection_closed();
            drop(permit);
        });
    }
}

/// Whether a connection failed because a write made no progress (see `write_timeout`).
fn stopped_reading(e: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::TimedOut;
        }
        source = s.source();
    }
    false
}

/// Serves on every listener until `stop` turns true, then lets in-flight responses
/// finish for up to the grace period.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = Arc::new(GracefulShutdown::new());
    let housekeeping = tokio::spawn(every_second(Arc::clone(&shared)));
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(accept_loop(
            l,
            Arc::clone(&shared),
            limits.clone(),
            Arc::clone(&slots),
            Arc::clone(&graceful),
            stop.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
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

/// Housekeeping every second: writes the access log's buffered lines (see
/// `AccessLog`) and closes the tree roots kept open (see `safe_path`).
async fn every_second(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        shared.access_log.flush();
        crate::safe_path::close_roots();
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
