//! Install state changes heard as they happen: a thread with its own connection listens on
//! the `pxe_machine_state` channel (triggers announce every state written and every
//! timeline entry added, with the machine's name) and hands each name to the caller, so that every httpd-tree's pages
//! follow a change another host made at once. After a broken connection it connects again
//! and says [`Heard::Resync`] (what changed meanwhile was not heard: read everything).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use crate::DatabaseUrl;

/// How long the thread waits for an announcement before it checks whether to stop.
const TICK: Duration = Duration::from_millis(500);
/// How long it waits before connecting again after the connection broke.
const RETRY: Duration = Duration::from_secs(2);

/// What the listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// This machine's state or timeline was written (by any process).
    Machine(String),
    /// The listener (re)connected: changes may have been missed before it.
    Resync,
}

/// The running listener; dropped, its thread stops within [`TICK`].
pub struct StateWatch {
    stop: Arc<AtomicBool>,
}

impl StateWatch {
    /// Listens on `url`, calling `heard` from the listener's thread.
    pub fn start(url: DatabaseUrl, heard: impl Fn(Heard) + Send + 'static) -> StateWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("state-watch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if let Err(e) = listen_once(&url, &heard, &flag) {
                        tracing::debug!("install state listener: {e}");
                        std::thread::sleep(RETRY);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("install state: no listener for other hosts' changes: {e}");
        }
        StateWatch { stop }
    }
}

impl Drop for StateWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One connection's life: LISTEN, say [`Heard::Resync`], then each announcement.
fn listen_once(url: &DatabaseUrl, heard: &impl Fn(Heard), stop: &AtomicBool) -> Result<(), String> {
    let mut client = url.connect().map_err(|e| e.to_string())?;
    client
        .batch_execute("LISTEN pxe_machine_state")
        .map_err(|e| e.to_string())?;
    heard(Heard::Resync);
    while !stop.load(Ordering::Relaxed) {
        {
            let mut notes = client.notifications();
            let mut batch = notes.timeout_iter(TICK);
            while let Some(n) = batch.next().map_err(|e| e.to_string())? {
                heard(Heard::Machine(n.payload().to_owned()));
            }
        }
        if client.is_closed() {
            return Err("connection closed".into());
        }
    }
    Ok(())
}
