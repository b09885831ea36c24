//! Runs one transfer's state machine over a blocking UDP socket, on the transfer's own thread.
//!
//! A lockstep TFTP transfer is one round trip per block, so its speed is the latency of each
//! turn: a thread that sleeps in `recvfrom` and answers with `sendto` at once costs two
//! system calls per block and no wakeup of another thread. (The first shell ran transfers as
//! tokio tasks: every block then also paid an epoll wait, an eventfd write and a futex wake,
//! about three extra system calls and a thread hop, and ran slower than tftpd-hpa.)
//!
//! A window of blocks (RFC 7440) leaves in one `sendmsg` with UDP generic segmentation
//! offload (`UDP_SEGMENT`): the kernel walks one buffer of equal-sized datagrams through the
//! stack and cuts it into packets at the end, instead of one system call and one trip through
//! the stack per block. Kernels or paths that refuse it get one `sendto` per block from then on.
//! When the client runs on another CPU the window's first datagram goes ahead on its own, so
//! the client's wakeup overlaps the sending of the rest.
//!
//! The server connects the socket to the client when it can (`strangers.rs`): sends then name
//! no address and reuse the route the kernel keeps for the connection, and the kernel notes on
//! which CPU the client's datagrams arrive, which [`Follower`] uses to keep this thread next to
//! the client (`affinity.rs`: a lockstep turn within one CPU is a context switch, across CPUs
//! a cross-CPU wakeup, several times dearer on a virtual machine).
//!
//! While the transfer runs alone and its client answers from another CPU, the thread polls
//! the socket for a short window before it sleeps (`busy_poll.rs` decides when that pays).
//!
//! Deadlines become the socket's receive timeout (`SO_RCVTIMEO`), set again only when the
//! time left differs from the armed value by more than [`SLACK`]; a receive that returns
//! before the deadline with nothing is simply retried, so a timeout is never delivered early.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, recv, sendmsg};

use crate::affinity::Follower;
use crate::server::display_addr;
use crate::transfer::{Event, Finish, Output};

/// The largest UDP datagram: receive buffers of this size never truncate one.
pub const MAX_DATAGRAM: usize = 65536;

/// How late a timeout may be delivered, to save re-arming the socket on every block.
pub const SLACK: Duration = Duration::from_millis(2);

/// Carries out `outputs` and feeds the machine (`handle`) with what arrives until it is done.
/// `follow` moves the calling thread to the CPU where the datagrams arrive, while
/// `may_pin` allows.
pub fn drive(
    sock: &UdpSocket,
    peer: SocketAddr,
    mut outputs: Vec<Output>,
    mut follow: Follower,
    may_pin: impl Fn() -> bool,
    mut handle: impl FnMut(Event<'_>, Instant) -> Vec<Output>,
) -> Finish {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut deadline = Instant::now();
    let mut armed: Option<Duration> = None;
    let mut sender = Sender::new(sock, peer);
    loop {
        if let Some(f) = sender.carry_out(&mut outputs, &mut deadline) {
            return f;
        }
        sender.lead_alone = follow.apart();
        sender.flush();
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            outputs = handle(Event::Timeout, now);
            continue;
        }
        let stale = armed.is_none_or(|a| a > left + SLACK || a + SLACK < left);
        if stale {
            match sock.set_read_timeout(Some(left)) {
                Ok(()) => armed = Some(left),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot set the receive timeout");
                    std::thread::sleep(left);
                    continue;
                }
            }
        }
        // A lone client answering from another CPU: poll for its answer first (`busy_poll.rs`).
        let window = follow.poll_window().min(left);
        if !window.is_zero() && sender.connected {
            let caught = poll(sock, &mut buf, now + window);
            follow.waited(caught.is_some());
            if let Some(n) = caught {
                follow.received(sock, &may_pin);
                let bytes = buf.get(..n).unwrap_or_default();
                outputs = handle(Event::Datagram { from: peer, bytes }, Instant::now());
                continue;
            }
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                follow.received(sock, &may_pin);
                let bytes = buf.get(..n).unwrap_or_default();
                outputs = handle(Event::Datagram { from, bytes }, Instant::now());
            }
            // Timed out (or woke early): the top of the loop decides whether it is time.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors and interrupted calls: keep waiting for the same deadline.
            Err(_) => {}
        }
    }
}

/// Polls a connected socket for a datagram until `until`; its length when one came. Errors
/// (an ICMP error queued on the socket) end the poll: the sleeping receive deals with them.
fn poll(sock: &UdpSocket, buf: &mut [u8], until: Instant) -> Option<usize> {
    loop {
        match recv(sock.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
            Ok(n) => return Some(n),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => return None,
        }
        if Instant::now() >= until {
            return None;
        }
        std::hint::spin_loop();
    }
}

/// Most datagrams in one segmented send (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one segmented send (a UDP datagram's limit over IPv4).
const MAX_GSO_BYTES: usize = 65507;

/// A UDP socket a [`Sender`] can send on: a blocking one on a transfer's thread, or one
/// registered with an event loop (`crowd.rs`), whose sends never wait.
pub(crate) trait Datagrams: AsRawFd {
    fn send(&self, datagram: &[u8]) -> io::Result<usize>;
    fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize>;
    fn peer_addr(&self) -> io::Result<SocketAddr>;
}

impl Datagrams for UdpSocket {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        UdpSocket::send(self, datagram)
    }
    fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize> {
        UdpSocket::send_to(self, datagram, to)
    }
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        UdpSocket::peer_addr(self)
    }
}

/// Sends go straight to the socket, never through tokio's `try_send`: that one answers
/// `WouldBlock` without trying whenever the reactor has not yet seen the socket writable
/// (right after registration, for one), and a transfer's first OACK or DATA would be lost
/// to a timeout.
impl Datagrams for tokio::net::UdpSocket {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(self).send(datagram)
    }
    fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize> {
        socket2::SockRef::from(self).send_to(datagram, &to.into())
    }
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::peer_addr(self)
    }
}

/// Sends the client's datagrams, a window at a time.
pub(crate) struct Sender<'a, S: Datagrams = UdpSocket> {
    sock: &'a S,
    peer: SocketAddr,
    addr: SockaddrStorage,
    /// The socket is connected to `peer`: sends name no address, and the kernel reuses the
    /// route it keeps for the connection instead of looking one up per datagram.
    connected: bool,
    queued: Vec<Vec<u8>>,
    /// The client runs on another CPU: the first datagram of a window leaves on its own, so
    /// the client is woken and starts reading while the rest are on their way.
    lead_alone: bool,
    /// Cleared for good after the first refused segmented send.
    gso: bool,
}

impl<'a, S: Datagrams> Sender<'a, S> {
    pub(crate) fn new(sock: &'a S, peer: SocketAddr) -> Self {
        Sender {
            sock,
            peer,
            addr: SockaddrStorage::from(peer),
            connected: sock.peer_addr().is_ok_and(|p| p == peer),
            queued: Vec::new(),
            lead_alone: false,
            gso: true,
        }
    }

    /// Queues the datagrams `outputs` ask for (one to another address leaves at once),
    /// takes a wait as the new `deadline`, and returns the transfer's end, everything sent,
    /// when one of them is `Done`. What is queued leaves at the next [`Sender::flush`].
    pub(crate) fn carry_out(
        &mut self,
        outputs: &mut Vec<Output>,
        deadline: &mut Instant,
    ) -> Option<Finish> {
        for o in outputs.drain(..) {
            match o {
                Output::Send(b) => self.queue(b),
                Output::SendTo(to, b) => {
                    self.flush();
                    let _ = self.sock.send_to(&b, to);
                }
                Output::Wait(d) => *deadline = d,
                Output::Done(f) => {
                    self.flush();
                    return Some(f);
                }
            }
        }
        None
    }

    pub(crate) fn queue(&mut self, datagram: Vec<u8>) {
        self.queued.push(datagram);
    }

    /// Sends everything queued, in order.
    pub(crate) fn flush(&mut self) {
        let queued = std::mem::take(&mut self.queued);
        let mut rest = queued.as_slice();
        while !rest.is_empty() {
            let mut n = self.batch_len(rest);
            if self.lead_alone && rest.len() == queued.len() {
                n = n.min(1);
            }
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            if n > 1 && self.send_segmented(batch) {
                continue;
            }
            for d in batch {
                let sent = if self.connected {
                    self.sock.send(d)
                } else {
                    self.sock.send_to(d, self.peer)
                };
                if let Err(e) = sent {
                    tracing::debug!(client = %display_addr(self.peer), error = %e, "send failed");
                }
            }
        }
        // Keep the allocation for the next window.
        self.queued = queued;
        self.queued.clear();
    }

    /// How many datagrams from the front can leave together: all of one size but the last,
    /// which may be shorter, within the kernel's limits. 1 when segmentation is off.
    fn batch_len(&self, datagrams: &[Vec<u8>]) -> usize {
        let Some(first) = datagrams.first() else {
            return 0;
        };
        let seg = first.len();
        if !self.gso || seg == 0 {
            return 1;
        }
        let mut n = 0;
        let mut bytes = 0;
        for d in datagrams.iter().take(MAX_SEGMENTS) {
            if d.len() > seg || bytes + d.len() > MAX_GSO_BYTES {
                break;
            }
            n += 1;
            bytes += d.len();
            if d.len() < seg {
                break;
            }
        }
        n.max(1)
    }

    /// One `sendmsg` with `UDP_SEGMENT`; false (and segmentation off) if the kernel refuses.
    fn send_segmented(&mut self, batch: &[Vec<u8>]) -> bool {
        let Some(seg) = batch.first().and_then(|d| u16::try_from(d.len()).ok()) else {
            return false;
        };
        let iov: Vec<IoSlice<'_>> = batch.iter().map(|d| IoSlice::new(d)).collect();
        let cmsg = [ControlMessage::UdpGsoSegments(&seg)];
        match sendmsg(
            self.sock.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            (!self.connected).then_some(&self.addr),
        ) {
            Ok(_) => true,
            // Buffer full and the like: the blocks count as sent; a timeout resends them.
            Err(Errno::EAGAIN | Errno::ENOBUFS | Errno::ECONNREFUSED) => true,
            Err(e) => {
                tracing::debug!(error = %e, "segmented send refused, sending one datagram per block");
                self.gso = false;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (a, b)
    }

    fn sizes(v: &[usize]) -> Vec<Vec<u8>> {
        v.iter()
            .enumerate()
            .map(|(i, n)| vec![i as u8; *n])
            .collect()
    }

    #[test]
    fn batches_are_equal_sized_runs_within_the_kernel_limits() {
        let (a, b) = pair();
        let s = Sender::new(&a, b.local_addr().unwrap());
        assert_eq!(s.batch_len(&sizes(&[516; 16])), 16);
        assert_eq!(
            s.batch_len(&sizes(&[516, 516, 100, 516])),
            3,
            "a short one ends it"
        );
        assert_eq!(
            s.batch_len(&sizes(&[516, 1000, 516])),
            1,
            "a longer one starts anew"
        );
        assert_eq!(s.batch_len(&sizes(&[516; 100])), MAX_SEGMENTS);
        assert_eq!(s.batch_len(&sizes(&[1472; 60])), MAX_GSO_BYTES / 1472);
        assert_eq!(s.batch_len(&sizes(&[65468, 65468])), 1);
        assert_eq!(s.batch_len(&sizes(&[])), 0);
        let off = Sender {
            gso: false,
            ..Sender::new(&a, b.local_addr().unwrap())
        };
        assert_eq!(off.batch_len(&sizes(&[516; 16])), 1);
    }

    #[test]
    fn a_window_arrives_as_separate_datagrams_in_order() {
        for lead_alone in [false, true] {
            let (a, b) = pair();
            let mut s = Sender::new(&a, b.local_addr().unwrap());
            s.lead_alone = lead_alone;
            let mut want = sizes(&[516; 70]);
            want.push(vec![0xee; 37]);
            for d in &want {
                s.queue(d.clone());
            }
            s.flush();
            assert!(s.queued.is_empty());
            assert!(s.gso, "loopback takes segmented sends");
            let mut buf = [0u8; 2048];
            for (i, d) in want.iter().enumerate() {
                let (n, from) = b.recv_from(&mut buf).unwrap();
                assert_eq!(from, a.local_addr().unwrap());
                assert_eq!(&buf[..n], &d[..], "datagram {i}, lead alone {lead_alone}");
            }
        }
    }

    #[test]
    fn poll_takes_a_queued_datagram_and_gives_up_at_the_deadline() {
        let (a, b) = pair();
        b.connect(a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let start = Instant::now();
        let until = start + Duration::from_millis(20);
        assert_eq!(poll(&b, &mut buf, until), None, "nothing came");
        assert!(Instant::now() >= until, "polled until the deadline");
        assert!(
            b.read_timeout().unwrap().is_some(),
            "the socket stays blocking with its timeout"
        );

        a.send_to(b"ack", b.local_addr().unwrap()).unwrap();
        let far = Instant::now() + Duration::from_secs(5);
        assert_eq!(poll(&b, &mut buf, far), Some(3));
        assert_eq!(&buf[..3], b"ack");

        // A datagram sent while polling is caught before the deadline.
        let to = b.local_addr().unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            a.send_to(b"late", to).unwrap();
        });
        let got = poll(&b, &mut buf, Instant::now() + Duration::from_secs(5));
        late.join().unwrap();
        assert_eq!(got, Some(4));
    }
}
