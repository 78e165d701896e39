//! The operator's own metrics (prometheus-client): reconciliations, their duration, failures by
//! reason, writes to the API server by verb and kind, and leadership. Served on `--metrics-port`.
//!
//! Every name starts with `statefleet_operator_` (the registry's prefix); failure reasons come from
//! the closed set in [`crate::conditions::reasons`], so label cardinality stays bounded.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::time::Instant;

/// Prefix of every metric name.
pub const PREFIX: &str = "statefleet_operator";

/// `reason` label of the failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A CamelCase reason from [`crate::conditions::reasons`].
    pub reason: String,
}

/// `verb` and `kind` labels of the write counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `apply`, `delete` or `status`.
    pub verb: String,
    /// The object's kind, e.g. `StatefulSet`.
    pub kind: String,
}

/// Every operator metric, registered once and cloned into the components that update them.
#[derive(Clone)]
pub struct Metrics {
    /// `statefleet_operator_reconciliations_total`: reconciles started.
    pub reconciliations: Counter,
    /// `statefleet_operator_reconcile_failures_total{reason}`: reconciles that failed, and specs
    /// rejected as invalid.
    pub failures: Family<ReasonLabels, Counter>,
    /// `statefleet_operator_reconcile_duration_seconds`.
    pub duration: Histogram,
    /// `statefleet_operator_writes_total{verb,kind}`: writes to the API server. An unchanged
    /// fleet adds none.
    pub writes: Family<WriteLabels, Counter>,
    /// `statefleet_operator_leader`: 1 while this process holds the leader Lease (or runs
    /// without leader election).
    pub leader: Gauge,
}

impl Metrics {
    /// Registers every metric in `registry` (create it with [`PREFIX`]).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reconciliations: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            writes: Family::default(),
            leader: Gauge::default(),
        };
        // prometheus-client appends `_total` to counters.
        registry.register("reconciliations", "Reconciles started", m.reconciliations.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that failed, and specs rejected as invalid, by reason",
            m.failures.clone(),
        );
        registry.register("reconcile_duration_seconds", "Duration of reconciles", m.duration.clone());
        registry.register("writes", "Writes to the API server by verb and kind", m.writes.clone());
        registry.register("leader", "1 while this process is the active operator", m.leader.clone());
        m
    }

    /// Counts a reconcile and returns a timer that records its duration when dropped.
    pub fn reconcile_timer(&self) -> ReconcileTimer {
        self.reconciliations.inc();
        ReconcileTimer { start: Instant::now(), histogram: self.duration.clone() }
    }

    /// Counts a failure with its reason.
    pub fn failure(&self, reason: &str) {
        self.failures.get_or_create(&ReasonLabels { reason: reason.to_string() }).inc();
    }

    /// Counts a write.
    pub fn write(&self, verb: &str, kind: &str) {
        self.writes.get_or_create(&WriteLabels { verb: verb.to_string(), kind: kind.to_string() }).inc();
    }
}

/// Observes the time since its creation into the duration histogram when dropped, so every
/// exit path of a reconcile is measured.
pub struct ReconcileTimer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Encodes a registry in the OpenMetrics text format.
pub fn encode_registry(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        let mut registry = Registry::with_prefix(PREFIX);
        let metrics = Metrics::register(&mut registry);
        drop(metrics.reconcile_timer());
        metrics.failure("InvalidSpec");
        metrics.write("apply", "StatefulSet");
        metrics.leader.set(1);
        let text = encode_registry(&registry);
        for line in [
            "statefleet_operator_reconciliations_total 1",
            "statefleet_operator_reconcile_failures_total{reason=\"InvalidSpec\"} 1",
            "statefleet_operator_reconcile_duration_seconds_count 1",
            "statefleet_operator_writes_total{verb=\"apply\",kind=\"StatefulSet\"} 1",
            "statefleet_operator_leader 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
