//! Observability against a real cluster (`observe`): heartbeat lag during a short
//! replication stall, latency-aware routing with one replica slowed down, and the status
//! table (also as `examples/status.rs --once` prints it) with one replica killed and one
//! lagging.
//!
//! Every test injects faults, holds `common::exclusive("observe")` and leaves the cluster
//! healthy when it ends, passed or failed (see [`Restore`]).
use crate::common;

use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_cluster::{with_consistency, with_replica, BalancePolicy, Cluster, Consistency, Health};

use common::db::{try_port, wait_until, PATIENCE};
use common::Restore;

#[path = "../../examples/status.rs"]
#[allow(dead_code)]
mod status_example;

fn observe() -> &'static common::TestCluster {
    common::cluster("observe")
}

fn admin_url(port: u16) -> String {
    format!("mysql://admin:admin_pw@127.0.0.1:{port}/app")
}

/// One replica stops applying for 500 ms. The heartbeat lag follows it to within
/// 150 ms, while `Seconds_Behind_Master` (read in the same monitor round) is NULL; and
/// with `Bounded(200 ms)` no read reaches that replica once it is more than 200 ms
/// behind.
#[test]
fn heartbeat_lag_sees_a_short_stall_and_bounded_reads_avoid_it() {
    let _g = common::exclusive("observe");
    let c = observe();
    let _restore = Restore(c);
    let interval = Duration::from_millis(50);
    let bound = Duration::from_millis(200);
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .heartbeat(true)
        .monitor_interval(Some(interval))
        .consistency(Consistency::Bounded(bound))
        .build()
        .unwrap();
    wait_until(
        &cluster,
        "both replicas report a heartbeat lag of 0",
        || {
            let s = cluster.status();
            ["replica1", "replica2"].iter().all(|r| {
                s.node(r)
                    .is_some_and(|n| n.heartbeat_lag == Some(Duration::ZERO))
            })
        },
    );

    // Reads in a loop, each noted with the instant it was issued and where it ran.
    let stop = Arc::new(AtomicBool::new(false));
    let reads: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let reader = {
        let (cluster, stop, reads) = (cluster.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let mut conn = cluster.connect();
            while !stop.load(Relaxed) {
                let issued = Instant::now();
                let p = with_replica(|| try_port(&mut conn)).expect("a replica read");
                reads.lock().unwrap().push((issued, p));
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));

    let mut admin = MysqlConnection::establish(&admin_url(c.replica1_port)).unwrap();
    diesel::sql_query("STOP SLAVE SQL_THREAD")
        .execute(&mut admin)
        .unwrap();
    let stopped = Instant::now();
    // Every status snapshot of replica1 until it has caught up again after the stall.
    let mut seen: Vec<(Duration, Option<Duration>, Option<u64>)> = Vec::new();
    let mut started = None;
    let deadline = stopped + PATIENCE;
    loop {
        let now = Instant::now();
        if started.is_none() && now >= stopped + Duration::from_millis(500) {
            diesel::sql_query("START SLAVE SQL_THREAD")
                .execute(&mut admin)
                .unwrap();
            started = Some(Instant::now());
        }
        let s = cluster.status();
        let r1 = s.node("replica1").unwrap();
        seen.push((now - stopped, r1.heartbeat_lag, r1.seconds_behind_master));
        if started.is_some_and(|t| now > t + interval) && r1.heartbeat_lag == Some(Duration::ZERO) {
            break;
        }
        assert!(now < deadline, "replica1 never caught up\n{s}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = started.unwrap();
    stop.store(true, Relaxed);
    reader.join().unwrap();

    let stall = started - stopped;
    let &(at, peak, sbm) = seen
        .iter()
        .max_by_key(|(_, hb, _)| hb.unwrap_or_default())
        .unwrap();
    let peak = peak.expect("a heartbeat lag during the stall");
    let error_ms = peak.as_millis() as i128 - stall.as_millis() as i128;
    println!(
        "stall {stall:?}: heartbeat lag peaked at {peak:?} ({error_ms:+} ms), seen {at:?} after \
         the stop, when Seconds_Behind_Master was {sbm:?}"
    );
    assert!(
        error_ms.abs() <= 150,
        "heartbeat lag {peak:?} vs stall {stall:?}: {seen:?}"
    );
    assert!(
        matches!(sbm, None | Some(0)),
        "Seconds_Behind_Master said {sbm:?}"
    );

    let reads = reads.lock().unwrap();
    let in_stall: Vec<_> = reads
        .iter()
        .filter(|(t, _)| *t >= stopped && *t < started)
        .collect();
    let too_stale: Vec<Duration> = in_stall
        .iter()
        .filter(|(t, p)| *p == c.replica1_port && *t > stopped + bound)
        .map(|(t, _)| *t - stopped)
        .collect();
    let on_r1 = in_stall
        .iter()
        .filter(|(_, p)| *p == c.replica1_port)
        .count();
    let on_r2 = in_stall
        .iter()
        .filter(|(_, p)| *p == c.replica2_port)
        .count();
    let last_on_r1 = in_stall
        .iter()
        .filter(|(_, p)| *p == c.replica1_port)
        .map(|(t, _)| *t - stopped)
        .max();
    println!(
        "{} reads during the stall: {on_r1} on replica1 (the last {last_on_r1:?} after it \
         stopped), {on_r2} on replica2, {} on the master",
        in_stall.len(),
        in_stall.len() - on_r1 - on_r2
    );
    assert!(
        too_stale.is_empty(),
        "reads reached replica1 this long after it stopped: {too_stale:?}"
    );
    assert!(on_r2 > 0, "the other replica served the reads");
    let before = reads.iter().filter(|(t, _)| *t < stopped).count();
    assert!(before > 0 && on_r2 > 0);
}

/// Keeps a server slow to answer, as an overloaded or CPU-throttled host is: it is
/// stopped (SIGSTOP) for 30 to 70 ms at random, then runs for 10 ms. CPU load alone
/// does not do it on this machine: the scheduler wakes the thread answering a ping
/// ahead of busy ones. The stops vary because a fixed 50 ms cycle (the monitor's
/// interval here) can lock in step with the monitor's rounds, so that every ping lands
/// in a running window and the server never looks slow. Sends SIGCONT when dropped, so
/// a failing test leaves the server running.
struct Slowdown {
    pid: String,
    child: Child,
}

impl Slowdown {
    fn start(c: &common::TestCluster, node: &str) -> Slowdown {
        let pid_file = c.sql(node, "SELECT @@pid_file");
        let pid = std::fs::read_to_string(pid_file.trim())
            .unwrap()
            .trim()
            .to_string();
        assert!(pid.chars().all(|ch| ch.is_ascii_digit()), "pid {pid}");
        let child = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "trap 'kill -CONT {pid}; exit 0' TERM; \
                 while :; do kill -STOP {pid}; sleep 0.0$((RANDOM % 5 + 3)); kill -CONT {pid}; \
                 sleep 0.01; done"
            ))
            .spawn()
            .unwrap();
        Slowdown { pid, child }
    }
}

impl Drop for Slowdown {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = Command::new("kill").args(["-CONT", &self.pid]).status();
    }
}

/// Counts, over `n` eventual reads in replica role, how many each replica served.
fn spread(cluster: &Cluster, c: &common::TestCluster, n: usize) -> (usize, usize, usize) {
    let mut conn = cluster.connect();
    let (mut r1, mut r2, mut m) = (0, 0, 0);
    for _ in 0..n {
        let p = with_replica(|| try_port(&mut conn)).unwrap();
        if p == c.replica1_port {
            r1 += 1;
        } else if p == c.replica2_port {
            r2 += 1;
        } else {
            m += 1;
        }
    }
    (r1, r2, m)
}

/// With one replica slowed down, `LeastLatency` sends (nearly) every read to the other
/// one, and a latency ceiling keeps the slow one out of round-robin, until it recovers.
#[test]
fn latency_aware_routing_avoids_a_slow_replica() {
    let _g = common::exclusive("observe");
    let c = observe();
    let _restore = Restore(c);
    let build = |policy| {
        Cluster::builder()
            .url(&c.cluster_url)
            .monitor_interval(Some(Duration::from_millis(50)))
            .consistency(Consistency::Eventual)
            .balance(policy)
    };
    let least = build(BalancePolicy::LeastLatency).build().unwrap();
    let ceiling = Duration::from_millis(5);
    let capped = build(BalancePolicy::RoundRobin)
        .max_replica_latency(ceiling)
        .build()
        .unwrap();
    let latency = |cl: &Cluster, n: &str| cl.status().node(n).and_then(|s| s.latency);
    wait_until(&least, "the monitor measured both replicas", || {
        latency(&least, "replica1").is_some() && latency(&least, "replica2").is_some()
    });
    // Before the slowdown both replicas must be under the ceiling. A node's first sample
    // includes the monitor opening its connection, which on a loaded machine can take
    // longer than 5 ms: then round-robin rightly leaves that replica out (seen: 100/0)
    // until the smoothed latency comes down, a few rounds later.
    wait_until(&capped, "both replicas measure under the ceiling", || {
        ["replica1", "replica2"]
            .iter()
            .all(|r| latency(&capped, r).is_some_and(|l| l <= ceiling))
    });
    let (r1, r2, _) = spread(&capped, c, 100);
    assert!(r1 >= 40 && r2 >= 40, "round-robin before: {r1}/{r2}");

    let slow = Slowdown::start(c, "replica1");
    wait_until(&least, "replica1 measures slower than the ceiling", || {
        latency(&least, "replica1").is_some_and(|l| l > ceiling)
            && latency(&capped, "replica1").is_some_and(|l| l > ceiling)
    });
    let status = least.status();
    let (slow_rt, fast_rt) = (
        latency(&least, "replica1").unwrap(),
        latency(&least, "replica2").unwrap(),
    );
    let (l1, l2, lm) = spread(&least, c, 200);
    let (c1, c2, cm) = spread(&capped, c, 200);
    drop(slow);
    println!(
        "replica1 slowed: {slow_rt:?} against {fast_rt:?}; 200 reads: least_latency \
         {l1}/{l2} (+{lm} master), round-robin with a {ceiling:?} ceiling {c1}/{c2} \
         (+{cm} master)\n{status}"
    );
    assert!(
        l2 >= 150,
        "least_latency sent {l1} reads to the slow replica and {l2} to the fast one"
    );
    assert!(
        c2 >= 150,
        "the ceiling let {c1} reads reach the slow replica ({c2} on the fast one)"
    );

    // Recovered: the ceiling lets it serve again.
    wait_until(&capped, "replica1 is fast again", || {
        latency(&capped, "replica1").is_some_and(|l| l < ceiling / 2)
    });
    let (r1, _, _) = spread(&capped, c, 100);
    assert!(r1 >= 20, "replica1 serves again after recovering: {r1}/100");
    assert_eq!(capped.status().node("replica1").unwrap().health, Health::Up);
}

/// A killed replica shows as ejected, one with its SQL thread stopped as lagging, in
/// `Cluster::status()` and in the table `examples/status.rs --once` prints.
#[test]
fn status_table_shows_a_killed_and_a_lagging_replica() {
    let _g = common::exclusive("observe");
    let c = observe();
    let _restore = Restore(c);
    let url = format!(
        "{}?monitor_interval=100ms&heartbeat=true&max_replica_lag=300ms",
        c.cluster_url
    );
    let cluster = Cluster::from_url(&url).unwrap();
    let mut conn = cluster.connect();
    with_consistency(Consistency::Eventual, || {
        for _ in 0..4 {
            with_replica(|| try_port(&mut conn)).unwrap();
        }
    });
    c.kill("replica1");
    c.stop_sql("replica2");
    wait_until(&cluster, "replica1 is ejected and replica2 lagging", || {
        let s = cluster.status();
        s.node("replica1").map(|n| n.health) == Some(Health::Ejected)
            && s.node("replica2").map(|n| n.health) == Some(Health::Lagging)
    });
    let text = cluster.status().to_string();
    println!("{text}");
    let row = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in\n{text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let (m, r1, r2) = (row("master"), row("replica1"), row("replica2"));
    assert_eq!(m[2..4], ["master", "up"], "{text}");
    assert!(m.last().unwrap().starts_with("0-"), "master GTID: {text}");
    assert_eq!(r1[2..4], ["replica", "ejected"], "{text}");
    assert_eq!(r2[2..5], ["replica", "lagging", "stopped"], "{text}");
    assert_eq!(r2[7], "NULL", "Seconds_Behind_Master: {text}");
    assert!(
        r2[5].ends_with("ms"),
        "heartbeat lag as routing uses it: {text}"
    );
    assert!(r2[9].parse::<u64>().unwrap() >= 1, "statements: {text}");

    // The example's one-shot table, from its own cluster built from the same URL.
    let printed = status_example::snapshot(&url).unwrap();
    println!("examples/status.rs --once:\n{printed}");
    for (node, state) in [
        ("master", "up"),
        ("replica1", "ejected"),
        ("replica2", "lagging"),
    ] {
        assert!(
            printed
                .lines()
                .any(|l| l.starts_with(&format!("{node} ")) && l.contains(&format!(" {state} "))),
            "{node} {state} in\n{printed}"
        );
    }
    drop(conn);
}

/// After a switchover, the heartbeat is written on the new master (with the master's
/// credentials, though the promoted node was configured with the read-only replica
/// account) and measures the replicas of the new topology, old master included.
#[test]
fn heartbeat_follows_a_switchover() {
    let _g = common::exclusive("observe");
    let c = observe();
    let _restore = Restore(c);
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .replica_credentials("app_ro", "ro_pw")
        .admin_credentials("admin", "admin_pw")
        .replication_credentials("repl", "repl_pw")
        .heartbeat(true)
        .monitor_interval(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let in_time = |cl: &Cluster, nodes: &[&str]| {
        let s = cl.status();
        nodes.iter().all(|r| {
            s.node(r)
                .is_some_and(|n| n.heartbeat_lag == Some(Duration::ZERO))
        })
    };
    wait_until(&cluster, "both replicas are in time", || {
        in_time(&cluster, &["replica1", "replica2"])
    });

    assert_eq!(cluster.promote(Some("replica1")).unwrap(), "replica1");
    let writer_id = c.sql("replica1", "SELECT @@server_id");
    wait_until(&cluster, "the new master's replicas are in time", || {
        in_time(&cluster, &["master", "replica2"])
            && c.sql(
                "replica2",
                "SELECT server_id FROM app.diesel_cluster_heartbeat WHERE id = 1",
            ) == writer_id
    });
    let status = cluster.status();
    assert!(
        status.node("replica1").unwrap().monitor_error.is_none(),
        "{status}"
    );

    // Measured against the new master: replica2 stalls, its lag grows.
    c.stop_sql("replica2");
    wait_until(&cluster, "replica2's heartbeat lag passes 100 ms", || {
        cluster
            .status()
            .node("replica2")
            .and_then(|n| n.heartbeat_lag)
            .is_some_and(|l| l > Duration::from_millis(100))
    });
    println!("{}", cluster.status());
    c.start_sql("replica2");
    drop(cluster);
    c.reset();
}
