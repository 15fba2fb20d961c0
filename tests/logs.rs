//! Everything the library logs, at every level, while nodes fail, come back, refuse a
//! login or a session statement: the lines exist, name the nodes, and never hold a
//! password. Uses the `chaos` cluster (it kills a replica).
mod common;

use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_cluster::{
    with_consistency, with_master, with_replica, Cluster, ClusterConnection, Consistency,
};

/// A wrong password for replica2: the monitor and the connection fail to log in with it.
const WRONG_PASSWORD: &str = "Wr0ng-Secret-pw";
/// Every password this test's URLs hold (the cluster's accounts and the wrong one).
const PASSWORDS: &[&str] = &[
    "app_pw",
    "ro_pw",
    "nomon_pw",
    "admin_pw",
    "repl_pw",
    WRONG_PASSWORD,
];

fn port(conn: &mut ClusterConnection) -> QueryResult<i32> {
    diesel::select(diesel::dsl::sql::<Integer>("@@port")).get_result(conn)
}

/// A replica read. replica2 refuses the login: the caller's error, handed back (not
/// retried elsewhere), and replica2 stays in the rotation; any other failure is a bug.
fn replica_read(conn: &mut ClusterConnection, errors: &mut Vec<String>) {
    if let Err(e) = with_replica(|| port(conn)) {
        let shown = format!("{e} {e:?}");
        assert!(
            shown.contains("replica2") && shown.contains("Access denied"),
            "{shown}"
        );
        errors.push(shown);
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn log_lines_name_nodes_and_never_hold_a_password() {
    let _g = common::exclusive("chaos");
    common::capture::install();
    let c = common::cluster("chaos");

    // A database only the master has (not replicated), so `USE` of it fails on replicas.
    c.sql(
        "master",
        "SET sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS logs_master_only; \
         GRANT ALL ON logs_master_only.* TO 'app'@'%'",
    );

    let wrong_replica2 = format!(
        "mysql://app_ro:{WRONG_PASSWORD}@127.0.0.1:{}/app",
        c.replica2_port
    );
    let cluster = Cluster::builder()
        .master(&c.master_url)
        .replica(&c.replica1_url)
        .replica(&wrong_replica2)
        .monitor_interval(Some(Duration::from_millis(100)))
        .ejection_cooldown(Duration::from_millis(500))
        .connect_timeout(Duration::from_secs(1))
        .consistency(Consistency::Eventual)
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    let mut errors_seen = Vec::new();

    // Replica reads: replica2 refuses the login, the caller gets the error.
    for _ in 0..6 {
        replica_read(&mut conn, &mut errors_seen);
    }
    wait_until("the monitor reported replica2", || {
        cluster
            .status()
            .node("replica2")
            .is_some_and(|n| n.ejections > 0 || n.monitor_error.is_some())
    });

    // A write, then causal reads (debug lines about waits and fallbacks).
    conn.batch_execute("CREATE TABLE IF NOT EXISTS log_probe (id INT PRIMARY KEY)")
        .unwrap();
    conn.batch_execute("REPLACE INTO log_probe VALUES (1)")
        .unwrap();
    with_consistency(Consistency::Causal, || {
        replica_read(&mut conn, &mut errors_seen);
    });

    // A replica dies under open connections: reads are retried, the node is ejected,
    // then readmitted when it comes back.
    replica_read(&mut conn, &mut errors_seen);
    c.kill("replica1");
    for _ in 0..4 {
        replica_read(&mut conn, &mut errors_seen);
    }
    c.start_node("replica1");
    wait_until("replica1 is readmitted", || {
        cluster
            .status()
            .node("replica1")
            .is_some_and(|n| n.health == diesel_cluster::Health::Up)
    });
    for _ in 0..4 {
        replica_read(&mut conn, &mut errors_seen);
    }

    // A session statement a replica can't take: the error names the node.
    replica_read(&mut conn, &mut errors_seen);
    let err = with_master(|| conn.batch_execute("USE logs_master_only"));
    if let Err(e) = err {
        errors_seen.push(e.to_string());
    }
    with_master(|| conn.batch_execute("USE app")).ok();

    // Errors handed to the caller hold no password either.
    for bad in [
        format!("mysql://app:app_pw@127.0.0.1:{}/app?bogus=1", c.master_port),
        "mysql://app:app_pw@h1,,h2/app".to_string(),
        format!("mysql://app_ro:{WRONG_PASSWORD}@127.0.0.1:99999/app"),
    ] {
        if let Err(e) = Cluster::from_url(&bad) {
            errors_seen.push(format!("{e} {e:?}"));
        }
        if let Err(e) = ClusterConnection::establish(&bad) {
            errors_seen.push(format!("{e} {e:?}"));
        }
    }
    let single = Cluster::builder().master(&wrong_replica2).build().unwrap();
    let mut lonely = single.connect();
    if let Err(e) = port(&mut lonely) {
        errors_seen.push(format!("{e} {e:?}"));
    }
    errors_seen.push(format!("{cluster:?} {conn:?}"));
    errors_seen.push(cluster.status().to_string());

    drop(conn);
    drop(lonely);
    drop((cluster, single));
    c.sql(
        "master",
        "SET sql_log_bin = 0; DROP DATABASE IF EXISTS logs_master_only",
    );

    let lines = common::capture::lines();
    let ours: Vec<&(log::Level, String)> = lines
        .iter()
        .filter(|(_, l)| l.contains("diesel_cluster"))
        .collect();
    assert!(!ours.is_empty(), "nothing was logged");
    for (_, line) in &lines {
        for pw in PASSWORDS {
            assert!(!line.contains(pw), "a log line holds a password: {line}");
        }
    }
    for e in &errors_seen {
        for pw in PASSWORDS {
            assert!(!e.contains(pw), "an error holds a password: {e}");
        }
    }
    let has = |level: log::Level, needle: &str| {
        ours.iter()
            .any(|(l, line)| *l == level && line.contains(needle))
    };
    // Ejections (warn), readmission (info), connections opened (debug), the monitor's
    // failed login (warn or error), each naming its node.
    assert!(
        has(log::Level::Warn, "replica1"),
        "no ejection of replica1: {ours:#?}"
    );
    assert!(
        has(log::Level::Info, "replica1"),
        "no readmission of replica1: {ours:#?}"
    );
    assert!(
        has(log::Level::Debug, "master"),
        "no debug line about the master: {ours:#?}"
    );
    assert!(
        has(log::Level::Warn, "replica2") || has(log::Level::Error, "replica2"),
        "the failed login on replica2 was not logged: {ours:#?}"
    );
    assert!(
        has(log::Level::Warn, "session statement failed on replica1")
            || errors_seen.iter().any(|e| e.contains("replica1")),
        "the refused session statement was not reported: {ours:#?} {errors_seen:#?}"
    );
    eprintln!(
        "{} log lines from diesel_cluster, none with a password; e.g.:",
        ours.len()
    );
    for (_, l) in ours.iter().take(12) {
        eprintln!("  {l}");
    }
}
