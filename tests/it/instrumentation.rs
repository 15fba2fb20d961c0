//! Users' Diesel `Instrumentation` sees the statements they sent, from whichever node ran
//! them, and nothing the library sent for itself. With nothing to route, the event stream
//! is exactly `MysqlConnection`'s.
use crate::common;

use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_cluster::{with_replica, Cluster, ClusterConnection, Consistency, Role};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let line = match event {
            InstrumentationEvent::StartQuery { query, .. } => format!("start {query}"),
            InstrumentationEvent::CacheQuery { sql, .. } => format!("cache {sql}"),
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                format!("finish {query} error={}", error.is_some())
            }
            InstrumentationEvent::BeginTransaction { depth, .. } => format!("begin {depth}"),
            InstrumentationEvent::CommitTransaction { depth, .. } => format!("commit {depth}"),
            InstrumentationEvent::RollbackTransaction { depth, .. } => {
                format!("rollback {depth}")
            }
            other => format!("{other:?}"),
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The same work on any connection type.
fn workload<C>(conn: &mut C)
where
    C: Connection<Backend = diesel::mysql::Mysql>
        + diesel::connection::LoadConnection
        + SimpleConnection,
{
    let _: i32 = diesel::select(diesel::dsl::sql::<Integer>("1"))
        .get_result(conn)
        .unwrap();
    let _: i32 = diesel::select(diesel::dsl::sql::<Integer>("1"))
        .get_result(conn)
        .unwrap();
    conn.batch_execute("SET @instrumented = 1").unwrap();
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        diesel::sql_query("SELECT 2").execute(conn)?;
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query("SELECT 3").execute(conn)
        })
    })
    .unwrap();
    let _ = diesel::sql_query("SELECT * FROM no_such_table").execute(conn);
}

#[test]
fn event_stream_equals_mysql_connections_when_nothing_is_routed() {
    let _g = common::shared("main");
    let c = common::cluster("main");

    let raw_events = Recorder::default();
    let mut raw = MysqlConnection::establish(&c.master_url).unwrap();
    raw.set_instrumentation(raw_events.clone());
    workload(&mut raw);
    let expected = raw_events.take();
    assert!(expected.len() > 10, "{expected:#?}");

    // A single-database cluster, and a full cluster in master role.
    for url in [&c.master_url, &c.cluster_url] {
        let events = Recorder::default();
        let mut conn = ClusterConnection::establish(url).unwrap();
        conn.set_instrumentation(events.clone());
        workload(&mut conn);
        assert_eq!(events.take(), expected, "{url}");
    }
}

#[test]
fn internal_statements_stay_out_of_user_instrumentation() {
    let _g = common::shared("main");
    let c = common::cluster("main");
    let cluster = Cluster::builder()
        .url(&c.cluster_url)
        .consistency(Consistency::Causal)
        .default_role(Role::Auto)
        .build()
        .unwrap();
    let events = Recorder::default();
    let mut conn = cluster.connect();
    conn.set_instrumentation(events.clone());
    // Session state replayed on a node opened later, a write, then a causal read that
    // reads the write's GTID and waits for it on a replica: 3+ internal statements.
    conn.batch_execute("SET @replayed = 1").unwrap();
    conn.batch_execute("DO 1").unwrap();
    diesel::sql_query("CREATE TABLE IF NOT EXISTS instrumented (id INT)")
        .execute(&mut conn)
        .unwrap();
    let _: i32 =
        with_replica(|| diesel::select(diesel::dsl::sql::<Integer>("1")).get_result(&mut conn))
            .unwrap();
    assert!(
        conn.internal_statements() >= 3,
        "{}",
        conn.internal_statements()
    );
    let seen = events.take();
    let statements: Vec<&String> = seen.iter().filter(|e| e.starts_with("start ")).collect();
    assert_eq!(
        statements,
        vec![
            "start SET @replayed = 1",
            "start DO 1",
            "start CREATE TABLE IF NOT EXISTS instrumented (id INT) -- binds: []",
            "start SELECT 1 -- binds: []",
        ],
        "{seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| e.contains("gtid") || e.contains("GTID")),
        "{seen:#?}"
    );
}
