//! Reloads without a signal: the inventory file and its directories of machines,
//! profiles and distros are watched (inotify, through the `notify` crate), and a change
//! calls the daemon's reload, the same one SIGHUP calls.
//!
//! The inventory's directory is watched rather than the file, since editors and the
//! API replace files by renaming a new one over them. Only the inventory file itself and
//! `*.yaml` files of those directories count (dotfiles, an API write's temporary file, do
//! not), and only changes, not reads: a reload reads them, and must not wake itself. A
//! burst of changes (a `git pull`, several `pxectl add`) settles for [`SETTLE`] and then
//! reloads once. A directory created after the start (by httpd-tree's first API change)
//! is watched from then on, if it lies in the inventory's directory; a directory key
//! changed in the inventory takes a restart to be watched.

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a burst of changes must be quiet before the reload.
pub const SETTLE: Duration = Duration::from_millis(200);

/// A running watch; dropping it stops watching.
pub struct Watch {
    _watcher: Arc<Mutex<RecommendedWatcher>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

/// What is watched, made absolute (events name paths as they were watched).
#[derive(Debug, Clone)]
struct Paths {
    inventory: PathBuf,
    inventory_dir: PathBuf,
    /// `machines_dir`, `profiles_dir` and `distros_dir`, those that are set.
    dirs: Vec<PathBuf>,
}

impl Paths {
    /// Whether an event's path is one a reload reads.
    fn matters(&self, p: &Path) -> bool {
        if p == self.inventory {
            return true;
        }
        self.dirs.iter().any(|dir| {
            p == dir
                || p.parent() == Some(dir.as_path())
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".yaml") && !n.starts_with('.'))
        })
    }
}

fn changes(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// Watches `inventory` and `dirs` (its machines, profiles and distros directories:
/// [`pxe_model::Inventory::entry_dirs`]); `reload` is called on the watch's own thread
/// after each settled burst of changes.
pub fn inventory(
    inventory: &Path,
    dirs: &[PathBuf],
    reload: impl Fn() + Send + 'static,
) -> notify::Result<Watch> {
    let inventory = std::path::absolute(inventory)?;
    let inventory_dir = inventory
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_owned);
    let paths = Paths {
        inventory,
        inventory_dir,
        dirs: dirs
            .iter()
            .map(std::path::absolute)
            .collect::<std::io::Result<_>>()?,
    };
    let (tx, rx) = mpsc::channel::<Event>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
        Ok(ev) => {
            let _ = tx.send(ev);
        }
        Err(e) => tracing::warn!(%e, "watching the inventory"),
    })?;
    let watcher = Arc::new(Mutex::new(watcher));
    {
        let mut w = watcher.lock().unwrap_or_else(|p| p.into_inner());
        w.watch(&paths.inventory_dir, RecursiveMode::NonRecursive)?;
        for dir in paths.dirs.iter().filter(|d| d.is_dir()) {
            w.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    let shown: Vec<String> = paths.dirs.iter().map(|d| d.display().to_string()).collect();
    tracing::info!(
        inventory = %paths.inventory.display(),
        dirs = shown.join(", "),
        "watching the inventory: a change reloads it"
    );
    let shared = Arc::clone(&watcher);
    std::thread::Builder::new()
        .name("inventory-watch".into())
        .spawn(move || run(&rx, &paths, &shared, &reload))?;
    Ok(Watch { _watcher: watcher })
}

fn run(
    rx: &mpsc::Receiver<Event>,
    paths: &Paths,
    watcher: &Mutex<RecommendedWatcher>,
    reload: &dyn Fn(),
) {
    let relevant = |ev: &Event| changes(&ev.kind) && ev.paths.iter().any(|p| paths.matters(p));
    // The channel closes when the watcher (held by `Watch`) is dropped.
    while let Ok(ev) = rx.recv() {
        if !relevant(&ev) {
            continue;
        }
        let is_dir = |ev: &Event| ev.paths.iter().any(|p| paths.dirs.contains(p));
        let mut created_dir = is_dir(&ev);
        // Settles once no relevant change came for SETTLE; other files of the directory (a
        // log or lease file written all the time) neither delay nor trigger the reload.
        let mut deadline = Instant::now() + SETTLE;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(ev) if relevant(&ev) => {
                    created_dir |= is_dir(&ev);
                    deadline = Instant::now() + SETTLE;
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        if created_dir {
            let mut w = watcher.lock().unwrap_or_else(|p| p.into_inner());
            // Watching a directory already watched only updates its watch.
            for dir in paths.dirs.iter().filter(|d| d.is_dir()) {
                if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(%e, dir = %dir.display(), "cannot watch the directory");
                }
            }
        }
        tracing::info!("the inventory changed on disk: reloading");
        reload();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn wait_for(count: &AtomicUsize, n: usize) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if count.load(Ordering::SeqCst) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn changes_reload_and_reads_and_other_files_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inventory.yaml");
        std::fs::write(&inv, "a").unwrap();
        let md = dir.path().join("machines.d");
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        let _w = inventory(&inv, std::slice::from_ref(&md), move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        // Reads and unrelated files (a lease file beside it) do not reload.
        let _ = std::fs::read_to_string(&inv).unwrap();
        std::fs::write(dir.path().join("dhcpd.leases"), "x").unwrap();
        std::thread::sleep(SETTLE * 3);
        assert_eq!(count.load(Ordering::SeqCst), 0);
        // The inventory replaced by a rename, as editors do, while a log file beside it is
        // written all the time: that neither triggers nor holds up the reload.
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, log) = (Arc::clone(&stop), dir.path().join("dhcpd.log"));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    std::fs::write(&log, "line").unwrap();
                    std::thread::sleep(SETTLE / 4);
                }
            })
        };
        std::fs::write(dir.path().join(".inventory.yaml.swp"), "b").unwrap();
        std::fs::rename(dir.path().join(".inventory.yaml.swp"), &inv).unwrap();
        assert!(wait_for(&count, 1), "the rename reloads");
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        std::thread::sleep(SETTLE * 2);
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "the log file does not reload"
        );
        // The machines directory created later, then a machine file in it.
        std::fs::create_dir(&md).unwrap();
        assert!(wait_for(&count, 2), "the new directory reloads");
        std::thread::sleep(SETTLE * 2);
        std::fs::write(md.join("db01.yaml"), "mac: x").unwrap();
        assert!(wait_for(&count, 3), "a machine file reloads");
        std::thread::sleep(SETTLE * 2);
        std::fs::write(md.join(".db02.yaml.tmp.1"), "mac: x").unwrap();
        std::thread::sleep(SETTLE * 3);
        assert_eq!(count.load(Ordering::SeqCst), 3, "a temporary file does not");
    }
}
