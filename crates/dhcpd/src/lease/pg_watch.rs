//! What the other servers sharing the lease database write, heard as it happens: a thread
//! with its own connection listens on the `dhcp_leases` channel (a trigger announces every
//! row written: writer, address, version), reads the rows others wrote, and hands them to
//! the store, whose committer passes them to the core task's table. Missed announcements
//! (while the connection is down) cost nothing but speed: a write against a stale row loses
//! its compare-and-swap and the row is read then.

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

/// The running listener: rows arrive on `rows`; dropped, the thread stops.
pub(crate) struct Watch {
    rows: mpsc::Receiver<Vec<RowNow>>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Start listening on `url`, ignoring the writes of `writer` (this server's own).
    pub(crate) fn start(url: DatabaseUrl, writer: String) -> Watch {
        let (tx, rows) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("lease-watch".into())
            .spawn(move || listen(&url, &writer, &tx, &flag));
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

fn listen(url: &DatabaseUrl, writer: &str, tx: &mpsc::Sender<Vec<RowNow>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = listen_once(url, writer, tx, stop) {
            tracing::debug!("lease database listener: {e}");
            std::thread::sleep(RETRY);
        }
    }
}

/// One connection's life: LISTEN, then read the announced rows in batches.
fn listen_once(
    url: &DatabaseUrl,
    writer: &str,
    tx: &mpsc::Sender<Vec<RowNow>>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut client = url.connect().map_err(|e| e.to_string())?;
    client
        .batch_execute("LISTEN dhcp_leases")
        .map_err(|e| e.to_string())?;
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
}
