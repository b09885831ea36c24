//! Signals as the daemons handle them: SIGHUP reloads what they read (configuration,
//! inventory, map files, log files), SIGTERM and SIGINT stop them; systemd is told of each
//! (`RELOADING=1` … `READY=1`, `STOPPING=1`), so `systemctl reload` waits for the reload to
//! end. A reload that fails keeps what was serving and says so in the log.

use std::fmt::Display;
use std::future::Future;
use std::io;

use tokio::signal::unix::{Signal as Stream, SignalKind, signal};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP.
    Reload,
    /// SIGTERM or SIGINT (its name).
    Stop(&'static str),
}

/// The handlers of SIGHUP, SIGTERM and SIGINT (from a tokio runtime).
#[derive(Debug)]
pub struct Signals {
    hup: Stream,
    term: Stream,
    int: Stream,
}

impl Signals {
    /// Installs the handlers; from now on these signals no longer kill the process.
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.hup.recv() => Signal::Reload,
            _ = self.term.recv() => Signal::Stop("SIGTERM"),
            _ = self.int.recv() => Signal::Stop("SIGINT"),
        }
    }
}

/// Handles signals until a stop is asked for: each SIGHUP runs `reload` between systemd's
/// `RELOADING=1` and `READY=1`; SIGTERM or SIGINT sends `STOPPING=1` and the future ends.
///
/// The handlers are installed by this call, not when the future is first polled: call it
/// (inside the runtime) before telling systemd the daemon is ready, so a SIGTERM that comes
/// right after readiness stops the daemon instead of killing it. Without handlers (cannot be
/// installed) it logs the error and never ends, so the daemon serves on and the default
/// signal action applies.
pub fn until_stopped<F, Fut>(reload: F) -> impl Future<Output = ()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let installed = Signals::install();
    async move {
        match installed {
            Ok(signals) => handle_until_stopped(signals, reload).await,
            Err(e) => {
                tracing::error!("cannot install signal handlers: {e}");
                std::future::pending().await
            }
        }
    }
}

/// The loop of [`until_stopped`], with its handlers installed.
async fn handle_until_stopped<F, Fut>(mut signals: Signals, mut reload: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        match signals.next().await {
            Signal::Reload => {
                crate::notify::reloading();
                reload().await;
                crate::notify::reloaded("serving");
            }
            Signal::Stop(name) => {
                tracing::info!("{name}: shutting down");
                crate::notify::stopping();
                return;
            }
        }
    }
}

/// Runs a blocking reload of `what` (`inventory`, `map file`, read from `file`) off the
/// async threads and logs how it went: `WHAT reloaded: SUMMARY`, or `WHAT refused, the
/// previous one keeps serving: ERROR`. The new value, when there is one.
pub async fn reload_blocking<T, E, F>(
    what: &str,
    file: &str,
    load: F,
    summary: impl Fn(&T) -> String,
) -> Option<T>
where
    T: Send + 'static,
    E: Display + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    match tokio::task::spawn_blocking(load).await {
        Ok(Ok(value)) => {
            tracing::info!(file, "{what} reloaded: {}", summary(&value));
            Some(value)
        }
        Ok(Err(e)) => {
            tracing::error!(
                file,
                "{what} refused, reload failed; the previous one keeps serving: {e}"
            );
            None
        }
        Err(e) => {
            tracing::error!(file, "{what} reload failed: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    /// Signals go to the whole process, and the test harness runs tests on parallel
    /// threads: one test's SIGTERM would stop the other's loop. The tests that send
    /// signals take this lock first.
    static SENDS_SIGNALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test(flavor = "current_thread")]
    async fn a_refused_reload_keeps_nothing_and_a_good_one_returns_its_value() {
        let good = reload_blocking(
            "map file",
            "a.map",
            || Ok::<_, String>(3),
            |n| format!("{n} rules"),
        )
        .await;
        assert_eq!(good, Some(3));
        let bad = reload_blocking(
            "map file",
            "a.map",
            || Err::<u8, _>("line 2: bad".to_owned()),
            |_| String::new(),
        )
        .await;
        assert_eq!(bad, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sighup_reloads_and_sigterm_stops() {
        let _alone = SENDS_SIGNALS.lock().await;
        let reloads = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = reloads.clone();
        let task = tokio::spawn(until_stopped(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let me = nix::unistd::Pid::this();
        nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGHUP).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGHUP).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reloads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sigterm_before_the_first_poll_stops_instead_of_killing() {
        // Handlers installed only at the first poll would leave SIGTERM's default action
        // here, and the test process would die.
        let _alone = SENDS_SIGNALS.lock().await;
        let stopped = until_stopped(|| async {});
        let me = nix::unistd::Pid::this();
        nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGTERM).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        tokio::time::timeout(std::time::Duration::from_secs(5), stopped)
            .await
            .unwrap();
    }
}
