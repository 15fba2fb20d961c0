//! What a consistency token can cost (tokens come from clients: no forged one may cost
//! more than one bounded wait), and what routing knows before and after the monitor measured a replica.
//!
//! The judge of "did it wait" is the replicas' own counter of `MASTER_GTID_WAIT` calls
//! (`Master_gtid_wait_count`, `Master_gtid_wait_timeouts` in `SHOW GLOBAL STATUS`), read
//! around the reads under test only (`cluster.sh sync` waits with it too). Every test
//! holds `common::exclusive("tokens")`, so no other test's waits are counted, and
//! restores the cluster when it ends (also when it fails).
use crate::common;

use common::db::{read_counter as read, write_counter as write};

use std::time::Duration;

use diesel_cluster::{
    with_consistency, with_token, Builder, Cluster, ClusterConnection, Consistency,
    ConsistencyToken, Health, Role,
};

use common::db::wait_until;
use common::{Restore, TestCluster};

const REPLICAS: [&str; 2] = ["replica1", "replica2"];

fn tc() -> &'static TestCluster {
    common::db::migrated("tokens")
}

/// Master + both replicas, Auto role, `Eventual` reads (the web's default for token
/// reads), a short causal timeout.
fn builder() -> Builder {
    let c = tc();
    Cluster::builder()
        .master(&c.master_url)
        .replica(&c.replica1_url)
        .replica(&c.replica2_url)
        .default_role(Role::Auto)
        .consistency(Consistency::Eventual)
        .causal_timeout(Duration::from_millis(300))
}

/// `(MASTER_GTID_WAIT calls, of which timed out)` on `node`, as the server counts them.
fn waits(node: &str) -> (u64, u64) {
    let out = tc().sql(
        node,
        "SHOW GLOBAL STATUS WHERE Variable_name IN \
         ('Master_gtid_wait_count', 'Master_gtid_wait_timeouts')",
    );
    let mut counts = (0, 0);
    for line in out.lines() {
        let (name, value) = line.split_once('\t').unwrap();
        let value: u64 = value.trim().parse().unwrap();
        match name {
            "Master_gtid_wait_count" => counts.0 = value,
            "Master_gtid_wait_timeouts" => counts.1 = value,
            other => panic!("unexpected status row {other}"),
        }
    }
    counts
}

/// Both replicas' wait counters.
fn all_waits() -> [(u64, u64); 2] {
    REPLICAS.map(waits)
}

fn delta(before: [(u64, u64); 2], after: [(u64, u64); 2]) -> [(u64, u64); 2] {
    [0, 1].map(|i| (after[i].0 - before[i].0, after[i].1 - before[i].1))
}

/// A `users` row whose `email` holds a counter (starting at 0), present on every replica.
fn counter_row() -> i64 {
    common::db::counter_row(tc(), "tokens")
}

fn last_node(conn: &ClusterConnection) -> String {
    conn.last_node().unwrap().to_string()
}

/// Tokens ahead of the master (a sequence it never reached, a domain it doesn't have)
/// are rejected before any wait: 20 reads with each, spread over three connections (a
/// few clients sending the same forged cookie), run no `MASTER_GTID_WAIT` at all, and
/// cost one read of the master's position per distinct token for the whole cluster.
#[test]
fn forged_tokens_never_wait_on_a_replica() {
    let _g = common::exclusive("tokens");
    let c = tc();
    let _restore = Restore(c);
    let id = counter_row();
    let cluster = builder()
        .monitor_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let forged = [
        "0-1-4000000000",
        "77-1-1",
        "0-1-1_77-1-1",
        "4294967295-4294967295-18446744073709551615",
    ];
    // Garbage never becomes a token: it costs a parse, nothing else.
    for garbage in ["", "garbage", "0-1", "0-1-2,0-1-3", "0-1-x"] {
        assert!(garbage.parse::<ConsistencyToken>().is_err(), "{garbage:?}");
    }
    let mut conns: Vec<ClusterConnection> = (0..3).map(|_| cluster.connect()).collect();
    let before = all_waits();
    for text in forged {
        let token: ConsistencyToken = text.parse().unwrap();
        for k in 0..20 {
            let conn = &mut conns[k % 3];
            assert_eq!(with_token(&token, || read(conn, id)), 0);
            assert_eq!(last_node(conn), "master", "token {text}, read {k}");
        }
    }
    let waited = delta(before, all_waits());
    let position_reads: u64 = conns.iter().map(|c| c.internal_statements()).sum();
    let status = cluster.status();
    eprintln!(
        "80 reads with 4 forged tokens: MASTER_GTID_WAIT per replica {waited:?}, \
         master position reads {position_reads}, rejected {}",
        status.rejected_tokens
    );
    assert_eq!(waited, [(0, 0); 2], "a forged token made a replica wait");
    assert!(
        position_reads <= forged.len() as u64,
        "{position_reads} reads of the master's position for {} tokens",
        forged.len()
    );
    assert_eq!(status.rejected_tokens, 80, "{status}");
}

/// A genuine token no replica reaches (both SQL threads stopped, and no monitor to say
/// so): the first read waits once, times out and reads the master; the next 59 reads
/// with it, on three connections, don't wait at all. Once a later token is reached, the
/// first one is waited for (and served by a replica) again.
#[test]
fn a_token_that_timed_out_is_not_waited_for_again() {
    let _g = common::exclusive("tokens");
    let c = tc();
    let _restore = Restore(c);
    let id = counter_row();
    let cluster = builder().monitor_interval(None).build().unwrap();
    let mut writer = cluster.connect();
    for r in REPLICAS {
        c.stop_sql(r);
    }
    write(&mut writer, id, 1);
    let token = writer.consistency_token().unwrap();
    let mut conns: Vec<ClusterConnection> = (0..3).map(|_| cluster.connect()).collect();
    let before = all_waits();
    for k in 0..60 {
        let conn = &mut conns[k % 3];
        assert_eq!(
            with_token(&token, || read(conn, id)),
            1,
            "read {k} is stale"
        );
        assert_eq!(last_node(conn), "master", "read {k}");
    }
    let waited = delta(before, all_waits());
    eprintln!("60 reads with an unreachable token: MASTER_GTID_WAIT per replica {waited:?}");
    let total: (u64, u64) = (waited[0].0 + waited[1].0, waited[0].1 + waited[1].1);
    assert_eq!(total, (1, 1), "one wait, timed out: {waited:?}");

    for r in REPLICAS {
        c.start_sql(r);
    }
    c.sync();
    write(&mut writer, id, 2);
    let later = writer.consistency_token().unwrap();
    assert!(later.covers(&token));
    let conn = &mut conns[0];
    assert_eq!(with_token(&later, || read(conn, id)), 2);
    assert!(
        last_node(conn).starts_with("replica"),
        "{}",
        last_node(conn)
    );
    // A replica reached a position covering the first token: it is an ordinary token
    // again (read on a fresh connection, which has confirmed nothing yet).
    let mut fresh = cluster.connect();
    assert_eq!(with_token(&token, || read(&mut fresh, id)), 2);
    assert!(
        last_node(&fresh).starts_with("replica"),
        "{}",
        last_node(&fresh)
    );
}

/// Read-your-writes through a token made on another cluster handle (as a cookie from
/// another process would be), whose positions are newer than what the reader's monitor
/// last read from the master (one round, at build): each token is checked against the
/// master's current position, found genuine, and read on the replica that is not
/// delayed. The replica delayed by 3 s (more than the causal timeout can cover) is
/// never waited on.
#[test]
fn a_fresh_token_reads_its_write_and_skips_a_delayed_replica() {
    let _g = common::exclusive("tokens");
    let c = tc();
    let _restore = Restore(c);
    let id = counter_row();
    c.delay("replica2", 3);
    let writers = builder().monitor_interval(None).build().unwrap();
    let readers = builder()
        .causal_timeout(Duration::from_secs(1))
        .monitor_interval(Some(Duration::from_secs(600)))
        .build()
        .unwrap();
    wait_until(&readers, "the monitor saw replica2's delay", || {
        readers
            .status()
            .node("replica2")
            .and_then(|n| n.lag)
            .is_some_and(|l| l >= Duration::from_secs(3))
    });
    let mut writer = writers.connect();
    let mut reader = readers.connect();
    let before = all_waits();
    let pairs = 20;
    let mut stale = 0;
    let mut on_replica1 = 0;
    for k in 1..=pairs {
        write(&mut writer, id, k);
        let cookie = writer.consistency_token().unwrap().to_string();
        let token: ConsistencyToken = cookie.parse().unwrap();
        let seen = with_token(&token, || read(&mut reader, id));
        stale += u32::from(seen != k);
        let node = last_node(&reader);
        assert_ne!(node, "replica2", "read {k} waited on the delayed replica");
        on_replica1 += u32::from(node == "replica1");
    }
    let waited = delta(before, all_waits());
    let status = readers.status();
    eprintln!(
        "{pairs} fresh tokens: {stale} stale, {on_replica1} read on replica1, \
         MASTER_GTID_WAIT per replica {waited:?}, reader round trips {} \
         (position checks + waits), rejected {}",
        reader.internal_statements(),
        status.rejected_tokens
    );
    assert_eq!(stale, 0);
    assert_eq!(status.rejected_tokens, 0, "a genuine token was rejected");
    assert_eq!(waited[1], (0, 0), "waited on the delayed replica");
    assert!(on_replica1 >= 1, "every read went to the master");
    // At most a check of the master's position and a wait per token.
    assert!(reader.internal_statements() <= 2 * pairs as u64);
}

/// `Eventual` token reads with a replica whose SQL thread the monitor saw stopped: they
/// read the write (on the other replica), and the stopped one never gets a wait.
#[test]
fn eventual_token_reads_never_wait_on_a_stopped_replica() {
    let _g = common::exclusive("tokens");
    let c = tc();
    let _restore = Restore(c);
    let id = counter_row();
    let cluster = builder()
        .monitor_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    c.stop_sql("replica1");
    wait_until(&cluster, "the monitor saw replica1 stopped", || {
        cluster
            .status()
            .node("replica1")
            .is_some_and(|n| n.replication_stopped && n.lag.is_none())
    });
    let mut writer = cluster.connect();
    write(&mut writer, id, 3);
    let token = writer.consistency_token().unwrap();
    let mut reader = cluster.connect();
    let before = all_waits();
    let mut stale = 0;
    for _ in 0..20 {
        let seen = with_consistency(Consistency::Eventual, || {
            with_token(&token, || read(&mut reader, id))
        });
        stale += u32::from(seen != 3);
        assert_ne!(last_node(&reader), "replica1");
    }
    let waited = delta(before, all_waits());
    eprintln!("20 Eventual token reads, replica1 stopped: {stale} stale, waits {waited:?}");
    assert_eq!(stale, 0);
    assert_eq!(waited[0], (0, 0), "waited on the stopped replica");
}

/// Defect 13: a killed replica's lag is unknown, not the 0 measured before it died.
#[test]
fn a_killed_replica_has_no_lag() {
    let _g = common::exclusive("tokens");
    let c = tc();
    let _restore = Restore(c);
    let cluster = builder()
        .monitor_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    wait_until(&cluster, "the monitor measured replica1", || {
        cluster.status().node("replica1").and_then(|n| n.lag) == Some(Duration::ZERO)
    });
    c.kill("replica1");
    wait_until(&cluster, "replica1 is ejected", || {
        cluster.status().node("replica1").map(|n| n.health) == Some(Health::Ejected)
    });
    let r1 = cluster.status().node("replica1").unwrap().clone();
    assert_eq!(r1.lag, None, "{r1:?}");
    assert!(r1.replication_stopped, "{r1:?}");
}

/// Defect 13: before the monitor has measured a replica, `Bounded` reads don't count it
/// fresh. replica1 hangs, so the monitor's first round is held on it for the network
/// timeout and neither replica is measured for a while after the build: `Bounded` reads
/// go to the master (after waiting for the round until `connect_timeout` after the
/// build), and to the replicas once they are measured.
#[test]
fn bounded_reads_wait_for_the_monitor_to_measure_a_replica() {
    let _g = common::exclusive("tokens");
    let c = tc();
    let _restore = Restore(c);
    c.freeze("replica1");
    let cluster = builder()
        .consistency(Consistency::Bounded(Duration::from_secs(5)))
        .monitor_interval(Some(Duration::from_millis(100)))
        .connect_timeout(Duration::from_millis(500))
        .network_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    let mut on_master = 0;
    for k in 0..10 {
        let port = common::db::port(&mut conn);
        let node = last_node(&conn);
        if node == "master" {
            assert_eq!(port, c.master_port);
            on_master += 1;
        } else {
            // Only a replica the monitor has measured may serve a `Bounded` read.
            let lag = cluster.status().node(&node).and_then(|n| n.lag);
            assert!(lag.is_some(), "read {k} on unmeasured {node}");
        }
    }
    let status = cluster.status();
    eprintln!("10 Bounded reads before the first round: {on_master} on the master\n{status}");
    assert!(on_master >= 1, "{status}");
    assert_eq!(status.node("replica1").unwrap().lag, None, "{status}");
    c.thaw("replica1");
    // Measured at last: the replicas serve `Bounded` reads.
    wait_until(&cluster, "a Bounded read on a replica", || {
        common::db::port(&mut conn);
        last_node(&conn).starts_with("replica")
    });
}
