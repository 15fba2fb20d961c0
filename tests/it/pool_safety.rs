//! r2d2: no checkout ever hands out a connection with an open transaction or a poisoned
//! session: a pool user must get what a fresh connection gives. A property test over random statement sequences on a pool of
//! 2 `ClusterConnection`s; the oracle is the servers' own view, read from admin
//! connections to every node, never the library:
//!
//! - whenever every pooled connection is idle, no session of the app user on any node is
//!   inside a transaction that touched the test's table (the admin's
//!   `LOCK TABLES t WRITE NOWAIT` fails while any session holds the table's metadata
//!   lock; `information_schema.innodb_trx` names the thread, but it is a cache refreshed
//!   at most every 100 ms), holds a table lock (`SHOW OPEN TABLES WHERE In_use > 0`), a
//!   named lock (`IS_USED_LOCK`) or a prepared XA transaction (`XA RECOVER`). A raw
//!   `BEGIN` or an XA transaction in ACTIVE or IDLE state is invisible to the server's
//!   tables until it touches a table (MariaDB 10.11): every opener in the vocabulary is
//!   followed by a read, and the session check below reads the table in every scope on
//!   every connection, so a leaked opener shows up at the latest at the next idle check;
//! - each checked-out connection's session looks the same from every node: `@x`,
//!   `@@time_zone` and `DATABASE()` read in master, replica and auto scope agree with
//!   each other and with the test's model of that connection.
use crate::common;

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection, R2D2Connection};
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_cluster::{with_master, Cluster, ClusterConnection, Role};
use proptest::prelude::*;

/// Shared with `differential`, whose tests hold it shared. The tests here hold it
/// exclusively: the oracle watches every app session of the cluster and the setup
/// changes global lock waits, so they run alone on it (and one at a time).
const CLUSTER: &str = "diffsess";
const TABLE: &str = "app.pool_safety_t";
const MASTER_ONLY_DB: &str = "pool_safety_master_only";
const NODES: [&str; 3] = ["master", "replica1", "replica2"];

fn tc() -> &'static common::TestCluster {
    common::cluster(CLUSTER)
}

#[derive(QueryableByName, Debug)]
struct V {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

// ------------------------------------------------------------------ statements

use common::db::Scope;

#[derive(Clone, Debug, PartialEq)]
enum Stmt {
    Read,
    Write,
    /// Raw `BEGIN`, then a read.
    Begin,
    BeginInsert,
    Commit,
    /// `COMMIT AND CHAIN` with nothing open (it opens one), then a read.
    CommitChain,
    /// `BEGIN; INSERT ..; COMMIT AND CHAIN`.
    InsertCommitChain,
    RollbackChain,
    /// `XA START`, then a read.
    XaStart,
    /// `XA START; INSERT; XA END`: left IDLE.
    XaStartEnd,
    /// `XA START; INSERT; XA END; XA ROLLBACK`: nothing left open.
    XaComplete,
    Autocommit0,
    Autocommit1,
    LockTables,
    UnlockTables,
    GetLock,
    GetReleaseLock,
    SetVar(i32),
    SetVarBound(i32),
    SetTz(&'static str),
    UseOther,
    UseApp,
    UseMasterOnly,
    FailFunction,
    FailZone,
    FailUse,
    /// `SET @x = n; SET time_zone = 'No/Such_Zone'`: fails half-way on one connection.
    FailHalfway(i32),
}

impl Stmt {
    fn sql(&self) -> String {
        let t = TABLE;
        match self {
            Stmt::Read => format!("SELECT CAST(COUNT(*) AS CHAR) AS v FROM {t}"),
            Stmt::Write => format!("INSERT INTO {t} (v) VALUES (1)"),
            Stmt::Begin => "BEGIN".into(),
            Stmt::BeginInsert => format!("BEGIN; INSERT INTO {t} (v) VALUES (2)"),
            Stmt::Commit => "COMMIT".into(),
            Stmt::CommitChain => "COMMIT AND CHAIN".into(),
            Stmt::InsertCommitChain => {
                format!("BEGIN; INSERT INTO {t} (v) VALUES (3); COMMIT AND CHAIN")
            }
            Stmt::RollbackChain => "ROLLBACK AND CHAIN".into(),
            Stmt::XaStart => "XA START 'ps_a'".into(),
            Stmt::XaStartEnd => {
                format!("XA START 'ps_b'; INSERT INTO {t} (v) VALUES (4); XA END 'ps_b'")
            }
            Stmt::XaComplete => format!(
                "XA START 'ps_c'; INSERT INTO {t} (v) VALUES (5); XA END 'ps_c'; XA ROLLBACK 'ps_c'"
            ),
            Stmt::Autocommit0 => "SET autocommit = 0".into(),
            Stmt::Autocommit1 => "SET autocommit = 1".into(),
            Stmt::LockTables => format!("LOCK TABLES {t} WRITE"),
            Stmt::UnlockTables => "UNLOCK TABLES".into(),
            Stmt::GetLock => "SELECT CAST(GET_LOCK('ps_lock', 0) AS CHAR) AS v".into(),
            Stmt::GetReleaseLock => {
                "SELECT CAST(GET_LOCK('ps_lock2', 0) + RELEASE_LOCK('ps_lock2') AS CHAR) AS v"
                    .into()
            }
            Stmt::SetVar(n) => format!("SET @x = {n}"),
            Stmt::SetVarBound(n) => format!("SET @x = ? [bind {n}]"),
            Stmt::SetTz(z) => format!("SET time_zone = '{z}'"),
            Stmt::UseOther => "USE other_db".into(),
            Stmt::UseApp => "USE app".into(),
            Stmt::UseMasterOnly => format!("USE {MASTER_ONLY_DB}"),
            Stmt::FailFunction => "SET @x = no_such_function()".into(),
            Stmt::FailZone => "SET time_zone = 'No/Such_Zone'".into(),
            Stmt::FailUse => "USE no_such_db_anywhere".into(),
            Stmt::FailHalfway(n) => format!("SET @x = {n}; SET time_zone = 'No/Such_Zone'"),
        }
    }

    /// Leaves a transaction, lock or non-autocommit session open when it succeeds: the
    /// connection must then say `is_broken`.
    fn opens(&self) -> bool {
        matches!(
            self,
            Stmt::Begin
                | Stmt::BeginInsert
                | Stmt::CommitChain
                | Stmt::InsertCommitChain
                | Stmt::RollbackChain
                | Stmt::XaStart
                | Stmt::XaStartEnd
                | Stmt::Autocommit0
                | Stmt::LockTables
        )
    }

    /// Runs it; openers are followed by a read, so the server records the transaction.
    fn run(&self, conn: &mut ClusterConnection) -> QueryResult<()> {
        let load = |conn: &mut ClusterConnection, sql: &str| {
            diesel::sql_query(sql).load::<V>(conn).map(|_| ())
        };
        match self {
            Stmt::Read | Stmt::GetLock | Stmt::GetReleaseLock => load(conn, &self.sql()),
            Stmt::Write
            | Stmt::SetVar(_)
            | Stmt::SetTz(_)
            | Stmt::FailFunction
            | Stmt::FailZone => diesel::sql_query(self.sql()).execute(conn).map(|_| ()),
            Stmt::SetVarBound(n) => diesel::sql_query("SET @x = ?")
                .bind::<Integer, _>(*n)
                .execute(conn)
                .map(|_| ()),
            Stmt::Begin
            | Stmt::CommitChain
            | Stmt::RollbackChain
            | Stmt::XaStart
            | Stmt::Autocommit0 => {
                conn.batch_execute(&self.sql())?;
                load(conn, &Stmt::Read.sql())
            }
            _ => conn.batch_execute(&self.sql()),
        }
    }
}

/// What the test expects a connection's session to hold.
#[derive(Clone, Debug, PartialEq)]
struct Session {
    /// `None`: not known (a batch failed half-way; only agreement between nodes counts).
    x: Option<String>,
    tz: Option<String>,
    db: Option<String>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            x: Some("NULL".into()),
            tz: Some("+00:00".into()),
            db: Some("app".into()),
        }
    }
}

impl Session {
    fn after(&self, stmt: &Stmt, ok: bool) -> Session {
        let mut s = self.clone();
        match (stmt, ok) {
            (Stmt::SetVar(n) | Stmt::SetVarBound(n), true) => s.x = Some(n.to_string()),
            (Stmt::SetTz(z), true) => s.tz = Some(z.to_string()),
            (Stmt::UseOther, true) => s.db = Some("other_db".into()),
            (Stmt::UseApp, true) => s.db = Some("app".into()),
            (Stmt::UseMasterOnly, true) => s.db = Some(MASTER_ONLY_DB.into()),
            // One connection would keep `@x = n`; all-or-nothing would not.
            (Stmt::FailHalfway(_), false) => s.x = None,
            _ => {}
        }
        s
    }
}

#[derive(Clone, Debug)]
struct Step {
    scope: Scope,
    stmt: Stmt,
    /// A second connection checked out while the first is still out, with a session
    /// statement of its own (never one that waits on the first one's locks).
    second: Option<(Scope, Stmt)>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.scope, self.stmt.sql())?;
        if let Some((sc, st)) = &self.second {
            write!(f, "  || second {:?}: {}", sc, st.sql())?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ the oracle

struct Oracle {
    nodes: Vec<(&'static str, MysqlConnection)>,
}

impl Oracle {
    fn new() -> Oracle {
        let c = tc();
        let nodes = NODES
            .iter()
            .map(|&n| {
                let url = format!("mysql://admin:admin_pw@127.0.0.1:{}/app", c.port(n));
                (
                    n,
                    MysqlConnection::establish(&url)
                        .unwrap_or_else(|e| panic!("admin connection to {n}: {e}")),
                )
            })
            .collect();
        Oracle { nodes }
    }

    fn all(conn: &mut MysqlConnection, sql: &str) -> Vec<String> {
        diesel::sql_query(sql)
            .load::<V>(conn)
            .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"))
            .into_iter()
            .map(|r| r.v.unwrap_or_else(|| "NULL".into()))
            .collect()
    }

    /// What the servers say the app's idle sessions still hold.
    fn leftovers(&mut self) -> Vec<String> {
        let mut found = Vec::new();
        for (node, conn) in &mut self.nodes {
            // Live: the table's metadata lock is held by every transaction that touched
            // the table (reads too) and by LOCK TABLES, until it ends.
            if let Err(e) = conn.batch_execute(&format!("LOCK TABLES {TABLE} WRITE NOWAIT")) {
                found.push(format!(
                    "{node}: a session holds a lock on {TABLE} (a transaction that touched \
                     it is open, or LOCK TABLES): {e}"
                ));
            }
            let _ = conn.batch_execute("UNLOCK TABLES");
            // Who: `information_schema.innodb_trx` is a cache InnoDB refreshes at most
            // every 100 ms, so it may miss a transaction opened just before (hence the
            // lock above). Two plain queries, joined here: a prepared join of innodb_trx
            // with processlist crashed MariaDB 10.11.19 (SIGSEGV in free_tmp_table).
            let threads = Self::all(
                conn,
                "SELECT CAST(trx_mysql_thread_id AS CHAR) AS v FROM information_schema.innodb_trx",
            );
            for id in threads.iter().filter(|id| id.as_str() != "0") {
                let app = Self::all(
                    conn,
                    &format!(
                        "SELECT CONCAT('thread ', id, ' user ', user, ' last: ', \
                         COALESCE(info, '')) AS v FROM information_schema.processlist \
                         WHERE id = {id} AND user IN ('app', 'app_ro')"
                    ),
                );
                found.extend(
                    app.into_iter()
                        .map(|t| format!("{node}: open transaction: {t}")),
                );
            }
            let locked = diesel::sql_query("SHOW OPEN TABLES WHERE In_use > 0")
                .load::<OpenTable>(conn)
                .unwrap_or_else(|e| panic!("oracle: SHOW OPEN TABLES: {e}"));
            found.extend(
                locked
                    .into_iter()
                    .map(|t| format!("{node}: table lock on {}.{}", t.database, t.table)),
            );
            let named = Self::all(
                conn,
                "SELECT CONCAT(n, ' held by thread ', IS_USED_LOCK(n)) AS v FROM \
                 (SELECT 'ps_lock' AS n UNION ALL SELECT 'ps_lock2') l \
                 WHERE IS_USED_LOCK(n) IS NOT NULL",
            );
            found.extend(named.into_iter().map(|n| format!("{node}: named lock {n}")));
            let xa = diesel::sql_query("XA RECOVER")
                .load::<XaRow>(conn)
                .unwrap_or_else(|e| panic!("oracle: XA RECOVER: {e}"));
            found.extend(
                xa.into_iter()
                    .map(|x| format!("{node}: prepared XA {}", x.data)),
            );
        }
        found
    }

    /// Leftovers that stay: a session closed by the pool may take a moment to end on
    /// the server, so only what is still there after 1 s counts.
    fn lasting_leftovers(&mut self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let found = self.leftovers();
            if found.is_empty() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(QueryableByName, Debug)]
struct OpenTable {
    #[diesel(sql_type = Text, column_name = "Database")]
    database: String,
    #[diesel(sql_type = Text, column_name = "Table")]
    table: String,
}

#[derive(QueryableByName, Debug)]
struct XaRow {
    #[diesel(sql_type = Text)]
    data: String,
}

/// Sets short lock waits on every node for the test (so a leaked lock fails a step in
/// 2 s instead of hanging it), a table of our own, and a database only the master has;
/// puts everything back when dropped.
struct Setup {
    saved: Vec<(&'static str, String)>,
}

impl Setup {
    fn new() -> Setup {
        let c = tc();
        let mut saved = Vec::new();
        for n in NODES {
            let old = c.sql(
                n,
                "SELECT CONCAT(@@global.lock_wait_timeout, ',', @@global.innodb_lock_wait_timeout)",
            );
            saved.push((n, old));
            c.sql(
                n,
                "SET GLOBAL lock_wait_timeout = 2; SET GLOBAL innodb_lock_wait_timeout = 2",
            );
        }
        c.sql(
            "master",
            &format!(
                "DROP TABLE IF EXISTS {TABLE}; \
                 CREATE TABLE {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, v BIGINT NULL); \
                 SET sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS {MASTER_ONLY_DB}; \
                 GRANT ALL ON {MASTER_ONLY_DB}.* TO 'app'@'%'"
            ),
        );
        c.sync();
        Setup { saved }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let c = tc();
        for (n, old) in &self.saved {
            if let Some((a, b)) = old.split_once(',') {
                let _ = c.try_sql(
                    n,
                    &format!(
                        "SET GLOBAL lock_wait_timeout = {a}; SET GLOBAL innodb_lock_wait_timeout = {b}"
                    ),
                );
            }
        }
        let _ = c.try_sql(
            "master",
            &format!(
                "SET sql_log_bin = 0; REVOKE ALL ON {MASTER_ONLY_DB}.* FROM 'app'@'%'; \
                 DROP DATABASE IF EXISTS {MASTER_ONLY_DB}; SET sql_log_bin = 1; \
                 DROP TABLE IF EXISTS {TABLE}"
            ),
        );
    }
}

// ------------------------------------------------------------------ running a sequence

type Conn = PooledConnection<diesel_cluster::ClusterManager>;

fn pool(cluster: &Cluster) -> Pool<diesel_cluster::ClusterManager> {
    Pool::builder()
        .max_size(2)
        .connection_timeout(Duration::from_secs(10))
        .build(cluster.manager())
        .expect("pool")
}

/// This connection's identity for the model: its master session's thread id.
fn key(conn: &mut ClusterConnection) -> Result<String, String> {
    with_master(|| {
        diesel::sql_query("SELECT CAST(CONNECTION_ID() AS CHAR) AS v")
            .get_result::<V>(conn)
            .map(|r| r.v.unwrap_or_default())
            .map_err(|e| format!("CONNECTION_ID() in master scope failed: {e}"))
    })
}

const SESSION: &str = "SELECT CONCAT_WS('|', COALESCE(CAST(@x AS CHAR), 'NULL'), @@time_zone, \
                       COALESCE(DATABASE(), 'NULL')) AS v";

/// The session as read in every scope (three replica reads, so both replicas are
/// likely asked), after a read of the table that makes any transaction left open visible.
fn check_session(conn: &mut Conn, model: &Session) -> Result<(), String> {
    let mut seen = Vec::new();
    for s in [
        Scope::Master,
        Scope::Replica,
        Scope::Replica,
        Scope::Replica,
        Scope::Auto,
    ] {
        let r = s.run(|| {
            diesel::sql_query(Stmt::Read.sql()).load::<V>(&mut **conn)?;
            diesel::sql_query(SESSION).get_result::<V>(&mut **conn)
        });
        match r {
            Ok(v) => seen.push((
                s,
                conn.last_node().unwrap_or("?").to_string(),
                v.v.unwrap_or_default(),
            )),
            Err(e) => return Err(format!("session read in {s:?} scope failed: {e}")),
        }
    }
    let first = &seen[0].2;
    let parts: Vec<&str> = first.split('|').collect();
    let expect = [&model.x, &model.tz, &model.db];
    let model_ok = parts.len() == 3
        && expect
            .iter()
            .zip(&parts)
            .all(|(m, p)| m.as_deref().is_none_or(|m| m == *p));
    if seen.iter().any(|(_, _, v)| v != first) || !model_ok {
        return Err(format!(
            "session (@x|time_zone|database) differs between nodes or from the model {model:?}: {seen:?}"
        ));
    }
    Ok(())
}

/// Runs the sequence on a fresh pool of 2; the first violation, with the trace.
fn violation(
    cluster: &Cluster,
    role: Role,
    oracle: &mut Oracle,
    steps: &[Step],
) -> Result<(), String> {
    let pool = pool(cluster);
    let mut models: HashMap<String, Session> = HashMap::new();
    let mut trace: Vec<String> = Vec::new();
    let fail = |trace: &[String], what: String| {
        Err(format!(
            "{what}\nsequence (default role {role:?}):\n{}",
            trace.join("\n")
        ))
    };
    for (i, step) in steps.iter().enumerate() {
        let mut unbroken = None;
        {
            let mut a = pool.get().map_err(|e| format!("checkout: {e}"))?;
            let r = step.scope.run(|| step.stmt.run(&mut a));
            let broken = a.is_broken();
            let mut note = format!(
                "  {i:>2} {step}  -> {}{}",
                match &r {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error: {e}"),
                },
                if broken { ", broken" } else { "" }
            );
            // Judged after the servers are asked, so the report says what leaked.
            if r.is_ok() && step.stmt.opens() && !broken {
                unbroken = Some(format!("step {i} left state open but is_broken() is false"));
            }
            if !broken {
                match key(&mut a) {
                    Ok(k) => {
                        let m = models.get(&k).cloned().unwrap_or_default();
                        models.insert(k, m.after(&step.stmt, r.is_ok()));
                    }
                    Err(e) => {
                        trace.push(note);
                        return fail(&trace, format!("step {i}: {e} on a connection not broken"));
                    }
                }
            }
            if let Some((sc, st)) = &step.second {
                let mut b = pool.get().map_err(|e| format!("second checkout: {e}"))?;
                let r2 = sc.run(|| st.run(&mut b));
                note.push_str(&format!(
                    "; second -> {}",
                    match &r2 {
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("error: {e}"),
                    }
                ));
                if !b.is_broken() {
                    if let Ok(k) = key(&mut b) {
                        let m = models.get(&k).cloned().unwrap_or_default();
                        models.insert(k, m.after(st, r2.is_ok()));
                    }
                }
            }
            trace.push(note);
        }
        let left = oracle.lasting_leftovers();
        let with_unbroken = |servers: String| match &unbroken {
            Some(u) => format!("{u}; {servers}"),
            None => servers,
        };
        if !left.is_empty() {
            return fail(
                &trace,
                with_unbroken(format!(
                    "after step {i}, with every connection idle:\n    {}",
                    left.join("\n    ")
                )),
            );
        }
        // Both connections out at once: each one's session, from every node.
        {
            let mut a = pool.get().map_err(|e| format!("checkout: {e}"))?;
            let mut b = pool.get().map_err(|e| format!("checkout: {e}"))?;
            for c in [&mut a, &mut b] {
                let k = match key(c) {
                    Ok(k) => k,
                    Err(e) => return fail(&trace, format!("after step {i}: {e}")),
                };
                let model = models.get(&k).cloned().unwrap_or_default();
                if let Err(e) = check_session(c, &model) {
                    return fail(&trace, format!("after step {i}, connection {k}: {e}"));
                }
                models.insert(k, model);
            }
        }
        let left = oracle.lasting_leftovers();
        if !left.is_empty() || unbroken.is_some() {
            let servers = if left.is_empty() {
                "the servers show nothing left open, even after a read on each connection"
                    .to_string()
            } else {
                format!(
                    "after step {i} and a read on each connection, with every connection \
                     idle:\n    {}",
                    left.join("\n    ")
                )
            };
            return fail(&trace, with_unbroken(servers));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ the tests

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::Default),
        Just(Scope::Master),
        Just(Scope::Replica),
        Just(Scope::Auto)
    ]
}

fn session_stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (1..100i32).prop_map(Stmt::SetVar),
        (100..200i32).prop_map(Stmt::SetVarBound),
        prop_oneof![Just("+05:00"), Just("-03:30"), Just("+00:00")].prop_map(Stmt::SetTz),
        Just(Stmt::UseOther),
        Just(Stmt::UseApp),
    ]
}

fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        3 => Just(Stmt::Read),
        2 => Just(Stmt::Write),
        1 => Just(Stmt::Begin),
        1 => Just(Stmt::BeginInsert),
        1 => Just(Stmt::Commit),
        1 => Just(Stmt::CommitChain),
        1 => Just(Stmt::InsertCommitChain),
        1 => Just(Stmt::RollbackChain),
        1 => Just(Stmt::XaStart),
        1 => Just(Stmt::XaStartEnd),
        1 => Just(Stmt::XaComplete),
        1 => Just(Stmt::Autocommit0),
        1 => Just(Stmt::Autocommit1),
        1 => Just(Stmt::LockTables),
        1 => Just(Stmt::UnlockTables),
        1 => Just(Stmt::GetLock),
        1 => Just(Stmt::GetReleaseLock),
        4 => session_stmt(),
        1 => Just(Stmt::UseMasterOnly),
        1 => Just(Stmt::FailFunction),
        1 => Just(Stmt::FailZone),
        1 => Just(Stmt::FailUse),
        1 => (300..400i32).prop_map(Stmt::FailHalfway),
    ]
}

/// `POOL_SAFETY_SKIP=CommitChain,GetLock` leaves statements out of the random
/// sequences (variant names of `Stmt`): with known defects left out, the property test
/// shrinks to the next one. Unset, the whole vocabulary is used.
fn skipped(s: &Stmt) -> bool {
    let debug = format!("{s:?}");
    let name = debug.split('(').next().unwrap_or_default();
    std::env::var("POOL_SAFETY_SKIP").is_ok_and(|v| v.split(',').any(|k| k.trim() == name))
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            scope(),
            stmt().prop_filter("left out by POOL_SAFETY_SKIP", |s| !skipped(s)),
            proptest::option::weighted(
                0.25,
                (
                    scope(),
                    session_stmt().prop_filter("left out by POOL_SAFETY_SKIP", |s| !skipped(s)),
                ),
            ),
        )
            .prop_map(|(scope, stmt, second)| Step {
                scope,
                stmt,
                second,
            }),
        1..=10,
    )
}

fn cluster_for(role: Role) -> Cluster {
    Cluster::builder()
        .url(&tc().cluster_url)
        .default_role(role)
        .build()
        .expect("cluster")
}

const ROLES: [Role; 3] = [Role::Master, Role::Auto, Role::Replica];

/// Every statement of the vocabulary alone, in every scope and default role: the whole
/// list of what leaks, in one run (the property test below shrinks to one case).
#[test]
fn each_statement_alone_leaves_nothing_behind() {
    let _g = common::exclusive(CLUSTER);
    // A leak on a replica can stall its replication of the test table: heal at the end.
    let _restore = common::Restore(tc());
    let _setup = Setup::new();
    let mut oracle = Oracle::new();
    let all = [
        Stmt::Read,
        Stmt::Write,
        Stmt::Begin,
        Stmt::BeginInsert,
        Stmt::Commit,
        Stmt::CommitChain,
        Stmt::InsertCommitChain,
        Stmt::RollbackChain,
        Stmt::XaStart,
        Stmt::XaStartEnd,
        Stmt::XaComplete,
        Stmt::Autocommit0,
        Stmt::Autocommit1,
        Stmt::LockTables,
        Stmt::UnlockTables,
        Stmt::GetLock,
        Stmt::GetReleaseLock,
        Stmt::SetVar(7),
        Stmt::SetVarBound(8),
        Stmt::SetTz("+05:00"),
        Stmt::UseOther,
        Stmt::UseMasterOnly,
        Stmt::FailFunction,
        Stmt::FailZone,
        Stmt::FailUse,
        Stmt::FailHalfway(9),
    ];
    let mut failures = Vec::new();
    let mut runs = 0;
    for role in ROLES {
        let cluster = cluster_for(role);
        for stmt in &all {
            for sc in [Scope::Default, Scope::Master, Scope::Replica, Scope::Auto] {
                runs += 1;
                // A session statement first, so that a half-applied later one shows.
                let seq = [
                    Step {
                        scope: Scope::Default,
                        stmt: Stmt::SetVar(1),
                        second: None,
                    },
                    Step {
                        scope: sc,
                        stmt: stmt.clone(),
                        second: None,
                    },
                ];
                if let Err(e) = violation(&cluster, role, &mut oracle, &seq) {
                    failures.push(e);
                    // The pool is gone, and with it what leaked: wait until the servers
                    // agree, so the next case starts clean.
                    let _ = oracle.lasting_leftovers();
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} (statement, scope, role) cases leave a connection unsafe:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn random_sequences_never_hand_out_an_unsafe_connection() {
    let _g = common::exclusive(CLUSTER);
    // A leak on a replica can stall its replication of the test table: heal at the end.
    let _restore = common::Restore(tc());
    let _setup = Setup::new();
    let clusters: Vec<(Role, Cluster)> = ROLES.iter().map(|&r| (r, cluster_for(r))).collect();
    let oracle = Mutex::new(Oracle::new());
    let config = ProptestConfig {
        // PROPTEST_CASES overrides it, for longer hunts.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(role_ix in 0..3usize, s in steps())| {
        let mut oracle = oracle.lock().unwrap_or_else(|e| e.into_inner());
        let (role, cluster) = &clusters[role_ix];
        let r = violation(cluster, *role, &mut oracle, &s);
        if r.is_err() {
            let _ = oracle.lasting_leftovers();
        }
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    });
}
