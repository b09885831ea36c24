//! What the console's machine list and its live updates read: every machine's install
//! state and when it was last seen, kept in memory and refreshed from the state
//! directory (which dhcpd, tftpd and httpd-tree all write) by looking only at the files
//! that changed since the last look (their size and modification time), or, with the
//! state in the database, by reading the machines its announcements named (every
//! httpd-tree on the database hears every change, whoever made it). Each change is
//! sent to the server-sent-event streams; a stream's queue is bounded, and a stream that
//! falls behind is told to reload instead of holding the others up.

use bytes::Bytes;
use pxe_daemon::time;
use pxe_model::state::StateStore;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

/// Most event streams open at once; past it a new one gets 503.
pub const MAX_STREAMS: usize = 64;
/// Changes held for the streams; a stream further behind is told to reload.
pub const BACKLOG: usize = 1024;
/// Chunks queued for one client before its stream waits (and, waiting, falls behind).
pub const CLIENT_QUEUE: usize = 16;
/// A comment line sent this often keeps proxies and the browser from closing a quiet
/// stream.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// One machine as the list shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// `pending`, `installing`, `installed` or `failed`.
    pub state: &'static str,
    /// The latest boot-timeline entry's time (Unix milliseconds) and what it was.
    pub last_seen: Option<u64>,
    pub last_event: String,
}

impl Summary {
    fn pending() -> Summary {
        Summary {
            state: "pending",
            ..Summary::default()
        }
    }

    /// The change as a server-sent event.
    pub fn event(&self, name: &str) -> String {
        let data = json!({
            "name": name,
            "state": self.state,
            "last_seen": self.last_seen.map(time::readable),
            "last_event": self.last_event,
        });
        format!("event: machine\ndata: {data}\n\n")
    }
}

/// A file's size and modification time: changed when either changed.
type Stamp = (u64, Option<SystemTime>);
/// A machine's stamps: its state file's and its timeline's.
type Stamps = (Option<Stamp>, Option<Stamp>);

/// The machines' summaries and the streams that follow them.
#[derive(Debug)]
pub struct Feed {
    summaries: RwLock<HashMap<String, Summary>>,
    /// The stamps of the state and timeline files last read, per machine.
    stamps: Mutex<HashMap<String, Stamps>>,
    /// Held for a whole refresh, so one runs at a time.
    refreshing: Mutex<()>,
    tx: broadcast::Sender<Arc<str>>,
    streams: Arc<AtomicUsize>,
    /// Turns true when the server stops: every stream ends, so none holds the shutdown.
    closed: tokio::sync::watch::Sender<bool>,
    /// Machines the database announced since the last refresh, and whether everything
    /// must be read again (the listener connected: what happened before was not heard).
    heard: Mutex<(BTreeSet<String>, bool)>,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed {
            summaries: RwLock::default(),
            stamps: Mutex::default(),
            refreshing: Mutex::default(),
            tx: broadcast::channel(BACKLOG).0,
            streams: Arc::default(),
            closed: tokio::sync::watch::Sender::new(false),
            heard: Mutex::default(),
        }
    }
}

/// The stamps of the files with `ext` in `dir`, by machine name.
fn stamps_in(dir: &Path, ext: &str) -> HashMap<String, Stamp> {
    let mut out = HashMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in rd.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(ext)) else {
            continue;
        };
        if let Ok(md) = entry.metadata() {
            out.insert(name.to_owned(), (md.len(), md.modified().ok()));
        }
    }
    out
}

impl Feed {
    /// The summary of `name` (pending when the store knows nothing of it).
    pub fn summary(&self, name: &str) -> Summary {
        self.summaries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(Summary::pending)
    }

    /// What the database's listener heard: a machine to read again, or everything.
    pub fn note_heard(&self, heard: pxe_db::state_watch::Heard) {
        let mut h = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        match heard {
            pxe_db::state_watch::Heard::Machine(name) => {
                h.0.insert(name);
            }
            pxe_db::state_watch::Heard::Resync => h.1 = true,
        }
    }

    /// The machines whose files changed since the last look.
    fn changed_files(&self, dir: &Path) -> Vec<String> {
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        let states = stamps_in(&dir.join("machines"), ".json");
        let events = stamps_in(&dir.join("events"), ".jsonl");
        let mut changed = Vec::new();
        for name in states.keys().chain(events.keys()) {
            let now = (states.get(name).copied(), events.get(name).copied());
            if stamps.get(name) != Some(&now) {
                stamps.insert(name.clone(), now);
                changed.push(name.clone());
            }
        }
        changed
    }

    /// The machines the database announced since the last look (after a resync: every
    /// machine it holds a state of, and `everyone`).
    fn changed_heard(&self, store: &dyn StateStore, everyone: &[String]) -> Vec<String> {
        let (mut names, resync) = {
            let mut h = self.heard.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut h.0), std::mem::take(&mut h.1))
        };
        if resync {
            names.extend(everyone.iter().cloned());
            match store.install_states() {
                Ok(states) => names.extend(states.into_keys()),
                Err(e) => tracing::warn!(%e, "console: cannot read the install states"),
            }
        }
        names.into_iter().collect()
    }

    /// Reads the machines that changed since the last refresh (files looked at, or the
    /// database's announcements; `everyone` names the inventory's machines for a full
    /// read) and sends each change to the streams; how many were read. Blocking: run it on
    /// the blocking pool.
    pub fn refresh(&self, store: &dyn StateStore, everyone: &[String]) -> usize {
        // One refresh at a time, start to end: a page that refreshes before it renders
        // must not find the stamps moved by a refresh whose summaries are not written yet.
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let changed = match store.local_dir() {
            Some(dir) => self.changed_files(dir),
            None => self.changed_heard(store, everyone),
        };
        let mut read = Vec::with_capacity(changed.len());
        for name in changed {
            let state = store
                .get(&name)
                .map(|s| s.state.as_str())
                .unwrap_or("pending");
            let last = store.events(&name, 1).ok().and_then(|mut e| e.pop());
            let summary = Summary {
                state,
                last_seen: last.as_ref().map(|e| e.at),
                last_event: last.map(|e| e.detail).unwrap_or_default(),
            };
            read.push((name, summary));
        }
        let n = read.len();
        let mut map = self.summaries.write().unwrap_or_else(|p| p.into_inner());
        for (name, summary) in read {
            if map.get(&name) != Some(&summary) {
                // No stream listening is no error.
                let _ = self.tx.send(Arc::from(summary.event(&name)));
                map.insert(name, summary);
            }
        }
        n
    }

    /// A new event stream's body channel, or `None` when [`MAX_STREAMS`] are open. The
    /// stream ends when the client goes away.
    pub fn subscribe(&self) -> Option<tokio::sync::mpsc::Receiver<Bytes>> {
        let streams = Arc::clone(&self.streams);
        if streams.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
            streams.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let mut changes = self.tx.subscribe();
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            streams.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(CLIENT_QUEUE);
        tokio::spawn(async move {
            /// Counts the stream out however the task ends.
            struct Open(Arc<AtomicUsize>);
            impl Drop for Open {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _open = Open(streams);
            let hello = Bytes::from_static(b"retry: 2000\nevent: hello\ndata: {}\n\n");
            if tx.send(hello).await.is_err() {
                return;
            }
            let mut keepalive = tokio::time::interval(KEEPALIVE);
            keepalive.tick().await;
            loop {
                let chunk = tokio::select! {
                    got = changes.recv() => match got {
                        Ok(text) => Bytes::from(text.as_bytes().to_vec()),
                        // Fell behind: the page reloads the list instead.
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            Bytes::from_static(b"event: reload\ndata: {}\n\n")
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
                    _ = closed.wait_for(|c| *c) => return,
                };
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        Some(rx)
    }

    /// Sends an event of its own (the counts per state) to the streams.
    pub fn announce(&self, event: String) {
        let _ = self.tx.send(Arc::from(event));
    }

    /// Ends every stream and refuses new ones (the server is stopping).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Event streams open now.
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pxe_model::state::{BootEvent, FileStore, Phase, StateEvent};

    #[tokio::test]
    async fn a_change_in_the_store_reaches_a_stream_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("store");
        let feed = Feed::default();
        feed.refresh(&store, &[]);
        let mut rx = feed.subscribe().expect("a stream");
        let hello = rx.recv().await.expect("hello");
        assert!(String::from_utf8_lossy(&hello).contains("event: hello"));
        store
            .apply("web01", StateEvent::AnswerFetched, 5)
            .expect("apply");
        let e = BootEvent {
            at: 5,
            phase: Phase::Http,
            detail: "/ks/web01".into(),
        };
        store.record("web01", &e).expect("record");
        assert_eq!(feed.refresh(&store, &[]), 1);
        let got = rx.recv().await.expect("a change");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("event: machine\n"), "{text}");
        assert!(text.contains("\"state\":\"installing\""), "{text}");
        assert!(text.contains("\"name\":\"web01\""), "{text}");
        assert_eq!(feed.summary("web01").last_seen, Some(5));
        assert_eq!(feed.refresh(&store, &[]), 0, "nothing changed since");
        assert!(rx.try_recv().is_err(), "sent once");
    }

    #[tokio::test]
    async fn streams_are_capped_and_counted_out() {
        let feed = Feed::default();
        let open: Vec<_> = (0..MAX_STREAMS)
            .map(|_| feed.subscribe().expect("under the cap"))
            .collect();
        assert!(feed.subscribe().is_none(), "over the cap");
        drop(open);
        for _ in 0..100 {
            // The tasks notice their client left at their next send.
            let _ = feed.tx.send(Arc::from("event: x\n\n"));
            tokio::time::sleep(Duration::from_millis(5)).await;
            if feed.streams() == 0 {
                break;
            }
        }
        assert_eq!(feed.streams(), 0);
        assert!(feed.subscribe().is_some());
    }

    #[tokio::test]
    async fn closing_ends_every_stream() {
        let feed = Feed::default();
        let mut rx = feed.subscribe().expect("stream");
        let _ = rx.recv().await;
        feed.close();
        let end = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(end.expect("ended in time"), None, "the stream ended");
        assert!(feed.subscribe().is_none(), "no new stream once closed");
    }

    #[tokio::test]
    async fn a_slow_stream_is_told_to_reload_and_others_still_get_changes() {
        let feed = Feed::default();
        let mut slow = feed.subscribe().expect("stream");
        let mut fast = feed.subscribe().expect("stream");
        let _ = fast.recv().await;
        for i in 0..(BACKLOG + CLIENT_QUEUE + 50) {
            let _ = feed
                .tx
                .send(Arc::from(format!("event: machine\ndata: {i}\n\n")));
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), fast.recv()).await {
            }
        }
        let mut saw_reload = false;
        while let Ok(Some(chunk)) =
            tokio::time::timeout(Duration::from_millis(200), slow.recv()).await
        {
            if chunk.starts_with(b"event: reload") {
                saw_reload = true;
                break;
            }
        }
        assert!(
            saw_reload,
            "the slow stream fell behind and was told to reload"
        );
    }
}
