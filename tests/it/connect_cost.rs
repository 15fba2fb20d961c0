//! What opening a connection costs the servers, judged by their own counters: a
//! `ClusterConnection` opens one TCP connection per node connection (`Connections`),
//! leaves nothing for `Aborted_connects` (which also counts the lines "Aborted connection
//! ... unauthenticated" in the error log), and sends the same statements as a raw
//! `MysqlConnection` (`Questions`). And what `establish` reports: what
//! `MysqlConnection::establish` reports, for the errors no retry fixes.
//!
//! Its own cluster (`connect`), held exclusively: the counters are global, so no other
//! test may connect to these servers meanwhile.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::ConnectionError;
use diesel_cluster::{with_replica, ClusterConnection};

use crate::common;

fn cluster() -> &'static common::TestCluster {
    common::cluster("connect")
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = Variable_name)]
    name: String,
    #[diesel(sql_type = Text, column_name = Value)]
    value: String,
}

/// Reads global status counters through one connection opened once (reading them opens
/// nothing).
struct Counters(MysqlConnection);

impl Counters {
    fn open(url: &str) -> Counters {
        Counters(MysqlConnection::establish(url).expect("a counters connection"))
    }

    /// (`Connections`, `Aborted_connects`, `Questions`)
    fn read(&mut self) -> (i64, i64, i64) {
        let rows: Vec<Status> = diesel::sql_query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN \
             ('Connections', 'Aborted_connects', 'Questions')",
        )
        .load(&mut self.0)
        .expect("SHOW GLOBAL STATUS");
        let get = |n: &str| -> i64 {
            rows.iter()
                .find(|r| r.name == n)
                .and_then(|r| r.value.parse().ok())
                .unwrap_or_else(|| panic!("no {n}"))
        };
        (
            get("Connections"),
            get("Aborted_connects"),
            get("Questions"),
        )
    }
}

fn point_select<C>(conn: &mut C) -> i64
where
    C: Connection<Backend = diesel::mysql::Mysql> + diesel::connection::LoadConnection,
{
    diesel::select(diesel::dsl::sql::<BigInt>("1"))
        .get_result(conn)
        .expect("SELECT 1")
}

/// The admin URL of node `port`, for the counters connection.
fn admin_at(c: &common::TestCluster, port: u16) -> String {
    c.admin_url
        .replace(&c.master_port.to_string(), &port.to_string())
}

const ROUNDS: i64 = 20;

/// `url` for the counting tests: a connect timeout no loaded CI machine reaches, so that
/// no connect is cut at its deadline (a cut connect is retried, and counted twice, as it
/// must be) while the servers count.
fn counting_url(url: &str) -> String {
    format!("{url}?connect_timeout=20s")
}

#[test]
fn a_connection_costs_the_servers_what_a_raw_one_costs() {
    let _g = common::exclusive("connect");
    let c = cluster();
    let mut counters = Counters::open(&c.admin_url);

    let before = counters.read();
    for _ in 0..ROUNDS {
        let mut raw = MysqlConnection::establish(&c.master_url).unwrap();
        point_select(&mut raw);
    }
    let raw = counters.read();
    for _ in 0..ROUNDS {
        let mut ours = ClusterConnection::establish(&counting_url(&c.master_url)).unwrap();
        point_select(&mut ours);
    }
    let ours = counters.read();
    let delta = |a: (i64, i64, i64), b: (i64, i64, i64)| (b.0 - a.0, b.1 - a.1, b.2 - a.2);
    let (raw_conns, raw_aborted, raw_questions) = delta(before, raw);
    let (conns, aborted, questions) = delta(raw, ours);
    println!(
        "{ROUNDS} x establish + SELECT 1: raw {raw_conns} connections, {raw_questions} \
         statements; ours {conns} connections, {questions} statements, {aborted} aborted"
    );
    assert_eq!(raw_conns, ROUNDS);
    assert_eq!(
        conns, ROUNDS,
        "one TCP connection per established connection"
    );
    assert_eq!((raw_aborted, aborted), (0, 0), "no aborted connect");
    assert_eq!(
        questions, raw_questions,
        "the same statements as a raw connection"
    );
}

/// Node connections opened on all three servers by `ROUNDS` units of work.
fn opened_by(c: &common::TestCluster, unit: impl Fn()) -> (i64, i64) {
    let ports = [c.master_port, c.replica1_port, c.replica2_port];
    let mut counters: Vec<Counters> = ports
        .iter()
        .map(|&p| Counters::open(&admin_at(c, p)))
        .collect();
    let before: Vec<_> = counters.iter_mut().map(Counters::read).collect();
    for _ in 0..ROUNDS {
        unit();
    }
    let after: Vec<_> = counters.iter_mut().map(Counters::read).collect();
    let opened = before.iter().zip(&after).map(|(b, a)| a.0 - b.0).sum();
    let aborted = before.iter().zip(&after).map(|(b, a)| a.1 - b.1).sum();
    (opened, aborted)
}

#[test]
fn replica_reads_open_one_connection_per_node_used() {
    let _g = common::exclusive("connect");
    let c = cluster();
    let url = format!("{}&monitor_interval=off", counting_url(&c.cluster_url));
    // Established in replica scope: the replica its first read uses, nothing else.
    let in_scope = opened_by(c, || {
        with_replica(|| {
            let mut conn = ClusterConnection::establish(&url).unwrap();
            point_select(&mut conn);
            assert_eq!(conn.last_node_is_master(), Some(false));
        })
    });
    // Established outside: the master (the default role's node), then the replica.
    let outside = opened_by(c, || {
        let mut conn = ClusterConnection::establish(&url).unwrap();
        with_replica(|| point_select(&mut conn));
        assert_eq!(conn.last_node_is_master(), Some(false));
    });
    println!("{ROUNDS} x establish + replica read: {in_scope:?} in scope, {outside:?} outside (opened, aborted)");
    let ejections: u64 = ClusterConnection::establish(&url)
        .map(|c| c.cluster().status().nodes.iter().map(|n| n.ejections).sum())
        .unwrap_or(0);
    assert_eq!(in_scope, (ROUNDS, 0), "ejections: {ejections}");
    assert_eq!(outside, (2 * ROUNDS, 0), "ejections: {ejections}");
}

/// The kind and the message of what each `establish` returned.
fn outcome<T>(r: Result<T, ConnectionError>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(ConnectionError::BadConnection(m)) => Err(format!("BadConnection: {m}")),
        Err(other) => Err(format!("other kind: {other:?}")),
    }
}

#[test]
fn establish_fails_where_a_raw_establish_fails() {
    let _g = common::exclusive("connect");
    let c = cluster();
    // Ports where nothing listens (bound, read, released).
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (dead, dead2) = (free(), free());
    let cases = [
        (
            "a wrong password",
            c.master_url.replace("app_pw", "wrong"),
            "Access denied",
        ),
        (
            "an unknown database",
            format!("{}/no_such_db", c.admin_url.rsplit_once('/').unwrap().0),
            "Unknown database",
        ),
        (
            "a closed port",
            c.master_url
                .replace(&c.master_port.to_string(), &dead.to_string()),
            "connect",
        ),
    ];
    for (what, url, says) in cases {
        let raw = outcome(MysqlConnection::establish(&url));
        let ours = outcome(ClusterConnection::establish(&url));
        let (Err(raw), Err(ours)) = (&raw, &ours) else {
            panic!("{what}: raw {raw:?}, ours {ours:?}");
        };
        assert!(
            raw.starts_with("BadConnection") && ours.starts_with("BadConnection"),
            "{what}: {raw} / {ours}"
        );
        assert!(ours.contains(says), "{what}: {ours}");
    }
    // Every node of a cluster URL refusing the login, or down.
    let refused = c.cluster_url.replace("app_pw", "wrong");
    assert!(
        outcome(ClusterConnection::establish(&refused)).is_err_and(|e| e.contains("Access denied"))
    );
    let all_down = format!("mysql://app:app_pw@127.0.0.1:{dead},127.0.0.1:{dead2}/app");
    assert!(outcome(ClusterConnection::establish(&all_down))
        .is_err_and(|e| e.starts_with("BadConnection")));
}

#[test]
fn establish_succeeds_with_only_the_master_down_and_replicas_serve_reads() {
    let _g = common::exclusive("connect");
    let c = cluster();
    c.stop("master");
    let url = format!("{}?monitor_interval=200ms&linger=0s", c.cluster_url);
    let result = ClusterConnection::establish(&url).map(|mut conn| {
        let read = with_replica(|| point_select(&mut conn));
        (read, conn.last_node_is_master())
    });
    c.start_node("master");
    c.sync();
    let (read, on_master) = result.expect("establish with the master down");
    assert_eq!((read, on_master), (1, Some(false)));
}

/// A replica this connection's session can't be replayed on (its `USE` names a database
/// only the master has) is opened once: the first replica read finds out, and the reads
/// after it go elsewhere without trying that replica again. Judged by the replicas'
/// `Connections` and by where the reads ran (`@@port`, `DATABASE()`).
#[test]
fn a_replica_that_cannot_take_the_session_is_not_opened_again() {
    let _g = common::exclusive("connect");
    let c = cluster();
    const DB: &str = "connect_master_only";
    c.sql(
        "master",
        &format!(
            "SET sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS {DB}; \
             GRANT ALL ON {DB}.* TO 'app'@'%'"
        ),
    );
    let url = format!("{}&monitor_interval=off", counting_url(&c.cluster_url));
    let mut conn = ClusterConnection::establish(&url).unwrap();
    // The master is open; no replica is yet, so nothing refuses the `USE`.
    conn.batch_execute(&format!("USE {DB}")).unwrap();
    let where_read = |conn: &mut ClusterConnection| -> (i64, String) {
        #[derive(QueryableByName)]
        struct At {
            #[diesel(sql_type = BigInt)]
            port: i64,
            #[diesel(sql_type = Text)]
            db: String,
        }
        let at: At = with_replica(|| {
            diesel::sql_query("SELECT @@port AS port, DATABASE() AS db").get_result(conn)
        })
        .expect("a replica-scope read");
        (at.port, at.db)
    };
    // The first replica read opens the replicas, finds the session can't live there,
    // and reads from the master.
    let first = where_read(&mut conn);
    let master = (i64::from(c.master_port), DB.to_string());
    assert_eq!(first, master);
    let mut counters: Vec<Counters> = [c.replica1_port, c.replica2_port]
        .iter()
        .map(|&p| Counters::open(&admin_at(c, p)))
        .collect();
    let before: Vec<i64> = counters.iter_mut().map(|k| k.read().0).collect();
    for _ in 0..ROUNDS {
        assert_eq!(where_read(&mut conn), master);
    }
    let after: Vec<i64> = counters.iter_mut().map(|k| k.read().0).collect();
    c.sql(
        "master",
        &format!("SET sql_log_bin = 0; DROP DATABASE {DB}"),
    );
    assert_eq!(
        before, after,
        "no replica was opened again for {ROUNDS} more reads"
    );
}
