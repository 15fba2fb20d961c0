//! Read-your-writes against the real cluster (the guide's consistency page): GTID causal reads,
//! sticky windows, consistency tokens.
//!
//! Every test stops replication or depends on where reads land, so each holds
//! `common::exclusive("causal")` and restores replication before it returns (also when it
//! fails: see [`Restore`]). They use their own cluster, `causal`.
use crate::common;

use common::db::{read_counter as read, write_counter as write};

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_cluster::{
    with_consistency, with_master, with_replica, with_token, Builder, Cluster, ClusterConnection,
    Consistency, ConsistencyToken, Health, Role, Scope,
};

use common::db::{unique, users};

const REPLICAS: [&str; 2] = ["replica1", "replica2"];

/// The `causal` cluster, migrated once per process.
fn tc() -> &'static common::TestCluster {
    common::db::migrated("causal")
}

/// Restarts both replicas' SQL threads and waits for them to catch up when dropped, so
/// a failing test leaves a healthy cluster to the next one.
struct Restore(&'static common::TestCluster);

impl Drop for Restore {
    fn drop(&mut self) {
        for r in REPLICAS {
            // START SLAVE SQL_THREAD on a running thread only warns.
            let _ = self.0.try_run(&["start-sql", r]);
        }
        let synced = self.0.try_sync(30);
        if !thread::panicking() {
            assert!(synced, "replicas did not catch up:\n{}", self.0.status());
        }
    }
}

/// Master + both replicas, Auto role, Causal reads with a 2 s wait.
fn builder() -> Builder {
    let c = tc();
    Cluster::builder()
        .master(&c.master_url)
        .replica(&c.replica1_url)
        .replica(&c.replica2_url)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .causal_timeout(Duration::from_secs(2))
}

/// A `users` row whose `email` holds a counter (starting at 0), present on every replica.
fn counter_row() -> i64 {
    common::db::counter_row(tc(), "causal")
}

/// The counter as seen directly on a node, bypassing the library.
fn read_on(node: &str, id: i64) -> i64 {
    tc().sql(
        node,
        &format!("SELECT email FROM app.users WHERE id = {id}"),
    )
    .parse()
    .unwrap()
}

fn last_node(conn: &ClusterConnection) -> String {
    conn.last_node().unwrap().to_string()
}

fn on_replica(conn: &ClusterConnection) -> bool {
    conn.last_node().is_some_and(|n| n.starts_with("replica"))
}

/// Starts both replicas' SQL threads from another thread a little later, so that a read
/// made now has to wait for them. Correctness does not depend on the delay: a read made
/// after the restart sees the write as well.
fn resume_replicas_soon() -> thread::JoinHandle<()> {
    let c = tc();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        for r in REPLICAS {
            c.start_sql(r);
        }
    })
}

fn stop_replicas() {
    for r in REPLICAS {
        tc().stop_sql(r);
    }
}

/// Polls `cond` for up to 10 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn round_trips_are_counted_zero_without_a_write_at_most_two_with_one() {
    let _g = common::exclusive("causal");
    let _restore = Restore(tc());
    let id = counter_row();
    let cluster = builder().build().unwrap();
    let mut conn = cluster.connect();

    // Nothing written: causal reads cost nothing extra, in every role and scope.
    for _ in 0..10 {
        assert_eq!(read(&mut conn, id), 0);
        assert!(on_replica(&conn), "{:?}", conn.last_node());
        with_replica(|| read(&mut conn, id));
        with_consistency(Consistency::Causal, || read(&mut conn, id));
    }
    assert_eq!(conn.consistency_token(), None);
    assert_eq!(conn.internal_statements(), 0);

    // The write itself costs nothing extra either: its GTID is read lazily.
    write(&mut conn, id, 1);
    assert_eq!(conn.internal_statements(), 0);

    // First read: read @@last_gtid on the master + MASTER_GTID_WAIT on the replica = 2.
    // Later reads: 1 on a replica that has not confirmed the position yet, 0 on one that
    // has.
    let mut confirmed = HashSet::new();
    let mut extra_per_read = Vec::new();
    for k in 0..6 {
        let before = conn.internal_statements();
        assert_eq!(read(&mut conn, id), 1, "read {k} is stale");
        assert!(on_replica(&conn), "read {k} went to {:?}", conn.last_node());
        let extra = conn.internal_statements() - before;
        let node = last_node(&conn);
        let expected = match (k, confirmed.contains(&node)) {
            (0, _) => 2,
            (_, true) => 0,
            (_, false) => 1,
        };
        assert_eq!(extra, expected, "read {k} on {node}");
        confirmed.insert(node);
        extra_per_read.push(extra);
    }
    eprintln!("extra statements per read after one write: {extra_per_read:?}");

    // The token is already known: no more round trips.
    let before = conn.internal_statements();
    let token = conn.consistency_token().unwrap();
    assert_eq!(conn.internal_statements(), before);
    let text = token.to_string();
    assert!(
        text.split('_')
            .all(|g| g.split('-').count() == 3 && g.split('-').all(|n| n.parse::<u64>().is_ok())),
        "{text}"
    );
    assert_eq!(text.parse::<ConsistencyToken>().unwrap(), token);

    // A transaction that wrote and rolled back leaves nothing to wait for.
    let mut fresh = cluster.connect();
    let r: Result<(), diesel::result::Error> = fresh.transaction(|c| {
        write(c, id, 99);
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(r.is_err());
    assert_eq!(read(&mut fresh, id), 1);
    assert!(on_replica(&fresh));
    assert_eq!(fresh.internal_statements(), 0);
    assert_eq!(fresh.consistency_token(), None);
}

/// Each kind of write makes the next replica read wait for it. Replication is stopped
/// before each write (so no replica has it) and restarted while the read waits.
#[test]
fn causal_reads_wait_for_every_kind_of_write() {
    let _g = common::exclusive("causal");
    let _restore = Restore(tc());
    let id = counter_row();
    // No monitor: stopped replicas stay candidates, so reads do go there and wait.
    let cluster = builder()
        .monitor_interval(None)
        .causal_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut conn = cluster.connect();

    type Write = fn(&mut ClusterConnection, i64, i64);
    type Read = fn(&mut ClusterConnection, i64) -> i64;
    let autocommit: Write = write;
    let in_master_scope: Write = |c, id, v| with_master(|| write(c, id, v));
    let diesel_transaction: Write = |c, id, v| {
        c.transaction(|c| {
            write(c, id, v);
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap()
    };
    let raw_transaction: Write = |c, id, v| {
        c.batch_execute("BEGIN").unwrap();
        c.batch_execute(&format!("UPDATE users SET email = '{v}' WHERE id = {id}"))
            .unwrap();
        c.batch_execute("COMMIT").unwrap();
    };
    let raw_autocommit: Write = |c, id, v| {
        c.batch_execute(&format!("UPDATE users SET email = '{v}' WHERE id = {id}"))
            .unwrap()
    };
    let auto_read: Read = read;
    let replica_read: Read = |c, id| with_replica(|| read(c, id));
    let replica_transaction: Read = |c, id| {
        with_replica(|| c.transaction(|c| Ok::<_, diesel::result::Error>(read(c, id)))).unwrap()
    };
    let cases: [(&str, Write, Read); 6] = [
        ("autocommit write, Auto read", autocommit, auto_read),
        (
            "master-scope write, Replica read",
            in_master_scope,
            replica_read,
        ),
        (
            "Diesel transaction, Auto read",
            diesel_transaction,
            auto_read,
        ),
        ("raw BEGIN/COMMIT, Auto read", raw_transaction, auto_read),
        (
            "raw autocommit batch, Replica read",
            raw_autocommit,
            replica_read,
        ),
        (
            "autocommit write, Replica transaction",
            autocommit,
            replica_transaction,
        ),
    ];
    for (value, (case, write_it, read_it)) in (1..).zip(cases) {
        stop_replicas();
        write_it(&mut conn, id, value);
        for r in REPLICAS {
            assert_eq!(
                read_on(r, id),
                value - 1,
                "{case}: {r} has the write already"
            );
        }
        let waits_before: u64 = cluster.status().nodes.iter().map(|n| n.causal_waits).sum();
        let resumer = resume_replicas_soon();
        let seen = read_it(&mut conn, id);
        resumer.join().unwrap();
        assert_eq!(seen, value, "{case}: stale read on {:?}", conn.last_node());
        assert!(on_replica(&conn), "{case}: read on {:?}", conn.last_node());
        let waits: u64 = cluster.status().nodes.iter().map(|n| n.causal_waits).sum();
        assert_eq!(waits, waits_before + 1, "{case}");
    }
    let status = cluster.status();
    assert!(
        status.nodes.iter().all(|n| n.causal_timeouts == 0),
        "{status}"
    );
}

/// The position survives writes that changed nothing (`@@last_gtid` stays empty on a
/// session that never wrote) and the loss of the session that wrote: both fall back to
/// the master's binlog position, which covers the write, in the same statement.
#[test]
fn the_write_position_survives_noop_writes_and_a_lost_session() {
    let _g = common::exclusive("causal");
    let c = tc();
    let _restore = Restore(c);
    let id = counter_row();
    let cluster = builder()
        .monitor_interval(None)
        .causal_timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // A write that matched no row: still at most 2 extra statements, no error.
    let mut conn = cluster.connect();
    let n = diesel::update(users::table.find(-1))
        .set(users::email.eq("x"))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(read(&mut conn, id), 0);
    assert!(on_replica(&conn));
    assert_eq!(conn.internal_statements(), 2);
    assert!(!conn.consistency_token().unwrap().is_empty());

    // The master session that wrote is killed before the position was read.
    let mut conn = cluster.connect();
    let session: i64 = with_master(|| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(CONNECTION_ID() AS SIGNED)",
        ))
        .get_result(&mut conn)
    })
    .unwrap();
    stop_replicas();
    write(&mut conn, id, 11);
    c.sql("master", &format!("KILL {session}"));
    let resumer = resume_replicas_soon();
    let seen = read(&mut conn, id);
    resumer.join().unwrap();
    assert_eq!(seen, 11, "stale read on {:?}", conn.last_node());
    assert!(on_replica(&conn), "{:?}", conn.last_node());
    let master = cluster.status().node("master").unwrap().clone();
    assert_eq!(master.ejections, 0, "a killed session is no dead master");
}

/// A position spanning two replication domains (`0-1-10_1-1-5`) waits for both.
#[test]
fn multi_domain_tokens_wait_for_every_domain() {
    let _g = common::exclusive("causal");
    let c = tc();
    let _restore = Restore(c);
    let id = counter_row();
    // One replica, so every read targets it; no monitor, so it stays a candidate while
    // its SQL thread is stopped.
    let cluster = Cluster::builder()
        .master(&c.master_url)
        .replica(&c.replica1_url)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .monitor_interval(None)
        .causal_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut writer = cluster.connect();
    write(&mut writer, id, 1);
    let domain0 = writer.consistency_token().unwrap();
    assert!(domain0.to_string().starts_with("0-"), "{domain0}");
    c.sync();

    // A write in domain 1 (the app account may not set gtid_domain_id: root does),
    // which replica1 does not apply.
    c.stop_sql("replica1");
    let name = unique("domain1");
    let gtid1 = c.sql(
        "master",
        &format!(
            "SET SESSION gtid_domain_id = 1; \
             UPDATE app.users SET name = '{name}' WHERE id = {id}; SELECT @@last_gtid"
        ),
    );
    assert!(gtid1.starts_with("1-"), "{gtid1}");
    let mut both = domain0.clone();
    both.merge(&gtid1.parse().unwrap());
    let text = both.to_string();
    assert_eq!(text.split('_').count(), 2, "{text}");
    let both: ConsistencyToken = text.parse().unwrap();
    assert!(both.covers(&domain0) && !domain0.covers(&both));

    let read_name = |conn: &mut ClusterConnection| -> String {
        users::table
            .find(id)
            .select(users::name)
            .first(conn)
            .unwrap()
    };
    let mut reader = cluster.connect();
    // Domain 0 alone: replica1 has it, so the read stays there and (as asked) may miss
    // the domain-1 write.
    let seen = with_token(&domain0, || read_name(&mut reader));
    assert_eq!(last_node(&reader), "replica1");
    assert_ne!(seen, name);
    // Both domains: replica1 can't reach domain 1, so the read goes to the master.
    let seen = with_token(&both, || read_name(&mut reader));
    assert_eq!(seen, name);
    assert_eq!(last_node(&reader), "master");
    let r1 = cluster.status().node("replica1").unwrap().clone();
    assert_eq!((r1.causal_timeouts, r1.fallbacks), (1, 1));

    // Once replica1 applies domain 1, a later token reads there, and so does the
    // first one (no monitor here: until a replica reached it, it went to the master
    // without waiting, see `tests/it/tokens.rs`).
    c.start_sql("replica1");
    c.sync();
    write(&mut writer, id, 2);
    let mut later = both.clone();
    later.merge(&writer.consistency_token().unwrap());
    let seen = with_token(&later, || read_name(&mut reader));
    assert_eq!(seen, name);
    assert_eq!(last_node(&reader), "replica1");
    let seen = with_token(&both, || read_name(&mut reader));
    assert_eq!(seen, name);
    assert_eq!(last_node(&reader), "replica1");
    assert_eq!(
        cluster.status().node("replica1").unwrap().causal_timeouts,
        1
    );
}

/// A token taken on one connection, sent as a string to another thread (as a cookie
/// would be) and used by a connection of another cluster handle: that read waits for
/// the write on a replica. The same through a [`Scope`].
#[test]
fn tokens_travel_to_other_connections_and_threads() {
    let _g = common::exclusive("causal");
    let _restore = Restore(tc());
    let id = counter_row();
    let settings = |b: Builder| {
        b.monitor_interval(None)
            .causal_timeout(Duration::from_secs(10))
    };
    let cluster = settings(builder()).build().unwrap();
    // Another handle on the same nodes, whose default consistency does not wait at all:
    // the token alone must make its reads wait.
    let other = settings(builder())
        .consistency(Consistency::Eventual)
        .build()
        .unwrap();

    stop_replicas();
    let mut writer = cluster.connect();
    write(&mut writer, id, 7);
    let token = writer.consistency_token().unwrap();
    let cookie = token.to_string();

    // Without the token, the other connection reads the replicas' stale value.
    let mut plain = other.connect();
    for _ in 0..2 {
        assert_eq!(with_replica(|| read(&mut plain, id)), 0);
        assert!(on_replica(&plain));
    }

    let by_string = thread::spawn(move || {
        let token: ConsistencyToken = cookie.parse().unwrap();
        let v = with_token(&token, || with_replica(|| read(&mut plain, id)));
        (v, last_node(&plain))
    });
    let scope = Scope::with_role(Role::Replica).token(token.clone());
    let mut second = cluster.connect();
    let by_scope = thread::spawn(move || {
        let v = scope.run(|| read(&mut second, id));
        (v, last_node(&second))
    });
    let resumer = resume_replicas_soon();
    for (how, handle) in [("string", by_string), ("scope", by_scope)] {
        let (value, node) = handle.join().unwrap();
        assert_eq!(value, 7, "token by {how}: stale read on {node}");
        assert!(
            node.starts_with("replica"),
            "token by {how}: read on {node}"
        );
    }
    resumer.join().unwrap();
}

/// A replica that can't apply the write within the timeout: the read comes from the
/// master, and the timeout and fallback are counted on that replica. The next read with
/// the same position does not wait again (see `tests/it/tokens.rs`).
#[test]
fn a_replica_that_cannot_catch_up_sends_the_read_to_the_master() {
    let _g = common::exclusive("causal");
    let _restore = Restore(tc());
    let id = counter_row();
    let cluster = builder()
        .monitor_interval(None)
        .causal_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut conn = cluster.connect();

    stop_replicas();
    write(&mut conn, id, 5);
    for k in 1..=2u64 {
        assert_eq!(read(&mut conn, id), 5);
        assert_eq!(last_node(&conn), "master");
        let status = cluster.status();
        let sum = |f: fn(&diesel_cluster::NodeStatus) -> u64| -> u64 {
            status.nodes.iter().filter(|n| !n.is_master).map(f).sum()
        };
        assert_eq!(sum(|n| n.causal_waits), 1, "{status}");
        assert_eq!(sum(|n| n.causal_timeouts), 1, "{status}");
        assert_eq!(sum(|n| n.fallbacks), k, "{status}");
    }

    // A forged token far ahead of the master: read from the master at once, no error.
    let forged: ConsistencyToken = "0-1-4000000000".parse().unwrap();
    let mut other = cluster.connect();
    assert_eq!(with_token(&forged, || read(&mut other, id)), 5);
    assert_eq!(last_node(&other), "master");
    let status = cluster.status();
    assert_eq!(status.rejected_tokens, 1, "{status}");
    let waits: u64 = status.nodes.iter().map(|n| n.causal_waits).sum();
    assert_eq!(waits, 1, "{status}");

    // Replication back: the replicas serve the causal read of the next write again.
    for r in REPLICAS {
        tc().start_sql(r);
    }
    tc().sync();
    write(&mut conn, id, 6);
    assert_eq!(read(&mut conn, id), 6);
    assert!(on_replica(&conn), "{:?}", conn.last_node());
}

#[derive(Debug, Default)]
struct PairStats {
    stale: u32,
    reads_by_node: std::collections::BTreeMap<String, u32>,
    max_extra_per_pair: u64,
    extra_total: u64,
    elapsed: Duration,
}

/// `pairs` write-then-read pairs on one connection in Auto role under `consistency`,
/// with replica2's SQL thread stopped for the first 300 pairs.
fn write_read_pairs(consistency: Consistency, pairs: i64) -> PairStats {
    let c = tc();
    let id = counter_row();
    let cluster = builder()
        .consistency(consistency)
        .monitor_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    c.stop_sql("replica2");
    // Let the monitor see it, so causal reads skip it instead of timing out on it.
    wait_until("the monitor to see replica2 stopped", || {
        cluster
            .status()
            .node("replica2")
            .is_some_and(|n| n.replication_stopped)
    });
    let mut conn = cluster.connect();
    let mut stats = PairStats::default();
    let started = Instant::now();
    for i in 1..=pairs {
        if i == 300 {
            c.start_sql("replica2");
        }
        write(&mut conn, id, i);
        let before = conn.internal_statements();
        let seen = read(&mut conn, id);
        let extra = conn.internal_statements() - before;
        stats.max_extra_per_pair = stats.max_extra_per_pair.max(extra);
        stats.extra_total += extra;
        if seen != i {
            stats.stale += 1;
        }
        *stats.reads_by_node.entry(last_node(&conn)).or_default() += 1;
    }
    stats.elapsed = started.elapsed();
    eprintln!("{consistency:?}: {stats:?}\n{}", cluster.status());
    stats
}

#[test]
fn thousand_write_read_pairs_causal_never_stale_eventual_stale() {
    let _g = common::exclusive("causal");
    let _restore = Restore(tc());

    let causal = write_read_pairs(Consistency::Causal, 1000);
    assert_eq!(causal.stale, 0, "{causal:?}");
    assert!(causal.max_extra_per_pair <= 2, "{causal:?}");
    let on_replicas: u32 = causal
        .reads_by_node
        .iter()
        .filter(|(n, _)| n.starts_with("replica"))
        .map(|(_, k)| k)
        .sum();
    assert!(on_replicas > 0, "{causal:?}");
    assert!(tc().try_sync(30));

    let eventual = write_read_pairs(Consistency::Eventual, 1000);
    assert!(
        eventual.stale > 0,
        "Eventual reads never saw a stale value: {eventual:?}"
    );
    assert_eq!(eventual.extra_total, 0, "{eventual:?}");
}

/// Sticky: after a write, replica reads go to the master for the window, then back to
/// the replicas; no statement is added.
#[test]
fn sticky_window_sends_reads_to_the_master_then_back() {
    let _g = common::exclusive("causal");
    let _restore = Restore(tc());
    let id = counter_row();
    let window = Duration::from_millis(400);
    let cluster = builder()
        .consistency(Consistency::Sticky(window))
        .build()
        .unwrap();

    let check_window = |conn: &mut ClusterConnection, read_it: &dyn Fn(&mut ClusterConnection)| {
        read_it(conn);
        assert!(on_replica(conn), "before any write: {:?}", conn.last_node());
        let started = Instant::now();
        write(conn, id, 3);
        let mut on_master = 0;
        loop {
            read_it(conn);
            let done = Instant::now();
            if done < started + window {
                assert_eq!(last_node(conn), "master", "read within the window");
                on_master += 1;
            } else if on_replica(conn) {
                break;
            }
            assert!(
                done < started + Duration::from_secs(10),
                "reads never went back to the replicas"
            );
        }
        assert!(on_master > 0, "no read happened within the window");
        assert_eq!(conn.internal_statements(), 0);
    };
    let mut conn = cluster.connect();
    check_window(&mut conn, &|c| {
        read(c, id);
    });
    let mut conn = cluster.connect();
    check_window(&mut conn, &|c| {
        with_replica(|| read(c, id));
    });

    // The window is the reading scope's: an Eventual scope reads from a replica at once,
    // and a Sticky scope on a Causal cluster keeps reads on the master.
    let causal = builder().build().unwrap();
    let mut conn = causal.connect();
    write(&mut conn, id, 4);
    with_consistency(Consistency::Eventual, || read(&mut conn, id));
    assert!(on_replica(&conn), "{:?}", conn.last_node());
    with_consistency(Consistency::Sticky(Duration::from_secs(60)), || {
        assert_eq!(read(&mut conn, id), 4)
    });
    assert_eq!(last_node(&conn), "master");
    assert_eq!(conn.internal_statements(), 0);
}

#[test]
fn a_replica_dying_before_the_causal_wait_moves_the_read_to_the_other_replica() {
    let _g = common::exclusive("causal");
    let c = tc();
    let id = counter_row();
    // No monitor: only the read path can find out that the replica is gone.
    let cluster = builder().monitor_interval(None).build().unwrap();
    let mut conn = cluster.connect();
    // Connections open to both replicas, and a write whose position they don't know.
    for _ in 0..4 {
        read(&mut conn, id);
    }
    write(&mut conn, id, 1);
    c.kill("replica1");
    struct Revive(&'static common::TestCluster);
    impl Drop for Revive {
        fn drop(&mut self) {
            self.0.start_node("replica1");
            let synced = self.0.try_sync(30);
            if !thread::panicking() {
                assert!(synced, "replicas did not catch up:\n{}", self.0.status());
            }
        }
    }
    let _revive = Revive(c);
    for _ in 0..4 {
        assert_eq!(read(&mut conn, id), 1, "a causal read saw its own write");
        assert_eq!(last_node(&conn), "replica2");
    }
    let status = cluster.status();
    assert_eq!(status.node("master").unwrap().fallbacks, 0, "{status}");
    assert_eq!(
        status.node("replica1").unwrap().health,
        Health::Ejected,
        "{status}"
    );
}
