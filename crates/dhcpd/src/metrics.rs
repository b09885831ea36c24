//! Counters for operators: messages received and sent per type, drops, lease commits and
//! their batching, the time from receiving a request to sending its committed reply, and
//! leases in use per pool. Rendered in the Prometheus text format and written to a file
//! (`--metrics-file`), atomically, every few seconds and at exit.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (microseconds) of the reply latency histogram.
const BUCKETS_US: [u64; 11] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

const TYPES: [&str; 10] = [
    "bootrequest",
    "discover",
    "offer",
    "request",
    "decline",
    "ack",
    "nak",
    "release",
    "inform",
    "other",
];

fn slot(t: Option<u8>) -> usize {
    match t {
        None | Some(0) => 0,
        Some(n @ 1..=8) => usize::from(n),
        Some(_) => 9,
    }
}

/// The counters. Shared between the receiving task and the committer.
#[derive(Debug, Default)]
pub struct Metrics {
    received: [AtomicU64; 10],
    sent: [AtomicU64; 10],
    malformed: AtomicU64,
    ignored: AtomicU64,
    send_errors: AtomicU64,
    commits: AtomicU64,
    committed_leases: AtomicU64,
    commit_errors: AtomicU64,
    rewrites: AtomicU64,
    latency: [AtomicU64; 12],
    latency_sum_us: AtomicU64,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    pools: Mutex<Vec<(String, u64, u64)>>,
}

/// What to count.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A request of this DHCP type (`None`: BOOTP).
    Received(Option<u8>),
    /// A packet that could not be read.
    Malformed,
    /// A request that got no reply.
    Ignored,
    /// A reply of this type was sent (`None`: BOOTREPLY).
    Sent(Option<u8>),
    /// A reply could not be sent.
    SendError,
    /// One commit (one sync) of this many leases.
    Commit(usize),
    /// A commit failed.
    CommitError,
    /// The lease file was rewritten.
    Rewrite,
    /// A reply that waited for its commit left after this long.
    Latency(Duration),
    /// A reload (`true`: applied).
    Reload(bool),
}

impl Metrics {
    /// Count an event.
    pub fn count(&self, e: Event) {
        let add = |c: &AtomicU64, n: u64| {
            c.fetch_add(n, Ordering::Relaxed);
        };
        match e {
            Event::Received(t) => add(&self.received[slot(t)], 1),
            Event::Malformed => add(&self.malformed, 1),
            Event::Ignored => add(&self.ignored, 1),
            Event::Sent(t) => add(&self.sent[slot(t)], 1),
            Event::SendError => add(&self.send_errors, 1),
            Event::Commit(n) => {
                add(&self.commits, 1);
                add(&self.committed_leases, n as u64);
            }
            Event::CommitError => add(&self.commit_errors, 1),
            Event::Rewrite => add(&self.rewrites, 1),
            Event::Latency(d) => {
                let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
                let i = BUCKETS_US
                    .iter()
                    .position(|b| us <= *b)
                    .unwrap_or(BUCKETS_US.len());
                add(&self.latency[i], 1);
                add(&self.latency_sum_us, us);
            }
            Event::Reload(ok) => add(
                if ok {
                    &self.reloads
                } else {
                    &self.reload_errors
                },
                1,
            ),
        }
    }

    /// Replace the per-pool usage: (pool, leases in use, size).
    pub fn set_pools(&self, pools: Vec<(String, u64, u64)>) {
        if let Ok(mut p) = self.pools.lock() {
            *p = pools;
        }
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        s.push_str("# HELP dhcpd_received_total Requests received, by DHCP message type.\n# TYPE dhcpd_received_total counter\n");
        for (i, t) in TYPES.iter().enumerate() {
            let _ = writeln!(
                s,
                "dhcpd_received_total{{type=\"{t}\"}} {}",
                get(&self.received[i])
            );
        }
        s.push_str("# HELP dhcpd_sent_total Replies sent, by DHCP message type.\n# TYPE dhcpd_sent_total counter\n");
        for (i, t) in TYPES.iter().enumerate() {
            let t = if i == 0 { "bootreply" } else { t };
            let _ = writeln!(s, "dhcpd_sent_total{{type=\"{t}\"}} {}", get(&self.sent[i]));
        }
        for (name, help, c) in [
            (
                "dhcpd_malformed_total",
                "Packets that could not be read.",
                &self.malformed,
            ),
            (
                "dhcpd_ignored_total",
                "Requests that got no reply.",
                &self.ignored,
            ),
            (
                "dhcpd_send_errors_total",
                "Replies that could not be sent.",
                &self.send_errors,
            ),
            (
                "dhcpd_lease_commits_total",
                "Lease file syncs (one per batch of replies).",
                &self.commits,
            ),
            (
                "dhcpd_leases_committed_total",
                "Leases written to the lease file.",
                &self.committed_leases,
            ),
            (
                "dhcpd_lease_commit_errors_total",
                "Lease commits that failed (their replies were not sent).",
                &self.commit_errors,
            ),
            (
                "dhcpd_lease_file_rewrites_total",
                "Rewrites of the lease file.",
                &self.rewrites,
            ),
            (
                "dhcpd_reloads_total",
                "Configuration reloads applied.",
                &self.reloads,
            ),
            (
                "dhcpd_reload_errors_total",
                "Configuration reloads refused.",
                &self.reload_errors,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(c)
            );
        }
        s.push_str("# HELP dhcpd_reply_latency_seconds Time from a request to its committed reply.\n# TYPE dhcpd_reply_latency_seconds histogram\n");
        let mut cum = 0;
        for (i, b) in BUCKETS_US.iter().enumerate() {
            cum += get(&self.latency[i]);
            let _ = writeln!(
                s,
                "dhcpd_reply_latency_seconds_bucket{{le=\"{}\"}} {cum}",
                *b as f64 / 1e6
            );
        }
        cum += get(&self.latency[BUCKETS_US.len()]);
        let _ = writeln!(s, "dhcpd_reply_latency_seconds_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            s,
            "dhcpd_reply_latency_seconds_sum {}\ndhcpd_reply_latency_seconds_count {cum}",
            get(&self.latency_sum_us) as f64 / 1e6
        );
        s.push_str("# HELP dhcpd_pool_leases_active Active leases per pool.\n# TYPE dhcpd_pool_leases_active gauge\n");
        let pools = self.pools.lock().map(|p| p.clone()).unwrap_or_default();
        for (name, used, _) in &pools {
            let _ = writeln!(s, "dhcpd_pool_leases_active{{pool=\"{name}\"}} {used}");
        }
        s.push_str("# HELP dhcpd_pool_size Addresses per pool.\n# TYPE dhcpd_pool_size gauge\n");
        for (name, _, size) in &pools {
            let _ = writeln!(s, "dhcpd_pool_size{{pool=\"{name}\"}} {size}");
        }
        s
    }

    /// Write the text to `path` atomically (temporary file, rename).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.count(Event::Received(Some(1)));
        m.count(Event::Received(None));
        m.count(Event::Sent(Some(5)));
        m.count(Event::Commit(3));
        m.count(Event::Latency(Duration::from_micros(700)));
        m.set_pools(vec![("10.0.0.0/24#0".into(), 2, 11)]);
        let t = m.render();
        assert!(t.contains("dhcpd_received_total{type=\"discover\"} 1"));
        assert!(t.contains("dhcpd_received_total{type=\"bootrequest\"} 1"));
        assert!(t.contains("dhcpd_sent_total{type=\"ack\"} 1"));
        assert!(t.contains("dhcpd_leases_committed_total 3"));
        assert!(t.contains("dhcpd_reply_latency_seconds_bucket{le=\"0.0005\"} 0"));
        assert!(t.contains("dhcpd_reply_latency_seconds_bucket{le=\"0.001\"} 1"));
        assert!(t.contains("dhcpd_pool_leases_active{pool=\"10.0.0.0/24#0\"} 2"));
    }
}
