//! Counters and the Prometheus text exposition format (written by hand: a few
//! counters, one histogram family and two gauges do not need a library).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The route labels, one per kind of answer (see `Route::label`).
pub const ROUTES: &[&str] = &[
    "tree",
    "loader",
    "root",
    "listing",
    "answer",
    "boot_file",
    "api",
    "callback",
    "status",
    "metrics",
    "index",
    "redirect",
    "refused",
];

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct RouteStats {
    /// Requests per status code.
    codes: Mutex<BTreeMap<u16, u64>>,
    bytes: AtomicU64,
    /// Cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; 15],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// Everything `/metrics` reports, shared by every connection.
#[derive(Debug)]
pub struct Metrics {
    routes: Vec<RouteStats>,
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    /// Times the connection limit was reached and accepting paused.
    pub connections_limited: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: ROUTES.iter().map(|_| RouteStats::default()).collect(),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_limited: AtomicU64::new(0),
        }
    }
}

/// Machines per install state, counted when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCounts {
    pub pending: u64,
    pub installing: u64,
    pub installed: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters, still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    fn stats(&self, route: &str) -> Option<&RouteStats> {
        let i = ROUTES.iter().position(|r| *r == route)?;
        self.routes.get(i)
    }

    /// One answered request: its status, how long until its head was ready.
    pub fn request(&self, route: &str, code: u16, latency: Duration) {
        let Some(s) = self.stats(route) else {
            return;
        };
        *lock(&s.codes).entry(code).or_default() += 1;
        let secs = latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        s.buckets[BUCKETS.len()].fetch_add(1, Ordering::Relaxed);
        s.sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        s.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Body bytes sent for a route.
    pub fn bytes(&self, route: &str, n: u64) {
        if let Some(s) = self.stats(route) {
            s.bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The exposition text.
    pub fn render(&self, machines: Option<MachineCounts>) -> String {
        let mut out = String::new();
        out.push_str("# HELP httpd_requests_total Requests answered, by route and status code.\n");
        out.push_str("# TYPE httpd_requests_total counter\n");
        for (route, s) in ROUTES.iter().zip(&self.routes) {
            for (code, n) in lock(&s.codes).iter() {
                let _ = writeln!(
                    out,
                    "httpd_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP httpd_response_bytes_total Response body bytes sent, by route.\n");
        out.push_str("# TYPE httpd_response_bytes_total counter\n");
        for (route, s) in ROUTES.iter().zip(&self.routes) {
            let _ = writeln!(
                out,
                "httpd_response_bytes_total{{route=\"{route}\"}} {}",
                s.bytes.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP httpd_request_duration_seconds Time from the request head to the response head, by route.\n",
        );
        out.push_str("# TYPE httpd_request_duration_seconds histogram\n");
        for (route, s) in ROUTES.iter().zip(&self.routes) {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "httpd_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    s.buckets[i].load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(
                out,
                "httpd_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                s.buckets[BUCKETS.len()].load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "httpd_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                s.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "httpd_request_duration_seconds_count{{route=\"{route}\"}} {}",
                s.count.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP httpd_connections_open Connections being served now.\n");
        out.push_str("# TYPE httpd_connections_open gauge\n");
        let _ = writeln!(
            out,
            "httpd_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        out.push_str("# HELP httpd_connections_total Connections accepted.\n");
        out.push_str("# TYPE httpd_connections_total counter\n");
        let _ = writeln!(
            out,
            "httpd_connections_total {}",
            self.connections_total.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP httpd_connection_limit_reached_total Times accepting paused at the connection limit.\n",
        );
        out.push_str("# TYPE httpd_connection_limit_reached_total counter\n");
        let _ = writeln!(
            out,
            "httpd_connection_limit_reached_total {}",
            self.connections_limited.load(Ordering::Relaxed)
        );
        if let Some(m) = machines {
            out.push_str("# HELP pxe_machines Inventory machines by install state.\n");
            out.push_str("# TYPE pxe_machines gauge\n");
            for (state, n) in [
                ("pending", m.pending),
                ("installing", m.installing),
                ("installed", m.installed),
            ] {
                let _ = writeln!(out, "pxe_machines{{state=\"{state}\"}} {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one sample line, by its full name with labels.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_histograms_and_gauges() {
        let m = Metrics::default();
        m.request("tree", 200, Duration::from_micros(700));
        m.request("tree", 206, Duration::from_millis(30));
        m.request("tree", 200, Duration::from_secs(20));
        m.request("no-such-route", 200, Duration::ZERO);
        m.bytes("tree", 1234);
        let text = m.render(Some(MachineCounts {
            pending: 2,
            installing: 1,
            installed: 0,
        }));
        let get = |n: &str| sample(&text, n).unwrap_or_else(|| panic!("{n} in\n{text}"));
        assert_eq!(
            get("httpd_requests_total{route=\"tree\",code=\"200\"}"),
            2.0
        );
        assert_eq!(
            get("httpd_requests_total{route=\"tree\",code=\"206\"}"),
            1.0
        );
        assert_eq!(get("httpd_response_bytes_total{route=\"tree\"}"), 1234.0);
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{route=\"tree\",le=\"0.0005\"}"),
            0.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{route=\"tree\",le=\"0.001\"}"),
            1.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{route=\"tree\",le=\"0.05\"}"),
            2.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{route=\"tree\",le=\"10\"}"),
            2.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{route=\"tree\",le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_count{route=\"tree\"}"),
            3.0
        );
        assert!((get("httpd_request_duration_seconds_sum{route=\"tree\"}") - 20.0307).abs() < 1e-6);
        assert_eq!(get("pxe_machines{state=\"installing\"}"), 1.0);
        // Every family is declared once, before its samples.
        for family in [
            "httpd_requests_total",
            "httpd_request_duration_seconds",
            "pxe_machines",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {family} ")).count(),
                1,
                "{family}"
            );
        }
        assert!(!m.render(None).contains("pxe_machines"));
    }
}
