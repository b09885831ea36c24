//! The OMAPI shell: a TCP listener, one task per connection, bounded in number, in message
//! size and in time, that hands each checked request to the server's core task (which owns
//! the configuration and the leases) and writes back its answer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::objects::{Request, Response};
use super::session::{Session, Verdict};
use super::sign::Key;
use super::wire::{self, Limits};

/// Requests waiting for the core task; a connection waits while it is full.
pub const QUEUE: usize = 64;

/// A request on its way to the core task, with the way back.
#[derive(Debug)]
pub struct Job {
    /// The request.
    pub request: Request,
    /// Where the core sends the response.
    pub reply: oneshot::Sender<Response>,
}

/// The bounds every connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_per_address: usize,
    /// Message size and number of values.
    pub limits: Limits,
    /// How long a connection may send nothing between messages.
    pub idle: Duration,
    /// How long a message (or the startup) may take to arrive once begun.
    pub message: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_connections: 64,
            max_per_address: 16,
            limits: Limits::default(),
            idle: Duration::from_secs(600),
            message: Duration::from_secs(30),
        }
    }
}

/// Connections open per address.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A connection's place in the counts, given back when it ends.
struct Slot {
    counts: Counts,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.ip);
            }
        }
    }
}

/// Take a slot for a connection from `ip`, when the bounds allow one.
fn take_slot(counts: &Counts, ip: IpAddr, b: &Bounds) -> Option<Slot> {
    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
    let total: usize = c.values().sum();
    let mine = c.get(&ip).copied().unwrap_or(0);
    if total >= b.max_connections || mine >= b.max_per_address {
        return None;
    }
    *c.entry(ip).or_insert(0) += 1;
    Some(Slot {
        counts: counts.clone(),
        ip,
    })
}

/// Accept connections on `listener` until the core's channel closes.
pub async fn serve(listener: TcpListener, key: Option<Key>, core: mpsc::Sender<Job>, b: Bounds) {
    let counts: Counts = Arc::default();
    let mut refused: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("OMAPI accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if core.is_closed() {
            return;
        }
        let Some(slot) = take_slot(&counts, peer.ip(), &b) else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    "OMAPI connection from {peer} refused: too many connections ({refused} refused so far)"
                );
            }
            drop(stream);
            continue;
        };
        let key = key.clone();
        let core = core.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match connection(stream, peer, key, core, b).await {
                Ok(()) => tracing::debug!("OMAPI connection from {peer} closed"),
                Err(e) => tracing::debug!("OMAPI connection from {peer} ended: {e}"),
            }
        });
    }
}

/// Read into `buf` until `done` says a whole unit is there; `first` bounds the wait for its
/// first byte, `rest` the time from its first byte to its last.
async fn fill<T>(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    first: Duration,
    rest: Duration,
    mut done: impl FnMut(&[u8]) -> std::io::Result<Option<T>>,
) -> std::io::Result<Option<T>> {
    let mut chunk = [0u8; 4096];
    // The whole unit, not each read, must arrive within `rest` of its first byte.
    let mut deadline = (!buf.is_empty()).then(|| tokio::time::Instant::now() + rest);
    loop {
        if let Some(t) = done(buf)? {
            return Ok(Some(t));
        }
        let until = match deadline {
            Some(d) => d,
            None => tokio::time::Instant::now() + first,
        };
        let n = match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out waiting for a message",
                ));
            }
        };
        if n == 0 {
            return Ok(None);
        }
        if deadline.is_none() {
            deadline = Some(tokio::time::Instant::now() + rest);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

fn invalid(e: wire::WireError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    key: Option<Key>,
    core: mpsc::Sender<Job>,
    b: Bounds,
) -> std::io::Result<()> {
    tracing::debug!("OMAPI connection from {peer}");
    stream.write_all(&wire::encode_startup()).await?;
    let mut buf = Vec::new();
    let started = fill(&mut stream, &mut buf, b.message, b.message, |buf| {
        wire::decode_startup(buf).map_err(invalid)
    })
    .await?;
    if started.is_none() {
        return Ok(());
    }
    buf.drain(..wire::STARTUP_LEN);
    let mut session = Session::new(key, first_id());
    loop {
        let frame = fill(&mut stream, &mut buf, b.idle, b.message, |buf| {
            wire::decode(buf, &b.limits).map_err(invalid)
        })
        .await?;
        let Some(frame) = frame else {
            return Ok(());
        };
        let verdict = session.check(&frame, &buf);
        buf.drain(..frame.len);
        let out = match verdict {
            Verdict::Answer(bytes) => bytes,
            Verdict::Close => return Ok(()),
            Verdict::Process(request) => {
                let (tx, rx) = oneshot::channel();
                let job = Job { request, reply: tx };
                if core.send(job).await.is_err() {
                    return Ok(());
                }
                let Ok(response) = rx.await else {
                    return Ok(());
                };
                match session.answer(response) {
                    Some(bytes) => bytes,
                    None => return Ok(()),
                }
            }
        };
        stream.write_all(&out).await?;
    }
}

/// A transaction id to start from (ISC starts at a random one).
fn first_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    t | 1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    /// A listener on loopback with short bounds; the address to reach it.
    async fn start(b: Bounds) -> (SocketAddr, mpsc::Receiver<Job>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(serve(l, None, tx, b));
        (addr, rx)
    }

    /// Connect and exchange startups.
    async fn client(addr: SocketAddr) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut intro = [0u8; 8];
        s.read_exact(&mut intro).await.unwrap();
        s.write_all(&wire::encode_startup()).await.unwrap();
        s
    }

    /// The server closes the connection (EOF) within `limit`.
    async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
        let mut b = [0u8; 64];
        matches!(tokio::time::timeout(limit, s.read(&mut b)).await, Ok(Ok(0)))
    }

    #[tokio::test]
    async fn a_trickled_message_and_a_silent_connection_are_closed() {
        let b = Bounds {
            message: Duration::from_millis(300),
            idle: Duration::from_millis(600),
            ..Bounds::default()
        };
        let (addr, _rx) = start(b).await;
        // Half a header, then a byte now and then: closed 300 ms after the first byte.
        let mut s = client(addr).await;
        s.write_all(&[0; 10]).await.unwrap();
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.write_all(&[0]).await.unwrap();
        }
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        // Nothing at all after the startup: closed once idle.
        let mut s = client(addr).await;
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        // A client that never sends its startup.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut intro = [0u8; 8];
        s.read_exact(&mut intro).await.unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn another_protocol_version_is_closed_at_once() {
        let (addr, _rx) = start(Bounds::default()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut intro = [0u8; 8];
        s.read_exact(&mut intro).await.unwrap();
        s.write_all(&[0, 0, 0, 101, 0, 0, 0, 24]).await.unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    }
}
