//! The engine for the many: transfers beyond `--transfer-threads` run as tasks on event loops,
//! one loop per CPU, instead of on a thread each.
//!
//! A thread per transfer is the fastest shell for the few (`drive.rs`: two system calls per
//! block, no wakeup of another thread, the thread following its client's CPU), but each one
//! costs a stack, a 64 KiB receive buffer and a 64 KiB read-ahead run, and ten thousand of
//! them spend the CPUs switching between threads. Here a transfer is a task of a few hundred
//! bytes plus its socket: the loop waits on every socket at once (epoll through tokio's
//! reactor), one receive buffer serves every transfer of a loop, and the file is read a
//! window at a time (`EVENTED_READ_AHEAD`). The state machines are the same as on threads;
//! only the shell differs.
//!
//! What a transfer does on a loop is short and never waits: it receives one datagram, runs
//! the state machine, sends its answer (non-blocking: a full socket buffer loses the
//! datagram, which the timeout resends), and returns to the loop. A read from a file not in
//! the page cache delays the other transfers of that loop for that read.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use tokio::io::Interest;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::drive::{MAX_DATAGRAM, Sender};
use crate::transfer::{Event, Failure, Finish, Output};

/// Bytes a transfer on a loop reads from its file at a time (at least one window).
pub const EVENTED_READ_AHEAD: usize = 8 * 1024;

/// Datagrams one receive takes at most: two, so that fewer than two says the queue is empty.
const RECEIVE_AT_ONCE: usize = 2;

/// The receive buffers of this loop's transfers (only one receives at a time), and the
/// headers `recvmmsg` fills in.
struct Receive {
    buffers: [Vec<u8>; RECEIVE_AT_ONCE],
    headers: MultiHeaders<SockaddrStorage>,
}

thread_local! {
    static RECEIVE: RefCell<Receive> = RefCell::new(Receive {
        buffers: [vec![0u8; MAX_DATAGRAM], vec![0u8; MAX_DATAGRAM]],
        headers: MultiHeaders::preallocate(RECEIVE_AT_ONCE, None),
    });
}

/// The event loops: threads `tftpd-loop-N`, each running a single-threaded runtime.
pub struct Loops {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropping these ends the loops (their runtimes drop the tasks still on them).
    _stop: Vec<oneshot::Sender<()>>,
}

impl Loops {
    /// Starts `n` loops (at least one).
    pub fn start(n: usize) -> io::Result<Loops> {
        let mut handles = Vec::new();
        let mut stop = Vec::new();
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (tx, rx) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("tftpd-loop-{i}"))
                .spawn(move || {
                    // Sender dropped or fired: either way the loop is over.
                    let _ = runtime.block_on(rx);
                })?;
            stop.push(tx);
        }
        Ok(Loops {
            handles,
            next: AtomicUsize::new(0),
            _stop: stop,
        })
    }

    /// The loop the next transfer goes to (in turn).
    pub fn pick(&self) -> &Handle {
        // `handles` is never empty (`start` makes at least one).
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// How many loops run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Never true: `start` makes at least one loop.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

/// Sends the datagrams among a transfer's first `outputs` on its (still blocking) socket
/// before the transfer moves to a loop; returns what is left: its wait, or its end.
pub fn send_first(sock: &UdpSocket, peer: SocketAddr, mut outputs: Vec<Output>) -> Vec<Output> {
    let mut sender = Sender::new(sock, peer);
    let mut deadline = Instant::now();
    let end = sender.carry_out(&mut outputs, &mut deadline);
    sender.flush();
    match end {
        Some(f) => vec![Output::Done(f)],
        None => vec![Output::Wait(deadline)],
    }
}

/// Carries out `outputs` and feeds the machine (`handle`) with what arrives on `sock` until
/// it is done, on the current loop. The socket is made non-blocking here.
///
/// Each wake-up takes what is queued with one `recvmmsg` of up to two datagrams. Fewer than
/// two means the queue is empty, so the loop forgets the socket's readiness then and there,
/// instead of learning it from one more receive that finds nothing: three system calls a
/// datagram in lockstep (wait, receive, send) instead of four. A datagram that arrives after
/// the receive wakes the loop again (tokio keeps the readiness that comes after the one it
/// clears).
pub async fn drive(
    sock: UdpSocket,
    peer: SocketAddr,
    mut outputs: Vec<Output>,
    mut handle: impl FnMut(Event<'_>, Instant) -> Vec<Output>,
) -> Finish {
    let sock = match sock
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UdpSocket::from_std(sock))
    {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let mut sender = Sender::new(&sock, peer);
    let mut deadline = Instant::now();
    let timer = tokio::time::sleep_until(deadline.into());
    tokio::pin!(timer);
    loop {
        if let Some(f) = sender.carry_out(&mut outputs, &mut deadline) {
            return f;
        }
        sender.flush();
        let now = Instant::now();
        if deadline <= now {
            outputs = handle(Event::Timeout, now);
            continue;
        }
        // The timer is moved only when the deadline comes sooner than it is set for: a
        // deadline pushed later by every answer (nearly every datagram) leaves it alone,
        // and when it fires early the top of the loop sees the deadline is not there yet.
        if deadline < timer.deadline().into_std() {
            timer.as_mut().reset(deadline.into());
        }
        tokio::select! {
            biased;
            ready = sock.readable() => {
                if ready.is_err() {
                    // The reactor is gone (the runtime is shutting down).
                    tokio::time::sleep_until(deadline.into()).await;
                    continue;
                }
            }
            () = &mut timer => {
                // Fired: set it again for the deadline as it is now.
                timer.as_mut().reset(deadline.into());
                continue;
            }
        }
        // tokio forgets a socket's readiness when the closure of `try_io` answers
        // WouldBlock, and only the readiness it had seen when the closure started. So a
        // receive that drained the queue hands its outputs out through `taken` and answers
        // WouldBlock. An error (nothing there after all, or an ICMP error queued on the
        // socket and taken by this receive) leaves `taken` empty: the transfer keeps
        // waiting for the same deadline.
        let mut taken = None;
        let _ = sock.try_io(Interest::READABLE, || {
            let (next, drained) = receive_queued(&sock, &mut handle)?;
            taken = Some(next);
            if drained {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        if let Some(next) = taken {
            outputs = next;
        }
    }
}

/// Takes up to [`RECEIVE_AT_ONCE`] queued datagrams from `sock` in one system call and
/// feeds them to `handle` in order; returns the outputs, and whether the queue was drained
/// (fewer came than could). The datagrams after one that ends the transfer are dropped.
fn receive_queued(
    sock: &impl AsRawFd,
    handle: &mut impl FnMut(Event<'_>, Instant) -> Vec<Output>,
) -> io::Result<(Vec<Output>, bool)> {
    RECEIVE.with_borrow_mut(|r| {
        let Receive { buffers, headers } = r;
        let mut got = [None; RECEIVE_AT_ONCE];
        let n = {
            let [a, b] = buffers;
            let mut slices = [[IoSliceMut::new(a)], [IoSliceMut::new(b)]];
            let received = recvmmsg(
                sock.as_raw_fd(),
                headers,
                slices.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map_err(io::Error::from)?;
            let mut n = 0;
            for (slot, m) in got.iter_mut().zip(received) {
                *slot = m
                    .address
                    .as_ref()
                    .and_then(socket_addr)
                    .map(|a| (m.bytes, a));
                n += 1;
            }
            n
        };
        let now = Instant::now();
        let mut outputs: Vec<Output> = Vec::new();
        for ((len, from), buf) in got.iter().flatten().zip(buffers.iter()) {
            if outputs.iter().any(|o| matches!(o, Output::Done(_))) {
                break;
            }
            let bytes = buf.get(..*len).unwrap_or_default();
            let more = handle(Event::Datagram { from: *from, bytes }, now);
            // Nearly always one datagram: its outputs are kept as they come, not copied.
            if outputs.is_empty() {
                outputs = more;
            } else {
                outputs.extend(more);
            }
        }
        Ok((outputs, n < RECEIVE_AT_ONCE))
    })
}

/// The sender of a received datagram as a standard socket address.
fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// The end of a transfer whose socket could not join the loop.
fn failed(e: &io::Error) -> Finish {
    tracing::error!(error = %e, "cannot register a transfer socket with the event loop");
    Finish {
        result: Err(Failure::Io {
            code: crate::packet::ErrorCode::Undefined,
            error: format!("cannot join the event loop: {e}"),
        }),
        bytes: 0,
        retransmits: 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::drive::Datagrams;
    use std::time::Duration;

    #[test]
    fn a_socket_just_registered_sends_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = peer.local_addr().unwrap();
        // tokio's own try_send_to answers WouldBlock at this point without trying (seen
        // with tokio 1.54): the first OACK of every transfer on a loop was lost to a timeout.
        rt.block_on(async {
            let std = UdpSocket::bind("127.0.0.1:0").unwrap();
            std.set_nonblocking(true).unwrap();
            let sock = tokio::net::UdpSocket::from_std(std).unwrap();
            let ours = Datagrams::send_to(&sock, b"first", to).map_err(|e| e.kind());
            assert_eq!(
                ours,
                Ok(5),
                "sent before the reactor saw the socket writable"
            );
        });
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
    }

    #[test]
    fn loops_take_turns_and_run_tasks_on_their_own_threads() {
        let loops = Loops::start(3).unwrap();
        assert_eq!(loops.len(), 3);
        let mut names = Vec::new();
        for _ in 0..6 {
            let (tx, rx) = std::sync::mpsc::channel();
            loops.pick().spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send(name).unwrap();
            });
            names.push(rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap());
        }
        assert_eq!(
            names,
            [
                "tftpd-loop-0",
                "tftpd-loop-1",
                "tftpd-loop-2",
                "tftpd-loop-0",
                "tftpd-loop-1",
                "tftpd-loop-2"
            ]
        );
    }

    #[test]
    fn a_receive_takes_two_at_most_and_says_when_the_queue_is_empty() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = tx.local_addr().unwrap();
        for d in [&b"one"[..], b"two", b"three"] {
            tx.send_to(d, rx.local_addr().unwrap()).unwrap();
        }
        let mut seen: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let mut handle = |ev: Event<'_>, _now: Instant| {
            if let Event::Datagram { from, bytes } = ev {
                seen.push((bytes.to_vec(), from));
            }
            vec![Output::Wait(Instant::now())]
        };
        let (outputs, drained) = receive_queued(&rx, &mut handle).unwrap();
        assert_eq!((outputs.len(), drained), (2, false), "two of three taken");
        let (outputs, drained) = receive_queued(&rx, &mut handle).unwrap();
        assert_eq!(
            (outputs.len(), drained),
            (1, true),
            "the last one drains it"
        );
        let e = receive_queued(&rx, &mut handle).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let bodies: Vec<&[u8]> = seen.iter().map(|(b, _)| b.as_slice()).collect();
        assert_eq!(bodies, [&b"one"[..], b"two", b"three"]);
        assert!(seen.iter().all(|(_, a)| *a == from), "{seen:?}");
    }

    #[test]
    fn a_datagram_after_the_end_of_a_transfer_is_not_handled() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for d in [&b"last"[..], b"late"] {
            tx.send_to(d, rx.local_addr().unwrap()).unwrap();
        }
        let mut handled = 0;
        let mut handle = |_ev: Event<'_>, _now: Instant| {
            handled += 1;
            vec![Output::Done(Finish {
                result: Ok(()),
                bytes: 0,
                retransmits: 0,
            })]
        };
        let (outputs, _) = receive_queued(&rx, &mut handle).unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(handled, 1);
    }
}
