//! The one DHCP socket every simulated machine shares: UDP port 68, broadcast, bound to
//! the storm's interface. Replies (broadcast, since every request sets the broadcast flag)
//! are handed to the machine waiting for that transaction id.

use crate::dhcp::{Reply, parse_reply};
use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub struct DhcpPort {
    socket: UdpSocket,
    server: SocketAddr,
    waiting: Mutex<HashMap<u32, mpsc::UnboundedSender<Reply>>>,
    /// Replies nobody waited for (late duplicates, other clients' traffic).
    pub strays: AtomicU64,
}

impl DhcpPort {
    /// Binds port 68 on `interface` (all interfaces when `None`) and sends to `server`
    /// (255.255.255.255:67 by default).
    pub fn open(interface: Option<&str>, server: SocketAddr) -> Result<Arc<DhcpPort>> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        s.set_broadcast(true)?;
        // Thousands of replies can arrive within a few milliseconds: a buffer the size of
        // a storm's replies, beyond net.core.rmem_max when root (SO_RCVBUFFORCE), so that
        // the generator does not drop what the servers sent.
        if nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBufForce, &(32 << 20))
            .is_err()
        {
            let _ = s.set_recv_buffer_size(32 << 20);
        }
        if let Some(dev) = interface {
            s.bind_device(Some(dev.as_bytes()))
                .with_context(|| format!("binding the DHCP socket to interface {dev}"))?;
        }
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
        s.bind(&any.into()).context(
            "binding UDP port 68 (needs root or CAP_NET_BIND_SERVICE, and no dhclient on it)",
        )?;
        s.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(s.into())?;
        Ok(Arc::new(DhcpPort {
            socket,
            server,
            waiting: Mutex::new(HashMap::new()),
            strays: AtomicU64::new(0),
        }))
    }

    /// Receives until the storm ends, forwarding each reply to its machine.
    pub async fn dispatch(self: Arc<DhcpPort>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, _)) = self.socket.recv_from(&mut buf).await else {
                continue;
            };
            let Some(reply) = parse_reply(&buf[..n]) else {
                self.strays.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let sent = self
                .waiting
                .lock()
                .ok()
                .and_then(|w| w.get(&reply.xid).map(|tx| tx.send(reply).is_ok()));
            if sent != Some(true) {
                self.strays.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Registers a transaction; its replies arrive on the receiver until it is dropped
    /// with [`DhcpPort::forget`].
    pub fn listen(&self, xid: u32) -> mpsc::UnboundedReceiver<Reply> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(xid, tx);
        }
        rx
    }

    pub fn forget(&self, xid: u32) {
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(&xid);
        }
    }

    pub async fn send(&self, packet: &[u8]) -> std::io::Result<()> {
        self.socket.send_to(packet, self.server).await.map(|_| ())
    }
}
