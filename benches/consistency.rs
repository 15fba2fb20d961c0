//! Read-your-writes: one write (an UPDATE of a seed row) followed by a read of that row.
//!
//! * `read_your_writes/raw/master`: raw `MysqlConnection` on the master, both statements.
//! * `read_your_writes/ours/master`: ours, master scope (master-only).
//! * `read_your_writes/ours/causal`: ours, `Role::Auto` + `Consistency::Causal`: the write
//!   goes to the master, the read to a replica that first waits for the write's GTID.
//! * `read_your_writes/ours/sticky`: ours, `Role::Auto` + `Consistency::Sticky(1 s)`: the
//!   read after a write goes to the master.
//!
//! The extra statements a causal read costs (`ClusterConnection::internal_statements`)
//! and the extra round trips the servers saw (their session counters of prepared
//! statement commands) are printed as `bench-note` lines.

mod common;

use std::time::Duration;

use common::{bench_rows, key, note, on_fresh, point_select};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel_cluster::{
    use_consistency, use_role, with_consistency, with_role, Cluster, ClusterConnection,
    Consistency, Role,
};

fn write<C>(conn: &mut C, k: i64)
where
    C: diesel::connection::Connection<Backend = diesel::mysql::Mysql>,
{
    let n = diesel::update(bench_rows::table.find(k))
        .set(bench_rows::score.eq(bench_rows::score + 1))
        .execute(conn)
        .expect("update");
    assert_eq!(n, 1);
}

fn write_then_read<C>(conn: &mut C, i: u64) -> common::Row
where
    C: diesel::connection::LoadConnection<Backend = diesel::mysql::Mysql>,
{
    let k = key(i);
    write(conn, k);
    point_select(conn, k)
}

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = Variable_name)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = Value)]
    value: String,
}

/// This connection's session counters on the node `role` reads from: prepared statement
/// prepares, executions and closes. (`Eventual` so that reading them does not itself
/// wait for a GTID.)
fn session_counts(conn: &mut ClusterConnection, role: Role) -> [i64; 3] {
    let rows: Vec<StatusRow> = with_consistency(Consistency::Eventual, || {
        with_role(role, || {
            diesel::sql_query(
                "SHOW SESSION STATUS WHERE Variable_name IN \
                 ('Com_stmt_prepare', 'Com_stmt_execute', 'Com_stmt_close')",
            )
            .load(conn)
        })
    })
    .expect("SHOW SESSION STATUS");
    let get = |n: &str| {
        rows.iter()
            .find(|r| r.name.eq_ignore_ascii_case(n))
            .and_then(|r| r.value.parse().ok())
            .unwrap_or_else(|| panic!("no {n} in SHOW SESSION STATUS"))
    };
    [
        get("Com_stmt_prepare"),
        get("Com_stmt_execute"),
        get("Com_stmt_close"),
    ]
}

/// Round trips the servers saw for `n` write-then-reads on a master + replica1 cluster
/// (so every replica read lands on one session): causal (`Role::Auto`) against the same
/// loop on the master alone (the user's own statements; diesel prepares the UPDATE each
/// time). A prepare and an execution are a round trip each; a close is a packet with no
/// reply. The snapshot statements are calibrated out with a run of zero iterations.
fn server_round_trips(urls: &common::Urls) {
    let cluster = Cluster::builder()
        .master(&urls.master)
        .replica(&urls.replica1)
        .build()
        .expect("master + replica1 cluster");
    let mut conn = cluster.connect();
    common::wait_until_replica_reads(&mut conn);
    let _causal = use_consistency(Consistency::Causal);
    for i in 0..5 {
        with_role(Role::Auto, || write_then_read(&mut conn, i));
        with_role(Role::Master, || write_then_read(&mut conn, i));
    }
    // Prepares + executions (round trips) and closes over both nodes, and internal
    // statements, for `n` iterations in `role`.
    let mut measure = |role: Role, n: u64| {
        let snapshot = |conn: &mut ClusterConnection| {
            let (m, r) = (
                session_counts(conn, Role::Master),
                session_counts(conn, Role::Replica),
            );
            (m[0] + m[1] + r[0] + r[1], m[2] + r[2])
        };
        let (trips0, closes0) = snapshot(&mut conn);
        let internal0 = conn.internal_statements();
        for i in 0..n {
            with_role(role, || write_then_read(&mut conn, i));
        }
        let internal = conn.internal_statements() - internal0;
        let (trips1, closes1) = snapshot(&mut conn);
        (trips1 - trips0, closes1 - closes0, internal)
    };
    let n = 100;
    let (cal_trips, cal_closes, _) = measure(Role::Master, 0);
    let (base_trips, base_closes, _) = measure(Role::Master, n);
    let (causal_trips, causal_closes, internal) = measure(Role::Auto, n);
    let per = |x: i64| (x - cal_trips) as f64 / n as f64;
    let per_close = |x: i64| (x - cal_closes) as f64 / n as f64;
    note(
        "causal extra round trips/server-counted, read after a write",
        None,
        None,
        &format!(
            "{:.2} extra round trips per write-then-read (target: <= 2) and {:.2} extra \
             close packets: causal {:.2} round trips ({:.2} closes), master-only {:.2} \
             ({:.2}), from the servers' session counters; {:.2} internal statements",
            per(causal_trips) - per(base_trips),
            per_close(causal_closes) - per_close(base_closes),
            per(causal_trips),
            per_close(causal_closes),
            per(base_trips),
            per_close(base_closes),
            internal as f64 / n as f64
        ),
    );
}

/// Measures the extra round trips of causal reads and prints them.
fn round_trips(urls: &common::Urls) {
    let cluster = common::cluster(urls);
    let mut conn = cluster.connect();
    common::wait_until_replica_reads(&mut conn);
    let _auto = use_role(Role::Auto);
    let _causal = use_consistency(Consistency::Causal);

    // A fresh connection that never wrote: reads cost nothing extra.
    let mut none = 0;
    for i in 0..100 {
        none += common::extra_round_trips(&mut conn, |c| {
            point_select(c, key(i));
        });
    }
    note(
        "causal extra round trips/no prior write",
        None,
        None,
        &format!("{none} over 100 reads (target: 0)"),
    );

    // Write, then read: the first read after each write; then a second read.
    let (mut first, mut second, mut on_replica, mut max_first) = (0, 0, 0, 0);
    let n = 200;
    for i in 0..n {
        write(&mut conn, key(i));
        let extra = common::extra_round_trips(&mut conn, |c| {
            point_select(c, key(i));
        });
        max_first = max_first.max(extra);
        first += extra;
        if conn.last_node_is_master() == Some(false) {
            on_replica += 1;
        }
        second += common::extra_round_trips(&mut conn, |c| {
            point_select(c, key(i));
        });
    }
    note(
        "causal extra round trips/read after a write",
        None,
        None,
        &format!(
            "mean {:.2}, max {max_first} per read over {n} writes (target: <= 2); \
             {on_replica}/{n} served by a replica",
            first as f64 / n as f64
        ),
    );
    note(
        "causal extra round trips/second read after a write",
        None,
        None,
        &format!(
            "mean {:.2} per read (the other replica may still have to confirm the GTID)",
            second as f64 / n as f64
        ),
    );
}

fn benches(c: &mut Criterion) {
    let urls = common::urls();
    common::prepare(&urls);
    round_trips(&urls);
    server_round_trips(&urls);

    let cluster = common::cluster(&urls);
    common::wait_until_replica_reads(&mut cluster.connect());
    let raw = || MysqlConnection::establish(&urls.master).expect("connect to the master");
    let ours = || -> ClusterConnection { cluster.connect() };

    let mut g = c.benchmark_group("read_your_writes");
    g.bench_function(BenchmarkId::new("raw", "master"), |b| {
        b.iter_custom(|iters| {
            on_fresh(iters, raw, |c: &mut MysqlConnection, i| {
                black_box(write_then_read(c, i));
            })
        })
    });
    let mut counters = Vec::new();
    for (name, role, consistency) in [
        ("master", Role::Master, None),
        ("causal", Role::Auto, Some(Consistency::Causal)),
        (
            "sticky",
            Role::Auto,
            Some(Consistency::Sticky(Duration::from_secs(1))),
        ),
    ] {
        let before = cluster.status();
        g.bench_function(BenchmarkId::new("ours", name), |b| {
            let _role = use_role(role);
            let _consistency = consistency.map(use_consistency);
            b.iter_custom(|iters| {
                on_fresh(iters, ours, |c: &mut ClusterConnection, i| {
                    black_box(write_then_read(c, i));
                })
            })
        });
        let after = cluster.status();
        let delta = |f: fn(&diesel_cluster::NodeStatus) -> u64| -> u64 {
            after.nodes.iter().map(f).sum::<u64>() - before.nodes.iter().map(f).sum::<u64>()
        };
        let replica_reads = after
            .nodes
            .iter()
            .zip(&before.nodes)
            .filter(|(a, _)| !a.is_master)
            .map(|(a, b)| a.statements - b.statements)
            .sum::<u64>();
        counters.push(format!(
            "{name}: {replica_reads} reads on replicas, {} causal waits ({} timed out), {} reads \
             sent to the master instead",
            delta(|n| n.causal_waits),
            delta(|n| n.causal_timeouts),
            delta(|n| n.fallbacks),
        ));
    }
    g.finish();
    note(
        "read_your_writes node counters",
        None,
        None,
        &counters.join("; "),
    );
}

criterion_group! {
    name = consistency;
    config = common::criterion();
    targets = benches
}
criterion_main!(consistency);
