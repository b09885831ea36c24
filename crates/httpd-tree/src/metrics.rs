//! What `/metrics` reports: requests by route and status code, response bytes and latency
//! by route, connections, and machines by install state. Registered in the daemon's
//! registry ([`pxe_daemon::metrics`]) on `prometheus-client`; handles for each route are
//! taken once, so a request costs a few atomic adds and one lookup of its status code.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use pxe_daemon::metrics::{Counter, Family, Gauge, Histogram, Registry, latency_histogram};

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
    "console",
    "redirect",
    "refused",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteCode {
    route: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// One route's handles into the families.
#[derive(Debug)]
struct RouteHandles {
    name: &'static str,
    bytes: Counter,
    latency: Histogram,
}

/// Everything `/metrics` reports, shared by every connection.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteCode, Counter>,
    routes: Vec<RouteHandles>,
    machines: Family<StateLabel, Gauge>,
    /// Connections being served now.
    pub connections_open: Gauge<i64, AtomicI64>,
    /// Connections accepted.
    pub connections_total: Counter,
    /// Times the connection limit was reached and accepting paused.
    pub connections_limited: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteCode, Counter>::default();
        let bytes = Family::<RouteLabel, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let routes = ROUTES
            .iter()
            .map(|&name| RouteHandles {
                name,
                bytes: bytes.get_or_create(&RouteLabel { route: name }).clone(),
                latency: latency.get_or_create(&RouteLabel { route: name }).clone(),
            })
            .collect();
        let m = Metrics {
            requests,
            routes,
            machines: Family::default(),
            connections_open: Gauge::default(),
            connections_total: Counter::default(),
            connections_limited: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "httpd_requests",
            "Requests answered, by route and status code",
            m.requests.clone(),
        );
        r.register(
            "httpd_response_bytes",
            "Response body bytes sent, by route",
            bytes,
        );
        r.register(
            "httpd_request_duration_seconds",
            "Time from the request head to the response head, by route",
            latency,
        );
        r.register(
            "httpd_connections_open",
            "Connections being served now",
            m.connections_open.clone(),
        );
        r.register(
            "httpd_connections",
            "Connections accepted",
            m.connections_total.clone(),
        );
        r.register(
            "httpd_connection_limit_reached",
            "Times accepting paused at the connection limit",
            m.connections_limited.clone(),
        );
        r.register(
            "pxe_machines",
            "Inventory machines by install state",
            m.machines.clone(),
        );
        Metrics { registry, ..m }
    }
}

/// Machines per install state, counted when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCounts {
    pub pending: u64,
    pub installing: u64,
    pub installed: u64,
    pub failed: u64,
}

impl Metrics {
    fn route(&self, route: &str) -> Option<&RouteHandles> {
        self.routes.iter().find(|r| r.name == route)
    }

    /// One answered request: its status, how long until its head was ready.
    pub fn request(&self, route: &str, code: u16, latency: Duration) {
        let Some(r) = self.route(route) else {
            return;
        };
        self.requests
            .get_or_create(&RouteCode {
                route: r.name,
                code,
            })
            .inc();
        r.latency.observe(latency.as_secs_f64());
    }

    /// Body bytes sent for a route.
    pub fn bytes(&self, route: &str, n: u64) {
        if let Some(r) = self.route(route) {
            r.bytes.inc_by(n);
        }
    }

    /// A connection was accepted; the gauge of open ones goes up.
    pub fn connection_opened(&self) {
        self.connections_total.inc();
        self.connections_open.inc();
    }

    /// A connection ended.
    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// The exposition text; `machines`, when the inventory has install state, as a gauge.
    pub fn render(&self, machines: Option<MachineCounts>) -> String {
        self.machines.clear();
        if let Some(m) = machines {
            for (state, n) in [
                ("pending", m.pending),
                ("installing", m.installing),
                ("installed", m.installed),
                ("failed", m.failed),
            ] {
                self.machines
                    .get_or_create(&StateLabel { state })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        pxe_daemon::metrics::render(&self.registry)
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
            failed: 0,
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
            get("httpd_request_duration_seconds_bucket{le=\"0.0005\",route=\"tree\"}"),
            0.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{le=\"0.001\",route=\"tree\"}"),
            1.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{le=\"0.05\",route=\"tree\"}"),
            2.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{le=\"10.0\",route=\"tree\"}"),
            2.0
        );
        assert_eq!(
            get("httpd_request_duration_seconds_bucket{le=\"+Inf\",route=\"tree\"}"),
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
            "httpd_requests",
            "httpd_request_duration_seconds",
            "pxe_machines",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {family} ")).count(),
                1,
                "{family}"
            );
        }
        assert!(!m.render(None).contains("pxe_machines{"));
    }
}
