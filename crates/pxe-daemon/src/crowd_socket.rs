//! A receive buffer that holds a crowd's first datagrams.
//!
//! When a rack powers on, every machine's firmware sends its DISCOVER (and, a second later,
//! its TFTP read request) within a few milliseconds. Linux gives a UDP socket 208 KiB of
//! receive buffer by default (`net.core.rmem_default`); a datagram costs its payload plus
//! about 1 KiB of kernel bookkeeping, so about a hundred DISCOVERs fill it and the kernel
//! drops the rest before the server sees them. Those machines wait for their firmware's
//! next retry (4, 8, 16 and 32 s in the PXE specification), and the retries come in bursts
//! too. The daemons therefore ask for [`CROWD_RECEIVE_BUFFER`] on the sockets that crowds
//! send to: with `SO_RCVBUFFORCE` when they may (root or `CAP_NET_ADMIN`), else with
//! `SO_RCVBUF`, which the kernel caps at `net.core.rmem_max`. A buffer is a limit, not an
//! allocation: memory is only used while datagrams wait.

use std::io;
use std::os::fd::AsFd;

/// What the daemons ask for: room for about 5,000 DHCP or TFTP requests at once.
pub const CROWD_RECEIVE_BUFFER: usize = 8 << 20;

/// The receive buffer a socket got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveBuffer {
    /// Bytes asked for.
    pub wanted: usize,
    /// Bytes of datagrams the socket now holds before the kernel drops: `SO_RCVBUF` as read
    /// back, halved (Linux doubles what is set, to cover its bookkeeping).
    pub got: usize,
    /// Whether `SO_RCVBUFFORCE` was allowed (root or `CAP_NET_ADMIN`), past `rmem_max`.
    pub forced: bool,
}

impl ReceiveBuffer {
    /// Whether the socket got less than was asked for.
    pub fn short(&self) -> bool {
        self.got < self.wanted
    }
}

/// Asks for a receive buffer of `wanted` bytes on `sock`: forced past `net.core.rmem_max`
/// when the process may, else as much as `rmem_max` allows. Never shrinks a buffer that
/// is already larger (an inherited socket may have been given one past `rmem_max` by
/// systemd's `ReceiveBuffer=`, which a plain `SO_RCVBUF` would cut down to `rmem_max`).
pub fn grow_receive_buffer<S: AsFd>(sock: &S, wanted: usize) -> io::Result<ReceiveBuffer> {
    use nix::sys::socket::{setsockopt, sockopt};
    let before = room(sock)?;
    if before >= wanted {
        return Ok(ReceiveBuffer {
            wanted,
            got: before,
            forced: false,
        });
    }
    let forced = setsockopt(sock, sockopt::RcvBufForce, &wanted).is_ok();
    if !forced && let Some(ask) = unforced_request(before, wanted, rmem_max()) {
        setsockopt(sock, sockopt::RcvBuf, &ask).map_err(io::Error::from)?;
    }
    Ok(ReceiveBuffer {
        wanted,
        got: room(sock)?,
        forced,
    })
}

/// Bytes of datagrams `sock` holds: `SO_RCVBUF` as the kernel reports it, halved (Linux
/// doubles what is set, to cover its bookkeeping).
fn room<S: AsFd>(sock: &S) -> io::Result<usize> {
    use nix::sys::socket::{getsockopt, sockopt};
    Ok(getsockopt(sock, sockopt::RcvBuf).map_err(io::Error::from)? / 2)
}

/// `net.core.rmem_max` of this network namespace, or `None` when /proc cannot say.
fn rmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What to ask with a plain `SO_RCVBUF` (which the kernel caps at `rmem_max`) for `wanted`
/// bytes on a socket holding `before`: nothing when the cap would leave it no larger.
fn unforced_request(before: usize, wanted: usize, rmem_max: Option<usize>) -> Option<usize> {
    let granted = rmem_max.map_or(wanted, |cap| wanted.min(cap));
    (granted > before).then_some(wanted)
}

/// [`grow_receive_buffer`] with its outcome in the log: a line at start-up saying what the
/// socket holds, and a warning with the fix when it got less than asked.
pub fn grow_and_log<S: AsFd>(sock: &S, what: &str) {
    match grow_receive_buffer(sock, CROWD_RECEIVE_BUFFER) {
        Ok(b) if b.short() => tracing::warn!(
            wanted = b.wanted,
            got = b.got,
            "the receive buffer of {what} holds {} KiB, not {} KiB: a burst of requests beyond it is dropped by the kernel until clients retry; raise net.core.rmem_max to {} (sysctl) or give the daemon CAP_NET_ADMIN",
            b.got / 1024,
            b.wanted / 1024,
            b.wanted
        ),
        Ok(b) => tracing::info!(
            got = b.got,
            forced = b.forced,
            "the receive buffer of {what} holds {} KiB",
            b.got / 1024
        ),
        Err(e) => tracing::warn!("cannot size the receive buffer of {what}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_socket_gets_what_it_asks_for_or_all_rmem_max_allows() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let wanted = 6 << 20;
        let b = grow_receive_buffer(&sock, wanted).expect("sizing the buffer");
        assert_eq!(b.wanted, wanted);
        if b.forced {
            assert!(b.got >= wanted, "forced, yet only {} bytes", b.got);
        } else {
            // Unprivileged: the kernel caps SO_RCVBUF at rmem_max.
            let cap = rmem_max().unwrap_or(0);
            assert!(b.got >= wanted.min(cap), "{b:?}, rmem_max {cap}");
        }
        assert_eq!(b.short(), !b.forced && rmem_max().unwrap_or(0) < wanted);
    }

    #[test]
    fn a_larger_buffer_is_never_shrunk() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let first = grow_receive_buffer(&sock, 4 << 20).expect("sizing the buffer");
        let second = grow_receive_buffer(&sock, 64 << 10).expect("sizing it again");
        // What the kernel holds, not only what the function reports.
        let now = room(&sock).expect("reading SO_RCVBUF");
        assert!(
            now >= first.got,
            "{first:?}, then {second:?}, the kernel says {now}"
        );
        assert_eq!(second.got, now);
        assert!(!second.short());
    }

    #[test]
    fn a_plain_request_is_made_only_when_the_cap_lets_it_grow() {
        let kib = 1024;
        // systemd gave 4 MiB past an rmem_max of 208 KiB: asking for 8 MiB unforced would
        // cut it to 208 KiB, so nothing is asked.
        assert_eq!(
            unforced_request(4096 * kib, 8192 * kib, Some(208 * kib)),
            None
        );
        // The default 208 KiB under a raised rmem_max grows (capped by the kernel).
        assert_eq!(
            unforced_request(208 * kib, 8192 * kib, Some(4096 * kib)),
            Some(8192 * kib)
        );
        assert_eq!(
            unforced_request(208 * kib, 8192 * kib, None),
            Some(8192 * kib)
        );
        // Already at the cap: nothing to gain.
        assert_eq!(
            unforced_request(208 * kib, 8192 * kib, Some(208 * kib)),
            None
        );
    }

    #[test]
    fn a_full_buffer_holds_a_burst_the_default_would_drop() {
        // 2,000 DISCOVER-sized datagrams sent before the receiver reads any: the default
        // buffer (rmem_default) drops most of them; the grown one keeps them all when it
        // got its size.
        let burst = 2000;
        let received = |grow: bool| -> usize {
            let rx = UdpSocket::bind("127.0.0.1:0").expect("receiver");
            if grow {
                let b = grow_receive_buffer(&rx, CROWD_RECEIVE_BUFFER).expect("sizing");
                if b.short() {
                    return usize::MAX; // not enough room here to say anything
                }
            }
            let tx = UdpSocket::bind("127.0.0.1:0").expect("sender");
            let to = rx.local_addr().expect("its address");
            let datagram = [0u8; 548];
            for _ in 0..burst {
                let _ = tx.send_to(&datagram, to);
            }
            rx.set_nonblocking(true).expect("non-blocking");
            let mut buf = [0u8; 1500];
            let mut n = 0;
            while rx.recv_from(&mut buf).is_ok() {
                n += 1;
            }
            n
        };
        let grown = received(true);
        if grown == usize::MAX {
            eprintln!("skipped: rmem_max is below {CROWD_RECEIVE_BUFFER} and no CAP_NET_ADMIN");
            return;
        }
        assert_eq!(grown, burst, "the grown buffer lost datagrams");
        let default = received(false);
        assert!(default < burst, "the default buffer kept all {burst}");
    }
}
