//! Regression tests for the routing-safety defects: each ran a write, lock or side
//! effect on a replica (the replicas are `read_only`, so a stray write shows as error
//! 1290 there), or broke the "one connection" semantics. The servers are the judges:
//! rows and locks are read with root connections to each node, not through the library.
use crate::common;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_cluster::{with_master, with_replica, Cluster, ClusterConnection, Role};

use common::db::{port, unique};

fn cluster() -> &'static common::TestCluster {
    common::db::migrated("main")
}

fn conn(role: Role) -> ClusterConnection {
    Cluster::builder()
        .url(&cluster().cluster_url)
        .default_role(role)
        .build()
        .unwrap()
        .connect()
}

#[derive(QueryableByName, Debug)]
struct V {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

fn value(conn: &mut ClusterConnection, sql: &str) -> Option<String> {
    diesel::sql_query(sql)
        .get_result::<V>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .v
}

/// `SELECT expr AS v` read on the master and on both replicas (in replica scope, the
/// balancer alternates), as text.
fn everywhere(conn: &mut ClusterConnection, expr: &str) -> Vec<Option<String>> {
    let sql = format!("SELECT CAST({expr} AS CHAR) AS v");
    let mut out = vec![with_master(|| value(conn, &sql))];
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        with_replica(|| {
            let p = port(conn);
            if seen.insert(p) {
                out.push(value(conn, &sql));
            }
        });
    }
    out
}

fn master_count(name: &str) -> String {
    cluster().sql(
        "master",
        &format!("SELECT COUNT(*) FROM app.users WHERE name = '{name}'"),
    )
}

fn is_refusal(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, info)
            if info.message().starts_with("diesel-cluster:")
    )
}

#[test]
fn writes_reading_last_insert_id_follow_the_insert_not_the_previous_statement() {
    let _g = common::shared("main");
    let c = cluster();
    for role in [Role::Master, Role::Auto] {
        let mut conn = conn(role);
        let name = unique("lid");
        diesel::sql_query(format!("INSERT INTO users (name) VALUES ('{name}')"))
            .execute(&mut conn)
            .unwrap();
        let id = c.sql(
            "master",
            &format!("SELECT id FROM app.users WHERE name = '{name}'"),
        );
        with_replica(|| value(&mut conn, "SELECT '1' AS v"));
        assert_eq!(conn.last_node_is_master(), Some(false));
        // Ran on replica1 before: the replica refused it with 1290.
        let second = unique("lid2");
        diesel::sql_query(format!(
            "INSERT INTO users (name, email) VALUES ('{second}', LAST_INSERT_ID())"
        ))
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("{role:?}: {e}"));
        assert_eq!(conn.last_node_is_master(), Some(true));
        assert_eq!(
            c.sql(
                "master",
                &format!("SELECT email FROM app.users WHERE name = '{second}'")
            ),
            id
        );
        // Read in Auto role (a replica read came between): this connection's last
        // insert, which is the master's answer, not a replica's 0.
        with_replica(|| value(&mut conn, "SELECT '1' AS v"));
        let last: i64 = diesel::select(diesel::dsl::sql::<BigInt>("LAST_INSERT_ID()"))
            .get_result(&mut conn)
            .unwrap();
        let second_id: i64 = c
            .sql(
                "master",
                &format!("SELECT id FROM app.users WHERE name = '{second}'"),
            )
            .parse()
            .unwrap();
        assert_eq!(last, second_id, "{role:?}");
    }
}

#[test]
fn a_write_reading_a_replica_statement_state_is_refused_not_rerouted() {
    let _g = common::shared("main");
    for role in [Role::Master, Role::Auto, Role::Replica] {
        let mut conn = conn(role);
        let name = unique("rc");
        with_master(|| {
            diesel::sql_query(format!("INSERT INTO users (name) VALUES ('{name}')"))
                .execute(&mut conn)
                .unwrap()
        });
        with_replica(|| value(&mut conn, "SELECT '1' AS v"));
        let err = with_master(|| {
            diesel::sql_query(format!(
                "UPDATE users SET email = ROW_COUNT() WHERE name = '{name}'"
            ))
            .execute(&mut conn)
            .unwrap_err()
        });
        assert!(is_refusal(&err), "{role:?}: {err}");
        assert!(err.to_string().contains("previous statement"), "{err}");
        assert_eq!(
            cluster().sql(
                "master",
                &format!("SELECT email FROM app.users WHERE name = '{name}'")
            ),
            ""
        );
    }
}

#[test]
fn a_temporary_table_on_a_replica_never_carries_a_write_to_a_real_table() {
    let _g = common::shared("main");
    let mut conn = conn(Role::Master);
    with_replica(|| {
        conn.batch_execute("CREATE TEMPORARY TABLE t (id INT)")
            .unwrap();
        conn.batch_execute("INSERT INTO t VALUES (7)").unwrap();
    });
    assert_eq!(conn.last_node_is_master(), Some(false));
    let name = unique("alias");
    with_master(|| {
        diesel::sql_query(format!("INSERT INTO users (name) VALUES ('{name}')"))
            .execute(&mut conn)
            .unwrap()
    });
    // An alias, a column alias: not table references. These ran on replica1 before.
    conn.batch_execute(&format!(
        "UPDATE users t SET t.email = 'aliased' WHERE t.name = '{name}'"
    ))
    .unwrap();
    assert_eq!(conn.last_node_is_master(), Some(true));
    let other = unique("as_t");
    conn.batch_execute(&format!(
        "INSERT INTO users (name) SELECT CONCAT('{other}', '') AS t"
    ))
    .unwrap();
    assert_eq!(master_count(&other), "1");
    // A real write reading the replica's temporary table: refused, never sent.
    let err = conn
        .batch_execute(&format!(
            "INSERT INTO users (name) SELECT CONCAT('{other}', id) FROM t"
        ))
        .unwrap_err();
    assert!(is_refusal(&err), "{err}");
    assert!(err.to_string().contains("temporary table"), "{err}");
    // Reads of it still go where it is, and so do writes to it.
    assert_eq!(
        value(&mut conn, "SELECT CAST(id AS CHAR) AS v FROM t").as_deref(),
        Some("7")
    );
    assert_eq!(conn.last_node_is_master(), Some(false));
    conn.batch_execute("INSERT INTO t VALUES (8)").unwrap();
    assert_eq!(conn.last_node_is_master(), Some(false));
}

#[test]
fn bound_session_statements_propagate_their_values() {
    let _g = common::shared("main");
    for role in [Role::Master, Role::Auto, Role::Replica] {
        let mut conn = conn(role);
        // Open every node first, so the statement has somewhere to propagate to.
        everywhere(&mut conn, "1");
        diesel::sql_query("SET @x = ?")
            .bind::<Integer, _>(5)
            .execute(&mut conn)
            .unwrap_or_else(|e| panic!("{role:?}: {e}"));
        assert_eq!(
            everywhere(&mut conn, "@x"),
            vec![Some("5".into()); 3],
            "{role:?}"
        );
        diesel::sql_query("SET time_zone = ?")
            .bind::<Text, _>("+05:00")
            .execute(&mut conn)
            .unwrap_or_else(|e| panic!("{role:?}: {e}"));
        assert_eq!(
            everywhere(&mut conn, "@@time_zone"),
            vec![Some("+05:00".into()); 3],
            "{role:?}"
        );
        // Writes still work (in Auto role they all failed afterwards).
        let name = unique("tz");
        with_master(|| {
            diesel::sql_query(format!("INSERT INTO users (name) VALUES ('{name}')"))
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("{role:?}: {e}"))
        });
        assert!(!conn.is_broken());
    }
}

#[test]
fn session_expressions_are_evaluated_once_and_their_values_propagated() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn(Role::Auto);
    let name = unique("setid");
    diesel::sql_query(format!("INSERT INTO users (name) VALUES ('{name}')"))
        .execute(&mut conn)
        .unwrap();
    let id = c.sql(
        "master",
        &format!("SELECT id FROM app.users WHERE name = '{name}'"),
    );
    with_replica(|| value(&mut conn, "SELECT '1' AS v"));
    conn.batch_execute("SET @id = LAST_INSERT_ID()").unwrap();
    assert_eq!(everywhere(&mut conn, "@id"), vec![Some(id.clone()); 3]);
    // A counter: 1, 2, 3 on every node, also on node connections opened later.
    let mut fresh = self::conn(Role::Auto);
    fresh.batch_execute("SET @n = 0").unwrap();
    for _ in 0..3 {
        fresh.batch_execute("SET @n = @n + 1").unwrap();
        with_replica(|| value(&mut fresh, "SELECT '1' AS v"));
    }
    assert_eq!(everywhere(&mut fresh, "@n"), vec![Some("3".into()); 3]);
    // A subquery reads one node once.
    fresh
        .batch_execute("SET @v = (SELECT COUNT(*) FROM users WHERE id < 0)")
        .unwrap();
    assert_eq!(everywhere(&mut fresh, "@v"), vec![Some("0".into()); 3]);
}

#[test]
fn locks_and_sequences_in_session_statements_run_once_on_the_master() {
    let _g = common::shared("main");
    let c = cluster();
    c.sql(
        "master",
        "CREATE SEQUENCE IF NOT EXISTS app.safety_seq NOCACHE",
    );
    c.sync();
    let next = || -> i64 {
        c.sql("master", "SELECT next_not_cached_value FROM app.safety_seq")
            .parse()
            .unwrap()
    };
    let before = next();
    let lock = unique("lock");
    let mut conn = conn(Role::Auto);
    everywhere(&mut conn, "1");
    // Replica scope: refused before any server sees it (it took the lock on all three
    // servers, and advanced the sequence on the master before reporting an error).
    with_replica(|| {
        let err = conn
            .batch_execute(&format!("SET @l = GET_LOCK('{lock}', 0)"))
            .unwrap_err();
        assert!(is_refusal(&err), "{err}");
        let err = conn
            .batch_execute("SET @s = NEXTVAL(safety_seq)")
            .unwrap_err();
        assert!(is_refusal(&err), "{err}");
        let err = conn
            .batch_execute(&format!("SELECT `get_lock`('{lock}', 0)"))
            .unwrap_err();
        assert!(is_refusal(&err), "{err}");
    });
    for node in ["master", "replica1", "replica2"] {
        assert_eq!(
            c.sql(node, &format!("SELECT IS_USED_LOCK('{lock}')")),
            "NULL",
            "{node}"
        );
    }
    assert_eq!(next(), before, "refused before reaching the master");
    // Auto role: once, on the master; the value everywhere.
    conn.batch_execute(&format!("SET @l = GET_LOCK('{lock}', 0)"))
        .unwrap();
    conn.batch_execute("SET @s = NEXTVAL(safety_seq)").unwrap();
    assert_eq!(
        c.sql(
            "master",
            &format!("SELECT IS_USED_LOCK('{lock}') IS NOT NULL")
        ),
        "1"
    );
    for node in ["replica1", "replica2"] {
        assert_eq!(
            c.sql(node, &format!("SELECT IS_USED_LOCK('{lock}')")),
            "NULL",
            "{node}"
        );
    }
    assert_eq!(everywhere(&mut conn, "@l"), vec![Some("1".into()); 3]);
    let s = everywhere(&mut conn, "@s");
    assert!(s.iter().all(|v| v == &s[0]), "{s:?}");
    assert_eq!(next(), before + 1, "the sequence advanced once");
    conn.batch_execute(&format!("DO RELEASE_LOCK('{lock}')"))
        .unwrap();
}

#[test]
fn raw_transactions_are_followed_statement_by_statement() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn(Role::Auto);
    let name = unique("rawtx");
    conn.batch_execute(&format!(
        "BEGIN; INSERT INTO users (name) VALUES ('{name}')"
    ))
    .unwrap();
    assert!(
        conn.is_broken(),
        "a pool must not reuse it inside a transaction"
    );
    // Reads stay in the transaction (they went to replicas, not seeing the row).
    assert_eq!(port(&mut conn), c.master_port);
    assert_eq!(
        value(
            &mut conn,
            &format!("SELECT CAST(COUNT(*) AS CHAR) AS v FROM users WHERE name = '{name}'")
        )
        .as_deref(),
        Some("1")
    );
    conn.batch_execute("COMMIT AND CHAIN").unwrap();
    assert!(conn.is_broken(), "AND CHAIN opened the next transaction");
    let chained = unique("chained");
    conn.batch_execute(&format!("INSERT INTO users (name) VALUES ('{chained}')"))
        .unwrap();
    assert_eq!(port(&mut conn), c.master_port);
    conn.batch_execute("ROLLBACK").unwrap();
    assert!(!conn.is_broken());
    assert_eq!(master_count(&name), "1");
    assert_eq!(master_count(&chained), "0");
    let xid = unique("xa");
    conn.batch_execute(&format!("XA START '{xid}'")).unwrap();
    assert!(conn.is_broken());
    assert_eq!(port(&mut conn), c.master_port);
    conn.batch_execute(&format!("XA END '{xid}'")).unwrap();
    conn.batch_execute(&format!("XA ROLLBACK '{xid}'")).unwrap();
    assert!(!conn.is_broken());
    assert_ne!(
        port(&mut conn),
        c.master_port,
        "Auto role reads replicas again"
    );
}

#[test]
fn a_session_statement_is_all_or_nothing() {
    let _g = common::shared("main");
    let c = cluster();
    let db = unique("only_master").to_lowercase().replace('-', "_");
    c.sql(
        "master",
        &format!(
            "SET sql_log_bin = 0; CREATE DATABASE {db}; \
             GRANT ALL ON {db}.* TO 'app'@'%'; SET sql_log_bin = 1"
        ),
    );
    for role in [Role::Master, Role::Auto] {
        let mut conn = conn(role);
        everywhere(&mut conn, "1");
        // Master role: the master takes it, a replica refuses, the master is put back.
        // Auto role: evaluated on a replica first, which refuses it.
        let err = conn.batch_execute(&format!("USE {db}")).unwrap_err();
        assert!(err.to_string().contains(&db), "{role:?}: {err}");
        assert!(!conn.is_broken());
        // As it was, on every node, and replica reads still work.
        assert_eq!(
            everywhere(&mut conn, "DATABASE()"),
            vec![Some("app".into()); 3],
            "{role:?}"
        );
    }
    let mut conn = conn(Role::Auto);
    // A USE the replicas can take works everywhere.
    conn.batch_execute("USE app").unwrap();
    // On a node opened later, a session it can't take sends reads elsewhere instead of
    // failing them: this connection has only the master open when it runs the USE.
    let mut later = self::conn(Role::Auto);
    with_master(|| later.batch_execute(&format!("USE {db}"))).unwrap();
    for _ in 0..4 {
        let db_seen = value(&mut later, "SELECT DATABASE() AS v");
        assert_eq!(db_seen.as_deref(), Some(db.as_str()));
        assert_eq!(later.last_node_is_master(), Some(true));
    }
    c.sql(
        "master",
        &format!("SET sql_log_bin = 0; DROP DATABASE {db}; SET sql_log_bin = 1"),
    );
}

#[test]
fn compound_statements_are_refused_in_replica_scope() {
    let _g = common::shared("main");
    let mut conn = conn(Role::Master);
    let name = unique("compound");
    let err = with_replica(|| {
        conn.batch_execute(&format!(
            "BEGIN NOT ATOMIC INSERT INTO users (name) VALUES ('{name}'); END"
        ))
        .unwrap_err()
    });
    assert!(is_refusal(&err), "{err}");
    assert_eq!(master_count(&name), "0");
}
