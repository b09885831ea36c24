//! The I/O shell: a tokio task receives requests on the service socket; each transfer runs on
//! its own thread of tokio's blocking pool with its own socket (a new transfer ID), where
//! [`crate::drive`] feeds the pure state machines of [`crate::transfer`] and
//! [`crate::receive`] with datagrams and timeouts. Nothing here decides protocol behaviour.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::affinity::{Claims, Follower};
use crate::crowd::{EVENTED_READ_AHEAD, Loops};
use crate::drive::{MAX_DATAGRAM, drive};
use crate::files::FileCache;
use crate::generated::{Found, Generator, Lookup, Served};
use crate::guard::{Bounds, Guard};
use crate::options::{self, Direction, Limits};
use crate::packet::{self, ErrorCode, Mode, Packet, Request};
use crate::receive::WriteTransfer;
use crate::remap_file::RemapFile;
use crate::resolve::{Access, Denied, Policy, Roots};
use crate::source::{BlockReader, DataSource, MemorySource};
use crate::strangers;
use crate::transfer::{Failure, Finish, Params, ReadTransfer};
use crate::upload::Upload;

/// The ERROR message to a request beyond `--max-transfers` or `--max-per-client`.
pub const SERVER_BUSY: &str = "Server busy, try again";
/// `--max-per-client` when not given.
pub const DEFAULT_MAX_PER_CLIENT: usize = 8;
/// Permissions of an uploaded file before the umask, as tftpd-hpa creates them.
pub const UPLOAD_MODE: u32 = 0o666;

/// Counters over the life of the server.
#[derive(Debug, Default)]
pub struct Stats {
    /// Transfers started.
    pub transfers: AtomicU64,
    /// Payload bytes moved.
    pub bytes: AtomicU64,
    /// Packets retransmitted after a timeout.
    pub retransmits: AtomicU64,
    /// Requests refused and transfers that failed.
    pub errors: AtomicU64,
}

/// What the server needs, built once at startup.
pub struct Settings {
    /// Root directories.
    pub roots: Roots,
    /// `-p`, `-c`.
    pub policy: Policy,
    /// `-m`.
    pub remap: Option<Arc<RemapFile>>,
    /// Option limits (`-B`, `-r`, `-T`).
    pub limits: Limits,
    /// Timeouts in a row before a transfer is abandoned.
    pub max_retries: u32,
    /// `-R`.
    pub port_range: Option<(u16, u16)>,
    /// `--max-transfers`.
    pub max_transfers: usize,
    /// `--transfer-threads`: up to this many transfers at once run on a thread each; the
    /// ones beyond run on the event loops (`crowd.rs`). Uploads always get a thread.
    pub transfer_threads: usize,
    /// `--max-per-client`: transfers at once from one client address.
    pub max_per_client: usize,
    /// `--min-rate`, `--max-duration`.
    pub bounds: Bounds,
    /// `--busy-poll`: how long a lone transfer polls for its client's answer before sleeping.
    pub busy_poll: Duration,
    /// Generated files (boot menus, distro trees from `--inventory`).
    pub generator: Option<Arc<dyn Generator>>,
}

/// A running server's shared state.
pub struct Server {
    settings: Settings,
    files: FileCache,
    active: AtomicUsize,
    /// Transfers running per client address (IPv4-mapped addresses as IPv4).
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Most transfers running at once for which a transfer thread follows its client's CPU.
    pin_transfers: usize,
    /// CPUs holding a pinned transfer thread.
    claims: Claims,
    /// The event loops, started with the first transfer beyond `transfer_threads` (`None`
    /// when they could not be started: then every transfer gets a thread).
    loops: OnceLock<Option<Loops>>,
    /// Counters.
    pub stats: Stats,
}

/// How long the service loop keeps going.
#[derive(Debug, Clone, Copy)]
pub enum Lifetime {
    /// Until the shutdown future completes (standalone).
    UntilShutdown,
    /// Until this long passes with no request, then until running transfers end (inetd).
    Idle(Duration),
}

impl Server {
    /// A server with these settings.
    pub fn new(settings: Settings) -> Arc<Server> {
        Arc::new(Server {
            settings,
            files: FileCache::default(),
            active: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            pin_transfers: pin_transfers(),
            claims: Claims::new(),
            loops: OnceLock::new(),
            stats: Stats::default(),
        })
    }

    /// Serves requests arriving on `socket`.
    pub async fn serve(
        self: &Arc<Self>,
        socket: UdpSocket,
        lifetime: Lifetime,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> io::Result<()> {
        let local = socket.local_addr()?;
        crate::pktinfo::enable(&socket);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        let idle = match lifetime {
            Lifetime::Idle(d) => Some(d),
            Lifetime::UntilShutdown => None,
        };
        let mut idle_deadline = idle.map(|d| tokio::time::Instant::now() + d);
        loop {
            tokio::select! {
                r = crate::pktinfo::recv_from_to(&socket, &mut buf) => {
                    let (n, peer, dst) = r?;
                    let reply_ip = crate::pktinfo::reply_ip(dst, local.ip());
                    if let Some(d) = idle {
                        idle_deadline = Some(tokio::time::Instant::now() + d);
                    }
                    self.on_request(buf.get(..n).unwrap_or_default(), peer, reply_ip, &socket, &mut tasks).await;
                }
                () = sleep_until_opt(idle_deadline) => {
                    tracing::info!(active = self.active.load(Ordering::Relaxed), "idle timeout, exiting after running transfers");
                    while tasks.join_next().await.is_some() {}
                    return Ok(());
                }
                () = &mut shutdown => {
                    tracing::info!("shutting down");
                    tasks.abort_all();
                    return Ok(());
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
    }

    async fn on_request(
        self: &Arc<Self>,
        bytes: &[u8],
        peer: SocketAddr,
        reply_ip: IpAddr,
        socket: &UdpSocket,
        tasks: &mut JoinSet<()>,
    ) {
        if let Err(e) = options::check_request(bytes.len(), 0) {
            self.refuse_oversized(peer, &e, socket).await;
            return;
        }
        let (req, access) = match packet::parse(bytes) {
            Ok(Packet::Rrq(r)) => (r, Access::Read),
            Ok(Packet::Wrq(r)) => (r, Access::Write),
            Ok(Packet::Data { .. } | Packet::Ack(_) | Packet::Error { .. } | Packet::Oack(_)) => {
                tracing::debug!(client = %display_addr(peer), "ignored non-request on the service port");
                return;
            }
            Err(e) => {
                tracing::debug!(client = %display_addr(peer), error = %e, "malformed request");
                let _ = socket
                    .send_to(
                        &packet::encode_error(ErrorCode::IllegalOperation, &e.to_string()),
                        peer,
                    )
                    .await;
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if let Err(e) = options::check_request(bytes.len(), req.options.len()) {
            self.refuse_oversized(peer, &e, socket).await;
            return;
        }
        let active = self.active.load(Ordering::Relaxed);
        if active >= self.settings.max_transfers {
            tracing::warn!(
                client = %display_addr(peer),
                file = %req.filename,
                limit = self.settings.max_transfers,
                "transfer limit reached, request refused"
            );
            let _ = socket
                .send_to(
                    &packet::encode_error(ErrorCode::Undefined, SERVER_BUSY),
                    peer,
                )
                .await;
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ip = peer.ip().to_canonical();
        if !self.claim_client(ip) {
            tracing::warn!(
                client = %display_addr(peer),
                file = %req.filename,
                limit = self.settings.max_per_client,
                "per-client transfer limit reached, request refused"
            );
            let _ = socket
                .send_to(
                    &packet::encode_error(ErrorCode::Undefined, SERVER_BUSY),
                    peer,
                )
                .await;
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let before = self.active.fetch_add(1, Ordering::Relaxed);
        let slot = ActiveSlot(Arc::clone(self), ip);
        self.stats.transfers.fetch_add(1, Ordering::Relaxed);
        let server = Arc::clone(self);
        // The few run on a thread each, the fastest way to move one transfer (`drive.rs`);
        // the many on the event loops (`crowd.rs`).
        if access == Access::Read
            && before >= self.settings.transfer_threads
            && let Some(lp) = self.loops()
        {
            if let Some(rest) = server.start_on_loop(req, peer, reply_ip, slot) {
                tasks.spawn_on(rest, lp.pick());
            }
        } else {
            tasks.spawn_blocking(move || server.transfer(req, access, peer, reply_ip, slot));
        }
    }

    /// The event loops, one per CPU, started on first use.
    fn loops(&self) -> Option<&Loops> {
        self.loops
            .get_or_init(|| {
                let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
                Loops::start(cpus)
                    .map_err(|e| {
                        tracing::error!(error = %e, "cannot start the event loops: every transfer gets a thread");
                    })
                    .ok()
            })
            .as_ref()
    }

    /// Refuses a request too large to be one a client needs (ERROR 4 and a log line).
    async fn refuse_oversized(&self, peer: SocketAddr, e: &options::Oversized, socket: &UdpSocket) {
        tracing::warn!(client = %display_addr(peer), reason = %e, "oversized request refused");
        let message = match e {
            options::Oversized::Bytes(_) => "Request too large",
            options::Oversized::Options(_) => "Too many options",
        };
        let _ = socket
            .send_to(
                &packet::encode_error(ErrorCode::IllegalOperation, message),
                peer,
            )
            .await;
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one more transfer for `ip`, unless it has `--max-per-client` running.
    fn claim_client(&self, ip: IpAddr) -> bool {
        let Ok(mut map) = self.per_client.lock() else {
            return true;
        };
        let n = map.entry(ip).or_insert(0);
        if *n >= self.settings.max_per_client {
            return false;
        }
        *n += 1;
        true
    }

    fn release_client(&self, ip: IpAddr) {
        if let Ok(mut map) = self.per_client.lock()
            && let Some(n) = map.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }

    /// One transfer, from the request to the log line (blocking: runs on its own thread).
    fn transfer(
        &self,
        req: Request,
        access: Access,
        peer: SocketAddr,
        reply_ip: IpAddr,
        slot: ActiveSlot,
    ) {
        let started = Instant::now();
        let Some(sock) = self.transfer_socket(peer, reply_ip) else {
            return;
        };
        let found = self.lookup(&req.filename, access, peer.ip());
        let mut exchange = self.exchange(started, peer, access, &req, &found);
        let served_as = found.as_ref().ok().map(|f| f.name().to_owned());
        let finish = match found.and_then(|f| self.open(f, access)) {
            Err(denied) => refuse(&sock, peer, &denied),
            Ok(opened) => {
                let (agreed, finish) = self.run(&sock, peer, &req, opened);
                exchange.agreed = Some(agreed);
                finish
            }
        };
        self.conclude(&exchange, served_as, &finish, slot);
    }

    /// A read transfer for the event loops (`crowd.rs`). Everything up to its first
    /// datagram is done here, on the thread that reads requests, so that a request is
    /// answered at once however busy the loops are: a late answer makes the client send
    /// its request again, and every copy would start a transfer of its own. The rest, to
    /// the log line, is the future returned, to be run on a loop; `None` when the transfer
    /// is already over (refused, or no socket).
    fn start_on_loop(
        self: &Arc<Self>,
        req: Request,
        peer: SocketAddr,
        reply_ip: IpAddr,
        slot: ActiveSlot,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let started = Instant::now();
        let sock = self.transfer_socket(peer, reply_ip)?;
        let found = self.lookup(&req.filename, Access::Read, peer.ip());
        let mut exchange = self.exchange(started, peer, Access::Read, &req, &found);
        let served_as = found.as_ref().ok().map(|f| f.name().to_owned());
        let src = match found.and_then(|f| self.open_read(f)) {
            Ok(Opened::Read(src)) => src,
            Ok(Opened::Write(_)) => {
                let finish = refuse(&sock, peer, &Denied::NotFound);
                self.conclude(&exchange, served_as, &finish, slot);
                return None;
            }
            Err(denied) => {
                let finish = refuse(&sock, peer, &denied);
                self.conclude(&exchange, served_as, &finish, slot);
                return None;
            }
        };
        let direction = Direction::Read {
            file_size: Some(src.size()),
        };
        let (agreed, params) = self.negotiate(&req, direction);
        exchange.agreed = Some(agreed);
        let now = Instant::now();
        let mut guard = Guard::new(self.settings.bounds, now);
        let window = usize::from(params.blksize) * usize::from(params.windowsize);
        let reader = BlockReader::new(src, req.mode, params.blksize)
            .with_read_ahead(window.max(EVENTED_READ_AHEAD));
        let (mut t, first) = ReadTransfer::start(peer, reader, params, now);
        let rest = crate::crowd::send_first(&sock, peer, guard.first(first));
        let (machine, agreed) = (exchange.machine.take(), exchange.agreed.take());
        let server = Arc::clone(self);
        Some(async move {
            let finish =
                crate::crowd::drive(sock, peer, rest, |ev, now| guard.step(&mut t, ev, now)).await;
            let exchange = Exchange {
                started,
                client: display_addr(peer),
                access: Access::Read,
                req: &req,
                machine,
                agreed,
            };
            server.conclude(&exchange, served_as, &finish, slot);
        })
    }

    /// A socket for one transfer (a new transfer ID), or `None` after logging why not.
    fn transfer_socket(&self, peer: SocketAddr, reply_ip: IpAddr) -> Option<std::net::UdpSocket> {
        match self.bind_transfer_socket(reply_ip) {
            Ok(s) => Some(s),
            Err(e) => {
                let client = display_addr(peer);
                tracing::error!(%client, error = %e, "cannot bind a transfer socket");
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The transfer as its log line will tell it, before any option is agreed.
    fn exchange<'r>(
        &self,
        started: Instant,
        peer: SocketAddr,
        access: Access,
        req: &'r Request,
        found: &Result<Found, Denied>,
    ) -> Exchange<'r> {
        Exchange {
            started,
            client: display_addr(peer),
            access,
            req,
            machine: self.machine(found, peer.ip()),
            agreed: None,
        }
    }

    /// The end of a transfer: its slot freed, the boot timeline told, the log line written.
    fn conclude(
        &self,
        exchange: &Exchange<'_>,
        served_as: Option<String>,
        finish: &Finish,
        slot: ActiveSlot,
    ) {
        // Free the slot before logging, so whoever reads the log sees the slot free.
        drop(slot);
        if exchange.access == Access::Read
            && finish.result.is_ok()
            && let Some(name) = served_as
        {
            let peer = exchange.client;
            self.served(peer, &name, exchange.machine.as_deref(), finish.bytes);
        }
        self.report(exchange, finish);
    }

    /// Tells the generator (the boot timeline) of a finished read.
    fn served(&self, peer: SocketAddr, name: &str, machine: Option<&str>, bytes: u64) {
        if let Some(generator) = self.settings.generator.as_deref() {
            let served = Served {
                client: peer.ip().to_canonical(),
                name,
                machine,
                bytes,
            };
            generator.served(&served, unix_ms());
        }
    }

    /// Where a request's bytes come from (read) or go to (write).
    fn lookup(&self, name: &str, access: Access, client: IpAddr) -> Result<Found, Denied> {
        let rules = self.settings.remap.as_ref().map(|f| f.current());
        let lookup = Lookup {
            roots: &self.settings.roots,
            policy: self.settings.policy,
            remap: rules.as_deref(),
            generator: self.settings.generator.as_deref(),
        };
        lookup.find(name, access, client)
    }

    /// The inventory machine of a transfer: the one a generated file was made (or refused)
    /// for, or the one the client is.
    fn machine(&self, found: &Result<Found, Denied>, client: IpAddr) -> Option<String> {
        let generator = self.settings.generator.as_deref()?;
        let made_for = match found {
            Ok(f) => f.machine(),
            Err(Denied::NotTheMachine { machine }) => Some(machine.as_str()),
            Err(_) => None,
        };
        match made_for {
            Some(m) => Some(m.to_owned()),
            None => generator.machine_at(client.to_canonical()),
        }
    }

    fn open(&self, found: Found, access: Access) -> Result<Opened, Denied> {
        match (found, access) {
            (found, Access::Read) => self.open_read(found),
            (Found::File(r), Access::Write) => self.open_write(&r),
            (Found::Generated { .. } | Found::Outside { .. }, Access::Write) => {
                Err(Denied::NotFound)
            }
        }
    }

    /// Negotiates the request's options against the file it opened, then runs the
    /// transfer's state machine over its socket until it is over.
    fn run(
        &self,
        sock: &std::net::UdpSocket,
        peer: SocketAddr,
        req: &Request,
        opened: Opened,
    ) -> (Agreed, Finish) {
        let direction = match &opened {
            Opened::Read(src) => Direction::Read {
                file_size: Some(src.size()),
            },
            Opened::Write(_) => Direction::Write,
        };
        let (agreed, params) = self.negotiate(req, direction);
        (
            agreed,
            self.drive_transfer(sock, peer, req.mode, opened, params),
        )
    }

    /// The options of `req` against the file, and the state machine's parameters.
    fn negotiate(&self, req: &Request, direction: Direction) -> (Agreed, Params) {
        let n = options::negotiate(&req.options, req.mode, direction, &self.settings.limits);
        let agreed = Agreed {
            blksize: n.blksize,
            windowsize: n.windowsize,
            timeout: n.timeout,
            tsize: n.tsize,
        };
        let params = Params {
            blksize: n.blksize,
            windowsize: n.windowsize,
            timeout: n.timeout,
            max_retries: options::retries_for(
                n.timeout,
                self.settings.max_retries,
                self.settings.limits.max_stall,
            ),
            oack: n.oack,
        };
        (agreed, params)
    }

    /// Feeds the transfer's state machine with what arrives on its socket until it is over.
    fn drive_transfer(
        &self,
        sock: &std::net::UdpSocket,
        peer: SocketAddr,
        mode: Mode,
        opened: Opened,
        params: Params,
    ) -> Finish {
        // While few transfers run, a connected socket lets the thread follow the client's CPU
        // (`affinity.rs`). Not in a crowd: the twin socket that answers strangers costs a
        // descriptor, and a boot storm is not pinned anyway.
        let may_pin = || self.active.load(Ordering::Relaxed) <= self.pin_transfers;
        let _strangers = if may_pin() {
            tokio::runtime::Handle::try_current()
                .ok()
                .and_then(|rt| strangers::connect(sock, peer, &rt))
        } else {
            None
        };
        let follow = Follower::new(self.claims.clone(), self.settings.busy_poll);
        let now = Instant::now();
        let mut guard = Guard::new(self.settings.bounds, now);
        match opened {
            Opened::Read(src) => {
                let reader = BlockReader::new(src, mode, params.blksize);
                let (mut t, first) = ReadTransfer::start(peer, reader, params, now);
                let first = guard.first(first);
                drive(sock, peer, first, follow, may_pin, |ev, now| {
                    guard.step(&mut t, ev, now)
                })
            }
            Opened::Write(sink) => {
                let (mut t, first) = WriteTransfer::start(peer, sink, mode, params, now);
                let first = guard.first(first);
                drive(sock, peer, first, follow, may_pin, |ev, now| {
                    guard.step(&mut t, ev, now)
                })
            }
        }
    }

    /// The counters, and the transfer's log line: one event with the request, the options
    /// agreed, the machine and the outcome, so that logs can be filtered by any of them.
    fn report(&self, x: &Exchange<'_>, finish: &Finish) {
        self.stats.bytes.fetch_add(finish.bytes, Ordering::Relaxed);
        self.stats
            .retransmits
            .fetch_add(finish.retransmits, Ordering::Relaxed);
        let (result, error_code) = match &finish.result {
            Ok(()) => ("ok".to_owned(), None),
            Err(f) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                (f.to_string(), f.code())
            }
        };
        let agreed = x.agreed.as_ref();
        // A file loaders ask for and boot on without: said so, beside the miss.
        let probe = (error_code == Some(1))
            .then(|| pxe_model::loader_probes::known(&x.req.filename))
            .flatten();
        tracing::info!(
            client = %x.client,
            op = x.access.op(),
            file = %x.req.filename,
            mode = %x.req.mode,
            machine = x.machine.as_deref(),
            bytes = finish.bytes,
            blksize = agreed.map(|a| a.blksize),
            windowsize = agreed.map(|a| a.windowsize),
            tsize = agreed.and_then(|a| a.tsize),
            timeout = agreed.map(|a| a.timeout.as_secs()),
            retransmits = finish.retransmits,
            duration_ms = u64::try_from(x.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            %result,
            error_code,
            probe,
            "transfer"
        );
    }

    fn open_read(&self, found: Found) -> Result<Opened, Denied> {
        match found {
            Found::File(r) | Found::Outside { file: r, .. } => {
                let src = self.files.open(&r).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => Denied::NotFound,
                    _ => Denied::Access("Permission denied"),
                })?;
                Ok(Opened::Read(src))
            }
            Found::Generated { content, .. } => Ok(Opened::Read(Arc::new(MemorySource(content)))),
        }
    }

    fn open_write(&self, r: &crate::resolve::Resolved) -> Result<Opened, Denied> {
        let upload = Upload::open(r.dir.fd(), r.beneath(), r.exists, UPLOAD_MODE).map_err(|e| {
            match e.kind() {
                io::ErrorKind::NotFound => Denied::NotFound,
                _ => Denied::Access("Permission denied"),
            }
        })?;
        Ok(Opened::Write(upload))
    }

    /// A socket for one transfer on `ip`, falling back to the wildcard address of its family
    /// if `ip` cannot be bound (a subnet broadcast address, for one).
    fn bind_transfer_socket(&self, ip: IpAddr) -> io::Result<std::net::UdpSocket> {
        match self.bind_on(ip) {
            Ok(s) => Ok(s),
            Err(_) if !ip.is_unspecified() => {
                let any = match ip {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                self.bind_on(any)
            }
            Err(e) => Err(e),
        }
    }

    fn bind_on(&self, ip: IpAddr) -> io::Result<std::net::UdpSocket> {
        use std::net::UdpSocket;
        let Some((lo, hi)) = self.settings.port_range else {
            return UdpSocket::bind(SocketAddr::new(ip, 0));
        };
        let span = u32::from(hi - lo) + 1;
        let start = std::process::id()
            .wrapping_add(self.stats.transfers.load(Ordering::Relaxed) as u32)
            % span;
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "port range exhausted");
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            match UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// One counted concurrent transfer; released when dropped (also when the task is aborted).
struct ActiveSlot(Arc<Server>, IpAddr);

impl Drop for ActiveSlot {
    fn drop(&mut self) {
        self.0.release_client(self.1);
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Opened {
    Read(Arc<dyn DataSource>),
    Write(Upload),
}

/// A transfer as its log line tells it.
struct Exchange<'a> {
    started: Instant,
    /// The client's address and port (IPv4-mapped addresses as IPv4).
    client: SocketAddr,
    access: Access,
    req: &'a Request,
    /// The inventory machine, when known.
    machine: Option<String>,
    /// The options in use; `None` for a refused request.
    agreed: Option<Agreed>,
}

/// The options a transfer runs with, negotiated or by default.
struct Agreed {
    blksize: u16,
    windowsize: u16,
    timeout: Duration,
    tsize: Option<u64>,
}

/// Refuses a request with the ERROR the refusal calls for.
fn refuse(sock: &std::net::UdpSocket, peer: SocketAddr, denied: &Denied) -> Finish {
    let _ = sock.send_to(
        &packet::encode_error(denied.code(), &denied.message()),
        peer,
    );
    Finish {
        result: Err(Failure::Refused {
            code: denied.code(),
            reason: denied.to_string(),
        }),
        bytes: 0,
        retransmits: 0,
    }
}

/// Up to how many transfers at once each thread follows its client's CPU (`affinity.rs`):
/// half the CPUs, at least one. Beyond, the scheduler balances the crowd.
fn pin_transfers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (cpus / 2).max(1)
}

/// The Unix time in milliseconds (0 if the clock is before 1970).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A peer address for logs: IPv4-mapped IPv6 shown as IPv4.
pub fn display_addr(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
