//! The fetches after DHCP, with sockets: TFTP reads driven by [`crate::tftp::Read`] with
//! retransmission, and HTTP GETs (one connection each, as firmware makes them), both from
//! the machine's leased address when the storm binds to it.

use crate::firmware::TftpOptions;
use crate::tftp::{self, Read, Step};
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, UdpSocket};
use tokio::time::timeout;

/// Timeouts and retries of the fetches.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub tftp_timeout: Duration,
    pub tftp_tries: u32,
    pub http_timeout: Duration,
}

/// What a fetch got.
#[derive(Debug, Default)]
pub struct Got {
    pub bytes: u64,
    pub retries: u32,
    /// For an HTTP fetch, the body when it is small (an iPXE script names what comes next).
    pub body: Option<String>,
}

/// A failed fetch, with the retries it took before giving up.
#[derive(Debug)]
pub struct Failed {
    pub why: String,
    pub retries: u32,
}

/// Reads `file` from `server` over TFTP from `source` (any address when unspecified).
pub async fn tftp_read(
    source: Ipv4Addr,
    server: SocketAddr,
    file: &str,
    opts: TftpOptions,
    limits: Limits,
) -> Result<Got, Failed> {
    let mut retries = 0;
    if opts.probe_size {
        probe_size(source, server, file, opts, limits, &mut retries).await?;
    }
    let socket = bind_udp(source).await.map_err(|e| Failed {
        why: format!("{e:#}"),
        retries,
    })?;
    let request = tftp::rrq(file, opts, true);
    let mut read = Read::new();
    let mut peer: Option<SocketAddr> = None;
    let mut last_sent = request.clone();
    let _ = socket.send_to(&request, server).await;
    let mut buf = vec![0u8; usize::from(opts.blksize) + 4];
    let mut tries = 1;
    loop {
        let got = timeout(limits.tftp_timeout, socket.recv_from(&mut buf)).await;
        let (n, from) = match got {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                return Err(Failed {
                    why: format!("receiving: {e}"),
                    retries,
                });
            }
            Err(_) => {
                if tries >= limits.tftp_tries {
                    return Err(Failed {
                        why: format!("no answer after {tries} tries"),
                        retries,
                    });
                }
                tries += 1;
                retries += 1;
                let to = peer.unwrap_or(server);
                if let Some(ack) = read.retransmission() {
                    last_sent = ack;
                }
                let _ = socket.send_to(&last_sent, to).await;
                continue;
            }
        };
        // The first answer fixes the server's transfer port; others are ignored.
        match peer {
            None if from.ip() == server.ip() => peer = Some(from),
            Some(p) if p == from => {}
            _ => continue,
        }
        tries = 1;
        match read.on_packet(&buf[..n]) {
            Step::Send(p) => {
                let _ = socket.send_to(&p, from).await;
                last_sent = p;
            }
            Step::Wait => {}
            Step::Done { bytes, last_ack } => {
                let _ = socket.send_to(&last_ack, from).await;
                return Ok(Got {
                    bytes,
                    retries,
                    body: None,
                });
            }
            Step::Failed(why) => return Err(Failed { why, retries }),
        }
    }
}

/// OVMF's probe: RRQ with `tsize`, the OACK, then ERROR 8 to end it.
async fn probe_size(
    source: Ipv4Addr,
    server: SocketAddr,
    file: &str,
    opts: TftpOptions,
    limits: Limits,
    retries: &mut u32,
) -> Result<(), Failed> {
    let socket = bind_udp(source).await.map_err(|e| Failed {
        why: format!("{e:#}"),
        retries: *retries,
    })?;
    let request = tftp::rrq(file, opts, true);
    let mut buf = vec![0u8; 1500];
    for attempt in 0..limits.tftp_tries {
        if attempt > 0 {
            *retries += 1;
        }
        let _ = socket.send_to(&request, server).await;
        if let Ok(Ok((n, from))) = timeout(limits.tftp_timeout, socket.recv_from(&mut buf)).await {
            let pkt = &buf[..n];
            if let Some(why) = tftp::error_of(pkt) {
                return Err(Failed {
                    why: format!("size probe: {why}"),
                    retries: *retries,
                });
            }
            // A server without options answers with DATA; either way the probe ends.
            let _ = socket.send_to(&tftp::abort_after_oack(), from).await;
            return Ok(());
        }
    }
    Err(Failed {
        why: "size probe: no answer".into(),
        retries: *retries,
    })
}

async fn bind_udp(source: Ipv4Addr) -> Result<UdpSocket> {
    UdpSocket::bind(SocketAddr::new(IpAddr::V4(source), 0))
        .await
        .with_context(|| format!("binding a UDP socket to {source} (is the address local?)"))
}

/// GETs `url` from `source`; a status other than 2xx is a failure.
pub async fn http_get(source: Ipv4Addr, url: &str, limits: Limits) -> Result<Got, Failed> {
    match timeout(limits.http_timeout, get(source, url)).await {
        Ok(Ok(got)) => Ok(got),
        Ok(Err(e)) => Err(Failed {
            why: format!("{e:#}"),
            retries: 0,
        }),
        Err(_) => Err(Failed {
            why: format!("no answer within {:?}", limits.http_timeout),
            retries: 0,
        }),
    }
}

/// Bodies up to this size are kept (scripts); larger ones are only counted.
const KEEP_BODY: u64 = 64 * 1024;

async fn get(source: Ipv4Addr, url: &str) -> Result<Got> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("`{url}` is not a URL"))?;
    let host = uri.host().ok_or_else(|| anyhow!("`{url}` names no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| anyhow!("{host} has no IPv4 address"))?;
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .with_context(|| format!("binding to {source}"))?;
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(
            http::header::HOST,
            uri.authority().map_or(host, |a| a.as_str()),
        )
        .header(http::header::USER_AGENT, "pxe-storm")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    if !status.is_success() {
        bail!("HTTP {status}");
    }
    let mut body = response.into_body();
    let mut bytes = 0u64;
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            bytes += data.len() as u64;
            if bytes <= KEEP_BODY {
                kept.extend_from_slice(data);
            }
        }
    }
    Ok(Got {
        bytes,
        retries: 0,
        body: (bytes <= KEEP_BODY).then(|| String::from_utf8_lossy(&kept).into_owned()),
    })
}
