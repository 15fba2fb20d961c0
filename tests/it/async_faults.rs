//! `AsyncClusterConnection` under faults, on its own cluster `async` (held exclusively,
//! left healthy by [`Restore`]): a replica killed under 64 tasks on a pool of 8, a
//! hung replica, a master failover, causal reads with a lagging replica, and 1,000
//! futures dropped at random points. The oracles are the servers: `@@port` says which
//! node answered, rows and open transactions are read from each server directly.
use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::pooled_connection::{bb8, deadpool};
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_cluster::{task, AsyncClusterConnection, Cluster, Consistency, Health, Role};

use common::db::{unique, users};
use common::Restore;

const NAME: &str = "async";

fn builder(c: &common::TestCluster) -> diesel_cluster::Builder {
    Cluster::builder()
        .url(&c.cluster_url)
        .monitor_interval(Some(Duration::from_millis(200)))
}

async fn port(conn: &mut AsyncClusterConnection) -> QueryResult<u16> {
    let p: i32 = diesel::select(diesel::dsl::sql::<Integer>("@@port"))
        .get_result(conn)
        .await?;
    Ok(p as u16)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_64_tasks_fails_no_read() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    let pool = bb8::Pool::builder()
        .max_size(8)
        .build(cluster.async_manager())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(4);
    let reads = Arc::new(AtomicU64::new(0));
    let after_kill_on = Arc::new(parking_lot::Mutex::new(HashSet::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (pool, reads, seen, killed) = (
            pool.clone(),
            reads.clone(),
            after_kill_on.clone(),
            killed.clone(),
        );
        tasks.push(tokio::spawn(task::with_replica(async move {
            let mut failures = Vec::new();
            while Instant::now() < deadline {
                let was_killed = AtomicBool::load(&killed, Relaxed);
                let result = async {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    port(&mut conn).await.map_err(|e| e.to_string())
                }
                .await;
                match result {
                    Ok(p) => {
                        reads.fetch_add(1, Relaxed);
                        if was_killed {
                            seen.lock().insert(p);
                        }
                    }
                    Err(e) => failures.push(e),
                }
            }
            failures
        })));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.kill("replica1");
    killed.store(true, Relaxed);
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    let reads = AtomicU64::load(&reads, Relaxed);
    eprintln!(
        "{reads} reads; after the kill on {:?}",
        after_kill_on.lock()
    );
    assert!(
        failures.is_empty(),
        "{} failed reads: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(reads > 640, "only {reads} reads");
    assert!(
        !after_kill_on.lock().contains(&c.replica1_port),
        "a read was served by the killed replica"
    );
    assert!(after_kill_on.lock().contains(&c.replica2_port));
    assert!(
        !after_kill_on.lock().contains(&c.master_port),
        "a replica read reached the master"
    );
}

/// A read whose replica can't be opened (its server is dead, and with no monitor nothing
/// has ejected it yet) is retried on the other replica, as a read that failed on an open
/// connection is. The oracle is `@@port`: every read is answered, by replica2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_replica_cannot_be_opened_is_served_by_the_other() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    c.kill("replica1");
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .monitor_interval(None)
        .build()
        .unwrap();
    let mut ports = Vec::new();
    for _ in 0..6 {
        // Opens no node: each first read opens the replica the balancer picks.
        let mut conn = cluster.connect_async();
        let p = task::with_replica(port(&mut conn))
            .await
            .expect("a read failed");
        ports.push(p);
    }
    assert!(ports.iter().all(|&p| p == c.replica2_port), "{ports:?}");
    // The round-robin balancer sends one of the first two reads to replica1: its open
    // failed, and ejected it.
    assert_eq!(
        cluster.status().node("replica1").unwrap().health,
        Health::Ejected
    );
}

/// A replica whose process hangs (SIGSTOP: its kernel still accepts connections and
/// acknowledges data, so no TCP timeout fires) is found by the monitor's deadline; the
/// async reads waiting on it are cut (their futures are woken by the monitor's sever,
/// with no timer of their own) and retried on the other replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_replica_cuts_the_async_reads_waiting_on_it() {
    /// The monitor's deadline (the smallest `network_timeout` allowed).
    const TIMEOUT: Duration = Duration::from_secs(3);
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c)
        .network_timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // Four connections, each with a session on both replicas.
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut conn = cluster.connect_async();
        let mut seen = HashSet::new();
        for _ in 0..4 {
            seen.insert(task::with_replica(port(&mut conn)).await.unwrap());
        }
        assert_eq!(seen, HashSet::from([c.replica1_port, c.replica2_port]));
        conns.push(conn);
    }

    c.freeze("replica1");
    let frozen = Instant::now();
    let readers: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(task::with_replica(async move {
                let mut ports = Vec::new();
                let mut slowest = Duration::ZERO;
                for _ in 0..10 {
                    let t = Instant::now();
                    ports.push(port(&mut conn).await.map_err(|e| e.to_string())?);
                    slowest = slowest.max(t.elapsed());
                }
                Ok::<_, String>((ports, slowest))
            }))
        })
        .collect();
    let all = async {
        let mut results = Vec::new();
        for r in readers {
            results.push(r.await.unwrap());
        }
        results
    };
    let Ok(results) = tokio::time::timeout(Duration::from_secs(30), all).await else {
        c.thaw("replica1");
        panic!("async reads still waiting 30 s after replica1 hung");
    };
    let took = frozen.elapsed();
    eprintln!("4 x 10 reads with replica1 hung, done after {took:?}: {results:?}");
    let mut slowest = Duration::ZERO;
    for r in &results {
        let (ports, slow) = r.as_ref().unwrap_or_else(|e| panic!("a read failed: {e}"));
        assert_eq!(ports.len(), 10);
        assert!(
            ports.iter().all(|p| *p == c.replica2_port),
            "reads answered by a hung replica or the master: {ports:?}"
        );
        slowest = slowest.max(*slow);
    }
    assert!(
        slowest >= Duration::from_secs(1),
        "no read waited on replica1 before the cut: {slowest:?}"
    );
    // The deadline plus a monitor round, with slack for a loaded machine.
    assert!(
        slowest <= TIMEOUT + Duration::from_secs(3),
        "a read waited {slowest:?} on the hung replica"
    );
    assert_eq!(
        cluster.status().node("replica1").unwrap().health,
        Health::Ejected
    );
    c.thaw("replica1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_on_after_a_master_failover() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c)
        .admin_credentials("admin", "admin_pw")
        .replication_credentials("repl", "repl_pw")
        .build()
        .unwrap();
    let pool = deadpool::Pool::builder(cluster.async_manager())
        .max_size(4)
        .build()
        .unwrap();
    let before = unique("async-before");
    let after = unique("async-after");
    let insert = |name: String| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            diesel::insert_into(users::table)
                .values((users::name.eq(&name), users::email.eq("failover")))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())
        }
    };
    assert_eq!(insert(before.clone()).await, Ok(1));
    c.sync();
    c.kill("master");
    // Writes fail (never retried) until a replica is promoted.
    assert!(insert(unique("async-during")).await.is_err());
    let promoted = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || cluster.promote(Some("replica1")))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(promoted, "replica1");
    let mut acked = 0;
    for _ in 0..20 {
        if insert(after.clone()).await == Ok(1) {
            acked += 1;
        }
    }
    assert_eq!(acked, 20);
    let count = |name: &str| {
        c.sql(
            "replica1",
            &format!("SELECT COUNT(*) FROM app.users WHERE name = '{name}'"),
        )
    };
    assert_eq!(count(&before), "1");
    assert_eq!(count(&after), "20");
    let mut conn = pool.get().await.unwrap();
    assert_eq!(port(&mut conn).await.unwrap(), c.replica1_port);
    drop(conn);
    c.reset();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn causal_reads_see_every_write_with_a_lagging_replica() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .causal_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    c.delay("replica1", 3);
    let name = unique("async-causal");
    let mut conn = cluster.connect_async();
    diesel::insert_into(users::table)
        .values((users::name.eq(&name), users::email.eq("0")))
        .execute(&mut conn)
        .await
        .unwrap();
    let id: i64 = users::table
        .filter(users::name.eq(&name))
        .select(users::id)
        .first(&mut conn)
        .await
        .unwrap();
    let (mut stale, mut on_replicas, mut extra) = (0, 0, 0);
    for i in 1..=300i64 {
        diesel::update(users::table.find(id))
            .set(users::email.eq(i.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
        let before = conn.internal_statements();
        let seen: String = users::table
            .find(id)
            .select(users::email)
            .first(&mut conn)
            .await
            .unwrap();
        extra += conn.internal_statements() - before;
        if seen != i.to_string() {
            stale += 1;
        }
        if conn.last_node_is_master() == Some(false) {
            on_replicas += 1;
        }
    }
    eprintln!("causal: {stale} stale, {on_replicas} of 300 on replicas, {extra} extra statements");
    assert_eq!(stale, 0);
    assert!(on_replicas > 0, "every read went to the master");
    c.delay("replica1", 0);
}

/// One future of the cancellation test: what it did, when it was not cut short.
enum Done {
    Committed(i64),
    Other,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_futures_dropped_at_random_points_leave_no_open_transaction() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .causal_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let pool = bb8::Pool::builder()
        .max_size(4)
        .build(cluster.async_manager())
        .await
        .unwrap();
    let tag = unique("async-cancel");
    // Row ids of this run (a run before it may have left its own).
    let base: i64 = c
        .sql(
            "master",
            "SELECT COALESCE(MAX(id), 0) + 1000000 FROM app.users",
        )
        .parse()
        .unwrap();
    c.stop_sql("replica2"); // causal waits there run out: long waits to cut short
                            // The time limits are drawn around how long a transaction takes here (debug build,
                            // shared cores): up to three times that, so that about a third of them finish.
    let typical = {
        let mut conn = pool.get().await.unwrap();
        let started = Instant::now();
        for _ in 0..5 {
            conn.transaction(async |conn| {
                diesel::update(users::table.filter(users::name.eq(&tag)))
                    .set(users::email.eq(users::email))
                    .execute(conn)
                    .await
            })
            .await
            .unwrap();
        }
        started.elapsed() / 5
    };
    let (low, high) = (
        100f64.ln(),
        (typical.as_micros() as f64 * 50.0).max(1000.0).ln(),
    );
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut committed, mut cut) = (Vec::new(), 0);
    for i in 0..1000i64 {
        let unit = (next() % 1_000_000) as f64 / 1_000_000.0;
        let limit = Duration::from_micros((low + unit * (high - low)).exp() as u64);
        let kind = next() % 3;
        let pool = pool.clone();
        let tag = tag.clone();
        let work = async move {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            match kind {
                0 => conn
                    .transaction(async |conn| {
                        diesel::insert_into(users::table)
                            .values((
                                users::id.eq(base + i),
                                users::name.eq(&tag),
                                users::email.eq(i.to_string()),
                            ))
                            .execute(conn)
                            .await?;
                        diesel::update(users::table.filter(users::id.eq(base + i)))
                            .set(users::email.eq((i * 2).to_string()))
                            .execute(conn)
                            .await
                    })
                    .await
                    .map(|_| Done::Committed(i))
                    .map_err(|e| e.to_string()),
                1 => {
                    diesel::update(users::table.filter(users::name.eq(&tag)))
                        .set(users::email.eq(users::email))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| e.to_string())?;
                    task::with_replica(async {
                        users::table
                            .filter(users::name.eq(&tag))
                            .count()
                            .get_result::<i64>(&mut *conn)
                            .await
                    })
                    .await
                    .map(|_| Done::Other)
                    .map_err(|e| e.to_string())
                }
                _ => {
                    use futures_util::StreamExt;
                    let mut rows = diesel::sql_query("SELECT seq FROM seq_1_to_20000")
                        .load_stream::<Seq>(&mut *conn)
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut n = 0;
                    while let Some(row) = rows.next().await {
                        row.map_err(|e| e.to_string())?;
                        n += 1;
                    }
                    assert_eq!(n, 20000);
                    Ok(Done::Other)
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(Done::Committed(i))) => committed.push(i),
            Ok(Ok(Done::Other)) => {}
            Ok(Err(e)) => panic!("future {i} (kind {kind}) failed: {e}"),
            Err(_) => cut += 1,
        }
    }
    c.start_sql("replica2");
    eprintln!(
        "{} committed, {cut} cut short (limits from 100 us to {:.0} us; a transaction takes {typical:?})",
        committed.len(),
        high.exp(),
    );
    assert!(
        cut > 100 && committed.len() > 50,
        "{cut} cut, {} committed",
        committed.len()
    );

    // Every connection the pool hands out is outside any transaction, on every node
    // session it holds.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.get().await.unwrap();
        for role in [Role::Master, Role::Replica] {
            let open: i64 = task::with_role(role, async {
                diesel::select(diesel::dsl::sql::<BigInt>(
                    "CAST(@@in_transaction AS SIGNED)",
                ))
                .get_result(&mut *conn)
                .await
            })
            .await
            .unwrap();
            assert_eq!(
                open, 0,
                "a pooled connection is inside a transaction on {role:?}"
            );
        }
        held.push(conn);
    }
    drop(held);
    // The server's view: no transaction left open, and the rows are exactly those of
    // the transactions that committed (plus any whose COMMIT was cut after the server
    // ran it), each written whole.
    assert_eq!(
        c.sql(
            "master",
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX"
        ),
        "0"
    );
    let rows = c.sql(
        "master",
        &format!("SELECT id - {base}, email FROM app.users WHERE name = '{tag}'"),
    );
    let mut in_db = HashSet::new();
    for line in rows.lines() {
        let (id, email) = line.split_once('\t').unwrap();
        let id: i64 = id.parse().unwrap();
        assert_eq!(
            email,
            (id * 2).to_string(),
            "a half-applied transaction: {line}"
        );
        in_db.insert(id);
    }
    for i in &committed {
        assert!(in_db.contains(i), "committed transaction {i} is missing");
    }
    let extra = in_db.len() - committed.len();
    eprintln!("{extra} rows from transactions cut during COMMIT");
    assert!(extra <= cut);
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    seq: i64,
}

/// Holds all `n` connections of `pool` at once and reads `@@port` on each in replica
/// scope: how many read on replica1 and replica2 (and anything else, which fails).
async fn pool_spread(
    c: &common::TestCluster,
    pool: &bb8::Pool<AsyncClusterConnection>,
    n: usize,
) -> (usize, usize) {
    task::with_replica(async {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(pool.get().await.expect("checkout"));
        }
        let (mut one, mut two) = (0, 0);
        for conn in &mut held {
            match port(conn).await.expect("a read") {
                p if p == c.replica1_port => one += 1,
                p if p == c.replica2_port => two += 1,
                p => panic!("a replica-scope read answered by port {p}"),
            }
        }
        (one, two)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_affinity_spreads_a_pool_again_after_a_replica_returns() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c).replica_affinity(true).build().unwrap();
    let pool = bb8::Pool::builder()
        .max_size(8)
        .build(cluster.async_manager())
        .await
        .unwrap();
    // Each connection keeps one replica; the servers' `@@port` says which.
    let first = pool_spread(c, &pool, 8).await;
    assert_eq!(first, (4, 4), "8 connections over 2 replicas");

    c.kill("replica1");
    wait_health(&cluster, "replica1", |n| n.health != Health::Up).await;
    assert_eq!(pool_spread(c, &pool, 8).await, (0, 8), "all on replica2");

    c.start_node("replica1");
    // Up, and its lag measured again: usable for the default consistency.
    wait_health(&cluster, "replica1", |n| {
        n.health == Health::Up && n.lag.is_some()
    })
    .await;
    // The connections rebalance as they go back to the pool. A connection whose
    // replica1 session died with the server reads elsewhere once more (its failed read
    // moves), so this takes a round or two; then the spread holds.
    let mut rounds = Vec::new();
    while rounds.last() != Some(&(4, 4)) {
        assert!(rounds.len() < 4, "never spread again: {rounds:?}");
        rounds.push(pool_spread(c, &pool, 8).await);
    }
    assert_eq!(pool_spread(c, &pool, 8).await, (4, 4), "after {rounds:?}");
    // Without affinity nothing is kept or counted.
    let plain = builder(c).build().unwrap();
    let mut conn = plain.connect_async();
    let ports: HashSet<u16> = task::with_replica(async {
        let mut seen = HashSet::new();
        for _ in 0..6 {
            seen.insert(port(&mut conn).await.unwrap());
        }
        seen
    })
    .await;
    assert_eq!(ports.len(), 2, "round-robin per statement: {ports:?}");
}

async fn wait_health(
    cluster: &Cluster,
    node: &str,
    ok: impl Fn(&diesel_cluster::NodeStatus) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster.status().node(node).is_some_and(&ok) {
        assert!(Instant::now() < deadline, "{node}: {:?}", cluster.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The same rebalancing on the blocking connection: r2d2 hands its connections back
/// through the same engine call.
#[test]
fn replica_affinity_spreads_an_r2d2_pool_again_too() {
    let _g = common::exclusive(NAME);
    let c = common::db::migrated(NAME);
    let _restore = Restore(c);
    let cluster = builder(c).replica_affinity(true).build().unwrap();
    let pool = diesel::r2d2::Pool::builder()
        .max_size(4)
        .min_idle(Some(0))
        .build(cluster.manager())
        .unwrap();
    let spread = || {
        diesel_cluster::with_replica(|| {
            let mut held: Vec<_> = (0..4).map(|_| pool.get().expect("checkout")).collect();
            let ports: Vec<u16> = held
                .iter_mut()
                .map(|conn| {
                    let query = diesel::select(diesel::dsl::sql::<Integer>("@@port"));
                    let p: i32 =
                        diesel::RunQueryDsl::get_result(query, &mut **conn).expect("a read");
                    p as u16
                })
                .collect();
            let on = |port| ports.iter().filter(|&&p| p == port).count();
            assert_eq!(on(c.replica1_port) + on(c.replica2_port), 4, "{ports:?}");
            (on(c.replica1_port), on(c.replica2_port))
        })
    };
    assert_eq!(spread(), (2, 2));
    c.kill("replica1");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(wait_health(&cluster, "replica1", |n| {
        n.health != Health::Up
    }));
    assert_eq!(spread(), (0, 4));
    c.start_node("replica1");
    rt.block_on(wait_health(&cluster, "replica1", |n| {
        n.health == Health::Up && n.lag.is_some()
    }));
    let mut rounds = Vec::new();
    while rounds.last() != Some(&(2, 2)) {
        assert!(rounds.len() < 4, "never spread again: {rounds:?}");
        rounds.push(spread());
    }
    assert_eq!(spread(), (2, 2), "after {rounds:?}");
}
