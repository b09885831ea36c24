//! Counters for operators: messages received and sent per type, drops, lease commits and
//! their batching, the time from receiving a request to sending its committed reply, and
//! leases in use per pool. Registered in the shared registry ([`pxe_daemon::metrics`]),
//! rendered as OpenMetrics text and written to a file (`--metrics-file`), atomically, every
//! few seconds and at exit.

use std::path::Path;
use std::time::Duration;

use pxe_daemon::metrics::{Counter, Family, Gauge, Histogram, Registry, latency_histogram};

/// A DHCP message type as a label: `type="discover"`, … `type="bootrequest"` for BOOTP.
type TypeLabel = [(&'static str, &'static str); 1];

/// How a program run by `execute()` ended, as a label: `outcome="killed"`.
type OutcomeLabel = [(&'static str, &'static str); 1];

/// A pool as a label: `pool="10.0.0.0/24#0"`.
type PoolLabel = [(&'static str, String); 1];

/// The label of a message type; `none` is BOOTP (`bootp`: `bootrequest` or `bootreply`).
fn type_label(t: Option<u8>, bootp: &'static str) -> TypeLabel {
    let name = match t {
        None | Some(0) => bootp,
        Some(1) => "discover",
        Some(2) => "offer",
        Some(3) => "request",
        Some(4) => "decline",
        Some(5) => "ack",
        Some(6) => "nak",
        Some(7) => "release",
        Some(8) => "inform",
        Some(_) => "other",
    };
    [("type", name)]
}

/// The metrics. Shared between the receiving task and the committer.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    received: Family<TypeLabel, Counter>,
    sent: Family<TypeLabel, Counter>,
    malformed: Counter,
    ignored: Counter,
    send_errors: Counter,
    commits: Counter,
    committed_leases: Counter,
    commit_errors: Counter,
    commit_queue_drops: Counter,
    store_up: Gauge,
    conflicts: Counter,
    rewrites: Counter,
    latency: Histogram,
    reloads: Counter,
    reload_errors: Counter,
    executed: Family<OutcomeLabel, Counter>,
    pool_active: Family<PoolLabel, Gauge>,
    pool_size: Family<PoolLabel, Gauge>,
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
    /// The committer's queue was full: this many replies waiting for a commit were dropped
    /// (their clients retransmit).
    QueueFull(usize),
    /// The lease store took a commit (`true`) or failed one for a reason other than a lost
    /// race (`false`: a disk error, an unreachable database).
    StoreUp(bool),
    /// Leases another server sharing the database wrote first (their batch's replies were
    /// not sent).
    Conflict(usize),
    /// The lease file was rewritten.
    Rewrite,
    /// A reply that waited for its commit left after this long.
    Latency(Duration),
    /// A reload (`true`: applied).
    Reload(bool),
    /// A program `execute()` asked for: `ok`, `failed` (a non-zero status), `killed` (past
    /// its timeout), `not_started`, `dropped` (queue full) or `bad_arg` (not run).
    Execute(&'static str),
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            received: Family::default(),
            sent: Family::default(),
            malformed: Counter::default(),
            ignored: Counter::default(),
            send_errors: Counter::default(),
            commits: Counter::default(),
            committed_leases: Counter::default(),
            commit_errors: Counter::default(),
            commit_queue_drops: Counter::default(),
            store_up: Gauge::default(),
            conflicts: Counter::default(),
            rewrites: Counter::default(),
            latency: latency_histogram(),
            reloads: Counter::default(),
            reload_errors: Counter::default(),
            executed: Family::default(),
            pool_active: Family::default(),
            pool_size: Family::default(),
            registry: Registry::default(),
        };
        m.store_up.set(1);
        let mut registry = Registry::default();
        m.register(&mut registry);
        m.registry = registry;
        m
    }
}

impl Metrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "dhcpd_received",
            "Requests received, by DHCP message type",
            self.received.clone(),
        );
        r.register(
            "dhcpd_sent",
            "Replies sent, by DHCP message type",
            self.sent.clone(),
        );
        r.register(
            "dhcpd_malformed",
            "Packets that could not be read",
            self.malformed.clone(),
        );
        r.register(
            "dhcpd_ignored",
            "Requests that got no reply",
            self.ignored.clone(),
        );
        r.register(
            "dhcpd_send_errors",
            "Replies that could not be sent",
            self.send_errors.clone(),
        );
        r.register(
            "dhcpd_lease_commits",
            "Lease file syncs (one per batch of replies)",
            self.commits.clone(),
        );
        r.register(
            "dhcpd_leases_committed",
            "Leases written to the lease file",
            self.committed_leases.clone(),
        );
        r.register(
            "dhcpd_lease_commit_errors",
            "Lease commits that failed (their replies were not sent)",
            self.commit_errors.clone(),
        );
        r.register(
            "dhcpd_lease_commit_queue_drops",
            "Replies dropped because the lease committer's queue was full (a slow or stuck disk)",
            self.commit_queue_drops.clone(),
        );
        r.register(
            "dhcpd_lease_store_up",
            "1 while the lease store (file or database) takes commits, 0 from a failed commit until the next one succeeds",
            self.store_up.clone(),
        );
        r.register(
            "dhcpd_lease_conflicts",
            "Leases another server sharing the database wrote first (their batch's replies were not sent)",
            self.conflicts.clone(),
        );
        r.register(
            "dhcpd_lease_file_rewrites",
            "Rewrites of the lease file",
            self.rewrites.clone(),
        );
        r.register(
            "dhcpd_reloads",
            "Configuration reloads applied",
            self.reloads.clone(),
        );
        r.register(
            "dhcpd_reload_errors",
            "Configuration reloads refused",
            self.reload_errors.clone(),
        );
        r.register(
            "dhcpd_reply_latency_seconds",
            "Time from a request to its committed reply",
            self.latency.clone(),
        );
        r.register(
            "dhcpd_execute",
            "Programs run by execute() (on commit, release, expiry), by how they ended",
            self.executed.clone(),
        );
        r.register(
            "dhcpd_pool_leases_active",
            "Active leases per pool",
            self.pool_active.clone(),
        );
        r.register(
            "dhcpd_pool_size",
            "Addresses per pool",
            self.pool_size.clone(),
        );
    }

    /// Count an event.
    pub fn count(&self, e: Event) {
        match e {
            Event::Received(t) => {
                self.received
                    .get_or_create(&type_label(t, "bootrequest"))
                    .inc();
            }
            Event::Malformed => {
                self.malformed.inc();
            }
            Event::Ignored => {
                self.ignored.inc();
            }
            Event::Sent(t) => {
                self.sent.get_or_create(&type_label(t, "bootreply")).inc();
            }
            Event::SendError => {
                self.send_errors.inc();
            }
            Event::Commit(n) => {
                self.commits.inc();
                self.committed_leases.inc_by(n as u64);
            }
            Event::CommitError => {
                self.commit_errors.inc();
            }
            Event::QueueFull(n) => {
                self.commit_queue_drops.inc_by(n as u64);
            }
            Event::StoreUp(up) => {
                self.store_up.set(i64::from(up));
            }
            Event::Conflict(n) => {
                self.conflicts.inc_by(n as u64);
            }
            Event::Rewrite => {
                self.rewrites.inc();
            }
            Event::Latency(d) => self.latency.observe(d.as_secs_f64()),
            Event::Reload(true) => {
                self.reloads.inc();
            }
            Event::Reload(false) => {
                self.reload_errors.inc();
            }
            Event::Execute(outcome) => {
                self.executed.get_or_create(&[("outcome", outcome)]).inc();
            }
        }
    }

    /// Replace the per-pool usage: (pool, leases in use, size).
    pub fn set_pools(&self, pools: Vec<(String, u64, u64)>) {
        self.pool_active.clear();
        self.pool_size.clear();
        for (pool, used, size) in pools {
            let label: PoolLabel = [("pool", pool)];
            self.pool_active
                .get_or_create(&label)
                .set(i64::try_from(used).unwrap_or(i64::MAX));
            self.pool_size
                .get_or_create(&label)
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        pxe_daemon::metrics::render(&self.registry)
    }

    /// Write the text to `path` atomically (temporary file, rename).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        pxe_daemon::metrics::write_file(&self.registry, path)
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
        m.count(Event::Execute("killed"));
        m.set_pools(vec![("10.0.0.0/24#0".into(), 2, 11)]);
        let t = m.render();
        assert!(
            t.contains("dhcpd_received_total{type=\"discover\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("dhcpd_received_total{type=\"bootrequest\"} 1"),
            "{t}"
        );
        assert!(t.contains("dhcpd_sent_total{type=\"ack\"} 1"), "{t}");
        assert!(t.contains("dhcpd_leases_committed_total 3"), "{t}");
        assert!(
            t.contains("dhcpd_execute_total{outcome=\"killed\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("dhcpd_reply_latency_seconds_bucket{le=\"0.0005\"} 0"),
            "{t}"
        );
        assert!(
            t.contains("dhcpd_reply_latency_seconds_bucket{le=\"0.001\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("dhcpd_pool_leases_active{pool=\"10.0.0.0/24#0\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("dhcpd_pool_size{pool=\"10.0.0.0/24#0\"} 11"),
            "{t}"
        );
    }
}
