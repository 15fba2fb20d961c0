//! Statement routing and session state inside one connection (the guide's routing page),
//! against the real cluster.
use crate::common;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_cluster::{
    use_replica, with_master, with_replica, with_role, Cluster, ClusterConnection, NodeKind, Role,
    WriteRouting,
};

use common::db::{port, unique};

fn cluster() -> &'static common::TestCluster {
    common::db::migrated("main")
}

fn conn() -> ClusterConnection {
    ClusterConnection::establish(&cluster().cluster_url).unwrap()
}

#[derive(QueryableByName, Debug)]
struct One {
    #[diesel(sql_type = Text)]
    v: String,
}

fn text(conn: &mut ClusterConnection, sql: &str) -> String {
    diesel::sql_query(sql)
        .get_result::<One>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .v
}

fn count_everywhere(c: &common::TestCluster, name: &str) -> Vec<String> {
    c.sync();
    ["master", "replica1", "replica2"]
        .iter()
        .map(|n| {
            c.sql(
                n,
                &format!("SELECT COUNT(*) FROM app.users WHERE name = '{name}'"),
            )
        })
        .collect()
}

#[test]
fn writes_in_replica_scope_are_refused_before_any_server_sees_them() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    let name = unique("refused");
    let statements = [
        format!("INSERT INTO users (name) VALUES ('{name}')"),
        format!("UPDATE users SET email = 'x' WHERE name = '{name}'"),
        format!("DELETE FROM users WHERE name = '{name}'"),
        "CREATE TABLE refused_table (id INT)".to_string(),
        format!("SELECT 1; INSERT INTO users (name) VALUES ('{name}')"),
    ];
    conn.set_query_log(true);
    with_replica(|| {
        for sql in &statements {
            let err = conn.batch_execute(sql).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("refused in replica role"), "{sql}: {msg}");
            assert!(
                matches!(
                    err,
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ReadOnlyTransaction,
                        _
                    )
                ),
                "{err:?}"
            );
        }
        let err = diesel::sql_query(&statements[0])
            .execute(&mut conn)
            .unwrap_err();
        assert!(err.to_string().contains("INSERT refused"), "{err}");
    });
    assert!(conn.query_log().is_empty(), "nothing reached a server");
    assert_eq!(count_everywhere(c, &name), vec!["0", "0", "0"]);
    assert_eq!(
        c.sql(
            "master",
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'refused_table'"
        ),
        "0"
    );

    // With the option, the same write lands on the master.
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .writes_in_replica_role(WriteRouting::Master)
        .build()
        .unwrap();
    let mut conn = cluster.connect();
    with_replica(|| {
        conn.batch_execute(&statements[0]).unwrap();
        assert_eq!(conn.last_node(), Some("master"));
    });
    assert_eq!(count_everywhere(c, &name), vec!["1", "1", "1"]);
    conn.batch_execute(&format!("DELETE FROM users WHERE name = '{name}'"))
        .unwrap();
}

#[test]
fn use_database_follows_to_the_replicas() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    // Open the master first, then switch databases, then read from a replica that is
    // opened only now: the USE is replayed on it.
    assert_eq!(port(&mut conn), c.master_port);
    conn.batch_execute("USE other_db").unwrap();
    with_replica(|| {
        assert_eq!(
            text(&mut conn, "SELECT name AS v FROM marker WHERE id = 1"),
            "other_db"
        );
        assert_eq!(text(&mut conn, "SELECT DATABASE() AS v"), "other_db");
        // Both replicas, whichever the balancer picks.
        for _ in 0..4 {
            assert_eq!(text(&mut conn, "SELECT DATABASE() AS v"), "other_db");
        }
    });
    assert_eq!(text(&mut conn, "SELECT DATABASE() AS v"), "other_db");
    conn.batch_execute("USE app").unwrap();
    with_replica(|| assert_eq!(text(&mut conn, "SELECT DATABASE() AS v"), "app"));
}

#[test]
fn session_variables_apply_on_every_node() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    // A replica connection is open before the SET, another opens after it.
    with_replica(|| {
        port(&mut conn);
    });
    diesel::sql_query("SET time_zone = '+05:30'")
        .execute(&mut conn)
        .unwrap();
    conn.batch_execute("SET @who = 'me'; SET sql_mode = 'ANSI_QUOTES'")
        .unwrap();
    with_replica(|| {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..6 {
            for (sql, expected) in [
                ("SELECT @@time_zone AS v", "+05:30"),
                ("SELECT @who AS v", "me"),
                ("SELECT @@sql_mode AS v", "ANSI_QUOTES"),
            ] {
                assert_eq!(text(&mut conn, sql), expected);
                seen.insert(conn.last_node().unwrap().to_string());
            }
        }
        assert!(seen.len() >= 2, "both replicas were read: {seen:?}");
        assert!(!seen.contains("master"));
    });
    assert_eq!(text(&mut conn, "SELECT @@time_zone AS v"), "+05:30");

    // A node that can't take the session state: the error names the node and statement.
    c.sql(
        "master",
        "SET sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS only_on_master; \
         GRANT ALL ON only_on_master.* TO 'app'@'%'",
    );
    let err = conn
        .batch_execute("USE only_on_master")
        .unwrap_err()
        .to_string();
    assert!(err.contains("replica"), "{err}");
    assert!(err.contains("USE only_on_master"), "{err}");
    c.sql(
        "master",
        "SET sql_log_bin = 0; DROP DATABASE only_on_master",
    );
}

#[test]
fn last_insert_id_reads_the_node_that_inserted() {
    let _g = common::shared("main");
    let mut conn = conn();
    let name = unique("lid");
    diesel::sql_query(format!("INSERT INTO users (name) VALUES ('{name}')"))
        .execute(&mut conn)
        .unwrap();
    let id: i64 = with_replica(|| {
        diesel::select(diesel::dsl::sql::<BigInt>("LAST_INSERT_ID()")).get_result(&mut conn)
    })
    .unwrap();
    assert_eq!(conn.last_node(), Some("master"));
    let real: i64 = users_id(&mut conn, &name);
    assert_eq!(id, real);
    assert!(id > 0);
    // ROW_COUNT() too.
    diesel::sql_query(format!(
        "UPDATE users SET email = 'rc' WHERE name = '{name}'"
    ))
    .execute(&mut conn)
    .unwrap();
    let rc: i64 = with_replica(|| {
        diesel::select(diesel::dsl::sql::<BigInt>("ROW_COUNT()")).get_result(&mut conn)
    })
    .unwrap();
    assert_eq!(rc, 1);
    conn.batch_execute(&format!("DELETE FROM users WHERE name = '{name}'"))
        .unwrap();
}

fn users_id(conn: &mut ClusterConnection, name: &str) -> i64 {
    with_master(|| {
        diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "(SELECT id FROM users WHERE name = '{name}')"
        )))
        .get_result(conn)
        .unwrap()
    })
}

#[test]
fn found_rows_and_warnings_stay_on_the_previous_node() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    with_replica(|| {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text, column_name = CHARACTER_SET_NAME)]
            table_name: String,
        }
        let query = "FROM information_schema.CHARACTER_SETS";
        let rows: Vec<Name> = diesel::sql_query(format!(
            "SELECT SQL_CALC_FOUND_ROWS CHARACTER_SET_NAME {query} LIMIT 1"
        ))
        .load(&mut conn)
        .unwrap();
        let node = conn.last_node().unwrap().to_string();
        assert!(node.starts_with("replica"));
        assert_eq!(rows.len(), 1);
        let total: i64 = diesel::select(diesel::dsl::sql::<BigInt>("FOUND_ROWS()"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(conn.last_node(), Some(node.as_str()));
        let real = c.sql(&node, &format!("SELECT COUNT(*) {query}"));
        let _ = rows[0].table_name.len();
        assert_eq!(total.to_string(), real);
        assert!(total > 1);

        // A statement that warns, then SHOW WARNINGS on the same node.
        let _: Option<i64> = diesel::select(diesel::dsl::sql::<Nullable<BigInt>>(
            "CAST('12abc' AS SIGNED)",
        ))
        .get_result(&mut conn)
        .unwrap();
        let warned_on = conn.last_node().unwrap().to_string();
        let count: i64 = diesel::select(diesel::dsl::sql::<BigInt>("@@warning_count"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(conn.last_node(), Some(warned_on.as_str()));
        assert_eq!(count, 1, "the warning is read on the node that raised it");
        // SHOW WARNINGS has no result metadata through a prepared statement, so Diesel
        // can only run it with batch_execute; it must still reach the same node.
        conn.batch_execute("SHOW WARNINGS").unwrap();
        assert_eq!(conn.last_node(), Some(warned_on.as_str()));
    });
}

#[test]
fn temporary_tables_keep_their_statements_on_their_node() {
    let _g = common::shared("main");
    let mut conn = conn();
    let _replica = use_replica();
    conn.batch_execute("CREATE TEMPORARY TABLE scratch (id INT PRIMARY KEY, v TEXT)")
        .unwrap();
    let node = conn.last_node().unwrap().to_string();
    assert!(node.starts_with("replica"), "{node}");
    // Writes to the temporary table are allowed in replica scope: they change no
    // replicated data, and a read-only server accepts them.
    for i in 0..6 {
        diesel::sql_query(format!("INSERT INTO scratch VALUES ({i}, 'v{i}')"))
            .execute(&mut conn)
            .unwrap();
        assert_eq!(conn.last_node(), Some(node.as_str()));
    }
    let n: i64 = diesel::select(diesel::dsl::sql::<BigInt>("COUNT(*) FROM `scratch`"))
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(n, 6);
    assert_eq!(conn.last_node(), Some(node.as_str()));
    conn.batch_execute("DROP TEMPORARY TABLE scratch").unwrap();
    assert_eq!(conn.last_node(), Some(node.as_str()));
}

#[test]
fn auto_role_splits_reads_and_writes() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    let name = unique("auto");
    conn.set_query_log(true);
    with_role(Role::Auto, || {
        conn.batch_execute(&format!("INSERT INTO users (name) VALUES ('{name}')"))
            .unwrap();
        let _ = port(&mut conn);
        let _: i64 = diesel::select(diesel::dsl::sql::<BigInt>("LAST_INSERT_ID()"))
            .get_result(&mut conn)
            .unwrap();
        diesel::sql_query(format!(
            "SELECT id FROM users WHERE name = '{name}' FOR UPDATE"
        ))
        .execute(&mut conn)
        .unwrap();
        diesel::select(diesel::dsl::sql::<Nullable<Integer>>(
            "GET_LOCK('auto-test', 1)",
        ))
        .get_result::<Option<i32>>(&mut conn)
        .unwrap();
        diesel::select(diesel::dsl::sql::<Nullable<Integer>>(
            "RELEASE_LOCK('auto-test')",
        ))
        .get_result::<Option<i32>>(&mut conn)
        .unwrap();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            let _ = port(conn);
            Ok(())
        })
        .unwrap();
        conn.batch_execute("SHOW TABLES").unwrap();
        conn.batch_execute(&format!("DELETE FROM users WHERE name = '{name}'"))
            .unwrap();
    });
    let log = conn.take_query_log();
    let nodes: Vec<(&str, bool)> = log
        .iter()
        .map(|e| (e.sql.as_str(), e.node == "master"))
        .collect();
    let expect_master = [true, false, true, true, true, true, true, false, true];
    // `LAST_INSERT_ID()` reads where the insert ran, not where the read before it did.
    // The transaction's BEGIN/COMMIT go through the node's own transaction manager and
    // are not statements of this connection; its SELECT @@port is.
    assert_eq!(nodes.len(), expect_master.len(), "{nodes:#?}");
    for ((sql, on_master), expected) in nodes.iter().zip(expect_master) {
        assert_eq!(*on_master, expected, "{sql}");
    }
    assert!(log.iter().all(|e| e.role == Role::Auto));
    let _ = c;
}

#[test]
fn raw_transactions_stay_on_one_node() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    with_role(Role::Auto, || {
        conn.batch_execute("START TRANSACTION").unwrap();
        let first = conn.last_node().unwrap().to_string();
        diesel::sql_query("SELECT id FROM users LIMIT 1 FOR UPDATE")
            .execute(&mut conn)
            .unwrap();
        assert_eq!(conn.last_node(), Some(first.as_str()));
        let p = port(&mut conn);
        assert_eq!(conn.last_node(), Some(first.as_str()));
        conn.batch_execute("COMMIT").unwrap();
        assert_eq!(
            p, c.master_port,
            "Auto role starts transactions on the master"
        );
        // After COMMIT, reads are split again.
        assert_ne!(port(&mut conn), c.master_port);

        // START TRANSACTION READ ONLY then a locking read: same node, whose server
        // answers for itself (MariaDB refuses locking reads in a read-only transaction).
        conn.batch_execute("START TRANSACTION READ ONLY").unwrap();
        let first = conn.last_node().unwrap().to_string();
        let err = diesel::sql_query("SELECT id FROM users LIMIT 1 FOR UPDATE")
            .execute(&mut conn)
            .unwrap_err();
        assert!(err.to_string().contains("READ ONLY transaction"), "{err}");
        assert_eq!(conn.last_node(), Some(first.as_str()));
        conn.batch_execute("ROLLBACK").unwrap();
        assert_eq!(conn.last_node(), Some(first.as_str()));
    });
    with_replica(|| {
        conn.batch_execute("START TRANSACTION READ ONLY").unwrap();
        let node = conn.last_node().unwrap().to_string();
        assert!(node.starts_with("replica"));
        for _ in 0..4 {
            port(&mut conn);
            assert_eq!(conn.last_node(), Some(node.as_str()));
        }
        conn.batch_execute("ROLLBACK").unwrap();
    });
}

#[test]
fn the_query_log_records_node_role_sql_and_duration() {
    let _g = common::shared("main");
    let mut conn = conn();
    conn.set_query_log(true);
    port(&mut conn);
    with_replica(|| port(&mut conn));
    conn.set_query_log(false);
    port(&mut conn);
    let log = conn.query_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].node, "master");
    assert_eq!(log[0].role, Role::Master);
    assert!(log[1].node.starts_with("replica"));
    assert_eq!(log[1].role, Role::Replica);
    assert!(log.iter().all(|e| e.sql.contains("@@port") && !e.failed));
    assert!(log.iter().all(|e| e.duration > std::time::Duration::ZERO));
    let shown = log[1].to_string();
    assert!(
        shown.contains("replica") && shown.contains("@@port"),
        "{shown}"
    );

    // With a single database (development), the log still shows what would happen.
    let c = cluster();
    let single = Cluster::builder()
        .url(&c.master_url)
        .query_log(true)
        .build()
        .unwrap();
    let mut dev = single.connect();
    with_replica(|| port(&mut dev));
    with_role(Role::Auto, || {
        port(&mut dev);
        dev.batch_execute("DO 1").unwrap();
    });
    let log = dev.query_log();
    assert!(log.iter().all(|e| e.node == "master"));
    assert_eq!(
        log.iter().map(|e| e.target).collect::<Vec<_>>(),
        vec![NodeKind::Replica, NodeKind::Replica, NodeKind::Master]
    );
    // And a replica scope refuses writes in development too, as it would in production.
    let err = with_replica(|| dev.batch_execute("DELETE FROM users WHERE id = -1")).unwrap_err();
    assert!(err.to_string().contains("DELETE refused"), "{err}");
}

#[test]
fn autocommit_off_keeps_the_connection_on_one_node() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    let name = unique("autocommit");
    with_role(Role::Auto, || {
        conn.batch_execute("SET autocommit = 0").unwrap();
        assert_eq!(conn.last_node(), Some("master"));
        conn.batch_execute(&format!("INSERT INTO users (name) VALUES ('{name}')"))
            .unwrap();
        // Reads stay on the master: they belong to the open implicit transaction.
        assert_eq!(port(&mut conn), c.master_port);
        conn.batch_execute("COMMIT").unwrap();
        // Still autocommit = 0: the next statement opens a new transaction there.
        assert_eq!(port(&mut conn), c.master_port);
        conn.batch_execute(&format!("DELETE FROM users WHERE name = '{name}'"))
            .unwrap();
        conn.batch_execute("ROLLBACK").unwrap();
        assert_eq!(port(&mut conn), c.master_port);
        conn.batch_execute("SET autocommit = 1").unwrap();
        assert_ne!(port(&mut conn), c.master_port, "reads are split again");
    });
    // The rolled-back delete left the committed row in place, on every node.
    assert_eq!(count_everywhere(c, &name), vec!["1", "1", "1"]);
    conn.batch_execute(&format!("DELETE FROM users WHERE name = '{name}'"))
        .unwrap();
}

#[test]
fn transaction_settings_reach_every_node() {
    let _g = common::shared("main");
    let mut conn = conn();
    with_replica(|| {
        // Open one replica, then set the session's isolation level: the other replica,
        // opened later, gets it replayed.
        port(&mut conn);
        conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4 {
            assert_eq!(
                text(&mut conn, "SELECT @@tx_isolation AS v"),
                "READ-COMMITTED"
            );
            seen.insert(conn.last_node().unwrap().to_string());
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
    });
    assert_eq!(
        text(&mut conn, "SELECT @@tx_isolation AS v"),
        "READ-COMMITTED"
    );
    // `SET TRANSACTION` (next transaction only) is not session state: the next
    // transaction begins on the node that ran it, and no other node gets it.
    let name = unique("next-tx");
    for _ in 0..3 {
        with_replica(|| {
            conn.batch_execute("SET TRANSACTION READ ONLY").unwrap();
            let set_on = conn.last_node().unwrap().to_string();
            assert!(set_on.starts_with("replica"), "{set_on}");
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                port(conn);
                assert_eq!(conn.last_node(), Some(set_on.as_str()));
                Ok(())
            })
            .unwrap();
        });
        // The master's next transaction is not read-only.
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            conn.batch_execute(&format!("INSERT INTO users (name) VALUES ('{name}')"))
        })
        .unwrap();
    }
    conn.batch_execute(&format!("DELETE FROM users WHERE name = '{name}'"))
        .unwrap();
}

#[test]
fn replica_affinity_keeps_a_connection_on_one_replica() {
    let _g = common::shared("main");
    let c = cluster();
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .replica_affinity(true)
        .build()
        .unwrap();
    let mut seen_by_connections = std::collections::HashSet::new();
    for _ in 0..4 {
        let mut conn = cluster.connect();
        let nodes: std::collections::HashSet<u16> =
            with_replica(|| (0..10).map(|_| port(&mut conn)).collect());
        assert_eq!(nodes.len(), 1, "one replica per connection: {nodes:?}");
        assert!(!nodes.contains(&c.master_port));
        seen_by_connections.extend(nodes);
    }
    assert_eq!(
        seen_by_connections.len(),
        2,
        "connections spread over both replicas"
    );
    // The URL option too.
    let url = format!("{}?replica_affinity=true", c.cluster_url);
    let mut conn = ClusterConnection::establish(&url).unwrap();
    let nodes: std::collections::HashSet<u16> =
        with_replica(|| (0..6).map(|_| port(&mut conn)).collect());
    assert_eq!(nodes.len(), 1);
}
