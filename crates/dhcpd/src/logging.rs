//! Logging set-up: ISC's lines (`DHCPDISCOVER from … via eth1`) as plain messages through
//! `tracing`, to syslog (the `daemon` facility, as ISC) and, with `-d`, to standard error
//! too. Without a syslog socket (containers) messages go to standard error. `PXE_LOG` or
//! `RUST_LOG` override the level (`info` by default).
//!
//! A thread that handles a burst of packets can [`hold`] its lines: they are kept in a
//! thread-local buffer and handed on when the guard drops, standard error in one `write` for
//! the whole burst instead of one per line (syslog still gets one datagram per line). Once
//! [`start_writer`] has run, a log-writer thread does the writing: a write to a log file on a
//! busy disk can wait for the disk (hundreds of milliseconds were seen), and the threads that
//! serve clients must not wait with it. [`stop_writer`] writes what is queued and ends it.

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use pxe_daemon::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Lines held by this thread (see [`hold`]).
#[derive(Default)]
struct Held {
    stderr: Vec<u8>,
    syslog: Vec<(Arc<UnixDatagram>, Vec<u8>)>,
}

/// Write held standard-error text at this size even before the guard drops.
const HELD_STDERR_MAX: usize = 64 * 1024;

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

impl Held {
    fn is_empty(&self) -> bool {
        self.stderr.is_empty() && self.syslog.is_empty()
    }

    /// Hand the lines on (to the writer thread, or write them now) and start empty.
    fn flush(&mut self) {
        emit(std::mem::take(self));
    }

    /// Write the lines: standard error in one `write`, one datagram per syslog line.
    fn write_out(self) {
        if !self.stderr.is_empty() {
            let _ = io::stderr().write_all(&self.stderr);
        }
        for (sock, msg) in self.syslog {
            let _ = sock.send(&msg);
        }
    }
}

/// The writer thread writes what is queued this often (lines wait at most this long)…
const WRITER_PERIOD: std::time::Duration = std::time::Duration::from_millis(20);
/// …or as soon as this much standard-error text is queued.
const WRITER_NUDGE: usize = 32 * 1024;
/// Past this much queued text the threads handing on lines write it themselves (and so wait
/// for a disk that has fallen that far behind).
const WRITER_QUEUE_MAX: usize = 16 << 20;

/// Lines queued for the log-writer thread.
#[derive(Default)]
struct Queue {
    lines: Held,
    stop: bool,
}

/// The log-writer thread, while it runs.
struct Writer {
    queue: Arc<(Mutex<Queue>, std::sync::Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

static WRITER: Mutex<Option<Writer>> = Mutex::new(None);

/// Pass lines to the writer thread, or write them now when there is none.
fn emit(out: Held) {
    if out.is_empty() {
        return;
    }
    let queue = WRITER
        .lock()
        .ok()
        .and_then(|w| w.as_ref().map(|w| w.queue.clone()));
    let Some(queue) = queue else {
        out.write_out();
        return;
    };
    let (lock, nudge) = &*queue;
    let Ok(mut q) = lock.lock() else {
        out.write_out();
        return;
    };
    q.lines.stderr.extend_from_slice(&out.stderr);
    q.lines.syslog.extend(out.syslog);
    let queued = q.lines.stderr.len() + q.lines.syslog.len() * 256;
    if queued >= WRITER_QUEUE_MAX {
        // The writer is stuck on a slow disk: wait for it here (in order, under the lock).
        std::mem::take(&mut q.lines).write_out();
    } else if queued >= WRITER_NUDGE {
        nudge.notify_one();
    }
}

fn write_queued(queue: &(Mutex<Queue>, std::sync::Condvar)) {
    let (lock, nudge) = queue;
    loop {
        let (lines, stop) = {
            let Ok(q) = lock.lock() else { return };
            let Ok((mut q, _)) = nudge.wait_timeout(q, WRITER_PERIOD) else {
                return;
            };
            (std::mem::take(&mut q.lines), q.stop)
        };
        lines.write_out();
        if stop {
            return;
        }
    }
}

/// Start the log-writer thread (after any fork: threads do not survive one). Lines logged
/// from then on are written by it, in the order they were handed on, within
/// [`WRITER_PERIOD`].
pub fn start_writer() -> io::Result<()> {
    let mut w = WRITER
        .lock()
        .map_err(|_| io::Error::other("log writer lock"))?;
    if w.is_some() {
        return Ok(());
    }
    let queue = Arc::new((Mutex::new(Queue::default()), std::sync::Condvar::new()));
    let q = queue.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_queued(&q))?;
    *w = Some(Writer { queue, thread });
    Ok(())
}

/// Write everything queued and stop the log-writer thread; later lines are written directly.
pub fn stop_writer() {
    let w = WRITER.lock().ok().and_then(|mut w| w.take());
    if let Some(Writer { queue, thread }) = w {
        if let Ok(mut q) = queue.0.lock() {
            q.stop = true;
        }
        queue.1.notify_one();
        let _ = thread.join();
    }
}

/// Holds this thread's log lines until it is dropped (from [`hold`]).
#[derive(Debug)]
#[must_use = "the lines are written when the guard drops"]
pub struct Hold {
    /// Only the outermost guard of a thread writes.
    outer: bool,
    /// Thread-bound.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Keep this thread's log lines until the returned guard drops, then write them all at once.
/// Guards nest; the outermost one writes.
pub fn hold() -> Hold {
    let outer = HELD.with(|h| {
        let mut h = h.borrow_mut();
        if h.is_some() {
            false
        } else {
            *h = Some(Held::default());
            true
        }
    });
    Hold {
        outer,
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        let held = HELD.with(|h| h.borrow_mut().take());
        if let Some(mut held) = held {
            held.flush();
        }
    }
}

/// Passes `line` to the held buffer if this thread holds its lines; otherwise gives it back.
fn keep_stderr(line: &[u8]) -> bool {
    HELD.with(|h| {
        let Ok(mut h) = h.try_borrow_mut() else {
            return false;
        };
        let Some(held) = h.as_mut() else {
            return false;
        };
        held.stderr.extend_from_slice(line);
        if held.stderr.len() >= HELD_STDERR_MAX {
            held.flush();
        }
        true
    })
}

fn keep_syslog(sock: &Arc<UnixDatagram>, msg: Vec<u8>) -> Option<Vec<u8>> {
    HELD.with(|h| {
        let Ok(mut h) = h.try_borrow_mut() else {
            return Some(msg);
        };
        let Some(held) = h.as_mut() else {
            return Some(msg);
        };
        held.syslog.push((sock.clone(), msg));
        None
    })
}

/// Standard error, one `write` per event (or into the held buffer).
#[derive(Debug, Clone, Copy)]
pub struct StderrLines;

/// One event being written to standard error.
#[derive(Debug)]
pub struct StderrLine {
    buf: Vec<u8>,
}

impl Write for StderrLine {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for StderrLine {
    fn drop(&mut self) {
        if self.buf.is_empty() || keep_stderr(&self.buf) {
            return;
        }
        emit(Held {
            stderr: std::mem::take(&mut self.buf),
            syslog: Vec::new(),
        });
    }
}

impl<'a> MakeWriter<'a> for StderrLines {
    type Writer = StderrLine;

    fn make_writer(&'a self) -> Self::Writer {
        StderrLine {
            buf: Vec::with_capacity(128),
        }
    }
}

/// Writes each formatted event as one syslog datagram.
#[derive(Debug, Clone)]
pub struct Syslog {
    sock: Arc<UnixDatagram>,
    ident: String,
}

impl Syslog {
    /// Connect to `/dev/log`.
    pub fn connect(ident: &str) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect("/dev/log")?;
        Ok(Syslog {
            sock: Arc::new(sock),
            ident: ident.to_string(),
        })
    }
}

/// One event being written.
#[derive(Debug)]
pub struct SyslogLine {
    target: Syslog,
    priority: u8,
    buf: Vec<u8>,
}

impl Write for SyslogLine {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        // the daemon facility (3 << 3) and the event's level
        let msg = format!(
            "<{}>{}[{}]: {text}",
            24 + self.priority,
            self.target.ident,
            std::process::id()
        );
        if let Some(msg) = keep_syslog(&self.target.sock, msg.into_bytes()) {
            emit(Held {
                stderr: Vec::new(),
                syslog: vec![(self.target.sock.clone(), msg)],
            });
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogLine {
            target: self.clone(),
            priority: 6,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        SyslogLine {
            target: self.clone(),
            priority: pxe_daemon::log_format::priority(meta.level()),
            buf: Vec::new(),
        }
    }
}

/// Install the global subscriber. `to_stderr`: `-d` (or no syslog). `PXE_LOG_FORMAT`
/// (see [`pxe_daemon::log_format`]) shapes the standard-error lines: text is ISC's bare
/// line, journal adds the priority prefix, json one object per line and no syslog copy
/// (containers collect standard output and error, not syslog).
pub fn init(to_stderr: bool) {
    let filter = std::env::var("PXE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let format = LogFormat::from_env().unwrap_or_else(|e| {
        eprintln!("dhcpd: {e}; using text");
        LogFormat::Text
    });
    let syslog = match format {
        LogFormat::Json => None,
        _ => Syslog::connect("dhcpd").ok(),
    };
    let stderr_layer = (to_stderr || syslog.is_none()).then(|| match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_writer(StderrLines)
            .boxed(),
        other => other.layer(StderrLines, false),
    });
    let syslog_layer = syslog.map(|s| {
        tracing_subscriber::fmt::layer()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .with_writer(s)
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(syslog_layer)
        .try_init();
}
