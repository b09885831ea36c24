//! The processes of the TFTP benchmark: finding the servers and clients, starting each
//! server on loopback and waiting until it answers, measuring its CPU time (children
//! included), and killing every process by its PID, with whatever it forked.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A program on PATH or in the sbin directories, or an error naming its package.
pub(super) fn find(bin: &str, package: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .with_context(|| format!("{bin} not found: install the Debian package {package}"))
}

/// atftpd, installed or unpacked from its package (it conflicts with tftpd-hpa).
pub(super) fn atftpd(target: &Path) -> Result<PathBuf> {
    if let Ok(p) = find("atftpd", "atftpd") {
        return Ok(p);
    }
    let tools = target.join("bench-tools");
    let bin = tools.join("atftpd/usr/sbin/atftpd");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&tools)?;
    eprintln!(
        "bench: atftpd conflicts with tftpd-hpa; unpacking its package into {}",
        tools.display()
    );
    let ok = Command::new("apt-get")
        .args(["download", "atftpd"])
        .current_dir(&tools)
        .status()
        .context("apt-get download atftpd")?
        .success();
    let deb = std::fs::read_dir(&tools)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"));
    let Some(deb) = deb.filter(|_| ok) else {
        bail!("could not download the atftpd package (apt-get download atftpd)");
    };
    let ok = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(tools.join("atftpd"))
        .status()
        .context("dpkg-deb -x")?
        .success();
    if !ok || !bin.is_file() {
        bail!("could not unpack {}", deb.display());
    }
    Ok(bin)
}

/// A free UDP port on 127.0.0.1 (bound, then released).
pub(super) fn free_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends `kill -KILL` to one process id.
pub(super) fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Every process whose parent chain leads to `pid` (read from /proc).
pub(super) fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(pp) = ppid {
                parent_of.push((p, pp));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parent_of {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// utime + stime of one process (all its threads), in clock ticks of 1/100 s.
pub(super) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Some(f.iter().sum())
}

/// Measures a server's CPU time over a scenario: its own (all threads) plus that of the
/// processes it forks. tftpd-hpa runs each transfer in a child that it does not wait for
/// (SIGCHLD ignored), so a child's time never reaches the parent's counters; a sampler
/// reads the children every 10 ms and keeps each one's last value.
pub(super) struct CpuMeter {
    pid: u32,
    own_before: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<std::collections::HashMap<u32, u64>>,
}

impl CpuMeter {
    pub(super) fn start(pid: u32) -> CpuMeter {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let sampler = std::thread::spawn(move || {
            let mut seen = std::collections::HashMap::new();
            let list = format!("/proc/{pid}/task/{pid}/children");
            loop {
                let done = flag.load(Ordering::Relaxed);
                let children = std::fs::read_to_string(&list).unwrap_or_default();
                for c in children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok())
                {
                    if let Some(t) = cpu_ticks(c) {
                        seen.insert(c, t);
                    }
                }
                if done {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        CpuMeter {
            pid,
            own_before: cpu_ticks(pid).unwrap_or(0),
            stop,
            sampler,
        }
    }

    /// CPU seconds since `start`.
    pub(super) fn stop(self) -> f64 {
        // Let the last transfer process finish its exit.
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let children: u64 = self.sampler.join().map(|m| m.values().sum()).unwrap_or(0);
        let own = cpu_ticks(self.pid)
            .unwrap_or(0)
            .saturating_sub(self.own_before);
        (own + children) as f64 / 100.0
    }
}

/// A server process; killed by PID, with anything it forked, when dropped.
pub(super) struct Server {
    pub(super) name: &'static str,
    pub(super) version: String,
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Frozen first: nginx's master replaces a killed worker, and that one would live on.
        let _ = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        for p in descendants(self.child.id()) {
            kill_pid(p);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clients still running when a scenario fails are killed by PID too.
pub(super) struct Clients(pub(super) Vec<(Child, Instant)>);

impl Drop for Clients {
    fn drop(&mut self) {
        for (c, _) in &mut self.0 {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Waits until the server answers a read request for `probe.txt`.
pub(super) fn wait_ready(server: &mut Server) -> Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let to: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let mut rrq = vec![0u8, 1];
    rrq.extend_from_slice(b"probe.txt\0octet\0");
    let mut buf = [0u8; 1024];
    for _ in 0..50 {
        if let Some(status) = server.child.try_wait()? {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            bail!("{} exited at start ({status}):\n{log}", server.name);
        }
        sock.send_to(&rrq, to)?;
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && n >= 4
            && buf[..2] == [0, 3]
        {
            sock.send_to(&[0, 4, buf[2], buf[3]], from)?;
            return Ok(());
        }
    }
    bail!(
        "{} does not answer on 127.0.0.1:{}",
        server.name,
        server.port
    )
}

/// Starts a server with its output in `log`; readiness is the caller's to check.
pub(super) fn start(
    name: &'static str,
    version: String,
    mut cmd: Command,
    port: u16,
    log: PathBuf,
) -> Result<Server> {
    let file = std::fs::File::create(&log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(Server {
        name,
        version,
        child,
        port,
        log,
    })
}

pub(super) fn spawn_server(
    name: &'static str,
    version: String,
    cmd: Command,
    port: u16,
    log: PathBuf,
) -> Result<Server> {
    let mut server = start(name, version, cmd, port, log)?;
    wait_ready(&mut server)?;
    eprintln!(
        "bench: {name} ({}) on 127.0.0.1:{port}, pid {}",
        server.version,
        server.child.id()
    );
    Ok(server)
}

/// `--name value` pairs of a bench command: each name must be in `known`, each value given.
pub(super) struct Flags(std::collections::BTreeMap<String, String>);

impl Flags {
    pub(super) fn parse(args: &[String], known: &[&str], usage: &str) -> Result<Flags> {
        let mut map = std::collections::BTreeMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if !known.contains(&a.as_str()) {
                bail!("unknown argument `{a}`; usage: {usage}");
            }
            let v = it.next().with_context(|| format!("{a} needs a value"))?;
            map.insert(a.clone(), v.clone());
        }
        Ok(Flags(map))
    }

    /// A positive number, or `default` when the flag is absent.
    pub(super) fn number(&self, name: &str, default: u64) -> Result<u64> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{name}: not a positive number: {v}")),
        }
    }

    /// A flag's value as given.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(super) fn path(&self, name: &str) -> Option<PathBuf> {
        self.0.get(name).map(PathBuf::from)
    }
}

pub(super) fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_default()
}

pub(super) struct Tools {
    pub(super) ours: PathBuf,
    pub(super) hpa: PathBuf,
    pub(super) dnsmasq: PathBuf,
    pub(super) atftpd: PathBuf,
    pub(super) curl: PathBuf,
    pub(super) atftp: PathBuf,
}

pub(super) fn start_servers(tools: &Tools, root: &Path, logs: &Path) -> Result<Vec<Server>> {
    let r = root.display().to_string();
    let mut servers = Vec::new();

    let port = free_port()?;
    let mut cmd = Command::new(&tools.ours);
    cmd.args(["-L", "-s", &r, "-a", &format!("127.0.0.1:{port}")]);
    // Every client of the benchmark comes from 127.0.0.1: our per-address limit (8
    // transfers at once by default, which no reference server has) would refuse all but
    // eight of the concurrent clients with "Server busy".
    cmd.args(["--max-per-client", "100000"]);
    let v = first_line(Command::new(&tools.ours).arg("-V"));
    servers.push(spawn_server("ours", v, cmd, port, logs.join("ours.log"))?);

    let port = free_port()?;
    let mut cmd = Command::new(&tools.hpa);
    cmd.args(["-L", "-s", &r, "-a", &format!("127.0.0.1:{port}")]);
    let v = first_line(Command::new(&tools.hpa).arg("-V"));
    servers.push(spawn_server(
        "tftpd-hpa",
        v,
        cmd,
        port,
        logs.join("tftpd-hpa.log"),
    )?);

    if UdpSocket::bind("127.0.0.1:69").is_err() {
        bail!(
            "127.0.0.1:69 is taken (dnsmasq's TFTP port cannot be changed): is a TFTP service running?"
        );
    }
    let mut cmd = Command::new(&tools.dnsmasq);
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--port=0",
        "--pid-file=",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--enable-tftp",
        &format!("--tftp-root={r}"),
        &format!("--log-facility={}", logs.join("dnsmasq.log").display()),
    ]);
    let v = first_line(Command::new(&tools.dnsmasq).arg("--version"));
    servers.push(spawn_server(
        "dnsmasq",
        v,
        cmd,
        69,
        logs.join("dnsmasq.out"),
    )?);

    let port = free_port()?;
    let mut cmd = Command::new(&tools.atftpd);
    cmd.args([
        "--daemon",
        "--no-fork",
        "--port",
        &port.to_string(),
        "--bind-address",
        "127.0.0.1",
        "--logfile",
        &logs.join("atftpd.log").display().to_string(),
        &r,
    ]);
    let v = first_line(Command::new(&tools.atftpd).arg("-V"));
    servers.push(spawn_server(
        "atftpd",
        v,
        cmd,
        port,
        logs.join("atftpd.out"),
    )?);
    Ok(servers)
}

/// The opening paragraphs of a report: how it was run, the machine, the servers with their
/// versions.
pub(super) fn report_header(r: &mut String, how: &str, facts: &str, servers: &[(String, String)]) {
    use std::fmt::Write as _;
    let list = servers
        .iter()
        .map(|(n, v)| format!("{n} ({v})"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(r, "{how}\n\nMachine: {facts}.\n\nServers: {list}.\n\n");
}

#[cfg(test)]
mod report_tests {
    #[test]
    fn report_header_names_the_run_the_machine_and_each_server_with_its_version() {
        let mut r = String::new();
        let servers = [
            ("ours".to_string(), "tftpd 0.1.0".to_string()),
            ("nginx".to_string(), "nginx/1.22.1".to_string()),
        ];
        super::report_header(&mut r, "Run on today.", "2 cores", &servers);
        assert_eq!(
            r,
            "Run on today.\n\nMachine: 2 cores.\n\nServers: ours (tftpd 0.1.0), nginx (nginx/1.22.1).\n\n"
        );
    }
}
