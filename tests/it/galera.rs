//! Galera clusters (the guide's Galera page) against a real 3-node Galera cluster
//! (`scripts/cluster.sh --galera`, cluster `galera`): the writer and its failover, nodes
//! that leave the synced state, conflict retry, causal reads through Galera's GTIDs.
//!
//! Each test injects faults, judges server counters or general logs, so each holds
//! `common::exclusive("galera")` and leaves three synced nodes behind (also when it
//! fails: [`GaleraRestore`]).
use crate::common;

use common::galera::{galera, GaleraCluster, GaleraRestore};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_cluster::{
    with_replica, Cluster, ClusterConnection, ClusterKind, Consistency, Health, Role,
};

pub(crate) const NAME: &str = "galera";

pub(crate) fn gc() -> &'static GaleraCluster {
    galera(NAME)
}

/// A cluster over the three nodes in URL order, Auto role, a quick monitor.
pub(crate) fn cluster(consistency: Consistency) -> Cluster {
    Cluster::builder()
        .url(&gc().cluster_url)
        .default_role(Role::Auto)
        .consistency(consistency)
        .monitor_interval(Some(Duration::from_millis(200)))
        .ejection_cooldown(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .network_timeout(Duration::from_secs(3))
        .causal_timeout(Duration::from_secs(2))
        .conflict_retries(30)
        .build()
        .expect("a valid Galera cluster")
}

fn raw(n: usize) -> MysqlConnection {
    MysqlConnection::establish(&gc().admin_urls[n - 1]).expect("a raw connection")
}

#[derive(QueryableByName)]
struct Port {
    #[diesel(sql_type = Integer)]
    port: i32,
}

/// The port of the server that answered (the server's own word for where a read ran).
fn served_by(conn: &mut ClusterConnection) -> u16 {
    let p: Port = with_replica(|| diesel::sql_query("SELECT @@port AS port").get_result(conn))
        .expect("a read");
    p.port as u16
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn health(cluster: &Cluster, node: &str) -> Health {
    cluster.status().node(node).expect("a node").health
}

#[test]
fn galera_is_recognised_and_a_desynced_node_gets_nothing() {
    let _g = common::exclusive(NAME);
    let c = gc();
    let _restore = GaleraRestore(c);
    let refused = Cluster::builder()
        .url(&c.cluster_url)
        .monitor_interval(None)
        .build();
    assert!(
        refused.unwrap_err().to_string().contains("monitor"),
        "Galera without the monitor is refused at build()"
    );
    let cluster = cluster(Consistency::Eventual);
    assert!(cluster.promote(None).is_err(), "nothing to promote");
    let mut conn = cluster.connect();
    conn.batch_execute("CREATE TABLE IF NOT EXISTS gbasic (id INT PRIMARY KEY)")
        .unwrap();
    assert_eq!(
        conn.last_node(),
        Some("node1"),
        "writes go to the first node"
    );
    let ports: HashSet<u16> = (0..20).map(|_| served_by(&mut conn)).collect();
    assert_eq!(
        ports,
        HashSet::from([c.ports[1], c.ports[2]]),
        "reads are spread over the other synced nodes"
    );
    // The monitor's last check of node2 (a check that missed its deadline on a loaded
    // machine clears the state until the next one succeeds).
    wait_until(
        "node2's wsrep state is read",
        Duration::from_secs(10),
        || {
            cluster
                .status()
                .node("node2")
                .is_some_and(|n| n.galera.is_some())
        },
    );
    let status = cluster.status();
    let g = status.node("node2").and_then(|n| n.galera.clone()).unwrap();
    assert_eq!((g.component.as_str(), g.local_state), ("Primary", 4));
    assert_eq!(g.cluster_size, 3);
    assert!(
        status.to_string().contains("galera: Primary Synced"),
        "{status}"
    );

    c.run(&["desync", "2"]);
    wait_until("node2 is seen desynced", Duration::from_secs(5), || {
        health(&cluster, "node2") == Health::NotSynced
    });
    let ports: HashSet<u16> = (0..20).map(|_| served_by(&mut conn)).collect();
    assert_eq!(
        ports,
        HashSet::from([c.ports[2]]),
        "a desynced node serves no read"
    );
    c.run(&["resync", "2"]);
    wait_until("node2 is synced again", Duration::from_secs(5), || {
        health(&cluster, "node2") == Health::Up
    });
    assert_eq!(
        (0..20)
            .map(|_| served_by(&mut conn))
            .collect::<HashSet<_>>()
            .len(),
        2
    );
    assert_eq!(
        "galera".parse::<ClusterKind>(),
        Ok(ClusterKind::Galera),
        "the URL's value"
    );
}

#[derive(QueryableByName)]
struct WriteRow {
    #[diesel(sql_type = Integer)]
    thread: i32,
    #[diesel(sql_type = Integer)]
    seq: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every `(thread, seq)` on node `n` with how many rows it has, read directly.
fn rows_on(n: usize, table: &str) -> HashMap<(i32, i32), i64> {
    diesel::sql_query(format!(
        "SELECT thread, seq, COUNT(*) AS n FROM app.{table} GROUP BY thread, seq"
    ))
    .load::<WriteRow>(&mut raw(n))
    .unwrap()
    .into_iter()
    .map(|r| ((r.thread, r.seq), r.n))
    .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    s: String,
}

/// Watches node `n` from the server side every 50 ms: the intervals (server time, as
/// `NOW(6)` strings) during which it was not in the primary component.
fn watch_component(n: usize, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<(String, String)>> {
    thread::spawn(move || {
        let mut conn = raw(n);
        let mut windows = Vec::new();
        let mut open: Option<String> = None;
        while !stop.load(Relaxed) {
            let Ok(now) = diesel::sql_query(
                "SELECT CONCAT(NOW(6), '|', VARIABLE_VALUE) AS s FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME = 'wsrep_cluster_status'",
            )
            .get_result::<Status>(&mut conn) else {
                thread::sleep(Duration::from_millis(50));
                continue;
            };
            let (at, status) = now.s.split_once('|').unwrap();
            match (&open, status == "Primary") {
                (None, false) => open = Some(at.to_string()),
                (Some(start), true) => {
                    windows.push((start.clone(), at.to_string()));
                    open = None;
                }
                _ => {}
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Some(start) = open {
            windows.push((start, "9999-01-01".into()));
        }
        windows
    })
}

/// The must-show run: 8 threads write (and read) through the library for 30 s while the
/// writer is killed and restarted and another node is partitioned away and healed.
#[test]
fn writes_survive_a_killed_writer_and_a_partition() {
    let _g = common::exclusive(NAME);
    let c = gc();
    let _restore = GaleraRestore(c);
    let cluster = cluster(Consistency::Eventual);
    let mut setup = cluster.connect();
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS gchaos; CREATE TABLE gchaos (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             thread INT NOT NULL, seq INT NOT NULL)",
        )
        .unwrap();
    // The oracle for reads: node3's own log of every statement it received.
    c.sql(3, "TRUNCATE mysql.general_log");
    c.sql(
        3,
        "SET GLOBAL log_output = 'TABLE', GLOBAL general_log = ON",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_component(3, stop.clone());
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let (failed_writes, reads, failed_reads) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (cluster, stop, acked) = (cluster.clone(), stop.clone(), acked.clone());
            let (failed_writes, reads, failed_reads) =
                (failed_writes.clone(), reads.clone(), failed_reads.clone());
            thread::spawn(move || {
                let mut conn = cluster.connect();
                let mut seq = 0;
                while !stop.load(Relaxed) {
                    seq += 1;
                    let sql = format!("INSERT INTO gchaos (thread, seq) VALUES ({t}, {seq})");
                    match diesel::sql_query(sql).execute(&mut conn) {
                        Ok(_) => {
                            acked.lock().unwrap().insert((t, seq));
                        }
                        Err(_) => {
                            failed_writes.fetch_add(1, Relaxed);
                        }
                    }
                    let read = with_replica(|| {
                        diesel::sql_query(format!(
                            "SELECT COUNT(*) AS n FROM gchaos WHERE thread = {t}"
                        ))
                        .get_result::<Count>(&mut conn)
                    });
                    match read {
                        Ok(_) => reads.fetch_add(1, Relaxed),
                        Err(_) => failed_reads.fetch_add(1, Relaxed),
                    };
                    thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    let at = |s: u64| {
        let due = started + Duration::from_secs(s);
        thread::sleep(due.saturating_duration_since(Instant::now()));
    };
    at(3);
    c.run(&["kill", "1"]);
    let killed = Instant::now();
    wait_until("writes move to node2", Duration::from_secs(10), || {
        cluster.master_name() == "node2"
    });
    let failover = killed.elapsed();
    at(8);
    let restart = Instant::now();
    c.run(&["start-node", "1"]);
    wait_until("writes come back to node1", Duration::from_secs(10), || {
        cluster.master_name() == "node1"
    });
    let rejoin = restart.elapsed();
    at(19);
    c.run(&["partition", "3"]);
    let partitioned = Instant::now();
    wait_until("node3 is out", Duration::from_secs(15), || {
        health(&cluster, "node3") != Health::Up
    });
    let noticed = partitioned.elapsed();
    at(26);
    c.run(&["heal", "3"]);
    at(30);
    stop.store(true, Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let windows = watcher.join().unwrap();
    c.sql(3, "SET GLOBAL general_log = OFF");
    c.run(&["wait-synced", "60"]);

    let acked = acked.lock().unwrap().clone();
    let (failed, reads, failed_reads) = (
        failed_writes.load(Relaxed),
        reads.load(Relaxed),
        failed_reads.load(Relaxed),
    );
    eprintln!(
        "galera chaos: {} acknowledged writes, {failed} failed; {reads} reads, {failed_reads} \
         failed; failover to node2 {failover:?} after the kill, node1 writer again {rejoin:?} \
         after its restart began, node3 out {noticed:?} after the partition; node3 outside \
         the primary component: {windows:?}",
        acked.len()
    );
    assert!(acked.len() > 500, "the run wrote: {}", acked.len());
    assert!(
        !windows.is_empty(),
        "node3 really left the primary component"
    );
    let on_node1 = rows_on(1, "gchaos");
    for n in 1..=3 {
        let rows = rows_on(n, "gchaos");
        for w in &acked {
            assert_eq!(rows.get(w), Some(&1), "node{n}: acknowledged write {w:?}");
        }
        let twice: Vec<_> = rows.iter().filter(|(_, &k)| k != 1).collect();
        assert!(twice.is_empty(), "node{n}: writes applied twice: {twice:?}");
        assert_eq!(rows, on_node1, "node{n} has the same rows as node1");
    }
    // Where reads went, by node3's own log of every statement it received (served or
    // refused). With `wsrep_dirty_reads` off a node outside the primary component refuses
    // every read (error 1047), the library marks it out at the first refusal and retries
    // the read elsewhere; past the grace of one monitor round (+ a check) no read of the
    // workload may even reach it.
    assert_eq!(c.sql(3, "SELECT @@wsrep_dirty_reads"), "0");
    let count = |from: &str, to: &str| -> u64 {
        c.sql(
            3,
            &format!(
                "SELECT COUNT(*) FROM mysql.general_log WHERE command_type IN ('Query', 'Execute') \
                 AND argument LIKE '%FROM gchaos%' AND event_time >= '{from}' AND event_time <= '{to}'"
            ),
        )
        .parse()
        .unwrap()
    };
    let (mut in_grace, mut after_grace) = (0, 0);
    for (from, to) in &windows {
        let grace: String = c.sql(3, &format!("SELECT '{from}' + INTERVAL 1 SECOND"));
        in_grace += count(from, &grace);
        after_grace += count(&grace, to);
    }
    let total = count("1000-01-01", "9999-01-01");
    eprintln!(
        "galera chaos: node3 received {total} workload reads in all; outside the primary \
         component: {in_grace} in the first second (refused by the server), {after_grace} after"
    );
    assert!(total > 0, "node3 served reads while it was synced");
    assert_eq!(
        after_grace, 0,
        "reads reached node3 outside the primary component"
    );
}

/// Increments row `id` of `gconf` and journals `(thread, seq)` in one transaction.
fn increment<C: diesel::connection::LoadConnection<Backend = diesel::mysql::Mysql>>(
    conn: &mut C,
    id: i32,
    thread: i32,
    seq: i32,
) -> QueryResult<()> {
    diesel::sql_query(format!(
        "SELECT n AS n FROM gconf WHERE id = {id} FOR UPDATE"
    ))
    .get_result::<Count>(conn)?;
    diesel::sql_query(format!("UPDATE gconf SET n = n + 1 WHERE id = {id}")).execute(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO gconf_log (thread, seq) VALUES ({thread}, {seq})"
    ))
    .execute(conn)?;
    Ok(())
}

/// Conflicting writes: the same rows from 4 threads, two through the library (the
/// writer, node1) and two on node2 with raw connections. The library's closure
/// transactions lose certification conflicts and are run again; nothing is lost or
/// applied twice.
#[test]
fn conflicting_transactions_are_retried_whole() {
    let _g = common::exclusive(NAME);
    let c = gc();
    let _restore = GaleraRestore(c);
    let cluster = cluster(Consistency::Eventual);
    let mut setup = cluster.connect();
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS gconf; DROP TABLE IF EXISTS gconf_log; \
             CREATE TABLE gconf (id INT PRIMARY KEY, n BIGINT NOT NULL); \
             INSERT INTO gconf VALUES (1, 0), (2, 0), (3, 0); \
             CREATE TABLE gconf_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, thread INT, seq INT)",
        )
        .unwrap();
    c.run(&["wait-synced", "30"]);
    let before: u64 = cluster
        .status()
        .nodes
        .iter()
        .map(|n| n.conflict_retries)
        .sum();
    let cert_before = c.status_var(1, "wsrep_local_cert_failures");
    let per_thread = 60;
    let attempts = Arc::new(AtomicU64::new(0));
    let raw_retries = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for t in 0..4 {
        let (cluster, attempts, raw_retries) =
            (cluster.clone(), attempts.clone(), raw_retries.clone());
        threads.push(thread::spawn(move || -> Vec<i32> {
            let mut done = Vec::new();
            if t < 2 {
                let mut conn = cluster.connect();
                for seq in 0..per_thread {
                    let id = seq % 3 + 1;
                    let r = conn.transaction_with_retry(|conn| {
                        attempts.fetch_add(1, Relaxed);
                        increment(conn, id, t, seq)
                    });
                    assert_eq!(conn.last_node(), Some("node1"));
                    if r.is_ok() {
                        done.push(seq);
                    }
                }
            } else {
                // Forced onto node2, retrying by hand.
                let mut conn = raw(2);
                for seq in 0..per_thread {
                    let id = seq % 3 + 1;
                    for _ in 0..50 {
                        match conn.transaction(|conn| increment(conn, id, t, seq)) {
                            Ok(()) => {
                                done.push(seq);
                                break;
                            }
                            Err(e) if e.to_string().contains("Deadlock") => {
                                raw_retries.fetch_add(1, Relaxed);
                            }
                            Err(e) => panic!("raw thread {t}: {e}"),
                        }
                    }
                }
            }
            done
        }));
    }
    let done: Vec<Vec<i32>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    c.run(&["wait-synced", "30"]);
    let status = cluster.status();
    let retries: u64 = status.nodes.iter().map(|n| n.conflict_retries).sum::<u64>() - before;
    let lib_done = (done[0].len() + done[1].len()) as u64;
    let total_done: u64 = done.iter().map(|d| d.len() as u64).sum();
    let cert_failures = c.status_var(1, "wsrep_local_cert_failures") - cert_before;
    eprintln!(
        "galera conflicts: {lib_done} library transactions committed in {} attempts ({retries} \
         retries reported by status()); raw threads on node2: {} committed, {} retried by hand; \
         node1 wsrep_local_cert_failures +{cert_failures}",
        attempts.load(Relaxed),
        total_done - lib_done,
        raw_retries.load(Relaxed)
    );
    assert_eq!(
        lib_done,
        2 * per_thread as u64,
        "every library transaction committed"
    );
    assert!(retries > 0, "the library retried conflicting transactions");
    assert_eq!(
        attempts.load(Relaxed),
        lib_done + retries,
        "each retry reported once, each attempt that failed retried"
    );
    assert!(status.to_string().contains("conflict retries"), "{status}");
    for n in 1..=3 {
        let mut conn = raw(n);
        let sum: Count = diesel::sql_query("SELECT CAST(SUM(n) AS SIGNED) AS n FROM gconf")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(
            sum.n as u64, total_done,
            "node{n}: no increment lost or applied twice"
        );
        let rows = rows_on(n, "gconf_log");
        assert_eq!(
            rows.len() as u64,
            total_done,
            "node{n}: one journal row per commit"
        );
        assert!(
            rows.values().all(|&k| k == 1),
            "node{n}: a transaction applied twice"
        );
        for (t, seqs) in done.iter().enumerate() {
            for s in seqs {
                assert!(
                    rows.contains_key(&(t as i32, *s)),
                    "node{n}: lost ({t}, {s})"
                );
            }
        }
    }
}

/// The servers' `Questions` summed over the three nodes, read as root (this costs one
/// statement on each node, subtracted by the caller).
pub(crate) fn questions(c: &GaleraCluster) -> u64 {
    (1..=3).map(|n| c.status_var(n, "Questions")).sum()
}

/// Writes each row of `ids` on `w`, reads it back on `r` at once (raw connections, no
/// library): how many reads missed their row.
fn raw_pairs(w: &mut MysqlConnection, r: &mut MysqlConnection, ids: std::ops::Range<i32>) -> usize {
    let mut stale = 0;
    for id in ids {
        diesel::sql_query(format!("INSERT INTO app.gcausal VALUES ({id}, {id})"))
            .execute(w)
            .unwrap();
        let seen: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM app.gcausal WHERE id = {id}"
        ))
        .get_result(r)
        .unwrap();
        stale += usize::from(seen.n != 1);
    }
    stale
}

/// A causal cluster in Auto role whose monitor looks once, at the start: its rounds are
/// statements on every node, which the causal counts of `Questions` must not include.
pub(crate) fn quiet_causal_cluster() -> Cluster {
    Cluster::builder()
        .url(&gc().cluster_url)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .causal_timeout(Duration::from_secs(2))
        .monitor_interval(Some(Duration::from_secs(300)))
        .build()
        .unwrap()
}

/// Causal: 500 write-then-read pairs, the write on the writer and the read on another
/// node, none stale; the extra statements counted by the servers. Compared with
/// `wsrep_sync_wait` on a raw session, and with no wait at all.
#[test]
fn causal_reads_see_their_writes_on_other_nodes() {
    let _g = common::exclusive(NAME);
    let c = gc();
    let _restore = GaleraRestore(c);
    let cluster = quiet_causal_cluster();
    let mut conn = cluster.connect();
    conn.batch_execute(
        "DROP TABLE IF EXISTS gcausal; CREATE TABLE gcausal (id INT PRIMARY KEY, v INT NOT NULL)",
    )
    .unwrap();
    c.run(&["wait-synced", "30"]);
    let pairs = 500;
    let pair = |conn: &mut ClusterConnection, id: i32| -> (bool, String) {
        diesel::sql_query(format!("INSERT INTO gcausal VALUES ({id}, {id})"))
            .execute(conn)
            .unwrap();
        let seen: Count = with_replica(|| {
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM gcausal WHERE id = {id}"))
                .get_result(conn)
        })
        .unwrap();
        (seen.n == 1, conn.last_node().unwrap().to_string())
    };
    // Warm up: every node connection opened and its statements prepared.
    for id in 0..10 {
        pair(&mut conn, 1_000_000 + id);
    }
    let q0 = questions(c);
    let t0 = Instant::now();
    let mut stale = 0;
    let mut elsewhere = 0;
    for id in 0..pairs {
        let (fresh, node) = pair(&mut conn, id);
        stale += usize::from(!fresh);
        elsewhere += usize::from(node != "node1");
    }
    let causal_time = t0.elapsed();
    let q1 = questions(c);
    // Per pair: the INSERT and the SELECT, plus what causal reading adds. The three
    // `SHOW GLOBAL STATUS` of the second count are the only other statements.
    let extra = (q1 - q0 - 3) as f64 / pairs as f64 - 2.0;

    // The same on raw connections: write on node1, read on node2 with
    // `wsrep_sync_wait = 1` set once for the session.
    let (mut w, mut r) = (raw(1), raw(2));
    r.batch_execute("SET SESSION wsrep_sync_wait = 1").unwrap();
    let q2 = questions(c);
    let t2 = Instant::now();
    let sync_wait_stale = raw_pairs(&mut w, &mut r, 10_000..10_000 + pairs);
    let sync_wait_time = t2.elapsed();
    let sync_wait_extra = (questions(c) - q2 - 3) as f64 / pairs as f64 - 2.0;
    // And with no wait at all, to see what the waits are for.
    r.batch_execute("SET SESSION wsrep_sync_wait = 0").unwrap();
    let unwaited_stale = raw_pairs(&mut w, &mut r, 20_000..20_000 + pairs);
    let status = cluster.status();
    let waits: u64 = status.nodes.iter().map(|n| n.causal_waits).sum();
    let timeouts: u64 = status.nodes.iter().map(|n| n.causal_timeouts).sum();
    eprintln!(
        "galera causal: {pairs} pairs, {stale} stale, {elsewhere} read on another node than \
         the writer, {extra:.2} extra statements per pair (servers' Questions), {waits} \
         WSREP_SYNC_WAIT_UPTO_GTID waits, {timeouts} timed out, {:.0} us per pair; \
         raw wsrep_sync_wait=1: {sync_wait_stale} stale, {sync_wait_extra:.2} extra, {:.0} us \
         per pair; no wait: {unwaited_stale} stale of {pairs}",
        causal_time.as_micros() as f64 / pairs as f64,
        sync_wait_time.as_micros() as f64 / pairs as f64,
    );
    assert_eq!(stale, 0, "a causal read missed its write");
    assert_eq!(elsewhere, pairs as usize, "every read ran on another node");
    assert_eq!(timeouts, 0);
    assert!(
        waits >= pairs as u64,
        "each read waited for its write: {waits}"
    );
    assert!(
        (extra - 2.0).abs() < 0.05,
        "causal reading costs the position read and the wait: {extra:.2}"
    );
    assert_eq!(
        sync_wait_stale, 0,
        "wsrep_sync_wait = 1 reads see the write"
    );
}
