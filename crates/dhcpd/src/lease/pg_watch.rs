//! What the other servers sharing the lease database write, heard as it happens: a thread
//! with its own connection listens on the `dhcp_leases` channel (a trigger announces every
//! row written: writer, address, version), reads the rows others wrote, and hands them to
//! the store, whose committer passes them to the core task's table. Missed announcements
//! (while the connection is down) cost nothing but speed: a write against a stale row loses
//! its compare-and-swap and the row is read then. To keep such losses rare, every time the
//! listener has started listening (at its start, which comes after the server read the
//! table, and after a reconnection) it also reads the rows other servers wrote since the
//! last moment it knows it heard everything, with a margin for transactions in flight.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use pxe_db::DatabaseUrl;

use super::RowNow;

/// How long the thread waits for an announcement before it checks whether to stop.
const TICK: Duration = Duration::from_millis(500);
/// How long it waits before connecting again after the connection broke.
const RETRY: Duration = Duration::from_secs(2);
/// How far back the catch-up read reaches before the moment it knows it heard everything
/// (a row's `written_at` is its transaction's start, which may precede the commit).
const MARGIN_SECONDS: f64 = 10.0;

/// The running listener: rows arrive on `rows`; dropped, the thread stops.
pub(crate) struct Watch {
    rows: mpsc::Receiver<Vec<RowNow>>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Start listening on `url`, ignoring the writes of `writer` (this server's own);
    /// `since` (the database's clock, seconds since the epoch) is when the server read the
    /// table: rows others wrote after it are read as soon as the listener listens.
    pub(crate) fn start(url: DatabaseUrl, writer: String, since: f64) -> Watch {
        let (tx, rows) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("lease-watch".into())
            .spawn(move || listen(&url, &writer, since, &tx, &flag));
        if let Err(e) = spawned {
            tracing::warn!("lease database: no listener for other servers' writes: {e}");
        }
        Watch { rows, stop }
    }

    /// The rows heard of since the last call (never waits).
    pub(crate) fn take(&self) -> Vec<RowNow> {
        let mut out = Vec::new();
        while let Ok(rows) = self.rows.try_recv() {
            out.extend(rows);
        }
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The address of an announcement (`WRITER ADDRESS VERSION`) another writer made.
fn others_address(payload: &str, writer: &str) -> Option<Ipv4Addr> {
    let mut words = payload.rsplitn(3, ' ');
    let _version = words.next()?;
    let address = words.next()?.parse().ok()?;
    let who = words.next()?;
    (who != writer).then_some(address)
}

fn listen(
    url: &DatabaseUrl,
    writer: &str,
    since: f64,
    tx: &mpsc::Sender<Vec<RowNow>>,
    stop: &AtomicBool,
) {
    let mut since = since;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = listen_once(url, writer, &mut since, tx, stop) {
            tracing::debug!("lease database listener: {e}");
            std::thread::sleep(RETRY);
        }
    }
}

/// One connection's life: LISTEN, the rows others wrote since `since` (the catch-up), then
/// the announced rows in batches. `since` moves to the moment this connection listened.
fn listen_once(
    url: &DatabaseUrl,
    writer: &str,
    since: &mut f64,
    tx: &mpsc::Sender<Vec<RowNow>>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut client = url.connect().map_err(|e| e.to_string())?;
    client
        .batch_execute("LISTEN dhcp_leases")
        .map_err(|e| e.to_string())?;
    let listening: f64 = client
        .query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    let missed: Vec<Ipv4Addr> = client
        .query(
            "SELECT address FROM dhcp_leases
             WHERE written_at >= to_timestamp($1) AND written_by <> $2",
            &[&(*since - MARGIN_SECONDS), &writer],
        )
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|r| match r.get::<_, std::net::IpAddr>(0) {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    if !missed.is_empty() {
        let rows = super::pg::rows_at(&mut client, &missed).map_err(|e| e.to_string())?;
        if tx.send(rows).is_err() {
            return Ok(());
        }
    }
    *since = listening;
    while !stop.load(Ordering::Relaxed) {
        let mut heard = BTreeSet::new();
        {
            let mut n = client.notifications();
            let mut it = n.timeout_iter(TICK);
            while let Some(note) = it.next().map_err(|e| e.to_string())? {
                if let Some(ip) = others_address(note.payload(), writer) {
                    heard.insert(ip);
                }
                if heard.len() >= 1024 {
                    break;
                }
            }
        }
        if heard.is_empty() {
            continue;
        }
        let heard: Vec<Ipv4Addr> = heard.into_iter().collect();
        let rows = super::pg::rows_at(&mut client, &heard).map_err(|e| e.to_string())?;
        if tx.send(rows).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_of_others_only() {
        let me = "dhcpd@a/1";
        assert_eq!(
            others_address("dhcpd@b/7 10.0.0.10 12345", me),
            Some(Ipv4Addr::new(10, 0, 0, 10))
        );
        assert_eq!(others_address("dhcpd@a/1 10.0.0.10 12345", me), None);
        // A writer name with spaces is still one writer.
        assert_eq!(
            others_address("pxe import 10.0.0.11 9", me),
            Some(Ipv4Addr::new(10, 0, 0, 11))
        );
        assert_eq!(others_address("garbage", me), None);
    }

    /// A row another server wrote after this one read the table but before its listener
    /// listened: no announcement reaches it, the catch-up read does (a two-server test on a
    /// loaded CI machine lost a race to exactly this gap).
    #[test]
    fn a_write_before_the_listener_listens_is_read_when_it_starts() {
        let pg = pxe_db::scratch::ScratchServer::start().expect("postgres");
        let url: DatabaseUrl = pg.url().parse().expect("url");
        let mut c = url.connect().expect("connect");
        pxe_db::migrate(&mut c, "test").expect("migrate");
        let loaded_at: f64 = c
            .query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
            .expect("clock")
            .get(0);
        c.batch_execute(
            "INSERT INTO dhcp_leases (address, binding_state, next_binding_state, starts, ends,
                 tstp, cltt, lease, version, written_by)
             VALUES ('10.0.0.10', 'active', 'free', 0, 0, 0, 0,
                 'lease 10.0.0.10 { binding state active; }', 7, 'dhcpd@b/7')",
        )
        .expect("insert");
        let watch = Watch::start(url, "dhcpd@a/1".into(), loaded_at);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut heard = Vec::new();
        while heard.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            heard = watch.take();
        }
        assert_eq!(
            heard.iter().map(|r| (r.ip, r.version)).collect::<Vec<_>>(),
            [(Ipv4Addr::new(10, 0, 0, 10), 7)]
        );
    }
}
