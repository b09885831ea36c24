//! One metrics registry per daemon, on `prometheus-client`: each daemon registers its
//! counters, gauges and histograms into a [`Registry`] at start, updates them while it
//! serves, and renders the registry for a scrape (`/metrics`) or into a file
//! (`--metrics-file`). The text is OpenMetrics 1.0 (counters as `NAME_total`, `# EOF` at the
//! end), which Prometheus scrapes.

use std::io::Write as _;
use std::path::Path;

pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::Registry;

/// The content type of [`render`]'s text. Help texts are registered without a final period:
/// the encoder adds one.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds, in seconds, for request latencies: 100 µs to 10 s.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The registry as OpenMetrics text.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        // Only a failing `fmt::Write` errs, and a String does not.
        tracing::error!("cannot render metrics: {e}");
    }
    text
}

/// Writes [`render`]'s text to `path` so that a reader never sees half of it: a temporary
/// file beside it, synced, then renamed over it.
pub fn write_file(registry: &Registry, path: &Path) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(render(registry).as_bytes())?;
    file.sync_data()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Kind {
        kind: &'static str,
    }

    #[test]
    fn counters_families_and_histograms_render_with_their_names() {
        let mut registry = Registry::default();
        let seen = Family::<Kind, Counter>::default();
        registry.register("demo_seen", "Things seen, by kind", seen.clone());
        let latency = latency_histogram();
        registry.register("demo_latency_seconds", "Latency", latency.clone());
        seen.get_or_create(&Kind { kind: "ack" }).inc_by(2);
        latency.observe(0.0007);
        let text = render(&registry);
        assert!(text.contains("# TYPE demo_seen counter"), "{text}");
        // prometheus-client ends the help text with the period itself.
        assert!(
            text.contains("# HELP demo_seen Things seen, by kind.\n"),
            "{text}"
        );
        assert!(text.contains("demo_seen_total{kind=\"ack\"} 2"), "{text}");
        assert!(
            text.contains("demo_latency_seconds_bucket{le=\"0.0005\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("demo_latency_seconds_bucket{le=\"0.001\"} 1"),
            "{text}"
        );
        assert!(text.contains("demo_latency_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        std::fs::write(&path, "old").unwrap();
        let mut registry = Registry::default();
        let c = Counter::<u64>::default();
        registry.register("demo_things", "Things", c.clone());
        c.inc();
        write_file(&registry, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("demo_things_total 1"), "{text}");
        assert!(!dir.path().join("m.prom.tmp").exists());
    }
}
