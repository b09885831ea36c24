//! A whole storm: the machines, their arrival times, the run, the summary.

use crate::dhcp::Client;
use crate::dhcp_port::DhcpPort;
use crate::firmware::Mix;
use crate::machine::{Settings, boot};
use crate::report::{OwnCost, Summary, summarize};
use anyhow::Result;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How many machines, of which firmware, arriving when.
#[derive(Clone, Debug)]
pub struct Shape {
    pub machines: u32,
    pub mix: Mix,
    /// Arrivals spread evenly over this long; zero: all at once.
    pub ramp: Duration,
    /// The first three bytes of every MAC (locally administered by default).
    pub mac_prefix: [u8; 3],
}

/// When machine `i` of `n` powers on.
pub fn arrival(i: u32, n: u32, ramp: Duration) -> Duration {
    if n <= 1 || ramp.is_zero() {
        return Duration::ZERO;
    }
    ramp.mul_f64(f64::from(i) / f64::from(n))
}

pub struct Outcome {
    pub summary: Summary,
    pub strays: u64,
    pub took: Duration,
}

/// `RcvbufErrors` of `/proc/net/snmp`'s Udp lines (this network namespace's counter).
pub fn udp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let at = names.iter().position(|n| *n == "RcvbufErrors")?;
    values.get(at)?.parse().ok()
}

pub async fn run(
    shape: &Shape,
    settings: Settings,
    interface: Option<&str>,
    server: SocketAddr,
) -> Result<Outcome> {
    // Without DHCP (`--no-dhcp`) no port 68 is opened.
    let port = match settings.no_dhcp {
        Some(_) => None,
        None => Some(DhcpPort::open(interface, server)?),
    };
    let dispatcher = port
        .as_ref()
        .map(|port| tokio::spawn(Arc::clone(port).dispatch()));
    let settings = Arc::new(settings);
    let cost_before = own_cost();
    let drops_before = udp_rcvbuf_errors();
    let start = Instant::now();
    let mut arrivals = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..shape.machines {
        let at = arrival(i, shape.machines, shape.ramp);
        arrivals.push(at);
        let client = Client::numbered(shape.mac_prefix, i, shape.mix.pick(i as usize));
        let (port, settings) = (port.clone(), Arc::clone(&settings));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until((start + at).into()).await;
            boot(port, client, i, settings, start).await
        }));
    }
    let mut runs = Vec::with_capacity(tasks.len());
    for t in tasks {
        runs.push(t.await?);
    }
    let took = start.elapsed();
    if let Some(d) = dispatcher {
        d.abort();
    }
    let cost_after = own_cost();
    let own = OwnCost {
        cpu_seconds: cost_after.cpu_seconds - cost_before.cpu_seconds,
        peak_rss_mib: cost_after.peak_rss_mib,
        udp_drops: None,
    };
    let own_drops = match (drops_before, udp_rcvbuf_errors()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let mut summary = summarize(&runs, &arrivals, own);
    // The kernel's count of UDP datagrams dropped in this namespace for want of room in a
    // receiving socket: the generator's own losses, which would otherwise look like the
    // servers'.
    summary.own.udp_drops = own_drops;
    Ok(Outcome {
        summary,
        strays: port.map_or(0, |p| p.strays.load(Ordering::Relaxed)),
        took,
    })
}

/// The process's CPU time so far and its peak resident memory.
pub fn own_cost() -> OwnCost {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs =
                |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1_000_000.0;
            OwnCost {
                cpu_seconds: secs(u.user_time()) + secs(u.system_time()),
                // ru_maxrss is in KiB on Linux.
                peak_rss_mib: u.max_rss() as f64 / 1024.0,
                udp_drops: None,
            }
        }
        Err(_) => OwnCost::default(),
    }
}

/// Raises the open-file limit to its hard maximum: every machine in flight holds a socket.
pub fn raise_file_limit() -> Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_spread_over_the_ramp() {
        let ramp = Duration::from_secs(10);
        assert_eq!(arrival(0, 100, ramp), Duration::ZERO);
        assert_eq!(arrival(50, 100, ramp), Duration::from_secs(5));
        assert!(arrival(99, 100, ramp) < ramp);
        assert_eq!(arrival(7, 100, Duration::ZERO), Duration::ZERO);
    }
}
