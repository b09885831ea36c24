//! One simulated machine's boot, phase by phase: DHCP (DISCOVER, OFFER, REQUEST, ACK with
//! the firmware's retransmission schedule), its boot loader, the loader's config, the
//! kernel, the answer file and a file of the install tree.

use crate::dhcp::{Client, Reply};
use crate::dhcp_port::DhcpPort;
use crate::fetch::{self, Failed, Got, Limits};
use crate::firmware::Firmware;
use crate::plan::{Facts, Target, Template, target_of};
use crate::report::{MachineRun, Phase, Step};
use dhcproto::v4::MessageType;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

/// What every machine of a storm does after DHCP.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// Per firmware: the loader's config (pxelinux.cfg/…, grub.cfg, …).
    pub config: BTreeMap<Firmware, Template>,
    pub kernel: Option<Template>,
    pub answer: Option<Template>,
    pub tree: Option<Template>,
}

/// The storm-wide settings a machine needs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub script: Script,
    pub limits: Limits,
    /// DHCP: the first wait for a reply, doubled at each retransmission (4 s in PXE ROMs).
    pub dhcp_timeout: Duration,
    pub dhcp_tries: u32,
    /// Fetch from the leased address (the generator's namespace holds every address of
    /// the pool) rather than from the generator's own.
    pub bind_leased: bool,
    pub tftp_port: u16,
    /// `--no-dhcp ADDR --loader FILE`: no DHCP; the boot server and loader DHCP would
    /// have named.
    pub no_dhcp: Option<(Ipv4Addr, String)>,
}

pub async fn boot(
    port: Option<Arc<DhcpPort>>,
    client: Client,
    index: u32,
    settings: Arc<Settings>,
    storm_start: Instant,
) -> MachineRun {
    let mut run = MachineRun {
        mac: client.mac_colons(),
        firmware: client.firmware,
        steps: Vec::new(),
        finished_at: None,
    };
    let started = Instant::now();
    let leased = match (&settings.no_dhcp, &port) {
        (Some((server, loader)), _) => Ok((without_dhcp(&client, *server, loader), None)),
        (None, Some(port)) => lease(port, &client, &settings)
            .await
            .map(|(reply, retries)| (reply, Some(retries))),
        (None, None) => Err(Failed {
            why: "no DHCP port".into(),
            retries: 0,
        }),
    };
    let lease = match leased {
        Ok((reply, retries)) => {
            if let Some(retries) = retries {
                run.steps.push(ok_step(Phase::Dhcp, started, retries, 0));
            }
            reply
        }
        Err(f) => {
            run.steps.push(failed_step(Phase::Dhcp, started, f));
            return run;
        }
    };
    let boot_server = boot_server(&lease);
    let facts = Facts {
        mac: &client.mac,
        ip: lease.address,
        index,
        firmware: client.firmware,
        boot_server,
    };
    let source = if settings.bind_leased {
        lease.address
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    let mut plan: Vec<(Phase, Target)> = Vec::new();
    match &lease.boot_file {
        Some(file) => plan.push((Phase::Loader, target_of(file))),
        None => {
            run.steps.push(Step {
                phase: Phase::Loader,
                took: Duration::ZERO,
                retries: 0,
                bytes: 0,
                failure: Some("the DHCP answer has no boot file".into()),
                target: None,
            });
            return run;
        }
    }
    let s = &settings.script;
    for (phase, template) in [
        (Phase::Config, s.config.get(&client.firmware)),
        (Phase::Kernel, s.kernel.as_ref()),
        (Phase::Answer, s.answer.as_ref()),
        (Phase::Tree, s.tree.as_ref()),
    ] {
        if let Some(t) = template {
            plan.push((phase, t.fill(&facts)));
        }
    }
    for (phase, target) in plan {
        let t0 = Instant::now();
        let opts = if phase == Phase::Loader {
            client.firmware.loader_options()
        } else {
            client.firmware.next_options()
        };
        let got: Result<Got, Failed> = match &target {
            Target::Http(url) => fetch::http_get(source, url, settings.limits).await,
            Target::Tftp { server, file } => match tftp_server(server.as_deref(), boot_server) {
                Ok(ip) => {
                    let to = SocketAddr::from((ip, settings.tftp_port));
                    fetch::tftp_read(source, to, file, opts, settings.limits).await
                }
                Err(why) => Err(Failed { why, retries: 0 }),
            },
        };
        match got {
            Ok(g) => run.steps.push(ok_step(phase, t0, g.retries, g.bytes)),
            Err(f) => {
                let mut step = failed_step(phase, t0, f);
                step.target = Some(describe(&target));
                run.steps.push(step);
                return run;
            }
        }
    }
    run.finished_at = Some(storm_start.elapsed());
    run
}

fn describe(t: &Target) -> String {
    match t {
        Target::Http(url) => url.clone(),
        Target::Tftp { file, .. } => format!("tftp {file}"),
    }
}

fn ok_step(phase: Phase, t0: Instant, retries: u32, bytes: u64) -> Step {
    Step {
        phase,
        took: t0.elapsed(),
        retries,
        bytes,
        failure: None,
        target: None,
    }
}

fn failed_step(phase: Phase, t0: Instant, f: Failed) -> Step {
    Step {
        phase,
        took: t0.elapsed(),
        retries: f.retries,
        bytes: 0,
        failure: Some(f.why),
        target: None,
    }
}

/// What DHCP would have answered, for `--no-dhcp`: the boot server and the loader, no
/// address (transfers come from the host's own).
fn without_dhcp(client: &Client, server: Ipv4Addr, loader: &str) -> Reply {
    Reply {
        xid: 0,
        kind: MessageType::Ack,
        chaddr: client.mac,
        address: Ipv4Addr::UNSPECIFIED,
        server_id: None,
        next_server: server,
        tftp_server: None,
        boot_file: Some(loader.to_owned()),
    }
}

/// The boot server: option 66 when it is an address, else siaddr, else the DHCP server.
fn boot_server(reply: &Reply) -> Ipv4Addr {
    if let Some(ip) = reply.tftp_server.as_deref().and_then(|s| s.parse().ok()) {
        return ip;
    }
    if !reply.next_server.is_unspecified() {
        return reply.next_server;
    }
    reply.server_id.unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn tftp_server(named: Option<&str>, boot_server: Ipv4Addr) -> Result<Ipv4Addr, String> {
    match named {
        Some(s) => s
            .parse()
            .map_err(|_| format!("tftp://{s}: the server must be an IPv4 address")),
        None if boot_server.is_unspecified() => {
            Err("DHCP named no boot server (no siaddr, option 66 or server id)".into())
        }
        None => Ok(boot_server),
    }
}

/// DISCOVER until an OFFER, then REQUEST until an ACK; a NAK starts over. Returns the ACK
/// and how many retransmissions it took.
async fn lease(
    port: &DhcpPort,
    client: &Client,
    settings: &Settings,
) -> Result<(Reply, u32), Failed> {
    let xid = fastrand::u32(..);
    let mut replies = port.listen(xid);
    let started = Instant::now();
    let result = exchange(port, client, settings, xid, &mut replies, started).await;
    port.forget(xid);
    result
}

async fn exchange(
    port: &DhcpPort,
    client: &Client,
    settings: &Settings,
    xid: u32,
    replies: &mut UnboundedReceiver<Reply>,
    started: Instant,
) -> Result<(Reply, u32), Failed> {
    let mut retries = 0;
    // A NAK starts over with a DISCOVER, as firmware does, as many times as it retries.
    for _round in 0..settings.dhcp_tries {
        let secs = || u16::try_from(started.elapsed().as_secs()).unwrap_or(u16::MAX);
        let offer = ask(
            port,
            settings,
            replies,
            &mut retries,
            || client.discover(xid, secs()),
            |r| r.kind == MessageType::Offer && r.chaddr == client.mac,
        )
        .await
        .map_err(|why| Failed {
            why: format!("DISCOVER: {why}"),
            retries,
        })?;
        let ack = ask(
            port,
            settings,
            replies,
            &mut retries,
            || client.request(xid, secs(), &offer),
            |r| matches!(r.kind, MessageType::Ack | MessageType::Nak) && r.chaddr == client.mac,
        )
        .await
        .map_err(|why| Failed {
            why: format!("REQUEST: {why}"),
            retries,
        })?;
        if ack.kind == MessageType::Ack {
            return Ok((ack, retries));
        }
        retries += 1;
    }
    Err(Failed {
        why: format!("NAK {} times", settings.dhcp_tries),
        retries,
    })
}

/// Sends what `packet` builds and waits for a reply `wanted` accepts, retransmitting with
/// a doubling timeout.
async fn ask(
    port: &DhcpPort,
    settings: &Settings,
    replies: &mut UnboundedReceiver<Reply>,
    retries: &mut u32,
    packet: impl Fn() -> Vec<u8>,
    wanted: impl Fn(&Reply) -> bool,
) -> Result<Reply, String> {
    let mut wait = settings.dhcp_timeout;
    for attempt in 0..settings.dhcp_tries {
        if attempt > 0 {
            *retries += 1;
        }
        port.send(&packet())
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, replies.recv()).await {
                Ok(Some(r)) if wanted(&r) => return Ok(r),
                Ok(Some(_)) => continue,
                Ok(None) => return Err("the DHCP socket closed".into()),
                Err(_) => break,
            }
        }
        wait *= 2;
    }
    Err(format!("no answer after {} tries", settings.dhcp_tries))
}
