//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (cargo feature
//! `metrics`): every event that bumps one of a node's counters in [`crate::topology::node`] also
//! goes to the installed recorder, so the counters of [`crate::NodeStatus`] and the
//! exported metrics can't disagree. Without the feature, [`NodeMetrics`] is empty and its
//! methods are empty inline functions: nothing is compiled in.
//!
//! | name | kind | unit |
//! |---|---|---|
//! | `diesel_cluster_statements_total` | counter | statements |
//! | `diesel_cluster_errors_total` | counter | failed statements |
//! | `diesel_cluster_ejections_total` | counter | ejections |
//! | `diesel_cluster_retries_total` | counter | reads retried elsewhere after failing here |
//! | `diesel_cluster_fallbacks_total` | counter | reads that went to the master instead |
//! | `diesel_cluster_causal_waits_total` | counter | `MASTER_GTID_WAIT`s |
//! | `diesel_cluster_causal_timeouts_total` | counter | causal waits that timed out |
//! | `diesel_cluster_conflict_retries_total` | counter | transactions run again after a conflict |
//! | `diesel_cluster_galera_synced` | gauge | 1 while a Galera node is synced in the primary component, else 0 |
//! | `diesel_cluster_galera_flow_control_paused` | gauge | fraction of time paused by flow control |
//! | `diesel_cluster_galera_cert_failures` | gauge | `wsrep_local_cert_failures` |
//! | `diesel_cluster_replica_lag_seconds` | gauge | seconds; `+Inf` while unknown |
//! | `diesel_cluster_latency_seconds` | gauge | seconds |
//! | `diesel_cluster_causal_wait_seconds` | histogram | seconds |
//!
//! Each carries the label `node` (the node's name). Counters and the histogram are
//! recorded on the thread where the event happens (the application's, or the monitor's
//! for ejections it decides); the gauges on the cluster's monitor thread. A recorder
//! installed with `metrics::with_local_recorder` therefore sees only the first kind:
//! install a global one (`metrics::set_global_recorder`) to see everything.

/// Metric names, public in the crate docs.
#[cfg(feature = "metrics")]
mod names {
    pub(super) const STATEMENTS: &str = "diesel_cluster_statements_total";
    pub(super) const ERRORS: &str = "diesel_cluster_errors_total";
    pub(super) const EJECTIONS: &str = "diesel_cluster_ejections_total";
    pub(super) const RETRIES: &str = "diesel_cluster_retries_total";
    pub(super) const FALLBACKS: &str = "diesel_cluster_fallbacks_total";
    pub(super) const CAUSAL_WAITS: &str = "diesel_cluster_causal_waits_total";
    pub(super) const CAUSAL_TIMEOUTS: &str = "diesel_cluster_causal_timeouts_total";
    pub(super) const CONFLICT_RETRIES: &str = "diesel_cluster_conflict_retries_total";
    pub(super) const GALERA_SYNCED: &str = "diesel_cluster_galera_synced";
    pub(super) const GALERA_FC_PAUSED: &str = "diesel_cluster_galera_flow_control_paused";
    pub(super) const GALERA_CERT_FAILURES: &str = "diesel_cluster_galera_cert_failures";
    pub(super) const LAG: &str = "diesel_cluster_replica_lag_seconds";
    pub(super) const LATENCY: &str = "diesel_cluster_latency_seconds";
    pub(super) const CAUSAL_WAIT: &str = "diesel_cluster_causal_wait_seconds";
}

use std::time::Duration;

/// One node's metric keys, built once when the cluster is built so that an event costs a
/// recorder lookup and no allocation.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    #[cfg(feature = "metrics")]
    keys: Keys,
}

#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Keys {
    statements: ::metrics::Key,
    errors: ::metrics::Key,
    ejections: ::metrics::Key,
    retries: ::metrics::Key,
    fallbacks: ::metrics::Key,
    causal_waits: ::metrics::Key,
    causal_timeouts: ::metrics::Key,
    conflict_retries: ::metrics::Key,
    galera_synced: ::metrics::Key,
    galera_fc_paused: ::metrics::Key,
    galera_cert_failures: ::metrics::Key,
    lag: ::metrics::Key,
    latency: ::metrics::Key,
    causal_wait: ::metrics::Key,
}

#[cfg(feature = "metrics")]
static METADATA: ::metrics::Metadata<'static> =
    ::metrics::Metadata::new(module_path!(), ::metrics::Level::INFO, Some(module_path!()));

#[cfg(feature = "metrics")]
impl NodeMetrics {
    pub(crate) fn new(node: &str) -> Self {
        let key = |name: &'static str| {
            ::metrics::Key::from_parts(name, vec![::metrics::Label::new("node", node.to_string())])
        };
        NodeMetrics {
            keys: Keys {
                statements: key(names::STATEMENTS),
                errors: key(names::ERRORS),
                ejections: key(names::EJECTIONS),
                retries: key(names::RETRIES),
                fallbacks: key(names::FALLBACKS),
                causal_waits: key(names::CAUSAL_WAITS),
                causal_timeouts: key(names::CAUSAL_TIMEOUTS),
                conflict_retries: key(names::CONFLICT_RETRIES),
                galera_synced: key(names::GALERA_SYNCED),
                galera_fc_paused: key(names::GALERA_FC_PAUSED),
                galera_cert_failures: key(names::GALERA_CERT_FAILURES),
                lag: key(names::LAG),
                latency: key(names::LATENCY),
                causal_wait: key(names::CAUSAL_WAIT),
            },
        }
    }

    fn increment(key: &::metrics::Key) {
        ::metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
    }

    fn gauge(key: &::metrics::Key, value: f64) {
        ::metrics::with_recorder(|r| r.register_gauge(key, &METADATA).set(value));
    }

    #[inline]
    pub(crate) fn statement(&self) {
        Self::increment(&self.keys.statements);
    }
    #[inline]
    pub(crate) fn error(&self) {
        Self::increment(&self.keys.errors);
    }
    #[inline]
    pub(crate) fn ejection(&self) {
        Self::increment(&self.keys.ejections);
    }
    #[inline]
    pub(crate) fn retry(&self) {
        Self::increment(&self.keys.retries);
    }
    #[inline]
    pub(crate) fn fallback(&self) {
        Self::increment(&self.keys.fallbacks);
    }
    #[inline]
    pub(crate) fn causal_wait(&self, waited: Duration) {
        Self::increment(&self.keys.causal_waits);
        ::metrics::with_recorder(|r| {
            r.register_histogram(&self.keys.causal_wait, &METADATA)
                .record(waited.as_secs_f64())
        });
    }
    #[inline]
    pub(crate) fn causal_timeout(&self) {
        Self::increment(&self.keys.causal_timeouts);
    }
    /// `None`: the lag is unknown (replication stopped), exported as `+Inf` so that an
    /// alert on "lag above X" fires.
    pub(crate) fn lag(&self, lag: Option<Duration>) {
        Self::gauge(
            &self.keys.lag,
            lag.map_or(f64::INFINITY, |l| l.as_secs_f64()),
        );
    }
    pub(crate) fn latency(&self, latency: Duration) {
        Self::gauge(&self.keys.latency, latency.as_secs_f64());
    }
    #[inline]
    pub(crate) fn conflict_retry(&self) {
        Self::increment(&self.keys.conflict_retries);
    }
    /// A Galera node's state as the monitor read it.
    pub(crate) fn galera(&self, synced: bool, flow_control_paused: f64, cert_failures: u64) {
        Self::gauge(&self.keys.galera_synced, if synced { 1.0 } else { 0.0 });
        Self::gauge(&self.keys.galera_fc_paused, flow_control_paused);
        Self::gauge(&self.keys.galera_cert_failures, cert_failures as f64);
    }
}

#[cfg(not(feature = "metrics"))]
impl NodeMetrics {
    pub(crate) fn new(_node: &str) -> Self {
        NodeMetrics {}
    }
    #[inline(always)]
    pub(crate) fn statement(&self) {}
    #[inline(always)]
    pub(crate) fn error(&self) {}
    #[inline(always)]
    pub(crate) fn ejection(&self) {}
    #[inline(always)]
    pub(crate) fn retry(&self) {}
    #[inline(always)]
    pub(crate) fn fallback(&self) {}
    #[inline(always)]
    pub(crate) fn causal_wait(&self, _waited: Duration) {}
    #[inline(always)]
    pub(crate) fn causal_timeout(&self) {}
    #[inline(always)]
    pub(crate) fn lag(&self, _lag: Option<Duration>) {}
    #[inline(always)]
    pub(crate) fn latency(&self, _latency: Duration) {}
    #[inline(always)]
    pub(crate) fn conflict_retry(&self) {}
    #[inline(always)]
    pub(crate) fn galera(&self, _synced: bool, _flow_control_paused: f64, _cert_failures: u64) {}
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    #[test]
    fn events_reach_a_local_recorder_with_the_node_label() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let m = NodeMetrics::new("replica1");
        ::metrics::with_local_recorder(&recorder, || {
            m.statement();
            m.statement();
            m.error();
            m.fallback();
            m.causal_wait(Duration::from_millis(3));
            m.lag(None);
            m.latency(Duration::from_micros(250));
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let find = |kind: MetricKind, name: &str| {
            snapshot
                .iter()
                .find(|(k, _, _, _)| k.kind() == kind && k.key().name() == name)
                .map(|(k, _, _, v)| {
                    let labels: Vec<_> = k
                        .key()
                        .labels()
                        .map(|l| (l.key().to_string(), l.value().to_string()))
                        .collect();
                    assert_eq!(labels, vec![("node".to_string(), "replica1".to_string())]);
                    v
                })
        };
        assert_eq!(
            find(MetricKind::Counter, names::STATEMENTS),
            Some(&DebugValue::Counter(2))
        );
        assert_eq!(
            find(MetricKind::Counter, names::ERRORS),
            Some(&DebugValue::Counter(1))
        );
        assert_eq!(find(MetricKind::Counter, names::RETRIES), None);
        assert_eq!(
            find(MetricKind::Gauge, names::LAG),
            Some(&DebugValue::Gauge(f64::INFINITY.into()))
        );
        assert_eq!(
            find(MetricKind::Gauge, names::LATENCY),
            Some(&DebugValue::Gauge(0.00025.into()))
        );
        assert_eq!(
            find(MetricKind::Histogram, names::CAUSAL_WAIT),
            Some(&DebugValue::Histogram(vec![0.003.into()]))
        );
    }
}
