//! What one lost session may and may not do to the whole cluster, and whom rediscovery
//! may take for a new master.
//!
//! * A connection whose master session died while idle (killed, `wait_timeout`, a
//!   restart) begins its next transaction on a fresh session; the master stays in
//!   service for every connection. Only a master that refuses a fresh connection too is
//!   ejected.
//! * While the master is unreachable, a writable node that still replicates, or that
//!   lacks transactions the master was seen with, is never taken for the new master:
//!   writes fail with "no master" instead of landing there (split brain).
//!
//! Cluster `failover` (session kills, a killed master) and `splitbrain` (topology broken
//! on purpose, rebuilt with `cluster.sh reset` at the end). Each test holds
//! `common::exclusive` on its cluster and leaves it healthy (see [`Restore`]).
use crate::common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_cluster::{with_master, Cluster, ClusterConnection, Health};

use common::db::{unique, users, wait_until};
use common::Restore;

const INTERVAL: Duration = Duration::from_millis(200);

fn builder(c: &common::TestCluster) -> diesel_cluster::Builder {
    Cluster::builder()
        .url(&c.cluster_url)
        .monitor_interval(Some(INTERVAL))
        // Long enough that an ejection is still visible when the test looks.
        .ejection_cooldown(Duration::from_secs(5))
}

/// The id of `conn`'s session on the master.
fn master_session(conn: &mut ClusterConnection) -> i64 {
    with_master(|| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(CONNECTION_ID() AS SIGNED)",
        ))
        .get_result(conn)
    })
    .unwrap()
}

fn insert_user(conn: &mut ClusterConnection, name: &str) -> QueryResult<usize> {
    diesel::insert_into(users::table)
        .values((users::name.eq(name), users::email.eq("failover")))
        .execute(conn)
}

fn rows_named(c: &common::TestCluster, node: &str, name: &str) -> String {
    c.sql(
        node,
        &format!("SELECT COUNT(*) FROM app.users WHERE name = '{name}'"),
    )
}

fn master_status(cluster: &Cluster) -> diesel_cluster::NodeStatus {
    cluster.status().node("master").unwrap().clone()
}

/// Another connection of the same cluster writing in a loop until stopped; returns
/// (writes, the errors it saw).
fn background_writer(
    cluster: &Cluster,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<(u64, Vec<String>)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut conn = cluster.connect();
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut writes = 0;
        let mut errors = Vec::new();
        while !flag.load(Relaxed) {
            match insert_user(&mut conn, "background") {
                Ok(_) => writes += 1,
                Err(e) => errors.push(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        (writes, errors)
    });
    (stop, handle)
}

#[test]
fn a_transaction_after_the_session_was_killed_begins_on_a_new_one() {
    let _g = common::exclusive("failover");
    let c = common::db::migrated("failover");
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    let mut conn = cluster.connect();
    let session = master_session(&mut conn);
    let (stop, writer) = background_writer(&cluster);
    std::thread::sleep(Duration::from_millis(100));

    // The session dies while the connection is idle, as after `wait_timeout`.
    c.sql("master", &format!("KILL {session}"));
    let name = unique("after-kill");
    let started = Instant::now();
    let result = conn.transaction(|c| insert_user(c, &name));
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Relaxed);
    let (writes, errors) = writer.join().unwrap();

    assert_eq!(result, Ok(1), "the transaction failed after {took:?}");
    println!("transaction on a fresh session after KILL: {took:?}");
    assert_ne!(master_session(&mut conn), session, "a new session");
    assert_eq!(rows_named(c, "master", &name), "1");
    let master = master_status(&cluster);
    assert_eq!(master.ejections, 0, "{master:?}");
    assert_eq!(master.health, Health::Up);
    assert!(writes > 0, "the other connection wrote nothing");
    assert!(
        errors.is_empty(),
        "the other connection's writes failed: {errors:?}"
    );
}

#[test]
fn a_session_killed_inside_a_transaction_fails_it_without_ejecting_the_master() {
    let _g = common::exclusive("failover");
    let c = common::db::migrated("failover");
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    let mut conn = cluster.connect();
    let mut other = cluster.connect();
    let session = master_session(&mut conn);
    let name = unique("killed-inside");
    let result = conn.transaction(|tx| {
        c.sql("master", &format!("KILL {session}"));
        insert_user(tx, &name)
    });
    assert!(result.is_err(), "{result:?}");
    // Nothing is retried: the insert did not run anywhere.
    assert_eq!(rows_named(c, "master", &name), "0");
    let master = master_status(&cluster);
    assert_eq!(master.ejections, 0, "{master:?}");
    assert_eq!(master.health, Health::Up);
    let other_name = unique("other");
    assert_eq!(insert_user(&mut other, &other_name), Ok(1));
}

#[test]
fn a_begin_on_a_dead_master_fails_and_ejects_it() {
    let _g = common::exclusive("failover");
    let c = common::db::migrated("failover");
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    let mut conn = cluster.connect();
    master_session(&mut conn);
    c.kill("master");
    let name = unique("dead-master");
    let result = conn.transaction(|c| insert_user(c, &name));
    let error = result.expect_err("a transaction began on a dead master");
    println!("BEGIN on a killed master: {error}");
    let master = master_status(&cluster);
    assert_eq!(master.health, Health::Ejected, "{master:?}");
    assert_eq!(master.ejections, 1, "{master:?}");
    assert_eq!(cluster.master_name(), "master");
}

/// Cluster `splitbrain`, migrated: each test ends with a `reset`, which drops the data.
fn splitbrain() -> &'static common::TestCluster {
    use diesel_migrations::MigrationHarness;
    let c = common::cluster("splitbrain");
    // A cluster of its own, not the one shared per URL (which outlives its connections):
    // the previous test's `reset` rebuilt these servers, and what that cluster learned
    // of them (which node is the master, its GTID position) is no longer true.
    let mut conn = Cluster::from_url(&c.cluster_url).unwrap().connect();
    conn.run_pending_migrations(common::db::MIGRATIONS).unwrap();
    c.sync();
    c
}

/// Rebuilds `splitbrain` (a fresh topology) even when the test failed half-way.
struct Rebuild(&'static common::TestCluster);

impl Drop for Rebuild {
    fn drop(&mut self) {
        if let Err(e) = self.0.try_run(&["reset"]) {
            eprintln!("could not rebuild cluster {}: {e}", self.0.name);
        }
    }
}

/// Writes for `how_long` while the master is dead; returns the errors (every write must
/// fail).
fn writes_while_master_is_dead(cluster: &Cluster, marker: &str, how_long: Duration) -> Vec<String> {
    let mut conn = cluster.connect();
    let mut errors = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < how_long {
        match conn.batch_execute(&format!(
            "INSERT INTO users (name, email) VALUES ('{marker}', 'split')"
        )) {
            Ok(()) => panic!(
                "write {n} succeeded on {:?} while the master was dead\n{}",
                conn.last_node(),
                cluster.status()
            ),
            Err(e) => errors.push(e.to_string()),
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    errors
}

/// Waits until the monitor has read the master's position (what candidates are held to).
fn master_position_seen(cluster: &Cluster) {
    wait_until(cluster, "the monitor read the master's position", || {
        master_status(cluster).gtid_position.is_some()
    });
}

#[test]
fn a_writable_replica_that_still_replicates_is_never_taken_for_the_master() {
    let _g = common::exclusive("splitbrain");
    let c = splitbrain();
    let _rebuild = Rebuild(c);
    let cluster = builder(c).build().unwrap();
    let mut conn = cluster.connect();
    insert_user(&mut conn, &unique("before")).unwrap();
    c.sync();
    master_position_seen(&cluster);

    // A replica whose `read_only` was forgotten (or reset by a restart without its
    // config), still applying the master's stream.
    c.sql("replica1", "SET GLOBAL read_only = 0");
    c.kill("master");
    let marker = unique("split");
    let errors = writes_while_master_is_dead(&cluster, &marker, Duration::from_secs(3));
    assert_eq!(cluster.master_name(), "master", "{}", cluster.status());
    assert!(
        errors.iter().any(|e| e.contains("no master available")),
        "{errors:?}"
    );
    for node in ["replica1", "replica2"] {
        assert_eq!(rows_named(c, node, &marker), "0", "rows on {node}");
    }
    println!("{} writes refused; last: {:?}", errors.len(), errors.last());
}

#[test]
fn a_writable_node_behind_the_master_is_never_taken_for_the_master() {
    let _g = common::exclusive("splitbrain");
    let c = splitbrain();
    let _rebuild = Rebuild(c);
    let cluster = builder(c).build().unwrap();
    let mut conn = cluster.connect();
    // replica2 stops replicating; the master then commits writes it never gets.
    c.sql("replica2", "STOP SLAVE");
    for _ in 0..3 {
        insert_user(&mut conn, &unique("missed")).unwrap();
    }
    let committed = c.sql("master", "SELECT @@gtid_binlog_pos");
    wait_until(
        &cluster,
        "the monitor read the master's last position",
        || master_status(&cluster).gtid_position.as_deref() == Some(committed.as_str()),
    );

    assert_eq!(
        c.sql(
            "replica1",
            &format!("SELECT MASTER_GTID_WAIT('{committed}', 30)")
        ),
        "0",
        "replica1 did not apply the writes"
    );

    // An outside tool promotes the replica that is behind.
    c.kill("master");
    c.sql(
        "replica2",
        "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0",
    );
    let marker = unique("behind");
    let errors = writes_while_master_is_dead(&cluster, &marker, Duration::from_secs(2));
    assert_eq!(cluster.master_name(), "master", "{}", cluster.status());
    assert!(
        errors.iter().any(|e| e.contains("no master available")),
        "{errors:?}"
    );
    assert_eq!(rows_named(c, "replica2", &marker), "0");

    // A candidate that has everything is still found: replica1 applied every write.
    c.sql(
        "replica1",
        "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0",
    );
    wait_until(
        &cluster,
        "the cluster takes replica1 for the master",
        || cluster.master_name() == "replica1",
    );
    let name = unique("found");
    assert_eq!(insert_user(&mut conn, &name), Ok(1));
    assert_eq!(conn.last_node(), Some("replica1"));
}

#[test]
fn promote_refuses_a_failover_that_would_lose_what_the_master_committed() {
    let _g = common::exclusive("splitbrain");
    let c = splitbrain();
    let _rebuild = Rebuild(c);
    let cluster = builder(c)
        .admin_credentials("admin", "admin_pw")
        .replication_credentials("repl", "repl_pw")
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    // Neither replica receives the last writes before the master dies.
    c.sql("replica1", "STOP SLAVE");
    c.sql("replica2", "STOP SLAVE");
    for _ in 0..3 {
        insert_user(&mut conn, &unique("unreplicated")).unwrap();
    }
    let committed = c.sql("master", "SELECT @@gtid_binlog_pos");
    wait_until(
        &cluster,
        "the monitor read the master's last position",
        || master_status(&cluster).gtid_position.as_deref() == Some(committed.as_str()),
    );
    c.kill("master");
    wait_until(&cluster, "the master is ejected", || {
        master_status(&cluster).health == Health::Ejected
    });

    for name in [None, Some("replica2")] {
        let err = cluster.promote(name).unwrap_err().to_string();
        assert!(err.contains("lacks transactions"), "{name:?}: {err}");
        assert!(err.contains(&committed), "{name:?}: {err}");
    }
    assert_eq!(cluster.master_name(), "master");
    for node in ["replica1", "replica2"] {
        assert_eq!(c.sql(node, "SELECT @@read_only"), "1", "{node} was changed");
    }
}

#[test]
fn the_monitor_replaces_its_killed_session_without_ejecting_the_master() {
    let _g = common::exclusive("failover");
    let c = common::db::migrated("failover");
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    wait_until(&cluster, "the monitor pinged the master", || {
        master_status(&cluster).latency.is_some()
    });
    // Every session of the application's account on the master, the monitor's among
    // them, as a tool that kills idle connections would.
    let ids = c.sql(
        "master",
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'",
    );
    assert!(!ids.is_empty(), "no session of the app account");
    for id in ids.lines() {
        let _ = c.try_sql("master", &format!("KILL {id}"));
    }
    // Several monitor rounds.
    std::thread::sleep(INTERVAL * 5);
    let master = master_status(&cluster);
    assert_eq!(master.ejections, 0, "{master:?}");
    assert_eq!(master.health, Health::Up);
}

#[test]
fn a_transaction_whose_characteristics_died_with_the_session_fails() {
    let _g = common::exclusive("failover");
    let c = common::db::migrated("failover");
    let _restore = Restore(c);
    let cluster = builder(c).build().unwrap();
    let mut conn = cluster.connect();
    let session = master_session(&mut conn);
    with_master(|| conn.batch_execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")).unwrap();
    c.sql("master", &format!("KILL {session}"));
    // Begun on a new session, it would run without the isolation level it asked for.
    let name = unique("characteristics");
    let result = conn.transaction(|c| insert_user(c, &name));
    assert!(result.is_err(), "{result:?}");
    assert_eq!(rows_named(c, "master", &name), "0");
    assert_eq!(master_status(&cluster).ejections, 0);
    // The connection was replaced: the next transaction runs.
    assert_eq!(conn.transaction(|c| insert_user(c, &name)), Ok(1));
}
