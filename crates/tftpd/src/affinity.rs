//! Keeps a lockstep transfer's thread on the CPU where its client's datagrams arrive.
//!
//! A lockstep transfer is a ping-pong: the client's ACK wakes the transfer thread, whose DATA
//! wakes the client. When the two sit on different CPUs every turn is a cross-CPU wakeup (an
//! interrupt to the other CPU, which on a virtual machine may first have to be woken from
//! halt by the host); on the same CPU it is a plain context switch. On a 2-core virtual
//! machine a 64 MiB transfer at 512-byte blocks took 1.8-2.0 s with server and curl pinned
//! to the same CPU and 8.5-11 s pinned apart, and left to the scheduler anywhere in between.
//!
//! The kernel records on which CPU a socket's last datagram was processed
//! (`SO_INCOMING_CPU`): on loopback that is the client's CPU, from a network card the CPU of
//! its receive queue. Every [`CHECK_EVERY`] datagrams the transfer thread reads it and moves
//! itself there. It only does so while few transfers run (the caller decides), and at most
//! one transfer per CPU ([`Claims`]): from a network card with a single receive queue every
//! datagram arrives on one CPU, and stacking transfers there would serialize them. When
//! pinning is not allowed, and when the transfer ends, the thread gets back the CPUs it had,
//! so the scheduler balances a crowd and the next task on this pooled thread starts unpinned.
//!
//! On an otherwise idle machine the scheduler wakes the client on the idle CPU (our thread is
//! still running when its send wakes the client), so the pair stays apart whatever this
//! thread does. There the transfer polls for the client's answers instead of following it:
//! at each look the [`Policy`] of `busy_poll.rs` decides between the two.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;
use socket2::SockRef;

use crate::busy_poll::Policy;

/// Datagrams between two looks at the incoming CPU.
pub const CHECK_EVERY: u32 = 64;

/// Which CPUs hold a pinned transfer thread, shared by all transfers of a server.
#[derive(Clone)]
pub struct Claims(Arc<[AtomicBool]>);

impl Claims {
    /// Room for every CPU the system may have.
    pub fn new() -> Claims {
        Claims(
            (0..CpuSet::count())
                .map(|_| AtomicBool::new(false))
                .collect(),
        )
    }

    fn take(&self, cpu: usize) -> bool {
        self.0.get(cpu).is_some_and(|c| {
            c.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }

    fn give_back(&self, cpu: usize) {
        if let Some(c) = self.0.get(cpu) {
            c.store(false, Ordering::Release);
        }
    }
}

impl Default for Claims {
    fn default() -> Self {
        Claims::new()
    }
}

/// Follows the incoming CPU of one transfer's socket with the calling thread.
pub struct Follower {
    claims: Claims,
    /// The thread's CPUs before the transfer; `None` disables following.
    saved: Option<CpuSet>,
    /// The CPU the thread is pinned to, if it is.
    pinned: Option<usize>,
    /// Datagrams until the next look.
    countdown: u32,
    /// Whether to poll for the client's datagrams instead.
    poll: Policy,
    /// When the last look was.
    last_look: Option<Instant>,
    /// The last look found the client on another CPU.
    apart: bool,
}

impl Follower {
    /// A follower for the calling thread (which must be the transfer's thread) that polls
    /// for up to `poll_window` per wait when that pays (zero: never).
    pub fn new(claims: Claims, poll_window: Duration) -> Follower {
        Follower {
            claims,
            saved: sched_getaffinity(Pid::from_raw(0)).ok(),
            pinned: None,
            countdown: 0,
            poll: Policy::new(poll_window),
            last_look: None,
            apart: false,
        }
    }

    /// Whether the last look found the client on another CPU than this thread's.
    pub fn apart(&self) -> bool {
        self.apart
    }

    /// How long the next wait polls before it sleeps; zero: it sleeps at once.
    pub fn poll_window(&self) -> Duration {
        self.poll.window()
    }

    /// A wait that polled has ended; `caught` says whether its datagram came while polling.
    pub fn waited(&mut self, caught: bool) {
        self.poll.waited(caught);
    }

    /// Called after each datagram received on `sock`. Every [`CHECK_EVERY`] datagrams it looks
    /// at the CPUs, revises the polling decision and, unless polling, moves the thread to the
    /// client's CPU; `allowed` says whether pinning and polling are wanted now.
    pub fn received(&mut self, sock: &UdpSocket, allowed: impl FnOnce() -> bool) {
        if self.countdown > 0 {
            self.countdown -= 1;
            return;
        }
        self.countdown = CHECK_EVERY - 1;
        self.apart = false;
        if !allowed() {
            self.poll.stop();
            self.last_look = None;
            self.release();
            return;
        }
        // -1 (nothing known yet, or an unconnected socket) comes back as a huge number.
        let Some(cpu) = SockRef::from(sock)
            .cpu_affinity()
            .ok()
            .filter(|&c| c < CpuSet::count())
        else {
            self.poll.stop();
            self.last_look = None;
            return;
        };
        let apart = sched_getcpu().is_ok_and(|here| here != cpu);
        self.apart = apart;
        let now = Instant::now();
        let period = self.last_look.replace(now).map(|t| now.duration_since(t));
        if !self.poll.review(apart, period) {
            return;
        }
        let Some(saved) = self.saved else {
            return;
        };
        // A CPU this thread may not use.
        if self.pinned == Some(cpu) || !saved.is_set(cpu).unwrap_or(false) {
            return;
        }
        // Another transfer holds that CPU: stay where we are, pinned or not.
        if !self.claims.take(cpu) {
            return;
        }
        let mut one = CpuSet::new();
        if one.set(cpu).is_ok() && sched_setaffinity(Pid::from_raw(0), &one).is_ok() {
            if let Some(old) = self.pinned.replace(cpu) {
                self.claims.give_back(old);
            }
        } else {
            // Refused (a seccomp filter such as systemd's `~@resources`, a cpuset): stop
            // trying for this transfer.
            self.claims.give_back(cpu);
            self.release();
            self.saved = None;
        }
    }

    /// Gives the thread back the CPUs it had.
    fn release(&mut self) {
        if let Some(cpu) = self.pinned.take() {
            if let Some(saved) = &self.saved {
                let _ = sched_setaffinity(Pid::from_raw(0), saved);
            }
            self.claims.give_back(cpu);
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn current() -> CpuSet {
        sched_getaffinity(Pid::from_raw(0)).unwrap()
    }

    fn count(set: &CpuSet) -> usize {
        (0..CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap())
            .count()
    }

    /// A datagram from this thread to `b`, read back so the kernel notes its CPU (which it
    /// does for connected sockets only).
    fn one_datagram(a: &UdpSocket, b: &UdpSocket) {
        b.connect(a.local_addr().unwrap()).unwrap();
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        b.recv_from(&mut buf).unwrap();
    }

    /// Runs `test` on a thread of its own (the tests change their thread's affinity) with a
    /// connected socket that has received one datagram from that thread.
    fn with_received_datagram(test: impl FnOnce(&UdpSocket) + Send + 'static) {
        std::thread::spawn(move || {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            one_datagram(&a, &b);
            test(&b);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pins_to_the_incoming_cpu_and_restores_on_drop() {
        with_received_datagram(|b| {
            let before = current();
            let cpu = SockRef::from(b).cpu_affinity().unwrap();
            let claims = Claims::new();
            let mut f = Follower::new(claims.clone(), Duration::ZERO);
            f.received(b, || true);
            let now = current();
            assert_eq!(count(&now), 1, "pinned to one CPU");
            assert!(now.is_set(cpu).unwrap(), "pinned to the incoming CPU {cpu}");
            assert!(!claims.take(cpu), "the CPU is claimed while pinned");
            drop(f);
            assert_eq!(count(&current()), count(&before), "CPUs given back");
            assert!(claims.take(cpu), "and its claim too");
        });
    }

    #[test]
    fn looks_only_every_so_many_datagrams_and_releases_when_not_allowed() {
        with_received_datagram(|b| {
            let before = count(&current());
            let mut f = Follower::new(Claims::new(), Duration::ZERO);
            f.received(b, || true);
            assert_eq!(count(&current()), 1);
            let mut asked = 0;
            for _ in 0..CHECK_EVERY - 1 {
                f.received(b, || {
                    asked += 1;
                    false
                });
            }
            assert_eq!(asked, 0, "no look between checks");
            assert_eq!(count(&current()), 1, "still pinned between checks");
            f.received(b, || false);
            assert_eq!(count(&current()), before, "released when not allowed");
        });
    }

    #[test]
    fn a_claimed_cpu_is_left_alone() {
        with_received_datagram(|b| {
            let before = count(&current());
            let cpu = SockRef::from(b).cpu_affinity().unwrap();
            let claims = Claims::new();
            assert!(claims.take(cpu), "another transfer holds it");
            let mut f = Follower::new(claims, Duration::ZERO);
            f.received(b, || true);
            assert_eq!(count(&current()), before, "not pinned");
        });
    }
}
