//! The daemons started from the installed units, as systemd would start them, each
//! answered by a real client from another network namespace:
//!
//! - the unit's `ExecStartPre=` and `ExecStart=` lines, paths and flags as written,
//!   expanded with the unit's environment, run as its `User=` with only its
//!   `AmbientCapabilities=` (setpriv), its groups as systemd gives them (`Group=`, the
//!   user's /etc/group memberships, `SupplementaryGroups=`), its state directories created
//!   and owned as `StateDirectory=` makes them, its `ReadWritePaths=` and
//!   `ReadOnlyPaths=` present (systemd refuses to start the unit otherwise), a clean
//!   environment with `NOTIFY_SOCKET` and `WATCHDOG_USEC`; the unit's drop-ins under
//!   /etc/systemd/system/<unit>.d/ apply, as `systemctl edit` writes them;
//! - `READY=1` must arrive before any client is started, then a `WATCHDOG=1`; `ExecReload=`
//!   must produce `RELOADING=1` then `READY=1`; SIGTERM must end the process;
//! - tftpd.service behind tftpd.socket through `systemd-socket-activate --datagram`, and the
//!   xinetd stanza under the real xinetd (unpacked into the sysroot only).

use super::sysroot::{SHARE_INSIDE, Sysroot, output};
use super::unit::Unit;
use crate::lab::procs::Proc;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The server side of the test link.
pub(crate) const SERVER_IP: &str = "10.78.0.1";
pub(crate) const CLIENT_IF: &str = "c0";
/// The client's hardware address: the inventory machine [`OPS_MACHINE`]'s.
pub(crate) const CLIENT_MAC: &str = "52:54:00:78:00:02";
/// The machine the checks add to the example inventory: no fixed address, so httpd-tree
/// serves its own files only to the address dhcpd acknowledged to it.
pub(crate) const OPS_MACHINE: &str = "ops01";
/// The state directory of the units' command lines and of the documented drop-ins.
pub(crate) const STATE_DIR: &str = "/var/lib/pxe-suite";
/// The inventory the units read.
const INVENTORY: &str = "/etc/pxe-suite/inventory.yaml";

/// The two namespaces of a check: the server's and the client's.
pub(crate) struct Net {
    pub(crate) server: crate::lab::net::Netns,
    pub(crate) client: crate::lab::net::Netns,
}

impl Net {
    pub(crate) fn create(tag: &str) -> Result<Net> {
        let server = crate::lab::net::Netns::create(&format!("{tag}-s"))?;
        let client = crate::lab::net::Netns::create(&format!("{tag}-c"))?;
        server.ip(&[
            "link",
            "add",
            "s0",
            "type",
            "veth",
            "peer",
            "name",
            CLIENT_IF,
            "netns",
            &client.name,
        ])?;
        server.addr("s0", &format!("{SERVER_IP}/24"))?;
        server.ip(&["link", "set", "s0", "up"])?;
        // The client has an address for TFTP and HTTP; udhcpc asks for a lease all the
        // same (and, run with -s /bin/true, configures nothing).
        client.addr(CLIENT_IF, "10.78.0.2/24")?;
        client.ip(&["link", "set", CLIENT_IF, "address", CLIENT_MAC])?;
        client.ip(&["link", "set", CLIENT_IF, "up"])?;
        Ok(Net { server, client })
    }

    /// Gives the client `addr` besides its first address (again: no error if it has it).
    pub(crate) fn client_also_at(&self, addr: &str) -> Result<()> {
        self.client
            .ip(&["addr", "replace", &format!("{addr}/24"), "dev", CLIENT_IF])
    }

    /// Runs a client in the client namespace, in `cwd`; returns its standard output and
    /// error together.
    pub(crate) fn client(&self, cwd: &Path, argv: &[&str]) -> Result<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.client.name])
            .args(argv)
            .current_dir(cwd)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("running {}", argv.join(" ")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("{}: {}\n{text}", argv.join(" "), out.status);
        }
        Ok(text)
    }
}

/// The notification socket a service is given.
struct Notify {
    sock: UnixDatagram,
    inside: String,
    seen: Vec<String>,
}

impl Notify {
    fn new(share: &Path, name: &str) -> Result<Notify> {
        use std::os::unix::fs::PermissionsExt;
        let path = share.join(format!("{name}.notify"));
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).context("binding the notify socket")?;
        // The service runs as its own user and must be able to connect.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
        Ok(Notify {
            sock,
            inside: format!("{SHARE_INSIDE}/{name}.notify"),
            seen: Vec::new(),
        })
    }

    /// Waits for a message with the line `want` (`READY=1`); the messages before it are
    /// kept in `seen`.
    fn expect(&mut self, want: &str, limit: Duration, proc: &mut Proc) -> Result<()> {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < limit {
            self.sock
                .set_read_timeout(Some(Duration::from_millis(200)))
                .context("socket timeout")?;
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let hit = msg.lines().any(|l| l == want);
                    self.seen.push(msg);
                    if hit {
                        return Ok(());
                    }
                }
                Err(_) => {
                    if !proc.alive() {
                        bail!(
                            "{} exited before {want}; its output:\n{}",
                            proc.name,
                            proc.log_text()
                        );
                    }
                }
            }
        }
        bail!(
            "no {want} from {} within {limit:?} (got {:?}); its output:\n{}",
            proc.name,
            self.seen,
            proc.log_text()
        )
    }
}

/// How a unit's process is started in the sysroot.
pub(crate) struct Launch<'a> {
    sysroot: &'a Sysroot,
    pub(crate) unit: Unit,
    env: BTreeMap<String, String>,
    /// The groups /etc/group lists the unit's user in.
    member_of: Vec<String>,
}

impl<'a> Launch<'a> {
    fn new(sysroot: &'a Sysroot, unit: Unit) -> Result<Launch<'a>> {
        // EnvironmentFile= paths are read inside the installed system.
        let env = unit.environment(|path| {
            sysroot
                .read_optional(path)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, path.to_string()))
        })?;
        let member_of = match unit.get("Service", "User") {
            Some(user) => member_of(&sysroot.read("/etc/group")?, &user),
            None => Vec::new(),
        };
        Ok(Launch {
            sysroot,
            unit,
            env,
            member_of,
        })
    }

    /// The installed unit `name`, with its drop-ins.
    pub(crate) fn of(sysroot: &'a Sysroot, name: &str) -> Result<Launch<'a>> {
        Launch::new(sysroot, unit(sysroot, name)?)
    }

    /// The installed unit `name`, its state directories made, its `ExecStartPre=` run,
    /// its `ExecStart=` started and ready.
    fn up(
        sysroot: &'a Sysroot,
        name: &str,
        net: &Net,
        work: &Path,
    ) -> Result<(Launch<'a>, Proc, Notify)> {
        let launch = Launch::new(sysroot, unit(sysroot, name)?)?;
        launch.state_dirs()?;
        launch.namespace_paths()?;
        launch.pre(&net.server.name, &work.join(format!("{name}-pre.log")))?;
        let mut notify = Notify::new(&sysroot.share, name)?;
        let p = launch.start(&net.server.name, work, &mut notify)?;
        Ok((launch, p, notify))
    }

    /// `StateDirectory=` and `LogsDirectory=`: /var/lib/<dir> and /var/log/<dir> owned by
    /// the unit's user, with their modes.
    pub(crate) fn state_dirs(&self) -> Result<()> {
        let user = self
            .unit
            .get("Service", "User")
            .unwrap_or_else(|| "root".into());
        let group = self
            .unit
            .get("Service", "Group")
            .unwrap_or_else(|| user.clone());
        for (kind, base) in [("State", "/var/lib"), ("Logs", "/var/log")] {
            let mode = self
                .unit
                .get("Service", &format!("{kind}DirectoryMode"))
                .unwrap_or_else(|| "0755".into());
            for line in self.unit.all("Service", &format!("{kind}Directory")) {
                for d in line.split_whitespace() {
                    let path = format!("{base}/{d}");
                    self.sysroot.run_inside(&["mkdir", "-p", &path])?;
                    self.sysroot
                        .run_inside(&["chown", "-R", &format!("{user}:{group}"), &path])?;
                    self.sysroot.run_inside(&["chmod", &mode, &path])?;
                }
            }
        }
        Ok(())
    }

    /// `ReadWritePaths=`, `ReadOnlyPaths=`: each must exist unless it is marked `-`, or
    /// systemd does not start the unit.
    fn namespace_paths(&self) -> Result<()> {
        for key in ["ReadWritePaths", "ReadOnlyPaths"] {
            for line in self.unit.all("Service", key) {
                for p in line.split_whitespace().filter(|p| !p.starts_with('-')) {
                    let p = p.trim_start_matches('+');
                    let found = self
                        .sysroot
                        .inside(None, &["test".into(), "-e".into(), p.into()])
                        .status()
                        .context("running test -e")?;
                    if !found.success() {
                        bail!("{}: {key}={p} does not exist", self.unit.name);
                    }
                }
            }
        }
        Ok(())
    }

    /// The argv that runs `cmd` with the credentials the unit's daemon gets, in the
    /// installed system (for a probe of what the unit's user may open).
    pub(crate) fn as_unit(&self, cmd: &[String]) -> Vec<String> {
        self.argv(None, cmd, None, None)
    }

    /// The argv that runs `cmd` as the unit would: clean environment, umask, user, groups
    /// and capabilities, in the sysroot and, if given, a network namespace.
    fn argv(
        &self,
        netns: Option<&str>,
        cmd: &[String],
        notify: Option<&Notify>,
        journal: Option<&str>,
    ) -> Vec<String> {
        let mut inner: Vec<String> = vec![
            "env".into(),
            "-i".into(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "LANG=C.UTF-8".into(),
        ];
        if let Some(n) = notify {
            inner.push(format!("NOTIFY_SOCKET={}", n.inside));
            inner.push("WATCHDOG_USEC=2000000".into());
        }
        if let Some(j) = journal {
            inner.push(format!("JOURNAL_STREAM={j}"));
        }
        for (k, v) in &self.env {
            inner.push(format!("{k}={v}"));
        }
        let umask = self
            .unit
            .get("Service", "UMask")
            .unwrap_or_else(|| "0022".into());
        inner.extend([
            "sh".into(),
            "-c".into(),
            format!("umask {umask} && exec \"$@\""),
            "unit-exec".into(),
        ]);
        inner.extend(self.unit.setpriv(&self.member_of));
        inner.extend(cmd.iter().cloned());
        self.sysroot.inside_argv(netns, &inner)
    }

    /// Runs every `ExecStartPre=` to completion.
    fn pre(&self, netns: &str, log: &Path) -> Result<()> {
        for cmd in self.unit.command("ExecStartPre", &self.env)? {
            let argv = self.argv(Some(netns), &cmd, None, None);
            let mut p = Proc::spawn("ExecStartPre", &argv, log)?;
            let status = p.wait()?;
            if !status.success() {
                bail!(
                    "{}: ExecStartPre {} failed ({status}):\n{}",
                    self.unit.name,
                    cmd.join(" "),
                    p.log_text()
                );
            }
        }
        Ok(())
    }

    /// Starts `ExecStart=` and waits for READY=1 and a watchdog ping.
    fn start(&self, netns: &str, work: &Path, notify: &mut Notify) -> Result<Proc> {
        let cmds = self.unit.command("ExecStart", &self.env)?;
        let [cmd] = cmds.as_slice() else {
            bail!("{}: expected one ExecStart", self.unit.name);
        };
        // Standard error goes to a file standing for the journal stream: JOURNAL_STREAM
        // names its device and inode, as systemd names the stream's.
        let log = work.join(format!("{}.log", self.unit.name));
        std::fs::write(&log, "")?;
        let journal = {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&log)?;
            format!("{}:{}", m.dev(), m.ino())
        };
        let argv = self.argv(Some(netns), cmd, Some(notify), Some(&journal));
        let mut p = Proc::spawn(&self.unit.name, &argv, &log)?;
        notify.expect("READY=1", Duration::from_secs(30), &mut p)?;
        notify.expect("WATCHDOG=1", Duration::from_secs(5), &mut p)?;
        Ok(p)
    }

    /// `ExecReload=` with `$MAINPID`, expecting RELOADING=1 then READY=1.
    fn reload(&self, main: &mut Proc, notify: &mut Notify) -> Result<()> {
        let mut env = self.env.clone();
        env.insert("MAINPID".into(), main.pid().to_string());
        for cmd in self.unit.command("ExecReload", &env)? {
            let mut c = self.sysroot.inside(None, &cmd);
            output(&mut c, &cmd.join(" "))?;
        }
        notify.expect("RELOADING=1", Duration::from_secs(10), main)?;
        notify.expect("READY=1", Duration::from_secs(10), main)?;
        Ok(())
    }
}

/// The service's lines on its journal stream carry no timestamp of their own (the journal
/// adds one), and its log lines a `<N>` priority. dhcpd's start-up report (ISC's, printed
/// before logging starts: "Wrote 0 leases to leases file.") has no priority and gets the
/// journal's default; any such line still may not start with a time. Returns the number of
/// lines with a priority.
fn journal_lines(p: &Proc) -> Result<usize> {
    let text = p.log_text();
    let mut with_priority = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let body = match line
            .strip_prefix('<')
            .and_then(|r| r.split_once('>'))
            .filter(|(prio, _)| prio.len() == 1 && prio.chars().all(|c| c.is_ascii_digit()))
        {
            Some((_, rest)) => {
                with_priority += 1;
                rest
            }
            None => line,
        };
        let starts_with_time = body.len() > 10
            && body.as_bytes().get(4) == Some(&b'-')
            && body.as_bytes().get(7) == Some(&b'-')
            && body.chars().take(4).all(|c| c.is_ascii_digit());
        if starts_with_time {
            bail!("{}: a second timestamp in the journal: {line}", p.name);
        }
    }
    if with_priority == 0 {
        bail!(
            "{} wrote no line with a <N> priority to its journal stream:\n{text}",
            p.name
        );
    }
    Ok(with_priority)
}

fn stop(mut p: Proc, notify: &mut Notify) -> Result<()> {
    p.terminate();
    let status = p.wait_timeout(Duration::from_secs(15))?;
    if !status.is_some_and(|s| s.success()) {
        bail!(
            "{} did not exit cleanly on SIGTERM ({status:?}):\n{}",
            p.name,
            p.log_text()
        );
    }
    // Drain what was sent on the way out.
    let mut buf = [0u8; 4096];
    let _ = notify
        .sock
        .set_read_timeout(Some(Duration::from_millis(100)));
    while let Ok(n) = notify.sock.recv(&mut buf) {
        notify
            .seen
            .push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    if !notify
        .seen
        .iter()
        .any(|m| m.lines().any(|l| l == "STOPPING=1"))
    {
        bail!("{}: no STOPPING=1 on SIGTERM", p.name);
    }
    Ok(())
}

/// The installed unit `name` and its drop-ins in /etc/systemd/system/<name>.d/, in the
/// order of their names (what `systemctl edit` writes; an empty `ExecStart=` there resets
/// the list, as in systemd).
fn unit(sysroot: &Sysroot, name: &str) -> Result<Unit> {
    let mut text = sysroot.read(&format!("/lib/systemd/system/{name}"))?;
    let dir = format!("/etc/systemd/system/{name}.d");
    if sysroot.run_inside(&["test", "-d", &dir]).is_ok() {
        let listing = sysroot.run_inside(&["find", &dir, "-maxdepth", "1", "-name", "*.conf"])?;
        let mut files: Vec<&str> = listing.lines().filter(|l| !l.is_empty()).collect();
        files.sort_unstable();
        for f in files {
            text.push('\n');
            text.push_str(&sysroot.read(f)?);
        }
    }
    Unit::parse(name, &text)
}

/// The groups whose member lists in `group` (the text of /etc/group) name `user`.
pub(crate) fn member_of(group: &str, user: &str) -> Vec<String> {
    group
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let members = f.nth(2)?;
            members
                .split(',')
                .any(|m| m.trim() == user)
                .then(|| name.to_string())
        })
        .collect()
}

/// The example inventory with [`OPS_MACHINE`] added at the end of its `machines:`, which
/// must be its last section.
fn add_ops_machine(sysroot: &Sysroot) -> Result<()> {
    let mut text = sysroot.read(INVENTORY)?;
    if text.contains(&format!("\n  {OPS_MACHINE}:")) {
        return Ok(());
    }
    let last_section = text
        .lines()
        .rfind(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()));
    if last_section != Some("machines:") {
        bail!("{INVENTORY}: machines: is not its last section ({last_section:?})");
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "  {OPS_MACHINE}:                 # added by cargo xtask ops: no fixed address\n\
         \x20   mac: {CLIENT_MAC}\n\
         \x20   profile: centos7-ks\n"
    ));
    sysroot.write(INVENTORY, &text)
}

/// The address dhcpd recorded as acknowledged to [`OPS_MACHINE`], read from its file.
pub(crate) fn acked_address(sysroot: &Sysroot) -> Result<String> {
    let path = format!("{STATE_DIR}/acked/{OPS_MACHINE}.json");
    let text = sysroot.read(&path)?;
    text.split("\"address\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_string)
        .with_context(|| format!("{path} names no address: {text}"))
}

/// The owner and octal mode of a file inside (`pxe-httpd 600`).
pub(crate) fn owner_and_mode(sysroot: &Sysroot, path: &str) -> Result<String> {
    Ok(sysroot
        .run_inside(&["stat", "-c", "%U:%G %a", path])?
        .trim()
        .to_string())
}

/// dhcpd.service, given the inventory and the state directory as the documentation says
/// (`DHCPDARGS` in /etc/default/dhcpd): a lease for busybox udhcpc, the lease on disk
/// written by the unit's user, the address acknowledged to the inventory machine recorded
/// in the state directory, a reload, a stop.
pub(crate) fn dhcpd(sysroot: &Sysroot, net: &Net, work: &Path) -> Result<String> {
    add_ops_machine(sysroot)?;
    sysroot.write(
        "/etc/default/dhcpd",
        &format!(
            "# written by cargo xtask ops, as docs/configuration.md says\n\
             DHCPDARGS=\"--inventory {INVENTORY} --state-dir {STATE_DIR}\"\n"
        ),
    )?;
    sysroot.write(
        "/etc/dhcp/dhcpd.conf",
        &format!(
            "# written by cargo xtask ops\n\
             authoritative;\n\
             default-lease-time 600;\n\
             subnet 10.78.0.0 netmask 255.255.255.0 {{\n\
             \x20 range 10.78.0.100 10.78.0.150;\n\
             \x20 next-server {SERVER_IP};\n\
             \x20 filename \"pxelinux.0\";\n\
             }}\n"
        ),
    )?;
    let (launch, mut p, mut notify) = Launch::up(sysroot, "dhcpd.service", net, work)?;
    let out = net.client(
        work,
        &[
            "busybox",
            "udhcpc",
            "-i",
            CLIENT_IF,
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-s",
            "/bin/true",
        ],
    )?;
    let lease = out
        .lines()
        .chain(std::iter::empty())
        .find_map(|l| l.split("lease of ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string);
    let Some(addr) = lease else {
        bail!("udhcpc got no lease:\n{out}\ndhcpd:\n{}", p.log_text());
    };
    let leases = sysroot.read("/var/lib/dhcp/dhcpd.leases")?;
    if !leases.contains(&format!("lease {addr} {{")) {
        bail!("{addr} is not in /var/lib/dhcp/dhcpd.leases:\n{leases}");
    }
    let user = launch
        .unit
        .get("Service", "User")
        .context("dhcpd.service has no User=")?;
    let owner = sysroot.run_inside(&["stat", "-c", "%U", "/var/lib/dhcp/dhcpd.leases"])?;
    if owner.trim() != user {
        bail!(
            "the lease file belongs to {}, not the unit's user {user}",
            owner.trim()
        );
    }
    let acked = acked_address(sysroot)?;
    if acked != addr {
        bail!("acked/{OPS_MACHINE}.json names {acked}, not the address {addr} udhcpc got");
    }
    let acked_file = format!("{STATE_DIR}/acked/{OPS_MACHINE}.json");
    let acked_owner = owner_and_mode(sysroot, &acked_file)?;
    launch.reload(&mut p, &mut notify)?;
    let lines = journal_lines(&p)?;
    stop(p, &mut notify)?;
    Ok(format!(
        "udhcpc got {addr}; lease written by user {user}; {acked_file} names it \
         ({acked_owner}); reload and stop notified; {lines} journal lines with priorities"
    ))
}

/// The file `name` as tftp-hpa fetches it from the server.
fn tftp_fetch(net: &Net, work: &Path, name: &str) -> Result<Vec<u8>> {
    let dir = work.join(format!("get-{}", name.replace('/', "_")));
    std::fs::create_dir_all(&dir)?;
    net.client(
        &dir,
        &["tftp", SERVER_IP, "-m", "binary", "-c", "get", name, "got"],
    )?;
    std::fs::read(dir.join("got")).context("tftp wrote no file")
}

fn tftp_get(net: &Net, work: &Path, name: &str, want: &[u8]) -> Result<()> {
    let got = tftp_fetch(net, work, name)?;
    if got != want {
        bail!(
            "{name}: {} bytes fetched, not the {} served",
            got.len(),
            want.len()
        );
    }
    Ok(())
}

fn payload() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn put_file(sysroot: &Sysroot, dir: &str, name: &str, data: &[u8]) -> Result<()> {
    let staged = sysroot.share.join("payload");
    std::fs::write(&staged, data)?;
    sysroot.run_inside(&["mkdir", "-p", dir])?;
    let to = format!("{dir}/{name}");
    sysroot.run_inside(&["cp", &format!("{SHARE_INSIDE}/payload"), &to])?;
    sysroot.run_inside(&["chmod", "0644", &to])?;
    Ok(())
}

/// tftpd-standalone.service: a 200 kB file for the tftp-hpa client.
pub(crate) fn tftpd_standalone(sysroot: &Sysroot, net: &Net, work: &Path) -> Result<String> {
    let data = payload();
    put_file(sysroot, "/srv/tftp", "standalone.bin", &data)?;
    let (launch, mut p, mut notify) = Launch::up(sysroot, "tftpd-standalone.service", net, work)?;
    tftp_get(net, work, "standalone.bin", &data)?;
    launch.reload(&mut p, &mut notify)?;
    tftp_get(net, work, "standalone.bin", &data)?;
    let lines = journal_lines(&p)?;
    stop(p, &mut notify)?;
    Ok(format!(
        "tftp-hpa fetched /srv/tftp/standalone.bin intact, before and after a reload; {lines} \
         journal lines with priorities"
    ))
}

/// tftpd-standalone.service given the inventory and the state directory by a drop-in, as
/// docs/configuration.md says, after the httpd-tree check reported [`OPS_MACHINE`]
/// installed: its per-MAC pxelinux file boots from disk (tftpd read the state httpd-tree
/// wrote), and the transfer is appended to its timeline (a file dhcpd created) by the
/// unit's user.
pub(crate) fn tftpd_inventory(sysroot: &Sysroot, net: &Net, work: &Path) -> Result<String> {
    let name = "tftpd-standalone.service";
    let dir = format!("/etc/systemd/system/{name}.d");
    let exec = unit(sysroot, name)?
        .get("Service", "ExecStart")
        .context("no ExecStart=")?;
    sysroot.write(
        &format!("{dir}/inventory.conf"),
        &format!(
            "# written by cargo xtask ops, as docs/configuration.md says\n\
             [Service]\nExecStart=\nExecStart={exec} --inventory {INVENTORY} --state-dir {STATE_DIR}\n"
        ),
    )?;
    let result = tftpd_reads_state(sysroot, net, work, name);
    sysroot.run_inside(&["rm", "-r", &dir])?;
    result
}

/// The transfers of [`tftpd_inventory`], with its drop-in in place: the machine's own menu
/// refused to 10.78.0.2, which is not the machine's (a `refused` line on its timeline), then
/// fetched from the address dhcpd acknowledged to it (read from the file dhcpd wrote).
fn tftpd_reads_state(sysroot: &Sysroot, net: &Net, work: &Path, name: &str) -> Result<String> {
    let timeline = format!("{STATE_DIR}/events/{OPS_MACHINE}.jsonl");
    let before = sysroot.read(&timeline)?.lines().count();
    let addr = acked_address(sysroot)?;
    net.client_also_at(&addr)?;
    let (launch, p, mut notify) = Launch::up(sysroot, name, net, work)?;
    let file = format!("pxelinux.cfg/01-{}", CLIENT_MAC.replace(':', "-"));
    let stranger = curl_tftp(net, work, None, &file);
    let got = curl_tftp(net, work, Some(&addr), &file);
    let lines = journal_lines(&p);
    let log = p.log_text();
    stop(p, &mut notify)?;
    if let Ok(leak) = stranger {
        bail!(
            "{file} went to 10.78.0.2, not the address {addr} dhcpd acknowledged:\n{}",
            String::from_utf8_lossy(&leak)
        );
    }
    let got = got.with_context(|| {
        format!("{file} from {addr}, the address dhcpd acknowledged; tftpd's log:\n{log}")
    })?;
    let got = String::from_utf8_lossy(&got).into_owned();
    lines?;
    if !got.contains("LOCALBOOT") || got.contains("KERNEL") {
        bail!("{file} does not boot {OPS_MACHINE} from disk, as installed:\n{got}");
    }
    let after = sysroot.read(&timeline)?;
    let added: Vec<&str> = after.lines().skip(before).collect();
    let refused = format!("refused {file} to 10.78.0.2");
    if !added.iter().any(|l| l.contains(&refused)) {
        bail!("no line \"{refused}\" was appended to {timeline}:\n{after}");
    }
    if !added
        .iter()
        .any(|l| l.contains(&file) && !l.contains("refused"))
    {
        bail!("no line about the transfer of {file} was appended to {timeline}:\n{after}");
    }
    let user = launch.unit.get("Service", "User").unwrap_or_default();
    Ok(format!(
        "{file} refused to 10.78.0.2, served to {addr} (acked/{OPS_MACHINE}.json read by \
         {user}) and boots from disk (install state read); the refusal and the transfer \
         appended to {timeline} ({})",
        owner_and_mode(sysroot, &timeline)?
    ))
}

/// `file` fetched over TFTP with curl, from `source` if given (curl binds its socket there),
/// else from the client's first address.
fn curl_tftp(net: &Net, work: &Path, source: Option<&str>, file: &str) -> Result<Vec<u8>> {
    let dir = work.join(format!(
        "curl-{}-{}",
        source.unwrap_or("default"),
        file.replace('/', "_")
    ));
    std::fs::create_dir_all(&dir)?;
    let url = format!("tftp://{SERVER_IP}/{file}");
    let mut argv = vec!["curl", "-sS", "--max-time", "10", "-o", "got"];
    if let Some(s) = source {
        argv.extend(["--interface", s]);
    }
    argv.push(&url);
    net.client(&dir, &argv)?;
    std::fs::read(dir.join("got")).context("curl wrote no file")
}

/// tftpd.socket + tftpd.service through systemd-socket-activate --datagram.
pub(crate) fn tftpd_socket(sysroot: &Sysroot, net: &Net, work: &Path) -> Result<String> {
    let data = payload();
    put_file(sysroot, "/srv/tftp", "activated.bin", &data)?;
    let socket = unit(sysroot, "tftpd.socket")?;
    let listen = socket
        .get("Socket", "ListenDatagram")
        .context("tftpd.socket has no ListenDatagram")?;
    let launch = Launch::new(sysroot, unit(sysroot, "tftpd.service")?)?;
    launch.state_dirs()?;
    launch.namespace_paths()?;
    let mut notify = Notify::new(&sysroot.share, "tftpd-socket")?;
    let cmds = launch.unit.command("ExecStart", &launch.env)?;
    let [cmd] = cmds.as_slice() else {
        bail!("tftpd.service: expected one ExecStart");
    };
    // systemd-socket-activate binds as root, then execs the service's command line (under
    // the unit's user), passing the socket as LISTEN_FDS=1 like systemd.
    let mut wrapped: Vec<String> = vec![
        "systemd-socket-activate".into(),
        "--datagram".into(),
        "-l".into(),
        listen.clone(),
    ];
    wrapped.extend(cmd.iter().cloned());
    let argv = launch.argv_root_then_unit(&net.server.name, &wrapped, &mut notify);
    let mut p = Proc::spawn("tftpd.socket", &argv, &work.join("tftpd-socket.log"))?;
    // The socket is bound before tftpd runs: a request may come at once, as through systemd.
    std::thread::sleep(Duration::from_millis(300));
    tftp_get(net, work, "activated.bin", &data)?;
    notify.expect("READY=1", Duration::from_secs(10), &mut p)?;
    stop(p, &mut notify)?;
    Ok(format!(
        "ListenDatagram={listen} passed as LISTEN_FDS; tftp-hpa fetched /srv/tftp/activated.bin"
    ))
}

impl Launch<'_> {
    /// Like [`Launch::argv`] but the first words (systemd-socket-activate and its
    /// options) run as root and the unit's setpriv wraps only the service's command.
    fn argv_root_then_unit(
        &self,
        netns: &str,
        wrapped: &[String],
        notify: &mut Notify,
    ) -> Vec<String> {
        let split = wrapped
            .iter()
            .position(|w| w.starts_with('/'))
            .unwrap_or(wrapped.len());
        let (activator, service) = wrapped.split_at(split);
        let mut cmd: Vec<String> = activator.to_vec();
        for (k, v) in [
            ("NOTIFY_SOCKET", notify.inside.clone()),
            ("WATCHDOG_USEC", "2000000".to_string()),
        ] {
            cmd.push(format!("--setenv={k}={v}"));
        }
        cmd.extend(self.unit.setpriv(&self.member_of));
        cmd.extend(service.iter().cloned());
        self.sysroot.inside_argv(Some(netns), &cmd)
    }
}

/// httpd-tree.service with the example inventory and the machine the dhcpd check left
/// acknowledged: the token key created by the unit's user, mode 0600; the machine's
/// kickstart refused to another address and served to the one dhcpd acknowledged (read
/// from the file dhcpd wrote); the callback accepted with the token the kickstart carries
/// (so the key was read), the install state written; the metrics.
pub(crate) fn httpd_tree(sysroot: &Sysroot, net: &Net, work: &Path) -> Result<String> {
    let (launch, mut p, mut notify) = Launch::up(sysroot, "httpd-tree.service", net, work)?;
    let result = httpd_tree_serves(sysroot, net, work, &launch.unit);
    if result.is_err() {
        p.stop();
    }
    let detail = result?;
    launch.reload(&mut p, &mut notify)?;
    let lines = journal_lines(&p)?;
    stop(p, &mut notify)?;
    Ok(format!(
        "{detail}; reload notified; {lines} journal lines with priorities"
    ))
}

/// The requests of [`httpd_tree`], with the server up.
fn httpd_tree_serves(sysroot: &Sysroot, net: &Net, work: &Path, unit: &Unit) -> Result<String> {
    let user = unit
        .get("Service", "User")
        .context("httpd-tree.service has no User=")?;
    let key = format!("{STATE_DIR}/secret");
    let key_owner = owner_and_mode(sysroot, &key)?;
    if !key_owner.starts_with(&format!("{user}:")) || !key_owner.ends_with(" 600") {
        bail!("{key} is {key_owner}: not the unit's user {user}'s alone (600)");
    }
    let ks_url = format!("http://{SERVER_IP}/ks/{CLIENT_MAC}");
    let stranger = net.client(
        work,
        &[
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &ks_url,
        ],
    )?;
    if stranger.trim() != "403" {
        bail!("the kickstart of {OPS_MACHINE} went to 10.78.0.2 with {stranger}, not 403");
    }
    let addr = acked_address(sysroot)?;
    net.client_also_at(&addr)?;
    let ks = net.client(work, &["curl", "-sS", "-f", "--interface", &addr, &ks_url])?;
    if !ks.contains("url --url=") {
        bail!("the kickstart of {OPS_MACHINE} is not one:\n{ks}");
    }
    let token = ks
        .split("Authorization: Bearer ")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .filter(|t| !t.is_empty())
        .with_context(|| format!("no callback token in the kickstart:\n{ks}"))?;
    let installed = format!("http://{SERVER_IP}/api/v1/machines/{CLIENT_MAC}/installed");
    let bearer = format!("Authorization: Bearer {token}");
    net.client(
        work,
        &[
            "curl",
            "-sS",
            "-f",
            "-X",
            "POST",
            "-H",
            &bearer,
            "--interface",
            &addr,
            &installed,
        ],
    )?;
    let state = sysroot.read(&format!("{STATE_DIR}/machines/{OPS_MACHINE}.json"))?;
    if !state.contains("\"state\": \"installed\"") {
        bail!("the callback left {OPS_MACHINE} not installed:\n{state}");
    }
    let metrics = net.client(
        work,
        &["curl", "-sS", "-f", &format!("http://{SERVER_IP}/metrics")],
    )?;
    if metrics.trim().is_empty() {
        bail!("/metrics is empty");
    }
    Ok(format!(
        "{key} made by {key_owner}; {OPS_MACHINE}'s kickstart refused to 10.78.0.2, served to \
         {addr} (acked by dhcpd); its callback token accepted, state installed; /metrics"
    ))
}

/// The xinetd stanza under the real xinetd, from Debian's package unpacked into the
/// sysroot (never installed on the machine: its postinst would start a daemon).
pub(crate) fn xinetd(sysroot: &Sysroot, net: &Net, work: &Path) -> Result<String> {
    let deb = xinetd_deb(work)?;
    output(
        sysroot
            .outside("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(sysroot.root()),
        "dpkg-deb -x xinetd",
    )?;
    let stanza = sysroot.read("/etc/xinetd.d/tftp")?;
    let dir = stanza
        .lines()
        .find_map(|l| l.trim().strip_prefix("server_args"))
        .and_then(|r| r.split_whitespace().last())
        .context("the stanza has no server_args")?
        .to_string();
    let data = payload();
    put_file(sysroot, &dir, "xinetd.bin", &data)?;
    let xinetd: Vec<String> = [
        "/usr/sbin/xinetd",
        "-dontfork",
        "-stayalive",
        "-pidfile",
        "/run/xinetd.pid",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let argv = sysroot.inside_argv(Some(&net.server.name), &xinetd);
    let mut p = Proc::spawn("xinetd", &argv, &work.join("xinetd.log"))?;
    // xinetd has bound its services once it wrote its PID file.
    let start = Instant::now();
    while sysroot.read("/run/xinetd.pid").is_err() {
        if start.elapsed() > Duration::from_secs(10) || !p.alive() {
            bail!("xinetd did not start:\n{}", p.log_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = tftp_get(net, work, "xinetd.bin", &data);
    // The tftpd xinetd started waits for more requests (-t defaults to 900 s): stop it by
    // its PID, found as xinetd's child.
    for child in children(p.pid()) {
        let _ = Command::new("kill").arg(child.to_string()).status();
    }
    p.stop();
    result?;
    Ok(format!(
        "xinetd ran /etc/xinetd.d/tftp; tftp-hpa fetched {dir}/xinetd.bin"
    ))
}

/// Debian's xinetd package file, downloaded once into the target directory.
fn xinetd_deb(work: &Path) -> Result<PathBuf> {
    let dir = work.join("debs");
    std::fs::create_dir_all(&dir)?;
    let found = |d: &Path| -> Option<PathBuf> {
        std::fs::read_dir(d)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("xinetd_"))
            })
    };
    if let Some(p) = found(&dir) {
        return Ok(p);
    }
    let download = || {
        output(
            Command::new("apt-get")
                .args(["download", "-q", "xinetd"])
                .current_dir(&dir),
            "apt-get download xinetd",
        )
    };
    if download().is_err() {
        // A machine whose package lists were cleaned (container images) knows no xinetd yet.
        output(
            Command::new("apt-get").args(["update", "-qq"]),
            "apt-get update",
        )?;
        download()?;
    }
    found(&dir).context("apt-get download left no xinetd_*.deb")
}

/// PIDs whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
                    let rest = s.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}
