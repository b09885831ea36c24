//! systemd's notification protocol (`sd_notify(3)`): `READY=1` once the sockets are bound,
//! `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` on the way out, and `WATCHDOG=1`
//! at half the interval systemd asks for (`WatchdogSec=`). Outside systemd (`NOTIFY_SOCKET`
//! unset) every call does nothing.
//!
//! A failed notification is logged, never fatal: the daemon serves either way, and systemd
//! reports a missing `READY=1` itself.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify the service manager: {e}");
    }
}

/// The service is up: its sockets are bound. `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload (SIGHUP) has started.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The reload has ended (applied or refused); `status` says which.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The service is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A new status line without a state change.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when it is meant for this
/// process.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// One watchdog ping.
pub fn watchdog_ping() {
    send(&[NotifyState::Watchdog]);
}

/// Pings the watchdog forever from the current tokio runtime, so a runtime that stops
/// running tasks stops the pings and systemd restarts the service. Returns at once when no
/// watchdog is asked for.
pub async fn watchdog_task() {
    let Some(period) = watchdog_period() else {
        return;
    };
    let mut tick = tokio_interval(period);
    loop {
        tick.tick().await;
        watchdog_ping();
    }
}

fn tokio_interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// The only test touching the environment, so it cannot race another.
    #[test]
    fn messages_reach_the_notify_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // SAFETY-free: edition 2024 makes set_var unsafe; the crate denies unsafe, so the
        // variables are passed the way systemd passes them, through a child process.
        let exe = std::env::current_exe().expect("test binary");
        let status = std::process::Command::new(exe)
            .args(["--exact", "notify::tests::child_sends", "--nocapture"])
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "2000000")
            .env("PXE_NOTIFY_CHILD", "1")
            .status()
            .expect("child runs");
        assert!(status.success());
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            let n = sock.recv(&mut buf).expect("a notification");
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(got[0], "READY=1\nSTATUS=serving\n");
        assert!(
            got[1].starts_with("RELOADING=1\nMONOTONIC_USEC="),
            "{got:?}"
        );
        assert_eq!(got[2], "WATCHDOG=1\n");
    }

    /// The child of the test above; run on its own (no systemd variables) it checks that
    /// nothing is asked for and every call is a quiet no-op.
    #[test]
    fn child_sends() {
        if std::env::var_os("PXE_NOTIFY_CHILD").is_none() {
            assert_eq!(watchdog_period(), None);
            ready("serving");
            reloading();
            stopping();
            return;
        }
        ready("serving");
        reloading();
        assert_eq!(watchdog_period(), Some(Duration::from_secs(1)));
        watchdog_ping();
    }
}
