//! Sockets: the only module that owns them. UDP port 67 (or `-p`), one socket per interface
//! named on the command line (bound to it with `SO_BINDTODEVICE`), or one socket for all
//! interfaces that learns the arrival interface of each packet from `IP_PKTINFO`. Replies go
//! where RFC 2131 §4.1 says ([`crate::decide::Dest`]): to the relay, to `ciaddr` through the
//! IP stack, broadcast on the arrival interface, or, for a client that has no address yet,
//! unicast at the link layer to `chaddr` through a packet socket (`AF_PACKET`, which needs
//! `CAP_NET_RAW` when it is opened; without it those replies are broadcast instead).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdp};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::decide::Dest;
use crate::lease::Hardware;

/// An IPv4 interface of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Name (`eth1`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// IPv4 addresses, primary first.
    pub addrs: Vec<Ipv4Addr>,
    /// Link-layer address, if Ethernet-like.
    pub mac: Option<[u8; 6]>,
}

/// Every interface with its IPv4 addresses and MAC, from `getifaddrs`.
pub fn interfaces() -> io::Result<Vec<Iface>> {
    let mut by_name: Vec<Iface> = Vec::new();
    for a in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        let pos = match by_name.iter().position(|i| i.name == a.interface_name) {
            Some(p) => p,
            None => {
                let index = nix::net::if_::if_nametoindex(a.interface_name.as_str()).unwrap_or(0);
                by_name.push(Iface {
                    name: a.interface_name.clone(),
                    index,
                    addrs: Vec::new(),
                    mac: None,
                });
                by_name.len() - 1
            }
        };
        let Some(addr) = a.address else { continue };
        if let Some(sin) = addr.as_sockaddr_in() {
            by_name[pos].addrs.push(sin.ip());
        } else if let Some(ll) = addr.as_link_addr()
            && let Some(mac) = ll.addr()
        {
            by_name[pos].mac = Some(mac);
        }
    }
    Ok(by_name)
}

/// A bound server socket, before the runtime takes it over.
#[derive(Debug)]
pub struct Bound {
    sock: StdUdp,
    /// The local port (67, `-p`, or 4011 for the PXE boot server port).
    pub port: u16,
    /// The interface it is bound to (`None`: all, with `IP_PKTINFO`).
    pub iface: Option<Iface>,
}

impl Bound {
    /// Hand the socket to the tokio runtime (call from within it).
    pub fn listen(self) -> io::Result<Listener> {
        Ok(Listener {
            sock: Arc::new(UdpSocket::from_std(self.sock)?),
            port: self.port,
            iface: self.iface,
        })
    }
}

/// A receiving socket.
#[derive(Debug, Clone)]
pub struct Listener {
    sock: Arc<UdpSocket>,
    /// The local port.
    pub port: u16,
    /// The interface it is bound to (`None`: all, with `IP_PKTINFO`).
    pub iface: Option<Iface>,
}

/// A received datagram.
#[derive(Debug, Clone)]
pub struct Received {
    /// The bytes.
    pub data: Vec<u8>,
    /// Sender.
    pub from: SocketAddrV4,
    /// Arrival interface index, when known.
    pub ifindex: Option<u32>,
    /// The local port it arrived on.
    pub port: u16,
}

fn udp_socket(port: u16, device: Option<&str>) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    if let Some(d) = device {
        s.bind_device(Some(d.as_bytes()))?;
    }
    setsockopt(&s, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
    s.set_nonblocking(true)?;
    s.bind(&SockAddr::from(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        port,
    ))))?;
    let what = match device {
        Some(d) => format!("udp port {port} on {d}"),
        None => format!("udp port {port}"),
    };
    pxe_daemon::crowd_socket::grow_and_log(&s, &what);
    Ok(s)
}

/// Open the server sockets: one per named interface, or one for all.
pub fn bind(port: u16, names: &[String]) -> io::Result<(Vec<Bound>, Sender)> {
    let all = interfaces()?;
    let mut listeners = Vec::new();
    let mut by_index = HashMap::new();
    let any: StdUdp;
    if names.is_empty() {
        let s = udp_socket(port, None)?;
        let std: StdUdp = s.into();
        any = std.try_clone()?;
        listeners.push(Bound {
            sock: std,
            port,
            iface: None,
        });
    } else {
        let mut first: Option<StdUdp> = None;
        for n in names {
            let iface = all.iter().find(|i| &i.name == n).cloned().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no interface named {n}"))
            })?;
            let s = udp_socket(port, Some(n))?;
            let std: StdUdp = s.into();
            by_index.insert(iface.index, std.try_clone()?);
            if first.is_none() {
                first = Some(std.try_clone()?);
            }
            listeners.push(Bound {
                sock: std,
                port,
                iface: Some(iface),
            });
        }
        any = first.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no interface"))?;
    }
    let packet = match packet_socket() {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(
                "no packet socket ({e}): replies to clients without an address will be broadcast"
            );
            None
        }
    };
    let sender = Sender {
        any,
        by_index,
        packet,
        server_port: port,
        client_port: port.wrapping_add(1),
        ifaces: all,
    };
    Ok((listeners, sender))
}

/// Room for one datagram (DHCP messages are at most a few hundred bytes; 4 KiB keeps any
/// oversized one whole enough to be refused by the parser rather than cut).
pub const RECV_BUFFER: usize = 4096;

impl Listener {
    /// Receive one queued datagram without waiting, with its arrival interface; `Ok(None)`
    /// when nothing is queued. `buf` is scratch space of [`RECV_BUFFER`] bytes, reused
    /// between calls; the datagram is copied out of it.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        loop {
            let r = self.sock.try_io(Interest::READABLE, || {
                let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo);
                let mut iov = [io::IoSliceMut::new(&mut *buf)];
                let fd = self.sock.as_raw_fd();
                let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())
                    .map_err(io::Error::from)?;
                let mut ifindex = None;
                if let Ok(cm) = msg.cmsgs() {
                    for c in cm {
                        if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
                            ifindex = u32::try_from(info.ipi_ifindex).ok();
                        }
                    }
                }
                let from = msg
                    .address
                    .map(|a| SocketAddrV4::new(a.ip(), a.port()))
                    .unwrap_or_else(|| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
                Ok((msg.bytes, from, ifindex))
            });
            match r {
                Ok((n, from, ifindex)) => {
                    return Ok(Some(Received {
                        data: buf.get(..n).unwrap_or(buf).to_vec(),
                        from,
                        ifindex: self.iface.as_ref().map(|i| i.index).or(ifindex),
                        port: self.port,
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Wait until one of `listeners` has a datagram queued (cancel safe: it only waits for
/// readiness; [`Listener::try_recv`] then takes the datagrams). Never ready without listeners.
pub async fn any_readable(listeners: &[Listener]) -> io::Result<()> {
    std::future::poll_fn(|cx| {
        for l in listeners {
            if let std::task::Poll::Ready(r) = l.sock.poll_recv_ready(cx) {
                return std::task::Poll::Ready(r);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// A packet socket for link-layer unicast (cooked: the kernel adds the Ethernet header).
#[derive(Debug)]
struct PacketSocket(Socket);

fn packet_socket() -> io::Result<PacketSocket> {
    let s = Socket::new(
        Domain::PACKET,
        Type::DGRAM,
        Some(Protocol::from(i32::from(0x0800u16.to_be()))),
    )?;
    Ok(PacketSocket(s))
}

/// `sockaddr_ll` for sending to `mac` on interface `ifindex`.
#[allow(unsafe_code)]
fn link_addr(ifindex: u32, mac: &[u8]) -> SockAddr {
    let mut ll = nix::libc::sockaddr_ll {
        sll_family: nix::libc::AF_PACKET as u16,
        sll_protocol: 0x0800u16.to_be(),
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: [0; 8],
    };
    for (d, s) in ll.sll_addr.iter_mut().zip(mac.iter().take(6)) {
        *d = *s;
    }
    // SAFETY: `init` receives a zeroed `sockaddr_storage`, which is large enough and aligned
    // for any socket address; we write one fully initialised `sockaddr_ll` at its start and
    // report that length. No other memory is touched.
    let ((), addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            std::ptr::write(storage.cast::<nix::libc::sockaddr_ll>(), ll);
            *len = std::mem::size_of::<nix::libc::sockaddr_ll>() as nix::libc::socklen_t;
            Ok(())
        })
    }
    .unwrap_or_else(|_: io::Error| {
        (
            (),
            SockAddr::from(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        )
    });
    addr
}

/// The one's complement sum of 16-bit words.
fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// An IPv4 + UDP datagram (what a cooked packet socket sends), checksums filled in.
pub fn ip_udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x10]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let ipsum = fold(sum16(0, &p[..20]));
    p[10..12].copy_from_slice(&ipsum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let mut sum = fold(sum16(sum16(0, &pseudo), &p[20..]));
    if sum == 0 {
        sum = 0xffff;
    }
    p[26..28].copy_from_slice(&sum.to_be_bytes());
    p
}

/// Sends replies; usable from any thread (the sockets are non-blocking and a UDP send does
/// not wait).
#[derive(Debug)]
pub struct Sender {
    any: StdUdp,
    by_index: HashMap<u32, StdUdp>,
    packet: Option<PacketSocket>,
    /// Our port (67, or `-p`).
    pub server_port: u16,
    /// The clients' port (68, or `-p` + 1).
    pub client_port: u16,
    ifaces: Vec<Iface>,
}

impl Sender {
    /// Another sender on the same sockets (for a second thread).
    pub fn try_clone(&self) -> io::Result<Sender> {
        let mut by_index = HashMap::new();
        for (k, v) in &self.by_index {
            by_index.insert(*k, v.try_clone()?);
        }
        Ok(Sender {
            any: self.any.try_clone()?,
            by_index,
            packet: match &self.packet {
                Some(p) => Some(PacketSocket(p.0.try_clone()?)),
                None => None,
            },
            server_port: self.server_port,
            client_port: self.client_port,
            ifaces: self.ifaces.clone(),
        })
    }

    /// A sender on one loopback socket that sends to `client_port` (tests of the server
    /// path: with `-s 127.0.0.1` every reply goes there).
    #[cfg(test)]
    pub(crate) fn loopback(client_port: u16) -> io::Result<Sender> {
        Ok(Sender {
            any: StdUdp::bind((Ipv4Addr::LOCALHOST, 0))?,
            by_index: HashMap::new(),
            packet: None,
            server_port: 67,
            client_port,
            ifaces: Vec::new(),
        })
    }

    /// The interface with this index, refreshing the list once if it is unknown.
    pub fn iface(&mut self, index: u32) -> Option<Iface> {
        if let Some(i) = self.ifaces.iter().find(|i| i.index == index) {
            return Some(i.clone());
        }
        self.ifaces = interfaces().ok()?;
        self.ifaces.iter().find(|i| i.index == index).cloned()
    }

    /// Can link-layer unicast be done (a packet socket is open)?
    pub fn can_link_unicast(&self) -> bool {
        self.packet.is_some()
    }

    fn sock_for(&self, ifindex: Option<u32>) -> &StdUdp {
        ifindex
            .and_then(|i| self.by_index.get(&i))
            .unwrap_or(&self.any)
    }

    /// Send on the socket of `ifindex` to `to`, forcing the outgoing interface with
    /// `IP_PKTINFO` when the socket serves every interface.
    fn send_via(&self, bytes: &[u8], to: SocketAddrV4, ifindex: Option<u32>) -> io::Result<()> {
        let sock = self.sock_for(ifindex);
        match ifindex {
            Some(i) if !self.by_index.contains_key(&i) => {
                let info = nix::libc::in_pktinfo {
                    ipi_ifindex: i as i32,
                    ipi_spec_dst: nix::libc::in_addr { s_addr: 0 },
                    ipi_addr: nix::libc::in_addr { s_addr: 0 },
                };
                let cmsg = [ControlMessage::Ipv4PacketInfo(&info)];
                let iov = [io::IoSlice::new(bytes)];
                let dst = SockaddrIn::from(to);
                sendmsg(
                    sock.as_fd().as_raw_fd(),
                    &iov,
                    &cmsg,
                    MsgFlags::empty(),
                    Some(&dst),
                )
                .map_err(io::Error::from)?;
            }
            _ => {
                sock.send_to(bytes, to)?;
            }
        }
        Ok(())
    }

    /// Send a reply encoded as `bytes` to `dest`; `ifindex` is the arrival interface.
    /// Returns what was actually done (for the log).
    pub fn send(
        &mut self,
        bytes: &[u8],
        dest: &Dest,
        ifindex: Option<u32>,
    ) -> io::Result<&'static str> {
        match dest {
            Dest::Relay(gi) => {
                let port = if gi.is_loopback() {
                    self.client_port
                } else {
                    self.server_port
                };
                self.sock_for(ifindex)
                    .send_to(bytes, SocketAddrV4::new(*gi, port))?;
                Ok("relay")
            }
            Dest::Unicast(ip) => {
                self.sock_for(ifindex)
                    .send_to(bytes, SocketAddrV4::new(*ip, self.client_port))?;
                Ok("unicast")
            }
            Dest::Peer(to) => {
                self.sock_for(ifindex).send_to(bytes, *to)?;
                Ok("peer")
            }
            Dest::Broadcast => {
                self.send_via(
                    bytes,
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, self.client_port),
                    ifindex,
                )?;
                Ok("broadcast")
            }
            Dest::Link { ip, hw } => {
                let iface = ifindex.and_then(|i| self.iface(i));
                match (&self.packet, iface) {
                    (Some(p), Some(iface)) if hw.htype == 1 && hw.addr().len() == 6 => {
                        let src = iface
                            .addrs
                            .first()
                            .copied()
                            .unwrap_or(Ipv4Addr::UNSPECIFIED);
                        let frame = ip_udp(src, *ip, self.server_port, self.client_port, bytes);
                        p.0.send_to(&frame, &link_addr(iface.index, hw.addr()))?;
                        Ok("link")
                    }
                    _ => {
                        self.send_via(
                            bytes,
                            SocketAddrV4::new(Ipv4Addr::BROADCAST, self.client_port),
                            ifindex,
                        )?;
                        Ok("broadcast")
                    }
                }
            }
        }
    }
}

/// The hardware address text of a link destination (for logs).
pub fn hw_text(hw: &Hardware) -> String {
    hw.colon()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        let p = ip_udp(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 10),
            67,
            68,
            b"hello dhcp",
        );
        assert_eq!(p.len(), 20 + 8 + 10);
        // A correct header sums to 0xffff (folded complement 0).
        assert_eq!(fold(sum16(0, &p[..20])), 0);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&p[12..20]);
        pseudo.extend_from_slice(&[0, 17, 0, 18]);
        assert_eq!(fold(sum16(sum16(0, &pseudo), &p[20..])), 0);
        assert_eq!(&p[20..24], &[0, 67, 0, 68]);
    }

    #[test]
    fn loopback_is_listed() {
        let ifs = interfaces().expect("getifaddrs");
        let lo = ifs.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.addrs.contains(&Ipv4Addr::LOCALHOST));
        assert!(lo.index > 0);
    }
}
