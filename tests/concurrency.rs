//! Concurrency: many threads with nested role scopes sharing a small pool, pool
//! exhaustion, clusters dropped while their connections live, and the monitor thread's
//! life. Reads only: the `main` cluster is enough, and it is never faulted here.
//!
//! A binary of its own: the monitor-thread tests count this process's monitor threads,
//! and any other test's cluster would be counted with them. Within it the tests run one
//! at a time (every test builds a monitored cluster): see [`alone`].
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::Pool;

use common::db::port;
use diesel_cluster::{
    current_role, use_role, with_consistency, with_role, Cluster, ClusterConnection, Consistency,
    Role, Scope,
};

fn cluster() -> &'static common::TestCluster {
    common::cluster("main")
}

/// One test of this binary at a time: each starts monitor threads, which the others
/// count (poison-tolerant). Taken after the cluster guard, like any lock of a test's own.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ports a read in `role` may land on. Reads use `Eventual` consistency, so a
/// replica with some lag on a busy machine still counts as a replica.
fn allowed_ports(c: &common::TestCluster, role: Role) -> Vec<u16> {
    match role {
        Role::Master => vec![c.master_port],
        _ => vec![c.replica1_port, c.replica2_port],
    }
}

/// Thread ids of this process's cluster threads: each cluster's monitor and the
/// monitor's watchdog (`diesel-cluster-monitor` and `diesel-cluster-watchdog`, which
/// Linux shortens to the same 15 bytes in `comm`).
fn monitor_threads() -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end().starts_with("diesel-cluster") {
                if let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok()) {
                    found.insert(tid);
                }
            }
        }
    }
    found
}

/// Polls `cond` every 20 ms for up to 10 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn build(c: &common::TestCluster) -> Cluster {
    Cluster::builder()
        .url(&c.cluster_url)
        .consistency(Consistency::Eventual)
        .monitor_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap()
}

/// Picks a role from a small deterministic generator (no `rand` dependency needed).
fn role_of(x: u64) -> Role {
    match x % 3 {
        0 => Role::Master,
        1 => Role::Replica,
        _ => Role::Auto,
    }
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs one read in `role` on `conn` and checks where it landed.
fn check_read(c: &common::TestCluster, conn: &mut ClusterConnection, role: Role, what: &str) {
    // Outside any scope the cluster's default role (Master) applies.
    assert_eq!(
        current_role().unwrap_or(Role::Master),
        role,
        "{what}: scope stack out of order"
    );
    let p = port(conn);
    assert!(
        allowed_ports(c, role).contains(&p),
        "{what}: a read in {role:?} scope ran on port {p} (master {}, replicas {} {})",
        c.master_port,
        c.replica1_port,
        c.replica2_port
    );
}

#[test]
fn thirty_two_threads_with_nested_scopes_share_a_pool_of_eight() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    let cluster = build(c);
    let pool = Pool::builder()
        .max_size(8)
        .connection_timeout(Duration::from_secs(60))
        .build(cluster.manager())
        .unwrap();
    let started = Instant::now();
    let handles: Vec<_> = (0..32u64)
        .map(|t| {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                let mut statements = 0u32;
                for _ in 0..12 {
                    let outer = role_of(next(&mut x));
                    let middle = role_of(next(&mut x));
                    let inner = role_of(next(&mut x));
                    with_consistency(Consistency::Eventual, || {
                        with_role(outer, || {
                            // Checked out in the outer scope, used in all three.
                            let mut conn = pool.get().unwrap();
                            check_read(c, &mut conn, outer, "outer");
                            with_role(middle, || {
                                check_read(c, &mut conn, middle, "middle");
                                {
                                    let _inner = use_role(inner);
                                    check_read(c, &mut conn, inner, "inner guard");
                                }
                                check_read(c, &mut conn, middle, "middle after inner");
                            });
                            check_read(c, &mut conn, outer, "outer after middle");
                        });
                    });
                    // A connection checked out inside the innermost scope follows it
                    // too (none is held here, so 32 threads can't starve a pool of 8).
                    with_role(outer, || {
                        with_role(middle, || {
                            with_consistency(Consistency::Eventual, || {
                                let _inner = use_role(inner);
                                let mut conn = pool.get().unwrap();
                                check_read(c, &mut conn, inner, "checked out innermost");
                            })
                        })
                    });
                    // A scope carried to another thread applies there, and only there.
                    let scope = Scope::with_role(inner).consistency(Consistency::Eventual);
                    let pool2 = pool.clone();
                    thread::spawn(move || {
                        scope.run(|| {
                            let mut conn = pool2.get().unwrap();
                            check_read(c, &mut conn, inner, "carried scope");
                        })
                    })
                    .join()
                    .unwrap();
                    assert_eq!(current_role(), None, "scopes leaked past their closure");
                    statements += 7;
                }
                statements
            })
        })
        .collect();
    let total: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(total >= 32 * 12 * 6);
    let state = pool.state();
    assert!(state.connections <= 8, "{state:?}");
    eprintln!(
        "{total} statements from 32 threads on a pool of 8 in {:?}",
        started.elapsed()
    );
}

#[test]
fn an_exhausted_pool_times_out_then_recovers() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    let cluster = build(c);
    let pool = Pool::builder()
        .max_size(2)
        .connection_timeout(Duration::from_millis(300))
        .build(cluster.manager())
        .unwrap();
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    port(&mut a);
    port(&mut b);
    let waited = Instant::now();
    let err = pool
        .get()
        .expect_err("a third connection from a pool of two");
    assert!(
        waited.elapsed() >= Duration::from_millis(300),
        "gave up before the timeout"
    );
    assert!(!err.to_string().is_empty());
    // Returning one makes the pool usable again, and the connection still works.
    drop(a);
    let mut again = pool.get().expect("a connection after one was returned");
    port(&mut again);
    // A waiter blocked on an exhausted pool is woken by a return from another thread.
    let pool2 = pool.clone();
    let waiter = thread::spawn(move || {
        let mut conn = Pool::get_timeout(&pool2, Duration::from_secs(30))?;
        Ok::<u16, diesel::r2d2::PoolError>(port(&mut conn))
    });
    thread::sleep(Duration::from_millis(50));
    drop(b);
    assert_eq!(waiter.join().unwrap().unwrap(), c.master_port);
}

#[test]
fn connections_outlive_their_cluster_handle_and_the_monitor_ends_with_the_last() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    let before = monitor_threads();
    let cluster = build(c);
    let mut ours = BTreeSet::new();
    eventually("the monitor thread has started", || {
        ours = monitor_threads().difference(&before).copied().collect();
        ours.len() >= 2
    });
    assert_eq!(
        ours.len(),
        2,
        "one monitor thread and its watchdog per cluster: {ours:?}"
    );

    let mut conns: Vec<ClusterConnection> = (0..4).map(|_| cluster.connect()).collect();
    let pool = Pool::builder()
        .max_size(2)
        .build(cluster.manager())
        .unwrap();
    drop(cluster);
    // Connections (plain and pooled) keep working, in both roles, from several threads.
    let conns_done: Vec<_> = conns
        .drain(..)
        .enumerate()
        .map(|(i, mut conn)| {
            thread::spawn(move || {
                for _ in 0..5 {
                    check_read(c, &mut conn, Role::Master, &format!("conn {i}"));
                    with_consistency(Consistency::Eventual, || {
                        with_role(Role::Replica, || {
                            check_read(c, &mut conn, Role::Replica, &format!("conn {i}"))
                        })
                    });
                }
                conn
            })
        })
        .collect();
    let mut conns: Vec<_> = conns_done.into_iter().map(|h| h.join().unwrap()).collect();
    {
        let mut pooled = pool.get().unwrap();
        with_role(Role::Master, || {
            check_read(c, &mut pooled, Role::Master, "pooled")
        });
    }
    assert!(
        ours.is_subset(&monitor_threads()),
        "the monitor stopped while connections still use the cluster"
    );
    // The cluster is reachable again from any connection, and shares the same state.
    let again = conns[0].cluster().clone();
    assert_eq!(&again, conns[1].cluster());
    drop(again);

    drop(pool);
    conns.truncate(1);
    assert!(ours.is_subset(&monitor_threads()));
    let last = conns.pop().unwrap();
    drop(last);
    eventually("the monitor thread ended with the last connection", || {
        ours.is_disjoint(&monitor_threads())
    });
}

#[test]
fn the_monitor_thread_ends_with_the_cluster() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    for round in 0..3 {
        let before = monitor_threads();
        let cluster = build(c);
        let mut ours = BTreeSet::new();
        eventually("the monitor thread and its watchdog have started", || {
            ours = monitor_threads().difference(&before).copied().collect();
            ours.len() >= 2
        });
        // Let it do some work first (open its own node connections) in some rounds.
        if round > 0 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while cluster.status().nodes.iter().any(|n| n.latency.is_none()) {
                assert!(Instant::now() < deadline, "monitor never measured latency");
                thread::sleep(Duration::from_millis(20));
            }
        }
        let clones: Vec<Cluster> = (0..3).map(|_| cluster.clone()).collect();
        drop(cluster);
        assert!(
            ours.is_subset(&monitor_threads()),
            "ended while clones live"
        );
        drop(clones);
        // Dropping the last handle joins the monitor, so it is gone (or exiting) now.
        eventually("the monitor thread ended with the cluster", || {
            ours.is_disjoint(&monitor_threads())
        });
    }
    // A master-only cluster, and one with the monitor off, start no thread at all.
    let before = monitor_threads();
    let single = Cluster::from_url(&c.master_url).unwrap();
    let off = Cluster::builder()
        .url(&c.cluster_url)
        .monitor_interval(None)
        .build()
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    assert!(monitor_threads().is_subset(&before));
    drop((single, off));
}

#[test]
fn clusters_made_from_a_url_share_state_and_end_with_their_last_connection() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    // A URL of our own so that no other test's connections share the registry entry.
    let url = format!(
        "{}?monitor_interval=100ms&ejection_cooldown=4s&linger=300ms",
        c.cluster_url
    );
    let before = monitor_threads();
    let conns: Vec<ClusterConnection> = (0..8)
        .map(|_| ClusterConnection::establish(&url).unwrap())
        .collect();
    for w in conns.windows(2) {
        assert_eq!(w[0].cluster(), w[1].cluster());
    }
    let mut ours = BTreeSet::new();
    eventually("one monitor thread (and its watchdog) for the URL", || {
        ours = monitor_threads().difference(&before).copied().collect();
        ours.len() >= 2
    });
    assert_eq!(ours.len(), 2, "{ours:?}");
    let shared = Arc::new(std::sync::Mutex::new(conns));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let shared = shared.clone();
            thread::spawn(move || {
                let mut conn = shared.lock().unwrap().pop().unwrap();
                check_read(c, &mut conn, Role::Master, &format!("established {i}"));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    eventually(
        "the URL's monitor thread ended once the cluster was unused for its linger",
        || ours.is_disjoint(&monitor_threads()),
    );
    // A new connection from the same URL makes a fresh cluster (and monitor).
    let conn = ClusterConnection::establish(&url).unwrap();
    assert!(conn
        .cluster()
        .status()
        .nodes
        .iter()
        .all(|n| n.statements == 0));
}

/// A program that connects per unit of work (establish, one statement, drop) keeps one
/// cluster, and so one monitor, for as long as it keeps coming back within the linger.
#[test]
fn a_cluster_made_from_a_url_outlives_its_last_connection_for_its_linger() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    let url = format!("{}?monitor_interval=100ms&linger=2s", c.cluster_url);
    let before = monitor_threads();
    let first = ClusterConnection::establish(&url).unwrap();
    let id = first.cluster().clone();
    drop(first);
    let mut ours = BTreeSet::new();
    eventually("the URL's monitor started", || {
        ours = monitor_threads().difference(&before).copied().collect();
        ours.len() >= 2
    });
    for i in 0..20 {
        let mut conn = ClusterConnection::establish(&url).unwrap();
        assert!(*conn.cluster() == id, "unit of work {i} got a new cluster");
        check_read(c, &mut conn, Role::Master, &format!("unit of work {i}"));
        drop(conn);
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ours.is_subset(&monitor_threads()),
        "the monitor kept running"
    );
    drop(id);
    eventually("the monitor ended once unused for its linger", || {
        ours.is_disjoint(&monitor_threads())
    });
}

/// A failed `establish` (here: a wrong password on every node) leaves no cluster behind:
/// its monitor, which would log in with those credentials every round, ends with it.
#[test]
fn a_failed_establish_leaves_no_monitor_behind() {
    let _g = common::shared("main");
    let _alone = alone();
    let c = cluster();
    let url = format!(
        "{}?monitor_interval=100ms",
        c.cluster_url.replace("app_pw", "wrong")
    );
    let before = monitor_threads();
    assert!(ClusterConnection::establish(&url).is_err());
    eventually("no monitor thread outlives the failed establish", || {
        monitor_threads().is_subset(&before)
    });
}
