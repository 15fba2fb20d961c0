//! The replica fleet against a real cluster with faults injected: balancing, ejection and
//! re-admission, lag awareness, promotion, unreachable nodes, monitor privileges.
//!
//! Every test injects faults into (or at least needs a healthy) cluster `fleet`, so each
//! holds `common::exclusive("fleet")` and leaves the cluster healthy when it ends, even
//! when it fails (see [`Restore`]). Intervals are short (monitor 200 ms, cooldown 1 s)
//! so the whole file runs in well under a minute.
use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_cluster::{
    with_consistency, with_master, with_replica, Builder, Cluster, ClusterConnection, Consistency,
    Health,
};

use common::db::{try_port, wait_until};
use common::Restore;

const INTERVAL: Duration = Duration::from_millis(200);
const COOLDOWN: Duration = Duration::from_secs(1);

fn fleet() -> &'static common::TestCluster {
    common::cluster("fleet")
}

fn builder(c: &common::TestCluster) -> Builder {
    Cluster::builder()
        .url(&c.cluster_url)
        .monitor_interval(Some(INTERVAL))
        .ejection_cooldown(COOLDOWN)
}

/// Index of the node (0 master, 1 replica1, 2 replica2) listening on `p`.
fn node_of(c: &common::TestCluster, p: u16) -> usize {
    [c.master_port, c.replica1_port, c.replica2_port]
        .iter()
        .position(|&x| x == p)
        .unwrap_or_else(|| panic!("port {p} is no node of the cluster"))
}

/// Waits until the monitor has seen both replicas up and in sync. A cluster built
/// right after a fault test restored the nodes may first probe a replica whose
/// replication threads are still starting; exact read counts wait for this.
fn settled(cluster: &Cluster) {
    wait_until(cluster, "the monitor saw both replicas in sync", || {
        let s = cluster.status();
        ["replica1", "replica2"].iter().all(|n| {
            let n = s.node(n).unwrap();
            n.health == Health::Up && n.latency.is_some() && n.lag == Some(Duration::ZERO)
        })
    });
}

/// A connection of `cluster` after the table `fleet_probe` exists everywhere and the
/// monitor has seen both replicas in sync.
fn probe_table(c: &common::TestCluster, cluster: &Cluster) -> ClusterConnection {
    let mut conn = cluster.connect();
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS fleet_probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))",
    )
    .unwrap();
    c.sync();
    settled(cluster);
    conn
}

fn health(cluster: &Cluster, node: &str) -> Health {
    cluster.status().node(node).expect(node).health
}

/// `n` reads of `@@port` on `conn` in the current scope; reads per node.
fn spread(c: &common::TestCluster, conn: &mut ClusterConnection, n: usize) -> [usize; 3] {
    let mut counts = [0; 3];
    for _ in 0..n {
        counts[node_of(c, try_port(conn).expect("read"))] += 1;
    }
    counts
}

#[test]
fn reads_survive_dying_replicas_and_return_to_restarted_ones() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    settled(&cluster);

    let served: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (cluster, served, failures, stop) = (
                cluster.clone(),
                served.clone(),
                failures.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut conn = cluster.connect();
                let mut reads = 0u64;
                with_replica(|| {
                    while !stop.load(Relaxed) {
                        match try_port(&mut conn) {
                            Ok(p) => {
                                served[node_of(c, p)].fetch_add(1, Relaxed);
                            }
                            Err(e) => failures.lock().unwrap().push(e.to_string()),
                        }
                        reads += 1;
                        // Leave the two cores some room for the servers and the script.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                });
                reads
            })
        })
        .collect();
    let count = |i: usize| served[i].load(Relaxed);

    wait_until(&cluster, "both replicas serve reads", || {
        count(1) >= 20 && count(2) >= 20
    });
    assert_eq!(
        count(0),
        0,
        "no read went to the master while replicas were up"
    );

    // One replica dies: its reads move to the other one.
    c.kill("replica1");
    let (r2, m) = (count(2), count(0));
    wait_until(&cluster, "replica2 takes replica1's reads", || {
        count(2) >= r2 + 300
    });
    assert_eq!(health(&cluster, "replica1"), Health::Ejected);
    assert_eq!(
        count(0),
        m,
        "a live replica remained: no read fell back to the master"
    );

    // Both die: reads go to the master.
    c.kill("replica2");
    let m = count(0);
    wait_until(&cluster, "the master takes the reads", || {
        count(0) >= m + 300
    });

    // A restarted replica gets reads again (the monitor readmits it at its next check).
    let restart = Instant::now();
    c.start_node("replica1");
    let up = Instant::now();
    let r1 = count(1);
    let rejoined = wait_until(&cluster, "restarted replica1 gets reads", || count(1) > r1);
    println!(
        "replica1 served reads {rejoined:?} after it was back up (its restart took {:?}); \
         bound: cooldown {COOLDOWN:?} + interval {INTERVAL:?}",
        up - restart
    );
    // Scheduling on a loaded machine gets one extra second of slack; the mechanism
    // (a monitor check readmits it) takes one interval.
    assert!(
        rejoined <= COOLDOWN + INTERVAL + Duration::from_secs(1),
        "replica1 took {rejoined:?} to get reads again\n{}",
        cluster.status()
    );
    c.start_node("replica2");
    let r2 = count(2);
    wait_until(&cluster, "restarted replica2 gets reads", || count(2) > r2);

    // Keep reading for 10 s in all.
    while started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Relaxed);
    let reads: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    let failures = failures.lock().unwrap();
    let status = cluster.status();
    println!(
        "{reads} reads in {:?} (master {}, replica1 {}, replica2 {}), {} failed\n{status}",
        started.elapsed(),
        count(0),
        count(1),
        count(2),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed reads, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    for name in ["replica1", "replica2"] {
        let n = status.node(name).unwrap();
        assert!(n.ejections >= 1, "{name} was ejected: {n:?}");
    }
    assert!(status.node("master").unwrap().fallbacks > 0);
}

#[test]
fn lagging_replicas_get_no_reads_but_eventual_reads_still_use_them() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = builder(c)
        .max_replica_lag(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut conn = probe_table(c, &cluster);

    // replica1 stops applying; replica2 applies every write 30 s late.
    c.stop_sql("replica1");
    c.delay("replica2", 30);
    conn.batch_execute("INSERT INTO fleet_probe (v) VALUES ('lag')")
        .unwrap();
    // (replica2 shows lagging at once while its replication restarts; wait until the
    // monitor read the delay itself.)
    let seen = wait_until(&cluster, "the monitor marks both replicas lagging", || {
        let s = cluster.status();
        let (r1, r2) = (s.node("replica1").unwrap(), s.node("replica2").unwrap());
        r1.health == Health::Lagging
            && r1.replication_stopped
            && r2.health == Health::Lagging
            && r2.lag >= Some(Duration::from_secs(30))
    });
    println!("both replicas marked lagging {seen:?} after the faults (interval {INTERVAL:?})");

    let counts = with_replica(|| spread(c, &mut conn, 100));
    assert_eq!(counts, [100, 0, 0], "lagging replicas get no reads");
    let counts = with_consistency(Consistency::Eventual, || {
        with_replica(|| spread(c, &mut conn, 100))
    });
    assert_eq!(
        counts[0], 0,
        "eventual reads use lagging replicas: {counts:?}"
    );
    assert!(counts[1] > 0 && counts[2] > 0, "{counts:?}");
    // A looser bound admits the delayed replica but not the stopped one.
    let counts = with_consistency(Consistency::Bounded(Duration::from_secs(60)), || {
        with_replica(|| spread(c, &mut conn, 20))
    });
    assert_eq!(counts, [0, 0, 20]);

    // Repaired, both serve again.
    c.start_sql("replica1");
    c.delay("replica2", 0);
    c.sync();
    wait_until(&cluster, "both replicas are up again", || {
        health(&cluster, "replica1") == Health::Up && health(&cluster, "replica2") == Health::Up
    });
    let counts = with_replica(|| spread(c, &mut conn, 100));
    assert_eq!(counts, [0, 50, 50]);
}

#[test]
fn round_robin_spreads_reads_evenly_across_connections() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    settled(&cluster);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cluster = cluster.clone();
            std::thread::spawn(move || {
                let mut conn = cluster.connect();
                let mut by_last_node = [0usize; 3];
                let counts = with_replica(|| {
                    let mut counts = [0usize; 3];
                    for _ in 0..250 {
                        counts[node_of(c, try_port(&mut conn).unwrap())] += 1;
                        let i = match conn.last_node() {
                            Some("master") => 0,
                            Some("replica1") => 1,
                            Some("replica2") => 2,
                            other => panic!("last node {other:?}"),
                        };
                        by_last_node[i] += 1;
                    }
                    counts
                });
                assert_eq!(
                    counts, by_last_node,
                    "last_node() names the node that ran it"
                );
                counts
            })
        })
        .collect();
    let mut total = [0usize; 3];
    for h in handles {
        for (t, n) in total.iter_mut().zip(h.join().unwrap()) {
            *t += n;
        }
    }
    let status = cluster.status();
    println!("1000 reads: {total:?}\n{status}");
    assert_eq!(total[0], 0);
    for (i, name) in [(1, "replica1"), (2, "replica2")] {
        assert!((400..=600).contains(&total[i]), "{name}: {total:?}");
        assert_eq!(status.node(name).unwrap().statements, total[i] as u64);
    }
}

#[test]
fn a_port_where_nothing_listens_costs_one_fast_failure_and_an_ejection() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let connect_timeout = Duration::from_secs(2);
    let dead_url = |user: &str| format!("mysql://{user}@127.0.0.1:{dead}/app");

    // A dead replica: the first read that picks it fails over to the other replica.
    let cluster = Cluster::builder()
        .master(&c.master_url)
        .replica(&dead_url("app_ro:ro_pw"))
        .replica(&c.replica2_url)
        .monitor_interval(None)
        .ejection_cooldown(Duration::from_secs(60))
        .connect_timeout(connect_timeout)
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    let started = Instant::now();
    let counts = with_replica(|| spread(c, &mut conn, 50));
    let took = started.elapsed();
    println!("50 reads with a dead replica took {took:?}");
    assert_eq!(counts, [0, 0, 50]);
    assert!(
        took < connect_timeout,
        "no wait for the connect timeout: {took:?}"
    );
    let dead_status = cluster.status().node("replica1").unwrap().clone();
    assert_eq!(dead_status.health, Health::Ejected);
    assert_eq!(dead_status.ejections, 1);
    assert_eq!(
        dead_status.retries, 1,
        "one attempt, then no more during the cooldown"
    );

    // A dead master: writes fail fast with a clear error; reads still work.
    let cluster = Cluster::builder()
        .master(&dead_url("app:app_pw"))
        .replica(&c.replica1_url)
        .replica(&c.replica2_url)
        .monitor_interval(None)
        .ejection_cooldown(Duration::from_secs(60))
        .connect_timeout(connect_timeout)
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    for attempt in 0..3 {
        let started = Instant::now();
        let err = conn
            .batch_execute("INSERT INTO fleet_probe (v) VALUES ('x')")
            .unwrap_err();
        let took = started.elapsed();
        println!("write {attempt} without a master failed in {took:?}: {err}");
        assert!(took < connect_timeout, "{took:?}");
        match &err {
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                let m = info.message();
                assert!(
                    m.starts_with("diesel-cluster: ") && m.contains("master"),
                    "{m}"
                );
                if attempt > 0 {
                    assert!(m.contains("no master available"), "{m}");
                }
                assert!(!m.contains("app_pw"), "{m}");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
    let master = cluster.status().node("master").unwrap().clone();
    assert_eq!((master.health, master.ejections), (Health::Ejected, 1));
    let counts = with_replica(|| spread(c, &mut conn, 10));
    assert_eq!(counts[0], 0);
}

#[test]
fn a_missing_monitor_privilege_shows_in_the_node_state() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    // app_nomon may SELECT but not SHOW SLAVE STATUS.
    let cluster = builder(c)
        .replica_credentials("app_nomon", "nomon_pw")
        .build()
        .unwrap();
    wait_until(&cluster, "the monitor reports the replicas' error", || {
        let s = cluster.status();
        s.node("replica1").unwrap().monitor_error.is_some()
            && s.node("replica2").unwrap().monitor_error.is_some()
    });
    let status = cluster.status();
    let r1 = status.node("replica1").unwrap();
    let error = r1.monitor_error.as_deref().unwrap();
    println!("{status}");
    assert!(
        error.contains("replica1") && error.contains("SLAVE MONITOR"),
        "{error}"
    );
    assert!(!error.contains("nomon_pw"), "{error}");
    assert_eq!(r1.health, Health::Lagging, "unknown lag: no bounded reads");
    assert!(status.to_string().contains("monitor error"));

    let mut conn = cluster.connect();
    assert_eq!(with_replica(|| spread(c, &mut conn, 10)), [10, 0, 0]);
    let counts = with_consistency(Consistency::Eventual, || {
        with_replica(|| spread(c, &mut conn, 10))
    });
    assert_eq!(counts, [0, 5, 5]);
}

#[test]
fn promote_after_the_master_stops_and_switch_over_again() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    // Replicas use the read-only account: once promoted, a replica is reached with the
    // master's credentials.
    let cluster = builder(c)
        .replica_credentials("app_ro", "ro_pw")
        .admin_credentials("admin", "admin_pw")
        .replication_credentials("repl", "repl_pw")
        .build()
        .unwrap();
    let mut before = probe_table(c, &cluster);
    before
        .batch_execute("INSERT INTO fleet_probe (v) VALUES ('before')")
        .unwrap();
    c.sync();
    // `before` holds connections to both replicas, opened with app_ro.
    assert_eq!(with_replica(|| spread(c, &mut before, 2)), [0, 1, 1]);
    let rows_on = |node: &str, v: &str| {
        c.sql(
            node,
            &format!("SELECT COUNT(*) FROM app.fleet_probe WHERE v = '{v}'"),
        )
    };

    // Without replication credentials there is nothing to do it with: a clear error, and
    // nothing changes.
    let err = builder(c)
        .monitor_interval(None)
        .build()
        .unwrap()
        .promote(None)
        .unwrap_err();
    assert!(err.to_string().contains("replication_credentials"), "{err}");
    assert_eq!(c.sql("replica1", "SELECT @@read_only"), "1");
    let err = cluster.promote(Some("replica9")).unwrap_err();
    assert!(err.to_string().contains("no node named"), "{err}");

    // Failover: the master stops. Replica reads go on; writes fail fast until a replica
    // is promoted.
    c.stop("master");
    wait_until(
        &cluster,
        "the monitor sees the master down, replicas serving",
        || {
            health(&cluster, "master") == Health::Ejected
                && health(&cluster, "replica1") == Health::Up
                && health(&cluster, "replica2") == Health::Up
        },
    );
    assert_eq!(with_replica(|| spread(c, &mut before, 20)), [0, 10, 10]);
    let started = Instant::now();
    let err = before
        .batch_execute("INSERT INTO fleet_probe (v) VALUES ('lost')")
        .unwrap_err();
    println!(
        "write with the master down failed in {:?}: {err}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let started = Instant::now();
    let new_master = cluster.promote(None).unwrap();
    println!("failover to {new_master} took {:?}", started.elapsed());
    assert_eq!(
        new_master, "replica1",
        "both replicas are equal: the first one wins"
    );
    assert_eq!(cluster.master_name(), "replica1");
    assert_eq!(c.sql("replica1", "SELECT @@read_only"), "0");

    // The connection made before the failover writes to the new master...
    before
        .batch_execute("INSERT INTO fleet_probe (v) VALUES ('after')")
        .unwrap();
    assert_eq!(before.last_node(), Some("replica1"));
    assert_eq!(try_port(&mut before).unwrap(), c.replica1_port);
    // ... and so does a new one.
    let mut fresh = cluster.connect();
    fresh
        .batch_execute("INSERT INTO fleet_probe (v) VALUES ('after')")
        .unwrap();
    // The other replica replicates from it.
    wait_until(&cluster, "replica2 has the new master's writes", || {
        rows_on("replica2", "after") == "2"
    });
    // `SHOW SLAVE STATUS` columns: 3 Master_Port, 10 Slave_IO_Running.
    let replication = c.sql("replica2", "SHOW SLAVE STATUS");
    let fields: Vec<&str> = replication.split('\t').collect();
    assert_eq!(
        (fields[3], fields[10]),
        (c.replica1_port.to_string().as_str(), "Yes"),
        "{replication}"
    );
    // Reads in replica scope go to the remaining replica once the monitor sees it.
    wait_until(&cluster, "replica2 serves reads", || {
        with_replica(|| try_port(&mut before)).ok() == Some(c.replica2_port)
    });

    // Switchover while the master is up: replica2 takes over, replica1 becomes its
    // replica, no write is lost.
    let started = Instant::now();
    let new_master = cluster.promote(Some("replica2")).unwrap();
    println!("switchover to {new_master} took {:?}", started.elapsed());
    assert_eq!(new_master, "replica2");
    assert_eq!(c.sql("replica1", "SELECT @@read_only"), "1");
    before
        .batch_execute("INSERT INTO fleet_probe (v) VALUES ('switched')")
        .unwrap();
    assert_eq!(before.last_node(), Some("replica2"));
    wait_until(&cluster, "replica1 replicates from replica2", || {
        rows_on("replica1", "switched") == "1"
    });
    assert_eq!(rows_on("replica1", "after"), "2");
    let status = cluster.status();
    println!("{status}");
    assert!(status.node("replica2").unwrap().is_master);

    drop((before, fresh));
    c.reset();
}

#[test]
fn a_master_promoted_by_an_outside_tool_is_found() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = builder(c)
        .replica_credentials("app_ro", "ro_pw")
        .build()
        .unwrap();
    let mut conn = probe_table(c, &cluster);
    assert_eq!(with_replica(|| spread(c, &mut conn, 2)), [0, 1, 1]);

    // What an orchestrator does, behind the cluster's back.
    c.stop("master");
    c.sql(
        "replica2",
        "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0",
    );
    let found = wait_until(&cluster, "the cluster finds the new master", || {
        cluster.master_name() == "replica2"
    });
    println!("new master found {found:?} after the outside promotion");
    conn.batch_execute("INSERT INTO fleet_probe (v) VALUES ('rediscovered')")
        .unwrap();
    assert_eq!(conn.last_node(), Some("replica2"));
    assert_eq!(
        c.sql(
            "replica2",
            "SELECT COUNT(*) FROM app.fleet_probe WHERE v = 'rediscovered'"
        ),
        "1"
    );
    drop(conn);
    c.reset();
}

#[test]
fn a_read_meant_for_the_master_never_moves_to_a_replica() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = builder(c).monitor_interval(None).build().unwrap();
    let mut conn = cluster.connect();
    assert_eq!(with_master(|| try_port(&mut conn)).unwrap(), c.master_port);
    assert_ne!(with_replica(|| try_port(&mut conn)).unwrap(), c.master_port);

    c.kill("master");
    conn.set_query_log(true);
    // Master scope promised the master: its read fails rather than read a replica
    // that may be behind. Replica scope goes on.
    let err = with_master(|| try_port(&mut conn)).unwrap_err();
    assert!(
        matches!(
            err,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _
            )
        ) || err.to_string().to_lowercase().contains("connect"),
        "{err}"
    );
    let tries = conn.take_query_log();
    assert!(!tries.is_empty());
    assert!(
        tries.iter().all(|e| e.node == "master" && e.failed),
        "{tries:#?}"
    );
    conn.set_query_log(false);
    for _ in 0..4 {
        assert_ne!(with_replica(|| try_port(&mut conn)).unwrap(), c.master_port);
    }
    c.start_node("master");
}

/// `network_timeout` in the hang tests: the monitor's deadline (the smallest allowed).
const HUNG_TIMEOUT: Duration = Duration::from_secs(3);

/// Bound for a statement waiting on a hung node in these tests: the monitor's deadline
/// plus a round, with slack for a loaded machine.
const HUNG_BOUND: Duration = HUNG_TIMEOUT.saturating_add(Duration::from_secs(3));

/// The fleet's builder with the hang tests' deadline, and connects that give up on a
/// hung node within a second.
fn hang_builder(c: &common::TestCluster) -> Builder {
    builder(c)
        .network_timeout(HUNG_TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
}

/// Runs `f` on a thread and waits for it at most `limit`; a node frozen by the test is
/// thawed first if it takes longer, so a regression fails the test instead of hanging it.
fn bounded<T: Send + 'static>(
    c: &common::TestCluster,
    frozen: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => {
            c.thaw(frozen);
            panic!("still blocked {limit:?} after {frozen} hung");
        }
    }
}

/// A replica whose process hangs (SIGSTOP: its kernel still accepts connections and
/// acknowledges data, so no TCP timeout fires) is found by the monitor's deadline, ejected,
/// and the reads waiting on it are cut and retried on the other replica.
#[test]
fn a_hung_replica_is_cut_off_and_its_reads_move_on() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = hang_builder(c).build().unwrap();
    settled(&cluster);
    // Four connections, each holding a connection to both replicas.
    let mut conns: Vec<_> = (0..4).map(|_| cluster.connect()).collect();
    for conn in &mut conns {
        assert_eq!(with_replica(|| spread(c, conn, 2)), [0, 1, 1]);
    }

    c.freeze("replica1");
    let frozen = Instant::now();
    // Round-robin sends some of these reads to replica1, where they wait.
    let readers: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            std::thread::spawn(move || {
                with_replica(|| {
                    let mut counts = [0usize; 3];
                    let mut slowest = Duration::ZERO;
                    for _ in 0..10 {
                        let t = Instant::now();
                        let p = try_port(&mut conn).map_err(|e| e.to_string())?;
                        slowest = slowest.max(t.elapsed());
                        counts[node_of(c, p)] += 1;
                    }
                    Ok::<_, String>((counts, slowest))
                })
            })
        })
        .collect();
    let results = bounded(c, "replica1", Duration::from_secs(30), move || {
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    let all_done = frozen.elapsed();
    let status = cluster.status();
    println!("4 x 10 reads with replica1 hung, done after {all_done:?}: {results:?}\n{status}");
    let mut slowest = Duration::ZERO;
    for r in &results {
        let (counts, slow) = r.as_ref().unwrap_or_else(|e| panic!("a read failed: {e}"));
        assert_eq!(counts[1], 0, "replica1 is frozen: {counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 10);
        slowest = slowest.max(*slow);
    }
    assert!(
        slowest >= Duration::from_secs(1),
        "some reads waited on replica1 before the cut: {slowest:?}"
    );
    assert!(
        slowest <= HUNG_BOUND,
        "a read waited {slowest:?} on the hung replica"
    );
    let r1 = status.node("replica1").unwrap();
    assert_eq!(r1.health, Health::Ejected);

    // New connections don't wait on it either: opening it times out on the greeting.
    let fresh = bounded(c, "replica1", Duration::from_secs(30), {
        let cluster = cluster.clone();
        move || {
            let mut conn = cluster.connect();
            let t = Instant::now();
            let counts = with_replica(|| spread(c, &mut conn, 20));
            (counts, t.elapsed())
        }
    });
    println!("20 reads on a new connection with replica1 hung: {fresh:?}");
    assert_eq!(fresh.0[1], 0);

    // Thawed, it serves reads again once the monitor sees it answer.
    c.thaw("replica1");
    let mut conn = cluster.connect();
    let back = wait_until(&cluster, "replica1 serves reads again", || {
        with_replica(|| spread(c, &mut conn, 2))[1] > 0
    });
    println!("replica1 served reads {back:?} after it was thawed");
}

/// A write sent to a master whose process hangs fails with a lost connection within the
/// monitor's deadline, and is not retried anywhere. Reads go on meanwhile.
#[test]
fn a_write_to_a_hung_master_fails_once_and_reads_go_on() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = hang_builder(c).build().unwrap();
    let mut conn = probe_table(c, &cluster);

    c.freeze("master");
    let (conn, err, took, tries) = bounded(c, "master", Duration::from_secs(30), move || {
        conn.set_query_log(true);
        let t = Instant::now();
        let err = conn
            .batch_execute("INSERT INTO fleet_probe (v) VALUES ('hung')")
            .unwrap_err();
        let took = t.elapsed();
        let tries = conn.take_query_log();
        (conn, err, took, tries)
    });
    println!("write to the hung master failed after {took:?}: {err}");
    assert!(took <= HUNG_BOUND, "{took:?}");
    assert!(
        err.to_string().to_lowercase().contains("lost connection")
            || matches!(
                err,
                DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            ),
        "{err}"
    );
    assert_eq!(tries.len(), 1, "sent once, never retried: {tries:#?}");
    assert_eq!(tries[0].node, "master");

    // Replica reads go on while the master hangs.
    let mut conn = conn;
    let reads = bounded(c, "master", Duration::from_secs(30), move || {
        let counts = with_replica(|| spread(c, &mut conn, 10));
        (counts, conn)
    });
    assert_eq!(reads.0[0], 0, "{:?}", reads.0);
    let mut conn = reads.1;

    // Thawed: the master takes writes again. The failed write's fate was unknown to the
    // client (the server may run a statement it had received); it is there at most once.
    c.thaw("master");
    wait_until(&cluster, "the master takes writes again", || {
        conn.batch_execute("INSERT INTO fleet_probe (v) VALUES ('after the hang')")
            .is_ok()
    });
    let hung_rows = c.sql(
        "master",
        "SELECT COUNT(*) FROM app.fleet_probe WHERE v = 'hung'",
    );
    println!("the failed write is on the master {hung_rows} time(s)");
    assert!(hung_rows == "0" || hung_rows == "1", "{hung_rows}");
}

/// A master that answers but holds a global read lock (a backup's
/// `FLUSH TABLES WITH READ LOCK`) for longer than `network_timeout` blocks the monitor's
/// heartbeat write on a lock, not on a hung server: the write gives up on its lock
/// timeout, and the master is neither ejected nor cut off.
#[test]
fn a_global_read_lock_on_the_master_is_not_a_hang() {
    let _g = common::exclusive("fleet");
    let c = fleet();
    let _restore = Restore(c);
    let cluster = builder(c)
        .network_timeout(HUNG_TIMEOUT)
        .heartbeat(true)
        .build()
        .unwrap();
    settled(&cluster);
    let mut conn = cluster.connect();
    assert_eq!(with_master(|| try_port(&mut conn)).unwrap(), c.master_port);

    let locker = std::thread::spawn(move || {
        c.sql(
            "master",
            "FLUSH TABLES WITH READ LOCK; SELECT SLEEP(5); UNLOCK TABLES",
        )
    });
    let started = Instant::now();
    let mut reads = 0;
    while started.elapsed() < Duration::from_millis(5500) {
        assert_eq!(with_master(|| try_port(&mut conn)).unwrap(), c.master_port);
        reads += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    locker.join().unwrap();
    let status = cluster.status();
    println!("{reads} master reads during a 5 s global read lock\n{status}");
    let master = status.node("master").unwrap();
    assert_eq!(master.health, Health::Up);
    assert_eq!(master.ejections, 0);
    assert_eq!(master.errors, 0);
}
