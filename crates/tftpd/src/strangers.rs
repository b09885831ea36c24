//! Connects a transfer socket to its client and still answers everyone else with ERROR 5.
//!
//! A connected socket receives only its client's datagrams, and the kernel then notes on
//! which CPU they arrive (`SO_INCOMING_CPU`, which `affinity.rs` follows; for unconnected
//! sockets it stays unset) and keeps the route for each send. But datagrams from any other
//! address would no longer reach the transfer, and RFC 1350 (section 4) wants them answered
//! with ERROR 5 (unknown transfer ID), as the state machine does on an unconnected socket.
//!
//! So before connecting, a second socket joins the transfer socket's address with
//! `SO_REUSEPORT`: the kernel hands each datagram to the best match, the connected socket for
//! the client and the unconnected one for everyone else, and a small task on the runtime
//! answers those with ERROR 5 until the transfer ends. The transfer socket itself is bound
//! without `SO_REUSEPORT` (so its port is never one already in use) and sets it only
//! afterwards; a socket of another user cannot join. When any step fails the transfer socket
//! stays unconnected and the state machine answers strangers itself.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::task::JoinHandle;

use crate::packet::{self, ErrorCode};
use crate::server::display_addr;

/// Answers strangers on a connected transfer socket's port until dropped.
pub struct Strangers(JoinHandle<()>);

impl Drop for Strangers {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects `sock` to `peer` with a stranger-answering twin on the runtime of `runtime`;
/// `None` (and `sock` left unconnected) when that cannot be done.
pub fn connect(
    sock: &UdpSocket,
    peer: SocketAddr,
    runtime: &tokio::runtime::Handle,
) -> Option<Strangers> {
    match try_connect(sock, peer, runtime) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(client = %display_addr(peer), error = %e, "transfer socket left unconnected");
            None
        }
    }
}

fn try_connect(
    sock: &UdpSocket,
    peer: SocketAddr,
    runtime: &tokio::runtime::Handle,
) -> io::Result<Strangers> {
    let local = sock.local_addr()?;
    if local.is_ipv4() != peer.is_ipv4() {
        return Err(io::Error::other("client and socket of different families"));
    }
    let this = SockRef::from(sock);
    this.set_reuse_port(true)?;
    let twin = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv6() {
        twin.set_only_v6(this.only_v6()?)?;
    }
    twin.set_reuse_port(true)?;
    twin.bind(&local.into())?;
    twin.set_nonblocking(true)?;
    // Connect only once the twin is in the group, so the kernel knows the group holds a
    // connected socket and picks by best match instead of by hash.
    sock.connect(peer)?;
    let twin = {
        let _in_runtime = runtime.enter();
        tokio::net::UdpSocket::from_std(twin.into())?
    };
    Ok(Strangers(runtime.spawn(answer(twin, peer))))
}

async fn answer(twin: tokio::net::UdpSocket, peer: SocketAddr) {
    let error = packet::encode_error(ErrorCode::UnknownTid, "Unknown transfer ID");
    let mut buf = [0u8; 4];
    loop {
        match twin.recv_from(&mut buf).await {
            Ok((_, from)) if from != peer => {
                tracing::debug!(client = %display_addr(from), "datagram from a stranger");
                let _ = twin.send_to(&error, from).await;
            }
            // The client itself, before the connect: the transfer has not sent yet, so it
            // cannot be a reply to anything.
            Ok(_) => {}
            // ICMP errors for earlier replies.
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use std::time::Duration;

    fn client() -> UdpSocket {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c
    }

    #[test]
    fn client_reaches_the_transfer_and_strangers_get_error_5_from_its_port() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = sock.local_addr().unwrap();
        let c = client();
        let guard = connect(&sock, c.local_addr().unwrap(), rt.handle()).expect("connected");
        assert_eq!(sock.peer_addr().unwrap(), c.local_addr().unwrap());

        let stranger = client();
        stranger.send_to(&packet::encode_ack(1), port).unwrap();
        let mut buf = [0u8; 600];
        let (n, from) = stranger
            .recv_from(&mut buf)
            .expect("ERROR 5 to the stranger");
        assert_eq!(from, port, "answered from the transfer's port");
        assert!(matches!(
            packet::parse(&buf[..n]),
            Ok(packet::Packet::Error {
                code: ErrorCode::UnknownTid,
                ..
            })
        ));

        c.send_to(&packet::encode_ack(7), port).unwrap();
        let n = sock.recv(&mut buf).expect("the client's ACK");
        assert_eq!(&buf[..n], packet::encode_ack(7).as_slice());

        // Once the transfer ends, nobody answers strangers on that port any more.
        drop(guard);
        drop(rt);
        stranger
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        stranger.send_to(&packet::encode_ack(1), port).unwrap();
        assert!(
            stranger.recv_from(&mut buf).is_err(),
            "no answer after the end"
        );
    }

    #[test]
    fn mixed_families_stay_unconnected() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer: SocketAddr = "[::1]:9".parse().unwrap();
        assert!(connect(&sock, peer, rt.handle()).is_none());
        assert!(sock.peer_addr().is_err(), "left unconnected");
    }
}
