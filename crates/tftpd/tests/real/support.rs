//! Shared helpers: a served temp tree, the real `tftpd` binary on an ephemeral loopback port,
//! peer binaries looked up by name (a missing one fails the test naming its Debian package).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The binary under test.
pub(crate) const TFTPD: &str = env!("CARGO_BIN_EXE_tftpd");

/// Fails the test unless `bin` is on PATH.
pub(crate) fn need(bin: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{bin} not found: install the Debian package {package} (see xtask/packages.txt)")
    })
}

/// A served directory (0755, so the server can read it after dropping to nobody) and a
/// scratch directory for client downloads.
pub(crate) struct Tree {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) scratch: PathBuf,
}

impl Tree {
    pub(crate) fn new() -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&root).expect("root dir");
        std::fs::create_dir(&scratch).expect("scratch dir");
        for d in [dir.path(), root.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Tree {
            _dir: dir,
            root,
            scratch,
        }
    }

    /// Writes a world-readable file under the root.
    pub(crate) fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, content).expect("write served file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        p
    }

    /// A path for a client to download into.
    pub(crate) fn out(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }
}

/// Deterministic pseudo-random bytes (xorshift), so big files need no fixtures.
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

pub(crate) fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn sha256_file(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
}

/// A running server; killed (by its PID, through `Child`) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `tftpd -L -a 127.0.0.1:0 <args>` and waits for its "listening on" line.
    pub(crate) fn start(args: &[&str]) -> Server {
        let mut cmd = Command::new(TFTPD);
        cmd.args(["-L", "-a", "127.0.0.1:0"]).args(args);
        Server::spawn(cmd)
    }

    /// Starts an already prepared command whose stderr carries the log, and waits for its
    /// "listening on" line.
    pub(crate) fn spawn(cmd: Command) -> Server {
        Server::spawn_on(cmd, None)
    }

    /// Like [`Server::spawn`]; with `known_port` the port is not read from the log (for a
    /// socket activator that starts the server only at the first datagram).
    pub(crate) fn spawn_on(mut cmd: Command, known_port: Option<u16>) -> Server {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tftpd");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("listening on udp ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|addr| addr.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let port = match known_port
            .map(Ok)
            .unwrap_or_else(|| rx.recv_timeout(Duration::from_secs(30)))
        {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tftpd did not report its port; log:\n{}",
                    log.lock().expect("log lock").join("\n")
                );
            }
        };
        Server { child, port, log }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log lines so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits for a log line containing all of `needles` (the line is written after the
    /// client saw its last packet, so it may lag a little).
    pub(crate) fn wait_log(&self, needles: &[&str]) -> String {
        for _ in 0..300 {
            if let Some(l) = self
                .log()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return l;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no log line with {needles:?}; log:\n{}",
            self.log().join("\n")
        );
    }

    /// Waits until `count` log lines contain all of `needles`; returns them.
    pub(crate) fn wait_log_count(&self, needles: &[&str], count: usize) -> Vec<String> {
        let matching = || -> Vec<String> {
            self.log()
                .into_iter()
                .filter(|l| needles.iter().all(|n| l.contains(n)))
                .collect()
        };
        for _ in 0..300 {
            let lines = matching();
            if lines.len() >= count {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "fewer than {count} log lines with {needles:?}; log:\n{}",
            self.log().join("\n")
        );
    }

    /// Waits for the process to exit on its own (inetd idle timeout), up to a minute.
    pub(crate) fn wait_exit(mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "tftpd did not exit after its idle timeout; log:\n{}",
            self.log().join("\n")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a client command, returning its output; fails the test if it cannot start.
pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Asserts that `got` holds exactly `want`'s bytes, by sha256.
#[track_caller]
pub(crate) fn assert_same(got: &Path, want: &[u8], what: &str, out: &Output) {
    assert!(
        got.exists(),
        "{what}: no output file; client stdout: {} stderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sha256_file(got),
        sha256(want),
        "{what}: content differs; client stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
