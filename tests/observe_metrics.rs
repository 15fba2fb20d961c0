//! Metrics (feature `metrics`) seen through a test recorder for a scripted sequence of
//! writes, causal reads, a replica killed and a causal wait that times out, on cluster
//! `observe`.
//!
//! A binary of its own: it installs a *global* recorder, the only kind the monitor
//! thread (which sets the lag and latency gauges) reports to.
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_cluster::{Cluster, ClusterConnection, Consistency, NodeStatus, Role};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

use common::db::PATIENCE;
use common::Restore;

/// Metric values by (kind, name, node) from one snapshot (the recorder hands out what
/// changed since the previous snapshot: counters count from 0 again).
type Values = HashMap<(MetricKind, String, String), DebugValue>;

fn take(snapshotter: &Snapshotter) -> Values {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let node = key
                .key()
                .labels()
                .find(|l| l.key() == "node")
                .map(|l| l.value().to_string())
                .unwrap_or_default();
            ((key.kind(), key.key().name().to_string(), node), value)
        })
        .collect()
}

fn counter(values: &Values, name: &str, node: &str) -> u64 {
    match values.get(&(MetricKind::Counter, name.to_string(), node.to_string())) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        Some(other) => panic!("{name}{{node={node}}} is {other:?}"),
    }
}

fn gauge(values: &Values, name: &str, node: &str) -> Option<f64> {
    match values.get(&(MetricKind::Gauge, name.to_string(), node.to_string())) {
        Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
        _ => None,
    }
}

fn histogram(values: &Values, name: &str, node: &str) -> Vec<f64> {
    match values.get(&(MetricKind::Histogram, name.to_string(), node.to_string())) {
        Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect(),
        _ => Vec::new(),
    }
}

/// A counter of [`NodeStatus`].
type Field = fn(&NodeStatus) -> u64;

fn count(conn: &mut ClusterConnection) -> QueryResult<i64> {
    diesel::select(diesel::dsl::sql::<BigInt>("COUNT(*) FROM observe_metrics")).get_result(conn)
}

fn statuses(cluster: &Cluster) -> HashMap<String, NodeStatus> {
    cluster
        .status()
        .nodes
        .into_iter()
        .map(|n| (n.name.clone(), n))
        .collect()
}

#[test]
fn counters_gauges_and_causal_waits_match_a_scripted_sequence() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this process");

    let _g = common::exclusive("observe");
    let c = common::cluster("observe");
    let _restore = Restore(c);
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .causal_timeout(Duration::from_millis(300))
        // One monitor round, at build: gauges get set, and nothing the monitor does
        // later (ejecting the killed replica itself) can race the script below.
        .monitor_interval(Some(Duration::from_secs(600)))
        .ejection_cooldown(Duration::from_secs(600))
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS observe_metrics (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
         v INT NOT NULL)",
    )
    .unwrap();
    c.sync();

    // The monitor's first round: the gauges.
    let started = Instant::now();
    while !statuses(&cluster)
        .values()
        .all(|n| n.gtid_position.is_some())
    {
        assert!(started.elapsed() < PATIENCE, "{}", cluster.status());
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = take(&snapshotter);
    for node in ["master", "replica1", "replica2"] {
        let latency = gauge(&first, "diesel_cluster_latency_seconds", node);
        assert!(
            latency.is_some_and(|s| s > 0.0 && s < 1.0),
            "latency gauge of {node}: {latency:?}"
        );
    }
    for node in ["replica1", "replica2"] {
        assert_eq!(
            gauge(&first, "diesel_cluster_replica_lag_seconds", node),
            Some(0.0),
            "lag gauge of {node}"
        );
    }
    let before = statuses(&cluster);

    // 1. Three writes, then six causal reads: the first read on each replica waits for
    // the writes' GTID there (a histogram sample), the others find it confirmed.
    for v in 0..3 {
        diesel::sql_query(format!("INSERT INTO observe_metrics (v) VALUES ({v})"))
            .execute(&mut conn)
            .unwrap();
    }
    let mut reads = 0;
    for _ in 0..6 {
        count(&mut conn).unwrap();
        reads += 1;
    }

    // 2. replica1 dies: the first read routed there fails, is retried on replica2, and
    // replica1 is ejected.
    c.kill("replica1");
    while statuses(&cluster)["replica1"].errors == before["replica1"].errors {
        assert!(reads < 20, "no read went to replica1\n{}", cluster.status());
        count(&mut conn).unwrap();
        reads += 1;
    }
    for _ in 0..3 {
        count(&mut conn).unwrap();
        reads += 1;
    }

    // 3. replica2 stops applying: a causal read after a write times out waiting there
    // and reads from the master (a fallback of replica2's).
    c.stop_sql("replica2");
    diesel::sql_query("INSERT INTO observe_metrics (v) VALUES (9)")
        .execute(&mut conn)
        .unwrap();
    count(&mut conn).unwrap();
    reads += 1;
    assert_eq!(conn.last_node(), Some("master"));

    let after = statuses(&cluster);
    let seen = take(&snapshotter);
    let delta = |node: &str, f: fn(&NodeStatus) -> u64| f(&after[node]) - f(&before[node]);
    let counters: [(&str, Field); 7] = [
        ("diesel_cluster_statements_total", |n| n.statements),
        ("diesel_cluster_errors_total", |n| n.errors),
        ("diesel_cluster_ejections_total", |n| n.ejections),
        ("diesel_cluster_retries_total", |n| n.retries),
        ("diesel_cluster_fallbacks_total", |n| n.fallbacks),
        ("diesel_cluster_causal_waits_total", |n| n.causal_waits),
        ("diesel_cluster_causal_timeouts_total", |n| {
            n.causal_timeouts
        }),
    ];
    let mut table = String::new();
    for node in ["master", "replica1", "replica2"] {
        for (name, field) in counters {
            let metric = counter(&seen, name, node);
            table.push_str(&format!("{node:<9} {name:<40} {metric}\n"));
            assert_eq!(metric, delta(node, field), "{name}{{node={node}}}\n{table}");
        }
    }
    println!("{reads} reads, 4 writes:\n{table}{}", cluster.status());

    // What the script implies, node by node.
    let statements: u64 = ["master", "replica1", "replica2"]
        .iter()
        .map(|n| counter(&seen, "diesel_cluster_statements_total", n))
        .sum();
    let errors = counter(&seen, "diesel_cluster_errors_total", "replica1");
    assert_eq!(statements, 4 + reads + errors, "every attempt counted once");
    assert_eq!(errors, 1, "one read failed on the killed replica");
    assert_eq!(
        counter(&seen, "diesel_cluster_retries_total", "replica1"),
        1
    );
    assert_eq!(
        counter(&seen, "diesel_cluster_ejections_total", "replica1"),
        1
    );
    assert_eq!(counter(&seen, "diesel_cluster_errors_total", "replica2"), 0);
    assert_eq!(
        counter(&seen, "diesel_cluster_causal_timeouts_total", "replica2"),
        1
    );
    assert_eq!(
        counter(&seen, "diesel_cluster_fallbacks_total", "replica2"),
        1
    );
    assert_eq!(
        counter(&seen, "diesel_cluster_statements_total", "master"),
        5,
        "4 writes and the read that fell back"
    );
    for node in ["replica1", "replica2"] {
        let waits = histogram(&seen, "diesel_cluster_causal_wait_seconds", node);
        assert_eq!(
            waits.len() as u64,
            counter(&seen, "diesel_cluster_causal_waits_total", node),
            "one histogram sample per causal wait on {node}"
        );
        assert!(waits.iter().all(|&s| (0.0..5.0).contains(&s)), "{waits:?}");
    }
    let r2_waits = histogram(&seen, "diesel_cluster_causal_wait_seconds", "replica2");
    assert!(
        r2_waits.iter().any(|&s| s >= 0.29),
        "the timed-out wait took the causal timeout: {r2_waits:?}"
    );
}
