//! The foundation against the real cluster: roles, Diesel's DSL, transactions, pools,
//! migrations, bad input.
use crate::common;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_cluster::{
    current_role, use_master, use_replica, with_master, with_replica, with_role, Cluster,
    ClusterConnection, Role,
};
use diesel_migrations::MigrationHarness;

use common::db::{port, unique, users, MIGRATIONS};

#[derive(Queryable, Selectable, Identifiable, AsChangeset, Debug, Clone, PartialEq)]
#[diesel(table_name = users)]
struct User {
    id: i64,
    name: String,
    email: String,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    name: &'a str,
    email: &'a str,
}

fn cluster() -> &'static common::TestCluster {
    common::cluster("main")
}

fn migrated() -> &'static common::TestCluster {
    common::db::migrated("main")
}

fn conn() -> ClusterConnection {
    ClusterConnection::establish(&migrated().cluster_url).unwrap()
}

#[test]
fn select_port_follows_the_role() {
    let _g = common::shared("main");
    let c = cluster();
    let mut conn = conn();
    let replicas = [c.replica1_port, c.replica2_port];

    assert_eq!(port(&mut conn), c.master_port, "default role is master");
    assert_eq!(conn.last_node(), Some("master"));
    with_replica(|| {
        assert!(replicas.contains(&port(&mut conn)));
        assert!(conn.last_node().unwrap().starts_with("replica"));
        with_master(|| assert_eq!(port(&mut conn), c.master_port));
        assert!(replicas.contains(&port(&mut conn)), "outer role restored");
    });
    assert_eq!(port(&mut conn), c.master_port);

    // A panic inside a nested scope restores the outer role.
    with_replica(|| {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_master(|| {
                assert_eq!(port(&mut conn), c.master_port);
                panic!("boom");
            })
        }));
        assert!(r.is_err());
        assert_eq!(current_role(), Some(Role::Replica));
        assert!(replicas.contains(&port(&mut conn)));
    });

    // An early `?` return restores it too.
    fn early(conn: &mut ClusterConnection) -> Result<u16, String> {
        let _g = use_master();
        Err("early".to_string())?;
        Ok(port(conn))
    }
    with_replica(|| {
        assert!(early(&mut conn).is_err());
        assert!(replicas.contains(&port(&mut conn)));
    });
    assert_eq!(current_role(), None);

    // Guards.
    {
        let _r = use_replica();
        assert!(replicas.contains(&port(&mut conn)));
        {
            let _m = use_master();
            assert_eq!(port(&mut conn), c.master_port);
        }
        assert!(replicas.contains(&port(&mut conn)));
    }
    assert_eq!(port(&mut conn), c.master_port);
}

#[test]
fn diesel_dsl_works_unchanged() {
    let _g = common::shared("main");
    let c = migrated();
    let mut conn = conn();
    let name = unique("dsl");

    // insert + load + filter
    diesel::insert_into(users::table)
        .values(&NewUser {
            name: &name,
            email: "a@example.com",
        })
        .execute(&mut conn)
        .unwrap();
    let found: Vec<User> = users::table
        .filter(users::name.eq(&name))
        .select(User::as_select())
        .load(&mut conn)
        .unwrap();
    assert_eq!(found.len(), 1);
    let mut user = found[0].clone();

    // update + get_result
    diesel::update(users::table.find(user.id))
        .set(users::email.eq("b@example.com"))
        .execute(&mut conn)
        .unwrap();
    let email: String = users::table
        .find(user.id)
        .select(users::email)
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(email, "b@example.com");

    // save_changes reads back from the master even in Auto role.
    user.email = "c@example.com".into();
    let saved: User = with_role(Role::Auto, || user.save_changes(&mut conn)).unwrap();
    assert_eq!(saved.email, "c@example.com");
    assert_eq!(conn.last_node(), Some("master"));

    // sql_query + batch_execute
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        email: String,
    }
    let row: Row = diesel::sql_query("SELECT email FROM users WHERE id = ?")
        .bind::<BigInt, _>(user.id)
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(row.email, "c@example.com");
    conn.batch_execute(&format!(
        "UPDATE users SET email = 'd@example.com' WHERE id = {0}; UPDATE users SET email = 'e@example.com' WHERE id = {0}",
        user.id
    ))
    .unwrap();

    // The write reaches the replicas.
    c.sync();
    let on_replica: String = with_replica(|| {
        users::table
            .find(user.id)
            .select(users::email)
            .get_result(&mut conn)
    })
    .unwrap();
    assert_eq!(on_replica, "e@example.com");
    assert!(conn.last_node().unwrap().starts_with("replica"));

    // transaction with rollback
    let r: Result<(), diesel::result::Error> = conn.transaction(|conn| {
        diesel::update(users::table.find(user.id))
            .set(users::email.eq("rolled-back"))
            .execute(conn)?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(r.is_err());
    let email: String = users::table
        .find(user.id)
        .select(users::email)
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(email, "e@example.com");

    // nested savepoints: the inner one rolls back, the outer commits.
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        diesel::update(users::table.find(user.id))
            .set(users::email.eq("outer"))
            .execute(conn)?;
        let inner: Result<(), _> = conn.transaction(|conn| {
            diesel::update(users::table.find(user.id))
                .set(users::email.eq("inner"))
                .execute(conn)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(inner.is_err());
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(users::table)
                .values(&NewUser {
                    name: &name,
                    email: "second",
                })
                .execute(conn)
        })?;
        Ok(())
    })
    .unwrap();
    let emails: Vec<String> = users::table
        .filter(users::name.eq(&name))
        .select(users::email)
        .order(users::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(emails, vec!["outer".to_string(), "second".to_string()]);

    // delete
    let deleted = diesel::delete(users::table.filter(users::name.eq(&name)))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(deleted, 2);
}

#[test]
fn a_transaction_stays_on_its_node() {
    let _g = common::shared("main");
    let c = migrated();
    let mut conn = conn();
    let name = unique("tx");
    with_master(|| {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(users::table)
                .values(&NewUser {
                    name: &name,
                    email: "uncommitted",
                })
                .execute(conn)?;
            with_replica(|| {
                // Still the master: the read sees the transaction's own uncommitted row.
                assert_eq!(port(conn), c.master_port);
                let n: i64 = users::table
                    .filter(users::name.eq(&name))
                    .count()
                    .get_result(conn)?;
                assert_eq!(n, 1);
                Ok(())
            })
        })
    })
    .unwrap();

    // A transaction begun in replica scope runs on one replica, and refuses writes.
    with_replica(|| {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            let p = port(conn);
            assert!([c.replica1_port, c.replica2_port].contains(&p));
            for _ in 0..5 {
                assert_eq!(port(conn), p, "same replica for the whole transaction");
            }
            let err = diesel::delete(users::table.filter(users::name.eq(&name)))
                .execute(conn)
                .unwrap_err();
            assert!(err.to_string().contains("DELETE refused"), "{err}");
            Ok(())
        })
    })
    .unwrap();

    // begin_test_transaction pins the master, even in replica scope.
    let mut conn2 = ClusterConnection::establish(&c.cluster_url).unwrap();
    with_replica(|| {
        conn2.begin_test_transaction().unwrap();
        assert_eq!(port(&mut conn2), c.master_port);
    });
    diesel::insert_into(users::table)
        .values(&NewUser {
            name: &name,
            email: "test-tx",
        })
        .execute(&mut conn2)
        .unwrap();
    // DDL commits implicitly on MySQL; the connection stays on the master regardless.
    conn2
        .batch_execute("CREATE TABLE IF NOT EXISTS test_tx_ddl (id INT)")
        .unwrap();
    with_replica(|| {
        let n: i64 = users::table
            .filter(users::name.eq(&name))
            .count()
            .get_result(&mut conn2)
            .unwrap();
        assert_eq!(
            n, 2,
            "replica-scope reads in a test transaction see its rows"
        );
        assert_eq!(port(&mut conn2), c.master_port);
    });
    drop(conn2);
    diesel::delete(users::table.filter(users::name.eq(&name)))
        .execute(&mut conn)
        .unwrap();
}

#[test]
fn pooled_connections_follow_their_threads_scopes() {
    let _g = common::shared("main");
    let c = migrated();
    let cluster = Cluster::from_url(&c.cluster_url).unwrap();
    let pool = diesel::r2d2::Pool::builder()
        .max_size(8)
        .build(cluster.manager())
        .unwrap();
    let replicas = [c.replica1_port, c.replica2_port];
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let role = match t % 3 {
                    0 => Role::Master,
                    1 => Role::Replica,
                    _ => Role::Auto,
                };
                with_role(role, || {
                    for _ in 0..25 {
                        let mut conn = pool.get().unwrap();
                        let p = port(&mut conn);
                        match role {
                            Role::Master => assert_eq!(p, c.master_port),
                            _ => assert!(replicas.contains(&p), "{role:?} read on {p}"),
                        }
                    }
                });
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    // `r2d2::ConnectionManager<ClusterConnection>` works from the URL, and its
    // connections share one cluster.
    let pool = diesel::r2d2::Pool::builder()
        .max_size(2)
        .build(diesel::r2d2::ConnectionManager::<ClusterConnection>::new(
            &c.cluster_url,
        ))
        .unwrap();
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    assert_eq!(
        a.cluster(),
        b.cluster(),
        "pooled connections share one cluster"
    );
    assert_ne!(a.cluster(), &cluster);
    with_replica(|| {
        assert!(replicas.contains(&port(&mut a)));
        assert!(replicas.contains(&port(&mut b)));
    });
}

#[test]
fn migrations_run_on_the_master_and_replicate() {
    let _g = common::shared("main");
    let c = migrated();
    for node in ["master", "replica1", "replica2"] {
        let tables = c.sql(
            node,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'app' \
             AND table_name IN ('users', 'entries', '__diesel_schema_migrations')",
        );
        assert_eq!(tables, "3", "{node}");
    }
    // Running them again in replica scope is a no-op that still reads the master's table.
    let mut conn = conn();
    with_replica(|| {
        assert!(!conn.has_pending_migration(MIGRATIONS).unwrap());
    });
}

#[test]
fn bad_urls_are_clear_errors_without_the_password() {
    let _g = common::shared("main");
    let cases = [
        ("", "empty"),
        ("mysql://app:s3cr3t-pw@/app", "no host"),
        ("mysql://app:s3cr3t-pw@127.0.0.1:70000/app", "invalid port"),
        (
            "mysql://app:s3cr3t-pw@127.0.0.1:3306,127.0.0.1:x/app",
            "invalid port",
        ),
        (
            "mysql://app:s3cr3t-pw@127.0.0.1/app?colour=blue",
            "unknown option",
        ),
        ("mysql://app:s3cr3t-pw@127.0.0.1", "no database"),
        (
            "mysql://app:s3cr3t-pw@127.0.0.1/app?max_replica_lag=fast",
            "max_replica_lag",
        ),
        (
            "mysql://app:s3cr3t-pw@127.0.0.1/app?default_role=boss",
            "role",
        ),
        ("garbage s3cr3t-pw", "scheme"),
        ("mysql://app:s3cr3t-pw@h1,,h2/app", "empty host"),
    ];
    for (url, expected) in cases {
        let err = ClusterConnection::establish(url).expect_err(url);
        let shown = format!("{err} / {err:?}");
        assert!(shown.contains(expected), "{url}: {shown}");
        assert!(!shown.contains("s3cr3t-pw"), "password leaked: {shown}");
        let err = Cluster::from_url(url).expect_err(url);
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains("s3cr3t-pw"), "password leaked: {shown}");
    }
    // A wrong password on a node: `establish` fails as a `MysqlConnection`'s does, and
    // the error names the node, not the password.
    let c = cluster();
    let url = c.cluster_url.replace("app_pw", "wrong-s3cr3t-pw");
    let err = ClusterConnection::establish(&url).unwrap_err();
    assert!(
        matches!(err, diesel::ConnectionError::BadConnection(_)),
        "{err:?}"
    );
    let shown = format!("{err} / {err:?}");
    assert!(shown.contains("master"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "password leaked: {shown}");
}

#[test]
fn is_broken_follows_diesels_rule_over_every_node() {
    let _g = common::shared("main");
    use diesel::r2d2::R2D2Connection;
    let mut conn = conn();
    assert!(!conn.is_broken());
    // Inside a transaction: not fit for another pool user.
    with_replica(|| {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            port(conn);
            assert!(conn.is_broken());
            Ok(())
        })
    })
    .unwrap();
    assert!(!conn.is_broken());
    // Raw transaction state too.
    conn.batch_execute("BEGIN").unwrap();
    assert!(conn.is_broken());
    conn.batch_execute("COMMIT").unwrap();
    assert!(!conn.is_broken());
    // A test transaction is not broken (pools with one connection rely on it).
    let mut test_conn = self::conn();
    test_conn.begin_test_transaction().unwrap();
    port(&mut test_conn);
    assert!(!test_conn.is_broken());
}
