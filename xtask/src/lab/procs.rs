//! Processes the lab starts, each killed by its PID when dropped; their output goes to
//! a log file the lab follows.

use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) log: PathBuf,
    child: Child,
}

impl Proc {
    /// Starts `argv` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(name: &str, argv: &[String], log: &Path) -> Result<Proc> {
        let (prog, args) = argv.split_first().context("empty command")?;
        let mut cmd = Command::new(prog);
        cmd.args(args);
        Self::spawn_command(name, cmd, log)
            .with_context(|| format!("starting {name}: {}", argv.join(" ")))
    }

    /// Starts `cmd` (with its own environment) with stdout and stderr appended to `log`.
    pub(crate) fn spawn_command(name: &str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating log handle")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc {
            name: name.to_owned(),
            log: log.to_owned(),
            child,
        })
    }

    /// Still running?
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log so far; bytes that are not UTF-8 (firmware screens on a serial console)
    /// become U+FFFD instead of hiding the rest.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log contains `needle`, the process exits, or time runs out.
    pub(crate) fn wait_for(&mut self, needle: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.log_text().contains(needle) {
                return true;
            }
            if !self.alive() {
                return self.log_text().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end.
    pub(crate) fn wait(&mut self) -> Result<std::process::ExitStatus> {
        self.child.wait().context("waiting for a process")
    }

    /// Waits up to `limit`; `None` when it is still running.
    pub(crate) fn wait_timeout(
        &mut self,
        limit: Duration,
    ) -> Result<Option<std::process::ExitStatus>> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().context("polling a process")? {
                return Ok(Some(s));
            }
            if start.elapsed() > limit {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and returns at once.
    pub(crate) fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to this process, by its PID.
    pub(crate) fn signal(&self, name: &str) -> Result<()> {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -{name} {} failed", self.child.id());
        Ok(())
    }

    /// SIGKILL at once (no grace period), and waits for the process to end.
    pub(crate) fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub(crate) fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..20 {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
