//! Which local address a request was sent to (`IP_PKTINFO` / `IPV6_PKTINFO`), so the transfer
//! answers from that address even when the service socket is bound to the wildcard address.
//!
//! A multi-homed server (or one with several addresses on one interface) would otherwise reply
//! from whatever source address the routing table picks, and PXE ROMs drop DATA that does not
//! come from the address they sent the RRQ to. tftpd-hpa does the same.

use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Asks the kernel to report destination addresses on `sock`. Errors for the family the socket
/// does not have are ignored; a socket that reports nothing just answers from the wildcard.
pub fn enable(sock: &impl AsFd) {
    let _ = setsockopt(sock, sockopt::Ipv4PacketInfo, &true);
    let _ = setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true);
}

/// One datagram: its length, its sender and, if the kernel said, the address it was sent to.
pub async fn recv_from_to(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    sock.async_io(Interest::READABLE, || recv_once(sock, buf))
        .await
}

fn recv_once(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::in6_pktinfo);
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut dst = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv4PacketInfo(i) => {
                dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr))));
            }
            ControlMessageOwned::Ipv6PacketInfo(i) => {
                dst = Some(IpAddr::V6(Ipv6Addr::from(i.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    let peer = msg
        .address
        .as_ref()
        .and_then(to_std)
        .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
    Ok((msg.bytes, peer, dst))
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    if let Some(v6) = a.as_sockaddr_in6() {
        return Some(SocketAddr::V6(SocketAddrV6::from(*v6)));
    }
    None
}

/// The address a transfer socket should bind to: the request's destination when it is a
/// unicast address, else the service socket's own address.
pub fn reply_ip(dst: Option<IpAddr>, service: IpAddr) -> IpAddr {
    match dst {
        Some(IpAddr::V4(v4))
            if !v4.is_broadcast() && !v4.is_multicast() && !v4.is_unspecified() =>
        {
            if service.is_ipv6() {
                IpAddr::V6(v4.to_ipv6_mapped())
            } else {
                IpAddr::V4(v4)
            }
        }
        Some(IpAddr::V6(v6)) if !v6.is_multicast() && !v6.is_unspecified() => IpAddr::V6(v6),
        _ => service,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn reply_ip_rules() {
        let any4: IpAddr = "0.0.0.0".parse().unwrap();
        let any6: IpAddr = "::".parse().unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(reply_ip(Some(a), any4), a);
        assert_eq!(reply_ip(None, any4), any4);
        assert_eq!(
            reply_ip(Some("255.255.255.255".parse().unwrap()), any4),
            any4
        );
        assert_eq!(reply_ip(Some("224.0.0.1".parse().unwrap()), any4), any4);
        assert_eq!(
            reply_ip(Some(a), any6),
            "::ffff:192.0.2.1".parse::<IpAddr>().unwrap()
        );
        let b: IpAddr = "2001:db8::5".parse().unwrap();
        assert_eq!(reply_ip(Some(b), any6), b);
    }

    #[tokio::test]
    async fn reports_the_destination_address() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        enable(&server);
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(b"hi", server.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, from, dst) = recv_from_to(&server, &mut buf).await.unwrap();
        assert_eq!(buf.get(..n), Some(&b"hi"[..]));
        assert_eq!(from, client.local_addr().unwrap());
        assert_eq!(dst, Some("127.0.0.1".parse().unwrap()));
    }
}
