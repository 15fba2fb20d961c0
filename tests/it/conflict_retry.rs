//! `transaction_with_retry` on a replication master, blocking and async: two
//! transactions that lock the same two rows in opposite orders deadlock on their first
//! attempt (InnoDB rolls the victim back whole, error 1213); the victim runs again and
//! both apply exactly once. Judged by the master's own rows and its `Innodb_deadlocks`
//! counter; an error that is no conflict runs once.
use crate::common;

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;

use diesel::connection::SimpleConnection;
use diesel_cluster::Cluster;

use common::db::unique;

fn cluster() -> &'static common::TestCluster {
    common::db::migrated("main")
}

fn deadlocks(c: &common::TestCluster) -> u64 {
    let out = c.sql("master", "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'");
    out.split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable Innodb_deadlocks: {out}"))
}

fn retries(cluster: &Cluster) -> u64 {
    cluster
        .status()
        .nodes
        .iter()
        .map(|n| n.conflict_retries)
        .sum()
}

/// A table of two counters, and the statements that lock `first` then `second`.
fn counters(c: &common::TestCluster) -> String {
    let table = unique("retry").replace('-', "_");
    c.sql(
        "master",
        &format!(
            "CREATE TABLE app.{table} (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB; \
             INSERT INTO app.{table} VALUES (1, 0), (2, 0)"
        ),
    );
    table
}

/// What both deadlock tests must see: each transaction applied once, three attempts,
/// one deadlock counted by the master (`before`: its count and the retries before).
fn one_deadlock_one_retry(
    c: &common::TestCluster,
    cluster: &Cluster,
    table: &str,
    attempts: &AtomicU32,
    before: (u64, u64),
) {
    assert_eq!(
        final_counts(c, table),
        "2,2",
        "each transaction applied exactly once"
    );
    assert_eq!(
        attempts.load(Relaxed),
        3,
        "two first attempts and one retry"
    );
    assert_eq!(deadlocks(c) - before.0, 1, "the master saw one deadlock");
    assert_eq!(retries(cluster) - before.1, 1, "the retry is reported");
}

fn bump(table: &str, id: i32) -> String {
    format!("UPDATE {table} SET n = n + 1 WHERE id = {id}")
}

fn final_counts(c: &common::TestCluster, table: &str) -> String {
    c.sql(
        "master",
        &format!("SELECT GROUP_CONCAT(n ORDER BY id) FROM app.{table}"),
    )
}

#[test]
fn a_deadlocked_blocking_transaction_runs_again_once() {
    let _g = common::exclusive("main");
    let c = cluster();
    let cluster = Cluster::from_url(&c.cluster_url).unwrap();
    let table = counters(c);
    let before = (deadlocks(c), retries(&cluster));
    let barrier = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let (cluster, barrier, attempts, table) = (
                cluster.clone(),
                barrier.clone(),
                attempts.clone(),
                table.clone(),
            );
            thread::spawn(move || {
                let mut conn = cluster.connect();
                conn.transaction_with_retry(|conn| {
                    let attempt = attempts.fetch_add(1, Relaxed);
                    conn.batch_execute(&bump(&table, first))?;
                    if attempt < 2 {
                        // Both hold their first row: the second statements cross.
                        barrier.wait();
                    }
                    conn.batch_execute(&bump(&table, second))
                })
            })
        })
        .collect();
    for w in workers {
        w.join()
            .unwrap()
            .expect("both transactions commit in the end");
    }
    one_deadlock_one_retry(c, &cluster, &table, &attempts, before);
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_async_transaction_runs_again_once() {
    use diesel_async::SimpleAsyncConnection;
    let _g = common::exclusive("main");
    let c = cluster();
    let cluster = Cluster::from_url(&c.cluster_url).unwrap();
    let table = counters(c);
    let before = (deadlocks(c), retries(&cluster));
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let (cluster, barrier, attempts, table) = (
                cluster.clone(),
                barrier.clone(),
                attempts.clone(),
                table.clone(),
            );
            tokio::spawn(async move {
                let mut conn = cluster.connect_async();
                conn.transaction_with_retry(|conn| {
                    let (barrier, attempt) = (barrier.clone(), attempts.fetch_add(1, Relaxed));
                    let (one, two) = (bump(&table, first), bump(&table, second));
                    Box::pin(async move {
                        conn.batch_execute(&one).await?;
                        if attempt < 2 {
                            barrier.wait().await;
                        }
                        conn.batch_execute(&two).await
                    })
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await
            .unwrap()
            .expect("both transactions commit in the end");
    }
    one_deadlock_one_retry(c, &cluster, &table, &attempts, before);
}

#[test]
fn an_error_that_is_no_conflict_runs_once() {
    let _g = common::shared("main");
    let c = cluster();
    let cluster = Cluster::from_url(&c.cluster_url).unwrap();
    let table = counters(c);
    let mut conn = cluster.connect();
    let mut attempts = 0;
    let result = conn.transaction_with_retry(|conn| {
        attempts += 1;
        conn.batch_execute(&bump(&table, 1))?;
        // A duplicate key (1062): the statement failed, nothing was rolled back by the
        // server, so running the closure again is not the library's call.
        conn.batch_execute(&format!("INSERT INTO {table} VALUES (2, 0)"))
    });
    let err = result.expect_err("duplicate key");
    assert!(err.to_string().contains("Duplicate"), "{err}");
    assert_eq!(attempts, 1);
    assert_eq!(
        final_counts(c, &table),
        "0,0",
        "the transaction rolled back"
    );
}
