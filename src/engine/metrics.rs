//! Prometheus metrics (`GET /__understudy/metrics`, OpenMetrics text), through the
//! `prometheus-client` crate: requests by API, operation and status, a latency histogram by
//! API, and gauges of sessions, active scenarios and the journal read when scraped.
//!
//! Counted by the observing layer around the handler ([`super::service`]); the label values of
//! every operation are made once, when the engine is built, so a request allocates none.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::{Answered, OpName};

/// A status code as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Status(pub u16);

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        write!(encoder, "{}", self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: Arc<str>,
    operation: Arc<str>,
    status: Status,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: Arc<str>,
}

/// The label values of one operation.
#[derive(Debug)]
struct OpLabels {
    api: Arc<str>,
    operation: Arc<str>,
    /// Its counters by status and its API's latency histogram, taken from the families on
    /// first use: a request then looks up no label set.
    counters: RwLock<Vec<(u16, Counter)>>,
    latency: OnceLock<Histogram>,
}

impl OpLabels {
    fn new(api: Arc<str>, operation: Arc<str>) -> Self {
        OpLabels {
            api,
            operation,
            counters: RwLock::default(),
            latency: OnceLock::new(),
        }
    }
}

/// The metric families: kept across reloads, so counts continue.
struct Families {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ApiLabel, Histogram>,
    sessions: Gauge,
    scenarios: Gauge,
    journal_entries: Gauge,
    journal_bytes: Gauge<u64, AtomicU64>,
}

/// The server's metrics.
pub struct Metrics {
    families: Arc<Families>,
    /// By mount, then operation index.
    ops: Vec<Vec<OpLabels>>,
    /// For requests no operation answered.
    none: OpLabels,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// What the gauges read when scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Levels {
    pub sessions: usize,
    pub scenarios: usize,
    pub journal_entries: usize,
    pub journal_bytes: usize,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Metrics {
    pub fn new(names: &[Vec<Arc<OpName>>]) -> Self {
        Metrics {
            families: Arc::new(Families::new()),
            ops: op_labels(names),
            none: OpLabels::new(Arc::from(""), Arc::from("")),
        }
    }

    /// The same families (their counts go on) for another set of operations: a reload's.
    pub fn for_operations(&self, names: &[Vec<Arc<OpName>>]) -> Self {
        Metrics {
            families: self.families.clone(),
            ops: op_labels(names),
            none: OpLabels::new(Arc::from(""), Arc::from("")),
        }
    }
}

/// The label values of every operation, by mount: its API, and its `operationId` (or
/// `METHOD /path`).
fn op_labels(names: &[Vec<Arc<OpName>>]) -> Vec<Vec<OpLabels>> {
    names
        .iter()
        .map(|ops| {
            ops.iter()
                .map(|op| OpLabels::new(op.api.clone(), Arc::from(op.label())))
                .collect()
        })
        .collect()
}

impl Families {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("understudy");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by API, operation (operationId, or METHOD /path) and status",
            requests.clone(),
        );
        let latency =
            Family::<ApiLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register_with_unit(
            "request_duration",
            "Time to answer a request, scenario delays excluded",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let sessions = Gauge::default();
        registry.register("sessions", "Sessions held", sessions.clone());
        let scenarios = Gauge::default();
        registry.register(
            "active_scenarios",
            "Scenarios running, over all sessions",
            scenarios.clone(),
        );
        let journal_entries = Gauge::default();
        registry.register(
            "journal_entries",
            "Requests held in the journal",
            journal_entries.clone(),
        );
        let journal_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register_with_unit(
            "journal",
            "Bytes held in the journal",
            prometheus_client::registry::Unit::Bytes,
            journal_bytes.clone(),
        );
        Families {
            registry,
            requests,
            latency,
            sessions,
            scenarios,
            journal_entries,
            journal_bytes,
        }
    }
}

impl Metrics {
    /// Count one answered request.
    pub fn observe(&self, answered: Option<&Answered>, status: u16, seconds: f64) {
        let op = answered
            .and_then(|a| self.ops.get(a.mount)?.get(a.op))
            .unwrap_or(&self.none);
        let counted = {
            let counters = op.counters.read().unwrap_or_else(|e| e.into_inner());
            counters
                .iter()
                .find(|(s, _)| *s == status)
                .map(|(_, c)| c.inc())
                .is_some()
        };
        if !counted {
            let c = self.families.requests.get_or_create_owned(&RequestLabels {
                api: op.api.clone(),
                operation: op.operation.clone(),
                status: Status(status),
            });
            c.inc();
            op.counters
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push((status, c));
        }
        op.latency
            .get_or_init(|| {
                self.families.latency.get_or_create_owned(&ApiLabel {
                    api: op.api.clone(),
                })
            })
            .observe(seconds);
    }

    /// The metrics as OpenMetrics text, the gauges set to `levels`.
    pub fn render(&self, levels: Levels) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.families.sessions.set(gauge(levels.sessions));
        self.families.scenarios.set(gauge(levels.scenarios));
        self.families
            .journal_entries
            .set(gauge(levels.journal_entries));
        self.families
            .journal_bytes
            .set(u64::try_from(levels.journal_bytes).unwrap_or(u64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.families.registry).is_err() {
            out = "# the metrics could not be encoded\n# EOF\n".into();
        }
        out
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_operation_and_status() {
        let m = Metrics::new(&[]);
        m.observe(None, 404, 0.0002);
        m.observe(None, 404, 0.0002);
        m.observe(None, 200, 0.5);
        let text = m.render(Levels {
            sessions: 3,
            ..Levels::default()
        });
        assert!(
            text.contains(r#"understudy_requests_total{api="",operation="",status="404"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"status="200"} 1"#), "{text}");
        assert!(text.contains("understudy_sessions 3"), "{text}");
        assert!(
            text.contains(r#"understudy_request_duration_seconds_count{api=""} 3"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
