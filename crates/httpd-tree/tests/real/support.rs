//! Shared pieces of the real-client tests: a lab (the render-lab inventory with its
//! trees in a temp dir), the server binary on an ephemeral port, and the clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub(crate) const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/inventory/good/render-lab.yaml"
);
/// The base URL the fixture hands out; tests replace it by the real one.
pub(crate) const FIXTURE_HTTP: &str = "http://10.77.0.3:8080";
pub(crate) const ADMIN_TOKEN: &str = "lab-admin-token-5f2a9c1e77d04b38";
pub(crate) const SECRET_MARKER: &str = "PXE-SECRET-7f3e1b2a-do-not-serve";

/// Deterministic bytes that do not compress or repeat (xorshift).
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The render-lab inventory in a temp dir, its trees filled with files, a secret file
/// outside every tree and symlinks that lead to it.
pub(crate) struct Lab {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) inventory: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) admin_token_file: PathBuf,
    pub(crate) kernel: Vec<u8>,
}

impl Lab {
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn tree(&self, distro: &str) -> PathBuf {
        self.path(&format!("trees/{distro}"))
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

pub(crate) fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    let text = std::fs::read_to_string(FIXTURE)
        .expect("the render-lab fixture")
        .replace("/srv/trees", &base.join("trees").display().to_string());
    let inventory = base.join("inventory.yaml");
    write(&inventory, text.as_bytes());
    let kernel = pseudo_random(3 * 1024 * 1024 + 17, 1);
    let c7 = base.join("trees/centos7");
    write(&c7.join("images/pxeboot/vmlinuz"), &kernel);
    write(
        &c7.join("images/pxeboot/initrd.img"),
        &pseudo_random(1024 * 1024, 2),
    );
    write(
        &c7.join(".treeinfo"),
        b"[general]\nfamily = CentOS\nversion = 7\narch = x86_64\n",
    );
    write(&c7.join("Packages/a <b> & \"c\".rpm"), b"rpm");
    write(&c7.join("repodata/repomd.xml"), b"<repomd/>\n");
    let deb = base.join("trees/debian12");
    write(
        &deb.join("debian-installer/amd64/linux"),
        &pseudo_random(200_000, 3),
    );
    write(
        &deb.join("debian-installer/amd64/initrd.gz"),
        &pseudo_random(100_000, 4),
    );
    let ub = base.join("trees/ubuntu2404");
    write(&ub.join("casper/vmlinuz"), &pseudo_random(1000, 5));
    write(&ub.join("casper/initrd"), &pseudo_random(1000, 6));
    // Outside every tree: a secret, and symlinks inside the tree that lead to it.
    write(&base.join("outside/secret.txt"), SECRET_MARKER.as_bytes());
    write(&base.join("secret.txt"), SECRET_MARKER.as_bytes());
    std::os::unix::fs::symlink("../../outside/secret.txt", c7.join("leak-rel")).expect("symlink");
    std::os::unix::fs::symlink(base.join("outside/secret.txt"), c7.join("leak-abs"))
        .expect("symlink");
    std::os::unix::fs::symlink(base.join("outside"), c7.join("leak-dir")).expect("symlink");
    std::os::unix::fs::symlink("/etc", c7.join("etc")).expect("symlink");
    std::os::unix::fs::symlink("images/pxeboot/vmlinuz", c7.join("vmlinuz-link")).expect("symlink");
    let admin_token_file = base.join("admin-token");
    write(&admin_token_file, format!("{ADMIN_TOKEN}\n").as_bytes());
    // As dhcpd would have: every machine was acknowledged 127.0.0.1, the tests' address,
    // so their own files are served to the clients here (and to no other address).
    let state_dir = base.join("state");
    acknowledge_all(&inventory, &state_dir, OWNER);
    Lab {
        state_dir,
        inventory,
        admin_token_file,
        kernel,
        dir,
    }
}

/// The address the lab's machines were acknowledged (their owner's).
pub(crate) const OWNER: &str = "127.0.0.1";
/// Another loopback address: a stranger to every machine (`curl --interface`).
pub(crate) const STRANGER: &str = "127.0.0.2";

/// Records `address` as dhcpd's last acknowledgement to every machine of `inventory`.
pub(crate) fn acknowledge_all(inventory: &Path, state_dir: &Path, address: &str) {
    use pxe_model::StateStore;
    let inv = pxe_model::load(inventory).expect("the lab inventory loads");
    let store = pxe_model::FileStore::open(state_dir).expect("state dir");
    let address = address.parse().expect("an IPv4 address");
    for name in inv.machines.keys() {
        store.record_ack(name, address, 1).expect("record_ack");
    }
}

/// The server binary, running until dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    pub(crate) base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Server {
        Server::start_on("127.0.0.1:0", args)
    }

    /// Like [`Server::start`] with another `--listen` address (`[::1]:0`); the base URL is
    /// the address of the first listening line.
    pub(crate) fn start_on<S: AsRef<std::ffi::OsStr>>(listen: &str, args: &[S]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_httpd-tree"))
            .arg("--listen")
            .arg(listen)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("PXE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start httpd-tree");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                sink.lock().expect("log").push(line);
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "httpd-tree did not say 'listening on http://': {}",
                log.lock().expect("log").join("\n")
            );
        };
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the listening line");
        Server {
            child,
            port,
            base: format!("http://{addr}"),
            log,
        }
    }

    /// Starts it on the lab's inventory and state directory, with the admin token.
    pub(crate) fn for_lab(lab: &Lab, extra: &[&str]) -> Server {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--inventory".into(),
            lab.inventory.clone().into(),
            "--state-dir".into(),
            lab.state_dir.clone().into(),
            "--admin-token-file".into(),
            lab.admin_token_file.clone().into(),
        ];
        args.extend(extra.iter().map(Into::into));
        Server::start(&args)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything it wrote to standard error so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// SIGTERM, then its exit status.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn stop(&mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        self.child.wait().expect("wait")
    }

    /// Sends a signal to this server only.
    pub(crate) fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal");
    }

    /// Waits until a line containing `needle` was logged (or panics after 60 s).
    pub(crate) fn wait_for_log(&self, needle: &str) {
        for _ in 0..600 {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no log line with {needle:?}:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a client program; a missing program fails the test naming its Debian package.
pub(crate) fn run(program: &str, package: &str, args: &[&str]) -> Output {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{program} is not installed: apt-get install {package}")
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

/// curl, which must exit 0; its standard output.
pub(crate) fn curl(args: &[&str]) -> Vec<u8> {
    let o = run("curl", "curl", args);
    assert!(
        o.status.success(),
        "curl {args:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// curl's status code for a request (`-w %{http_code}`), with the body in `out`.
pub(crate) fn curl_status(args: &[&str], out: &Path) -> u16 {
    let out = out.to_str().expect("utf-8 path");
    let mut all = vec!["-s", "-o", out, "-w", "%{http_code}"];
    all.extend_from_slice(args);
    let text = String::from_utf8(curl(&all)).expect("utf-8");
    text.trim().parse().expect("a status code")
}

/// A raw HTTP/1.1 exchange on a fresh connection: the status, the head and the body.
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// Sends `request` bytes as they are (no normalisation) and reads until close.
pub(crate) fn raw(port: u16, request: &[u8]) -> Raw {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

pub(crate) fn parse_response(buf: &[u8]) -> Raw {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Raw {
        status,
        head,
        body: buf[split + 4..].to_vec(),
    }
}

/// `GET <target>` with `Connection: close`.
pub(crate) fn raw_get(port: u16, target: &str) -> Raw {
    raw(
        port,
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}
