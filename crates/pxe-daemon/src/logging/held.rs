//! Lines held and written off the serving threads. A thread that handles a burst of requests
//! can [`hold`] its lines: they are kept in a thread-local buffer and handed on when the
//! guard drops, standard error in one `write` for the whole burst instead of one per line
//! (syslog still gets one datagram per line). Once [`start_writer`] has run, a log-writer
//! thread does the writing: a write to a log file on a busy disk can wait for the disk
//! (hundreds of milliseconds were seen), and the threads that serve clients must not wait
//! with it. [`stop_writer`] writes what is queued and ends it.

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Lines held by this thread (see [`hold`]).
#[derive(Default)]
pub(super) struct Held {
    pub(super) stderr: Vec<u8>,
    pub(super) syslog: Vec<(Arc<UnixDatagram>, Vec<u8>)>,
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
pub(super) fn emit(out: Held) {
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

pub(super) fn keep_syslog(sock: &Arc<UnixDatagram>, msg: Vec<u8>) -> Option<Vec<u8>> {
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
