//! `AsyncClusterConnection` against the shared `main` cluster: routing by role and in
//! Auto, writes refused in replica scope, transactions pinned, session state, the
//! explicit role and scopes across `tokio::spawn`. Which node ran a statement is the
//! server's own answer (`@@port`); rows are counted on each server directly.
use crate::common;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_cluster::{task, AsyncClusterConnection, Cluster, Role};

use common::db::{unique, users};

fn cluster() -> &'static common::TestCluster {
    common::db::migrated("main")
}

async fn port(conn: &mut AsyncClusterConnection) -> QueryResult<u16> {
    let p: i32 = diesel::select(diesel::dsl::sql::<Integer>("@@port"))
        .get_result(conn)
        .await?;
    Ok(p as u16)
}

async fn text(conn: &mut AsyncClusterConnection, sql: &str) -> String {
    diesel::select(diesel::dsl::sql::<Text>(sql))
        .get_result(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn rows_everywhere(c: &common::TestCluster, name: &str) -> Vec<String> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_route_reads_and_writes() {
    let _g = common::shared("main");
    let c = cluster();
    let replicas = [c.replica1_port, c.replica2_port];
    let mut conn = AsyncClusterConnection::establish(&c.cluster_url)
        .await
        .unwrap();

    // The URL's default role is master.
    assert_eq!(port(&mut conn).await.unwrap(), c.master_port);
    let on = task::with_replica(async { port(&mut conn).await })
        .await
        .unwrap();
    assert!(replicas.contains(&on), "replica scope read ran on {on}");
    assert_eq!(conn.last_node_is_master(), Some(false));
    let on = task::with_master(async { port(&mut conn).await })
        .await
        .unwrap();
    assert_eq!(on, c.master_port);

    // Auto: reads to a replica, writes to the master, across awaits and threads.
    let name = unique("async-auto");
    task::with_role(Role::Auto, async {
        for _ in 0..20 {
            tokio::task::yield_now().await;
            let on = port(&mut conn).await.unwrap();
            assert!(replicas.contains(&on), "auto read ran on {on}");
        }
        diesel::insert_into(users::table)
            .values((users::name.eq(&name), users::email.eq("auto")))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(conn.last_node_is_master(), Some(true));
    })
    .await;
    assert_eq!(rows_everywhere(c, &name), ["1", "1", "1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_replica_scope_are_refused_before_any_server_sees_them() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = AsyncClusterConnection::establish(&c.cluster_url)
        .await
        .unwrap();
    let name = unique("async-refused");
    let statements = [
        format!("INSERT INTO users (name) VALUES ('{name}')"),
        format!("UPDATE users SET email = 'x' WHERE name = '{name}'"),
        "CREATE TABLE async_refused (id INT)".to_string(),
        format!("SELECT 1; INSERT INTO users (name) VALUES ('{name}')"),
        "SELECT GET_LOCK('async-refused', 0)".to_string(),
    ];
    task::with_replica(async {
        for sql in &statements {
            let err = conn.batch_execute(sql).await.unwrap_err();
            assert!(
                err.to_string().contains("refused in replica role"),
                "{sql}: {err}"
            );
        }
        let err = diesel::insert_into(users::table)
            .values(users::name.eq(&name))
            .execute(&mut conn)
            .await
            .unwrap_err();
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
    })
    .await;
    assert_eq!(rows_everywhere(c, &name), ["0", "0", "0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_stay_on_the_node_where_they_began() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = AsyncClusterConnection::establish(&c.cluster_url)
        .await
        .unwrap();
    let name = unique("async-tx");

    // A read-only transaction in replica scope: every statement on one replica.
    let ports = task::with_replica(async {
        conn.transaction(async |conn| {
            let mut ports = Vec::new();
            for _ in 0..5 {
                ports.push(port(conn).await?);
            }
            Ok::<_, diesel::result::Error>(ports)
        })
        .await
    })
    .await
    .unwrap();
    assert!(ports.windows(2).all(|w| w[0] == w[1]), "{ports:?}");
    assert_ne!(ports[0], c.master_port);

    // In Auto, a transaction begins on the master and its reads (even in a replica
    // scope inside it) stay there: they see its uncommitted write.
    let seen = task::with_role(Role::Auto, async {
        conn.transaction(async |conn| {
            diesel::insert_into(users::table)
                .values((users::name.eq(&name), users::email.eq("tx")))
                .execute(conn)
                .await?;
            task::with_replica(async {
                let n: i64 = users::table
                    .filter(users::name.eq(&name))
                    .count()
                    .get_result(conn)
                    .await?;
                Ok::<_, diesel::result::Error>((n, port(conn).await?))
            })
            .await
        })
        .await
    })
    .await
    .unwrap();
    assert_eq!(seen, (1, c.master_port));
    assert_eq!(rows_everywhere(c, &name), ["1", "1", "1"]);

    // A transaction rolled back leaves nothing anywhere.
    let other = unique("async-rollback");
    let result: Result<(), _> = conn
        .transaction(async |conn| {
            diesel::insert_into(users::table)
                .values(users::name.eq(&other))
                .execute(conn)
                .await?;
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(result.is_err());
    assert_eq!(rows_everywhere(c, &other), ["0", "0", "0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_is_the_same_on_every_node() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = AsyncClusterConnection::establish(&c.cluster_url)
        .await
        .unwrap();
    // Open the replicas first, so the settings reach connections already open.
    task::with_replica(async {
        for _ in 0..4 {
            port(&mut conn).await.unwrap();
        }
    })
    .await;
    conn.batch_execute("SET time_zone = '+05:00'")
        .await
        .unwrap();
    diesel::sql_query("SET @n = 40 + 2")
        .execute(&mut conn)
        .await
        .unwrap();
    for scope in [Role::Master, Role::Replica, Role::Replica] {
        let (tz, n) = task::with_role(scope, async {
            (
                text(&mut conn, "@@session.time_zone").await,
                text(&mut conn, "CAST(@n AS CHAR)").await,
            )
        })
        .await;
        assert_eq!((tz.as_str(), n.as_str()), ("+05:00", "42"), "{scope:?}");
    }
    // A node opened later gets the session replayed.
    let mut fresh = AsyncClusterConnection::establish(&c.cluster_url)
        .await
        .unwrap();
    fresh
        .batch_execute("SET time_zone = '-03:00'")
        .await
        .unwrap();
    let tz = task::with_replica(async { text(&mut fresh, "@@session.time_zone").await }).await;
    assert_eq!(tz, "-03:00");
    assert!(fresh.internal_statements() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explicit_role_needs_no_scope_and_scopes_cross_spawn_when_carried() {
    let _g = common::shared("main");
    let c = cluster();
    let cluster = Cluster::from_url(&c.cluster_url).unwrap();
    let replicas = [c.replica1_port, c.replica2_port];

    let mut conn = cluster.connect_async();
    conn.set_role(Some(Role::Replica));
    let on = port(&mut conn).await.unwrap();
    assert!(replicas.contains(&on));
    // A scope still wins over the connection's own role.
    let on = task::with_master(async { port(&mut conn).await })
        .await
        .unwrap();
    assert_eq!(on, c.master_port);

    // A spawned task has no scope of its own: it takes the cluster's default (master)
    // unless the scope is carried in.
    let (bare, carried) = task::with_replica(async {
        let mut a = cluster.connect_async();
        let mut b = cluster.connect_async();
        let bare = tokio::spawn(async move { port(&mut a).await })
            .await
            .unwrap();
        let scope = task::current_scope();
        let carried = tokio::spawn(scope.within(async move { port(&mut b).await }))
            .await
            .unwrap();
        (bare.unwrap(), carried.unwrap())
    })
    .await;
    assert_eq!(bare, c.master_port);
    assert!(replicas.contains(&carried));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn establish_fails_as_the_async_mysql_connection_does() {
    let _g = common::shared("main");
    let c = cluster();
    let bad = c.cluster_url.replace("app_pw", "wrong_pw");
    let err = AsyncClusterConnection::establish(&bad).await.unwrap_err();
    assert!(
        matches!(err, diesel::ConnectionError::BadConnection(_)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong_pw"), "{err}");
    let err = AsyncClusterConnection::establish("mysql://a@h1,h2/db?role_default=nope")
        .await
        .unwrap_err();
    assert!(
        matches!(err, diesel::ConnectionError::InvalidConnectionUrl(_)),
        "{err:?}"
    );
}
