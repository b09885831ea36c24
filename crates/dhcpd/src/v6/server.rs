//! The DHCPv6 socket shell: one UDP socket per interface on port 547 (bound to the device,
//! joined to ff02::1:2), the configuration and `dhcpd6.leases` read at start, each binding
//! appended to the lease file (and synced) before the reply goes out.

use std::io::Write as _;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use pxe_daemon::logging::{self, Route, Setup, TextStyle};
use socket2::{Domain, Protocol, Socket, Type};

use super::args::{self, Args6};
use super::boot::Plans;
use super::conf::{self, Config6};
use super::decide::decide;
use super::duid;
use super::leases::{self, Table};
use super::wire::{Message, kind};

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// `dhcpd -6 …`: exit 0 after `-t` or a stop, 1 for a configuration or lease-file problem,
/// 2 for a runtime failure.
pub fn main_with_args(args: &[String]) -> ExitCode {
    let a = match args::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{}", crate::cli::USAGE);
            return ExitCode::from(1);
        }
    };
    let config = match read_conf(&a.conf) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}\nConfiguration file errors encountered -- exiting");
            return ExitCode::from(1);
        }
    };
    let plans = match &a.inventory {
        Some(inv) => match Plans::open(inv, a.state_dir.as_deref()) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("{e:#}\nConfiguration file errors encountered -- exiting");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    if a.test {
        return ExitCode::SUCCESS;
    }
    let table = match read_leases(&a.leases) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match serve(&a, config, table, plans) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logging::report_fatal("dhcpd", &format!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

fn read_conf(path: &str) -> Result<Config6, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Can't open {path}: {}", crate::conf::io_error_text(&e)))?;
    conf::parse(&text).map_err(|e| format!("{path} {e}"))
}

fn read_leases(path: &str) -> Result<Table, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => leases::parse(&text).map_err(|e| format!("{path}: {e}")),
        // ISC insists on the file; a missing one is refused the same way.
        Err(e) => Err(format!(
            "Can't open lease database {path}: {} -- check for failed database rewrite attempt!",
            crate::conf::io_error_text(&e)
        )),
    }
}

struct Shared {
    /// The inventory's boot plans (`--inventory`), shared with the watch that reloads them.
    plans: Arc<Mutex<Option<Plans>>>,
    config: Config6,
    table: Table,
    server_duid: Vec<u8>,
    file: std::fs::File,
}

fn serve(a: &Args6, config: Config6, mut table: Table, plans: Option<Plans>) -> anyhow::Result<()> {
    if !a.quiet {
        eprint!("{}", crate::check::banner());
    }
    logging::init(&Setup {
        ident: "dhcpd",
        default_filter: "info",
        text: TextStyle::Bare,
        route: Route::Syslog {
            also_stderr: a.debug,
        },
        syslog_socket: Path::new("/dev/log"),
        facility: logging::syslog::FACILITY_DAEMON,
    });
    if a.interfaces.is_empty() {
        anyhow::bail!("dhcpd -6 needs the interfaces to listen on on its command line");
    }
    let now = now_secs();
    let server_duid = match table.server_duid.clone() {
        Some(d) => d,
        None => duid::llt(mac_of(&a.interfaces[0])?, now),
    };
    table.server_duid = Some(server_duid.clone());
    let file = rewrite_leases(Path::new(&a.leases), &table, &server_duid)?;
    tracing::info!(
        "Server DUID {} ({} bindings read from {})",
        hex(&server_duid),
        table.ias.len(),
        a.leases
    );
    let mut sockets = Vec::new();
    for ifname in &a.interfaces {
        sockets.push((ifname.clone(), bind(ifname, a.port)?));
        tracing::info!(
            "Listening on Socket/{ifname} port {} ([{ALL_SERVERS}])",
            a.port
        );
    }
    if !a.foreground {
        crate::daemon::detach().context("detaching")?;
    }
    let pid_file = (!a.no_pid).then(|| PathBuf::from(&a.pid_file));
    if let Some(p) = &pid_file {
        crate::daemon::write_pid(p).with_context(|| format!("writing {}", p.display()))?;
    }
    let plans = Arc::new(Mutex::new(plans));
    let _watch = a
        .inventory
        .as_deref()
        .and_then(|inv| Plans::watch(&plans, inv));
    tracing::info!("Server starting service.");
    let shared = Arc::new(Mutex::new(Shared {
        plans,
        config,
        table,
        server_duid,
        file,
    }));
    let client_port = a.port - 1;
    let threads: Vec<_> = sockets
        .into_iter()
        .map(|(ifname, sock)| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || receive_loop(&ifname, &sock, &shared, client_port))
        })
        .collect();
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            return Err(e);
        }
    }
    Ok(())
}

/// The interface's MAC address, for the server DUID.
fn mac_of(ifname: &str) -> anyhow::Result<[u8; 6]> {
    let p = format!("/sys/class/net/{ifname}/address");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {p}"))?;
    let bytes: Vec<u8> = text
        .trim()
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{p}: not a MAC address"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{p}: not a 6-byte MAC address"))
}

/// Writes the table to `path.new`, renames it over `path` (the old one kept as `path~`),
/// and returns the file opened for appending.
fn rewrite_leases(path: &Path, table: &Table, duid: &[u8]) -> anyhow::Result<std::fs::File> {
    let mut text = String::from(
        "# The format of this file is documented in the dhcpd.leases(5) manual page.\n# This lease file was written by pxe-suite dhcpd -6\n\n",
    );
    text.push_str(&leases::server_duid_line(duid));
    for (k, b) in &table.ias {
        text.push_str(&leases::record(k, b));
    }
    let new = path.with_extension("leases.new");
    std::fs::write(&new, text).with_context(|| format!("writing {}", new.display()))?;
    let backup = PathBuf::from(format!("{}~", path.display()));
    let _ = std::fs::remove_file(&backup);
    let _ = std::fs::hard_link(path, &backup);
    std::fs::rename(&new, path).with_context(|| format!("renaming to {}", path.display()))?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

fn bind(ifname: &str, port: u16) -> anyhow::Result<UdpSocket> {
    let index =
        nix::net::if_::if_nametoindex(ifname).with_context(|| format!("no interface {ifname}"))?;
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .context("creating the UDP socket")?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(ifname.as_bytes()))
        .with_context(|| format!("binding to device {ifname}"))?;
    let sa = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    s.bind(&sa.into())
        .with_context(|| format!("binding udp {sa} on {ifname}"))?;
    s.join_multicast_v6(&ALL_SERVERS, index)
        .with_context(|| format!("joining {ALL_SERVERS} on {ifname}"))?;
    s.set_multicast_if_v6(index)?;
    pxe_daemon::crowd_socket::grow_and_log(&s, &format!("udp {sa} on {ifname}"));
    Ok(s.into())
}

/// The IPv6 addresses of `ifname` now (they may come after start: DAD, SLAAC).
fn link_addresses(ifname: &str) -> Vec<Ipv6Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| a.interface_name == ifname)
        .filter_map(|a| a.address?.as_sockaddr_in6().map(|s| s.ip()))
        .collect()
}

fn name(k: u8) -> &'static str {
    match k {
        kind::SOLICIT => "Solicit",
        kind::REQUEST => "Request",
        kind::CONFIRM => "Confirm",
        kind::RENEW => "Renew",
        kind::REBIND => "Rebind",
        kind::RELEASE => "Release",
        kind::DECLINE => "Decline",
        kind::INFORMATION_REQUEST => "Information-request",
        _ => "message",
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn receive_loop(
    ifname: &str,
    sock: &UdpSocket,
    shared: &Mutex<Shared>,
    client_port: u16,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("receiving"),
        };
        let SocketAddr::V6(from) = from else { continue };
        let msg = match Message::parse(&buf[..n]) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!("Dropped {n} bytes from {} on {ifname}: {e}", from.ip());
                continue;
            }
        };
        let link = link_addresses(ifname);
        let now = now_secs();
        let Ok(mut s) = shared.lock() else {
            anyhow::bail!("state lock poisoned");
        };
        let mut d = decide(&s.config, &s.server_duid, &s.table, &msg, &link, now);
        let planned = plan_reply(&s.plans, &msg, *from.ip(), &mut d);
        if let Some(got) = &planned {
            d.note = format!("{}; {got}", d.note);
        }
        let client = msg
            .get(super::wire::code::CLIENT_ID)
            .map(hex)
            .unwrap_or_default();
        if !d.changes.is_empty() {
            let mut text = String::new();
            for (k, b) in &d.changes {
                text.push_str(&leases::record(k, b));
            }
            s.file
                .write_all(text.as_bytes())
                .and_then(|()| s.file.sync_data())
                .context("writing the lease file")?;
            for (k, b) in d.changes {
                s.table.ias.insert(k, b);
            }
        }
        drop(s);
        let Some(reply) = d.reply else {
            tracing::info!(
                "{} from {} on {ifname} (duid {client}): dropped, {}",
                name(msg.kind),
                from.ip(),
                d.note
            );
            continue;
        };
        let to = SocketAddrV6::new(*from.ip(), client_port, 0, from.scope_id());
        // Replies go to the client's port (546), whatever port it sent from (RFC 8415 §18.3).
        match sock.send_to(&reply.encode(), to) {
            Ok(_) => tracing::info!(
                "{} from {} on {ifname} (duid {client}): {}",
                name(msg.kind),
                from.ip(),
                d.note
            ),
            Err(e) => tracing::warn!("sending to {to}: {e}"),
        }
    }
}

/// With an inventory: the client's boot plan put into the reply, and for a binding Reply
/// the address recorded for the machine. What the machine got, for the log.
fn plan_reply(
    plans: &Mutex<Option<Plans>>,
    msg: &Message,
    source: Ipv6Addr,
    d: &mut super::decide::Decision,
) -> Option<String> {
    let guard = plans.lock().ok()?;
    let plans = guard.as_ref()?;
    let client = plans.client(msg, source)?;
    let reply = d.reply.as_mut()?;
    let got = plans.apply(&client, msg, reply);
    plans.record_bound(&client, reply, &d.changes, got.as_deref());
    got
}

fn now_secs() -> crate::lease::Time {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            crate::lease::Time::try_from(d.as_secs()).unwrap_or(0)
        })
}
