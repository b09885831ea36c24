//! A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temporary
//! directory, `postgres` listening only on a socket in that directory (no TCP port, so
//! nothing outside this machine reaches it), stopped and removed when dropped. PostgreSQL
//! refuses to run as root: as root, the directory is given to the `postgres` user (Debian's
//! `postgresql` package makes it) and the programs run as that user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where Debian's `postgresql` package puts the server programs.
const DEBIAN_BIN: &str = "/usr/lib/postgresql";

/// A running throwaway server.
#[derive(Debug)]
pub struct ScratchServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<nix::unistd::User>,
    port: u16,
    running: bool,
    /// Whether commits reach the disk (`fsync=on`): off for tests, on for benchmarks.
    durable: bool,
}

/// Why a throwaway server did not start.
#[derive(Debug, thiserror::Error)]
#[error("scratch PostgreSQL: {0}")]
pub struct ScratchError(String);

/// The directory holding `initdb` and `pg_ctl`: `PG_BINDIR`, else the newest version under
/// Debian's directory, else the `PATH`.
fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("PG_BINDIR") {
        return PathBuf::from(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_BIN)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).unwrap_or_default()
}

impl ScratchServer {
    /// Start one (about a second: initdb with fsync off, then the server).
    pub fn start() -> Result<ScratchServer, ScratchError> {
        Self::start_with(false)
    }

    /// Start one whose commits are durable (fsync on), as a production server's are: for
    /// benchmarks, where a commit's cost is what is measured.
    pub fn start_durable() -> Result<ScratchServer, ScratchError> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<ScratchServer, ScratchError> {
        let err = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| ScratchError(format!("{what}: {e}"))
        };
        let dir = tempfile::Builder::new()
            .prefix("pxe-pg.")
            .tempdir()
            .map_err(err("making its directory"))?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or_else(|| {
                    ScratchError(
                        "running as root and there is no postgres user (install Debian's postgresql package)"
                            .into(),
                    )
                })?;
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid))
                .map_err(|e| ScratchError(format!("giving its directory to postgres: {e}")))?;
            Some(user)
        } else {
            None
        };
        // A port number only names the socket file (no TCP listener); keep them distinct.
        let port = 20_000 + (std::process::id() % 20_000) as u16;
        let mut s = ScratchServer {
            dir,
            bin: bin_dir(),
            run_as,
            port,
            running: false,
            durable,
        };
        let data = s.data();
        s.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        s.start_server()?;
        Ok(s)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// The directory holding the server's socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port that names its socket.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process (from `postmaster.pid`), while it runs.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// The URL of its `postgres` database, as the daemons take it.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@/postgres?host={}&port={}",
            self.dir.path().display(),
            self.port
        )
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), ScratchError> {
        let path = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={}", u.uid))
                    .arg(format!("--regid={}", u.gid))
                    .arg("--clear-groups")
                    .arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| ScratchError(format!("{}: {e}", path.display())))?;
        if !out.status.success() {
            return Err(ScratchError(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Start the server (again, after [`ScratchServer::stop`]); returns once it accepts
    /// connections.
    pub fn start_server(&mut self) -> Result<(), ScratchError> {
        let data = self.data();
        let options = format!(
            "-k {} -p {} -c listen_addresses='' -c fsync={} -c max_connections=200",
            self.dir.path().display(),
            self.port,
            if self.durable { "on" } else { "off" }
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
            ],
        )?;
        self.running = true;
        Ok(())
    }

    /// Stop the server (fast shutdown: connections are cut), keeping its data.
    pub fn stop(&mut self) -> Result<(), ScratchError> {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Wait until `check` holds (polling every 50 ms) or `limit` passes.
    pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if check() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        check()
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
    }
}
